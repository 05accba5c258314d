import { assert, assertEquals } from "../util/testing.ts";
import { PipelineSchema } from "./schema.ts";
import { configHash } from "./settings.ts";

Deno.test("configHash() ignores the report and the checkpoint schedule, not what a cell computes", () => {
  const base = {
    name: "hash",
    data: { kind: "nested-spheres", trainPerClass: 10, testPerClass: 5 },
    model: { encoder: { kind: "augment", dims: 1 }, dynamics: { kind: "mlp", width: 8 }, head: { kind: "linear" } },
    solve: {},
    gradient: { method: "gq" },
    train: { epochs: 2 },
  };
  const hash = (extra: Record<string, unknown>, train: Record<string, unknown> = {}) =>
    configHash(PipelineSchema.parse({ ...base, ...extra, train: { ...base.train, ...train } }));
  const h = hash({});
  assertEquals(hash({ report: { title: "Another title" } }), h);
  assertEquals(hash({}, { checkpoint: { everyEpochs: 5 } }), h);
  assert(hash({}, { epochs: 3 }) !== h, "the epochs count");
  assert(hash({ gradient: { method: "adjoint" } }) !== h, "the method counts");
});
