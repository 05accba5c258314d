/**
 * One explicit Runge–Kutta step for any {@linkcode ButcherTableau}: the only
 * stepping code in the library. Stateless, so the same tableau serves forward
 * and backward solves and the direct method can replay a recorded step.
 *
 * @module
 */
import type { ButcherTableau } from "./tableau.ts";
import { combine } from "./_combine.ts";

/**
 * The right-hand side f(t, y) of dy/dt = f(t, y) over a flat float64 state.
 *
 * It must return a new array of y's length, which the solver may keep (stages
 * are handed to `onStep` callbacks), and must not modify `y`.
 */
export type VectorField = (t: number, y: Float64Array) => Promise<Float64Array>;

/** What {@linkcode rkStep} returns. */
export interface RkStepResult {
  /** Solution at t0 + h. */
  readonly y1: Float64Array;
  /** Error estimate h·Σ bError_i k_i, when the tableau has an embedded method. */
  readonly yError?: Float64Array;
  /** The stage derivatives k_i = f(t0 + c_i h, Y_i); stages[0] = f(t0, y0). */
  readonly stages: Float64Array[];
  /** f(t0 + h, y1), when the tableau is FSAL (it is then the last stage). */
  readonly f1?: Float64Array;
}

/**
 * Takes one explicit Runge–Kutta step of size h (negative h steps backwards).
 *
 * Makes `stages − 1` evaluations of f when `f0 = f(t0, y0)` is given, else
 * `stages`. For an FSAL tableau y1 is exactly the last stage's argument, so
 * `f1` is f(t0 + h, y1).
 *
 * @throws {RangeError} when f returns an array of the wrong length.
 *
 * @example One step of Euler on y' = −y
 * ```ts
 * import { rkStep } from "./rk.ts";
 * import { EULER_TABLEAU } from "./tableau.ts";
 * const { y1 } = await rkStep(EULER_TABLEAU, (_t, y) => Promise.resolve(y.map((v) => -v)), 0, new Float64Array([1]), 0.1);
 * if (Math.abs(y1[0]! - 0.9) > 1e-15) throw new Error("wrong step");
 * ```
 */
export async function rkStep(
  tableau: ButcherTableau,
  f: VectorField,
  t0: number,
  y0: Float64Array,
  h: number,
  f0?: Float64Array,
): Promise<RkStepResult> {
  const n = y0.length;
  const { a, b, c, bError, stages: s } = tableau;
  const check = (k: Float64Array, t: number): Float64Array => {
    if (k.length !== n) {
      throw new RangeError(
        `Vector field returned ${k.length} values at t = ${t} but the state has ${n} (solver ${tableau.name})`,
      );
    }
    return k;
  };
  const k: Float64Array[] = [check(f0 ?? await f(t0, y0), t0)];
  let yi = y0;
  for (let i = 1; i < s; i++) {
    yi = combine(y0, h, a[i]!, k);
    const ti = c[i] === 1 ? t0 + h : t0 + c[i]! * h;
    k.push(check(await f(ti, yi), ti));
  }
  const fsal = tableau.fsal;
  const y1 = fsal ? yi : combine(y0, h, b, k);
  const result: { y1: Float64Array; stages: Float64Array[]; yError?: Float64Array; f1?: Float64Array } = {
    y1,
    stages: k,
  };
  if (bError !== undefined) result.yError = combine(undefined, h, bError, k, n);
  if (fsal) result.f1 = k[s - 1]!;
  return result;
}
