/**
 * Minibatches: shuffled index sets from a seed and an epoch number (so a
 * resumed run draws the same batches), and row gathering.
 *
 * @module
 */
import type { DType } from "../onnx/dtype.ts";
import { sizeOf, type Tensor, tensor } from "../onnx/tensor.ts";
import { Random } from "../util/random.ts";

/** Options for {@linkcode minibatches}. */
export interface MinibatchOptions {
  /** Epoch number; each epoch has its own shuffle. @default 0 */
  epoch?: number;
  /** Drop a last batch smaller than `batchSize`. @default false */
  dropLast?: boolean;
}

/** A 32-bit mix of seed and epoch (murmur3's finaliser), so neighbouring epochs get unrelated streams. */
function mix(seed: number, epoch: number): number {
  let h = (seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/**
 * Splits 0…n−1, shuffled, into batches of `batchSize` (the last may be
 * smaller unless `dropLast`). Equal `seed` and `epoch` give equal batches.
 *
 * @throws {RangeError} unless `n` ≥ 0 and `batchSize` ≥ 1 are integers.
 *
 * @example
 * ```ts
 * import { minibatches } from "./batches.ts";
 * const batches = minibatches(10, 4, 0);
 * if (batches.map((b) => b.length).join() !== "4,4,2") throw new Error("wrong sizes");
 * ```
 */
export function minibatches(n: number, batchSize: number, seed: number, options: MinibatchOptions = {}): Int32Array[] {
  const { epoch = 0, dropLast = false } = options;
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`minibatches size n must be a non-negative integer, got ${n}`);
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`minibatches batchSize must be a positive integer, got ${batchSize}`);
  }
  if (!Number.isInteger(seed) || !Number.isInteger(epoch) || epoch < 0) {
    throw new RangeError(`minibatches seed and epoch must be integers (epoch ≥ 0), got seed ${seed}, epoch ${epoch}`);
  }
  const order = Int32Array.from(new Random(mix(seed, epoch)).permutation(n));
  const out: Int32Array[] = [];
  for (let start = 0; start < n; start += batchSize) {
    const batch = order.subarray(start, Math.min(n, start + batchSize));
    if (dropLast && batch.length < batchSize) break;
    out.push(batch.slice());
  }
  return out;
}

/**
 * The rows `indices` of a tensor (along its first axis), as a new tensor.
 *
 * @throws {TypeError} for a scalar tensor; {@linkcode RangeError} for an index out of range.
 *
 * @example
 * ```ts
 * import { gatherRows } from "./batches.ts";
 * import { tensor } from "../onnx/tensor.ts";
 * const t = gatherRows(tensor(new Float64Array([1, 2, 3, 4, 5, 6]), [3, 2]), [2, 0]);
 * if (t.data.join() !== "5,6,1,2") throw new Error("wrong rows");
 * ```
 */
export function gatherRows<D extends DType>(t: Tensor<D>, indices: ArrayLike<number>): Tensor<D> {
  const [rows, ...rest] = t.dims;
  if (rows === undefined) throw new TypeError("gatherRows needs a tensor with at least one dimension, got a scalar");
  const width = sizeOf(rest);
  const Ctor = t.data.constructor as new (n: number) => Tensor<D>["data"];
  const out = new Ctor(indices.length * width);
  // One typed-array kind on both sides; the casts only drop the element type.
  const src = t.data as unknown as { subarray(begin: number, end: number): unknown };
  const dst = out as unknown as { set(source: unknown, offset: number): void };
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j]!;
    if (!Number.isInteger(i) || i < 0 || i >= rows) {
      throw new RangeError(`gatherRows index ${i} is outside 0…${rows - 1}`);
    }
    dst.set(src.subarray(i * width, (i + 1) * width), j * width);
  }
  return tensor(out, [indices.length, ...rest]) as Tensor<D>;
}
