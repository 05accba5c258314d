/**
 * Linear combinations of stage vectors, shared by the stepper and the interpolants.
 *
 * @module
 */

/** base + h·Σ w_j k_j (base omitted: zeros of length n). */
export function combine(
  base: Float64Array | undefined,
  h: number,
  w: readonly number[],
  k: readonly Float64Array[],
  n = base?.length ?? 0,
): Float64Array {
  const out = base ? base.slice() : new Float64Array(n);
  for (let j = 0; j < w.length && j < k.length; j++) {
    const wj = w[j]!;
    if (wj === 0) continue;
    const hw = h * wj, kj = k[j]!;
    for (let m = 0; m < n; m++) out[m]! += hw * kj[m]!;
  }
  return out;
}
