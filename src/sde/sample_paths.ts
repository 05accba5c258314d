/**
 * Many sample paths of an SDE from a few initial values, and the kernel
 * density of samples at one time: what a neural SDE is judged by beside its
 * KL (the paper's Figure 15 draws the model's densities over the data's at
 * three times, and a few paths of each).
 *
 * @module
 */
import { BrownianPath } from "./brownian.ts";
import { sdeint } from "./sdeint.ts";
import type { SdeSolverName } from "./solvers.ts";
import type { SdeTerms } from "./terms.ts";

/** An SDE and how to solve it: the terms, a solver and its step. */
export interface SdeProcess {
  /** Drift and diffusion. */
  readonly terms: SdeTerms;
  /** The solver. */
  readonly solver: SdeSolverName;
  /** The solver's step. */
  readonly dt: number;
}

/** Options of {@linkcode samplePaths}. */
export interface SamplePathsOptions {
  /** Initial values (one state value per sample). */
  readonly x0: readonly number[];
  /** Observation times; the first is the start. */
  readonly times: readonly number[];
  /** Paths per initial value. */
  readonly paths: number;
  /** Seed of the Brownian path. */
  readonly seed: number;
}

/** What {@linkcode samplePaths} returns: per observation time, initial value i's path p at index i·paths + p. */
export interface SamplePaths {
  /** Initial values. */
  readonly x0: readonly number[];
  /** Observation times. */
  readonly times: readonly number[];
  /** Paths per initial value. */
  readonly paths: number;
  /** The samples, one array per observation time. */
  readonly states: Float64Array[];
}

/**
 * Solves `paths` sample paths from each initial value on one seeded Brownian
 * path (a different Brownian motion per sample).
 *
 * @throws {RangeError} for a non-positive or fractional path count, or times the solver's step does not divide.
 *
 * @example Pure noise dy = dW from 0: the spread at t = 1 is about 1
 * ```ts
 * import { samplePaths } from "./sample_paths.ts";
 * const noise = { terms: { drift: (_t: number, y: Float64Array) => y.map(() => 0), diffusion: (_t: number, y: Float64Array) => y.map(() => 1) }, solver: "euler-maruyama" as const, dt: 0.1 };
 * const { states } = await samplePaths(noise, { x0: [0], times: [0, 1], paths: 2000, seed: 3 });
 * const v = states[1]!.reduce((s, y) => s + y * y, 0) / 2000;
 * if (Math.abs(v - 1) > 0.1) throw new Error(`variance ${v}`);
 * ```
 */
export async function samplePaths(process: SdeProcess, options: SamplePathsOptions): Promise<SamplePaths> {
  const { x0, times, paths, seed } = options;
  if (!(Number.isInteger(paths) && paths >= 1)) {
    throw new RangeError(`samplePaths: paths must be a positive integer, got ${paths}`);
  }
  const y0 = new Float64Array(x0.length * paths).map((_, i) => x0[Math.floor(i / paths)]!);
  const start = times[0]!, end = times.at(-1)!;
  const brownian = new BrownianPath({
    t0: start,
    t1: end,
    steps: Math.max(1, Math.round((end - start) / process.dt)),
    size: y0.length,
    seed,
  });
  const { states } = await sdeint(process.terms, y0, times, { solver: process.solver, dt: process.dt, brownian });
  return { x0, times, paths, states };
}

/** Silverman's rule-of-thumb bandwidth 0.9·min(σ, IQR/1.34)·n^(−1/5) of a Gaussian kernel. */
export function silvermanBandwidth(samples: ArrayLike<number>): number {
  const sorted = Float64Array.from(samples).sort();
  const n = sorted.length;
  if (n < 2) throw new RangeError(`silvermanBandwidth: needs at least 2 samples, got ${n}`);
  const mean = sorted.reduce((s, v) => s + v, 0) / n;
  const sd = Math.sqrt(sorted.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  const quantile = (q: number) => {
    const i = q * (n - 1), lo = Math.floor(i);
    return sorted[lo]! + (i - lo) * ((sorted[Math.min(lo + 1, n - 1)] ?? 0) - sorted[lo]!);
  };
  const spread = Math.min(sd, (quantile(0.75) - quantile(0.25)) / 1.34) || sd;
  // Identical samples have no spread: a small positive width keeps the density finite.
  return 0.9 * (spread > 0 ? spread : 1e-3) * n ** -0.2;
}

/**
 * The Gaussian kernel density estimate of `samples` at each grid point
 * (bandwidth by {@linkcode silvermanBandwidth} unless given).
 *
 * @example Integrates to about 1
 * ```ts
 * import { kernelDensity } from "./sample_paths.ts";
 * const grid = Array.from({ length: 201 }, (_, i) => -5 + i * 0.05);
 * const d = kernelDensity([-0.5, 0, 0.2, 1], grid);
 * const mass = d.reduce((s, v) => s + v * 0.05, 0);
 * if (Math.abs(mass - 1) > 1e-3) throw new Error(`mass ${mass}`);
 * ```
 */
export function kernelDensity(
  samples: ArrayLike<number>,
  grid: readonly number[],
  bandwidth: number = silvermanBandwidth(samples),
): Float64Array {
  if (!(bandwidth > 0)) throw new RangeError(`kernelDensity: bandwidth must be positive, got ${bandwidth}`);
  const n = samples.length, norm = 1 / (n * bandwidth * Math.sqrt(2 * Math.PI));
  return Float64Array.from(grid, (x) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.exp(-0.5 * ((x - samples[i]!) / bandwidth) ** 2);
    return s * norm;
  });
}
