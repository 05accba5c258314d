/**
 * The paper's Ornstein–Uhlenbeck data (§5.6): dx = (μt − θx) dt + (σ + φt) dW
 * with μ = 0.2, θ = 0.1, σ = 0.6, φ = 0.15, initial values x0 ~ U[−3, 3],
 * observed every 0.1 on [0, 10], with 45 sample paths per initial value.
 * The paths are solved by quadjoint's own SDE solver (Stratonovich midpoint;
 * the noise is additive, so Itô and Stratonovich agree) at a fine step on a
 * seeded Brownian path; what training needs are the per-time means and
 * variances of each initial value's paths.
 *
 * @module
 */
import { BrownianPath } from "../sde/brownian.ts";
import { groupMoments } from "../sde/gaussian_kl.ts";
import type { SdeProcess } from "../sde/sample_paths.ts";
import { sdeint } from "../sde/sdeint.ts";
import type { SdeTerms } from "../sde/terms.ts";
import { Random } from "../util/random.ts";

/** Options of {@linkcode ornsteinUhlenbeck}. */
export interface OrnsteinUhlenbeckOptions {
  /** Training initial values. @default 200 */
  readonly train?: number;
  /** Test initial values. @default 20 */
  readonly test?: number;
  /** Sample paths per initial value. @default 45 */
  readonly paths?: number;
  /** Last observation time. @default 10 */
  readonly end?: number;
  /** Gap between observation times. @default 0.1 */
  readonly every?: number;
  /** Solver step of the data (a divisor of `every`). @default 0.01 */
  readonly dt?: number;
  /** Seed of initial values and paths. @default 0 */
  readonly seed?: number;
}

/** The process's coefficients (the paper's). */
export const OU_COEFFICIENTS = { mu: 0.2, theta: 0.1, sigma: 0.6, phi: 0.15 } as const;

/** Initial values and the moments of their sample paths at every observation time. */
export interface SdeSamples {
  /** Initial values. */
  readonly x0: Float64Array;
  /** Mean over each initial value's paths, per observation time. */
  readonly mean: Float64Array[];
  /** Population variance over each initial value's paths, per observation time. */
  readonly variance: Float64Array[];
  /** The paths themselves, per observation time: initial value i's path p at index i·paths + p. */
  readonly paths: Float64Array[];
}

/** The OU data: observation times and two splits. */
export interface OrnsteinUhlenbeckData {
  /** Observation times 0, every, …, end. */
  readonly times: number[];
  /** Paths per initial value. */
  readonly paths: number;
  /** Training split. */
  readonly train: SdeSamples;
  /** Test split. */
  readonly test: SdeSamples;
  /** The process and solver that made the paths, to draw more of them (for figures). */
  readonly process: SdeProcess;
}

/** The OU process's drift and diffusion, for any number of samples. */
export const ouTerms: SdeTerms = {
  drift: (t, y) => y.map((v) => OU_COEFFICIENTS.mu * t - OU_COEFFICIENTS.theta * v),
  diffusion: (t, y) => y.map(() => OU_COEFFICIENTS.sigma + OU_COEFFICIENTS.phi * t),
};

/** Mean and variance of x(t) from x0 in closed form (a linear SDE), for tests and reports. */
export function ouMoments(x0: number, t: number): { mean: number; variance: number } {
  const { mu, theta, sigma, phi } = OU_COEFFICIENTS;
  const e = Math.exp(-theta * t);
  // ∫₀ᵗ e^{−θ(t−s)} μs ds and ∫₀ᵗ e^{−2θ(t−s)} (σ + φs)² ds, integrated by parts.
  const mean = e * x0 + mu * (t / theta - (1 - e) / (theta * theta));
  const k = 2 * theta, e2 = Math.exp(-k * t);
  const a = sigma * sigma, b = 2 * sigma * phi, c = phi * phi;
  const i0 = (1 - e2) / k;
  const i1 = t / k - (1 - e2) / (k * k);
  const i2 = t * t / k - 2 * t / (k * k) + 2 * (1 - e2) / (k * k * k);
  return { mean, variance: a * i0 + b * i1 + c * i2 };
}

async function split(
  count: number,
  paths: number,
  times: number[],
  process: SdeProcess,
  random: Random,
  seed: number,
): Promise<SdeSamples> {
  const x0 = Float64Array.from({ length: count }, () => random.uniformIn(-3, 3));
  const y0 = new Float64Array(count * paths).map((_, i) => x0[Math.floor(i / paths)]!);
  const end = times.at(-1)!, { dt } = process;
  const brownian = new BrownianPath({ t0: 0, t1: end, steps: Math.round(end / dt), size: y0.length, seed });
  const { states } = await sdeint(process.terms, y0, times, { solver: process.solver, dt, brownian });
  const moments = states.map((s) => groupMoments(s, paths));
  return { x0, mean: moments.map((m) => m.mean), variance: moments.map((m) => m.variance), paths: states };
}

/**
 * Generates the OU data, seeded: the same options give the same numbers.
 *
 * @example A small draw
 * ```ts
 * import { ornsteinUhlenbeck } from "./ornstein_uhlenbeck.ts";
 * const data = await ornsteinUhlenbeck({ train: 2, test: 1, paths: 3, end: 1, every: 0.5, dt: 0.05 });
 * if (data.times.join() !== "0,0.5,1" || data.train.paths[2]!.length !== 6) throw new Error();
 * ```
 */
export async function ornsteinUhlenbeck(options: OrnsteinUhlenbeckOptions = {}): Promise<OrnsteinUhlenbeckData> {
  const { train = 200, test = 20, paths = 45, end = 10, every = 0.1, dt = 0.01, seed = 0 } = options;
  for (const [name, v] of Object.entries({ train, test, paths })) {
    if (!(Number.isInteger(v) && v >= 1)) {
      throw new RangeError(`ornsteinUhlenbeck(): ${name} must be a positive integer, got ${v}`);
    }
  }
  const count = Math.round(end / every);
  if (!(count >= 1 && Math.abs(count * every - end) < 1e-9 * end)) {
    throw new RangeError(`ornsteinUhlenbeck(): end ${end} is not a whole number of gaps ${every}`);
  }
  const perGap = Math.round(every / dt);
  if (!(perGap >= 1 && Math.abs(perGap * dt - every) < 1e-9 * every)) {
    throw new RangeError(`ornsteinUhlenbeck(): dt ${dt} does not divide the gap ${every}`);
  }
  const times = Array.from({ length: count + 1 }, (_, k) => Math.round(k * every * 1e9) / 1e9);
  const random = new Random(seed);
  // Stratonovich midpoint: the noise is additive, so it is also the Itô solution.
  const process: SdeProcess = { terms: ouTerms, solver: "midpoint", dt };
  return {
    times,
    paths,
    train: await split(train, paths, times, process, random.fork(), 2 * seed + 1),
    test: await split(test, paths, times, process, random.fork(), 2 * seed + 2),
    process,
  };
}
