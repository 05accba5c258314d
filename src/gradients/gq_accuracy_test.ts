/**
 * GQ's accuracy against the tolerance (issue #9): the default (adaptive)
 * rule's dL/dθ error is within 3× the adjoint's own error at every tolerance,
 * where the paper's rule stays at its quadrature error.
 */
import { assert } from "../util/testing.ts";
import { Runtime } from "../runtime/session.ts";
import { tensor } from "../onnx/tensor.ts";
import { mlpDynamics } from "../models/mlp.ts";
import { Random } from "../util/random.ts";
import { adjoint, gq, type GradientMethod } from "./method.ts";
import { odeGradient } from "./ode_gradient.ts";
import type { GradientResult, OdeGradientProblem } from "./problem.ts";

const runtime = new Runtime({ threads: 1 });

/** Time-dependent softplus MLP, dim 4, batch 3, four measurement times on [0, T], float64, MSE to fixed targets. */
function mlpProblem(width: number, T: number): OdeGradientProblem {
  const { dynamics, init } = mlpDynamics({
    stateDim: 4,
    hidden: [width, width],
    activation: "softplus",
    time: "concat",
    seed: 3,
    dtype: "float64",
  });
  const times = [0, 0.3 * T, 0.55 * T, T];
  const targets = times.map((_, k) => new Random(10 + k).fillUniform(new Float64Array(12), -1, 1));
  return {
    dynamics,
    params: init,
    z0: tensor(new Random(5).fillUniform(new Float64Array(12), -1, 1), [3, 4]),
    times,
    loss: (states) => ({
      cotangents: states.map((s, k) => (k === 0 ? null : s.map((v, j) => 2 * (v - targets[k]![j]!)))),
    }),
  };
}

const flatParams = (r: GradientResult) => Float64Array.from(Object.values(r.dparams).flatMap((x) => Array.from(x)));

/** max |x − ref| / max |ref| over every dL/dθ entry. */
function relativeError(x: Float64Array, ref: Float64Array): number {
  let err = 0, scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(x[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return err / scale;
}

for (const [width, T] of [[16, 1], [64, 3]] as const) {
  Deno.test(`gq()'s default dL/dθ is as accurate as the adjoint's at rtol 1e-3, 1e-6, 1e-9 (MLP width ${width}, t ∈ [0, ${T}])`, async () => {
    const problem = mlpProblem(width, T);
    const reference = flatParams(
      await odeGradient(problem, { method: adjoint(), solver: "dopri8", rtol: 1e-13, atol: 1e-13, runtime }),
    );
    const errorOf = async (method: GradientMethod, tol: number) => {
      const r = await odeGradient(problem, { method, rtol: tol, atol: tol, runtime });
      return {
        error: relativeError(flatParams(r), reference),
        nodes: r.stats.nodes,
        accepted: r.stats.backward.accepted,
      };
    };
    for (const tol of [1e-3, 1e-6, 1e-9]) {
      const adj = await errorOf(adjoint(), tol);
      const def = await errorOf(gq(), tol);
      const paper = await errorOf(gq({ nodes: "interval" }), tol);
      const perStep = await errorOf(gq({ nodes: "per-step" }), tol);
      const what = `tol ${tol}: adjoint ${adj.error.toExponential(2)}, gq ${def.error.toExponential(2)}, ` +
        `paper rule ${paper.error.toExponential(2)}`;
      assert(def.error <= 3 * adj.error, `default gq within 3× the adjoint's error — ${what}`);
      // The test can fail: the paper's rule (one or two nodes per interval) misses by orders of magnitude.
      assert(paper.error > 10 * adj.error, `the paper's rule is blind to the tolerance — ${what}`);
      // Panels never hold more nodes than one rule per step, and 3 (dopri5) per panel.
      assert(
        def.nodes <= perStep.nodes && def.nodes % 3 === 0,
        `nodes: adaptive ${def.nodes}, per-step ${perStep.nodes}`,
      );
      assert(perStep.nodes === 3 * perStep.accepted, "per-step: 3 nodes in every accepted backward step");
    }
  });
}
