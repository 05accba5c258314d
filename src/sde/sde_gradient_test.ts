import { mlpDynamics } from "../models/mlp.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { tensor } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assert } from "../util/testing.ts";
import { BrownianPath } from "./brownian.ts";
import { sdeGradient, type SdeGradientProblem } from "./sde_gradient.ts";
import { sdeint } from "./sdeint.ts";
import { onnxSdeTerms } from "./terms.ts";

/**
 * A small float64 neural SDE: time-dependent tanh MLPs for drift and diffusion, a batch of 3 in 2 dimensions;
 * diagonal noise (6 Brownian motions) or, with `noise: 3`, scalar noise per sample.
 */
function problem(noise = 6): SdeGradientProblem {
  const drift = mlpDynamics({
    stateDim: 2,
    hidden: [6],
    activation: "tanh",
    time: "concat",
    dtype: "float64",
    seed: 1,
  });
  const diffusion = mlpDynamics({
    stateDim: 2,
    hidden: [5],
    activation: "tanh",
    time: "concat",
    dtype: "float64",
    seed: 2,
    paramPrefix: "g",
  });
  const dt = 0.05, times = [0, 0.5, 1];
  const y0 = tensor(new Random(4).fillNormal(new Float64Array(6)), [3, 2]);
  const targets = [new Float64Array(6).fill(0.3), new Float64Array(6).fill(-0.2)];
  return {
    drift: drift.dynamics,
    diffusion: diffusion.dynamics,
    params: { ...drift.init, ...diffusion.init },
    y0,
    times,
    dt,
    brownian: new BrownianPath({ t0: 0, t1: 1, steps: 20, size: noise, seed: 9 }),
    // L = Σ over the two later observations of Σ (y − target)².
    loss: (states) => {
      let value = 0;
      const cotangents = states.map((s, k) => {
        if (k === 0) return null;
        const target = targets[k - 1]!;
        return s.map((v, i) => {
          value += (v - target[i]!) ** 2;
          return 2 * (v - target[i]!);
        });
      });
      return { value, cotangents };
    },
  };
}

async function lossAt(runtime: Runtime, p: SdeGradientProblem, params: Record<string, Tensor>, y0: Float64Array) {
  const terms = await onnxSdeTerms({ runtime, drift: p.drift, diffusion: p.diffusion, params });
  const { states } = await sdeint(terms, y0, p.times, { solver: "reversible-heun", dt: p.dt, brownian: p.brownian });
  return (await p.loss(states)).value!;
}

const relative = (a: Float64Array, b: Float64Array) =>
  Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0)) /
  Math.max(1e-300, Math.sqrt(b.reduce((s, v) => s + v * v, 0)));

Deno.test("sdeGradient(): the SDE adjoint equals SDE direct to round-off, holding less memory", async () => {
  const runtime = new Runtime({ threads: 1 });
  try {
    const p = problem();
    const direct = await sdeGradient(p, { method: "direct", runtime });
    const adjoint = await sdeGradient(p, { method: "adjoint", runtime });
    assert(Math.abs(direct.loss! - adjoint.loss!) === 0, "same forward pass");
    for (const name of Object.keys(p.params)) {
      const e = relative(adjoint.dparams[name]!, direct.dparams[name]!);
      assert(e < 1e-10, `dL/d${name}: adjoint and direct differ by ${e}`);
    }
    assert(relative(adjoint.dy0, direct.dy0) < 1e-10, "dL/dy0");
    assert(adjoint.stats.heldBytes < direct.stats.heldBytes, "the adjoint keeps no trajectory");
    assert(adjoint.stats.backwardCalls === 2 * 21 && adjoint.stats.steps === 20, JSON.stringify(adjoint.stats));
  } finally {
    await runtime.dispose();
  }
});

for (const [noise, label] of [[6, "diagonal noise"], [3, "scalar noise per sample"]] as const) {
  Deno.test(`sdeGradient() with ${label} agrees with float64 central differences of the reversible-Heun solve on a fixed path`, async () => {
    const runtime = new Runtime({ threads: 1 });
    try {
      const p = problem(noise);
      const { dparams, dy0 } = await sdeGradient(p, { method: "adjoint", runtime });
      const base = p.y0.data as Float64Array;
      const h = 1e-6;
      // A few entries of each parameter of drift and diffusion, and of y0.
      for (const [name, t] of Object.entries(p.params)) {
        for (const i of [0, t.data.length - 1]) {
          const shifted = (d: number) => {
            const data = Float64Array.from(t.data as Float64Array);
            data[i]! += d;
            return { ...p.params, [name]: tensor(data, t.dims) };
          };
          const fd = ((await lossAt(runtime, p, shifted(h), base)) - (await lossAt(runtime, p, shifted(-h), base))) /
            (2 * h);
          const got = dparams[name]![i]!;
          assert(Math.abs(got - fd) < 1e-6 * Math.max(1, Math.abs(fd)), `dL/d${name}[${i}]: ${got} vs ${fd}`);
        }
      }
      for (const i of [0, 5]) {
        const shifted = (d: number) => base.map((v, j) => (j === i ? v + d : v));
        const fd = ((await lossAt(runtime, p, { ...p.params }, shifted(h))) -
          (await lossAt(runtime, p, { ...p.params }, shifted(-h)))) / (2 * h);
        assert(Math.abs(dy0[i]! - fd) < 1e-6 * Math.max(1, Math.abs(fd)), `dL/dy0[${i}]: ${dy0[i]} vs ${fd}`);
      }
    } finally {
      await runtime.dispose();
    }
  });
}
