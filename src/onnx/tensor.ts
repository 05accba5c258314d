/**
 * Dense tensors: a dtype, concrete dims and a flat row-major typed array.
 *
 * The same shape is handed to ONNX Runtime without copying, and used for
 * initializers and constants inside graphs.
 *
 * @module
 */
import { allocate, type DType, dtypeOfArray, type TypedArrayOf } from "./dtype.ts";

/** A dense row-major tensor. */
export interface Tensor<D extends DType = DType> {
  /** Element type. */
  readonly dtype: D;
  /** Concrete dimensions; `[]` is a scalar. */
  readonly dims: readonly number[];
  /** Elements in row-major order; length is the product of `dims`. */
  readonly data: TypedArrayOf[D];
}

/** Number of elements of a tensor with these dims. */
export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Refuses dims that are not non-negative integers ([−1, −2] has the product 2 of a real shape). */
function checkDims(dims: readonly number[]): void {
  const bad = dims.findIndex((d) => !(Number.isSafeInteger(d) && d >= 0));
  if (bad >= 0) throw new RangeError(`Tensor dims [${dims.join(", ")}]: dim ${bad} is not a non-negative integer`);
}

/**
 * Makes a tensor, checking that `data` holds exactly `dims`' elements.
 *
 * @throws {RangeError} when a dim is not a non-negative integer, or the element count differs.
 *
 * @example Make a 2×2 float64 tensor
 * ```ts
 * import { tensor } from "./tensor.ts";
 * const t = tensor(new Float64Array([1, 2, 3, 4]), [2, 2]);
 * if (t.dtype !== "float64") throw new Error("wrong dtype");
 * ```
 */
export function tensor<D extends DType>(data: TypedArrayOf[D], dims: readonly number[]): Tensor<D> {
  checkDims(dims);
  const n = sizeOf(dims);
  if (data.length !== n) {
    throw new RangeError(
      `Tensor data has ${data.length} elements but dims [${dims.join(", ")}] need ${n}`,
    );
  }
  return { dtype: dtypeOfArray(data) as D, dims: [...dims], data };
}

/** A zero-filled tensor. */
export function zeros<D extends DType>(dtype: D, dims: readonly number[]): Tensor<D> {
  checkDims(dims);
  return { dtype, dims: [...dims], data: allocate(dtype, sizeOf(dims)) };
}

/** A float tensor from plain numbers. */
export function fromNumbers(
  values: ArrayLike<number>,
  dims: readonly number[],
  dtype: "float32" | "float64" = "float32",
): Tensor<"float32" | "float64"> {
  const data = dtype === "float32" ? Float32Array.from(values) : Float64Array.from(values);
  return tensor(data, dims);
}

/** An int64 tensor from plain numbers (shapes, axes, indices). */
export function int64(values: readonly number[], dims: readonly number[] = [values.length]): Tensor<"int64"> {
  return tensor(BigInt64Array.from(values, (v) => BigInt(v)), dims);
}

/** Reads any tensor's elements as plain numbers. */
export function toNumbers(t: Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}
