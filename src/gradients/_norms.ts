/**
 * The seminorm of Kidger, Chen & Lyons (2021), composed from the solvers'
 * default RMS norm: step-size control looks at a leading block of the state
 * only, so components that feed nothing back (a_θ, a_t) do not shrink steps.
 *
 * @module
 */
import { type ErrorNorm, rmsNorm } from "../solvers/norm.ts";

/** The RMS norm over components [0, length) only. */
export function seminormOver(length: number): ErrorNorm {
  return (err, y0, y1, rtol, atol) =>
    rmsNorm(
      err.subarray(0, length),
      y0.subarray(0, length),
      y1.subarray(0, length),
      rtol,
      typeof atol === "number" ? atol : atol.subarray(0, length),
    );
}
