import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { splitIndices, subsetIndices } from "./split.ts";
import { columnStats, standardize } from "./zscore.ts";

Deno.test("splitIndices() holds out a seeded share of the rows, disjoint from the rest, at least one each", () => {
  const a = splitIndices(10, 0.3, 5), b = splitIndices(10, 0.3, 5);
  assertEquals([a.train.length, a.test.length], [7, 3]);
  assertEquals(a, b, "same seed, same split");
  assertEquals(new Set([...a.train, ...a.test]).size, 10);
  assert(splitIndices(10, 0.3, 6).test.join() !== a.test.join(), "another seed, another split");
  assertEquals(splitIndices(3, 0.01, 0).test.length, 1);
  assertEquals(splitIndices(3, 0.99, 0).train.length, 1);
  assertThrows(() => splitIndices(1, 0.5, 0), RangeError, "at least 2 rows");
  assertEquals(subsetIndices(4, 10, 0).length, 4);
});

Deno.test("columnStats() and standardize() z-score columns by their finite values, leaving constant columns centred", () => {
  const data = Float64Array.of(1, 5, 3, 5, NaN, 5);
  const s = columnStats(data, 2);
  assertEquals([Array.from(s.mean), Array.from(s.std)], [[2, 5], [1, 1]]);
  const z = standardize(data, s);
  assertEquals([z[0], z[1], z[2], Number.isNaN(z[4])], [-1, 0, 1, true]);
});
