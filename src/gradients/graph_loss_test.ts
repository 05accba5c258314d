import { assert, assertClose, assertEquals, assertRejects, assertThrows } from "../util/testing.ts";
import { GraphBuilder, type Value } from "../onnx/builder.ts";
import { GraphError } from "../onnx/errors.ts";
import { attr, type Graph } from "../onnx/graph.ts";
import { int64, type Tensor, tensor } from "../onnx/tensor.ts";
import { writeModel } from "../onnx/proto.ts";
import { Runtime } from "../runtime/session.ts";
import { exponentialDynamics, linearDynamics } from "../models/linear.ts";
import type { Dynamics } from "../models/dynamics.ts";
import { adjoint, direct, gq, type GradientMethod, seminorm } from "./method.ts";
import { odeGradient } from "./ode_gradient.ts";
import { crossEntropyLoss, gaussianKlLoss, graphLoss, type LossHead, mseLoss } from "./graph_loss.ts";
import type { DerivedLoss, LossFunction, LossValue } from "./problem.ts";
import { f64 } from "./_test_problems.ts";

const runtime = new Runtime({ threads: 1 });
const TWO: Record<string, GradientMethod> = { direct: direct(), gq: gq() };
const ALL: Record<string, GradientMethod> = { ...TWO, adjoint: adjoint(), seminorm: seminorm() };

/** Deterministic pseudo-random values in (−1, 1). */
function wave(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(1.7 * i + 0.9 * seed + 0.3));
}

/** A linear problem dz/dt = A z with batch 3 and state dim d, at four measurement times. */
function problem(d: number, batch = 3) {
  const A = wave(d * d, 1).map((v, i) => 0.6 * v - (i % (d + 1) === 0 ? 0.3 : 0));
  return {
    dynamics: linearDynamics(d),
    params: { A: f64(A, [d, d]) },
    z0: f64(wave(batch * d, 2), [batch, d]),
    times: [0, 0.4, 0.9, 1.5],
  };
}

/** The chosen states as [K][batch·m] blocks. */
function chosen(states: readonly Float64Array[], at: readonly number[]): Float64Array[] {
  return at.map((k) => states[k]!);
}

/** Cotangents for all times from those at the chosen ones. */
function spread(n: number, at: readonly number[], parts: Float64Array[]): (Float64Array | null)[] {
  const out: (Float64Array | null)[] = Array.from({ length: n }, () => null);
  at.forEach((k, i) => (out[k] = parts[i]!));
  return out;
}

/** Runs odeGradient with the derived loss and with the hand-written one, and checks they agree to round-off. */
async function agree(
  what: string,
  p: ReturnType<typeof problem> | { dynamics: Dynamics; params: Record<string, Tensor>; z0: Tensor; times: number[] },
  derived: DerivedLoss,
  handWritten: LossFunction,
  methods: Record<string, GradientMethod> = TWO,
  tol = 1e-12,
): Promise<void> {
  for (const [name, method] of Object.entries(methods)) {
    const options = { method, rtol: 1e-7, atol: 1e-7, runtime };
    const a = await odeGradient({ ...p, loss: derived }, options);
    const b = await odeGradient({ ...p, loss: handWritten }, options);
    assertClose(a.loss!, b.loss!, tol, `${what} ${name}: loss`);
    assertClose(a.dz0, b.dz0, tol, `${what} ${name}: dL/dz0`);
    for (const k of Object.keys(b.dparams)) assertClose(a.dparams[k]!, b.dparams[k]!, tol, `${what} ${name}: dL/d${k}`);
    assertClose(a.dtimes, b.dtimes, tol, `${what} ${name}: dL/dt`);
    for (const k of Object.keys(b.dlossParams ?? {})) {
      assertClose(a.dlossParams![k]!, b.dlossParams![k]!, tol, `${what} ${name}: dL/d${k}`);
    }
    assertEquals(Object.keys(a.dlossParams ?? {}), Object.keys(b.dlossParams ?? {}), `${what} ${name}: loss params`);
  }
}

/**
 * Central differences of the bound loss in every state entry (and every loss
 * parameter, through `rebind`), against its cotangents.
 */
async function finiteDifferences(
  what: string,
  fn: LossFunction,
  states: Float64Array[],
  tol = 1e-7,
): Promise<LossValue> {
  const base = await fn(states);
  const h = 1e-6;
  for (let k = 0; k < states.length; k++) {
    const fd = new Float64Array(states[k]!.length);
    for (let i = 0; i < fd.length; i++) {
      const at = (delta: number) => states.map((s, j) => (j === k ? s.map((v, l) => (l === i ? v + delta : v)) : s));
      fd[i] = ((await fn(at(h))).value! - (await fn(at(-h))).value!) / (2 * h);
    }
    const c = base.cotangents[k];
    if (c === null) {
      assert(fd.every((v) => Math.abs(v) < 1e-9), `${what}: L depends on z_${k}, whose cotangent is null`);
    } else {
      assertClose(c!, fd, tol, `${what}: ∂L/∂z_${k} against central differences`);
    }
  }
  return base;
}

function randomStates(times: number, n: number, seed: number): Float64Array[] {
  return Array.from({ length: times }, (_, k) => Float64Array.from(wave(n, seed + 7 * k)));
}

// ---- MSE -------------------------------------------------------------------------------------------------------

/** Reference MSE over the chosen times with a [K, batch] mask; states [batch, m] per time. */
function mseReference(y: number[], mask: number[] | undefined, at: number[], batch: number, m: number): LossFunction {
  return (states) => {
    const zs = chosen(states, at);
    const w = (k: number, b: number) => (mask ? mask[k * batch + b]! : 1);
    let total = 0, count = 0;
    for (let k = 0; k < at.length; k++) {
      for (let b = 0; b < batch; b++) {
        count += w(k, b) * m;
        for (let c = 0; c < m; c++) total += w(k, b) * (zs[k]![b * m + c]! - y[(k * batch + b) * m + c]!) ** 2;
      }
    }
    const parts = zs.map((z, k) => z.map((v, i) => (2 * w(k, Math.floor(i / m)) * (v - y[k * z.length + i]!)) / count));
    return { value: total / count, cotangents: spread(states.length, at, parts) };
  };
}

Deno.test("mseLoss() gives odeGradient the hand-written MSE's loss and gradients, with a mask and chosen times", async () => {
  const p = problem(2);
  const at = [1, 3];
  const y = wave(2 * 3 * 2, 5), mask = [1, 0, 1, 1, 1, 0];
  await agree(
    "masked mse",
    p,
    mseLoss({ targets: f64(y, [2, 3, 2]), mask: f64(mask, [2, 3]), at }),
    mseReference(y, mask, at, 3, 2),
  );
  // Every time by default, t₀ included: its cotangent goes straight into dL/dz0.
  const yAll = wave(4 * 3 * 2, 6);
  await agree(
    "mse at every time",
    p,
    mseLoss({ targets: f64(yAll, [4, 3, 2]) }),
    mseReference(yAll, undefined, [0, 1, 2, 3], 3, 2),
  );
});

Deno.test("mseLoss() cotangents match central differences, for a [batch, 2, 2] state and negative times", async () => {
  const y = wave(2 * 2 * 4, 3), mask = [1, 1, 0, 1];
  const fn = await mseLoss({ targets: f64(y, [2, 2, 2, 2]), mask: f64(mask, [2, 2]), at: [-1, 1] })
    .bind({ runtime, dtype: "float64", zDims: [2, 2, 2], times: 3 });
  const states = randomStates(3, 8, 1);
  const r = await finiteDifferences("mse [2, 2] state", fn, states);
  assertClose(r.value!, (await mseReference(y, mask, [2, 1], 2, 4)(states)).value!, 1e-14, "mse value");
  assertEquals(r.cotangents[0], null);
});

Deno.test("mseLoss() runs in float32 for float32 dynamics", async () => {
  const p = {
    dynamics: exponentialDynamics("float32"),
    params: { a: tensor(Float32Array.of(0.3), [1]) },
    z0: tensor(Float32Array.of(1, 2), [2, 1]),
    times: [0, 1],
  };
  const y = [0.5, 1];
  await agree(
    "float32 mse",
    p,
    mseLoss({ targets: f64(y, [1, 2, 1]), at: [-1] }),
    mseReference(y, undefined, [1], 2, 1),
    TWO,
    1e-6,
  );
});

// ---- heads -----------------------------------------------------------------------------------------------------

/** A linear head y = z Wᵀ + c: input z [rows, d], parameters W [F, d] and c [F]. */
function linearHead(d: number, F: number, seed: number): LossHead {
  const h = new GraphBuilder(`linear_head_${d}_${F}`);
  const z = h.input("z", "float64", ["rows", d]);
  const W = h.input("W", "float64", [F, d]);
  const c = h.input("c", "float64", [F]);
  h.output(h.op1("Add", [h.op1("MatMul", [z, h.op1("Transpose", [W])]), c]), "y");
  return { graph: h.build(), params: { W: f64(wave(F * d, seed), [F, d]), c: f64(wave(F, seed + 1), [F]) } };
}

/** Applies the linear head to rows of z. */
function applyHead(head: LossHead, z: Float64Array, d: number, F: number): Float64Array {
  const W = head.params!.W!.data as Float64Array, c = head.params!.c!.data as Float64Array;
  const rows = z.length / d;
  const out = new Float64Array(rows * F);
  for (let r = 0; r < rows; r++) {
    for (let f = 0; f < F; f++) {
      let s = c[f]!;
      for (let i = 0; i < d; i++) s += W[f * d + i]! * z[r * d + i]!;
      out[r * F + f] = s;
    }
  }
  return out;
}

/** Back through the head: ∂L/∂z, ∂L/∂W, ∂L/∂c from ∂L/∂y per row. */
function headBackward(head: LossHead, z: Float64Array, gy: Float64Array, d: number, F: number) {
  const W = head.params!.W!.data as Float64Array;
  const rows = z.length / d;
  const gz = new Float64Array(z.length), gW = new Float64Array(F * d), gc = new Float64Array(F);
  for (let r = 0; r < rows; r++) {
    for (let f = 0; f < F; f++) {
      const g = gy[r * F + f]!;
      gc[f]! += g;
      for (let i = 0; i < d; i++) {
        gz[r * d + i]! += g * W[f * d + i]!;
        gW[f * d + i]! += g * z[r * d + i]!;
      }
    }
  }
  return { gz, gW, gc };
}

/** A hand-written loss through the linear head: `inner` gives L and ∂L/∂y for the stacked predictions. */
function throughHead(
  head: LossHead,
  at: number[],
  d: number,
  F: number,
  inner: (y: Float64Array) => { value: number; gy: Float64Array },
): LossFunction {
  return (states) => {
    const zs = chosen(states, at);
    const stacked = new Float64Array(zs.length * zs[0]!.length);
    zs.forEach((z, k) => stacked.set(z, k * z.length));
    const { value, gy } = inner(applyHead(head, stacked, d, F));
    const { gz, gW, gc } = headBackward(head, stacked, gy, d, F);
    const n = zs[0]!.length;
    const parts = zs.map((_, k) => gz.slice(k * n, (k + 1) * n));
    return { value, cotangents: spread(states.length, at, parts), dlossParams: { W: gW, c: gc } };
  };
}

Deno.test("mseLoss() with a head differentiates the head's parameters too, as the hand-written loss does", async () => {
  const p = problem(2);
  const head = linearHead(2, 3, 4);
  const at = [2, 3];
  const y = wave(2 * 3 * 3, 8);
  const ref = throughHead(head, at, 2, 3, (pred) => {
    const N = pred.length;
    return {
      value: pred.reduce((s, v, i) => s + (v - y[i]!) ** 2, 0) / N,
      gy: pred.map((v, i) => (2 * (v - y[i]!)) / N),
    };
  });
  await agree("mse head", p, mseLoss({ targets: f64(y, [2, 3, 3]), head, at }), ref);
  const r = await odeGradient({ ...p, loss: mseLoss({ targets: f64(y, [2, 3, 3]), head, at }) }, {
    method: gq(),
    runtime,
  });
  assertEquals(Object.keys(r.dlossParams!).sort(), ["W", "c"]);
});

// ---- cross-entropy ---------------------------------------------------------------------------------------------

/** −mean over observed rows of Σ_c p_c·logsoftmax(logits)_c, and its gradient (softmax − p)·w / Σw. */
function crossEntropy(logits: Float64Array, probs: Float64Array, C: number, w?: number[]) {
  const rows = logits.length / C;
  const weight = (r: number) => (w ? w[r]! : 1);
  const total = Array.from({ length: rows }, (_, r) => weight(r)).reduce((a, b) => a + b, 0);
  let value = 0;
  const g = new Float64Array(logits.length);
  for (let r = 0; r < rows; r++) {
    const row = logits.slice(r * C, (r + 1) * C);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    for (let c = 0; c < C; c++) {
      const pc = probs[r * C + c]!;
      value -= (weight(r) * pc * (row[c]! - lse)) / total;
      g[r * C + c] = (weight(r) * (Math.exp(row[c]! - lse) * probs.slice(r * C, (r + 1) * C).reduce((a, b) =>
            a + b, 0) - pc)) /
        total;
    }
  }
  return { value, gy: g };
}

function oneHot(labels: number[], C: number): Float64Array {
  const out = new Float64Array(labels.length * C);
  labels.forEach((l, r) => (out[r * C + l] = 1));
  return out;
}

Deno.test("crossEntropyLoss() with index labels matches the hand-written cross-entropy through odeGradient", async () => {
  const p = problem(3);
  const labels = [0, 2, 1, 1, 0, 2];
  const at = [1, 3];
  const ref: LossFunction = (states) => {
    const zs = chosen(states, at);
    const logits = new Float64Array(6 * 3);
    zs.forEach((z, k) => logits.set(z, k * z.length));
    const { value, gy } = crossEntropy(logits, oneHot(labels, 3), 3);
    return { value, cotangents: spread(states.length, at, zs.map((_, k) => gy.slice(k * 9, (k + 1) * 9))) };
  };
  await agree("cross-entropy", p, crossEntropyLoss({ labels: int64(labels, [2, 3]), at }), ref);
});

Deno.test("crossEntropyLoss() with probabilities, a head and a mask matches the hand-written loss", async () => {
  const p = problem(2);
  const head = linearHead(2, 4, 9);
  const at = [0, 2, 3];
  const raw = wave(3 * 3 * 4, 11).map((v) => v + 1.2);
  const probs = raw.map((v, i) => v / raw.slice(i - (i % 4), i - (i % 4) + 4).reduce((a, b) => a + b, 0));
  const mask = [1, 1, 0, 1, 0, 1, 1, 1, 1];
  const ref = throughHead(head, at, 2, 4, (y) => crossEntropy(y, Float64Array.from(probs), 4, mask));
  await agree(
    "cross-entropy head",
    p,
    crossEntropyLoss({ labels: f64(probs, [3, 3, 4]), head, mask: f64(mask, [3, 3]), at }),
    ref,
  );
});

Deno.test("crossEntropyLoss() cotangents and head gradients match central differences", async () => {
  const head = linearHead(2, 3, 2);
  const labels = int64([2, 0, 1, 1], [2, 2]);
  const bind = (h: LossHead) =>
    crossEntropyLoss({ labels, head: h, at: [1, 2] }).bind({ runtime, dtype: "float64", zDims: [2, 2], times: 3 });
  const states = randomStates(3, 4, 4);
  const base = await finiteDifferences("cross-entropy head", await bind(head), states);
  for (const name of ["W", "c"]) {
    const p = head.params![name]!;
    const fd = new Float64Array(p.data.length);
    for (let i = 0; i < fd.length; i++) {
      const shifted = async (delta: number) => {
        const data = Float64Array.from(p.data as Float64Array);
        data[i]! += delta;
        const h = { ...head, params: { ...head.params, [name]: tensor(data, p.dims) } };
        return (await (await bind(h))(states)).value!;
      };
      fd[i] = ((await shifted(1e-6)) - (await shifted(-1e-6))) / 2e-6;
    }
    assertClose(base.dlossParams![name]!, fd, 1e-7, `dL/d${name} against central differences`);
  }
  // Without a head: the state is the logits.
  const plain = await crossEntropyLoss({ labels: int64([0, 2, 1], [1, 3]), at: [-1] })
    .bind({ runtime, dtype: "float64", zDims: [3, 3], times: 2 });
  await finiteDifferences("cross-entropy", plain, randomStates(2, 9, 5));
});

// ---- Gaussian KL -----------------------------------------------------------------------------------------------

/** Reference KL of the batch's Gaussian per time and component against target moments. */
function klReference(mean: number[], variance: number[], at: number[], batch: number, m: number): LossFunction {
  return (states) => {
    const zs = chosen(states, at);
    const K = at.length;
    let value = 0;
    const parts = zs.map((z, k) => {
      const g = new Float64Array(z.length);
      for (let c = 0; c < m; c++) {
        let mu = 0;
        for (let b = 0; b < batch; b++) mu += z[b * m + c]! / batch;
        let v = 0;
        for (let b = 0; b < batch; b++) v += (z[b * m + c]! - mu) ** 2 / batch;
        const tm = mean[k * m + c]!, tv = variance[k * m + c]!;
        value += 0.5 * (Math.log(v / tv) + (tv + (tm - mu) ** 2) / v - 1) / K;
        const dmu = -(tm - mu) / v / K;
        const dv = 0.5 * (1 / v - (tv + (tm - mu) ** 2) / v ** 2) / K;
        for (let b = 0; b < batch; b++) g[b * m + c] = dmu / batch + (dv * 2 * (z[b * m + c]! - mu)) / batch;
      }
      return g;
    });
    return { value, cotangents: spread(states.length, at, parts) };
  };
}

Deno.test("gaussianKlLoss() matches the hand-written KL through odeGradient and central differences", async () => {
  const p = problem(2, 4);
  const at = [1, 2, 3];
  const mean = wave(6, 3), variance = wave(6, 4).map((v) => 0.5 + v * v);
  const loss = gaussianKlLoss({ mean: f64(mean, [3, 2]), variance: f64(variance, [3, 2]), at });
  await agree("gaussian kl", p, loss, klReference(mean, variance, at, 4, 2));
  const fn = await loss.bind({ runtime, dtype: "float64", zDims: [4, 2], times: 4 });
  await finiteDifferences("gaussian kl", fn, randomStates(4, 8, 2), 1e-6);
});

// ---- a user's loss graph ---------------------------------------------------------------------------------------

/** L = Σ (z_T − y)² + 0.1·Σ_k z_k², with z [times, batch, d] stacked and y [batch, d]. */
function userLossGraph(d: number, dtype: "float32" | "float64" = "float64"): Graph {
  const g = new GraphBuilder("user_loss");
  const zs = g.input("z", dtype, ["times", "batch", d]);
  const y = g.input("y", dtype, ["batch", d]);
  const zT = g.op1("Gather", [zs, g.constant(int64([-1], []))], { axis: attr.int(0) });
  const diff = g.op1("Sub", [zT, y]);
  const sum = (x: Value) => g.op1("ReduceSum", [x], { keepdims: attr.int(0) });
  const tenth = g.constant(tensor(dtype === "float64" ? Float64Array.of(0.1) : Float32Array.of(0.1), []));
  g.output(g.op1("Add", [sum(g.op1("Mul", [diff, diff])), g.op1("Mul", [tenth, sum(g.op1("Mul", [zs, zs]))])]), "loss");
  return g.build();
}

function userReference(y: number[], at: number[]): LossFunction {
  return (states) => {
    const zs = chosen(states, at);
    const T = zs.length - 1;
    let value = 0;
    const parts = zs.map((z, k) =>
      z.map((v, i) => {
        value += 0.1 * v * v + (k === T ? (v - y[i]!) ** 2 : 0);
        return 0.2 * v + (k === T ? 2 * (v - y[i]!) : 0);
      })
    );
    return { value, cotangents: spread(states.length, at, parts) };
  };
}

Deno.test("graphLoss() of a user's graph gives every gradient method the hand-written loss's gradients", async () => {
  const p = problem(2);
  const y = wave(6, 12);
  const loss = graphLoss(userLossGraph(2), { inputs: { y: f64(y, [3, 2]) } });
  await agree("user graph", p, loss, userReference(y, [0, 1, 2, 3]), ALL);
  await agree(
    "user graph, chosen times",
    p,
    graphLoss(userLossGraph(2), { inputs: { y: f64(y, [3, 2]) }, at: [0, 2] }),
    userReference(y, [0, 2]),
  );
});

Deno.test("graphLoss() cotangents and parameter gradients match central differences in float64", async () => {
  // L = Σ (s·z − y)², s a parameter [1], so dL/ds comes back in dlossParams.
  const g = new GraphBuilder("scaled_sse");
  const zs = g.input("z", "float64", ["times", "batch", 2]);
  const s = g.input("s", "float64", [1]);
  const y = g.input("y", "float64", ["times", "batch", 2]);
  const d = g.op1("Sub", [g.op1("Mul", [zs, s]), y]);
  g.output(g.op1("ReduceSum", [g.op1("Mul", [d, d])], { keepdims: attr.int(0) }), "loss");
  const graph = g.build();
  const yT = f64(wave(2 * 3 * 2, 1), [2, 3, 2]);
  const bind = (sv: number) =>
    graphLoss(graph, { inputs: { y: yT }, params: { s: f64([sv], [1]) }, at: [3, 1] })
      .bind({ runtime, dtype: "float64", zDims: [3, 2], times: 4 });
  const states = randomStates(4, 6, 3);
  const base = await finiteDifferences("user graph", await bind(0.7), states);
  const fd = ((await (await bind(0.7 + 1e-6))(states)).value! - (await (await bind(0.7 - 1e-6))(states)).value!) / 2e-6;
  assertClose(base.dlossParams!.s!, [fd], 1e-7, "dL/ds against central differences");
  await finiteDifferences(
    "user graph at every time",
    await graphLoss(userLossGraph(2), {
      inputs: { y: f64(wave(6, 2), [3, 2]) },
    }).bind({ runtime, dtype: "float64", zDims: [3, 2], times: 4 }),
    states,
  );
});

Deno.test("graphLoss() reads an .onnx file, once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/loss.onnx`;
    await writeModel(file, userLossGraph(2));
    const p = problem(2);
    const y = wave(6, 12);
    const loss = graphLoss(file, { inputs: { y: f64(y, [3, 2]) } });
    assert(loss.name.includes(file), loss.name);
    await agree("user graph file", p, loss, userReference(y, [0, 1, 2, 3]), { direct: direct() });
    await Deno.remove(file);
    // The graph read at the first bind serves later ones.
    await odeGradient({ ...p, loss }, { method: gq(), runtime });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a derived loss compiles its graph once: later calls and fresh losses of the same kind reuse the session", async () => {
  const rt = new Runtime({ threads: 1 });
  const p = problem(2);
  const run = (y: number[]) =>
    odeGradient({ ...p, loss: mseLoss({ targets: f64(y, [1, 3, 2]), at: [-1] }) }, { method: gq(), runtime: rt });
  await run(wave(6, 1));
  const sessions = rt.cachedSessions;
  await run(wave(6, 2));
  assertEquals(rt.cachedSessions, sessions, "no new session for a fresh mseLoss with new targets");
  const graph = userLossGraph(2);
  const user = (seed: number) => graphLoss(graph, { inputs: { y: f64(wave(6, seed), [3, 2]) } });
  await odeGradient({ ...p, loss: user(3) }, { method: gq(), runtime: rt });
  assertEquals(rt.cachedSessions, sessions + 1, "the user graph adds one session");
  await odeGradient({ ...p, loss: user(4) }, { method: gq(), runtime: rt });
  assertEquals(rt.cachedSessions, sessions + 1, "no new session for a fresh graphLoss of the same graph");
  await rt.dispose();
});

// ---- errors ----------------------------------------------------------------------------------------------------

const bindTo = (loss: DerivedLoss, zDims = [3, 2], times = 4, dtype: "float32" | "float64" = "float64") =>
  loss.bind({ runtime, dtype, zDims, times });

function lossGraph(build: (g: GraphBuilder, z: Value) => void, zShape: (string | number)[] = ["times", "batch", 2]) {
  const g = new GraphBuilder("bad_loss");
  build(g, g.input("z", "float64", zShape));
  return g.build();
}
const total = (g: GraphBuilder, x: Value) => g.op1("ReduceSum", [x], { keepdims: attr.int(0) });

Deno.test("odeGradient() refuses a loss graph that does not fit the states before solving", async () => {
  // A forward solve of one step would fail with maxSteps; the loss error must come first.
  const p = problem(2);
  const wrong = lossGraph((g, z) => g.output(total(g, z), "loss"), ["times", "batch", 3]);
  await assertRejects(
    () => odeGradient({ ...p, loss: graphLoss(wrong) }, { method: direct(), maxSteps: 1, runtime }),
    GraphError,
    'graph bad_loss, value z: Input "z" is declared float64[times, batch, 3], but it is fed the states at 4 times of batch 3, state [2]: float64[4, 3, 2]',
  );
  await assertRejects(
    () =>
      odeGradient({ ...p, loss: mseLoss({ targets: f64(wave(6, 1), [3, 2]) }) }, {
        method: direct(),
        maxSteps: 1,
        runtime,
      }),
    TypeError,
    "mseLoss: targets must have shape [4, 3, 2] for the states at 4 times of batch 3, state [2]: float64[4, 3, 2], got [3, 2]",
  );
});

Deno.test("graphLoss() names the graph and value for a missing or non-scalar loss, a missing z and a dtype mismatch", async () => {
  await assertRejects(
    () => bindTo(graphLoss(lossGraph((g, z) => g.output(total(g, z), "total")))),
    GraphError,
    'graph bad_loss, value loss: A loss graph needs an output "loss" (the scalar loss); its outputs are total',
  );
  await assertRejects(
    () =>
      bindTo(
        graphLoss(lossGraph((g, z) =>
          g.output(g.op1("ReduceSum", [z], { axes: attr.ints([0, 2]), keepdims: attr.int(0) }), "loss")
        )),
      ),
    GraphError,
    'value loss: Output "loss" must be a scalar (shape [] or [1]), got float64[batch]',
  );
  const noZ = new GraphBuilder("no_z");
  noZ.output(total(noZ, noZ.input("states", "float64", [4, 3, 2])), "loss");
  await assertRejects(
    () => bindTo(graphLoss(noZ.build())),
    GraphError,
    'graph no_z, value z: A loss graph needs an input "z" (the states, the states at 4 times of batch 3, state [2]: float64[4, 3, 2]); its inputs are states',
  );
  await assertRejects(
    () => bindTo(graphLoss(userLossGraph(2, "float32")), [3, 2], 4, "float64"),
    GraphError,
    'Output "loss" is float32, the states are float64',
  );
});

Deno.test("graphLoss() names inputs nobody feeds, feeds that do not fit and inputs it does not have", async () => {
  await assertRejects(
    () => bindTo(graphLoss(userLossGraph(2))),
    GraphError,
    'value y: Nothing feeds input "y" float64[batch, 2]: give it in inputs (fed) or params (differentiated)',
  );
  await assertRejects(
    () => bindTo(graphLoss(userLossGraph(2), { inputs: { y: f64(wave(4, 1), [2, 2]) } })),
    GraphError,
    'value y: Input "y" is declared float64[batch, 2], but it is fed inputs.y: float64[2, 2] (batch = 3 from "z")',
  );
  await assertRejects(
    () => bindTo(graphLoss(userLossGraph(2), { inputs: { y: f64(wave(6, 1), [3, 2]), w: f64([1], [1]) } })),
    GraphError,
    "inputs.w is not an input of the loss graph besides",
  );
  assertThrows(
    () => graphLoss(userLossGraph(2), { inputs: { y: f64([1], [1]) }, params: { y: f64([1], [1]) } }),
    TypeError,
    '"y" is given in both inputs and params',
  );
});

Deno.test("the built-in losses refuse bad options, times, labels and heads with the remedy", async () => {
  assertThrows(
    () => mseLoss({ targets: f64([1], [1]), times: [1] } as never),
    TypeError,
    'Unknown option "times" for mseLoss',
  );
  assertThrows(() => mseLoss({ targets: f64([1], [1]), at: [0.5] }), TypeError, "at[0] must be an integer");
  await assertRejects(
    () => bindTo(mseLoss({ targets: f64(wave(6, 1), [1, 3, 2]), at: [4] })),
    RangeError,
    "mseLoss: at[0] = 4 is not an index into 4 measurement times",
  );
  await assertRejects(
    () => bindTo(mseLoss({ targets: f64(wave(12, 1), [2, 3, 2]), at: [3, -1] })),
    RangeError,
    "at names measurement time 3 twice",
  );
  await assertRejects(
    () => bindTo(mseLoss({ targets: f64(wave(6, 1), [1, 3, 2]), mask: f64([1, 1], [1, 2]), at: [-1] })),
    TypeError,
    "mseLoss: mask must have shape [1, 3]",
  );
  await assertRejects(
    () => bindTo(crossEntropyLoss({ labels: int64([0, 1, 2], [1, 3]), at: [-1] })),
    RangeError,
    "labels[2] = 2 is not a class index 0 … 1",
  );
  await assertRejects(
    () => bindTo(crossEntropyLoss({ labels: int64([0, 0], [1, 2]), at: [-1] }), [2, 2, 2]),
    TypeError,
    "without a head the state is the logits and must have shape [C], got [2, 2]",
  );
  const head = linearHead(2, 3, 1);
  await assertRejects(
    () => bindTo(mseLoss({ targets: f64(wave(9, 1), [1, 3, 3]), head: { graph: head.graph }, at: [-1] })),
    GraphError,
    'nothing feeds head inputs "W", "c": give their values in head.params',
  );
  await assertRejects(
    () => bindTo(mseLoss({ targets: f64(wave(9, 1), [1, 3, 3]), head: linearHead(3, 3, 1), at: [-1] })),
    GraphError,
    'Input "z" is declared float64[rows, 3], but it is fed the states as rows (1 time × batch 3, state [2]): float64[3, 2]',
  );
  await assertRejects(
    () => bindTo(gaussianKlLoss({ mean: f64([0, 0], [1, 2]), variance: f64([1, 0], [1, 2]), at: [-1] })),
    RangeError,
    "variance[1] must be positive, got 0",
  );
  await assertRejects(
    () => bindTo(gaussianKlLoss({ mean: f64([0, 0], [1, 2]), variance: f64([1, 1], [1, 2]), at: [-1] }), [1, 2]),
    RangeError,
    "needs at least 2 states, got 1",
  );
});
