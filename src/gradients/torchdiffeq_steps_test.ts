/**
 * Like-for-like baselines (issue #9): with `stepControl: "torchdiffeq"`, the
 * adjoint and seminorm take exactly the forward and backward steps
 * torchdiffeq's odeint_adjoint takes, listed in a fixture torchdiffeq made
 * (tests/fixtures/make_torchdiffeq_steps.py).
 */
import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { Runtime } from "../runtime/session.ts";
import { tensor } from "../onnx/tensor.ts";
import { mlpDynamics } from "../models/mlp.ts";
import { adjoint, gq, seminorm } from "./method.ts";
import { odeGradient } from "./ode_gradient.ts";
import type { OdeGradientProblem } from "./problem.ts";

interface Counts {
  nfe: number;
  accepted: number;
  rejected: number;
}
interface Fixture {
  stateDim: number;
  hidden: number[];
  times: number[];
  z0: number[];
  params: Record<string, { dims: number[]; values: number[] }>;
  cases: {
    method: "adjoint" | "seminorm";
    tol: number;
    forward: Counts;
    backward: Counts;
    dparams: Record<string, number[]>;
    dtimes: number[];
  }[];
}

const fixture: Fixture = JSON.parse(
  await Deno.readTextFile(new URL("../../tests/fixtures/torchdiffeq_steps.json", import.meta.url)),
);
const runtime = new Runtime({ threads: 1 });

function fixtureProblem(): OdeGradientProblem {
  const { dynamics } = mlpDynamics({
    stateDim: fixture.stateDim,
    hidden: fixture.hidden,
    activation: "softplus",
    time: "concat",
    dtype: "float64",
  });
  const params = Object.fromEntries(
    Object.entries(fixture.params).map(([name, p]) => [name, tensor(Float64Array.from(p.values), p.dims)]),
  );
  return {
    dynamics,
    params,
    z0: tensor(Float64Array.from(fixture.z0), [fixture.z0.length / fixture.stateDim, fixture.stateDim]),
    times: fixture.times,
    // L = Σ_{k≥1} Σ z(t_k)², as the fixture's loss.
    loss: (states) => ({ cotangents: states.map((z, k) => (k === 0 ? null : z.map((v) => 2 * v))) }),
  };
}

for (const c of fixture.cases) {
  Deno.test(`${c.method}({ stepControl: "torchdiffeq" }) takes torchdiffeq's steps at rtol = atol = ${c.tol}`, async () => {
    const method = (c.method === "adjoint" ? adjoint : seminorm)({ stepControl: "torchdiffeq" });
    const r = await odeGradient(fixtureProblem(), { method, rtol: c.tol, atol: c.tol, runtime });
    assertEquals(r.stats.forward, c.forward, "forward steps and evaluations");
    assertEquals(r.stats.backward, c.backward, "backward steps and evaluations");
    // The same gradients, to the solves' accuracy (the last step of each interval differs, see adjoint.ts).
    for (const [name, values] of Object.entries(c.dparams)) {
      assertClose(r.dparams[name]!, Float64Array.from(values), 50 * c.tol, `dL/d${name}`);
    }
    assertClose(r.dtimes, Float64Array.from(c.dtimes), 50 * c.tol, "dL/dt");
  });
}

Deno.test("quadjoint's own step control takes different backward steps from torchdiffeq's on the same problem", async () => {
  // The test above can fail: the default norm and carried step sizes give other counts.
  const c = fixture.cases.find((x) => x.method === "adjoint" && x.tol === 1e-7)!;
  const r = await odeGradient(fixtureProblem(), { method: adjoint(), rtol: c.tol, atol: c.tol, runtime });
  assertEquals(r.stats.forward, c.forward, "the forward solve is the same either way");
  const same = r.stats.backward.accepted === c.backward.accepted && r.stats.backward.nfe === c.backward.nfe;
  assertEquals(
    same,
    false,
    `backward ${JSON.stringify(r.stats.backward)} vs torchdiffeq ${JSON.stringify(c.backward)}`,
  );
});

Deno.test('gq({ stepControl: "torchdiffeq" }) steps [z, a] under the larger of their RMS norms, never looser than one RMS', async () => {
  const tol = 1e-7;
  const [own, theirs, reference] = await Promise.all([
    odeGradient(fixtureProblem(), { method: gq({ nodes: "interval", C: 1 }), rtol: tol, atol: tol, runtime }),
    odeGradient(fixtureProblem(), {
      method: gq({ nodes: "interval", C: 1, stepControl: "torchdiffeq" }),
      rtol: tol,
      atol: tol,
      runtime,
    }),
    odeGradient(fixtureProblem(), {
      method: adjoint({ stepControl: "torchdiffeq" }),
      rtol: 1e-10,
      atol: 1e-10,
      runtime,
    }),
  ]);
  assertEquals(own.stats.forward, theirs.stats.forward, "the forward solve is the same either way");
  // max(rms z, rms a) ≥ rms [z, a], and no step carried into the next interval: at least as many evaluations.
  assert(
    theirs.stats.backward.nfe > own.stats.backward.nfe,
    `${theirs.stats.backward.nfe} vs ${own.stats.backward.nfe}`,
  );
  for (const [name, g] of Object.entries(reference.dparams)) {
    assertClose(theirs.dparams[name]!, g, 1e-4, `dL/d${name}`);
  }
  assertThrows(() => gq({ stepControl: "scipy" as "torchdiffeq" }), RangeError, /stepControl must be one of/);
});
