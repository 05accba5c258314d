/**
 * The analytic test problem of the paper: dz/dt = a·z, z(0) = z0, loss
 * L = z(T)², whose gradients are known in closed form:
 *
 * - z(T) = z0·e^{aT}
 * - dL/dz0 = 2·z0·e^{2aT}
 * - dL/da = 2·T·z0²·e^{2aT}
 * - dL/dT = 2·a·z0²·e^{2aT}
 *
 * Nothing here is random; the problem is a grid of end times T.
 *
 * @module
 */

/** Options for {@linkcode exponentialProblem}. */
export interface ExponentialProblemOptions {
  /** Initial state. @default 10 */
  z0?: number;
  /** Growth rate. @default 0.2 */
  a?: number;
  /** End times: `count` points evenly spaced over [min, max]. @default { min: 19, max: 29, count: 11 } */
  T?: { min: number; max: number; count: number };
}

/** The exponential problem at a grid of end times, with exact answers. */
export interface ExponentialProblem {
  /** Initial state. */
  readonly z0: number;
  /** Growth rate. */
  readonly a: number;
  /** End times, increasing. */
  readonly T: Float64Array;
  /** z(T) at each end time. */
  readonly zT: Float64Array;
  /** L = z(T)² at each end time. */
  readonly loss: Float64Array;
  /** dL/dz0 at each end time. */
  readonly dLdz0: Float64Array;
  /** dL/da at each end time. */
  readonly dLda: Float64Array;
  /** dL/dT at each end time. */
  readonly dLdT: Float64Array;
}

/** The exact solution z(t) = z0·e^{at}. */
export function exponentialSolution(z0: number, a: number, t: number): number {
  return z0 * Math.exp(a * t);
}

/**
 * The exponential problem with exact loss and gradients at each end time.
 *
 * @throws {RangeError} when a value is not finite, `count` is not a positive
 *   integer, or `max < min`.
 *
 * @example Gradients at T = 19
 * ```ts
 * import { exponentialProblem } from "./analytic.ts";
 * const p = exponentialProblem({ T: { min: 19, max: 19, count: 1 } });
 * if (Math.abs(p.dLdz0[0]! - 2 * 10 * Math.exp(2 * 0.2 * 19)) > 1e-6) throw new Error("wrong gradient");
 * ```
 */
export function exponentialProblem(options: ExponentialProblemOptions = {}): ExponentialProblem {
  const { z0 = 10, a = 0.2, T = { min: 19, max: 29, count: 11 } } = options;
  for (const [name, v] of [["z0", z0], ["a", a], ["T.min", T.min], ["T.max", T.max]] as const) {
    if (!Number.isFinite(v)) throw new RangeError(`exponentialProblem option ${name} must be finite, got ${v}`);
  }
  if (!Number.isInteger(T.count) || T.count < 1) {
    throw new RangeError(`exponentialProblem option T.count must be a positive integer, got ${T.count}`);
  }
  if (T.max < T.min) throw new RangeError(`exponentialProblem option T.max (${T.max}) is below T.min (${T.min})`);
  const n = T.count;
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) times[i] = n === 1 ? T.min : T.min + ((T.max - T.min) * i) / (n - 1);
  const zT = new Float64Array(n), loss = new Float64Array(n);
  const dLdz0 = new Float64Array(n), dLda = new Float64Array(n), dLdT = new Float64Array(n);
  times.forEach((t, i) => {
    const e2 = Math.exp(2 * a * t);
    zT[i] = exponentialSolution(z0, a, t);
    loss[i] = z0 * z0 * e2;
    dLdz0[i] = 2 * z0 * e2;
    dLda[i] = 2 * t * z0 * z0 * e2;
    dLdT[i] = 2 * a * z0 * z0 * e2;
  });
  return { z0, a, T: times, zT, loss, dLdz0, dLda, dLdT };
}
