import { assertEquals } from "../util/testing.ts";
import { crossingTrajectories } from "./crossing.ts";

Deno.test("crossingTrajectories() maps [[+1], [−1]] to the swapped [[−1], [+1]]", () => {
  const { inputs, targets } = crossingTrajectories();
  assertEquals(inputs.dims, [2, 1]);
  assertEquals(targets.dims, [2, 1]);
  assertEquals(Array.from(inputs.data), [1, -1]);
  assertEquals(Array.from(targets.data), [-1, 1]);
  // The ordering of the two points flips: no 1-D flow can do that.
  assertEquals(Math.sign(inputs.data[0]! - inputs.data[1]!), -Math.sign(targets.data[0]! - targets.data[1]!));
});
