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

Deno.test("main() refuses a missing or corrupt IDX file of an image pipeline with exit 2 before training, naming the file", async () => {
  const dir = await Deno.makeTempDir();
  const idx = new URL("../../tests/fixtures/data/", import.meta.url).pathname;
  try {
    // A truncated images file: the header promises more pixels than the file holds.
    const corrupt = `${dir}/corrupt-images-idx3-ubyte`;
    await Deno.writeFile(corrupt, (await Deno.readFile(`${idx}images-idx3-ubyte`)).slice(0, 100));
    const cases: [string, RegExp][] = [
      [`${dir}/missing-images-idx3-ubyte`, /file not found|No such file/],
      [corrupt, /expected|holds|truncated/i],
    ];
    for (const [images, why] of cases) {
      const file = `${dir}/images.yaml`;
      await Deno.writeTextFile(
        file,
        JSON.stringify({
          name: "images-bad",
          data: { kind: "idx", images, labels: `${idx}labels-idx1-ubyte.gz` },
          model: {
            encoder: { kind: "conv", channels: 2 },
            dynamics: { kind: "conv", channels: 2 },
            head: { kind: "mlp", hidden: [4] },
          },
          solve: {},
          gradient: { method: "gq" },
          train: { epochs: 1 },
        }),
      );
      const messages: string[] = [];
      const code = await main([file, "--out", `${dir}/out`, "--threads", "1"], { error: (m) => messages.push(m) });
      assertEquals(code, 2, messages.join("\n"));
      assertEquals(messages.length, 1, messages.join("\n"));
      assert(messages[0]!.startsWith(`${file}: data.images: ${images}`), messages[0]);
      assert(why.test(messages[0]!), messages[0]);
    }
    assertEquals(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["corrupt-images-idx3-ubyte", "images.yaml"],
      "no output",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
