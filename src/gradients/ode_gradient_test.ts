import { assert, assertClose, assertEquals, assertRejects, assertThrows } from "../util/testing.ts";
import { Runtime } from "../runtime/session.ts";
import { type Tensor, tensor } from "../onnx/tensor.ts";
import { adjoint, direct, gq, type GradientMethod, seminorm } from "./method.ts";
import { odeGradient } from "./ode_gradient.ts";
import { intervalNodeCount } from "./gq.ts";
import { SEGMENT_STEPS } from "./_replay.ts";
import { DOPRI5_TABLEAU } from "../solvers/tableau.ts";
import type { GradientResult, LossFunction } from "./problem.ts";
import { mlpDynamics } from "../models/mlp.ts";
import { convDynamics } from "../models/conv.ts";
import { expm, f64 } from "./_test_problems.ts";
import { exponentialDynamics, linearDynamics } from "../models/linear.ts";
import { asDynamics, type Dynamics, type Params } from "../models/dynamics.ts";
import { GraphBuilder } from "../onnx/builder.ts";

const runtime = new Runtime({ threads: 1 });

/** Every method and GQ variant, with GQ's node factor C. */
function methods(C = 0.1): Record<string, GradientMethod> {
  return {
    direct: direct(),
    "direct recompute": direct({ activations: "recompute" }),
    adjoint: adjoint(),
    seminorm: seminorm(),
    gq: gq({ C }),
    "gq paper": gq({ C, nodes: "interval" }),
    "gq per-step": gq({ C, nodes: "per-step" }),
    "gq checkpoint": gq({ C, trajectory: "checkpoint" }),
    "gq clamp": gq({ C, nodes: "interval", observe: "clamp" }),
  };
}
const METHODS = methods();

/** The loss after a tight (rtol = atol = 1e-12) float64 forward solve: what finite differences difference. */
async function tightLoss(
  dynamics: Dynamics,
  params: Params,
  z0: Tensor,
  times: number[],
  loss: LossFunction,
): Promise<number> {
  const r = await odeGradient({ dynamics, params, z0, times, loss }, {
    method: direct(),
    rtol: 1e-12,
    atol: 1e-12,
    runtime,
  });
  return r.loss!;
}

// The paper's analytic problem: dz/dt = a·z, z0 = 10, a = 0.2, L = z(T)².
for (const dtype of ["float64", "float32"] as const) {
  Deno.test(`odeGradient() matches the closed-form gradients of L = z(T)² for dz/dt = a·z (${dtype})`, async () => {
    const dynamics = exponentialDynamics(dtype);
    const a = 0.2, z0 = 10;
    const tol = dtype === "float64" ? 2e-5 : 2e-3;
    for (const T of [19, 24, 29]) {
      const exact = {
        loss: z0 ** 2 * Math.exp(2 * a * T),
        z0: 2 * z0 * Math.exp(2 * a * T),
        a: 2 * T * z0 ** 2 * Math.exp(2 * a * T),
        T: 2 * a * z0 ** 2 * Math.exp(2 * a * T),
      };
      for (const [name, method] of Object.entries(METHODS)) {
        const r = await odeGradient({
          dynamics,
          params: { a: tensor(dtype === "float64" ? Float64Array.of(a) : Float32Array.of(a), [1]) },
          z0: tensor(dtype === "float64" ? Float64Array.of(z0) : Float32Array.of(z0), [1, 1]),
          times: [0, T],
          loss: ([, zT]) => ({ value: zT![0]! ** 2, cotangents: [null, Float64Array.of(2 * zT![0]!)] }),
        }, { method, rtol: 1e-6, atol: 1e-6, runtime });
        assertClose(r.loss!, exact.loss, tol, `${name} T=${T} loss`);
        assertClose(r.dz0[0]!, exact.z0, tol, `${name} T=${T} dL/dz0`);
        assertClose(r.dparams["a"]![0]!, exact.a, tol, `${name} T=${T} dL/da`);
        assertClose(r.dtimes[1]!, exact.T, tol, `${name} T=${T} dL/dT`);
        assertClose(r.dtimes[0]!, -exact.T, tol, `${name} T=${T} dL/dt0`);
      }
      if (dtype === "float64") {
        // The continuous adjoints solve the same backward ODE: with a tight backward tolerance they converge to one
        // value, while direct gives the exact gradient of the forward discretisation, off by the forward error.
        const tight = async (method: GradientMethod) =>
          (await odeGradient({
            dynamics,
            params: { a: tensor(Float64Array.of(a), [1]) },
            z0: tensor(Float64Array.of(z0), [1, 1]),
            times: [0, T],
            loss: ([, zT]) => ({ cotangents: [null, Float64Array.of(2 * zT![0]!)] }),
          }, { method, rtol: 1e-6, atol: 1e-6, backward: { rtol: 1e-10, atol: 1e-10 }, runtime })).dparams["a"]![0]!;
        const [g, adj, dir] = [await tight(gq()), await tight(adjoint()), await tight(direct())];
        assert(
          Math.abs(g - adj) < 0.01 * Math.abs(g - dir),
          `T=${T}: |gq−adjoint| ${Math.abs(g - adj)} should be far below |gq−direct| ${Math.abs(g - dir)}`,
        );
      }
    }
  });
}

Deno.test("odeGradient() matches matrix-exponential gradients for dz/dt = A z with several measurement times", async () => {
  const d = 4;
  const dynamics = linearDynamics(d);
  const A = Float64Array.from([-0.3, 0.8, 0.1, 0, -0.7, -0.2, 0.3, 0.1, 0.2, -0.1, -0.4, 0.6, 0, 0.3, -0.5, -0.1]);
  const z0 = Float64Array.from([1, -0.5, 0.25, 2]);
  const times = [0.2, 0.7, 1.5, 2.4];
  const c = times.map((_, k) => Float64Array.from({ length: d }, (_, i) => Math.sin(1 + k * d + i)));
  // Exact: z_k = e^{A(t_k − t0)} z0; L = Σ_{k≥1} c_kᵀ z_k.
  const expAt = (t: number) => expm(A.map((v) => v * t), d);
  const apply = (m: Float64Array, v: Float64Array) =>
    Float64Array.from({ length: d }, (_, i) => v.reduce((s, vj, j) => s + m[i * d + j]! * vj, 0));
  const applyT = (m: Float64Array, v: Float64Array) =>
    Float64Array.from({ length: d }, (_, i) => v.reduce((s, vj, j) => s + m[j * d + i]! * vj, 0));
  const dz0 = new Float64Array(d), dA = new Float64Array(d * d), dt = new Float64Array(times.length);
  for (let k = 1; k < times.length; k++) {
    const tau = times[k]! - times[0]!;
    const E = expAt(tau);
    const zk = apply(E, z0);
    applyT(E, c[k]!).forEach((v, i) => dz0[i]! += v);
    // ∂(cᵀ e^{Aτ} z0)/∂A = upper-right block of exp([[Aᵀ, c z0ᵀ], [0, Aᵀ]] τ) (Van Loan).
    const M = new Float64Array(4 * d * d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        M[i * 2 * d + j] = M[(i + d) * 2 * d + j + d] = A[j * d + i]! * tau;
        M[i * 2 * d + j + d] = c[k]![i]! * z0[j]! * tau;
      }
    }
    const big = expm(M, 2 * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) dA[i * d + j]! += big[i * 2 * d + j + d]!;
    dt[k] = c[k]!.reduce((s, ci, i) => s + ci * apply(A, zk)[i]!, 0);
    dt[0]! -= dt[k]!;
  }
  for (const [name, method] of Object.entries(METHODS)) {
    const r = await odeGradient({
      dynamics,
      params: { A: f64([...A], [d, d]) },
      z0: f64([...z0], [1, d]),
      times,
      loss: () => ({ cotangents: [null, ...c.slice(1)] }),
    }, { method, rtol: 1e-10, atol: 1e-10, runtime });
    assertClose(r.dz0, dz0, 1e-7, `${name} dL/dz0`);
    assertClose(r.dparams["A"]!, dA, 1e-7, `${name} dL/dA`);
    assertClose(r.dtimes, dt, 1e-7, `${name} dL/dt`);
  }
});

Deno.test("odeGradient() handles decreasing times and a single measurement time", async () => {
  const dynamics = exponentialDynamics("float64");
  const a = -0.3, z0 = 2, t0 = 3, t1 = 1;
  const e = Math.exp(2 * a * (t1 - t0));
  for (const [name, method] of Object.entries(METHODS)) {
    const r = await odeGradient({
      dynamics,
      params: { a: f64([a], [1]) },
      z0: f64([z0], [1, 1]),
      times: [t0, t1],
      loss: ([, z]) => ({ value: z![0]! ** 2, cotangents: [null, Float64Array.of(2 * z![0]!)] }),
    }, { method, rtol: 1e-9, atol: 1e-9, runtime });
    assertClose(r.loss!, z0 * z0 * e, 1e-7, `${name} loss`);
    assertClose(r.dz0[0]!, 2 * z0 * e, 1e-7, `${name} dL/dz0`);
    assertClose(r.dparams["a"]![0]!, 2 * (t1 - t0) * z0 * z0 * e, 1e-7, `${name} dL/da`);
    assertClose(r.dtimes[1]!, 2 * a * z0 * z0 * e, 1e-7, `${name} dL/dt1`);
  }
});

Deno.test("odeGradient() with decreasing times matches finite differences for time-dependent dynamics", async () => {
  // Several intervals, f depending on t and a loss on z(t0) as well: exercises the sign of every quadrature weight,
  // the time integral in dL/dt0 and the jumps in a when the solve runs towards smaller t.
  const { dynamics, init } = mlpDynamics({
    stateDim: 2,
    hidden: [6],
    activation: "tanh",
    time: "concat",
    dtype: "float64",
    seed: 5,
  });
  const z0 = [0.5, -0.3, 0.8, -1];
  const times = [1.3, 0.9, 0.2];
  const weights = times.map((_, k) => Float64Array.from({ length: 4 }, (_, i) => 0.5 + Math.cos(k + i)));
  const loss = (zs: readonly Float64Array[]) => ({
    value: zs.reduce((s, z, k) => s + z.reduce((t, v, i) => t + weights[k]![i]! * v * v, 0), 0),
    cotangents: zs.map((z, k) => z.map((v, i) => 2 * weights[k]![i]! * v)),
  });
  const lossAt = (z: number[], ts: number[], params = init) => tightLoss(dynamics, params, f64(z, [2, 2]), ts, loss);
  const h = 1e-5;
  const central = async (at: (delta: number) => Promise<number>) => (await at(h) - await at(-h)) / (2 * h);
  const fdTimes = await Promise.all(
    times.map((_, k) => central((d) => lossAt(z0, times.map((t, j) => (j === k ? t + d : t))))),
  );
  const fdZ = await central((d) => lossAt(z0.map((v, j) => (j === 1 ? v + d : v)), times));
  const shiftBias = (d: number) => {
    const data = Float64Array.from(init["l0.bias"]!.data as Float64Array);
    data[3]! += d;
    return lossAt(z0, times, { ...init, "l0.bias": tensor(data, init["l0.bias"]!.dims) });
  };
  const fdBias = await central(shiftBias);
  for (const [name, method] of Object.entries(methods(1))) {
    const r = await odeGradient({ dynamics, params: init, z0: f64(z0, [2, 2]), times, loss }, {
      method,
      rtol: 1e-10,
      atol: 1e-10,
      runtime,
    });
    times.forEach((_, k) => assertClose(r.dtimes[k]!, fdTimes[k]!, 1e-6, `${name} dL/dt${k}`));
    assertClose(r.dz0[1]!, fdZ, 1e-6, `${name} dL/dz0[1]`);
    assertClose(r.dparams["l0.bias"]![3]!, fdBias, 1e-6, `${name} dL/dl0.bias[3]`);
  }
});

Deno.test("odeGradient({ timeGradients: false }) skips dL/dt_k's evaluations and changes no other gradient", async () => {
  const { dynamics, init } = mlpDynamics({ stateDim: 2, hidden: [6], time: "concat", dtype: "float64", seed: 4 });
  const times = [0, 0.4, 0.9, 1.5];
  const problem = {
    dynamics,
    params: init,
    z0: f64([0.4, -0.7, 0.1, 0.3], [2, 2]),
    times,
    // The loss reads every time but the second: t₂ and t₃ have cotangents, so two f evaluations to skip (t₀'s needs none).
    loss: (zs: readonly Float64Array[]) => ({ cotangents: zs.map((z, k) => (k === 1 ? null : z.map((v) => 2 * v))) }),
  };
  for (const [name, method] of Object.entries(METHODS)) {
    const settings = { method, rtol: 1e-7, atol: 1e-7, runtime };
    const full = await odeGradient(problem, settings);
    const skipped = await odeGradient(problem, { ...settings, timeGradients: false });
    assert(full.dtimes.every(Number.isFinite), `${name}: dL/dt_k by default`);
    assert(skipped.dtimes.length === times.length && skipped.dtimes.every(Number.isNaN), `${name}: NaN dtimes`);
    assertEquals(skipped.states, full.states, `${name}: forward`);
    if (method.kind === "adjoint" && method.norm === "full") {
      // The full norm holds a_t, which leaves step control without time gradients: the steps may differ.
      assertClose(skipped.dz0, full.dz0, 1e-5, `${name} dz0`);
      for (const p of Object.keys(full.dparams)) {
        assertClose(skipped.dparams[p]!, full.dparams[p]!, 1e-5, `${name} ${p}`);
      }
      assert(skipped.stats.backward.nfe <= full.stats.backward.nfe - 2, `${name}: fewer backward evaluations`);
      continue;
    }
    assertEquals(skipped.dz0, full.dz0, `${name}: dz0`);
    assertEquals(skipped.dparams, full.dparams, `${name}: dparams`);
    assertEquals(
      skipped.stats.backward.nfe,
      full.stats.backward.nfe - 2,
      `${name}: one evaluation per later time read`,
    );
  }
});

Deno.test("odeGradient() places the paper's n_k nodes per interval, (order+1)/2 per backward step, or per panel", async () => {
  const { dynamics, init } = mlpDynamics({ stateDim: 2, hidden: [6], time: "concat", dtype: "float64", seed: 2 });
  for (const times of [[0, 0.3, 1.7, 2], [2, 1.2, 0]]) {
    const problem = {
      dynamics,
      params: init,
      z0: f64([0.4, -0.7], [1, 2]),
      times,
      loss: (zs: readonly Float64Array[]) => ({ cotangents: zs.map((z) => z.map((v) => 2 * v)) }),
    };
    for (const C of [0.1, 2]) {
      const r = await odeGradient(problem, { method: gq({ C, nodes: "interval" }), rtol: 1e-6, atol: 1e-6, runtime });
      const { nfe, accepted, rejected } = r.stats.forward;
      assertEquals(nfe, 2 + 6 * (accepted + rejected), "NFE_fwd counts the initial-step and rejected evaluations");
      const span = times[times.length - 1]! - times[0]!;
      let expected = 0;
      for (let k = 1; k < times.length; k++) {
        const n = Math.min(
          64,
          Math.max(1, Math.ceil((C * nfe * Math.abs(times[k]! - times[k - 1]!)) / Math.abs(span))),
        );
        assertEquals(intervalNodeCount(C, nfe, times[k]! - times[k - 1]!, span), n, `C = ${C}, interval ${k}`);
        expected += n;
      }
      assertEquals(r.stats.nodes, expected, `C = ${C}, times ${times}`);
    }
    const perStep = await odeGradient(problem, { method: gq({ nodes: "per-step" }), rtol: 1e-6, atol: 1e-6, runtime });
    assertEquals(perStep.stats.nodes, 3 * perStep.stats.backward.accepted, "dopri5: 3 Gauss nodes per backward step");
    const adaptive = await odeGradient(problem, { method: gq(), rtol: 1e-6, atol: 1e-6, runtime });
    const panels = adaptive.stats.nodes / 3;
    assert(Number.isInteger(panels), "adaptive: 3 nodes per panel");
    assert(panels >= times.length - 1 && panels <= adaptive.stats.backward.accepted, `${panels} panels`);
  }
});

Deno.test("odeGradient() takes dt as the first step of an adaptive solver and refuses bad solve settings", async () => {
  const dynamics = exponentialDynamics("float64");
  const a = 0.4, z0 = 1.5, T = 2;
  const problem = {
    dynamics,
    params: { a: f64([a], [1]) },
    z0: f64([z0], [1, 1]),
    times: [0, T],
    loss: ([, z]: readonly Float64Array[]) => ({ cotangents: [null, Float64Array.of(2 * z![0]!)] }),
  };
  // dt = 1 as a fixed grid would be 2 uncontrolled steps; as a first step, error control still applies.
  const r = await odeGradient(problem, { method: adjoint(), dt: 1, rtol: 1e-10, atol: 1e-10, runtime });
  const { nfe, accepted, rejected } = r.stats.forward;
  assert(accepted > 2, `adaptive steps expected, got ${accepted}`);
  assertEquals(nfe, 1 + 6 * (accepted + rejected), "a given first step skips the initial-step selection");
  assertClose(r.dparams["a"]![0]!, 2 * T * z0 * z0 * Math.exp(2 * a * T), 1e-8, "dL/da");
  const bad: [object, RegExp][] = [
    [{ solver: "toString" }, /options\.solver: unknown solver "toString"/],
    [{ dt: -1 }, /options\.dt must be a positive finite number, got -1/],
    [{ solver: "rk4" }, /options\.dt: fixed-step solver rk4 needs a positive step size/],
    [{ backward: { solver: "nope" } }, /options\.backward\.solver: unknown solver "nope"/],
  ];
  for (const [settings, pattern] of bad) {
    await assertRejects(() => odeGradient(problem, { method: gq(), runtime, ...settings }), RangeError, pattern);
  }
  await assertRejects(
    () => odeGradient({ ...problem, params: { a: tensor(Int32Array.of(1), [1]) } }, { method: gq(), runtime }),
    TypeError,
    /parameter "a" to be float32 or float64, got int32/,
  );
});

Deno.test("odeGradient() gives exact zeros for a parameter the dynamics do not use", async () => {
  const b = new GraphBuilder("unused");
  b.input("t", "float64", []);
  const z = b.input("z", "float64", ["batch", 2]);
  const w = b.input("w", "float64", [2, 2]);
  b.input("frozen", "float64", [3]);
  b.output(b.op1("Tanh", [b.op1("MatMul", [z, w])]), "dz");
  const dynamics = asDynamics(b.build());
  for (const [name, method] of Object.entries(METHODS)) {
    const r = await odeGradient({
      dynamics,
      params: { w: f64([0.1, -0.4, 0.3, 0.2], [2, 2]), frozen: f64([1, 2, 3], [3]) },
      z0: f64([0.5, -1, 0.3, 0.2], [2, 2]),
      times: [0, 0.5, 1],
      loss: (zs) => ({ cotangents: zs.map((zk, k) => (k === 0 ? null : zk.map((v) => 2 * v))) }),
    }, { method, rtol: 1e-8, atol: 1e-8, runtime });
    assertEquals([...r.dparams["frozen"]!], [0, 0, 0], `${name}: unused parameter`);
    assert(r.dparams["w"]!.some((v) => v !== 0), `${name}: used parameter has a gradient`);
  }
});

Deno.test("odeGradient() is right with fixed-step solvers when quadrature nodes fall inside steps", async () => {
  const dynamics = exponentialDynamics("float64");
  const a = 0.4, z0 = 1.5, T = 2;
  const exactA = 2 * T * z0 * z0 * Math.exp(2 * a * T);
  for (const solver of ["rk4", "euler", "midpoint"]) {
    // C = 5 asks for 64 nodes per interval: most fall strictly inside grid steps.
    for (const [name, method] of Object.entries(methods(5))) {
      const dt = solver === "rk4" ? 0.02 : solver === "midpoint" ? 0.01 : 2e-3;
      const r = await odeGradient({
        dynamics,
        params: { a: f64([a], [1]) },
        z0: f64([z0], [1, 1]),
        times: [0, T],
        loss: ([, z]) => ({ value: z![0]! ** 2, cotangents: [null, Float64Array.of(2 * z![0]!)] }),
      }, { method, solver, dt, runtime });
      const tol = solver === "rk4" ? 1e-6 : solver === "midpoint" ? 1e-3 : 1e-2;
      assertClose(r.dparams["a"]![0]!, exactA, tol, `${solver} ${name} dL/da`);
    }
  }
});

Deno.test("odeGradient() rejects invalid time grids with the offending index", async () => {
  const dynamics = exponentialDynamics("float64");
  const base = {
    dynamics,
    params: { a: f64([0.1], [1]) },
    z0: f64([1], [1, 1]),
    loss: () => ({ cotangents: [null, Float64Array.of(1)] }),
  };
  for (
    const [times, pattern] of [
      [[0, 1, 1], /times\[2\]/],
      [[0, 2, 1], /times\[2\]/],
      [[0, NaN], /times\[1\] must be finite/],
      [[0], /at least two/],
    ] as const
  ) {
    await assertRejects(
      () => odeGradient({ ...base, times: [...times] }, { method: gq(), runtime }),
      RangeError,
      pattern,
    );
  }
});

Deno.test("odeGradient() stops with t, step size and step count when the state blows up", async () => {
  // dz/dt = z² blows up at t = 1/z0 = 1.
  const b = new GraphBuilder("blowup");
  b.input("t", "float64", []);
  const z = b.input("z", "float64", ["batch", 1]);
  b.output(b.op1("Mul", [z, z]), "dz");
  const dynamics = asDynamics(b.build());
  const err = await assertRejects(() =>
    odeGradient({
      dynamics,
      params: {},
      z0: f64([1], [1, 1]),
      times: [0, 2],
      loss: () => ({ cotangents: [null, Float64Array.of(1)] }),
    }, { method: adjoint(), rtol: 1e-6, atol: 1e-6, runtime })
  );
  const msg = String(err);
  assert(/t\s*=?\s*[0-9.e-]+/.test(msg) && /step/.test(msg), `message should name t and the step: ${msg}`);
});

Deno.test("odeGradient() methods agree with each other and with finite differences on an MLP", async () => {
  const { dynamics, init } = mlpDynamics({
    stateDim: 3,
    hidden: [8, 8],
    activation: "tanh",
    time: "concat",
    dtype: "float64",
    seed: 3,
  });
  const z0 = [0.5, -0.3, 0.8, -1, 0.2, 0.4];
  const times = [0, 0.4, 1.1];
  // L = Σ_k Σ_i w_ki z_k,i² with fixed weights.
  const weights = times.map((_, k) => Float64Array.from({ length: 6 }, (_, i) => 0.5 + Math.cos(k + i)));
  const loss = (zs: readonly Float64Array[]) => ({
    value: zs.reduce((s, z, k) => s + z.reduce((t, v, i) => t + weights[k]![i]! * v * v, 0), 0),
    cotangents: zs.map((z, k) => z.map((v, i) => 2 * weights[k]![i]! * v)),
  });
  const lossAt = (params: typeof init, z: number[], ts: number[]) =>
    tightLoss(dynamics, params, f64(z, [2, 3]), ts, loss);
  const h = 1e-5;
  const probes: { what: string; fd: number; pick: (r: GradientResult) => number }[] = [];
  for (
    const [name, index] of [["l0.weight", 5], ["l0.bias", 2], ["l1.weight", 17], ["l2.weight", 4], [
      "l2.bias",
      1,
    ]] as const
  ) {
    const shift = async (delta: number) => {
      const data = Float64Array.from(init[name]!.data as Float64Array);
      data[index]! += delta;
      return await lossAt({ ...init, [name]: tensor(data, init[name]!.dims) }, z0, times);
    };
    probes.push({
      what: `${name}[${index}]`,
      fd: (await shift(h) - await shift(-h)) / (2 * h),
      pick: (r) => r.dparams[name]![index]!,
    });
  }
  for (const i of [1, 4]) {
    const shift = (delta: number) => lossAt(init, z0.map((v, j) => (j === i ? v + delta : v)), times);
    probes.push({ what: `z0[${i}]`, fd: (await shift(h) - await shift(-h)) / (2 * h), pick: (r) => r.dz0[i]! });
  }
  for (const k of [0, 1, 2]) {
    const shift = (delta: number) => lossAt(init, z0, times.map((t, j) => (j === k ? t + delta : t)));
    probes.push({ what: `t[${k}]`, fd: (await shift(h) - await shift(-h)) / (2 * h), pick: (r) => r.dtimes[k]! });
  }
  const all: Record<string, GradientResult> = {};
  // C = 1: enough interval nodes that quadrature error sits below the tolerance (C = 0.1 leaves ~4e-6 here).
  for (const [name, method] of Object.entries(methods(1))) {
    const r = await odeGradient({ dynamics, params: init, z0: f64(z0, [2, 3]), times, loss }, {
      method,
      rtol: 1e-10,
      atol: 1e-10,
      runtime,
    });
    all[name] = r;
    for (const p of probes) assertClose(p.pick(r), p.fd, 1e-6, `${name} ${p.what} vs finite differences`);
  }
  // Independent methods agree on every gradient entry.
  for (const [name, r] of Object.entries(all)) {
    assertClose(r.dz0, all.adjoint!.dz0, 1e-7, `${name} vs adjoint dL/dz0`);
    for (const p of dynamics.params) {
      assertClose(r.dparams[p.name]!, all.adjoint!.dparams[p.name]!, 1e-7, `${name} vs adjoint dL/d${p.name}`);
    }
  }
});

Deno.test("odeGradient() gq checkpoint holds one replayed segment, not the whole interval", async () => {
  const dynamics = exponentialDynamics("float64");
  const problem = {
    dynamics,
    params: { a: f64([0.2], [1]) },
    z0: f64([10], [1, 1]),
    times: [0, 25],
    loss: ([, z]: readonly Float64Array[]) => ({ cotangents: [null, Float64Array.of(2 * z![0]!)] }),
  };
  const options = { rtol: 1e-9, atol: 1e-9, runtime };
  const ck = await odeGradient(problem, { ...options, method: gq({ trajectory: "checkpoint" }) });
  const plain = await odeGradient(problem, { ...options, method: gq() });
  const steps = ck.stats.forward.accepted;
  assert(steps > 3 * SEGMENT_STEPS, `the test needs several segments, got ${steps} steps`);
  const stages = DOPRI5_TABLEAU.b.length;
  // One state per checkpoint (every SEGMENT_STEPS steps, plus both ends) and one segment's dense steps.
  const bound = (Math.ceil(steps / SEGMENT_STEPS) + 2 + (SEGMENT_STEPS + 1) * (stages + 2)) * 8;
  assert(ck.stats.heldBytes - 2 * 8 <= bound, `held ${ck.stats.heldBytes} bytes, bound ${bound}`);
  assert(ck.stats.heldBytes < steps * (stages + 2) * 8, "less than keeping every step of the interval");
  assertClose(ck.dparams["a"]!, plain.dparams["a"]!, 1e-7, "checkpoint vs backward trajectory dL/da");
  // a's own solve (about one forward solve) and the replay (about two more, with restarts); 6.5× when each step's
  // nodes were summed a step late, after the replay had moved on a segment, so that segment was replayed again.
  const ratio = ck.stats.backward.nfe / ck.stats.forward.nfe;
  assert(ratio < 5, `backward ${ck.stats.backward.nfe} evaluations, ${ratio.toFixed(2)}× the forward's`);
});

Deno.test("odeGradient() stepping a float32 model agrees with float64 to 1e-4 for every method, dL/dθ in the model dtype", async () => {
  const results: Record<string, GradientResult>[] = [];
  // Width 256 and batch 2: float32 runs the CPU's Softplus rewrite and its 2-row Gemms as one-row products.
  for (const dtype of ["float64", "float32"] as const) {
    const { dynamics, init } = mlpDynamics({
      stateDim: 3,
      hidden: [256, 256],
      activation: "softplus",
      time: "concat",
      dtype,
      seed: 3,
    });
    const z0 = [0.5, -0.3, 0.8, -1, 0.2, 0.4];
    const byMethod: Record<string, GradientResult> = {};
    for (const [name, method] of Object.entries(methods(1))) {
      byMethod[name] = await odeGradient({
        dynamics,
        params: init,
        z0: tensor(dtype === "float64" ? Float64Array.from(z0) : Float32Array.from(z0), [2, 3]),
        times: [0, 0.4, 1.1],
        loss: (zs) => ({ cotangents: zs.map((z) => z.map((v) => 2 * v)) }),
      }, { method, rtol: 1e-6, atol: 1e-6, runtime });
      const g = byMethod[name]!.dparams["l0.weight"]!;
      assert(g instanceof (dtype === "float64" ? Float64Array : Float32Array), `${name}: dL/dθ is ${dtype}`);
    }
    results.push(byMethod);
  }
  for (const name of Object.keys(results[0]!)) {
    const [r64, r32] = [results[0]![name]!, results[1]![name]!];
    assertClose(r32.dz0, r64.dz0, 1e-4, `${name} dL/dz0`);
    for (const p of Object.keys(r64.dparams)) {
      assertClose(Float64Array.from(r32.dparams[p]!), r64.dparams[p]!, 1e-4, `${name} dL/d${p}`);
    }
  }
});

Deno.test("odeGradient() runs every method on dynamics of opset 18 (ReduceMean with an axes input)", async () => {
  const b = new GraphBuilder("opset18", { opset: 18 });
  b.input("t", "float64", []);
  const z = b.input("z", "float64", ["batch", 2]);
  const w = b.input("w", "float64", [2, 2]);
  const mean = b.op1("ReduceMean", [z, b.constant(tensor(BigInt64Array.of(1n), [1]))], {
    keepdims: { type: "int", value: 1 },
  });
  b.output(b.op1("Sub", [b.op1("Tanh", [b.op1("MatMul", [z, w])]), mean]), "dz");
  const dynamics = asDynamics(b.build());
  const all: Record<string, GradientResult> = {};
  for (const [name, method] of Object.entries(methods(1))) {
    all[name] = await odeGradient({
      dynamics,
      params: { w: f64([0.3, -0.5, 0.8, 0.1], [2, 2]) },
      z0: f64([0.5, -1, 0.3, 0.2], [2, 2]),
      times: [0, 0.5, 1],
      loss: (zs) => ({ cotangents: zs.map((zk, k) => (k === 0 ? null : zk.map((v) => 2 * v))) }),
    }, { method, rtol: 1e-9, atol: 1e-9, runtime });
  }
  for (const [name, r] of Object.entries(all)) {
    assertClose(r.dparams["w"]!, all.adjoint!.dparams["w"]!, 1e-6, `${name} vs adjoint dL/dw`);
  }
});

Deno.test("odeGradient() direct keeping activations gives recomputation's gradients, holding the activations", async () => {
  const small = mlpDynamics({ stateDim: 3, hidden: [16, 16], activation: "softplus", dtype: "float64", seed: 5 });
  // Weights ×4: dynamics with curvature enough that solves take several steps and reject some.
  const mlp = {
    dynamics: small.dynamics,
    init: Object.fromEntries(
      Object.entries(small.init).map(([k, v]) => [k, tensor((v.data as Float64Array).map((x) => 4 * x), v.dims)]),
    ),
  };
  const conv = convDynamics({ channels: 2, hidden: 3, height: 4, width: 3, dtype: "float64", seed: 6 });
  const cases = [
    // dt on an adaptive solver is its first step: one far too long, so that steps are rejected.
    { name: "MLP, dopri5 with rejected steps", model: mlp, dims: [2, 3], solver: "dopri5" as const, dt: 2 },
    { name: "MLP, rk4 (no FSAL)", model: mlp, dims: [2, 3], solver: "rk4" as const, dt: 0.1 },
    { name: "conv, bosh3", model: conv, dims: [2, 2, 4, 3], solver: "bosh3" as const },
  ];
  for (const c of cases) {
    const n = c.dims.reduce((a, b) => a * b, 1);
    const z0 = f64(Array.from({ length: n }, (_, i) => Math.sin(1.3 * i)), c.dims);
    const loss = (zs: readonly Float64Array[]) => ({
      value: zs.reduce((s, z) => s + z.reduce((t, v) => t + v * v, 0), 0),
      cotangents: zs.map((z) => z.map((v) => 2 * v)),
    });
    const problem = { dynamics: c.model.dynamics, params: c.model.init, z0, times: [0, 0.7, 1.5], loss };
    const solve = { solver: c.solver, rtol: 1e-9, atol: 1e-9, ...(c.dt ? { dt: c.dt } : {}), runtime };
    const kept = await odeGradient(problem, { ...solve, method: direct() });
    const recomputed = await odeGradient(problem, { ...solve, method: direct({ activations: "recompute" }) });
    if (c.solver === "dopri5") assert(kept.stats.forward.rejected > 0, `${c.name}: the first step should be rejected`);
    assertClose(kept.dz0, recomputed.dz0, 1e-12, `${c.name}: dL/dz0`);
    assertClose(kept.dtimes, recomputed.dtimes, 1e-12, `${c.name}: dL/dt`);
    for (const p of c.model.dynamics.params) {
      assertClose(kept.dparams[p.name]!, recomputed.dparams[p.name]!, 1e-12, `${c.name}: dL/d${p.name}`);
    }
    assert(kept.stats.heldBytes > recomputed.stats.heldBytes, `${c.name}: kept activations are held`);
  }
  assertThrows(
    () => direct({ activations: "some" as "keep" }),
    RangeError,
    /activations must be one of keep, recompute/,
  );
});

Deno.test("odeGradient() direct keeps only state-dependent activations: a weight's transpose is computed again", async () => {
  // linearDynamics computes MatMul(z, Transpose(A)): Aᵀ [d, d] depends on θ alone, so it is not held per stage.
  const d = 24;
  const A = f64(Array.from({ length: d * d }, (_, i) => 0.05 * Math.sin(i)), [d, d]);
  const z0 = f64(Array.from({ length: 2 * d }, (_, i) => Math.cos(i)), [2, d]);
  const problem = {
    dynamics: linearDynamics(d),
    params: { A },
    z0,
    times: [0, 1],
    loss: (zs: readonly Float64Array[]) => ({ cotangents: [null, zs[1]!] }),
  };
  const solve = { solver: "rk4" as const, dt: 0.05, runtime };
  const kept = await odeGradient(problem, { ...solve, method: direct() });
  const recomputed = await odeGradient(problem, { ...solve, method: direct({ activations: "recompute" }) });
  assertClose(kept.dparams["A"]!, recomputed.dparams["A"]!, 1e-12, "dL/dA");
  assertClose(kept.dz0, recomputed.dz0, 1e-12, "dL/dz0");
  const steps = kept.stats.forward.accepted;
  const extra = kept.stats.heldBytes - recomputed.stats.heldBytes;
  // At most a few state-sized values per later stage (rk4: 3) and step; one Aᵀ per stage would be 24× a state.
  assert(extra > 0 && extra <= steps * 3 * 2 * z0.data.byteLength, `${extra} bytes held over ${steps} steps`);
});

Deno.test("odeGradient() direct takes one graph as two Dynamics that split its inputs differently (a parameter, a constant)", async () => {
  // f = z·θ + c with a concrete batch, so that c can be a per-sample constant or a parameter.
  const b = new GraphBuilder("shared");
  b.input("t", "float64", []);
  const z = b.input("z", "float64", [2, 2]);
  const c = b.input("c", "float64", [2, 2]);
  b.output(b.op1("Add", [b.op1("MatMul", [z, b.input("theta", "float64", [2, 2])]), c]), "dz");
  const graph = b.build();
  const theta = f64([0.1, -0.2, 0.3, 0.05], [2, 2]), cValue = f64([0.5, 0, 0, 0.5], [2, 2]);
  const z0 = f64([1, 0.5, -0.5, 1], [2, 2]);
  const loss = (zs: readonly Float64Array[]) => ({ cotangents: zs.map((zk, k) => (k === 0 ? null : zk)) });
  const solve = { rtol: 1e-9, atol: 1e-9, runtime, method: direct() };
  const asConstant = asDynamics(graph, { constants: ["c"] });
  const withConstant = await odeGradient(
    { dynamics: asConstant, params: { theta }, constants: { c: cValue }, z0, times: [0, 1], loss },
    solve,
  );
  const asParam = await odeGradient(
    { dynamics: asDynamics(graph), params: { theta, c: cValue }, z0, times: [0, 1], loss },
    solve,
  );
  assertClose(asParam.dparams["theta"]!, withConstant.dparams["theta"]!, 1e-12, "dL/dθ either way");
  assert(
    asParam.dparams["c"] !== undefined && withConstant.dparams["c"] === undefined,
    "c has a gradient as a parameter",
  );
});
