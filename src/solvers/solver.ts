/**
 * Solvers as strategy objects: a validated Butcher tableau, whether it adapts
 * its step, and its dense output. They hold no mutable state, so one object
 * serves any number of forward and backward solves.
 *
 * | solver | order | stages (new f per step) | FSAL | adaptive | dense output |
 * |---|---|---|---|---|---|
 * | `dopri5` | 5(4) | 7 (6) | yes | yes | 4th-order continuous extension (Hairer; torchdiffeq's DPS_C_MID) |
 * | `tsit5` | 5(4) | 7 (6) | yes | yes | Tsitouras' 4th-order interpolant |
 * | `bosh3` | 3(2) | 4 (3) | yes | yes | cubic Hermite |
 * | `adaptiveHeun` | 2(1) | 2 (2) | no | yes | cubic Hermite |
 * | `dopri8` | 8(7) | 14 (13) | yes | yes | quartic through torchdiffeq's mid-step estimate |
 * | `euler` | 1 | 1 (1) | no | no | cubic Hermite |
 * | `midpoint` | 2 | 2 (2) | no | no | cubic Hermite |
 * | `rk4` | 4 | 4 (4) | no | no | cubic Hermite |
 *
 * For non-FSAL tableaux the "new f per step" counts f(t1, y1), which the next
 * step needs as its first stage. Cubic Hermite uses (y0, f0, y1, f1): f1 is
 * that next first stage, so it costs nothing extra except at the very end of
 * a solve.
 *
 * dopri8's dense output is only 4th order: between its long steps it is much
 * less accurate than the steps themselves (~100× the tolerance at rtol 1e-9),
 * so observe by "clamp" with dopri8 when the observed states matter.
 *
 * When not to use: all are explicit, so stiff problems make every adaptive
 * solver crawl (many rejected steps) and fixed-step ones blow up; dopri8 pays
 * 13 evaluations per step and only wins at tight tolerances (≲1e-8).
 *
 * Why one file: each solver with its dense output; the table above is the list, and splitting it would part a tableau from its interpolation.
 *
 * @module
 */
import { combine } from "./_combine.ts";
import {
  ADAPTIVE_HEUN_TABLEAU,
  BOSH3_TABLEAU,
  type ButcherTableau,
  DOPRI5_TABLEAU,
  DOPRI8_TABLEAU,
  EULER_TABLEAU,
  MIDPOINT_TABLEAU,
  RK4_TABLEAU,
  TSIT5_TABLEAU,
} from "./tableau.ts";

/** One accepted step, as an interpolant needs it. */
export interface StepData {
  /** Start of the step. */
  readonly t0: number;
  /** End of the step (t1 < t0 when integrating backwards). */
  readonly t1: number;
  /** State at t0. */
  readonly y0: Float64Array;
  /** State at t1. */
  readonly y1: Float64Array;
  /** Stage derivatives of the step (stages[0] = f(t0, y0)). */
  readonly stages: readonly Float64Array[];
  /** f(t1, y1). */
  readonly f1: Float64Array;
}

/** Dense output of one step: the state at any t between its ends. */
export type DenseOutput = (t: number) => Float64Array;

/** How a solver interpolates inside an accepted step. */
export interface Interpolation {
  /** Short name. */
  readonly name: "hermite" | "dopri5" | "tsit5" | "quartic-mid";
  /** Order of the interpolant: its local error is O(h^(order+1)) (with exact step ends). */
  readonly order: number;
  /** Builds the dense output of one step. The returned arrays are new. */
  fit(step: StepData): DenseOutput;
}

/** A Runge–Kutta solver: tableau, step control kind and dense output. */
export interface Solver {
  /** Name as used in pipeline files. */
  readonly name: SolverName;
  /** Its Butcher tableau. */
  readonly tableau: ButcherTableau;
  /** Whether it controls its step size by an embedded error estimate. */
  readonly adaptive: boolean;
  /** Order of the solution (the exponent in ratio^(−1/order) of step control). */
  readonly order: number;
  /** Dense output. */
  readonly interpolation: Interpolation;
}

/** Names of the built-in solvers. */
export type SolverName = "dopri5" | "tsit5" | "bosh3" | "adaptive_heun" | "dopri8" | "euler" | "midpoint" | "rk4";

function theta(step: StepData, t: number): number {
  return (t - step.t0) / (step.t1 - step.t0);
}

/**
 * Cubic Hermite interpolation on (y0, f0, y1, f1): third order, continuous
 * with continuous derivative across steps.
 */
export const hermiteInterpolation: Interpolation = Object.freeze({
  name: "hermite" as const,
  order: 3,
  fit(step: StepData): DenseOutput {
    const { y0, y1, f1 } = step;
    const f0 = step.stages[0]!;
    const h = step.t1 - step.t0;
    return (t: number) => {
      const s = theta(step, t);
      if (s === 0) return y0.slice();
      if (s === 1) return y1.slice();
      const h00 = (1 + 2 * s) * (1 - s) * (1 - s);
      const h10 = s * (1 - s) * (1 - s) * h;
      const h01 = s * s * (3 - 2 * s);
      const h11 = s * s * (s - 1) * h;
      const out = new Float64Array(y0.length);
      for (let m = 0; m < out.length; m++) out[m] = h00 * y0[m]! + h10 * f0[m]! + h01 * y1[m]! + h11 * f1[m]!;
      return out;
    };
  },
});

/**
 * The quartic through y0, y1, their derivatives f0, f1 and a mid-step value
 * y(½) = y0 + h·Σ mid_i k_i from a continuous extension evaluated at θ = ½.
 */
function quarticMid(name: "dopri5" | "quartic-mid", mid: readonly number[]): Interpolation {
  return Object.freeze({
    name,
    order: 4,
    fit(step: StepData): DenseOutput {
      const { y0, y1, f1 } = step;
      const f0 = step.stages[0]!;
      const h = step.t1 - step.t0;
      const ymid = combine(y0, h, mid, step.stages);
      const n = y0.length;
      // p(s) = e + d s + c s² + b s³ + a s⁴ (torchdiffeq's _interp_fit).
      const A = new Float64Array(n), B = new Float64Array(n), C = new Float64Array(n), D = new Float64Array(n);
      for (let m = 0; m < n; m++) {
        const u0 = y0[m]!, u1 = y1[m]!, um = ymid[m]!, g0 = h * f0[m]!, g1 = h * f1[m]!;
        A[m] = 2 * (g1 - g0) - 8 * (u1 + u0) + 16 * um;
        B[m] = 5 * g0 - 3 * g1 + 18 * u0 + 14 * u1 - 32 * um;
        C[m] = g1 - 4 * g0 - 11 * u0 - 5 * u1 + 16 * um;
        D[m] = g0;
      }
      return (t: number) => {
        const s = theta(step, t);
        if (s === 0) return y0.slice();
        if (s === 1) return y1.slice();
        const out = new Float64Array(n);
        for (let m = 0; m < n; m++) out[m] = y0[m]! + s * (D[m]! + s * (C[m]! + s * (B[m]! + s * A[m]!)));
        return out;
      };
    },
  });
}

/** Dormand–Prince's continuous extension at θ = ½ (Shampine 1986; torchdiffeq's DPS_C_MID). */
const DOPRI5_MID = [
  6025192743 / 30085553152 / 2,
  0,
  51252292925 / 65400821598 / 2,
  -2691868925 / 45128329728 / 2,
  187940372067 / 1594534317056 / 2,
  -1776094331 / 19743644256 / 2,
  11237099 / 235043384 / 2,
];

/** dopri5's 4th-order dense output. */
export const dopri5Interpolation: Interpolation = quarticMid("dopri5", DOPRI5_MID);

/** dopri8's mid-step weights (torchdiffeq's dopri8 C_mid: polynomials in θ evaluated at θ = ½). */
const DOPRI8_MID: number[] = (() => {
  const p = (c5: number, c4: number, c3: number, c2: number, c1: number, c0 = 0) => {
    const h = 0.5;
    return (c5 * h ** 5 + c4 * h ** 4 + c3 * h ** 3 + c2 * h ** 2 + c1 * h + c0) * h;
  };
  const mid = new Array<number>(14).fill(0);
  mid[0] = p(
    -6.3448349392860401388,
    22.1396504998094068976,
    -30.0610568289666450593,
    19.999006933368397061,
    -6.6910181737837595697,
    1,
  );
  mid[5] = p(
    -39.6107919852202505218,
    116.4422149550342161651,
    -121.4999627731334642623,
    52.227353279294552405,
    -7.6142658045872677172,
  );
  mid[6] = p(
    20.3761213808791436958,
    -67.1451318825957197185,
    83.1721004639847717481,
    -46.8919164181093621583,
    10.7281392630428866124,
  );
  mid[7] = p(
    7.3347098826795362023,
    -16.5672243527496524646,
    9.5724507555993664382,
    -0.1890893225010595467,
    0.5526637063753648783,
  );
  mid[8] = p(
    32.8801774352459155182,
    -89.9916014847245016028,
    87.8406057677205645007,
    -35.7075975946222072821,
    4.2186562625665153803,
  );
  mid[9] = p(
    -10.1588990526426760954,
    22.6237489648532849093,
    -17.4152107770762969005,
    6.273644808324035216,
    -0.6627209125361597559,
  );
  mid[10] = p(
    -12.54012680987825612,
    32.2362340167355370113,
    -28.5903289514790976966,
    10.3160881272450748458,
    -1.2636789001135462218,
  );
  mid[11] = p(
    29.5553001484516038033,
    -82.1020315488359848644,
    81.6630950584341412934,
    -34.7650769866611817349,
    5.410603789859042223,
  );
  mid[12] = p(
    -41.7923486424390588923,
    116.2662185791119533462,
    -114.937529137700941817,
    47.7457971078225540396,
    -7.0321379067945741781,
  );
  mid[13] = p(
    20.3006925822100825485,
    -53.9020777466385396792,
    50.2558364226176017553,
    -19.0082099341608028453,
    2.3537586759714983486,
  );
  return mid;
})();

/** dopri8's dense output: a quartic through its mid-step estimate. */
export const dopri8Interpolation: Interpolation = quarticMid("quartic-mid", DOPRI8_MID);

/** Tsitouras' free interpolant (Tsitouras 2011; as in diffrax and OrdinaryDiffEq). */
export const tsit5Interpolation: Interpolation = Object.freeze({
  name: "tsit5" as const,
  order: 4,
  fit(step: StepData): DenseOutput {
    const { y0, y1 } = step;
    const h = step.t1 - step.t0;
    return (t: number) => {
      const s = theta(step, t);
      if (s === 0) return y0.slice();
      if (s === 1) return y1.slice();
      const s2 = s * s;
      const w = [
        -1.0530884977290216 * s * (s - 1.3299890189751412) * (s2 - 1.4364028541716351 * s + 0.7139816917074209),
        0.1017 * s2 * (s2 - 2.1966568338249754 * s + 1.2949852507374631),
        2.490627285651252793 * s2 * (s2 - 2.38535645472061657 * s + 1.57803468208092486),
        -16.54810288924490272 * (s - 1.21712927295533244) * (s - 0.61620406037800089) * s2,
        47.37952196281928122 * (s - 1.203071208372362603) * (s - 0.658047292653547382) * s2,
        -34.87065786149660974 * (s - 1.2) * (s - 2 / 3) * s2,
        2.5 * (s - 1) * (s - 0.6) * s2,
      ];
      return combine(y0, h, w, step.stages);
    };
  },
});

function solver(
  name: SolverName,
  tableau: ButcherTableau,
  adaptive: boolean,
  interpolation: Interpolation,
): Solver {
  if (adaptive && tableau.bError === undefined) {
    throw new RangeError(`Solver ${name}: an adaptive solver needs a tableau with bError`);
  }
  return Object.freeze({ name, tableau, adaptive, order: tableau.order, interpolation });
}

/**
 * Dormand–Prince 5(4): the paper's solver and the default. 7 stages, FSAL
 * (6 evaluations per step), 4th-order dense output. Use it unless you have
 * a reason not to.
 *
 * @example Solve y' = −y to t = 1
 * ```ts
 * import { dopri5 } from "./solver.ts";
 * import { integrate } from "./integrate.ts";
 * const { y1 } = await integrate((_t, y) => Promise.resolve(y.map((v) => -v)), new Float64Array([1]), 0, 1, {
 *   solver: dopri5,
 * });
 * if (Math.abs(y1[0]! - Math.exp(-1)) > 1e-7) throw new Error("inaccurate");
 * ```
 */
export const dopri5: Solver = solver("dopri5", DOPRI5_TABLEAU, true, dopri5Interpolation);
/** Tsitouras 5(4): like dopri5, often slightly cheaper at the same tolerance; own 4th-order interpolant. */
export const tsit5: Solver = solver("tsit5", TSIT5_TABLEAU, true, tsit5Interpolation);
/** Bogacki–Shampine 3(2): 3 evaluations per step, FSAL; for loose tolerances (≳1e-4). */
export const bosh3: Solver = solver("bosh3", BOSH3_TABLEAU, true, hermiteInterpolation);
/** Heun–Euler 2(1): cheap steps, many of them; for rough tolerances only. */
export const adaptiveHeun: Solver = solver("adaptive_heun", ADAPTIVE_HEUN_TABLEAU, true, hermiteInterpolation);
/** Dormand–Prince 8(7): 13 evaluations per step; for tight tolerances (≲1e-8). */
export const dopri8: Solver = solver("dopri8", DOPRI8_TABLEAU, true, dopri8Interpolation);
/** Explicit Euler, fixed step (needs `dt` or `steps`). First order: mostly for tests and baselines. */
export const euler: Solver = solver("euler", EULER_TABLEAU, false, hermiteInterpolation);
/** Explicit midpoint, fixed step (needs `dt` or `steps`). */
export const midpoint: Solver = solver("midpoint", MIDPOINT_TABLEAU, false, hermiteInterpolation);
/** Classical Runge–Kutta 4, fixed step (needs `dt` or `steps`). */
export const rk4: Solver = solver("rk4", RK4_TABLEAU, false, hermiteInterpolation);

/**
 * The one table from solver names to solvers (the pipeline's strings map here).
 *
 * @example Look a solver up by name
 * ```ts
 * import { SOLVERS } from "./solver.ts";
 * if (SOLVERS["rk4"].adaptive) throw new Error("rk4 is fixed-step");
 * ```
 */
export const SOLVERS: Readonly<Record<SolverName, Solver>> = Object.freeze({
  dopri5,
  tsit5,
  bosh3,
  adaptive_heun: adaptiveHeun,
  dopri8,
  euler,
  midpoint,
  rk4,
});

/** The solver names, in table order (what the pipeline schema accepts). */
export const SOLVER_NAMES = Object.keys(SOLVERS) as [SolverName, ...SolverName[]];

/** The names of the fixed-step solvers (they need a step size). */
export const FIXED_STEP_SOLVER_NAMES: readonly SolverName[] = SOLVER_NAMES.filter((n) => !SOLVERS[n].adaptive);
