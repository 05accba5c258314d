/**
 * Fixed-step SDE solvers as strategy objects: each holds no progress of its
 * own; `init` makes a state, `step` advances it by one grid step given the
 * Brownian increment, `y` reads the solution (the diffrax shape, as the ODE
 * solvers in src/solvers).
 *
 * | solver | calculus | strong order (diagonal, commutative noise) | f and g calls per step |
 * |---|---|---|---|
 * | {@linkcode eulerMaruyama} | Itô | 0.5 | 1 + 1 |
 * | {@linkcode eulerHeun} | Stratonovich | 1 | 1 + 2 |
 * | {@linkcode stratonovichMidpoint} | Stratonovich | 1 | 2 + 2 |
 * | {@linkcode reversibleHeun} | Stratonovich | 0.5 (1 for additive noise) | 1 + 1 |
 *
 * Reversible Heun (Kidger et al. 2021, "Efficient and accurate gradients for
 * neural SDEs") is algebraically reversible: {@linkcode reversibleHeunReverse}
 * recovers the state of the step before from the state after, so the SDE
 * adjoint needs no stored trajectory.
 *
 * @module
 */
import { addNoise, type SdeTerms } from "./terms.ts";

/** One fixed-step SDE solver. */
export interface SdeSolver<State = unknown> {
  /** Name, as pipelines spell it. */
  readonly name: SdeSolverName;
  /** The SDE it solves: Itô or Stratonovich. */
  readonly calculus: "ito" | "stratonovich";
  /** The state at t0 (evaluates what the first step needs). */
  init(terms: SdeTerms, t0: number, y0: Float64Array): Promise<State>;
  /** The state one step of size dt later, over the Brownian increment dW. */
  step(terms: SdeTerms, state: State, t: number, dt: number, dW: Float64Array): Promise<State>;
  /** The solution in a state (do not modify). */
  y(state: State): Float64Array;
}

/** Names of the SDE solvers. */
export const SDE_SOLVER_NAMES = ["euler-maruyama", "euler-heun", "midpoint", "reversible-heun"] as const;

/** One name of {@linkcode SDE_SOLVER_NAMES}. */
export type SdeSolverName = typeof SDE_SOLVER_NAMES[number];

/** y + a·dt·f (a fresh array). */
function axpy(y: Float64Array, f: Float64Array, dt: number): Float64Array {
  const out = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i]! + dt * f[i]!;
  return out;
}

/** Itô Euler–Maruyama: y₁ = y + f(t, y)·dt + g(t, y)·dW. */
export const eulerMaruyama: SdeSolver<Float64Array> = {
  name: "euler-maruyama",
  calculus: "ito",
  init: (_terms, _t0, y0) => Promise.resolve(y0.slice()),
  async step(terms, y, t, dt, dW) {
    const f = await terms.drift(t, y), g = await terms.diffusion(t, y);
    const out = axpy(y, f, dt);
    addNoise(out, g, dW);
    return out;
  },
  y: (y) => y,
};

/** Stratonovich Euler–Heun: y' = y + g(t, y)·dW; y₁ = y + f(t, y)·dt + ½(g(t, y) + g(t + dt, y'))·dW. */
export const eulerHeun: SdeSolver<Float64Array> = {
  name: "euler-heun",
  calculus: "stratonovich",
  init: (_terms, _t0, y0) => Promise.resolve(y0.slice()),
  async step(terms, y, t, dt, dW) {
    const f = await terms.drift(t, y), g = (await terms.diffusion(t, y)).slice();
    const predictor = y.slice();
    addNoise(predictor, g, dW);
    const gPredicted = await terms.diffusion(t + dt, predictor);
    const out = axpy(y, f, dt);
    addNoise(out, g, dW, 0.5);
    addNoise(out, gPredicted, dW, 0.5);
    return out;
  },
  y: (y) => y,
};

/** Stratonovich midpoint: y½ = y + ½f·dt + ½g·dW at (t, y); y₁ = y + f(t + dt/2, y½)·dt + g(t + dt/2, y½)·dW. */
export const stratonovichMidpoint: SdeSolver<Float64Array> = {
  name: "midpoint",
  calculus: "stratonovich",
  init: (_terms, _t0, y0) => Promise.resolve(y0.slice()),
  async step(terms, y, t, dt, dW) {
    const f = await terms.drift(t, y), g = await terms.diffusion(t, y);
    const half = axpy(y, f, dt / 2);
    addNoise(half, g, dW, 0.5);
    const fm = await terms.drift(t + dt / 2, half), gm = await terms.diffusion(t + dt / 2, half);
    const out = axpy(y, fm, dt);
    addNoise(out, gm, dW);
    return out;
  },
  y: (y) => y,
};

/** Reversible Heun's state: the solution y, the auxiliary ŷ and f, g at ŷ. */
export interface ReversibleHeunState {
  /** The solution. */
  readonly y: Float64Array;
  /** The auxiliary state ŷ. */
  readonly yHat: Float64Array;
  /** f(t, ŷ). */
  readonly f: Float64Array;
  /** g(t, ŷ). */
  readonly g: Float64Array;
}

async function evaluated(terms: SdeTerms, t: number, y: Float64Array, yHat: Float64Array) {
  const f = (await terms.drift(t, yHat)).slice(), g = (await terms.diffusion(t, yHat)).slice();
  return { y, yHat, f, g };
}

/**
 * Reversible Heun: ŷ₁ = 2y − ŷ + f(ŷ)·dt + g(ŷ)·dW; y₁ = y + ½(f(ŷ) + f(ŷ₁))·dt + ½(g(ŷ) + g(ŷ₁))·dW,
 * starting from ŷ₀ = y₀; one f and one g call per step.
 */
export const reversibleHeun: SdeSolver<ReversibleHeunState> = {
  name: "reversible-heun",
  calculus: "stratonovich",
  init: (terms, t0, y0) => evaluated(terms, t0, y0.slice(), y0.slice()),
  async step(terms, s, t, dt, dW) {
    const yHat = new Float64Array(s.y.length);
    for (let i = 0; i < yHat.length; i++) yHat[i] = 2 * s.y[i]! - s.yHat[i]! + dt * s.f[i]!;
    addNoise(yHat, s.g, dW);
    const next = await evaluated(terms, t + dt, new Float64Array(s.y.length), yHat);
    for (let i = 0; i < yHat.length; i++) next.y[i] = s.y[i]! + (dt / 2) * (s.f[i]! + next.f[i]!);
    addNoise(next.y, s.g, dW, 0.5);
    addNoise(next.y, next.g, dW, 0.5);
    return next;
  },
  y: (s) => s.y,
};

/**
 * Reversible Heun run backwards: the state at t from the state at t + dt and
 * the same increment dW (exact up to round-off; one f and one g call).
 */
export async function reversibleHeunReverse(
  terms: SdeTerms,
  s: ReversibleHeunState,
  t: number,
  dt: number,
  dW: Float64Array,
): Promise<ReversibleHeunState> {
  const yHat = new Float64Array(s.y.length);
  for (let i = 0; i < yHat.length; i++) yHat[i] = 2 * s.y[i]! - s.yHat[i]! - dt * s.f[i]!;
  addNoise(yHat, s.g, dW, -1);
  const before = await evaluated(terms, t, new Float64Array(s.y.length), yHat);
  for (let i = 0; i < yHat.length; i++) before.y[i] = s.y[i]! - (dt / 2) * (s.f[i]! + before.f[i]!);
  addNoise(before.y, s.g, dW, -0.5);
  addNoise(before.y, before.g, dW, -0.5);
  return before;
}

/** Every SDE solver by name. */
export const SDE_SOLVERS: { readonly [N in SdeSolverName]: SdeSolver } = {
  "euler-maruyama": eulerMaruyama as SdeSolver,
  "euler-heun": eulerHeun as SdeSolver,
  "midpoint": stratonovichMidpoint as SdeSolver,
  "reversible-heun": reversibleHeun as SdeSolver,
};
