import { assertEquals, assertThrows } from "../util/testing.ts";
import { GraphBuilder } from "./builder.ts";
import { GraphError } from "./errors.ts";
import { int64, tensor } from "./tensor.ts";
import { attr } from "./graph.ts";
import { inlineGraph } from "./inline.ts";

/** y = x · w with w an initializer of `values`, at `opset`. */
function scaled(values: number[], opset = 17) {
  const g = new GraphBuilder("scaled", { opset });
  const x = g.input("x", "float64", [values.length]);
  g.output(g.op1("Mul", [x, g.initializer("w", tensor(Float64Array.from(values), [values.length]))]), "y");
  return g.build();
}

Deno.test("inlineGraph() shares an initializer by name only when it is the same tensor", () => {
  const b = new GraphBuilder("host");
  const x = b.input("v", "float64", [2]);
  inlineGraph(b, scaled([1, 2]), new Map([["x", x]]), { prefix: "a/", sharedPrefix: "s/" });
  // The same values again: shared.
  inlineGraph(b, scaled([1, 2]), new Map([["x", x]]), { prefix: "b/", sharedPrefix: "s/" });
  assertEquals([...b.build().initializers.keys()], ["s/w"]);
  // Other values under the same shared name: a clash, not a silent reuse of the first.
  assertThrows(
    () => inlineGraph(b, scaled([3, 4]), new Map([["x", x]]), { prefix: "c/", sharedPrefix: "s/" }),
    GraphError,
    'initializer "w" would be shared as "s/w"',
  );
});

Deno.test("inlineGraph() refuses a graph of another opset only where an op of it reads differently there", () => {
  const b = new GraphBuilder("host", { opset: 17 });
  const x = b.input("v", "float64", [2]);
  // Mul means the same at 17 and 18: inlined.
  inlineGraph(b, scaled([1, 2], 18), new Map([["x", x]]), { prefix: "a/" });
  // ReduceMean takes its axes as an input from opset 18: read under 17 it would reduce everything.
  const g = new GraphBuilder("mean", { opset: 18 });
  const m = g.input("x", "float64", [3, 4]);
  g.output(g.op1("ReduceMean", [m, g.constant(int64([1]))], { keepdims: attr.int(0) }), "y");
  const host = new GraphBuilder("host", { opset: 17 });
  assertThrows(
    () => inlineGraph(host, g.build(), new Map([["x", host.input("w", "float64", [3, 4])]]), { prefix: "m/" }),
    GraphError,
    "its opset 18 differs from the host graph's 17, and its ReduceMean node",
  );
});
