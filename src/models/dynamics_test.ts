/**
 * asDynamics() brings a time input of shape [1] and time-free graphs to the
 * contract (a scalar `t`), and refuses the rest naming what is there.
 */
import { GraphBuilder } from "../onnx/builder.ts";
import { GraphError } from "../onnx/errors.ts";
import { attr, type Graph } from "../onnx/graph.ts";
import { fromNumbers, int64, toNumbers } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { asDynamics } from "./dynamics.ts";

const rt = new Runtime({ threads: 1 });

/** dz = z·θ + t, with t of the given shape broadcast over the batch as torch's t.expand(batch, 1) exports it. */
function timed(tShape: number[] | null): Graph {
  const b = new GraphBuilder("f");
  const z = b.input("z", "float64", ["batch", 2]);
  const theta = b.input("theta", "float64", [2]);
  let dz = b.op1("Mul", [z, theta]);
  if (tShape) {
    const t = b.input("t", "float64", tShape);
    const target = b.op1("Concat", [b.op1("Shape", [z], { end: attr.int(1) }), b.initializer("one", int64([1]))], {
      axis: attr.int(0),
    });
    dz = b.op1("Add", [dz, b.op1("Expand", [t, target])]);
  }
  b.output(dz, "dz");
  return b.build();
}

Deno.test("asDynamics() feeds a time input of shape [1] from the scalar t, so f gives the same dz", async () => {
  const d = asDynamics(timed([1]));
  assertEquals(d.graph.inputs.map((v) => [v.name, v.shape]), [["z", ["batch", 2]], ["theta", [2]], ["t", []]]);
  assertEquals(d.params.map((p) => p.name), ["theta"]);
  assertEquals(d.graph.outputs[0]!.shape, ["batch", 2]);
  assertEquals(d.graph.nodes[0]!.opType, "Reshape");
  const out = await (await rt.compile(d.graph)).run({
    z: fromNumbers([1, 2, 3, 4], [2, 2], "float64"),
    theta: fromNumbers([10, 100], [2], "float64"),
    t: fromNumbers([0.5], [], "float64"),
  });
  assertEquals(toNumbers(out.dz!), [10.5, 200.5, 30.5, 400.5]);
});

Deno.test("asDynamics() leaves a graph with a scalar t as it is", () => {
  const g = timed([]);
  assert(asDynamics(g).graph === g, "a contract graph should not be rebuilt");
});

Deno.test("asDynamics() with time autonomous adds an unused scalar t to a graph without one", async () => {
  const d = asDynamics(timed(null), { time: "autonomous" });
  assertEquals(d.graph.inputs[0], { name: "t", dtype: "float64", shape: [] });
  assertEquals(d.params.map((p) => p.name), ["theta"]);
  const out = await (await rt.compile(d.graph)).run({
    z: fromNumbers([1, 2], [1, 2], "float64"),
    theta: fromNumbers([3, 4], [2], "float64"),
    t: fromNumbers([7], [], "float64"),
  });
  assertEquals(toNumbers(out.dz!), [3, 8]);
});

Deno.test("asDynamics() throws GraphError naming the inputs when there is no time input and time is not autonomous", () => {
  const e = assertThrows(() => asDynamics(timed(null)), GraphError);
  for (const part of [`time input "t" of shape [] or [1]`, "z [batch, 2], theta [2]", `{ time: "autonomous" }`]) {
    assert(e.message.includes(part), `"${e.message}" lacks "${part}"`);
  }
});

Deno.test("asDynamics() throws GraphError when dynamics declared autonomous have a time input", () => {
  assertThrows(() => asDynamics(timed([1]), { time: "autonomous" }), GraphError, /time input "t" \[1\].*autonomous/);
});

Deno.test("asDynamics() throws GraphError for a time input of another shape, and TypeError for unknown options", () => {
  assertThrows(
    () => asDynamics(timed([2])),
    GraphError,
    /Time "t" must be float64 of shape \[\] or \[1\], got float64\[2\]/,
  );
  assertThrows(() => asDynamics(timed([]), { tme: "input" } as never), TypeError, /Unknown option "tme"/);
  assertThrows(() => asDynamics(timed([]), { time: "sometimes" } as never), RangeError, /"input" or "autonomous"/);
});
