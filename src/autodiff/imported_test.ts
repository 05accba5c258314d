/**
 * VJP graphs of models exported by PyTorch (tests/fixtures): float64 copies
 * against central differences, and the float32 originals (native Conv,
 * ConvTranspose and MaxPool kernels, weights as initializers) against them.
 * The float64 copies are made by liftInitializers, the public way to turn an
 * exported model's weights into inputs.
 */
import { readModel } from "../onnx/proto.ts";
import { tensor, toNumbers } from "../onnx/tensor.ts";
import { liftInitializers } from "../models/lift.ts";
import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assert, assertClose, assertEquals } from "../util/testing.ts";
import { gradCheck } from "./gradcheck.ts";
import { vjpGraph } from "./vjp.ts";

const FIXTURES = new URL("../../tests/fixtures/", import.meta.url);
const rt = new Runtime({ threads: 1 });

for (const name of ["torch_mlp", "torch_convnet"]) {
  Deno.test(`vjpGraph() of PyTorch's ${name}.onnx matches central differences in float64`, async () => {
    const g = await readModel(new URL(`${name}.onnx`, FIXTURES).pathname);
    // Every weight becomes a float64 input.
    const { graph, init: values, frozen, noGradient } = liftInitializers(g, { dtype: "float64" });
    assertEquals([frozen, noGradient, graph.initializers.size], [[], [], 0]);
    const { errors } = await gradCheck(rt, graph, { values, dims: { batch: 2 } });
    for (const [input, err] of Object.entries(errors)) assert(err <= 1e-6, `${name} grad_${input}: ${err}`);
  });

  Deno.test(`vjpGraph() of PyTorch's ${name}.onnx in float32 agrees with float64 to 1e-4`, async () => {
    const g = await readModel(new URL(`${name}.onnx`, FIXTURES).pathname);
    const { graph, init: values } = liftInitializers(g, { dtype: "float64" });
    const x = g.inputs[0]!;
    const dims = x.shape.map((d) => (typeof d === "number" ? d : 2));
    const rng = new Random(9);
    const xv = Float64Array.from({ length: dims.reduce((a, d) => a * d, 1) }, () => rng.normal());
    const y = g.outputs[0]!;
    const yDims = [2, ...y.shape.slice(1) as number[]];
    const gy = Float64Array.from({ length: yDims.reduce((a, d) => a * d, 1) }, () => rng.normal());
    const wrt = [x.name, ...g.initializers.keys()];
    const g32 = vjpGraph(g, { of: [y.name], wrt });
    const g64 = vjpGraph(graph, { of: [y.name], wrt });
    const o32 = await (await rt.compile(g32)).run({
      [x.name]: tensor(Float32Array.from(xv), dims),
      [`grad_${y.name}`]: tensor(Float32Array.from(gy), yDims),
    });
    const o64 = await (await rt.compile(g64)).run({
      ...values,
      [x.name]: tensor(xv, dims),
      [`grad_${y.name}`]: tensor(gy, yDims),
    });
    for (const w of wrt) {
      assertClose(toNumbers(o32[`grad_${w}`]!), toNumbers(o64[`grad_${w}`]!), 1e-4, `${name} grad_${w}`);
    }
  });
}
