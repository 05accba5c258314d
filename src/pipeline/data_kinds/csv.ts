/**
 * `data.kind: csv` — a user's CSV file with a header row, for one of three
 * tasks:
 *
 * - `classification`: `features` columns (default: every column but the
 *   label) → the class in column `label`, at the end of the time span
 *   (solve.times, default 0…1). Classes are the distinct labels of train and
 *   test, in numeric order when all are numbers, else in text order.
 * - `regression`: `features` → the `targets` columns at the end of the span.
 * - `time-series`: long format, one row per (series `id`, `time`) with the
 *   `values` columns (default: every other column), each series with its own
 *   times; a batch is solved on the union of its series' times with a mask
 *   (src/data/series.ts). The state starts from each series' values at its
 *   first time (a value missing there starts at the training mean); with
 *   `align: start` (default) each series' clock starts at its first time, with
 *   `align: none` times are used as written and every series must start at the
 *   same time. An empty or `NA` value cell is missing: that (time, series)
 *   entry is left out of the loss (all its channels; the mask is per entry).
 *
 * Test rows come from a `test` file with the same columns, or a seeded
 * `testFraction` of the rows (of the series, for time series). With
 * `normalize: z-score` (default) features, targets and values are z-scored by
 * the training rows' mean and standard deviation; test MSEs are then in those
 * units. Relative paths are relative to the pipeline file.
 *
 * @module
 */
import { z } from "zod";
import { csvColumn, csvNumbers, csvStrings, type CsvTable, readCsv } from "../../data/csv.ts";
import { firstValues, groupSeries, type Series, type SeriesSet } from "../../data/series.ts";
import { splitIndices } from "../../data/split.ts";
import { columnStats, standardize } from "../../data/zscore.ts";
import { tensor } from "../../onnx/tensor.ts";
import { type FileData, fileSamples, fileSizes, fileTask, tensorRows } from "./_file_sources.ts";
import {
  atField,
  cachedLoad,
  DataFieldError,
  DEFAULT_TEST_FRACTION,
  filePath,
  issuesOf,
  splitSeed,
  TASKS,
  testFraction,
} from "./_files.ts";
import { dataKind } from "./data_kind.ts";

const columnName = z.string().min(1);

/** Which fields each task uses. */
const TASK_FIELDS = {
  classification: { required: ["label"], allowed: ["label", "features"] },
  regression: { required: ["targets"], allowed: ["targets", "features"] },
  "time-series": { required: ["id", "time"], allowed: ["id", "time", "values", "align"] },
} as const;
const TASK_ONLY = ["label", "features", "targets", "id", "time", "values", "align"] as const;

/** A CSV file's settings. */
export const CsvDataSchema = z.object({
  kind: z.literal("csv"),
  file: filePath.describe("CSV file with a header row (relative to the pipeline file)"),
  task: z.enum(TASKS).describe("classification (features → label), regression (features → targets) or time-series"),
  features: z.array(columnName).min(1).optional()
    .describe("classification, regression: input columns. Default: every column not named otherwise"),
  label: columnName.optional().describe("classification: the class column (numbers or text)"),
  targets: z.array(columnName).min(1).optional().describe("regression: the output columns, predicted at the end time"),
  id: columnName.optional().describe("time-series: the series id column (long format)"),
  time: columnName.optional().describe("time-series: the observation time column"),
  values: z.array(columnName).min(1).optional()
    .describe("time-series: the value columns (state and prediction). Default: every column but id and time"),
  align: z.enum(["start", "none"]).optional()
    .describe(
      'time-series: "start" measures each series from its first time; "none" keeps times as written. Default start',
    ),
  test: filePath.optional().describe("Test file with the same columns. Default: a testFraction of the rows"),
  testFraction,
  normalize: z.enum(["z-score", "none"]).default("z-score")
    .describe("Z-score features, targets and values by training statistics, or not. Default z-score"),
  delimiter: z.string().length(1).default(",").describe('Field delimiter. Default ","'),
  seed: splitSeed,
}).strict().superRefine((c, ctx) => {
  const fields = TASK_FIELDS[c.task];
  for (const f of fields.required) {
    if (c[f] === undefined) ctx.addIssue({ code: "custom", path: [f], message: `Task "${c.task}" needs ${f}` });
  }
  for (const f of TASK_ONLY) {
    if (c[f] !== undefined && !(fields.allowed as readonly string[]).includes(f)) {
      ctx.addIssue({ code: "custom", path: [f], message: `Field "${f}" is not used by task "${c.task}"; remove it` });
    }
  }
  if (c.test !== undefined && c.testFraction !== undefined) {
    ctx.addIssue({ code: "custom", path: ["testFraction"], message: "Give a test file or a testFraction, not both" });
  }
});

/** Validated CSV settings. */
export type CsvDataConfig = z.output<typeof CsvDataSchema>;

/** The table's columns that are not named in `used`. */
function otherColumns(table: CsvTable, used: readonly (string | undefined)[]): string[] {
  return table.columns.filter((c) => !used.includes(c));
}

/** Checks that every named column is in the table, naming the field (`features[2]`) of the first that is not. */
function requireColumns(table: CsvTable, named: Record<string, string | readonly string[] | undefined>, at?: string) {
  for (const [field, names] of Object.entries(named)) {
    if (names === undefined) continue;
    (typeof names === "string" ? [names] : names).forEach((name, i) => {
      atField(at ?? (typeof names === "string" ? field : `${field}[${i}]`), () => csvColumn(table, name));
    });
  }
}

/** Columns `names` of a table as a [rows, names] matrix; a bad cell of column j is an error at `field(j)`. */
function matrix(
  table: CsvTable,
  names: readonly string[],
  field: (j: number) => string,
  allowMissing = false,
): Float64Array {
  const n = table.rows.length, k = names.length;
  const out = new Float64Array(n * k);
  names.forEach((name, j) => {
    const col = atField(field(j), () => csvNumbers(table, name, { allowMissing }));
    for (let r = 0; r < n; r++) out[r * k + j] = col[r]!;
  });
  return out;
}

/** Rows `indices` of a [n, k] matrix. */
function pick(m: Float64Array, k: number, indices: ArrayLike<number>): Float64Array {
  const out = new Float64Array(indices.length * k);
  for (let j = 0; j < indices.length; j++) out.set(m.subarray(indices[j]! * k, (indices[j]! + 1) * k), j * k);
  return out;
}

/** Train and test row indices (or series indices) of `n` items: the whole table and the test file, or a split. */
function splitOf(c: CsvDataConfig, n: number, what: string): { train: ArrayLike<number>; test: ArrayLike<number> } {
  if (n < 2) {
    throw new DataFieldError("file", `${c.file}: has ${n} ${what}; a train/test split needs at least 2`);
  }
  return splitIndices(n, c.testFraction ?? DEFAULT_TEST_FRACTION, c.seed);
}

/** Distinct labels in numeric order when all are numbers, else in text order. */
function classOrder(labels: readonly string[]): string[] {
  const distinct = [...new Set(labels)];
  const numeric = distinct.every((l) => Number.isFinite(Number(l)));
  return numeric ? distinct.sort((a, b) => Number(a) - Number(b)) : distinct.sort();
}

function tabular(c: CsvDataConfig, table: CsvTable, testTable: CsvTable | undefined): FileData {
  const outputs = c.task === "classification" ? [c.label!] : c.targets!;
  const features = c.features ?? otherColumns(table, outputs);
  if (features.length === 0) {
    throw new DataFieldError("features", `${c.file}: has no column left for features besides ${outputs.join(", ")}`);
  }
  const named = { features: c.features, label: c.label, targets: c.targets };
  requireColumns(table, named);
  if (testTable) requireColumns(testTable, named, "test");
  const d = features.length;
  // A bad cell is reported at the field naming its column, or at the file when the column is a default.
  const rows = (t: CsvTable, file: string) => ({
    x: matrix(t, features, (j) => file === "file" && c.features ? `features[${j}]` : file),
    y: c.task === "classification"
      ? atField(file === "file" ? "label" : file, () => csvStrings(t, c.label!))
      : matrix(t, outputs, (j) => file === "file" ? `targets[${j}]` : file),
  });
  const main = rows(table, "file");
  const other = testTable ? rows(testTable, "test") : undefined;
  const n = table.rows.length;
  if (other && table.rows.length === 0) throw new DataFieldError("file", `${c.file}: has no data rows`);
  if (other && testTable!.rows.length === 0) throw new DataFieldError("test", `${c.test}: has no data rows`);
  const split = other
    ? { train: Int32Array.from({ length: n }, (_, i) => i), test: Int32Array.from(testTable!.rows, (_, i) => i) }
    : splitOf(c, n, "rows");
  let trainX = pick(main.x, d, split.train), testX = pick(other?.x ?? main.x, d, split.test);
  if (c.normalize === "z-score") {
    const stats = columnStats(trainX, d);
    [trainX, testX] = [standardize(trainX, stats), standardize(testX, stats)];
  }
  const inputs = (x: Float64Array) => tensorRows(tensor(x, [x.length / d, d]));
  if (c.task === "classification") {
    const trainY = Array.from(split.train, (i) => (main.y as string[])[i]!);
    const testY = Array.from(split.test, (i) => ((other?.y ?? main.y) as string[])[i]!);
    const classes = classOrder([...trainY, ...testY]);
    if (classes.length < 2) {
      throw new DataFieldError("label", `${c.file}: column "${c.label}" has one class only (${classes[0]})`);
    }
    const index = new Map(classes.map((name, k) => [name, k]));
    const labels = (ys: string[]) => Int32Array.from(ys, (y) => index.get(y)!);
    return {
      task: "classification",
      classes,
      train: { inputs: inputs(trainX), labels: labels(trainY) },
      test: { inputs: inputs(testX), labels: labels(testY) },
    };
  }
  const k = outputs.length;
  let trainY = pick(main.y as Float64Array, k, split.train);
  let testY = pick((other?.y ?? main.y) as Float64Array, k, split.test);
  if (c.normalize === "z-score") {
    const stats = columnStats(trainY, k);
    [trainY, testY] = [standardize(trainY, stats), standardize(testY, stats)];
  }
  return {
    task: "regression",
    train: { inputs: inputs(trainX), targets: tensor(trainY, [split.train.length, k]) },
    test: { inputs: inputs(testX), targets: tensor(testY, [split.test.length, k]) },
  };
}

/** A table's series, grouped by id, with the file's errors at the right fields. */
function seriesOf(c: CsvDataConfig, t: CsvTable, values: readonly string[], field: string) {
  const main = field === "file";
  const ids = atField(main ? "id" : field, () => csvStrings(t, c.id!));
  const times = atField(main ? "time" : field, () => csvNumbers(t, c.time!));
  const v = matrix(t, values, (j) => main && c.values ? `values[${j}]` : field, true);
  let grouped;
  try {
    grouped = groupSeries(ids, times, v, values.length);
  } catch (e) {
    throw new DataFieldError(field === "test" ? "test" : "time", `${t.file}: ${(e as Error).message}`);
  }
  grouped.series.forEach((s, i) => {
    if (s.times.length < 2) {
      throw new DataFieldError(
        field === "test" ? "test" : "id",
        `${t.file}: series "${grouped.ids[i]}" has 1 observation; a series needs at least 2 times`,
      );
    }
  });
  return grouped;
}

function timeSeries(c: CsvDataConfig, table: CsvTable, testTable: CsvTable | undefined): FileData {
  const values = c.values ?? otherColumns(table, [c.id, c.time]);
  if (values.length === 0) throw new DataFieldError("values", `${c.file}: has no value columns besides id and time`);
  const named = { id: c.id, time: c.time, values: c.values };
  requireColumns(table, named);
  if (testTable) requireColumns(testTable, named, "test");
  const k = values.length;
  const main = seriesOf(c, table, values, "file");
  const other = testTable ? seriesOf(c, testTable, values, "test") : undefined;
  const split = other
    ? {
      train: Int32Array.from(main.series, (_, i) => i),
      test: Int32Array.from(other.series, (_, i) => i),
    }
    : splitOf(c, main.series.length, "series");
  const align = c.align ?? "start";
  const all = [...main.series.map((s, i) => ({ s, id: main.ids[i]!, file: c.file }))];
  if (other) all.push(...other.series.map((s, i) => ({ s, id: other.ids[i]!, file: c.test! })));
  if (align === "none") {
    const first = all[0]!;
    const other = all.find((e) => e.s.times[0] !== first.s.times[0]);
    if (other) {
      throw new DataFieldError(
        "align",
        `${other.file}: series "${other.id}" starts at t = ${other.s.times[0]}, series "${first.id}" at ` +
          `${first.s.times[0]}: with align "none" every series must start at the same time (or use align "start")`,
      );
    }
  }
  const trainSeries = Array.from(split.train, (i) => main.series[i]!);
  const testSeries = Array.from(split.test, (i) => (other ?? main).series[i]!);
  const stats = columnStats(Float64Array.from(trainSeries.flatMap((s) => Array.from(s.values))), k);
  const prepare = (list: Series[]): SeriesSet => {
    const series = list.map((s) => ({
      times: align === "start" ? s.times.map((t) => t - s.times[0]!) : s.times,
      values: c.normalize === "z-score" ? standardize(s.values, stats) : s.values,
    }));
    const initial = firstValues(series, k);
    // A value missing at a series' first time starts at the training mean.
    initial.data.forEach((v, i) => {
      if (Number.isNaN(v)) initial.data[i] = c.normalize === "z-score" ? 0 : stats.mean[i % k]!;
    });
    return { initial, series, channels: k };
  };
  return { task: "time-series", train: prepare(trainSeries), test: prepare(testSeries) };
}

/** Reads, checks, splits and normalises the CSV data of validated settings. */
export function loadCsvData(c: CsvDataConfig): FileData {
  const files = c.test === undefined ? [c.file] : [c.file, c.test];
  return cachedLoad("csv", c, files, () => {
    const table = atField("file", () => readCsv(c.file, { delimiter: c.delimiter }));
    const testTable = c.test === undefined
      ? undefined
      : atField("test", () => readCsv(c.test!, { delimiter: c.delimiter }));
    return c.task === "time-series" ? timeSeries(c, table, testTable) : tabular(c, table, testTable);
  });
}

/** The CSV data kind. */
export const csvData = dataKind({
  kind: "csv",
  schema: CsvDataSchema,
  classification: (c) => c?.task === "classification",
  example: {
    kind: "csv",
    file: "tests/fixtures/data/series.csv",
    task: "time-series",
    id: "series",
    time: "t",
    values: ["x"],
    testFraction: 0.25,
  },
  files: ["file", "test"],
  issues: (c) => issuesOf(() => loadCsvData(c)),
  generate: loadCsvData,
  training: {
    sizes: (c) => fileSizes(loadCsvData(c)),
    samplesPerEpoch: (c) => fileSamples(loadCsvData(c)),
    task: fileTask,
  },
});
