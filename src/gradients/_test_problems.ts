/**
 * Helpers for the gradient-method tests: float64 tensors and a matrix
 * exponential for exact gradients of linear dynamics (src/models/linear.ts).
 *
 * @module
 */
import { type Tensor, tensor } from "../onnx/tensor.ts";

/** A float64 tensor from numbers. */
export function f64(values: readonly number[], dims: readonly number[]): Tensor {
  return tensor(Float64Array.from(values), dims);
}

/** Square matrix product (row-major, n×n). */
export function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j]! += aik * b[k * n + j]!;
    }
  }
  return c;
}

/** Matrix exponential by scaling and squaring with a degree-24 Taylor series, float64. */
export function expm(a: Float64Array, n: number): Float64Array {
  let norm = 0;
  for (let i = 0; i < n; i++) {
    let row = 0;
    for (let j = 0; j < n; j++) row += Math.abs(a[i * n + j]!);
    norm = Math.max(norm, row);
  }
  const s = Math.max(0, Math.ceil(Math.log2(norm)) + 1);
  const scaled = a.map((v) => v / 2 ** s);
  let result: Float64Array = new Float64Array(n * n);
  let term: Float64Array = new Float64Array(n * n);
  for (let i = 0; i < n; i++) result[i * n + i] = term[i * n + i] = 1;
  for (let k = 1; k <= 24; k++) {
    term = matmul(term, scaled, n).map((v) => v / k);
    for (let i = 0; i < n * n; i++) result[i]! += term[i]!;
  }
  for (let i = 0; i < s; i++) result = matmul(result, result, n);
  return result;
}
