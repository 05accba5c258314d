import { assert, assertEquals } from "../../util/testing.ts";
import { buildTask } from "../task_stage.ts";
import { makeDataset } from "../data_stage.ts";
import { DataSchema, PipelineSchema } from "../schema.ts";
import { DATA_KINDS, dataKindOf, isClassificationData, resolveDataFiles } from "./registry.ts";

for (const kind of DATA_KINDS) {
  Deno.test(`data kind "${kind.kind}" has a schema, an example that parses and generates, and consistent sizes and cost`, () => {
    const config = kind.schema.parse(kind.example);
    assertEquals((config as { kind: string }).kind, kind.kind, "the schema's kind literal is the kind's name");
    assert(DataSchema.safeParse(kind.example).success, "the pipeline's data union takes the kind");
    assertEquals(dataKindOf(kind.kind) as unknown, kind as unknown);
    assert(kind.generate(config as never) !== undefined, "generate() makes the data");
    const training = kind.training;
    if (!training) return;
    // A quick training cell on the example builds, with the sizes and the epoch's samples the kind declares.
    const pipeline = PipelineSchema.parse({
      name: "kind-check",
      data: kind.example,
      model: { dynamics: { kind: "mlp", width: 4 }, head: { kind: "linear" } },
      solve: {},
      gradient: { method: "gq" },
      train: { epochs: 1 },
    });
    const task = buildTask(pipeline, makeDataset(pipeline.data));
    const sizes = training.sizes(pipeline.data as never);
    assertEquals(task.model.dataDim, sizes.dataDim, "sizes().dataDim");
    assertEquals(training.samplesPerEpoch(pipeline.data as never), task.train.size, "samplesPerEpoch()");
    assert(task.test.size > 0, "a test set");
  });
}

Deno.test("dataKindOf() names the known kinds when the kind is unknown", () => {
  let message = "";
  try {
    dataKindOf("mnist");
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, `Unknown data kind "mnist": use one of ${DATA_KINDS.map((k) => k.kind).join(", ")}`);
});

Deno.test("isClassificationData() follows the kind, or the settings where the kind depends on them", () => {
  assert(isClassificationData({ kind: "nested-spheres" }) && isClassificationData({ kind: "idx" }));
  assert(isClassificationData({ kind: "csv", task: "classification" }));
  assert(!isClassificationData({ kind: "csv", task: "regression" }) && !isClassificationData({ kind: "sines" }));
  assert(!isClassificationData({ kind: "npy" }) && !isClassificationData(undefined) && !isClassificationData({}));
});

Deno.test("resolveDataFiles() resolves the data stage's relative files against the pipeline file's folder", () => {
  const raw = {
    data: { kind: "idx", images: "img", labels: "/abs/lab", test: { images: "t/img", labels: "t/lab" }, seed: 1 },
    quick: { data: { images: "q" }, train: { epochs: 1 } },
    sweep: { "data.labels": ["a", "/b"], "data.test": [{ images: "c", labels: "d" }], "model.dynamics.width": [2] },
  };
  const out = resolveDataFiles(raw, "/p/dir/run.yaml") as typeof raw;
  assertEquals(out.data, {
    kind: "idx",
    images: "/p/dir/img",
    labels: "/abs/lab",
    test: { images: "/p/dir/t/img", labels: "/p/dir/t/lab" },
    seed: 1,
  });
  assertEquals(out.quick, { data: { images: "/p/dir/q" }, train: { epochs: 1 } });
  assertEquals(out.sweep, {
    "data.labels": ["/p/dir/a", "/b"],
    "data.test": [{ images: "/p/dir/c", labels: "/p/dir/d" }],
    "model.dynamics.width": [2],
  });
  assertEquals(raw.data.images, "img", "the input is not changed");
  assertEquals(resolveDataFiles({ data: { kind: "sines", times: 10 } }, "x.yaml"), {
    data: { kind: "sines", times: 10 },
  });
});
