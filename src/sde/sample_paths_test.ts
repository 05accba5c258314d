import { Random } from "../util/random.ts";
import { assert, assertClose, assertEquals, assertRejects, assertThrows } from "../util/testing.ts";
import { kernelDensity, samplePaths, silvermanBandwidth } from "./sample_paths.ts";

const gaussianPdf = (x: number, mean: number, variance: number) =>
  Math.exp(-0.5 * (x - mean) ** 2 / variance) / Math.sqrt(2 * Math.PI * variance);

Deno.test("kernelDensity() of normal samples approaches the normal density smoothed by its kernel", () => {
  const rng = new Random(4);
  const samples = Float64Array.from({ length: 4000 }, () => 1 + 2 * rng.normal());
  const grid = [-3, -1, 0, 1, 2, 3, 5];
  const h = silvermanBandwidth(samples);
  // The estimate's expectation is the density convolved with the kernel: N(1, 4 + h²).
  const expected = grid.map((x) => gaussianPdf(x, 1, 4 + h * h));
  assertClose(kernelDensity(samples, grid), expected, 0.05, "relative to the peak");
});

Deno.test("silvermanBandwidth() follows the rule and stays positive for identical samples", () => {
  // Samples −1, 1 (×50 each): σ ≈ 1.005, IQR/1.34 ≈ 1.49 → 0.9·σ·100^(−1/5).
  const samples = Float64Array.from({ length: 100 }, (_, i) => (i < 50 ? -1 : 1));
  const sd = Math.sqrt(100 / 99);
  assertClose(silvermanBandwidth(samples), 0.9 * sd * 100 ** -0.2, 1e-12);
  assert(silvermanBandwidth([2, 2, 2]) > 0, "identical samples need a positive width");
  assertThrows(() => silvermanBandwidth([1]), RangeError, "at least 2 samples");
});

Deno.test("samplePaths() starts every path at its initial value and draws independent paths", async () => {
  const process = {
    terms: {
      drift: (_t: number, y: Float64Array) => y.map(() => 0),
      diffusion: (_t: number, y: Float64Array) => y.map(() => 1),
    },
    solver: "euler-heun" as const,
    dt: 0.05,
  };
  const { states, paths } = await samplePaths(process, { x0: [-1, 2], times: [0, 0.5, 1], paths: 3, seed: 1 });
  assertEquals(paths, 3);
  assertEquals([...states[0]!], [-1, -1, -1, 2, 2, 2]);
  assertEquals(new Set(states[2]!).size, 6, "every sample its own Brownian motion");
  await assertRejects(() => samplePaths(process, { x0: [0], times: [0, 1], paths: 0, seed: 1 }), RangeError, "paths");
});
