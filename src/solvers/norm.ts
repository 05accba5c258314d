/**
 * Error norms for step-size control.
 *
 * @module
 */

/**
 * Measures a step's error estimate against the tolerances; a step is
 * accepted when the result is ≤ 1. `atol` is a number or one value per
 * component.
 */
export type ErrorNorm = (
  err: Float64Array,
  y0: Float64Array,
  y1: Float64Array,
  rtol: number,
  atol: number | Float64Array,
) => number;

/**
 * The default norm (as torchdiffeq): RMS over all components of
 * err / (atol + rtol·max(|y0|, |y1|)). Zero for an empty state.
 *
 * @example Error exactly at tolerance
 * ```ts
 * import { rmsNorm } from "./norm.ts";
 * const y = new Float64Array([1, 1]);
 * const r = rmsNorm(new Float64Array([2e-3, 2e-3]), y, y, 1e-3, 1e-3);
 * if (Math.abs(r - 1) > 1e-12) throw new Error(`got ${r}`);
 * ```
 */
export function rmsNorm(
  err: Float64Array,
  y0: Float64Array,
  y1: Float64Array,
  rtol: number,
  atol: number | Float64Array,
): number {
  const n = err.length;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const tol = (typeof atol === "number" ? atol : atol[i]!) + rtol * Math.max(Math.abs(y0[i]!), Math.abs(y1[i]!));
    // A component with no error counts 0, also against a zero tolerance (atol 0 on a component that stays 0).
    const r = err[i] === 0 ? 0 : err[i]! / tol;
    s += r * r;
  }
  return Math.sqrt(s / Math.max(n, 1));
}
