/**
 * The arrays of the npy data kind: read from an `.npz` or `.npy` files, each
 * with the settings field its file is named in, and checked against the task
 * and each other (samples, per-sample shapes, times and mask), every problem a
 * {@linkcode DataFieldError} naming the field and the file.
 *
 * @module
 */
import { type NdArray, readNpy, readNpz } from "../../data/npy.ts";
import type { Series } from "../../data/series.ts";
import { atField, DataFieldError, type FileTask } from "./_files.ts";

/** `.npy` files by array name (the npy kind's `x`, `y`, `t`, `mask` fields, or `test`'s). */
export interface NpyFiles {
  /** Inputs (initial states for time series). */
  readonly x?: string | undefined;
  /** Labels, targets or series values. */
  readonly y: string;
  /** Times of a time series. */
  readonly t?: string | undefined;
  /** Observation mask of a time series. */
  readonly mask?: string | undefined;
}

/** The arrays of one split, each with the settings field its file is named in. */
export interface Arrays {
  x?: NdArray;
  y: NdArray;
  t?: NdArray;
  mask?: NdArray;
  /** The field of each array, for messages: `file`, `y`, `test`, `test.y`. */
  field: Record<"x" | "y" | "t" | "mask", string>;
  /** What names each array in messages: `a.npz:x` or `x.npy`. */
  name: Record<"x" | "y" | "t" | "mask", string>;
}

export function readArrays(task: FileTask, source: string | NpyFiles, prefix: string): Arrays {
  const at = (k: string) => (prefix === "" ? k : `${prefix}.${k}`);
  if (typeof source === "string") {
    const field = prefix === "" ? "file" : prefix;
    const all = atField(field, () => readNpz(source));
    const name = { x: `${source}:x`, y: `${source}:y`, t: `${source}:t`, mask: `${source}:mask` };
    const needed = ["y", ...(task === "time-series" ? ["t"] : ["x"])];
    for (const k of needed) {
      if (all[k] === undefined) {
        const has = Object.keys(all).join(", ") || "none";
        throw new DataFieldError(field, `${source}: has no array "${k}" (arrays: ${has})`);
      }
    }
    return { ...pickArrays(all), y: all.y!, field: { x: field, y: field, t: field, mask: field }, name };
  }
  const read = (k: "x" | "y" | "t" | "mask") => {
    const p = source[k];
    return p === undefined ? undefined : atField(at(k), () => readNpy(p));
  };
  return {
    ...pickArrays({ x: read("x"), t: read("t"), mask: read("mask") }),
    y: read("y")!,
    field: { x: at("x"), y: at("y"), t: at("t"), mask: at("mask") },
    name: { x: source.x ?? "x", y: source.y, t: source.t ?? "t", mask: source.mask ?? "mask" },
  };
}

function pickArrays(all: Record<string, NdArray | undefined>): Pick<Arrays, "x" | "t" | "mask"> {
  const out: Pick<Arrays, "x" | "t" | "mask"> = {};
  if (all.x) out.x = all.x;
  if (all.t) out.t = all.t;
  if (all.mask) out.mask = all.mask;
  return out;
}

const shapeText = (s: readonly number[]) => `[${s.join(", ")}]`;

/** Checks that `cond` holds, else fails at array `k`'s field with the message. */
function expect(a: Arrays, k: "x" | "y" | "t" | "mask", cond: boolean, message: string): void {
  if (!cond) throw new DataFieldError(a.field[k], `${a.name[k]}: ${message}`);
}

/** Samples, the per-sample shape and the flattened size of array `k`, checked to have `n` samples. */
function perSample(a: Arrays, k: "x" | "y", n: number | undefined): { n: number; rest: number[]; size: number } {
  const arr = a[k]!;
  expect(a, k, arr.shape.length >= 1, `is a scalar; it needs one row per sample`);
  const [rows, ...rest] = arr.shape;
  if (n !== undefined) {
    const other = k === "y" ? "x" : "y";
    expect(a, k, rows === n, `has ${rows} samples (shape ${shapeText(arr.shape)}), ${a.name[other]} has ${n}`);
  }
  return { n: rows!, rest, size: rest.reduce((p, d) => p * d, 1) };
}

export interface SplitData {
  x?: Float64Array;
  y: Float64Array;
  n: number;
  series?: Series[];
}

/** Checks a split's arrays against the task and against `like` (the training split's per-sample shapes). */
export function checked(
  task: FileTask,
  a: Arrays,
  like?: { x?: number[]; y: number[] },
): SplitData & { shapes: { x?: number[]; y: number[] } } {
  const x = a.x ? perSample(a, "x", undefined) : undefined;
  const y = perSample(a, "y", x?.n);
  if (like && x && like.x) {
    expect(
      a,
      "x",
      x.rest.join() === like.x.join(),
      `has samples of shape ${shapeText(x.rest)}, the training x ${shapeText(like.x)}`,
    );
  }
  if (like) {
    expect(
      a,
      "y",
      y.rest.join() === like.y.join(),
      `has samples of shape ${shapeText(y.rest)}, the training y ${shapeText(like.y)}`,
    );
  }
  const shapes = { ...(x ? { x: x.rest } : {}), y: y.rest };
  expect(a, "y", y.n >= 1, `has no samples (shape ${shapeText(a.y.shape)})`);
  // One NaN or Inf spoils the loss; time series mark unobserved values as NaN, so their y is exempt.
  const allFinite = (k: "x" | "y", size: number) => {
    const v = a[k]!.data, i = v.findIndex((e) => !Number.isFinite(e));
    expect(a, k, i < 0, `holds ${v[i]} at element ${i} (sample ${Math.floor(i / Math.max(size, 1))})`);
  };
  if (x) allFinite("x", x.size);
  if (task !== "time-series") allFinite("y", y.size);
  if (task === "classification") {
    expect(a, "y", y.rest.length === 0, `has shape ${shapeText(a.y.shape)}; classification needs labels of shape [n]`);
    expect(a, "y", a.y.data.every(Number.isInteger), "holds labels that are not integers");
  }
  if (task === "regression") {
    expect(a, "y", y.rest.length <= 1, `has shape ${shapeText(a.y.shape)}; regression needs targets [n] or [n, k]`);
  }
  if (task !== "time-series") return { x: a.x!.data, y: a.y.data, n: y.n, shapes };
  return { ...(x ? { x: a.x!.data } : {}), y: a.y.data, n: y.n, shapes, series: seriesOf(a, y.n, y.rest) };
}

/** A time-series split's samples as series: column 0 and the observed columns of each. */
function seriesOf(a: Arrays, n: number, rest: number[]): Series[] {
  expect(
    a,
    "y",
    rest.length === 1 || rest.length === 2,
    `has shape ${shapeText(a.y.shape)}; time series need [n, T] or [n, T, k]`,
  );
  const T = rest[0]!, k = rest[1] ?? 1;
  expect(a, "t", a.t !== undefined, "is missing: time series need times t");
  const t = a.t!;
  const shared = t.shape.length === 1;
  expect(
    a,
    "t",
    (shared && t.shape[0] === T) || (t.shape.length === 2 && t.shape[0] === n && t.shape[1] === T),
    `has shape ${shapeText(t.shape)}; y ${shapeText(a.y.shape)} needs [${T}] or [${n}, ${T}]`,
  );
  const mask = a.mask;
  if (mask) {
    expect(
      a,
      "mask",
      mask.shape.join() === `${n},${T}`,
      `has shape ${shapeText(mask.shape)}; y ${shapeText(a.y.shape)} needs [${n}, ${T}]`,
    );
  }
  const time = (i: number, j: number) => t.data[shared ? j : i * T + j]!;
  const start = time(0, 0);
  const out: Series[] = [];
  for (let i = 0; i < n; i++) {
    expect(
      a,
      "t",
      time(i, 0) === start,
      `sample ${i} starts at t = ${time(i, 0)}, sample 0 at ${start}: every sample must start at the same time`,
    );
    const columns = [0];
    // A column is observed where the mask says so, or without a mask where some channel of y is a number (NaN
    // padding at the end of a shorter series is unobserved, whatever its times).
    const seen = (j: number) =>
      mask
        ? mask.data[i * T + j] !== 0
        : Array.from({ length: k }, (_, ch) => a.y.data[(i * T + j) * k + ch]!).some(Number.isFinite);
    for (let j = 1; j < T; j++) if (seen(j)) columns.push(j);
    const times = Float64Array.from(columns, (j) => time(i, j));
    times.forEach((ti, m) => {
      expect(
        a,
        "t",
        Number.isFinite(ti) && (m === 0 || ti > times[m - 1]!),
        `sample ${i}: observed times must increase (t = ${ti} at column ${columns[m]})`,
      );
    });
    const values = new Float64Array(columns.length * k);
    columns.forEach((j, m) => {
      const observed = !mask || mask.data[i * T + j] !== 0;
      for (let ch = 0; ch < k; ch++) values[m * k + ch] = observed ? a.y.data[(i * T + j) * k + ch]! : NaN;
    });
    out.push({ times, values });
  }
  return out;
}
