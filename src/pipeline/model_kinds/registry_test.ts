import { assert, assertEquals, assertThrows } from "../../util/testing.ts";
import { dataKindOf } from "../data_kinds/registry.ts";
import { makeDataset } from "../data_stage.ts";
import { PipelineSchema } from "../schema.ts";
import { buildTask } from "../task_stage.ts";
import type { ModelKind } from "./model_kind.ts";
import { dynamicsWidth, MODEL_KINDS, modelKindOf } from "./registry.ts";

for (const kind of MODEL_KINDS as unknown as readonly ModelKind[]) {
  Deno.test(`dynamics kind "${kind.kind}" has a schema, an example that builds and trains, a width and a cost`, () => {
    const config = kind.schema.parse(kind.example);
    assertEquals((config as { kind: string }).kind, kind.kind, "the schema's kind literal is the kind's name");
    assertEquals(modelKindOf(kind.kind) as unknown, kind as unknown);
    const imageShape = kind.exampleImageShape;
    const stateDim = imageShape ? imageShape.reduce((a, b) => a * b, 1) : kind.exampleStateDim ?? 4;
    const image = imageShape ? { imageShape } : {};
    const options = { stateDim, ...image, form: "first-order", dtype: "float64", seed: 0 } as const;
    assertEquals(kind.checks(config, options), []);
    const { dynamics, init } = kind.build(config, options);
    assertEquals(dynamics.stateShape, imageShape ?? [stateDim], "the state shape asked for");
    assertEquals(dynamics.params.map((p) => p.name), Object.keys(init), "one initial tensor per parameter");
    const width = kind.width(config);
    assert(Number.isInteger(width) && width > 0, `width ${width}`);
    const macs = kind.macsPerSample(config, stateDim, imageShape);
    assert(Number.isFinite(macs) && macs > 0, `macsPerSample ${macs}`);
    assertEquals(dynamicsWidth(kind.example), width, "dynamicsWidth() of the settings as written");
    // A training cell with the example builds through the pipeline schema and the task stage.
    // crossing trajectories have one input: augmented to the example's state size; images are the IDX fixture's.
    const pipeline = PipelineSchema.parse({
      name: "kind-check",
      data: imageShape ? dataKindOf("idx").example : { kind: "crossing-trajectories" },
      model: {
        encoder: imageShape ? { kind: "identity" } : { kind: "augment", dims: stateDim - 1 },
        dynamics: kind.example,
        head: { kind: "linear" },
      },
      solve: {},
      gradient: { method: "gq" },
      train: { epochs: 1 },
    });
    const task = buildTask(pipeline, makeDataset(pipeline.data));
    assertEquals(task.width, width);
  });
}

Deno.test("the mlp kind's width is its width or its widest hidden layer, and a second-order form needs an even state", () => {
  assertEquals(dynamicsWidth({ kind: "mlp", width: 7, depth: 3 }), 7);
  assertEquals(dynamicsWidth({ kind: "mlp", hidden: [4, 9, 2] }), 9);
  assertEquals(dynamicsWidth({ kind: "mlp", hidden: [4], width: 3 }), undefined, "settings that do not parse");
  assertEquals(dynamicsWidth({ kind: "unknown" }), undefined);
  const mlp = modelKindOf("mlp");
  const config = mlp.schema.parse({ kind: "mlp", width: 3 });
  const issues = mlp.checks(config, { stateDim: 3, form: "second-order", dtype: "float32", seed: 0 });
  assertEquals(issues.map((i) => i.path), ["form"]);
  assert(issues[0]!.message.includes("even state size"), issues[0]!.message);
});

Deno.test("modelKindOf() names the known kinds when the kind is unknown", () => {
  assertThrows(() => modelKindOf("resnet"), RangeError, `use one of ${MODEL_KINDS.map((k) => k.kind).join(", ")}`);
});
