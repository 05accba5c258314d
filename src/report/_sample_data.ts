/**
 * Deterministic sample results for the report tests: every record type, a
 * few methods, widths and seeds, and some missing values.
 *
 * @module
 */
import { Random } from "../util/random.ts";
import type { EpochRecord, GradientErrorRecord, MemoryRecord, RunRecord } from "../results/records.ts";

/** Methods in the samples with their time factor relative to gq. */
const METHODS: ReadonlyArray<readonly [string, number]> = [["direct", 1.2], ["adjoint", 6], ["seminorm", 3], ["gq", 1]];
/** Widths of the sample sweeps. */
export const SAMPLE_WIDTHS: readonly number[] = [5, 20, 100, 500];

/** Runs: 4 methods × 4 widths × 2 seeds; the adjoint's second seed at width 500 has no time (a failed run). */
export function sampleRuns(): RunRecord[] {
  const rng = new Random(1);
  const runs: RunRecord[] = [];
  for (const [method, factor] of METHODS) {
    for (const width of SAMPLE_WIDTHS) {
      for (const seed of [0, 1]) {
        runs.push({
          method,
          width,
          seed,
          trainSeconds: method === "adjoint" && width === 500 && seed === 1
            ? null
            : factor * (2 + 0.05 * width) * (1 + 0.1 * rng.uniform()),
          evaluationSeconds: 0.1 * (1 + 0.01 * width),
          testMetric: 0.9 + 0.05 * Math.tanh(width / 50) + 0.01 * rng.uniform(),
          nfeForwardPerBatch: Math.round(60 + 10 * rng.uniform()),
          nfeBackwardPerBatch: Math.round(60 * (method === "gq" ? 1.1 : method === "direct" ? 0 : factor / 2)),
        });
      }
    }
  }
  return runs;
}

/** Test loss per epoch for two widths, with wall-clock seconds; one NaN loss. */
export function sampleEpochs(): EpochRecord[] {
  const out: EpochRecord[] = [];
  for (const [method, factor] of METHODS) {
    for (const width of [20, 100]) {
      for (const seed of [0, 1]) {
        for (let epoch = 1; epoch <= 10; epoch++) {
          out.push({
            method,
            width,
            seed,
            epoch,
            elapsedSeconds: factor * epoch * (0.5 + 0.01 * width) * (1 + 0.05 * seed),
            testLoss: method === "seminorm" && epoch === 5 && seed === 0 ? NaN : Math.exp(-epoch / 3) + 0.01 * seed,
          });
        }
      }
    }
  }
  return out;
}

/** Relative errors of three gradients against T; one exact zero (dropped on the log axis). */
export function sampleGradientErrors(): GradientErrorRecord[] {
  const out: GradientErrorRecord[] = [];
  for (const [method, factor] of METHODS) {
    for (const quantity of ["dL/dz0", "dL/da", "dL/dT"]) {
      for (let T = 19; T <= 29; T += 2) {
        out.push({
          method,
          T,
          quantity,
          relativeError: method === "direct" && T === 19 ? 0 : 1e-6 * factor * Math.exp(0.3 * (T - 19)),
        });
      }
    }
  }
  return out;
}

/**
 * Memory against tolerance, two repeats: direct's bookkeeping and peak grow as the tolerance tightens, the others'
 * stay flat; the peak is 30 MiB more, and the second repeat's ½ MiB more than the first's.
 */
export function sampleMemory(): MemoryRecord[] {
  const out: MemoryRecord[] = [];
  for (const [method] of METHODS) {
    for (let k = 3; k <= 7; k++) {
      const heldBytes = method === "direct" ? 2 ** 20 * 3 ** (k - 2) : 2 ** 18;
      for (const seed of [0, 1]) {
        out.push({ method, tolerance: 10 ** -k, seed, heldBytes, peakRssBytes: heldBytes + 2 ** 20 * (30 + seed / 2) });
      }
    }
  }
  return out;
}
