import { assertEquals } from "../../util/testing.ts";
import { densityTimes, figureInitialValues } from "./_sde_figures.ts";

Deno.test("densityTimes() picks the paper's t = 0.3, 5 and 10 on [0, 10], and later times on coarse grids", () => {
  const fine = Array.from({ length: 101 }, (_, k) => Math.round(k * 0.1 * 1e9) / 1e9);
  assertEquals(densityTimes(fine), [0.3, 5, 10]);
  assertEquals(densityTimes([0, 0.5, 1, 1.5, 2]), [0.5, 1, 2], "never the start, where densities are spikes");
  assertEquals(densityTimes([0, 1]), [1]);
});

Deno.test("figureInitialValues() takes the smallest, the median and the largest", () => {
  assertEquals(figureInitialValues([0.5, -2, 3, 1, -1]), [-2, 0.5, 3]);
  assertEquals(figureInitialValues([4, 4]), [4]);
});
