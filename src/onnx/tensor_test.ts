import { assertEquals, assertThrows } from "../util/testing.ts";
import { tensor, zeros } from "./tensor.ts";

Deno.test("tensor() and zeros() refuse dims that are not non-negative integers, even when their product fits", () => {
  assertThrows(() => tensor(Float32Array.of(1, 2), [-1, -2]), RangeError, "dim 0 is not a non-negative integer");
  assertThrows(() => tensor(Float64Array.of(1, 2), [2, 1.5 / 1.5 + 0.5]), RangeError, "dim 1");
  assertThrows(() => zeros("float32", [3, NaN]), RangeError, "dims [3, NaN]: dim 1");
  assertEquals(tensor(new Float32Array(0), [0, 4]).dims, [0, 4], "an empty dim is a shape");
  assertEquals(zeros("int64", []).data.length, 1, "a scalar");
});
