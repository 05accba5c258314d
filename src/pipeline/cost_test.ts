import { assert, assertClose, assertEquals } from "../util/testing.ts";
import { epochCost } from "./cost.ts";
import { modelKindOf } from "./model_kinds/registry.ts";
import { PipelineSchema } from "./schema.ts";

const DATA = new URL("../../tests/fixtures/data/", import.meta.url).pathname;

/** Multiply-adds of every Conv node of a graph, from its weight's shape and its output's. */
function convMacs(graph: ReturnType<ReturnType<typeof modelKindOf>["build"]>["dynamics"]["graph"]): number {
  let total = 0;
  for (const node of graph.nodes.filter((n) => n.opType === "Conv")) {
    const w = graph.inputs.find((v) => v.name === node.inputs[1]) ?? graph.valueInfo.get(node.inputs[1]!);
    const y = graph.valueInfo.get(node.outputs[0]!) ?? graph.outputs.find((v) => v.name === node.outputs[0]);
    assert(w !== undefined && y !== undefined, `shapes of ${node.name}`);
    const [outChannels, inChannels, kh, kw] = w.shape as number[];
    const [, , height, width] = y.shape as number[];
    total += outChannels! * height! * width! * inChannels! * kh! * kw!;
  }
  return total;
}

Deno.test("the conv kind's multiply-adds per sample are those of its graph's convolutions", () => {
  const kind = modelKindOf("conv");
  for (const time of ["concat", "none"] as const) {
    const config = kind.schema.parse({ kind: "conv", channels: 7, time });
    const imageShape = [10, 14, 14];
    const { dynamics } = kind.build(config, {
      stateDim: 10 * 14 * 14,
      imageShape,
      form: "first-order",
      dtype: "float32",
      seed: 0,
    });
    assertEquals(kind.macsPerSample(config, 10 * 14 * 14, imageShape), convMacs(dynamics.graph), time);
  }
});

Deno.test("an image pipeline's epoch cost grows with the hidden channels as its convolutions do", () => {
  const images = (channels: number) =>
    PipelineSchema.parse({
      name: "images",
      // The committed 6×6 images: the conv encoder makes [10, 3, 3] states.
      data: { kind: "idx", images: `${DATA}images-idx3-ubyte`, labels: `${DATA}labels-idx1-ubyte.gz` },
      model: {
        encoder: { kind: "conv", channels: 10 },
        dynamics: { kind: "conv", channels, time: "concat" },
        head: { kind: "mlp", hidden: [50] },
      },
      solve: {},
      gradient: { method: "gq" },
      train: { epochs: 1, batchSize: 16 },
    });
  const macs = (h: number) => 9 * 3 * 3 * (11 * h + (h + 1) * h + (h + 1) * 10);
  // Every batch pays the same call overhead: the differences in cost are those in multiply-adds.
  const cost = (h: number) => epochCost(images(h));
  assertClose([(cost(100) - cost(50)) / (cost(50) - cost(25))], [(macs(100) - macs(50)) / (macs(50) - macs(25))], 1e-9);
});
