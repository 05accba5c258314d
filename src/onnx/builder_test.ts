import { Runtime } from "../runtime/session.ts";
import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { GraphBuilder } from "./builder.ts";
import { GraphError } from "./errors.ts";
import { attr } from "./graph.ts";
import { fromNumbers, int64, toNumbers } from "./tensor.ts";

Deno.test("GraphBuilder.input() rejects a name already used by an input or initializer", () => {
  const b = new GraphBuilder("g");
  b.input("x", "float32", [2]);
  b.initializer("w", fromNumbers([1, 2], [2]));
  const e = assertThrows(() => b.input("x", "float64", [3]), GraphError, `Value "x" is defined twice`) as GraphError;
  assertEquals(e.place.valueName, "x");
  assertThrows(() => b.input("w", "float32", [2]), GraphError, `Value "w" is defined twice`);
  assertThrows(() => b.initializer("x", fromNumbers([1], [1])), GraphError, `Value "x" is defined twice`);
});

Deno.test("GraphBuilder.op() rejects an output name that already names a value", () => {
  const b = new GraphBuilder("g");
  const x = b.input("x", "float32", [2]);
  b.op1("Relu", [x], {}, { outputNames: ["h"] });
  const e = assertThrows(
    () => b.op1("Tanh", [x], {}, { name: "tanh1", outputNames: ["h"] }),
    GraphError,
    `Value "h" is defined twice`,
  ) as GraphError;
  assertEquals(e.place.nodeName, "tanh1");
  assertThrows(() => b.op1("Tanh", [x], {}, { outputNames: ["x"] }), GraphError, `Value "x" is defined twice`);
  const m = b.input("m", "float32", [4, 2]);
  assertThrows(
    () => b.op("Split", [m], {}, { name: "sp", outputNames: ["p", "p"] }),
    GraphError,
    /node sp \(Split\).*Value "p" is defined twice/,
  );
  assert(!b.has("p"), "a rejected node left its output behind");
});

Deno.test("GraphBuilder.op() rejects a node name used twice", () => {
  const b = new GraphBuilder("g");
  const x = b.input("x", "float32", [2]);
  b.op1("Relu", [x], {}, { name: "act" });
  assertThrows(() => b.op1("Tanh", [x], {}, { name: "act" }), GraphError, `Node name "act" is used twice`);
});

Deno.test("GraphBuilder leaves no trace of a node it rejected", () => {
  const b = new GraphBuilder("g");
  const x = b.input("x", "float32", [2]);
  assertThrows(() => b.op1("MatMul", [x, b.input("w", "float32", [3, 3])], {}, { name: "mm", outputNames: ["y"] }));
  // The name and output of the rejected node are still free.
  const y = b.op1("Relu", [x], {}, { name: "mm", outputNames: ["y"] });
  assertEquals(y.shape, [2]);
  assertEquals(b.build().nodes.map((n) => n.name), ["mm"]);
});

Deno.test("GraphBuilder.op() throws GraphError naming the node when an input is not defined yet", () => {
  const b = new GraphBuilder("g");
  assertThrows(() => b.op1("Relu", ["later"], {}, { name: "r" }), GraphError, /node r \(Relu\): Input 0 "later"/);
});

Deno.test("GraphBuilder.op() throws GraphError naming an op that has no shape rule", () => {
  const b = new GraphBuilder("g");
  const x = b.input("x", "float32", [2]);
  const e = assertThrows(
    () => b.op1("STFT", [x], {}, { name: "stft0" }),
    GraphError,
    "Unsupported op STFT",
  ) as GraphError;
  assertEquals([e.place.nodeName, e.place.opType], ["stft0", "STFT"]);
  assertThrows(() => b.op1("Foo", [x], {}, { domain: "com.example" }), GraphError, `domain "com.example"`);
});

Deno.test("GraphBuilder.op() gives generated names that never collide with given ones", () => {
  const b = new GraphBuilder("g");
  const x = b.input("x", "float32", [2]);
  b.op1("Relu", [x], {}, { outputNames: ["Relu_out"] });
  const names = new Set<string>(["x", "Relu_out"]);
  for (let i = 0; i < 5; i++) {
    const v = b.op1("Relu", [x]);
    assert(!names.has(v.name), `name ${v.name} reused`);
    names.add(v.name);
  }
  const nodeNames = b.build().nodes.map((n) => n.name);
  assertEquals(new Set(nodeNames).size, nodeNames.length);
});

Deno.test("GraphBuilder.output() adds an Identity when an input is returned or a name changes", () => {
  const b = new GraphBuilder("g");
  const x = b.input("x", "float32", ["batch", 2]);
  b.output(x, "x_copy");
  const r = b.op1("Relu", [x]);
  b.output(r);
  b.output(r); // the same value twice gets a second, distinct output
  const g = b.build();
  assertEquals(g.outputs.length, 3);
  assertEquals(new Set(g.outputs.map((o) => o.name)).size, 3);
  assertEquals(g.outputs[0], { name: "x_copy", dtype: "float32", shape: ["batch", 2] });
  assertEquals(g.nodes.filter((n) => n.opType === "Identity").length, 2);
});

Deno.test("GraphBuilder.build() records intermediate types but not inputs or initializers", () => {
  const b = new GraphBuilder("g");
  const x = b.input("x", "float32", ["batch", 3]);
  const w = b.initializer("w", fromNumbers([1, 2, 3, 4, 5, 6], [3, 2]));
  const h = b.op1("MatMul", [x, w], {}, { outputNames: ["h"] });
  b.output(b.op1("Tanh", [h]), "y");
  const g = b.build();
  assertEquals(g.valueInfo.get("h"), { dtype: "float32", shape: ["batch", 2] });
  assert(!g.valueInfo.has("x") && !g.valueInfo.has("w"), "graph values leaked into valueInfo");
});

Deno.test("GraphBuilder.constantOf() knows Constant nodes and initializers; shape values flow through", () => {
  const b = new GraphBuilder("g");
  const c = b.constant(int64([4, 5]), "c");
  assertEquals(toNumbers(b.constantOf(c.name)!), [4, 5]);
  const x = b.input("x", "float32", ["n", 20]);
  // Reshape to [n, 4, 5] built from Shape(x)[0] and the constant.
  const n = b.op1("Slice", [b.op1("Shape", [x]), b.initializer("s", int64([0])), b.initializer("e", int64([1]))]);
  const r = b.op1("Reshape", [x, b.op1("Concat", [n, c], { axis: attr.int(0) })]);
  assertEquals(r.shape, ["n", 4, 5]);
});

Deno.test("GraphBuilder.from() rebuilds a graph that computes the same values", async () => {
  const b = new GraphBuilder("mlp");
  const x = b.input("x", "float64", ["batch", 2]);
  const w = b.initializer("w", fromNumbers([0.5, -1, 2, 0.25], [2, 2], "float64"));
  b.output(b.op1("Tanh", [b.op1("MatMul", [x, w])]), "y");
  const g = b.build();
  const copy = GraphBuilder.from(g).build();
  assertEquals(copy, g);
  const extended = GraphBuilder.from(g, { keepOutputs: false, name: "more" });
  extended.output(extended.op1("Neg", [extended.value("y")]), "minus_y");
  const g2 = extended.build();
  assertEquals(g2.outputs.map((o) => o.name), ["minus_y"]);
  const rt = new Runtime({ threads: 1 });
  const feed = { x: fromNumbers([1, 2, -3, 0.5], [2, 2], "float64") };
  const y = (await (await rt.compile(g)).run(feed)).y!;
  const minus = (await (await rt.compile(g2)).run(feed)).minus_y!;
  // Independent value: tanh(x·W) by hand.
  const expected = [
    Math.tanh(1 * 0.5 + 2 * 2),
    Math.tanh(-1 + 2 * 0.25),
    Math.tanh(-1.5 + 0.5 * 2),
    Math.tanh(3 + 0.125),
  ];
  assertClose(y.data as Float64Array, expected, 1e-15, "tanh(x·W)");
  assertClose(minus.data as Float64Array, expected.map((v) => -v), 1e-15, "−tanh(x·W)");
  await rt.dispose();
});

Deno.test("GraphBuilder.from() keeps an output that is an input or an initializer itself, as ONNX allows", async () => {
  const b = new GraphBuilder("pass");
  const x = b.input("x", "float32", [2]);
  b.initializer("w", fromNumbers([3, 4], [2]));
  b.output(b.op1("Neg", [x]), "y");
  const made = b.build();
  // Outputs named as the input and the initializer, as an exporter may write them (output() would add Identities).
  const g = {
    ...made,
    outputs: [...made.outputs, { ...made.inputs[0]! }, { name: "w", dtype: "float32", shape: [2] }],
  };
  const copy = GraphBuilder.from(g as typeof made).build();
  assertEquals(copy.outputs.map((o) => o.name), ["y", "x", "w"]);
  assertEquals(copy.nodes.length, made.nodes.length, "no Identity added");
  const rt = new Runtime({ threads: 1 });
  const out = await (await rt.compile(copy)).run({ x: fromNumbers([1, 2], [2]) });
  assertEquals([...out.y!.data, ...out.x!.data, ...out.w!.data], [-1, -2, 1, 2, 3, 4]);
  await rt.dispose();
});

Deno.test("GraphBuilder.knownInts() reads constants and all-number shape values, not symbolic ones", () => {
  const b = new GraphBuilder("g");
  const x = b.input("x", "float32", ["batch", 3, 4]);
  const shape = b.op1("Shape", [x]);
  const tail = b.op1("Slice", [shape, b.constant(int64([1])), b.constant(int64([3]))]);
  assertEquals(b.knownInts(tail.name), [3, 4]);
  assertEquals(b.knownInts(shape.name), undefined);
  assertEquals(b.knownInts(b.constant(int64([7, -1])).name), [7, -1]);
});
