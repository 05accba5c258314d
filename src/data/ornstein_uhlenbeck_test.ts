import { kernelDensity, samplePaths, silvermanBandwidth } from "../sde/sample_paths.ts";
import { assert, assertClose, assertEquals } from "../util/testing.ts";
import { ornsteinUhlenbeck, ouMoments } from "./ornstein_uhlenbeck.ts";

Deno.test("ornsteinUhlenbeck() samples paths whose moments match the process's closed form", async () => {
  const paths = 2000;
  const data = await ornsteinUhlenbeck({ train: 2, test: 1, paths, end: 4, every: 1, dt: 0.01, seed: 3 });
  assertEquals(data.times, [0, 1, 2, 3, 4]);
  for (const [g, x0] of data.train.x0.entries()) {
    assert(x0 >= -3 && x0 < 3, `x0 ${x0}`);
    for (const [k, t] of data.times.entries()) {
      const { mean, variance } = ouMoments(x0, t);
      const m = data.train.mean[k]![g]!, v = data.train.variance[k]![g]!;
      // 5 standard errors of a mean and of a variance over `paths` Gaussian samples, plus the solver's bias.
      assert(Math.abs(m - mean) < 5 * Math.sqrt(variance / paths) + 1e-3, `mean at t = ${t}: ${m} vs ${mean}`);
      assert(
        Math.abs(v - variance) < 5 * variance * Math.sqrt(2 / paths) + 1e-3,
        `variance at t = ${t}: ${v} vs ${variance}`,
      );
    }
  }
  const again = await ornsteinUhlenbeck({ train: 2, test: 1, paths, end: 4, every: 1, dt: 0.01, seed: 3 });
  assertEquals(again.test.paths[4], data.test.paths[4], "seeded");
  assertEquals(ouMoments(1.5, 0), { mean: 1.5, variance: 0 }, "the closed form starts at x0");
});

Deno.test("ornsteinUhlenbeck() refuses a step that does not divide the gap, naming both", async () => {
  let error: unknown;
  try {
    await ornsteinUhlenbeck({ train: 1, test: 1, paths: 1, end: 1, every: 0.1, dt: 0.03 });
  } catch (e) {
    error = e;
  }
  assert(error instanceof RangeError && error.message.includes("dt 0.03 does not divide the gap 0.1"), String(error));
});

Deno.test("more paths of the data's process have the closed-form densities", async () => {
  const data = await ornsteinUhlenbeck({ train: 1, test: 1, paths: 2, end: 5, every: 0.5, dt: 0.05 });
  const paths = 8000;
  const { states } = await samplePaths(data.process, { x0: [-2, 2.5], times: data.times, paths, seed: 9 });
  for (const [k, t] of [[1, 0.5], [10, 5]] as const) {
    [-2, 2.5].forEach((x0, i) => {
      const samples = states[k]!.subarray(i * paths, (i + 1) * paths);
      const { mean, variance } = ouMoments(x0, t);
      // The kernel estimate's expectation: the exact Gaussian widened by the kernel's variance h².
      const smoothed = variance + silvermanBandwidth(samples) ** 2;
      const grid = [-1.5, -0.75, 0, 0.75, 1.5].map((z) => mean + z * Math.sqrt(variance));
      const exact = grid.map((x) => Math.exp(-0.5 * (x - mean) ** 2 / smoothed) / Math.sqrt(2 * Math.PI * smoothed));
      assertClose(kernelDensity(samples, grid), exact, 0.05, `x0 ${x0}, t ${t}`);
    });
  }
});
