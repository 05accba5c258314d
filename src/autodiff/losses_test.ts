/**
 * Loss graphs: values against TypeScript references, gradients against
 * float64 central differences of the loss output.
 */
import { GraphBuilder } from "../onnx/builder.ts";
import { attr } from "../onnx/graph.ts";
import { augmentGraph } from "../models/mlp.ts";
import { int64, type Tensor, tensor, toNumbers } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { GraphError } from "../onnx/errors.ts";
import { checkLossGradients } from "./gradcheck.ts";
import { crossEntropyLossGraph, gaussianKlLossGraph, type LossGraph, mseLossGraph, vjpOfModel } from "./losses.ts";

const rt = new Runtime({ threads: 1 });

function rand(dims: number[], rng: Random, lo?: number): Tensor {
  const n = dims.reduce((a, d) => a * d, 1);
  return tensor(Float64Array.from({ length: n }, () => (lo === undefined ? rng.normal() : rng.uniformIn(lo, 2))), dims);
}

/** Checks every gradient output against central differences of `loss`; returns the loss. */
async function checkLoss(l: LossGraph, feeds: Record<string, Tensor>): Promise<number> {
  const out = await checkLossGradients(rt, l, feeds);
  return toNumbers(out[l.outputs.loss]!)[0]!;
}

Deno.test("mseLossGraph() gives mean squared error and its gradient", async () => {
  const rng = new Random(1);
  const pred = rand([3, 2], rng), target = rand([3, 2], rng);
  const loss = await checkLoss(mseLossGraph({ shape: ["batch", 2], dtype: "float64" }), { pred, target });
  const p = toNumbers(pred), t = toNumbers(target);
  assertClose(loss, p.reduce((s, v, i) => s + (v - t[i]!) ** 2, 0) / 6, 1e-14, "mse");
});

Deno.test("mseLossGraph() with a linear head differentiates the head's input and parameters", async () => {
  const hb = new GraphBuilder("head");
  const zs = hb.input("zs", "float64", ["batch", 3]);
  const w = hb.input("w", "float64", [2, 3]);
  const bias = hb.input("b", "float64", [2]);
  hb.output(hb.op1("Gemm", [zs, w, bias], { transB: attr.int(1) }), "y");
  const l = mseLossGraph({ shape: ["batch", 2], dtype: "float64", head: { graph: hb.build() } });
  assertEquals(Object.keys(l.outputs.grads), ["zs", "w", "b"]);
  const rng = new Random(2);
  await checkLoss(l, { zs: rand([4, 3], rng), w: rand([2, 3], rng), b: rand([2], rng), target: rand([4, 2], rng) });
});

Deno.test("crossEntropyLossGraph() with index targets matches −mean log softmax", async () => {
  const rng = new Random(3);
  const logits = rand([4, 3], rng);
  const labels = [0, 2, 1, 2];
  const loss = await checkLoss(crossEntropyLossGraph({ classes: 3, dtype: "float64" }), {
    pred: logits,
    target: int64(labels),
  });
  const x = toNumbers(logits);
  let ref = 0;
  labels.forEach((c, i) => {
    const row = x.slice(3 * i, 3 * i + 3);
    ref -= row[c]! - Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
  });
  assertClose(loss, ref / 4, 1e-14, "cross-entropy");
});

Deno.test("crossEntropyLossGraph() with one-hot targets equals the index form", async () => {
  const rng = new Random(4);
  const logits = rand([2, 3], rng);
  const onehot = tensor(Float64Array.of(0, 1, 0, 0, 0, 1), [2, 3]);
  const a = await checkLoss(crossEntropyLossGraph({ classes: 3, targets: "onehot", dtype: "float64" }), {
    pred: logits,
    target: onehot,
  });
  const out = await (await rt.compile(crossEntropyLossGraph({ classes: 3, dtype: "float64" }).graph)).run({
    pred: logits,
    target: int64([1, 2]),
  });
  assertClose(a, toNumbers(out.loss!)[0]!, 1e-15, "same loss");
});

/** Σ_r mask[r]·f(row r) / (Σ mask · scale) over rows of C components. */
function maskedRef(rows: number, mask: number[], f: (r: number) => number, scale: number): number {
  let num = 0, den = 0;
  for (let r = 0; r < rows; r++) {
    num += mask[r]! * f(r);
    den += mask[r]!;
  }
  return num / (den * scale);
}

const MASK = [1, 0, 1, 1, 0, 0.5]; // [times 2, batch 3]; 0.5 checks a fractional weight

Deno.test("mseLossGraph() with mask: true averages over observed entries only", async () => {
  const rng = new Random(11);
  const pred = rand([2, 3, 4], rng), target = rand([2, 3, 4], rng);
  const mask = tensor(Float64Array.from(MASK), [2, 3]);
  const l = mseLossGraph({ shape: ["times", "batch", 4], dtype: "float64", mask: true });
  assertEquals(l.graph.inputs.map((v) => v.name), ["pred", "target", "mask"]);
  const loss = await checkLoss(l, { pred, target, mask });
  const p = toNumbers(pred), t = toNumbers(target);
  const sq = (r: number) => [0, 1, 2, 3].reduce((s, c) => s + (p[4 * r + c]! - t[4 * r + c]!) ** 2, 0);
  assertClose(loss, maskedRef(6, MASK, sq, 4), 1e-14, "masked mse");
  // Unobserved rows get no gradient; observed ones 2(pred − target)/(Σ mask · C).
  const g = toNumbers((await (await rt.compile(l.graph)).run({ pred, target, mask })).grad_pred!);
  assertEquals(g.slice(4, 8).map(Math.abs), [0, 0, 0, 0]);
  assertClose(g[0]!, 2 * (p[0]! - t[0]!) / (3.5 * 4), 1e-14, "grad of an observed entry");
});

Deno.test("mseLossGraph() with mask: true reads a symbolic component count from the predictions", async () => {
  const rng = new Random(12);
  const pred = rand([2, 3, 2], rng), target = rand([2, 3, 2], rng);
  const mask = tensor(Float64Array.from(MASK), [2, 3]);
  const fixed = mseLossGraph({ shape: ["times", "batch", 2], dtype: "float64", mask: true });
  const symbolic = mseLossGraph({ shape: ["times", "batch", "c"], dtype: "float64", mask: true });
  const a = toNumbers((await (await rt.compile(fixed.graph)).run({ pred, target, mask })).loss!)[0]!;
  const b = await checkLoss(symbolic, { pred, target, mask });
  assertClose(b, a, 1e-15, "same loss");
});

Deno.test("mseLossGraph() with mask: true and all-ones mask equals the unmasked mean", async () => {
  const rng = new Random(13);
  const pred = rand([2, 3, 2], rng), target = rand([2, 3, 2], rng);
  const ones = tensor(new Float64Array(6).fill(1), [2, 3]);
  const shape = ["times", "batch", 2];
  const masked = await checkLoss(mseLossGraph({ shape, dtype: "float64", mask: true }), { pred, target, mask: ones });
  const plain = await checkLoss(mseLossGraph({ shape, dtype: "float64" }), { pred, target });
  assertClose(masked, plain, 1e-15, "all observed");
});

Deno.test("crossEntropyLossGraph() with leading dims averages over all of them", async () => {
  const rng = new Random(14);
  const logits = rand([2, 3, 4], rng);
  const labels = [0, 3, 1, 2, 2, 0];
  const l = crossEntropyLossGraph({ classes: 4, leading: ["times", "batch"], dtype: "float64" });
  const loss = await checkLoss(l, { pred: logits, target: int64(labels, [2, 3]) });
  const x = toNumbers(logits);
  const nll = (r: number) => {
    const row = x.slice(4 * r, 4 * r + 4);
    return Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[labels[r]!]!;
  };
  assertClose(loss, maskedRef(6, [1, 1, 1, 1, 1, 1], nll, 1), 1e-14, "cross-entropy over times and batch");
});

Deno.test("crossEntropyLossGraph() with mask: true averages over observed samples only", async () => {
  const rng = new Random(15);
  const logits = rand([2, 3, 4], rng);
  const labels = [0, 3, 1, 2, 2, 0];
  const mask = tensor(Float64Array.from(MASK), [2, 3]);
  const x = toNumbers(logits);
  const nll = (r: number) => {
    const row = x.slice(4 * r, 4 * r + 4);
    return Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[labels[r]!]!;
  };
  const ref = maskedRef(6, MASK, nll, 1);
  const leading = ["times", "batch"];
  const index = await checkLoss(crossEntropyLossGraph({ classes: 4, leading, dtype: "float64", mask: true }), {
    pred: logits,
    target: int64(labels, [2, 3]),
    mask,
  });
  assertClose(index, ref, 1e-14, "index targets");
  const onehot = new Float64Array(24);
  labels.forEach((c, r) => (onehot[4 * r + c] = 1));
  const l = crossEntropyLossGraph({ classes: 4, leading, targets: "onehot", dtype: "float64", mask: true });
  const g = toNumbers(
    (await (await rt.compile(l.graph)).run({
      pred: logits,
      target: tensor(onehot, [2, 3, 4]),
      mask,
    })).grad_pred!,
  );
  assertEquals(g.slice(4, 8).map(Math.abs), [0, 0, 0, 0], "an unobserved sample gets no gradient");
  assertClose(
    await checkLoss(l, { pred: logits, target: tensor(onehot, [2, 3, 4]), mask }),
    ref,
    1e-14,
    "one-hot targets",
  );
});

Deno.test("crossEntropyLossGraph() with a head and mask differentiates the head's input and parameters", async () => {
  const hb = new GraphBuilder("head");
  const zs = hb.input("zs", "float64", ["times", "batch", 3]);
  const w = hb.input("w", "float64", [3, 2]);
  hb.output(hb.op1("MatMul", [zs, w]), "y");
  const l = crossEntropyLossGraph({
    classes: 2,
    leading: ["times", "batch"],
    targets: "onehot",
    dtype: "float64",
    head: { graph: hb.build() },
    mask: true,
  });
  assertEquals(Object.keys(l.outputs.grads), ["zs", "w"]);
  assertEquals(l.outputs.pred, "pred");
  const rng = new Random(16);
  await checkLoss(l, {
    zs: rand([2, 3, 3], rng),
    w: rand([3, 2], rng),
    target: tensor(Float64Array.of(1, 0, 0, 1, 0.3, 0.7, 1, 0, 0, 1, 0.5, 0.5), [2, 3, 2]),
    mask: tensor(Float64Array.from(MASK), [2, 3]),
  });
});

Deno.test("crossEntropyLossGraph() rejects both leading and batch, and a head with the wrong class count", () => {
  assertThrows(
    () => crossEntropyLossGraph({ classes: 2, leading: ["times", "batch"], batch: "n" }),
    TypeError,
    "either leading or batch",
  );
  const hb = new GraphBuilder("head");
  hb.output(hb.op1("Neg", [hb.input("z", "float32", ["batch", 3])]), "y");
  assertThrows(() => crossEntropyLossGraph({ classes: 2, head: { graph: hb.build() } }), GraphError, "[batch, 3]");
});

Deno.test("gaussianKlLossGraph() matches the closed form and its gradients", async () => {
  const rng = new Random(5);
  const feeds = {
    mean: rand([3, 2], rng),
    var: rand([3, 2], rng, 0.5),
    target_mean: rand([3, 2], rng),
    target_var: rand([3, 2], rng, 0.5),
  };
  const loss = await checkLoss(gaussianKlLossGraph({ times: 3, dim: 2, dtype: "float64" }), feeds);
  const [m, v, tm, tv] = [feeds.mean, feeds.var, feeds.target_mean, feeds.target_var].map(toNumbers);
  let ref = 0;
  for (let i = 0; i < 6; i++) {
    ref += 0.5 * (Math.log(v![i]! / tv![i]!) + (tv![i]! + (tm![i]! - m![i]!) ** 2) / v![i]! - 1);
  }
  assertClose(loss, ref / 3, 1e-14, "KL");
});

Deno.test("gaussianKlLossGraph() from samples uses their population moments and differentiates each path", async () => {
  const rng = new Random(6);
  const l = gaussianKlLossGraph({ times: 2, dim: 1, input: "samples", dtype: "float64" });
  const feeds = { samples: rand([2, 5, 1], rng), target_mean: rand([2, 1], rng), target_var: rand([2, 1], rng, 0.5) };
  const loss = await checkLoss(l, feeds);
  const [x, tm, tv] = [feeds.samples, feeds.target_mean, feeds.target_var].map(toNumbers);
  let ref = 0;
  for (let t = 0; t < 2; t++) {
    const path = x!.slice(5 * t, 5 * t + 5);
    const m = path.reduce((s, v) => s + v, 0) / 5;
    const v = path.reduce((s, p) => s + (p - m) ** 2, 0) / 5;
    ref += 0.5 * (Math.log(v / tv![t]!) + (tv![t]! + (tm![t]! - m) ** 2) / v - 1);
  }
  assertClose(loss, ref / 2, 1e-13, "KL from samples");
});

Deno.test("vjpOfModel() differentiates an encoder with respect to its data", async () => {
  const enc = augmentGraph(2, 3, "float64");
  const v = vjpOfModel(enc);
  assertEquals(v.grads, { x: "grad_x" });
  assertEquals(v.cotangents, { z0: "grad_z0" });
  // z0 = [x, 0, 0, 0]: the cotangent of x is the first two columns of z0's.
  const rng = new Random(7);
  const gz = rand([2, 5], rng);
  const out = await (await rt.compile(v.graph)).run({ x: rand([2, 2], rng), [v.cotangents.z0!]: gz });
  const g = toNumbers(gz);
  assertEquals(toNumbers(out[v.grads.x!]!), [g[0]!, g[1]!, g[5]!, g[6]!]);
});

Deno.test("vjpOfModel() with initializers: true also differentiates the initializers", async () => {
  const b = new GraphBuilder("lin");
  const x = b.input("x", "float64", ["batch", 3]);
  b.initializer("w", tensor(Float64Array.of(1, -2, 0.5, 3, 0.1, -1), [3, 2]));
  b.output(b.op1("Tanh", [b.op1("MatMul", [x, b.value("w")])]), "y");
  const graph = b.build();
  assertEquals(vjpOfModel(graph).grads, { x: "grad_x" });
  const v = vjpOfModel(graph, { initializers: true });
  assertEquals(v.grads, { x: "grad_x", w: "grad_w" });
  // y = tanh(x·w) at x = [1, 0, 0]: dy₀/dw₀₀ = 1 − tanh²(1), every other weight gets nothing from y₀.
  const out = await (await rt.compile(v.graph)).run({
    x: tensor(Float64Array.of(1, 0, 0), [1, 3]),
    grad_y: tensor(Float64Array.of(1, 0), [1, 2]),
  });
  assertClose(toNumbers(out.grad_w!), [1 - Math.tanh(1) ** 2, 0, 0, 0, 0, 0], 1e-15, "grad_w");
});

Deno.test("mseLossGraph() with mask: true gives a batch with nothing observed a loss and gradients of 0, not NaN", async () => {
  const rng = new Random(14);
  const pred = rand([2, 3, 4], rng), target = rand([2, 3, 4], rng);
  const l = mseLossGraph({ shape: ["times", "batch", 4], dtype: "float64", mask: true });
  const out = await (await rt.compile(l.graph)).run({ pred, target, mask: tensor(new Float64Array(6), [2, 3]) });
  assertEquals(toNumbers(out.loss!), [0]);
  assert(toNumbers(out.grad_pred!).every((v) => v === 0), "no gradient from unobserved entries");
});
