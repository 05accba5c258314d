/**
 * Float arrays as base64 of their little-endian bytes: exact, compact JSON
 * for checkpoints (parameters and optimiser moments).
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** Base64 of the array's little-endian bytes. */
export function floatsToBase64(a: Float32Array | Float64Array): string {
  const size = a.BYTES_PER_ELEMENT;
  const view = new DataView(new ArrayBuffer(a.length * size));
  a.forEach((x, i) => (size === 8 ? view.setFloat64(i * 8, x, true) : view.setFloat32(i * 4, x, true)));
  return Buffer.from(view.buffer).toString("base64");
}

/**
 * The array {@linkcode floatsToBase64} wrote. With `length`, the data must
 * hold exactly that many elements.
 *
 * @param what Names the data in error messages, e.g. `Checkpoint parameter "w"`.
 * @throws {SyntaxError} when the byte count does not fit `dtype` (and `length`).
 */
export function floatsFromBase64(s: string, dtype: "float64", what: string, length?: number): Float64Array;
export function floatsFromBase64(
  s: string,
  dtype: "float32" | "float64",
  what: string,
  length?: number,
): Float32Array | Float64Array;
export function floatsFromBase64(
  s: string,
  dtype: "float32" | "float64",
  what: string,
  length?: number,
): Float32Array | Float64Array {
  const bytes = Buffer.from(s, "base64");
  const size = dtype === "float64" ? 8 : 4;
  if (length !== undefined && bytes.length !== length * size) {
    throw new SyntaxError(`${what} has ${bytes.length} bytes, expected ${length * size}`);
  }
  if (bytes.length % size !== 0) throw new SyntaxError(`${what} has ${bytes.length} bytes, not a multiple of ${size}`);
  const n = bytes.length / size;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = dtype === "float64" ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = size === 8 ? view.getFloat64(i * 8, true) : view.getFloat32(i * 4, true);
  return out;
}
