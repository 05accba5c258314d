/**
 * Shared problems for the gradient-method tests: each with exact gradients
 * (or a way to get them), so every method can be run against one table.
 *
 * @module
 */
import { asDynamics, type Dynamics } from "../models/dynamics.ts";
import { GraphBuilder } from "../onnx/builder.ts";
import { type Tensor, tensor } from "../onnx/tensor.ts";

/** dz/dt = a·z with a scalar parameter `a` of shape [1]. */
export function exponentialDynamics(dtype: "float32" | "float64"): Dynamics {
  const b = new GraphBuilder("exponential");
  b.input("t", dtype, []);
  const z = b.input("z", dtype, ["batch", 1]);
  const a = b.input("a", dtype, [1]);
  b.output(b.op1("Mul", [z, a]), "dz");
  return asDynamics(b.build());
}

/** dz/dt = A z for row-vector states z [batch, d], parameter `A` [d, d]. */
export function linearDynamics(d: number): Dynamics {
  const b = new GraphBuilder("linear");
  b.input("t", "float64", []);
  const z = b.input("z", "float64", ["batch", d]);
  const A = b.input("A", "float64", [d, d]);
  b.output(b.op1("MatMul", [z, b.op1("Transpose", [A])]), "dz");
  return asDynamics(b.build());
}

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
