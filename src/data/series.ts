/**
 * Time series with their own observation times and missing values, batched
 * as the training loop takes them: a batch is solved on the sorted union of
 * its series' times, with a mask of which (time, series) entries were
 * observed, for any number of channels: users' series from files, and the
 * irregular sines (sines.ts, `sineBatch`, one channel).
 *
 * An entry is observed when the series has that time and every channel has a
 * value there; a time with some channels missing (NaN) is left out of the
 * loss as a whole, because the mask is per (time, series), not per channel.
 *
 * @module
 */
import { type Tensor, tensor } from "../onnx/tensor.ts";

/** One series. */
export interface Series {
  /** Observation times, strictly increasing. */
  readonly times: Float64Array;
  /** Values, [times, channels] row-major; NaN where missing. */
  readonly values: Float64Array;
}

/** A set of series with the initial state of each. */
export interface SeriesSet {
  /** The initial state of each series, [n, dim] float64 (the state at its first time). */
  readonly initial: Tensor<"float64">;
  /** The series, in the same order. */
  readonly series: readonly Series[];
  /** Channels per time. */
  readonly channels: number;
}

/** A batch of series on the union of their times. */
export interface SeriesBatch {
  /** Sorted union of the batch's observation times. */
  readonly times: Float64Array;
  /** Values, [time, batch, channels]; 0 where not observed. */
  readonly values: Float64Array;
  /** 1 where observed, [time, batch]. */
  readonly mask: Float64Array;
  /** The batch's initial states, [batch, dim]. */
  readonly initial: Float64Array;
}

/**
 * Gathers series `indices` of a set into one batch: the union of their times,
 * the values on that grid and the observation mask.
 *
 * @param caller The function named in errors (for wrappers such as `sineBatch`).
 * @throws {RangeError} for an empty batch or an index outside the set.
 *
 * @example Two series at different times
 * ```ts
 * import { firstValues, seriesBatch } from "./series.ts";
 * const series = [
 *   { times: Float64Array.of(0, 1), values: Float64Array.of(1, 3) },
 *   { times: Float64Array.of(0, 0.5), values: Float64Array.of(2, NaN) },
 * ];
 * const b = seriesBatch({ initial: firstValues(series, 1), series, channels: 1 }, [0, 1]);
 * if (b.times.join() !== "0,0.5,1" || b.mask.join() !== "1,1,0,0,1,0") throw new Error("wrong batch");
 * ```
 */
export function seriesBatch(set: SeriesSet, indices: ArrayLike<number>, caller = "seriesBatch"): SeriesBatch {
  const b = indices.length, c = set.channels;
  const n = set.series.length, dim = set.initial.dims[1]!;
  if (b === 0) throw new RangeError(`${caller} needs at least one index`);
  const chosen: Series[] = [];
  const initial = new Float64Array(b * dim);
  for (let j = 0; j < b; j++) {
    const i = indices[j]!;
    const s = set.series[i];
    if (!Number.isInteger(i) || s === undefined) throw new RangeError(`${caller} index ${i} is outside 0…${n - 1}`);
    chosen.push(s);
    initial.set(set.initial.data.subarray(i * dim, (i + 1) * dim), j * dim);
  }
  const times = Float64Array.from(new Set(chosen.flatMap((s) => Array.from(s.times)))).sort();
  const row = new Map<number, number>();
  times.forEach((t, k) => row.set(t, k));
  const values = new Float64Array(times.length * b * c);
  const mask = new Float64Array(times.length * b);
  chosen.forEach((s, j) => {
    s.times.forEach((t, k) => {
      const v = s.values.subarray(k * c, (k + 1) * c);
      if (v.some((x) => !Number.isFinite(x))) return;
      const r = row.get(t)!;
      values.set(v, (r * b + j) * c);
      mask[r * b + j] = 1;
    });
  });
  return { times, values, mask, initial };
}

/**
 * Long-format rows (series id, time, channel values) grouped into series, in
 * the order each id first appears, each sorted by time.
 *
 * @param values [rows, channels] row-major; NaN where missing.
 * @throws {RangeError} naming the series for a time that is not finite or
 *   appears twice in one series.
 */
export function groupSeries(
  ids: readonly string[],
  times: Float64Array,
  values: Float64Array,
  channels: number,
): { ids: string[]; series: Series[] } {
  const rows = new Map<string, number[]>();
  ids.forEach((id, r) => {
    const list = rows.get(id);
    if (list) list.push(r);
    else rows.set(id, [r]);
  });
  const out: Series[] = [];
  for (const [id, list] of rows) {
    list.sort((a, b) => times[a]! - times[b]!);
    const t = Float64Array.from(list, (r) => times[r]!);
    t.forEach((ti, k) => {
      if (!Number.isFinite(ti)) throw new RangeError(`series "${id}" has a time that is not a number`);
      if (k > 0 && ti === t[k - 1]) throw new RangeError(`series "${id}" has time ${ti} twice`);
    });
    const v = new Float64Array(list.length * channels);
    list.forEach((r, k) => v.set(values.subarray(r * channels, (r + 1) * channels), k * channels));
    out.push({ times: t, values: v });
  }
  return { ids: [...rows.keys()], series: out };
}

/** The initial states of series: each one's values at its first time, [n, channels]. */
export function firstValues(series: readonly Series[], channels: number): Tensor<"float64"> {
  const out = new Float64Array(series.length * channels);
  series.forEach((s, i) => out.set(s.values.subarray(0, channels), i * channels));
  return tensor(out, [series.length, channels]);
}
