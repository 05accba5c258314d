import { assert, assertThrows } from "../util/testing.ts";
import { Random } from "../util/random.ts";
import { groupMoments, sampleGaussianKl } from "./gaussian_kl.ts";

Deno.test("sampleGaussianKl() matches the closed form and its cotangents match float64 central differences", () => {
  const random = new Random(1), samples = 5, groups = 3;
  const states = [
    new Float64Array(groups * samples),
    ...[0, 1].map(() => random.fillNormal(new Float64Array(groups * samples))),
  ];
  const target = {
    mean: [new Float64Array(groups), Float64Array.of(0.1, -0.2, 0.3), Float64Array.of(1, 0, -1)],
    variance: [new Float64Array(groups), Float64Array.of(0.5, 1, 2), Float64Array.of(1.5, 0.7, 0.9)],
  };
  const { value, cotangents } = sampleGaussianKl(states, target, samples);
  // The closed form, term by term.
  let expected = 0;
  for (const k of [1, 2]) {
    const { mean, variance } = groupMoments(states[k]!, samples);
    for (let g = 0; g < groups; g++) {
      const vt = target.variance[k]![g]!, d = target.mean[k]![g]! - mean[g]!;
      expected += 0.5 * (Math.log(variance[g]! / vt) + (vt + d * d) / variance[g]! - 1) / (2 * groups);
    }
  }
  assert(Math.abs(value! - expected) < 1e-14, `${value} vs ${expected}`);
  assert(cotangents[0] === null, "no cotangent at the first time");
  const h = 1e-6;
  for (const [k, i] of [[1, 0], [1, 7], [2, 14]] as const) {
    const at = (d: number) => {
      const s = states.map((x) => x.slice());
      s[k]![i]! += d;
      return sampleGaussianKl(s, target, samples).value!;
    };
    const fd = (at(h) - at(-h)) / (2 * h);
    assert(Math.abs(cotangents[k]![i]! - fd) < 1e-7, `dL/dy[${k}][${i}]: ${cotangents[k]![i]} vs ${fd}`);
  }
  assertThrows(() => sampleGaussianKl(states.slice(0, 1), target, samples), RangeError, "at least two times");
});

Deno.test("sampleGaussianKl() with meanOnly matches the means under the true variance, for samples without spread", () => {
  const states = [Float64Array.of(0, 0), Float64Array.of(1, 1)];
  const target = { mean: [Float64Array.of(0), Float64Array.of(2)], variance: [Float64Array.of(0), Float64Array.of(4)] };
  const { value, cotangents } = sampleGaussianKl(states, target, 2, { meanOnly: true });
  assert(Math.abs(value! - 0.5 * 1 / 4) < 1e-15, `KL ${value}`);
  // dL/dm = −(m* − m)/v* = −1/4, shared by the two samples.
  assert(cotangents[1]!.every((c) => Math.abs(c + 1 / 8) < 1e-15), `${cotangents[1]}`);
});
