/**
 * `data.kind: npy` — NumPy arrays `x`, `y` and, for time series, `t` and
 * `mask`: one `.npz` file holding them by name (`np.savez` or
 * `np.savez_compressed`), or one `.npy` file each (src/data/npy.ts).
 *
 * - `classification`: x [n, …] (flattened per sample) → integer labels y [n];
 *   classes are the distinct labels of train and test, in numeric order.
 * - `regression`: x [n, …] → y [n] or [n, k] at the end of the time span.
 * - `time-series`: y [n, T] or [n, T, k] observed at t [T] (shared) or
 *   [n, T] (per sample), with mask [n, T] (non-zero = observed; default: all,
 *   and NaN values are unobserved) and the initial state x [n, d] (default: y
 *   at the first time). Every sample starts at the same time (the solve of a
 *   batch starts there); its observed times must increase. A batch is solved
 *   on the union of its samples' times, with the mask (src/data/series.ts).
 *
 * Test arrays come from `test` (an `.npz`, or `.npy` files by name) or a
 * seeded `testFraction`. `normalize: z-score` (default) z-scores x and y per
 * column by the training samples. Relative paths are relative to the pipeline
 * file.
 *
 * @module
 */
import { z } from "zod";
import type { Series, SeriesSet } from "../../data/series.ts";
import { splitIndices } from "../../data/split.ts";
import { columnStats, standardize } from "../../data/zscore.ts";
import { type Tensor, tensor } from "../../onnx/tensor.ts";
import { type FileData, fileSamples, fileSizes, fileTask, tensorRows } from "./_file_sources.ts";
import { checked, readArrays, type SplitData } from "./_npy_arrays.ts";
import {
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

/** One `.npy` file per array. */
const NpyFilesSchema = z.object({
  x: filePath.optional().describe(".npy file of the inputs x (for time series, the initial states; optional there)"),
  y: filePath.describe(".npy file of the labels, targets or series values y"),
  t: filePath.optional().describe("time-series: .npy file of the times t, [T] or [n, T]"),
  mask: filePath.optional().describe("time-series: .npy file of the observation mask, [n, T]"),
}).strict();

/** NumPy arrays' settings. */
export const NpyDataSchema = z.object({
  kind: z.literal("npy"),
  task: z.enum(TASKS).describe("classification (x → labels y), regression (x → y) or time-series (y at times t)"),
  file: filePath.optional().describe(".npz file with arrays x, y (and t, mask for time series)"),
  x: filePath.optional().describe(".npy file of x, instead of file"),
  y: filePath.optional().describe(".npy file of y, instead of file"),
  t: filePath.optional().describe("time-series: .npy file of t, instead of file"),
  mask: filePath.optional().describe("time-series: .npy file of mask, instead of file"),
  test: z.union([filePath, NpyFilesSchema]).optional()
    .describe("Test arrays: an .npz file, or .npy files by name. Default: a testFraction of the samples"),
  testFraction,
  normalize: z.enum(["z-score", "none"]).default("z-score")
    .describe("Z-score x and y per column by training statistics, or not. Default z-score"),
  seed: splitSeed,
}).strict().superRefine((c, ctx) => {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const separate = (["x", "y", "t", "mask"] as const).filter((k) => c[k] !== undefined);
  if (c.file !== undefined && separate.length > 0) {
    issue([separate[0]!], `Give an .npz file or .npy files, not both (file is ${JSON.stringify(c.file)})`);
  }
  if (c.file === undefined && c.y === undefined) issue(["file"], "Give an .npz file, or .npy files x and y");
  if (c.file === undefined && c.y !== undefined && c.x === undefined && c.task !== "time-series") {
    issue(["x"], `Task "${c.task}" needs x`);
  }
  if (c.task !== "time-series") {
    for (const k of ["t", "mask"] as const) {
      if (c[k] !== undefined) issue([k], `Field "${k}" is for task "time-series"; remove it`);
    }
  }
  if (c.task === "time-series" && c.file === undefined && c.y !== undefined && c.t === undefined) {
    issue(["t"], 'Task "time-series" needs t');
  }
  if (c.test !== undefined && c.testFraction !== undefined) {
    issue(["testFraction"], "Give test arrays or a testFraction, not both");
  }
});

/** Validated NumPy settings. */
export type NpyDataConfig = z.output<typeof NpyDataSchema>;

const rowsOf = (m: Float64Array, width: number, idx: ArrayLike<number>) => {
  const out = new Float64Array(idx.length * width);
  for (let j = 0; j < idx.length; j++) out.set(m.subarray(idx[j]! * width, (idx[j]! + 1) * width), j * width);
  return out;
};

function build(
  c: NpyDataConfig,
  train: SplitData,
  test: SplitData,
  split: { train: ArrayLike<number>; test: ArrayLike<number> },
  shapes: { x?: number[]; y: number[] },
): FileData {
  const z = c.normalize === "z-score";
  const xDim = shapes.x?.reduce((p, d) => p * d, 1) ?? 0;
  const norm = (tr: Float64Array, te: Float64Array, width: number): [Float64Array, Float64Array] => {
    if (!z) return [tr, te];
    const stats = columnStats(tr, width);
    return [standardize(tr, stats), standardize(te, stats)];
  };
  if (c.task === "classification") {
    const [trX, teX] = norm(rowsOf(train.x!, xDim, split.train), rowsOf(test.x!, xDim, split.test), xDim);
    const trY = Array.from(split.train, (i) => train.y[i]!), teY = Array.from(split.test, (i) => test.y[i]!);
    const classes = [...new Set([...trY, ...teY])].sort((p, q) => p - q);
    if (classes.length < 2) {
      throw new DataFieldError(c.file ? "file" : "y", `${c.file ?? c.y}: y has one class only (${classes[0]})`);
    }
    const index = new Map(classes.map((v, k) => [v, k]));
    const labels = (ys: number[]) => Int32Array.from(ys, (v) => index.get(v)!);
    const rows = (x: Float64Array) => tensorRows(tensor(x, [x.length / xDim, xDim]));
    return {
      task: "classification",
      classes: classes.map(String),
      train: { inputs: rows(trX), labels: labels(trY) },
      test: { inputs: rows(teX), labels: labels(teY) },
    };
  }
  if (c.task === "regression") {
    const k = shapes.y[0] ?? 1;
    const [trX, teX] = norm(rowsOf(train.x!, xDim, split.train), rowsOf(test.x!, xDim, split.test), xDim);
    const [trY, teY] = norm(rowsOf(train.y, k, split.train), rowsOf(test.y, k, split.test), k);
    const rows = (x: Float64Array) => tensorRows(tensor(x, [x.length / xDim, xDim]));
    return {
      task: "regression",
      train: { inputs: rows(trX), targets: tensor(trY, [trY.length / k, k]) },
      test: { inputs: rows(teX), targets: tensor(teY, [teY.length / k, k]) },
    };
  }
  const k = shapes.y[1] ?? 1;
  const trS = Array.from(split.train, (i) => train.series![i]!), teS = Array.from(split.test, (i) => test.series![i]!);
  const yStats = columnStats(Float64Array.from(trS.flatMap((s) => Array.from(s.values))), k);
  const scale = (s: Series): Series => (z ? { times: s.times, values: standardize(s.values, yStats) } : s);
  const set = (list: Series[], x: Float64Array | undefined): SeriesSet => {
    const series = list.map(scale);
    const initial: Tensor<"float64"> = x
      ? tensor(x, [list.length, xDim])
      : tensor(Float64Array.from(series.flatMap((s) => Array.from(s.values.subarray(0, k)))), [list.length, k]);
    // Without x, a value missing at a sample's first time starts at the training mean.
    initial.data.forEach((v, i) => {
      if (!x && Number.isNaN(v)) initial.data[i] = z ? 0 : yStats.mean[i % k]!;
    });
    return { initial, series, channels: k };
  };
  const [trX, teX] = train.x
    ? norm(rowsOf(train.x, xDim, split.train), rowsOf(test.x!, xDim, split.test), xDim)
    : [undefined, undefined];
  return { task: "time-series", train: set(trS, trX), test: set(teS, teX) };
}

/** Reads, checks, splits and normalises the NumPy data of validated settings. */
export function loadNpyData(c: NpyDataConfig): FileData {
  const main = c.file ??
    { y: c.y!, ...(c.x ? { x: c.x } : {}), ...(c.t ? { t: c.t } : {}), ...(c.mask ? { mask: c.mask } : {}) };
  const paths = [main, c.test].flatMap((s) =>
    s === undefined ? [] : typeof s === "string" ? [s] : Object.values(s).filter((p) => p !== undefined)
  );
  return cachedLoad("npy", c, paths, () => {
    const a = readArrays(c.task, main, "");
    const train = checked(c.task, a);
    if (c.test === undefined) {
      if (train.n < 2) {
        throw new DataFieldError(a.field.y, `${a.name.y}: has ${train.n} samples; a train/test split needs at least 2`);
      }
      const split = splitIndices(train.n, c.testFraction ?? DEFAULT_TEST_FRACTION, c.seed);
      return build(c, train, train, split, train.shapes);
    }
    const b = readArrays(c.task, c.test, "test");
    if (a.x && !b.x) throw new DataFieldError("test", `test arrays need x, as the training arrays have`);
    const test = checked(c.task, b, train.shapes);
    const every = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
    return build(c, train, test, { train: every(train.n), test: every(test.n) }, train.shapes);
  });
}

/** The NumPy data kind. */
export const npyData = dataKind({
  kind: "npy",
  schema: NpyDataSchema,
  classification: (c) => c?.task === "classification",
  example: { kind: "npy", task: "classification", file: "tests/fixtures/data/classes.npz", testFraction: 0.25 },
  files: ["file", "x", "y", "t", "mask", "test", "test.x", "test.y", "test.t", "test.mask"],
  issues: (c) => issuesOf(() => loadNpyData(c)),
  generate: loadNpyData,
  training: {
    sizes: (c) => fileSizes(loadNpyData(c)),
    samplesPerEpoch: (c) => fileSamples(loadNpyData(c)),
    task: fileTask,
  },
});
