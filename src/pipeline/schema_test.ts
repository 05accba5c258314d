import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { learningRateFor, PipelineSchema } from "./schema.ts";
import { renderJsonSchema, SCHEMA_PATH } from "./write_schema.ts";

Deno.test("pipelines/schema.json is the JSON Schema generated from the zod schema (run write_schema.ts if not)", async () => {
  const committed = await Deno.readTextFile(new URL(`../../${SCHEMA_PATH}`, import.meta.url));
  assert(
    committed === renderJsonSchema(),
    `${SCHEMA_PATH} is stale: run deno run --allow-write=${SCHEMA_PATH} src/pipeline/write_schema.ts`,
  );
});

Deno.test("renderJsonSchema() leaves fields with defaults optional and refuses unknown keys", () => {
  const schema = JSON.parse(renderJsonSchema());
  assertEquals(schema.required, ["name", "data", "solve", "gradient"]);
  assertEquals(schema.additionalProperties, false);
  const solve = schema.properties.solve;
  assertEquals(solve.required, undefined);
  assertEquals(solve.properties.rtol.exclusiveMinimum, 0);
  assertEquals(solve.properties.rtol.default, 1e-3);
});

Deno.test("PipelineSchema fills the paper's defaults", () => {
  const c = PipelineSchema.parse({
    name: "d",
    data: { kind: "nested-spheres" },
    model: { dynamics: { kind: "mlp", width: 20 } },
    solve: {},
    gradient: { method: "gq" },
    train: { epochs: 1 },
  });
  assert(c.data.kind === "nested-spheres");
  assertEquals([c.data.r1, c.data.r2, c.data.r3, c.data.trainPerClass, c.data.testPerClass], [0.4, 0.7, 0.9, 1000, 50]);
  assertEquals([c.solve.solver, c.solve.rtol, c.solve.atol], ["dopri5", 1e-3, 1e-3]);
  assertEquals(c.train?.optimizer, { kind: "adam", lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 });
  assertEquals(c.model?.encoder, { kind: "identity" });
  assertEquals(c.model?.form, "first-order");
  const analytic = PipelineSchema.parse({
    name: "a",
    data: { kind: "analytic" },
    solve: {},
    gradient: { method: "direct" },
  });
  assert(analytic.data.kind === "analytic");
  assertEquals([analytic.data.z0, analytic.data.a, analytic.data.T], [10, 0.2, { min: 19, max: 29, count: 11 }]);
});

Deno.test("learningRateFor() picks the first row covering the width", () => {
  const table = [{ maxWidth: 20, lr: 5e-3 }, { maxWidth: 500, lr: 1e-3 }, { maxWidth: 1500, lr: 2e-4 }, { lr: 1e-4 }];
  assertEquals([5, 20, 21, 500, 1000, 1500, 2000, 3000].map((w) => learningRateFor(table, w)), [
    5e-3,
    5e-3,
    1e-3,
    1e-3,
    2e-4,
    2e-4,
    1e-4,
    1e-4,
  ]);
  assertEquals(learningRateFor(0.01, 1e6), 0.01);
  assertThrows(() => learningRateFor([{ maxWidth: 20, lr: 1 }], 21), RangeError, "width 21");
});

Deno.test("PipelineSchema refuses a memory stage without the analytic problem and peak-memory without a memory stage", () => {
  const r = PipelineSchema.safeParse({
    name: "m",
    data: { kind: "crossing-trajectories" },
    model: { dynamics: { kind: "mlp", width: 4 } },
    solve: {},
    gradient: { method: "gq" },
    train: { epochs: 1 },
    memory: {},
  });
  assert(!r.success);
  assertEquals(r.error.issues.map((i) => i.path.join(".")), ["memory"]);
  const a = PipelineSchema.safeParse({
    name: "m",
    data: { kind: "analytic" },
    solve: {},
    gradient: { method: "gq" },
    evaluate: { metrics: ["nfe", "peak-memory"] },
  });
  assert(!a.success);
  assertEquals(a.error.issues.map((i) => [i.path.join("."), i.message.includes("memory: {}")]), [
    ["evaluate.metrics.1", true],
  ]);
});

Deno.test("PipelineSchema keeps neural-SDE settings to stochastic data and asks for what SDE training needs", () => {
  const sde = {
    name: "ou",
    data: { kind: "ornstein-uhlenbeck" },
    model: { dynamics: { kind: "mlp", width: 4, time: "concat" } },
    solve: { dt: 0.05 },
    noise: { kind: "karhunen-loeve", cosines: 3 },
    gradient: { method: "gq" },
    train: { epochs: 1 },
    evaluate: { metrics: ["kl"] },
  };
  assert(PipelineSchema.safeParse(sde).success, "a valid SDE pipeline");
  const paths = (input: object) => {
    const r = PipelineSchema.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };
  const { noise: _noise, ...withoutNoise } = sde;
  assert(paths(withoutNoise).some((m) => m.startsWith('noise: Method "gq" trains a neural SDE through noise')));
  assertEquals(paths({ ...withoutNoise, gradient: { method: "sde-adjoint" } }), [], "SDE methods need no noise stage");
  assert(paths({ ...sde, solve: {} }).some((m) => m.startsWith("solve.dt: Stochastic data need solve.dt")));
  const ode = { ...sde, data: { kind: "crossing-trajectories" } };
  const issues = paths({
    ...ode,
    gradient: { method: "sde-direct" },
    model: { ...sde.model, diffusion: sde.model.dynamics },
    report: { title: "t", charts: ["training-time", "sde-densities"] },
  });
  for (
    const start of [
      'gradient.method: Method "sde-direct"',
      'noise: Stage "noise"',
      "model.diffusion:",
      'evaluate.metrics.0: Metric "kl"',
      'report.charts.1: Chart "sde-densities" draws neural SDEs',
    ]
  ) {
    assert(issues.some((m) => m.startsWith(start)), `expected an issue starting ${start}: ${issues.join("; ")}`);
  }
});
