/**
 * The error a solve ends with when it cannot reach its end time.
 *
 * @module
 */

/** Why a solve failed. */
export type SolverFailure = "nonfinite" | "underflow" | "maxSteps";

/** Where a solve failed. */
export interface SolverErrorPlace {
  /** Solver name. */
  readonly solver: string;
  /** Time reached. */
  readonly t: number;
  /** Last step size tried (signed: negative when integrating backwards). */
  readonly h: number;
  /** Steps attempted so far (accepted + rejected). */
  readonly steps: number;
}

const REMEDY: Record<SolverFailure, string> = {
  nonfinite:
    "check the dynamics for overflow or division by zero, or use smaller steps (dt, maxStep) or tighter rtol/atol",
  underflow:
    "the solution may blow up near this time or the problem is stiff: shorten the time span, loosen rtol/atol, lower minStep, or use a different model",
  maxSteps: "raise maxSteps, loosen rtol/atol, use a larger dt, or check the dynamics for stiffness",
};

const WHAT: Record<SolverFailure, string> = {
  nonfinite: "the state became NaN or Inf",
  underflow: "the step size underflowed after rejected steps",
  maxSteps: "maxSteps was reached",
};

/**
 * A solve that cannot finish: the state became NaN/Inf, the step size
 * underflowed, or maxSteps was reached. Carries the time, step size and step
 * count; the message says what to change.
 *
 * @example Catch a blow-up
 * ```ts
 * import { integrate } from "./integrate.ts";
 * import { SolverError } from "./solver_error.ts";
 * try {
 *   await integrate((_t, y) => Promise.resolve(y.map((v) => v * v)), new Float64Array([1]), 0, 2);
 *   throw new Error("y' = y² from y = 1 cannot pass t = 1");
 * } catch (e) {
 *   if (!(e instanceof SolverError) || e.reason !== "underflow" || Math.abs(e.t - 1) > 1e-3) throw e;
 * }
 * ```
 */
export class SolverError extends RangeError {
  /** Why it failed. */
  readonly reason: SolverFailure;
  /** Time reached. */
  readonly t: number;
  /** Last step size tried (signed). */
  readonly h: number;
  /** Steps attempted (accepted + rejected). */
  readonly steps: number;
  /** Solver name. */
  readonly solver: string;

  /** Builds the error and its message from the failure, the place and an optional detail. */
  constructor(reason: SolverFailure, place: SolverErrorPlace, detail?: string) {
    super(
      `Solver ${place.solver}: ${WHAT[reason]} at t = ${place.t} with step size ${place.h} after ${place.steps} steps` +
        `${detail ? ` (${detail})` : ""}; ${REMEDY[reason]}`,
    );
    this.name = "SolverError";
    this.reason = reason;
    this.t = place.t;
    this.h = place.h;
    this.steps = place.steps;
    this.solver = place.solver;
  }
}
