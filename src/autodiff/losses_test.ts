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
import { assertClose, assertEquals } from "../util/testing.ts";
import { crossEntropyLossGraph, gaussianKlLossGraph, type LossGraph, mseLossGraph, vjpOfModel } from "./losses.ts";

const rt = new Runtime({ threads: 1 });

function rand(dims: number[], rng: Random, lo?: number): Tensor {
  const n = dims.reduce((a, d) => a * d, 1);
  return tensor(Float64Array.from({ length: n }, () => (lo === undefined ? rng.normal() : rng.uniformIn(lo, 2))), dims);
}

/** Checks every gradient output against central differences of `loss`; returns the loss. */
async function checkLoss(l: LossGraph, feeds: Record<string, Tensor>): Promise<number> {
  const s = await rt.compile(l.graph);
  const out = await s.run(feeds);
  for (const [input, gradName] of Object.entries(l.outputs.grads)) {
    const x = feeds[input]!;
    const base = toNumbers(x);
    const fd = await Promise.all(base.map(async (_, j) => {
      const h = 1e-6 * Math.max(1, Math.abs(base[j]!));
      const at = async (v: number) => {
        const d = Float64Array.from(base);
        d[j] = v;
        return toNumbers((await s.run({ ...feeds, [input]: tensor(d, x.dims) }, ["loss"])).loss!)[0]!;
      };
      return ((await at(base[j]! + h)) - (await at(base[j]! - h))) / (2 * h);
    }));
    assertEquals(out[gradName]!.dims, x.dims, `${gradName} dims`);
    assertClose(toNumbers(out[gradName]!), fd, 1e-6, `${l.graph.name} ${gradName}`);
  }
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
