import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { PipelineSchema } from "./schema.ts";
import { configHash, gradientMethod } from "./settings.ts";

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

Deno.test("gradientMethod() gives direct the activations setting, and leaving it out changes no configuration hash", () => {
  const config = (gradient: Record<string, unknown>) =>
    PipelineSchema.parse({
      name: "m",
      data: { kind: "nested-spheres", trainPerClass: 10, testPerClass: 5 },
      model: { dynamics: { kind: "mlp", width: 8 } },
      solve: {},
      gradient,
      train: { epochs: 1 },
    });
  assertEquals(gradientMethod(config({ method: "direct" })), { kind: "direct", activations: "keep" });
  assertEquals(gradientMethod(config({ method: "direct", activations: "recompute" })), {
    kind: "direct",
    activations: "recompute",
  });
  assert(
    configHash(config({ method: "direct" })) !== configHash(config({ method: "direct", activations: "recompute" })),
  );
  // A file written before the setting existed parses to the same configuration, so its cells resume.
  assertEquals(Object.hasOwn(config({ method: "direct" }).gradient, "activations"), false);
  assertThrows(() => config({ method: "direct", activations: "all" }), Error, /activations/);
});
