/**
 * Solving an SDE on a fixed grid: {@linkcode sdeint} steps a solver of
 * src/sde/solvers.ts from the first observation time to the last, with the
 * increments of one {@linkcode BrownianPath}, and returns the solution at
 * every observation time (torchsde's `sdeint`, diffrax's `diffeqsolve` with
 * `SaveAt(ts=…)`).
 *
 * @module
 */
import type { BrownianPath } from "./brownian.ts";
import { SDE_SOLVERS, type SdeSolver, type SdeSolverName } from "./solvers.ts";
import type { SdeTerms } from "./terms.ts";

/** Options of {@linkcode sdeint}. */
export interface SdeintOptions<State = unknown> {
  /** The solver, or its name. @default "reversible-heun" */
  readonly solver?: SdeSolver<State> | SdeSolverName;
  /** The step; every gap between observation times must be a whole number of steps. */
  readonly dt: number;
  /** The Brownian path: its grid step must divide dt, and it must cover the observation times. */
  readonly brownian: BrownianPath;
}

/** What {@linkcode sdeint} returns. */
export interface SdeintResult<State = unknown> {
  /** The solution at each observation time. */
  readonly states: Float64Array[];
  /** Steps taken. */
  readonly steps: number;
  /** The solver's state at the last time (for running reversible Heun back). */
  readonly final: State;
}

/** Number of whole `dt` steps from a to b, or a RangeError naming `what`. */
export function wholeSteps(a: number, b: number, dt: number, what: string): number {
  const n = Math.round((b - a) / dt);
  if (n < 1 || Math.abs(a + n * dt - b) > 1e-9 * Math.max(1, Math.abs(a), Math.abs(b))) {
    throw new RangeError(`${what}: ${a} → ${b} is not a whole number of steps dt = ${dt}`);
  }
  return n;
}

/**
 * Solves the SDE from `y0` at `times[0]` and returns its value at every time
 * (`times[0]` included, as `y0`).
 *
 * @throws {RangeError} when the times are not increasing whole multiples of dt
 *   from the first, or dt is not a whole number of the path's grid steps.
 *
 * @example Geometric Brownian motion dy = μy dt + σy ∘ dW solves to y0·exp(μt + σW(t))
 * ```ts
 * import { BrownianPath } from "./brownian.ts";
 * import { sdeint } from "./sdeint.ts";
 * const brownian = new BrownianPath({ t0: 0, t1: 1, steps: 1024, size: 1, seed: 1 });
 * const terms = { drift: (_t: number, y: Float64Array) => y.map((v) => 0.5 * v), diffusion: (_t: number, y: Float64Array) => y.map((v) => 0.3 * v) };
 * const { states } = await sdeint(terms, Float64Array.of(1), [0, 1], { solver: "midpoint", dt: 1 / 1024, brownian });
 * const exact = Math.exp(0.5 + 0.3 * brownian.value(1)[0]!);
 * if (Math.abs(states[1]![0]! - exact) > 1e-3 * exact) throw new Error(`${states[1]![0]} vs ${exact}`);
 * ```
 */
export async function sdeint<State = unknown>(
  terms: SdeTerms,
  y0: Float64Array,
  times: readonly number[],
  options: SdeintOptions<State>,
): Promise<SdeintResult<State>> {
  const { dt, brownian } = options;
  const solver = (typeof options.solver === "string" ? SDE_SOLVERS[options.solver] : options.solver ??
    SDE_SOLVERS["reversible-heun"]) as SdeSolver<State> | undefined;
  if (!solver) throw new RangeError(`Unknown SDE solver "${options.solver}"`);
  if (!(dt > 0)) throw new RangeError(`sdeint: dt must be positive, got ${dt}`);
  if (times.length < 1) throw new RangeError("sdeint: times must hold at least the start time");
  wholeSteps(0, dt, brownian.h, "sdeint: dt against the Brownian path's step");
  const t0 = times[0]!;
  brownian.index(t0);
  let state = await solver.init(terms, t0, y0);
  const states = [solver.y(state).slice()];
  let n = 0;
  for (let k = 1; k < times.length; k++) {
    const steps = wholeSteps(times[k - 1]!, times[k]!, dt, `sdeint: times[${k - 1}] → times[${k}]`);
    for (let s = 0; s < steps; s++, n++) {
      // Times from the step count, so rounding does not drift off the Brownian grid.
      const t = t0 + n * dt, next = t0 + (n + 1) * dt;
      state = await solver.step(terms, state, t, dt, brownian.increment(t, next));
    }
    states.push(solver.y(state).slice());
  }
  return { states, steps: n, final: state };
}
