/**
 * Seeded splits of a dataset's rows: a test fraction held out, or a subset
 * drawn for quick runs. The same seed gives the same rows.
 *
 * @module
 */
import { Random } from "../util/random.ts";

/** Rows of a train/test split. */
export interface SplitIndices {
  /** Training rows, in shuffled order. */
  readonly train: Int32Array;
  /** Test rows, in shuffled order. */
  readonly test: Int32Array;
}

/**
 * Holds out round(n · testFraction) of rows 0…n−1 for testing (at least one,
 * and at least one left for training), after a seeded shuffle.
 *
 * @throws {RangeError} for n < 2 or a fraction outside (0, 1).
 *
 * @example
 * ```ts
 * import { splitIndices } from "./split.ts";
 * const { train, test } = splitIndices(10, 0.2, 3);
 * if (train.length !== 8 || test.length !== 2) throw new Error("wrong sizes");
 * ```
 */
export function splitIndices(n: number, testFraction: number, seed: number): SplitIndices {
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`A train/test split needs at least 2 rows, got ${n}`);
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new RangeError(`testFraction must lie in (0, 1), got ${testFraction}`);
  }
  const order = new Random(seed).permutation(n);
  const k = Math.min(n - 1, Math.max(1, Math.round(n * testFraction)));
  return { train: Int32Array.from(order.slice(k)), test: Int32Array.from(order.slice(0, k)) };
}

/**
 * `count` of rows 0…n−1 after a seeded shuffle (all n, shuffled, when count ≥ n).
 *
 * @example
 * ```ts
 * import { subsetIndices } from "./split.ts";
 * const rows = subsetIndices(100, 5, 1);
 * if (rows.length !== 5 || new Set(rows).size !== 5) throw new Error("not a subset");
 * ```
 */
export function subsetIndices(n: number, count: number, seed: number): Int32Array {
  return Int32Array.from(new Random(seed).permutation(n).slice(0, Math.min(n, count)));
}
