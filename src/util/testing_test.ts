import { assert, assertClose, assertEquals, assertThrows, relativeError } from "./testing.ts";

Deno.test("relativeError() is the largest difference over the largest expected magnitude", () => {
  assertEquals(relativeError([1, 2, 3], [1, 2, 4]), 0.25);
  assertEquals(relativeError([0, 0], [0, 0]), 0);
  assertThrows(() => relativeError([1], [1, 2]), RangeError, "Length mismatch: 1 vs 2");
});

Deno.test("assertClose() passes within the tolerance and fails past it, naming the worst index", () => {
  assertClose([100, 1], [100, 1.0001], 1e-6);
  assertThrows(() => assertClose([100, 1], [100, 1.01], 1e-6, "v"), Error, "v: relative error 1.000e-4");
  assertThrows(() => assertClose([1, 2, 3], [1, 2.5, 3], 0.1), Error, "worst at [1]: got 2, expected 2.5");
  assertClose(2, 2, 0);
});

Deno.test("assertClose() fails on NaN or infinite values and points at them", () => {
  const e = assertThrows(() => assertClose([1, 2, NaN, 4], [1, 2.5, 3, 4], 1e-3));
  assert(e.message.includes("worst at [2]: got NaN"), e.message);
  assertThrows(() => assertClose([Infinity], [Infinity], 1), Error, "relative error NaN");
  assertThrows(() => assertClose([1], [NaN], 1), Error, "relative error NaN");
});
