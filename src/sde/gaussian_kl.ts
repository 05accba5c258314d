/**
 * The loss and metric of the paper's SDE experiments: at every observation
 * time after the first and for every initial value, the KL divergence
 * KL(N(m*, v*) ‖ N(m, v)) between the Gaussian fitted to the true samples
 * (mean m*, variance v*) and the one fitted to the model's samples (m, v,
 * population moments over the samples of that initial value), averaged over
 * times and initial values:
 *
 *   ½[log(v/v*) + (v* + (m* − m)²)/v − 1].
 *
 * The first time is left out: every sample starts at its initial value, so
 * both variances are zero there. With `meanOnly` (a model without noise,
 * whose samples of one initial value coincide) the model's Gaussian takes the
 * true variance, KL(N(m*, v*) ‖ N(m, v*)) = ½(m* − m)²/v*: only the mean is
 * matched.
 *
 * @module
 */
import type { LossValue } from "../gradients/problem.ts";

/** True moments per observation time: [groups] means and variances each. */
export interface TargetMoments {
  /** Mean of the true samples of each group, per time. */
  readonly mean: readonly Float64Array[];
  /** Population variance of the true samples of each group, per time. */
  readonly variance: readonly Float64Array[];
}

/** Mean and population variance of each group of `samples` consecutive entries. */
export function groupMoments(values: Float64Array, samples: number): { mean: Float64Array; variance: Float64Array } {
  const groups = values.length / samples;
  if (!Number.isInteger(groups)) throw new RangeError(`${values.length} values do not split into groups of ${samples}`);
  const mean = new Float64Array(groups), variance = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    let s = 0;
    for (let p = 0; p < samples; p++) s += values[g * samples + p]!;
    const m = s / samples;
    let q = 0;
    for (let p = 0; p < samples; p++) q += (values[g * samples + p]! - m) ** 2;
    mean[g] = m;
    variance[g] = q / samples;
  }
  return { mean, variance };
}

/**
 * The KL loss of predicted states (per observation time, `groups × samples`
 * entries, samples of one group consecutive) against the true moments, with
 * its cotangents for every time (null at the first).
 *
 * @throws {RangeError} when the sizes disagree.
 *
 * @example Predictions with the true moments cost nothing
 * ```ts
 * import { sampleGaussianKl } from "./gaussian_kl.ts";
 * const states = [Float64Array.of(0, 0), Float64Array.of(1, 3)];
 * const { value } = sampleGaussianKl(states, { mean: [Float64Array.of(0), Float64Array.of(2)], variance: [Float64Array.of(0), Float64Array.of(1)] }, 2);
 * if (Math.abs(value!) > 1e-15) throw new Error(`KL ${value}`);
 * ```
 */
export function sampleGaussianKl(
  states: readonly Float64Array[],
  target: TargetMoments,
  samples: number,
  options: { readonly meanOnly?: boolean } = {},
): LossValue {
  if (states.length < 2 || target.mean.length !== states.length || target.variance.length !== states.length) {
    throw new RangeError(
      `sampleGaussianKl needs at least two times and moments for each: ${states.length} states, ` +
        `${target.mean.length} means, ${target.variance.length} variances`,
    );
  }
  const groups = states[0]!.length / samples;
  const terms = (states.length - 1) * groups;
  let value = 0;
  const cotangents: (Float64Array | null)[] = [null];
  for (let k = 1; k < states.length; k++) {
    const y = states[k]!;
    const { mean, variance } = groupMoments(y, samples);
    const mt = target.mean[k]!, vt = target.variance[k]!;
    if (mt.length !== groups || vt.length !== groups) {
      throw new RangeError(`Target moments at time ${k} have ${mt.length} groups, the states ${groups}`);
    }
    const cot = new Float64Array(y.length);
    for (let g = 0; g < groups; g++) {
      const m = mean[g]!, d = mt[g]! - m;
      const v = options.meanOnly ? vt[g]! : variance[g]!;
      value += 0.5 * (Math.log(v / vt[g]!) + (vt[g]! + d * d) / v - 1) / terms;
      const dm = -d / v / terms;
      const dv = options.meanOnly ? 0 : 0.5 * (1 / v - (vt[g]! + d * d) / (v * v)) / terms;
      for (let p = 0; p < samples; p++) {
        const i = g * samples + p;
        cot[i] = dm / samples + (dv * 2 * (y[i]! - m)) / samples;
      }
    }
    cotangents.push(cot);
  }
  return { value, cotangents };
}
