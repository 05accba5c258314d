import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { tensor } from "../onnx/tensor.ts";
import { gatherRows, minibatches } from "./batches.ts";

Deno.test("minibatches() covers every index once per epoch, in batches of the given size", () => {
  const batches = minibatches(103, 10, 7, { epoch: 2 });
  assertEquals(batches.map((b) => b.length), [...Array(10).fill(10), 3]);
  const all = batches.flatMap((b) => Array.from(b)).sort((x, y) => x - y);
  assertEquals(all, Array.from({ length: 103 }, (_, i) => i));
  assertEquals(minibatches(103, 10, 7, { epoch: 2, dropLast: true }).length, 10);
});

Deno.test("minibatches() is reproducible from seed and epoch, and differs between epochs", () => {
  assertEquals(minibatches(50, 8, 1, { epoch: 3 }), minibatches(50, 8, 1, { epoch: 3 }));
  const e0 = Array.from(minibatches(50, 50, 1)[0]!), e1 = Array.from(minibatches(50, 50, 1, { epoch: 1 })[0]!);
  assert(e0.join() !== e1.join(), "epochs shuffle differently");
  assert(e0.join() !== Array.from({ length: 50 }, (_, i) => i).join(), "shuffled");
  assertThrows(() => minibatches(5, 0, 1), RangeError, "batchSize must be a positive integer, got 0");
});

Deno.test("gatherRows() picks rows along the first axis for any dtype", () => {
  const t = tensor<"float64">(new Float64Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), [3, 2, 2]);
  const g = gatherRows(t, [2, 2, 0]);
  assertEquals(g.dims, [3, 2, 2]);
  assertEquals(Array.from(g.data), [8, 9, 10, 11, 8, 9, 10, 11, 0, 1, 2, 3]);
  const labels = gatherRows(tensor<"int32">(new Int32Array([5, 6, 7]), [3]), [1]);
  assert(labels.data instanceof Int32Array && labels.data[0] === 6);
  assertThrows(() => gatherRows(t, [3]), RangeError, "index 3 is outside 0…2");
});
