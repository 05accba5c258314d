import { readCsv } from "../../data/csv.ts";
import { columnStats } from "../../data/zscore.ts";
import { assert, assertClose, assertEquals } from "../../util/testing.ts";
import { DataSchema } from "../schema.ts";
import { type FileData, fileTask } from "./_file_sources.ts";
import { type CsvDataConfig, CsvDataSchema, loadCsvData } from "./csv.ts";
import { dataIssues } from "./registry.ts";

const fixtures = new URL("../../../tests/fixtures/data/", import.meta.url).pathname;
const csv = (settings: Record<string, unknown>): CsvDataConfig =>
  CsvDataSchema.parse({ kind: "csv", ...settings, file: `${fixtures}${settings.file}` });

function classification(d: FileData) {
  if (d.task !== "classification") throw new Error(`task ${d.task}`);
  return d;
}

Deno.test("csv classification reads features and text labels, with a test file, z-scored by the training rows", () => {
  const c = csv({ file: "classes.csv", task: "classification", label: "species", test: `${fixtures}classes_test.csv` });
  const d = classification(loadCsvData(c));
  assertEquals(d.classes, ["setosa", "versicolor", "virginica"]);
  assertEquals([d.train.inputs.count, d.test.inputs.count, d.train.inputs.dim], [45, 15, 2]);
  assertEquals(Array.from(d.train.labels.slice(0, 4)), [0, 1, 2, 0]);
  const rows = (n: number, r: typeof d.train.inputs) => {
    const out = new Float64Array(n * r.dim);
    for (let i = 0; i < n; i++) r.row(i, out.subarray(2 * i, 2 * i + 2));
    return out;
  };
  const s = columnStats(rows(45, d.train.inputs), 2);
  assert(s.mean.every((m) => Math.abs(m) < 1e-12), `mean ${s.mean}`);
  assertClose(s.std, [1, 1], 1e-12, "std");
  // The test rows are scaled by the training statistics, so theirs are not exactly 0 and 1.
  assert(columnStats(rows(15, d.test.inputs), 2).mean[0] !== 0);
  const task = fileTask(d, [0, 1]);
  assertEquals([task.dataDim, task.outDim, task.test.size, task.test.times], [2, 3, 15, [0, 1]]);
});

Deno.test("csv classification holds out a seeded testFraction when there is no test file", () => {
  const c = csv({ file: "classes.csv", task: "classification", label: "species", testFraction: 0.2, seed: 3 });
  const d = classification(loadCsvData(c));
  assertEquals([d.train.inputs.count, d.test.inputs.count], [36, 9]);
  const again = classification(loadCsvData({ ...c, seed: 4 }));
  assert(again.test.labels.join() !== d.test.labels.join() || again.train.labels.join() !== d.train.labels.join());
});

Deno.test("csv regression predicts the target columns from the other columns at the end time", () => {
  const d = loadCsvData(csv({ file: "regression.csv", task: "regression", targets: ["y1", "y2"], normalize: "none" }));
  if (d.task !== "regression") throw new Error(d.task);
  assertEquals([d.train.inputs.dim, d.train.targets.dims, d.test.targets.dims], [3, [24, 2], [6, 2]]);
  const x = new Float64Array(3);
  d.train.inputs.row(0, x);
  const [u, v, w] = x;
  // The file holds the targets rounded to 4 decimals.
  assert(Math.abs(d.train.targets.data[0]! - (u! + 2 * v!)) < 2e-4, "y1 = u + 2v");
  assert(Math.abs(d.train.targets.data[1]! - (w! - u!)) < 2e-4, "y2 = w − u");
});

Deno.test("csv time series groups long rows into series from their first time, with missing values masked", () => {
  const c = csv({ file: "series.csv", task: "time-series", id: "series", time: "t", testFraction: 0.25 });
  const d = loadCsvData(c);
  if (d.task !== "time-series") throw new Error(d.task);
  assertEquals([d.train.series.length, d.test.series.length, d.train.channels], [12, 4, 2]);
  for (const s of d.train.series) {
    assertEquals(s.times[0], 0, "align: start");
    assert(s.times.every((t, k) => k === 0 || t > s.times[k - 1]!), "sorted");
  }
  const missing = [...d.train.series, ...d.test.series].reduce((n, s) => n + s.values.filter(Number.isNaN).length, 0);
  const cells = readCsv(c.file).rows.flatMap((r) => r.slice(2));
  assertEquals(missing, cells.filter((v) => v === "" || v === "NA").length, "the fixture's empty and NA cells");
  assert(missing > 0);
  const task = fileTask(d, [0, 1]);
  const b = task.train.batch(Int32Array.of(0, 1, 2));
  assertEquals(b.targets.length, b.times.length * 3 * 2);
  assert(b.times.length > 8 && b.mask.some((m) => m === 0), "a union of irregular times, with a mask");
});

Deno.test("csv time series with align none needs every series to start at the same time", () => {
  const c = csv({ file: "series.csv", task: "time-series", id: "series", time: "t", align: "none" });
  const [issue] = dataIssues(c);
  assertEquals(issue?.path, "data.align");
  assert(
    /series.csv: series "s\d+" starts at t = [\d.]+, series "s\d+" at [\d.]+: with align "none"/.test(issue!.message),
    issue!.message,
  );
});

Deno.test("csv data name the field and the file of a missing column, a bad cell, or a test file without the columns", () => {
  const at = (settings: Record<string, unknown>) => dataIssues(csv(settings))[0];
  const missing = at({ file: "classes.csv", task: "classification", label: "species", features: ["a", "c"] });
  assertEquals(missing, {
    path: "data.features[1]",
    message: `${fixtures}classes.csv: no column "c" (columns: a, b, species)`,
  });
  const text = at({ file: "classes.csv", task: "regression", targets: ["b"], features: ["species"] });
  assertEquals(text?.path, "data.features[0]");
  assert(text!.message.includes('line 2: column "species" holds "setosa", not a number'), text!.message);
  const test = at({ file: "series.csv", task: "classification", label: "t", test: `${fixtures}classes.csv` });
  assertEquals(test?.path, "data.test");
  assert(test!.message.startsWith(`${fixtures}classes.csv: no column "t"`), test!.message);
});

Deno.test("the csv schema asks for the fields of the task and refuses the others", () => {
  const issues = (settings: Record<string, unknown>) => {
    const r = DataSchema.safeParse({ kind: "csv", file: "a.csv", ...settings });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };
  assertEquals(issues({ task: "classification" }), ['label: Task "classification" needs label']);
  assertEquals(issues({ task: "time-series", id: "i", time: "t", targets: ["y"] }), [
    'targets: Field "targets" is not used by task "time-series"; remove it',
  ]);
  assertEquals(issues({ task: "regression", targets: ["y"], test: "b.csv", testFraction: 0.5 }), [
    "testFraction: Give a test file or a testFraction, not both",
  ]);
});
