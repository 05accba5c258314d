/**
 * The VJP engine: errors, accumulation, integer paths, pruning and zeros.
 */
import { GraphBuilder } from "../onnx/builder.ts";
import { GraphError } from "../onnx/errors.ts";
import { attr, type Graph } from "../onnx/graph.ts";
import { int64, tensor, toNumbers } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { gradCheck } from "./gradcheck.ts";
import { vjpGraph } from "./vjp.ts";

const rt = new Runtime({ threads: 1 });

/** y = Floor(x)·w + x, z = Tanh(w) (Floor has no VJP rule). */
function withFloor(): Graph {
  const b = new GraphBuilder("floor");
  const x = b.input("x", "float64", [3]);
  const w = b.input("w", "float64", [3]);
  b.output(b.op1("Add", [b.op1("Mul", [b.op1("Floor", [x], {}, { name: "my_floor" }), w]), x]), "y");
  b.output(b.op1("Tanh", [w]), "z");
  return b.build();
}

Deno.test("vjpGraph() names the op and node when an op on the path has no rule", () => {
  const e = assertThrows(() => vjpGraph(withFloor(), { of: ["y"], wrt: ["x"] }), GraphError, "Floor");
  assert(e.message.includes("my_floor"), e.message);
});

Deno.test("vjpGraph() differentiates around an op without a rule that is off the path", async () => {
  // d y/d w = Floor(x): Floor is only a forward value here.
  const { errors } = await gradCheck(rt, withFloor(), { wrt: ["w"] });
  assert(errors["w"]! <= 1e-6, `${errors["w"]}`);
});

Deno.test("vjpGraph() accumulates the cotangents of a value used by several nodes", async () => {
  const b = new GraphBuilder("shared");
  const x = b.input("x", "float64", [2, 3]);
  const s = b.op1("Sin", [x]);
  b.output(b.op1("Add", [b.op1("Mul", [s, s]), b.op1("Exp", [s])]), "y");
  b.output(s, "s");
  const { errors } = await gradCheck(rt, b.build());
  assert(errors["x"]! <= 1e-6, `${errors["x"]}`);
});

Deno.test("vjpGraph() sends no gradient through Shape, Constant and integer paths", async () => {
  // y = Reshape(x, Shape(x)) · Cast(Shape(x)[0]) — the integer factor is constant.
  const b = new GraphBuilder("ints");
  const x = b.input("x", "float64", ["batch", 2]);
  const shape = b.op1("Shape", [x]);
  const n = b.op1("Cast", [b.op1("Gather", [shape, b.constant(int64([0], []))])], { to: attr.int(11) });
  b.output(b.op1("Mul", [b.op1("Reshape", [x, shape]), n]), "y");
  const { errors, grads } = await gradCheck(rt, b.build(), { dims: { batch: 4 } });
  assert(errors["x"]! <= 1e-6, `${errors["x"]}`);
  assertEquals(grads["x"]!.dims, [4, 2]);
});

Deno.test("vjpGraph() gives exact zeros to an input the outputs do not depend on", async () => {
  const b = new GraphBuilder("unused");
  const x = b.input("x", "float64", ["batch", 2]);
  b.input("u", "float64", [2, 2]);
  b.output(b.op1("Tanh", [x]), "y");
  const g = vjpGraph(b.build(), { of: ["y"], wrt: ["x", "u"] });
  const out = await (await rt.compile(g)).run({
    x: tensor(Float64Array.of(1, 2), [1, 2]),
    u: tensor(Float64Array.of(Infinity, NaN, 1, 2), [2, 2]),
    grad_y: tensor(Float64Array.of(1, 1), [1, 2]),
  });
  assertEquals(out.grad_u!.dims, [2, 2]);
  assert(toNumbers(out.grad_u!).every((v) => Object.is(v, 0)));
});

Deno.test("vjpGraph() keeps only the forward nodes the gradients need when outputs are dropped", () => {
  // y = Exp(x) then a chain of nodes after it; dy/dx needs only Exp's output.
  const b = new GraphBuilder("prune");
  const x = b.input("x", "float64", [3]);
  const e = b.op1("Exp", [x]);
  b.output(b.op1("Cos", [b.op1("Sin", [e])]), "y");
  b.output(b.op1("Log", [e]), "other");
  const g = vjpGraph(b.build(), { of: ["other"], wrt: ["x"], keepOutputs: false });
  const ops = g.nodes.map((n) => n.opType);
  assert(!ops.includes("Sin") && !ops.includes("Cos"), ops.join());
  assertEquals(g.outputs.map((o) => o.name), ["grad_x"]);
  assertEquals(g.inputs.map((i) => i.name), ["x", "grad_other"]);
});

Deno.test("vjpGraph() differentiates with respect to initializers", async () => {
  const b = new GraphBuilder("init");
  const x = b.input("x", "float64", [2, 3]);
  const w = b.initializer("w", tensor(Float64Array.of(1, -2, 0.5, 3, 0.1, -1), [3, 2]));
  b.output(b.op1("Tanh", [b.op1("MatMul", [x, w])]), "y");
  const g = vjpGraph(b.build(), { of: ["y"], wrt: ["w"] });
  assertEquals(g.outputs.map((o) => [o.name, o.shape]), [["y", [2, 2]], ["grad_w", [3, 2]]]);
  const out = await (await rt.compile(g)).run({
    x: tensor(Float64Array.of(1, 0, 0, 0, 0, 0), [2, 3]),
    grad_y: tensor(Float64Array.of(1, 0, 0, 0), [2, 2]),
  });
  // y00 = tanh(x0·w[:,0]) = tanh(1): dy00/dw00 = 1 − tanh²(1).
  assertEquals(toNumbers(out.grad_w!).map((v) => Math.round(v * 1e12) / 1e12), [
    Math.round((1 - Math.tanh(1) ** 2) * 1e12) / 1e12,
    0,
    0,
    0,
    0,
    0,
  ]);
});

Deno.test("vjpGraph() rejects unknown options, non-outputs, integer inputs and name clashes", () => {
  const b = new GraphBuilder("bad");
  const x = b.input("x", "float64", [2]);
  b.input("k", "int64", [2]);
  b.output(b.op1("Neg", [x]), "y");
  b.output(b.op1("Neg", [x]), "grad_x");
  const g = b.build();
  assertThrows(() => vjpGraph(g, { of: ["y"], wrt: ["x"], extra: 1 } as never), TypeError, `Unknown option "extra"`);
  assertThrows(() => vjpGraph(g, { of: ["nope"], wrt: ["x"] }), GraphError, `"nope" is not an output`);
  assertThrows(() => vjpGraph(g, { of: ["y"], wrt: ["k"] }), GraphError, `Input "k" is int64`);
  assertThrows(() => vjpGraph(g, { of: ["y", "y"], wrt: ["x"] }), RangeError, `lists "y" twice`);
  assertThrows(() => vjpGraph(g, { of: ["y"], wrt: ["x"] }), GraphError, `Cannot add "grad_x"`);
});
