import { assert, assertEquals } from "../util/testing.ts";
import { exponentialProblem } from "../data/analytic.ts";
import { nestedSpheres } from "../data/nested_spheres.ts";
import { sines } from "../data/sines.ts";
import { main } from "./cli.ts";
import { makeDataset } from "./data_stage.ts";
import { runPipelineFile } from "./engine.ts";
import { DataSchema } from "./schema.ts";

Deno.test("makeDataset() passes every data setting through to its generator", () => {
  const spheres = makeDataset(DataSchema.parse({ kind: "nested-spheres", dim: 3, r1: 0.2, trainPerClass: 7, seed: 4 }));
  assert(spheres.kind === "nested-spheres");
  const direct = nestedSpheres({ dim: 3, r1: 0.2, trainPerClass: 7, seed: 4 });
  assertEquals(spheres.data.train.inputs.data, direct.train.inputs.data);
  assertEquals(spheres.data.test.labels.data, direct.test.labels.data);

  const s = makeDataset(
    DataSchema.parse({ kind: "sines", times: "irregular", timesPerSequence: 4, train: 3, seed: 2 }),
  );
  assert(s.kind === "sines");
  assertEquals(
    s.data.train.sequences,
    sines({ times: "irregular", timesPerSequence: 4, train: 3, seed: 2 }).train.sequences,
  );

  const a = makeDataset(DataSchema.parse({ kind: "analytic", z0: 2, T: { min: 1, max: 2, count: 3 } }));
  assert(a.kind === "analytic");
  assertEquals(a.data.dLda, exponentialProblem({ z0: 2, T: { min: 1, max: 2, count: 3 } }).dLda);

  const c = makeDataset(DataSchema.parse({ kind: "crossing-trajectories" }));
  assert(c.kind === "crossing-trajectories" && c.data.inputs.data[0] === 1);
});

const pipelines = new URL("../../tests/fixtures/pipelines/files/", import.meta.url).pathname;

Deno.test("main() refuses a missing data file, a missing column and a shape mismatch with exit 2, naming file and field, writing nothing", async () => {
  const out = await Deno.makeTempDir();
  const data = new URL("../../tests/fixtures/data/", import.meta.url).pathname;
  const expected: Record<string, string> = {
    "missing_file.yaml": `data.file: ${data}no_such.csv: file not found`,
    "missing_column.yaml": `data.label: ${data}classes.csv: no column "specis" (columns: a, b, species)`,
    "shape_mismatch.yaml": `data.y: ${data}y_short.npy: has 11 samples (shape [11]), ${data}x.npy has 12`,
  };
  try {
    for (const [name, issue] of Object.entries(expected)) {
      const messages: string[] = [];
      const file = `${pipelines}${name}`;
      const code = await main([file, "--out", out, "--threads", "1"], { error: (m) => messages.push(m) });
      assertEquals([code, messages], [2, [`${file}: ${issue}`]], name);
    }
    assertEquals([...Deno.readDirSync(out)], [], "nothing written");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("a user's CSV time series with irregular times trains from a pipeline file, its files relative to it, and its loss falls", async () => {
  const out = await Deno.makeTempDir();
  try {
    const run = await runPipelineFile(`${pipelines}series_csv.yaml`, {
      out,
      threads: 1,
      report: false,
      progress: { tty: false, write: () => {} },
    });
    assertEquals(run.exitCode, 0, JSON.stringify(run.results.cells));
    const epochs = run.results.results.epochs;
    assertEquals(epochs.length, 30);
    const first = epochs[0]!.trainLoss, last = epochs.at(-1)!.trainLoss;
    assert(last < 0.1 * first, `training loss ${first} → ${last}`);
    const [r] = run.results.results.runs;
    assert(r !== undefined && r.testMetric! < 0.1, `test MSE ${r?.testMetric}`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
