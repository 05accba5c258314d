import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { type LabelledPoints, nestedSpheres } from "./nested_spheres.ts";

function radii(p: LabelledPoints): number[] {
  const [n, dim] = p.inputs.dims as [number, number];
  return Array.from({ length: n }, (_, i) => Math.hypot(...p.inputs.data.subarray(i * dim, (i + 1) * dim)));
}

Deno.test("nestedSpheres() puts class 0 inside r1 and class 1 in the r2…r3 shell, balanced", () => {
  const { train, test } = nestedSpheres({ seed: 3 });
  assertEquals(train.inputs.dims, [2000, 2]);
  assertEquals(test.inputs.dims, [100, 2]);
  for (const split of [train, test]) {
    const r = radii(split);
    let ones = 0;
    split.labels.data.forEach((label, i) => {
      if (label === 0) assert(r[i]! <= 0.4, `class 0 point at radius ${r[i]}`);
      else assert(label === 1 && r[i]! >= 0.7 && r[i]! <= 0.9, `class ${label} point at radius ${r[i]}`);
      ones += label;
    });
    assertEquals(ones * 2, split.labels.data.length, "half the points are class 1");
  }
});

Deno.test("nestedSpheres() samples uniformly by area and shuffles the labels", () => {
  const { train } = nestedSpheres({ seed: 5 });
  const r = radii(train);
  // Uniform in a disc of radius r1: half the points lie within r1/√2 (sd of the fraction ≈ 0.016).
  const inner = r.filter((_, i) => train.labels.data[i] === 0);
  const frac = inner.filter((x) => x < 0.4 / Math.SQRT2).length / inner.length;
  assert(Math.abs(frac - 0.5) < 0.06, `fraction within r1/√2 is ${frac}`);
  // Shell: P(R ≤ m) = (m² − r2²)/(r3² − r2²) = 1/2 at m² = (r2² + r3²)/2.
  const shell = r.filter((_, i) => train.labels.data[i] === 1);
  const m = Math.sqrt((0.49 + 0.81) / 2);
  const fracShell = shell.filter((x) => x < m).length / shell.length;
  assert(Math.abs(fracShell - 0.5) < 0.06, `fraction of the shell within ${m} is ${fracShell}`);
  const firstHalfOnes = train.labels.data.subarray(0, 1000).reduce((s, l) => s + l, 0);
  assert(firstHalfOnes > 400 && firstHalfOnes < 600, `first half holds ${firstHalfOnes} of class 1`);
});

Deno.test("nestedSpheres() is determined by the seed, and the test set does not depend on the training size", () => {
  const a = nestedSpheres({ seed: 9, trainPerClass: 30 });
  const b = nestedSpheres({ seed: 9, trainPerClass: 30 });
  const c = nestedSpheres({ seed: 9, trainPerClass: 80 });
  const d = nestedSpheres({ seed: 10, trainPerClass: 30 });
  assertEquals(a.train.inputs.data, b.train.inputs.data);
  assertEquals(a.test.inputs.data, c.test.inputs.data);
  assertEquals(a.test.labels.data, c.test.labels.data);
  assert(a.train.inputs.data[0] !== d.train.inputs.data[0], "another seed gives other points");
});

Deno.test("nestedSpheres() works in 3-D and refuses unordered radii", () => {
  const { train } = nestedSpheres({ dim: 3, trainPerClass: 50 });
  assertEquals(train.inputs.dims, [100, 3]);
  assert(radii(train).every((r) => r <= 0.9));
  assertThrows(() => nestedSpheres({ r1: 0.8 }), RangeError, "got r1 0.8, r2 0.7, r3 0.9");
  assertThrows(
    () => nestedSpheres({ trainPerClass: 0 }),
    RangeError,
    "trainPerClass must be a positive integer, got 0",
  );
});
