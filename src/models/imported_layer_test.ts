/**
 * importHead() on the committed torch exports (tests/fixtures/torch_layers/, made
 * by tests/fixtures/make_torch_layers.py): the head runs to torch's numbers,
 * inside a readout (head "graph") it predicts the same at every time, and the
 * readout's gradients of its weights match finite differences.
 */
import { checkLossGradients } from "../autodiff/gradcheck.ts";
import { GraphBuilder } from "../onnx/builder.ts";
import { fromNumbers, type Tensor, tensor, toNumbers } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { buildReadout } from "../train/readout.ts";
import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { importHead, importHeadSync } from "./imported_layer.ts";

const DIR = new URL("../../tests/fixtures/torch_layers/", import.meta.url).pathname;
const record = JSON.parse(Deno.readTextFileSync(`${DIR}head.json`)) as { z: number[]; zShape: number[]; y: number[] };

Deno.test("importHead() reads a torch head export and runs it to torch's numbers", async () => {
  const head = await importHead(`${DIR}head.onnx`);
  assertEquals([head.stateDim, head.outDim], [3, 2]);
  assertEquals(head.graph.inputs.map((v) => v.name), ["z", ...head.params.map((p) => p.name)]);
  assertEquals(head.graph.outputs.map((v) => v.name), ["y"]);
  const rt = new Runtime({ threads: 1 });
  try {
    const out = await (await rt.compile(head.graph)).run({ z: fromNumbers(record.z, record.zShape), ...head.init });
    assertClose(toNumbers(out.y!), record.y, 1e-6, "y");
  } finally {
    await rt.dispose();
  }
});

Deno.test("buildReadout() with head graph applies an imported head at every time, and its weight gradients match finite differences", async () => {
  const head = importHeadSync(`${DIR}head.onnx`, { dtype: "float64" });
  const readout = buildReadout({
    stateDim: 3,
    outDim: 2,
    head: "graph",
    loss: "cross-entropy",
    dtype: "float64",
    rowHead: head,
  });
  assertEquals(Object.keys(readout.params), head.params.map((p) => p.name));
  const rows = record.zShape[0]!;
  // times 2, batch rows: both times hold torch's rows, so both predict torch's y.
  const zs = tensor(Float64Array.from([...record.z, ...record.z]), [2, rows, 3]);
  const target = new Float64Array(2 * rows * 2);
  for (let r = 0; r < 2 * rows; r++) target[r * 2 + (r % 2)] = 1;
  const feeds: Record<string, Tensor> = {
    zs,
    ...head.init,
    target: tensor(target, [2, rows, 2]),
    mask: tensor(new Float64Array(2 * rows).fill(1), [2, rows]),
  };
  const rt = new Runtime({ threads: 1 });
  try {
    const out = await checkLossGradients(rt, readout, feeds, 1e-6);
    assertClose(toNumbers(out.pred!), [...record.y, ...record.y], 1e-6, "pred");
    assertEquals(out.pred!.dims, [2, rows, 2]);
    for (const p of head.params) assert(toNumbers(out[`grad_${p.name}`]!).some((g) => g !== 0), p.name);
  } finally {
    await rt.dispose();
  }
});

Deno.test("importHeadSync() freezes the weights named and refuses graphs that are not a head of rows", () => {
  const frozen = importHeadSync(`${DIR}head.onnx`, { freeze: ["l2.weight"] });
  assertEquals(frozen.frozen, ["l2.weight"]);
  assertEquals(frozen.params.map((p) => p.name), ["head.l1.weight", "head.l1.bias", "head.l2.bias"]);
  assertThrows(() => importHeadSync(`${DIR}head.onnx`, { freeze: ["l3.weight"] }), Error, 'Cannot freeze "l3.weight"');
  const two = new GraphBuilder("two");
  two.output(two.op1("Add", [two.input("a", "float32", ["rows", 2]), two.input("b", "float32", ["rows", 2])]), "y");
  assertThrows(
    () => importHeadSync(two.build()),
    Error,
    "A head takes one input, the states [rows, state]; this graph has 2",
  );
  const flat = new GraphBuilder("flat");
  flat.output(flat.op1("Neg", [flat.input("x", "float32", [4])]), "y");
  assertThrows(() => importHeadSync(flat.build()), Error, "must be [rows, state]");
  assertThrows(() => importHeadSync(`${DIR}head.onnx`, { dtype: "float16" as "float32" }), RangeError, "dtype");
});

Deno.test("buildReadout() refuses a graph head whose sizes do not fit", () => {
  const head = importHeadSync(`${DIR}head_bad.onnx`);
  assertThrows(
    () => buildReadout({ stateDim: 3, outDim: 2, head: "graph", loss: "mse", dtype: "float32", rowHead: head }),
    RangeError,
    "must map z float32 [rows, 3] to y float32 [rows, 2]; it has z float32 [rows, 5] and y float32 [rows, 3]",
  );
  assertThrows(() => buildReadout({ stateDim: 3, outDim: 2, head: "graph", loss: "mse", dtype: "float32" }), TypeError);
});
