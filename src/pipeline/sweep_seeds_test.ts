import { Runtime } from "../runtime/session.ts";
import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { runPipeline } from "./engine.ts";
import { PipelineError } from "./errors.ts";
import { type PipelineInput, PipelineSchema } from "./schema.ts";
import { applyQuick, expandSweep, SEED_PATHS, seedList } from "./sweep.ts";
import { DRAWN_PATHS } from "../report/experiment.ts";

const base: PipelineInput = {
  name: "seeds",
  data: { kind: "nested-spheres", trainPerClass: 10, testPerClass: 5 },
  model: { dynamics: { kind: "mlp", width: 4 } },
  solve: {},
  gradient: { method: "gq" },
  train: { epochs: 2 },
  sweep: { "gradient.method": ["direct", "gq"] },
};

Deno.test("seeds multiply every cell, the seed varying fastest and set in the model, training and data", () => {
  const cells = expandSweep(PipelineSchema.parse({ ...base, seeds: [4, 9] }));
  assertEquals(cells.map((c) => [c.values["gradient.method"], c.values.seed]), [
    ["direct", 4],
    ["direct", 9],
    ["gq", 4],
    ["gq", 9],
  ]);
  for (const c of cells) {
    const seed = c.values.seed;
    assertEquals([c.config.model!.initSeed, c.config.train!.seed, (c.config.data as { seed: number }).seed], [
      seed,
      seed,
      seed,
    ]);
    assert(c.id.includes(`seed-${seed}`), c.id);
    assertEquals(c.config.seeds, undefined, "a cell is one seed's run");
  }
  assertEquals(new Set(cells.map((c) => c.id)).size, 4);
  // A count n is seeds 0 … n − 1; without seeds the cells and their ids are as before.
  assertEquals(seedList(PipelineSchema.parse({ ...base, seeds: 3 })), [0, 1, 2]);
  const plain = expandSweep(PipelineSchema.parse(base));
  assertEquals(plain.map((c) => c.values), [{ "gradient.method": "direct" }, { "gradient.method": "gq" }]);
});

Deno.test("seeds are refused when they repeat or clash with a swept seed, and quick can change them", () => {
  assertEquals(PipelineSchema.safeParse({ ...base, seeds: [1, 1] }).success, false);
  assertEquals(PipelineSchema.safeParse({ ...base, seeds: 0 }).success, false);
  const clash = PipelineSchema.parse({ ...base, seeds: 2, sweep: { "model.initSeed": [1, 2] } });
  assertThrows(() => expandSweep(clash), PipelineError, /sweep\.model\.initSeed: .*seeds set model\.initSeed/);
  const quick = applyQuick(PipelineSchema.parse({ ...base, seeds: 5, quick: { seeds: [0] } }));
  assertEquals(expandSweep(quick).length, 2);
});

Deno.test("a run with seeds records each seed's run, its training time apart from its evaluation time", async () => {
  const out = await Deno.makeTempDir();
  try {
    const config = PipelineSchema.parse({ ...base, sweep: undefined, seeds: 2 });
    const { results } = await runPipeline(config, {
      out,
      runtime: new Runtime({ threads: 1 }),
      report: false,
      progress: { write: () => {} },
    });
    const runs = results.results.runs;
    assertEquals(runs.map((r) => r.seed), [0, 1]);
    assert(runs[0]!.trainLoss !== runs[1]!.trainLoss, "the seeds train different models");
    for (const run of runs) {
      const epochs = results.results.epochs.filter((e) => e.cellId === run.cellId);
      const evaluation = epochs.reduce((s, e) => s + e.evaluationSeconds!, 0);
      assert(run.evaluationSeconds! > 0, `evaluation ${run.evaluationSeconds}`);
      assertClose(run.evaluationSeconds!, evaluation, 1e-9);
      assertClose(run.trainSeconds! + run.evaluationSeconds!, epochs.at(-1)!.elapsedSeconds, 1e-9);
    }
    assertEquals(results.cells.map((c) => c.values), [{ seed: 0 }, { seed: 1 }]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("the report draws the paths a pipeline's seeds set as seeds, not as variants of a method", () => {
  for (const path of [...SEED_PATHS, "seed"]) assert(DRAWN_PATHS.has(path), path);
});
