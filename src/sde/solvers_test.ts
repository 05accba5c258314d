import { asDynamics, DYNAMICS_NAMES } from "../models/dynamics.ts";
import { GraphBuilder } from "../onnx/builder.ts";
import { fromNumbers } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { BrownianPath } from "./brownian.ts";
import { sdeint } from "./sdeint.ts";
import { reversibleHeun, reversibleHeunReverse, SDE_SOLVER_NAMES, type SdeSolverName } from "./solvers.ts";
import { onnxSdeTerms, type SdeTerms } from "./terms.ts";

const MU = 0.5, SIGMA = 0.8;
/** Geometric Brownian motion: dy = μy dt + σy dW (Itô) or ∘dW (Stratonovich). */
const gbm: SdeTerms = { drift: (_t, y) => y.map((v) => MU * v), diffusion: (_t, y) => y.map((v) => SIGMA * v) };
/** The paper's Ornstein–Uhlenbeck process (additive noise): dy = (0.2t − 0.1y) dt + (0.6 + 0.15t) dW. */
const ou: SdeTerms = {
  drift: (t, y) => y.map((v) => 0.2 * t - 0.1 * v),
  diffusion: (t, y) => y.map(() => 0.6 + 0.15 * t),
};

/** GBM's exact solution on the path, for y0 = 1. */
function gbmExact(name: SdeSolverName, w: number, T: number): number {
  return Math.exp((name === "euler-maruyama" ? MU - SIGMA ** 2 / 2 : MU) * T + SIGMA * w);
}

/** Least-squares slope of log error against log dt. */
function order(dts: readonly number[], errors: readonly number[]): number {
  const x = dts.map(Math.log), y = errors.map(Math.log);
  const mx = x.reduce((a, b) => a + b) / x.length, my = y.reduce((a, b) => a + b) / y.length;
  return x.reduce((s, v, i) => s + (v - mx) * (y[i]! - my), 0) / x.reduce((s, v) => s + (v - mx) ** 2, 0);
}

const STRONG: Record<SdeSolverName, number> = {
  "euler-maruyama": 0.5,
  "euler-heun": 1,
  "midpoint": 1,
  "reversible-heun": 1, // scalar multiplicative noise commutes; 0.5 for general noise
};

Deno.test("SDE solvers converge at their strong order on geometric Brownian motion, one Brownian path for every dt", async () => {
  const paths = 1000, T = 1;
  const brownian = new BrownianPath({ t0: 0, t1: T, steps: 128, size: paths, seed: 11 });
  const w = brownian.value(T), y0 = new Float64Array(paths).fill(1);
  const dts = [1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128];
  for (const name of SDE_SOLVER_NAMES) {
    const errors: number[] = [];
    for (const dt of dts) {
      const y = (await sdeint(gbm, y0, [0, T], { solver: name, dt, brownian })).states[1]!;
      errors.push(y.reduce((s, v, i) => s + Math.abs(v - gbmExact(name, w[i]!, T)), 0) / paths);
    }
    const p = order(dts, errors);
    assert(Math.abs(p - STRONG[name]) < 0.15, `${name}: strong order ${p.toFixed(2)}, expected ${STRONG[name]}`);
  }
});

Deno.test("SDE solvers converge at strong order 1 on the additive-noise OU process, against a fine solve of the same path", async () => {
  const paths = 500, T = 2;
  const brownian = new BrownianPath({ t0: 0, t1: T, steps: 1024, size: paths, seed: 3 });
  const y0 = new Float64Array(paths).map((_, i) => -3 + (6 * i) / paths);
  const ref = (await sdeint(ou, y0, [0, T], { solver: "midpoint", dt: T / 1024, brownian })).states[1]!;
  const dts = [T / 8, T / 16, T / 32, T / 64];
  for (const name of SDE_SOLVER_NAMES) {
    const errors: number[] = [];
    for (const dt of dts) {
      const y = (await sdeint(ou, y0, [0, T], { solver: name, dt, brownian })).states[1]!;
      errors.push(y.reduce((s, v, i) => s + Math.abs(v - ref[i]!), 0) / paths);
    }
    const p = order(dts, errors);
    assert(Math.abs(p - 1) < 0.15, `${name}: strong order ${p.toFixed(2)} on additive noise, expected 1`);
  }
});

Deno.test("SDE solvers converge at weak order 1 on GBM's mean (common random numbers)", async () => {
  const paths = 4000, T = 1;
  const brownian = new BrownianPath({ t0: 0, t1: T, steps: 32, size: paths, seed: 5 });
  const w = brownian.value(T), y0 = new Float64Array(paths).fill(1);
  const dts = [1 / 4, 1 / 8, 1 / 16, 1 / 32];
  for (const name of SDE_SOLVER_NAMES) {
    const exactMean = w.reduce((s, v) => s + gbmExact(name, v, T), 0) / paths;
    const errors: number[] = [];
    for (const dt of dts) {
      const y = (await sdeint(gbm, y0, [0, T], { solver: name, dt, brownian })).states[1]!;
      errors.push(Math.abs(y.reduce((a, b) => a + b, 0) / paths - exactMean));
    }
    const p = order(dts, errors);
    assert(Math.abs(p - 1) < 0.25, `${name}: weak order ${p.toFixed(2)}, expected 1`);
  }
});

Deno.test("reversibleHeunReverse() runs reversible Heun back to its initial state to round-off", async () => {
  // A nonlinear SDE, so the reconstruction is not trivially exact.
  const terms: SdeTerms = {
    drift: (t, y) => y.map((v) => Math.sin(v) - 0.3 * v + 0.1 * t),
    diffusion: (_t, y) => y.map((v) => 0.5 / (1 + v * v)),
  };
  const steps = 200, dt = 0.01, size = 16;
  const brownian = new BrownianPath({ t0: 0, t1: steps * dt, steps, size, seed: 2 });
  const y0 = new Float64Array(size).map((_, i) => i / 4 - 2);
  const { final } = await sdeint(terms, y0, [0, steps * dt], { solver: reversibleHeun, dt, brownian });
  let s = final;
  for (let n = steps - 1; n >= 0; n--) {
    s = await reversibleHeunReverse(terms, s, n * dt, dt, brownian.increment(n * dt, (n + 1) * dt));
  }
  const worst = Math.max(...s.y.map((v, i) => Math.abs(v - y0[i]!)), ...s.yHat.map((v, i) => Math.abs(v - y0[i]!)));
  assert(worst < 1e-11, `reconstruction error ${worst}`);
});

Deno.test("onnxSdeTerms() runs drift and diffusion graphs, matching the same terms in JavaScript", async () => {
  const graph = (
    name: string,
    op: (b: GraphBuilder, z: ReturnType<GraphBuilder["input"]>) => ReturnType<GraphBuilder["input"]>,
  ) => {
    const b = new GraphBuilder(name);
    b.input(DYNAMICS_NAMES.time, "float64", []);
    const z = b.input(DYNAMICS_NAMES.state, "float64", ["batch", 2]);
    b.output(op(b, z), DYNAMICS_NAMES.derivative);
    return asDynamics(b.build());
  };
  const drift = graph("f", (b, z) => b.op1("Mul", [z, b.input("mu", "float64", [1])]));
  const diffusion = graph("g", (b, z) => b.op1("Mul", [z, b.input("sigma", "float64", [1])]));
  const runtime = new Runtime({ threads: 1 });
  try {
    const params = { mu: fromNumbers([MU], [1], "float64"), sigma: fromNumbers([SIGMA], [1], "float64") };
    const terms = await onnxSdeTerms({ runtime, drift, diffusion, params });
    const brownian = new BrownianPath({ t0: 0, t1: 1, steps: 64, size: 6, seed: 8 });
    const y0 = Float64Array.of(1, 2, 3, 4, 5, 6);
    const onnx = await sdeint(terms, y0, [0, 0.5, 1], { solver: "euler-heun", dt: 1 / 64, brownian });
    const js = await sdeint(gbm, y0, [0, 0.5, 1], { solver: "euler-heun", dt: 1 / 64, brownian });
    for (const [k, s] of onnx.states.entries()) {
      assert(s.every((v, i) => Math.abs(v - js.states[k]![i]!) < 1e-12 * Math.abs(v)), `state ${k}`);
    }
    assertEquals(terms.calls(), { drift: 64, diffusion: 128 });
  } finally {
    await runtime.dispose();
  }
});

Deno.test("sdeint() refuses times and steps off the Brownian grid, naming them", async () => {
  const brownian = new BrownianPath({ t0: 0, t1: 1, steps: 10, size: 1, seed: 0 });
  const y0 = Float64Array.of(1);
  let error: unknown;
  try {
    await sdeint(gbm, y0, [0, 0.55], { dt: 0.1, brownian });
  } catch (e) {
    error = e;
  }
  assert(error instanceof RangeError && error.message.includes("times[0] → times[1]"), String(error));
  error = undefined;
  try {
    await sdeint(gbm, y0, [0, 1], { dt: 0.05, brownian });
  } catch (e) {
    error = e;
  }
  assert(error instanceof RangeError && error.message.includes("Brownian path's step"), String(error));
  assertThrows(() => brownian.index(2), RangeError, "t = 2");
});
