/**
 * Problems with known solutions shared by the solver tests.
 *
 * @module
 */
import type { VectorField } from "./rk.ts";

/** An ODE with its exact solution. */
export interface ExactProblem {
  readonly f: VectorField;
  readonly exact: (t: number) => Float64Array;
}

/**
 * A nonlinear, coupled, partly non-autonomous system: a rotation whose rate is
 * |(y0, y1)|² (= 2 on the solution) and y2' = −2t·y2² (y2 = 1/(1 + t²)).
 */
export const rotationProblem: ExactProblem = {
  f: (t, y) => {
    const r2 = y[0]! * y[0]! + y[1]! * y[1]!;
    return Promise.resolve(new Float64Array([-y[1]! * r2, y[0]! * r2, -2 * t * y[2]! * y[2]!]));
  },
  exact: (t) => new Float64Array([Math.SQRT2 * Math.cos(2 * t), Math.SQRT2 * Math.sin(2 * t), 1 / (1 + t * t)]),
};

/** y' = λy. */
export function linearProblem(lambda: number, y0 = 1): ExactProblem {
  return {
    f: (_t, y) => Promise.resolve(y.map((v) => lambda * v)),
    exact: (t) => new Float64Array([y0 * Math.exp(lambda * t)]),
  };
}

/** A 2-D rotation y' = ω(−y1, y0) from (1, 0). */
export function rotation2d(omega: number): ExactProblem {
  return {
    f: (_t, y) => Promise.resolve(new Float64Array([-omega * y[1]!, omega * y[0]!])),
    exact: (t) => new Float64Array([Math.cos(omega * t), Math.sin(omega * t)]),
  };
}

/** Euclidean distance. */
export function distance(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

/** Least-squares slope of log(err) against log(h). */
export function logSlope(hs: readonly number[], errs: readonly number[]): number {
  const x = hs.map(Math.log), y = errs.map(Math.log);
  const mx = x.reduce((s, v) => s + v, 0) / x.length, my = y.reduce((s, v) => s + v, 0) / y.length;
  let num = 0, den = 0;
  for (let i = 0; i < x.length; i++) {
    num += (x[i]! - mx) * (y[i]! - my);
    den += (x[i]! - mx) ** 2;
  }
  return num / den;
}
