/**
 * Normalisation by training statistics: the mean and standard deviation of
 * each column of the training rows, applied to training and test alike, so
 * the test set tells nothing to the model through its scaling.
 *
 * @module
 */

/** Per-column statistics. */
export interface ColumnStats {
  /** Mean of each column over its finite values (0 for a column without any). */
  readonly mean: Float64Array;
  /** Population standard deviation of each column; 1 where it is 0 or undefined, so such columns are only centred. */
  readonly std: Float64Array;
}

/**
 * The mean and standard deviation of each of `columns` columns of row-major
 * `data`, over the finite values (NaN marks a missing one).
 *
 * @example
 * ```ts
 * import { columnStats } from "./zscore.ts";
 * const s = columnStats(Float64Array.of(1, 10, 3, NaN), 2);
 * if (s.mean.join() !== "2,10" || s.std.join() !== "1,1") throw new Error("wrong stats");
 * ```
 */
export function columnStats(data: Float64Array, columns: number): ColumnStats {
  const mean = new Float64Array(columns), m2 = new Float64Array(columns), count = new Float64Array(columns);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) continue;
    const c = i % columns;
    count[c]!++;
    const d = v - mean[c]!;
    mean[c]! += d / count[c]!;
    m2[c]! += d * (v - mean[c]!);
  }
  const std = Float64Array.from(m2, (s, c) => {
    const sd = Math.sqrt(s / Math.max(1, count[c]!));
    return sd > 0 && Number.isFinite(sd) ? sd : 1;
  });
  return { mean, std };
}

/** (data − mean) / std per column, as a new array; NaN stays NaN. */
export function standardize(data: Float64Array, stats: ColumnStats): Float64Array {
  const c = stats.mean.length;
  return data.map((v, i) => (v - stats.mean[i % c]!) / stats.std[i % c]!);
}
