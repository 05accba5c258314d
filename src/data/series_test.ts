import { tensor } from "../onnx/tensor.ts";
import { assertEquals, assertThrows } from "../util/testing.ts";
import { firstValues, groupSeries, seriesBatch } from "./series.ts";

Deno.test("seriesBatch() solves on the union of times and masks entries missing a time or a value", () => {
  const series = [
    { times: Float64Array.of(0, 0.5, 2), values: Float64Array.of(1, 10, 2, NaN, 3, 30) },
    { times: Float64Array.of(0, 1), values: Float64Array.of(4, 40, 5, 50) },
  ];
  const set = { initial: firstValues(series, 2), series, channels: 2 };
  const b = seriesBatch(set, [1, 0]);
  assertEquals(Array.from(b.times), [0, 0.5, 1, 2]);
  assertEquals(Array.from(b.initial), [4, 40, 1, 10]);
  // [time, batch]: series 1 first, then series 0; series 0 at 0.5 misses a channel.
  assertEquals(Array.from(b.mask), [1, 1, 0, 0, 1, 0, 0, 1]);
  assertEquals(Array.from(b.values.subarray(3 * 4, 4 * 4)), [0, 0, 3, 30], "t = 2");
  assertThrows(() => seriesBatch(set, [2]), RangeError, "outside 0…1");
});

Deno.test("groupSeries() groups long rows by id in order of appearance, sorts by time and refuses repeated times", () => {
  const g = groupSeries(["b", "a", "b", "a"], Float64Array.of(2, 1, 0, 0), Float64Array.of(20, 11, 0, 10), 1);
  assertEquals(g.ids, ["b", "a"]);
  assertEquals(g.series.map((s) => [Array.from(s.times), Array.from(s.values)]), [[[0, 2], [0, 20]], [[0, 1], [
    10,
    11,
  ]]]);
  assertThrows(
    () => groupSeries(["a", "a"], Float64Array.of(1, 1), Float64Array.of(0, 0), 1),
    RangeError,
    'series "a" has time 1 twice',
  );
  assertEquals(firstValues(g.series, 1).dims, tensor(new Float64Array(2), [2, 1]).dims);
});
