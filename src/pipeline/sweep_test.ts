import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { PipelineError } from "./errors.ts";
import { dynamicsWidth } from "./model_kinds/registry.ts";
import { type PipelineInput, PipelineSchema } from "./schema.ts";
import {
  applyQuick,
  cellId,
  deepMerge,
  distinctIds,
  expandSweep,
  isSchemaPath,
  setPath,
  sweepIssues,
} from "./sweep.ts";

const base: PipelineInput = {
  name: "t",
  data: { kind: "crossing-trajectories" },
  model: { dynamics: { kind: "mlp", width: 5 } },
  solve: {},
  gradient: { method: "gq" },
  train: { epochs: 1 },
};

Deno.test("expandSweep() gives the Cartesian product, first key slowest, each cell re-validated", () => {
  const config = PipelineSchema.parse({
    ...base,
    sweep: { "model.dynamics.width": [5, 50, 500], "gradient.method": ["direct", "gq"], "train.seed": [0, 1] },
  });
  const cells = expandSweep(config);
  assertEquals(cells.length, 12);
  const tuples = cells.map((
    c,
  ) => [dynamicsWidth(c.config.model?.dynamics), c.config.gradient.method, c.config.train?.seed]);
  assertEquals(tuples.slice(0, 4), [[5, "direct", 0], [5, "direct", 1], [5, "gq", 0], [5, "gq", 1]]);
  assertEquals(tuples[11], [500, "gq", 1]);
  assertEquals(new Set(cells.map((c) => c.id)).size, 12, "ids are distinct");
  for (const c of cells) {
    assertEquals(c.config.sweep, undefined);
    assertEquals(c.config.gradient.gq.C, 0.1, "defaults survive");
  }
});

Deno.test("sweepIssues() refuses a sweep path inside another swept path, whose values would replace it", () => {
  const config = PipelineSchema.parse({
    ...base,
    sweep: { "model.dynamics.width": [5, 50], "model.dynamics": [{ kind: "mlp", width: 7, depth: 1 }] },
  });
  const issues = sweepIssues(config);
  assertEquals(issues.map((i) => i.path), ["sweep.model.dynamics.width"]);
  assert(issues[0]!.message.includes("lies inside sweep.model.dynamics"), issues[0]!.message);
  assertThrows(() => expandSweep(config), PipelineError);
});

Deno.test("sweepIssues() refuses sweeping runtime settings, which one Runtime shares across cells", () => {
  const config = PipelineSchema.parse({ ...base, sweep: { "runtime.backend": ["cpu", "webgpu"] } });
  assertEquals(sweepIssues(config).map((i) => [i.path, i.message]), [
    ["sweep.runtime.backend", 'Cannot sweep over "runtime"'],
  ]);
});

Deno.test("distinctIds() gives later cells of a shared id _2, _3 in sweep order and leaves the rest as they are", () => {
  const config = PipelineSchema.parse(base);
  const cell = (id: string, width: number) => ({ id, values: { width }, config });
  const cells = distinctIds([cell("a_1", 1), cell("b_2", 2), cell("a_1", 3), cell("a_1", 4)]);
  assertEquals(cells.map((c) => c.id), ["a_1", "b_2", "a_1_2", "a_1_3"]);
  assertEquals(cells.map((c) => c.values.width), [1, 2, 3, 4]);
});

Deno.test("expandSweep() gives one cell with id base when there is no sweep", () => {
  const cells = expandSweep(PipelineSchema.parse(base));
  assertEquals(cells.map((c) => c.id), ["base"]);
  assertEquals(cells[0]?.values, {});
});

Deno.test("cellId() depends only on the values, not on key order, and separates look-alike values", () => {
  const a = cellId({ "model.dynamics.width": 50, "gradient.method": "gq" });
  const b = cellId({ "gradient.method": "gq", "model.dynamics.width": 50 });
  assertEquals(a, b);
  assert(/^method-gq_width-50_[0-9a-f]{8}$/.test(a), a);
  assert(cellId({ "solve.rtol": 0.001 }) !== cellId({ "solve.rtol": "0.001" }), "number vs string");
  assert(cellId({ "solve.rtol": 1e-3 }) !== cellId({ "solve.backward.rtol": 1e-3 }), "same last segment");
  assertEquals(cellId({ "solve.rtol": 1e-3 }), cellId({ "solve.rtol": 0.001 }), "same number");
});

Deno.test("isSchemaPath() accepts fields of any union variant and rejects unknown ones", () => {
  for (
    const p of [
      "model.dynamics.width",
      "gradient.gq.C",
      "data.r1",
      "data.times",
      "train.optimizer.lr",
      "solve.backward.rtol",
    ]
  ) {
    assert(isSchemaPath(p), p);
  }
  assert(isSchemaPath("train.optimizer.betas.0"), "tuple index");
  assert(isSchemaPath("model.dynamics.hidden.1"), "array index");
  for (const p of ["model.dynamics.widht", "solve.backward.dt", "gradient.C", "train.optimizer.betas.2"]) {
    assert(!isSchemaPath(p), p);
  }
});

Deno.test("sweepIssues() reports each bad value and cross-field conflicts between cells", () => {
  const bad = PipelineSchema.parse({ ...base, sweep: { "solve.solver": ["dopri5", "euler", "rk5"] } });
  const issues = sweepIssues(bad);
  assertEquals(issues.map((i) => i.path), ["sweep.solve.solver[1]", "sweep.solve.solver[2]"]);
  assert(issues[0]?.message.startsWith("solve.dt: "), issues[0]?.message);
  // Valid alone, invalid together: an lr table that does not cover the widest width.
  const table = PipelineSchema.parse({
    ...base,
    train: { epochs: 1, optimizer: { lr: [{ maxWidth: 10, lr: 1e-2 }, { lr: 1e-3 }] } },
    sweep: { "model.dynamics.width": [5, 50], "train.optimizer.lr": [[{ maxWidth: 10, lr: 1e-2 }]] },
  });
  const combo = sweepIssues(table);
  assert(
    combo.length === 1 && combo[0]?.message.includes("No learning-rate row covers the model width 50"),
    JSON.stringify(combo),
  );
  assertThrows(() => expandSweep(table, "t.yaml"), PipelineError, "t.yaml: sweep: ");
});

Deno.test("applyQuick() merges objects recursively and replaces lists", () => {
  const config = PipelineSchema.parse({
    ...base,
    evaluate: { metrics: ["loss", "mse", "nfe"] },
    quick: { train: { epochs: 3 }, evaluate: { metrics: ["loss"] } },
  });
  const q = applyQuick(config);
  assertEquals(q.train?.epochs, 3);
  assertEquals(q.evaluate.metrics, ["loss"]);
  assertEquals(dynamicsWidth(q.model?.dynamics), 5);
  const bad = PipelineSchema.parse({ ...base, quick: { solve: { solver: "euler" } } });
  assertThrows(() => applyQuick(bad, "b.yaml"), PipelineError, "b.yaml: quick.solve.dt: ");
});

Deno.test("deepMerge() and setPath() leave their inputs unchanged", () => {
  const a = { x: { y: 1, z: [1, 2] } };
  const merged = deepMerge(a, { x: { z: [3] }, w: 2 });
  assertEquals(merged, { x: { y: 1, z: [3] }, w: 2 });
  const set = setPath(a, "x.q.r", 5);
  assertEquals(set, { x: { y: 1, z: [1, 2], q: { r: 5 } } });
  assertEquals(a, { x: { y: 1, z: [1, 2] } });
});

Deno.test("sweepIssues() refuses a value listed twice under one path, naming the field and the value", () => {
  const config = PipelineSchema.parse({
    ...base,
    sweep: { "model.dynamics.width": [4, 8, 4], "gradient.method": ["gq", "adjoint", "gq"] },
  });
  const issues = sweepIssues(config);
  assertEquals(issues.map((i) => i.path), ["sweep.model.dynamics.width[2]", "sweep.gradient.method[2]"]);
  assert(issues[0]!.message.startsWith("Value 4 repeats sweep.model.dynamics.width[0]"), issues[0]!.message);
  assert(issues[1]!.message.startsWith('Value "gq" repeats sweep.gradient.method[0]'), issues[1]!.message);
  const e = assertThrows(() => expandSweep(config, "d.yaml"), PipelineError) as PipelineError;
  assertEquals(e.exitCode, 2);
  assert(e.message.startsWith("d.yaml: sweep.model.dynamics.width[2]: Value 4 repeats"), e.message);
  // Objects are compared by content, whatever their key order.
  const objects = PipelineSchema.parse({
    ...base,
    sweep: { "train.optimizer": [{ lr: 0.01, eps: 1e-8 }, { eps: 1e-8, lr: 0.01 }] },
  });
  assertEquals(sweepIssues(objects).map((i) => i.path), ["sweep.train.optimizer[1]"]);
});
