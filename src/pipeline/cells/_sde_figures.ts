/**
 * The paper's Figure 15 for one trained neural SDE: from three test initial
 * values (the smallest, the median and the largest), the model's densities
 * against the data process's at three times (the observation times nearest
 * 3 %, 50 % and 100 % of the span — t = 0.3, 5 and 10 on the paper's
 * [0, 10]), and a few sample paths of each. The model's samples come from
 * the SDE solver that evaluates its KL (reversible Heun at `solve.dt`), the
 * data's from the process that made the data, each with
 * {@linkcode DENSITY_PATHS} paths per initial value, so the curves are
 * smooth even where the training data has 45.
 *
 * @module
 */
import type { OrnsteinUhlenbeckData } from "../../data/ornstein_uhlenbeck.ts";
import type { Dynamics, Params } from "../../models/dynamics.ts";
import type { SdeDensityRecord, SdePathRecord, SdeSampleSource } from "../../results/records.ts";
import type { Runtime } from "../../runtime/session.ts";
import { kernelDensity, type SamplePaths, samplePaths, silvermanBandwidth } from "../../sde/sample_paths.ts";
import { onnxSdeTerms } from "../../sde/terms.ts";

/** Paths per initial value behind each density curve. */
export const DENSITY_PATHS = 400;
/** Sample paths drawn per initial value and source. */
export const SHOWN_PATHS = 3;
/** Points of each density curve. */
export const GRID_POINTS = 60;
/** Where the density times sit, as fractions of the time span (the paper's 0.3, 5 and 10 of 10). */
const TIME_FRACTIONS = [0.03, 0.5, 1];

/** The observation times nearest each fraction of the span, after the start (where every density is a spike). */
export function densityTimes(times: readonly number[]): number[] {
  const t0 = times[0]!, span = times.at(-1)! - t0;
  const later = times.slice(1);
  const picked = TIME_FRACTIONS.map((f) =>
    later.reduce((best, t) => Math.abs(t - t0 - f * span) < Math.abs(best - t0 - f * span) ? t : best)
  );
  return [...new Set(picked)];
}

/** The smallest, the median and the largest of the initial values (fewer when there are fewer). */
export function figureInitialValues(x0: ArrayLike<number>): number[] {
  const sorted = Float64Array.from(x0).sort();
  const n = sorted.length;
  return [...new Set([sorted[0]!, sorted[Math.floor((n - 1) / 2)]!, sorted[n - 1]!])];
}

/** What one cell's figure needs besides the trained model. */
export interface SdeFigureContext {
  /** The cell, method and width the records are labelled with. */
  readonly label: Pick<SdeDensityRecord, "cellId" | "method" | "width">;
  /** Where the model's graphs run. */
  readonly runtime: Runtime;
  /** The trained model. */
  readonly model: { readonly drift: Dynamics; readonly diffusion: Dynamics; readonly params: Params };
  /** The data: observation times, test initial values, and the process that made them. */
  readonly data: Pick<OrnsteinUhlenbeckData, "times" | "test" | "process">;
  /** Step of the model's SDE solver. */
  readonly dt: number;
  /** Seed of both sources' Brownian paths. */
  readonly seed: number;
}

/** Density and path records of one trained neural SDE against its data. */
export async function sdeFigureRecords(
  ctx: SdeFigureContext,
): Promise<{ densities: SdeDensityRecord[]; paths: SdePathRecord[] }> {
  const { label, data } = ctx;
  const x0 = figureInitialValues(data.test.x0);
  const options = { x0, times: data.times, paths: DENSITY_PATHS, seed: ctx.seed };
  const terms = await onnxSdeTerms({ runtime: ctx.runtime, ...ctx.model });
  const sampled: [SdeSampleSource, SamplePaths][] = [
    ["model", await samplePaths({ terms, solver: "reversible-heun", dt: ctx.dt }, options)],
    ["data", await samplePaths(data.process, options)],
  ];
  const densities: SdeDensityRecord[] = [], paths: SdePathRecord[] = [];
  const ofX0 = (s: SamplePaths, k: number, i: number) => s.states[k]!.subarray(i * s.paths, (i + 1) * s.paths);
  for (const t of densityTimes(data.times)) {
    const k = data.times.indexOf(t);
    x0.forEach((x0i, i) => {
      const samples = sampled.map(([, s]) => ofX0(s, k, i));
      // One grid for both sources, wide enough for either's tails.
      const pad = 3 * Math.max(...samples.map(silvermanBandwidth));
      const lo = Math.min(...samples.map((v) => Math.min(...v))) - pad;
      const hi = Math.max(...samples.map((v) => Math.max(...v))) + pad;
      const grid = Array.from({ length: GRID_POINTS }, (_, j) => lo + (hi - lo) * j / (GRID_POINTS - 1));
      sampled.forEach(([source], s) => {
        const density = kernelDensity(samples[s]!, grid);
        grid.forEach((x, j) => densities.push({ ...label, x0: x0i, t, x, density: density[j]!, source }));
      });
    });
  }
  for (const [source, s] of sampled) {
    x0.forEach((x0i, i) => {
      for (let path = 0; path < Math.min(SHOWN_PATHS, s.paths); path++) {
        data.times.forEach((t, k) =>
          paths.push({ ...label, x0: x0i, path, t, value: s.states[k]![i * s.paths + path]!, source })
        );
      }
    });
  }
  return { densities, paths };
}
