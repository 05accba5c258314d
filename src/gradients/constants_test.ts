import { assert, assertClose, assertEquals, assertRejects, assertThrows } from "../util/testing.ts";
import { Runtime } from "../runtime/session.ts";
import { type Tensor, tensor } from "../onnx/tensor.ts";
import { GraphBuilder } from "../onnx/builder.ts";
import { GraphError } from "../onnx/errors.ts";
import { asDynamics, type Dynamics } from "../models/dynamics.ts";
import { mlpDynamics } from "../models/mlp.ts";
import { adjoint, direct, gq, type GradientMethod, seminorm } from "./method.ts";
import { odeGradient, odeSolve } from "./ode_gradient.ts";
import { paramVjpBatchGraph } from "./fused_graphs.ts";
import type { LossFunction } from "./problem.ts";
import { f64 } from "./_test_problems.ts";

const runtime = new Runtime({ threads: 1 });

/** f(z, t, θ, c) = θ·z + c·cos(t): θ a scalar parameter, c a per-sample constant `[batch, 2]`. */
function forcedDynamics(dtype: "float32" | "float64" = "float64"): Dynamics {
  const b = new GraphBuilder(`forced_${dtype}`);
  const t = b.input("t", dtype, []);
  const z = b.input("z", dtype, ["batch", 2]);
  const theta = b.input("theta", dtype, [1]);
  const c = b.input("c", dtype, ["batch", 2]);
  b.output(b.op1("Add", [b.op1("Mul", [z, theta]), b.op1("Mul", [c, b.op1("Cos", [t])])]), "dz");
  return asDynamics(b.build(), { constants: ["c"] });
}

/** Closed form: z(t) = e^{θτ} z0 + c·I, I = [(−θ cos t + sin t) − e^{θτ}(−θ cos t0 + sin t0)] / (θ² + 1), τ = t − t0. */
function exactStates(theta: number, z0: readonly number[], c: readonly number[], times: readonly number[]): number[][] {
  const t0 = times[0]!;
  return times.map((t) => {
    const e = Math.exp(theta * (t - t0));
    const I = (-theta * Math.cos(t) + Math.sin(t) - e * (-theta * Math.cos(t0) + Math.sin(t0))) / (theta * theta + 1);
    return z0.map((v, i) => e * v + c[i]! * I);
  });
}

const THETA = -0.4;
const Z0 = [0.5, -1, 0.3, 0.2, 1.1, -0.6];
const C = [0.7, -0.2, 1.3, 0.4, -0.9, 0.5];
const TIMES = [0.1, 0.8, 1.9];
const DIMS = [3, 2];
const W = TIMES.map((_, k) => Z0.map((_, i) => 0.3 + Math.sin(1 + 2 * k + i)));
const Q = Z0.map((_, i) => 0.5 + 0.1 * i);

/** L = Σ_k w_kᵀ z_k + ½ Σ_i q_i z_{K,i}²: a loss on z(t0) as well, quadratic at the end. */
function lossOf(zs: readonly ArrayLike<number>[]): number {
  const K = zs.length - 1;
  let s = 0;
  zs.forEach((z, k) => Array.from(z).forEach((v, i) => s += W[k]![i]! * v + (k === K ? 0.5 * Q[i]! * v * v : 0)));
  return s;
}
const loss: LossFunction = (zs) => ({
  value: lossOf(zs),
  cotangents: zs.map((z, k) => W[k]!.map((w, i) => w + (k === zs.length - 1 ? Q[i]! * z[i]! : 0))).map((g) =>
    Float64Array.from(g)
  ),
});
/** L = Σ_k w_kᵀ z_k: the adjoint a (so dL/dz0) does not depend on c, dL/dθ does. */
const linearLoss: LossFunction = (zs) => ({ cotangents: zs.map((_, k) => Float64Array.from(W[k]!)) });

/** Closed-form gradients of `lossOf`: dL/dz0 analytically, dL/dθ and dL/dt_k by central differences of the closed form. */
function exactGradients(c: readonly number[]) {
  const L = (theta: number, times: readonly number[]) => lossOf(exactStates(theta, Z0, c, times));
  const h = 1e-5;
  const central = (at: (d: number) => number) => (at(h) - at(-h)) / (2 * h);
  const zs = exactStates(THETA, Z0, c, TIMES);
  const K = TIMES.length - 1;
  const dz0 = Z0.map((_, i) =>
    TIMES.reduce((s, t, k) => {
      const g = W[k]![i]! + (k === K ? Q[i]! * zs[K]![i]! : 0);
      return s + Math.exp(THETA * (t - TIMES[0]!)) * g;
    }, 0)
  );
  return {
    dz0,
    dtheta: central((d) => L(THETA + d, TIMES)),
    dtimes: TIMES.map((_, k) => central((d) => L(THETA, TIMES.map((t, j) => (j === k ? t + d : t))))),
  };
}

const METHODS: Record<string, GradientMethod> = {
  direct: direct(),
  adjoint: adjoint(),
  seminorm: seminorm(),
  gq: gq(),
  "gq interval": gq({ nodes: "interval" }),
  "gq per-step": gq({ nodes: "per-step" }),
  // The host (JavaScript stepper) path: z replayed by integrate() through a bound f, a by a bound backward graph.
  "gq checkpoint": gq({ trajectory: "checkpoint" }),
};

function problem(c: readonly number[], dynamics = forcedDynamics()) {
  return {
    dynamics,
    params: { theta: f64([THETA], [1]) },
    constants: { c: f64(c, DIMS) },
    z0: f64(Z0, DIMS),
    times: TIMES,
  };
}

Deno.test("asDynamics() takes named inputs as per-sample constants, not parameters", () => {
  const dynamics = forcedDynamics();
  assertEquals(dynamics.params.map((p) => p.name), ["theta"]);
  assertEquals(dynamics.constants, [{ name: "c", shape: ["batch", 2] }]);
  assertEquals(mlpDynamics({ stateDim: 2, hidden: [4] }).dynamics.constants, []);
  // Without the option c is a parameter, and its batch dim is refused as not concrete.
  const graph = dynamics.graph;
  assertThrows(() => asDynamics(graph), GraphError, `Parameter "c" must have a concrete shape`);
});

Deno.test("asDynamics() refuses a constant that is not an input or lacks z's batch dim first, naming it", () => {
  const build = (shape: (number | string)[], batch: number | string = "batch") => {
    const b = new GraphBuilder("bad");
    b.input("t", "float64", []);
    const z = b.input("z", "float64", [batch, 2]);
    b.input("xi", "float64", shape);
    b.output(b.op1("Neg", [z]), "dz");
    return b.build();
  };
  assertThrows(() => asDynamics(build(["n", 2]), { constants: ["xi"] }), TypeError, `Constant "xi" must be [batch,`);
  assertThrows(() => asDynamics(build([2]), { constants: ["xi"] }), TypeError, `Constant "xi" must be [batch,`);
  assertThrows(() => asDynamics(build([4, 2], 3), { constants: ["xi"] }), TypeError, `Constant "xi" must be [3,`);
  assertThrows(() => asDynamics(build(["batch", "k"]), { constants: ["xi"] }), TypeError, `Constant "xi"`);
  assertThrows(
    () => asDynamics(build(["batch", 2]), { constants: ["eta"] }),
    TypeError,
    `Constant "eta" is not an input`,
  );
  assertThrows(() => asDynamics(build(["batch", 2]), { constants: ["z"] }), TypeError, `Constant "z" cannot be`);
  assertEquals(asDynamics(build([3, 2], 3), { constants: ["xi"] }).constants, [{ name: "xi", shape: [3, 2] }]);
});

Deno.test("odeSolve() with a per-sample constant matches the closed-form solution", async () => {
  const { states } = await odeSolve(problem(C), { rtol: 1e-10, atol: 1e-10, runtime });
  const exact = exactStates(THETA, Z0, C, TIMES);
  states.forEach((s, k) => assertClose(s, exact[k]!, 1e-8, `z(t${k})`));
});

Deno.test("odeGradient() with a per-sample constant matches the closed-form gradients for every method", async () => {
  const exact = exactGradients(C);
  for (const [name, method] of Object.entries(METHODS)) {
    const r = await odeGradient({ ...problem(C), loss }, { method, rtol: 1e-10, atol: 1e-10, runtime });
    assertClose(r.loss!, lossOf(exactStates(THETA, Z0, C, TIMES)), 1e-8, `${name} loss`);
    assertClose(r.dz0, exact.dz0, 1e-6, `${name} dL/dz0`);
    assertClose(r.dparams["theta"]!, exact.dtheta, 1e-6, `${name} dL/dθ`);
    assertClose(r.dtimes, exact.dtimes, 1e-6, `${name} dL/dt`);
    assertEquals(Object.keys(r.dparams), ["theta"], `${name}: no gradient for the constant`);
  }
});

Deno.test("odeGradient() gradients change with a constant where the mathematics says, and only there", async () => {
  // Change c for sample 1 only: z of samples 0 and 2 stays, dL/dθ (summed over the batch) changes, and with a
  // loss linear in z dL/dz0 = Σ e^{θτ_k} w_k does not depend on c at all.
  const other = C.map((v, i) => (i === 2 || i === 3 ? v + 1.5 : v));
  const exactSame = exactGradients(C), exactOther = exactGradients(other);
  assert(Math.abs(exactOther.dtheta - exactSame.dtheta) > 0.1 * Math.abs(exactSame.dtheta), "test needs a change");
  const fixedSamples = [0, 1, 4, 5];
  for (const [name, method] of Object.entries(METHODS)) {
    const run = (c: readonly number[], l: LossFunction) =>
      odeGradient({ ...problem(c), loss: l }, { method, rtol: 1e-10, atol: 1e-10, runtime });
    const [a, b] = [await run(C, loss), await run(other, loss)];
    assertClose(b.dparams["theta"]!, exactOther.dtheta, 1e-6, `${name} dL/dθ after changing c`);
    assertClose(b.dz0, exactOther.dz0, 1e-6, `${name} dL/dz0 after changing c`);
    assert(Math.abs(b.dparams["theta"]![0]! - a.dparams["theta"]![0]!) > 1e-3, `${name}: dL/dθ ignores c`);
    const last = TIMES.length - 1;
    assertClose(
      fixedSamples.map((i) => b.states[last]![i]!),
      fixedSamples.map((i) => a.states[last]![i]!),
      1e-8,
      `${name}: other samples' states`,
    );
    assert(Math.abs(b.states[last]![2]! - a.states[last]![2]!) > 0.1, `${name}: sample 1 ignores its own c`);
    const [la, lb] = [await run(C, linearLoss), await run(other, linearLoss)];
    assertClose(lb.dz0, la.dz0, 1e-8, `${name}: dL/dz0 of a linear loss depends on c`);
  }
});

Deno.test("odeGradient() refuses a missing constant or one of the wrong shape, naming it", async () => {
  const { constants: _, ...noConstants } = problem(C);
  await assertRejects(
    () => odeGradient({ ...noConstants, loss }, { method: gq(), runtime }),
    TypeError,
    `constants: missing constant "c" of shape [3, 2]`,
  );
  await assertRejects(
    () => odeSolve({ ...problem(C), constants: { c: f64(C.slice(0, 4), [2, 2]) } }, { runtime }),
    TypeError,
    "constants.c: expected shape [3, 2], got [2, 2]",
  );
  await assertRejects(
    () => odeSolve({ ...problem(C), constants: { c: f64(C, [3, 2, 1]) } }, { runtime }),
    TypeError,
    "constants.c: expected shape [3, 2], got [3, 2, 1]",
  );
  await assertRejects(
    () => odeSolve({ ...problem(C), constants: { c: tensor(Int32Array.from(C), DIMS) } }, { runtime }),
    TypeError,
    `constant "c" to be float32 or float64`,
  );
});

Deno.test("odeGradient() converts float64 constants for a float32 model and agrees with float64 to 1e-4", async () => {
  const exact = exactGradients(C);
  const f32 = forcedDynamics("float32");
  const p = problem(C, f32);
  for (const [name, method] of Object.entries(METHODS)) {
    const r = await odeGradient({
      ...p,
      params: { theta: tensor(Float32Array.of(THETA), [1]) },
      z0: tensor(Float32Array.from(Z0), DIMS),
      // constants stay float64: converted to the model dtype like parameters.
      loss,
    }, { method, rtol: 1e-6, atol: 1e-6, runtime });
    assert(r.dparams["theta"] instanceof Float32Array, `${name}: dL/dθ in the model dtype`);
    assertClose(r.dparams["theta"]!, exact.dtheta, 1e-4, `${name} float32 dL/dθ`);
    assertClose(r.dz0, exact.dz0, 1e-4, `${name} float32 dL/dz0`);
  }
});

Deno.test("odeGradient() matches finite differences when ∂f/∂z depends on the constant: f = tanh(z W + c)", async () => {
  const b = new GraphBuilder("tanh_shift");
  b.input("t", "float64", []);
  const z = b.input("z", "float64", ["batch", 2]);
  const w = b.input("w", "float64", [2, 2]);
  const c = b.input("c", "float64", ["batch", 2]);
  b.output(b.op1("Tanh", [b.op1("Add", [b.op1("MatMul", [z, w]), c])]), "dz");
  const dynamics = asDynamics(b.build(), { constants: ["c"] });
  const W0 = [0.3, -0.8, 0.6, 0.1];
  const at = (wv: readonly number[], z0: readonly number[]) => ({
    dynamics,
    params: { w: f64(wv, [2, 2]) },
    constants: { c: f64(C, DIMS) },
    z0: f64(z0, DIMS),
    times: TIMES,
  });
  const tight = async (wv: readonly number[], z0: readonly number[]) =>
    lossOf((await odeSolve(at(wv, z0), { rtol: 1e-12, atol: 1e-12, runtime })).states);
  const h = 1e-5;
  const shifted = (xs: readonly number[], j: number, d: number) => xs.map((v, i) => (i === j ? v + d : v));
  const fdW: number[] = [], fdZ: number[] = [];
  for (let j = 0; j < W0.length; j++) {
    fdW.push((await tight(shifted(W0, j, h), Z0) - await tight(shifted(W0, j, -h), Z0)) / (2 * h));
  }
  for (const j of [0, 3, 4]) {
    fdZ.push((await tight(W0, shifted(Z0, j, h)) - await tight(W0, shifted(Z0, j, -h))) / (2 * h));
  }
  for (const [name, method] of Object.entries(METHODS)) {
    const r = await odeGradient({ ...at(W0, Z0), loss }, { method, rtol: 1e-10, atol: 1e-10, runtime });
    assertClose(r.dparams["w"]!, fdW, 1e-6, `${name} dL/dW`);
    assertClose([0, 3, 4].map((j) => r.dz0[j]!), fdZ, 1e-6, `${name} dL/dz0`);
    assertEquals(Object.keys(r.dparams), ["w"], `${name}: no gradient for the constant`);
  }
});

Deno.test("paramVjpBatchGraph() feeds the constants once to every point: Σ aᵢ·zᵢ and −Σ aᵢ·c sin tᵢ", async () => {
  const dynamics = forcedDynamics();
  const count = 3;
  const { graph, names } = paramVjpBatchGraph(dynamics, count, true);
  assertEquals(graph.inputs.find((v) => v.name === "c")?.shape, ["batch", 2]);
  const n = Z0.length;
  const zs = Array.from({ length: count * n }, (_, j) => Math.cos(0.3 * j));
  const as = Array.from({ length: count * n }, (_, j) => Math.sin(1 + 0.7 * j));
  const ts = [0.2, 1.1, -0.5];
  const feeds: Record<string, Tensor> = {
    [names.z]: f64(zs, [count, ...DIMS]),
    [names.a]: f64(as, [count, ...DIMS]),
    [names.t!]: f64(ts, [count]),
    theta: f64([THETA], [1]),
    c: f64(C, DIMS),
    [names.accumulators!.params["theta"]!]: f64([0.25], [1]),
    [names.accumulators!.t]: f64([-0.5], []),
  };
  const out = await (await runtime.compile(graph)).run(feeds);
  let dtheta = 0.25, dt = -0.5;
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < n; j++) {
      dtheta += as[i * n + j]! * zs[i * n + j]!;
      dt -= as[i * n + j]! * C[j]! * Math.sin(ts[i]!);
    }
  }
  assertClose(out[names.outputs.params["theta"]!]!.data as Float64Array, [dtheta], 1e-12, "Σ aᵀ∂f/∂θ");
  assertClose(out[names.outputs.t]!.data as Float64Array, [dt], 1e-12, "Σ aᵀ∂f/∂t");
  assert(!Object.keys(names.outputs.params).includes("c"), "no sum for the constant");
  const clash = new GraphBuilder("clash");
  clash.input("t", "float64", []);
  const z = clash.input("z", "float64", ["batch", 2]);
  clash.input("pvjp.c", "float64", ["batch", 2]);
  clash.output(clash.op1("Neg", [z]), "dz");
  const reserved = asDynamics(clash.build(), { constants: ["pvjp.c"] });
  assertThrows(() => paramVjpBatchGraph(reserved, 2, false), GraphError, `Constant "pvjp.c" starts with "pvjp."`);
});
