import { GraphBuilder } from "../onnx/builder.ts";
import { GraphError } from "../onnx/errors.ts";
import { fromNumbers } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { splitAtResiduals, withOutputs } from "./residuals.ts";
import { vjpGraph } from "./vjp.ts";

const runtime = new Runtime({ threads: 1 });

/** y = Softplus(x·W)·v, float64, and its VJP with respect to x, W and v. */
function layer() {
  const b = new GraphBuilder("layer");
  const x = b.input("x", "float64", [2, 3]);
  const w = b.input("w", "float64", [3, 4]);
  const v = b.input("v", "float64", [4, 1]);
  const pre = b.op1("MatMul", [x, w], {}, { outputNames: ["pre"] });
  const act = b.op1("Softplus", [pre], {}, { outputNames: ["act"] });
  b.output(b.op1("MatMul", [act, v]), "y");
  const forward = b.build();
  return { forward, vjp: vjpGraph(forward, { of: ["y"], wrt: ["x", "w", "v"], keepOutputs: false }) };
}

const feeds = {
  x: fromNumbers([0.1, -0.4, 0.9, 1.3, -0.2, 0.5], [2, 3], "float64"),
  w: fromNumbers(Array.from({ length: 12 }, (_, i) => Math.cos(i)), [3, 4], "float64"),
  v: fromNumbers([0.3, -1, 0.7, 0.2], [4, 1], "float64"),
  grad_y: fromNumbers([1.5, -0.5], [2, 1], "float64"),
};

Deno.test("splitAtResiduals() takes the forward values the backward pass reads as inputs and gives the VJP's outputs", async () => {
  const { forward, vjp } = layer();
  const forwardValues = new Set(forward.nodes.flatMap((n) => n.outputs));
  const split = splitAtResiduals(vjp, ["grad_y"], (name) => forwardValues.has(name));
  // The Softplus derivative reads Sigmoid(pre): computed again from the residual pre-activation, not fed.
  assertEquals(split.residuals.map((r) => r.name).sort(), ["act", "pre"]);
  assertEquals(split.residuals.map((r) => r.shape), [[2, 4], [2, 4]]);
  assert(!split.backward.nodes.some((n) => n.opType === "Softplus"), "the forward activation is not computed again");
  assert(split.backward.nodes.some((n) => n.opType === "Sigmoid"), "the derivative's Sigmoid stays");

  const withResiduals = withOutputs(forward, split.residuals.map((r) => r.name));
  assertEquals(withResiduals.outputs.map((o) => o.name), ["y", "pre", "act"]);
  const { grad_y: _, ...inputs } = feeds;
  const fwd = await (await runtime.compile(withResiduals)).run(inputs);
  const residualFeeds = Object.fromEntries(split.residuals.map((r) => [r.name, fwd[r.name]!]));
  const fromResiduals = await (await runtime.compile(split.backward)).run({ ...feeds, ...residualFeeds });
  const full = await (await runtime.compile(vjp)).run(feeds);
  for (const name of ["grad_x", "grad_w", "grad_v"]) {
    assertClose(
      Array.from(fromResiduals[name]!.data as Float64Array),
      Array.from(full[name]!.data as Float64Array),
      1e-15,
      name,
    );
  }
});

Deno.test("splitAtResiduals() recomputes what the forward pass cannot give, and names a seed it does not have", () => {
  const { vjp } = layer();
  const split = splitAtResiduals(vjp, ["grad_y"], (name) => name === "act");
  assertEquals(split.residuals.map((r) => r.name), ["act"]);
  assert(split.backward.nodes.some((n) => n.opType === "MatMul" && n.outputs[0] === "pre"), "pre is computed again");
  const none = splitAtResiduals(vjp, ["grad_y"], () => false);
  assertEquals(none.residuals, []);
  assertEquals(none.backward.nodes.length, vjp.nodes.length, "nothing to feed: the VJP graph unchanged");
  assertThrows(() => splitAtResiduals(vjp, ["grad_z"], () => true), GraphError, /"grad_z" is not an input/);
});
