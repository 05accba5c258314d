import { mlpDynamics } from "../src/models/mlp.ts";
import { assertClose, assertEquals, assertThrows } from "../src/util/testing.ts";
import { gradientWork, mlpMacs, mlpParams, relativeError } from "./_peer_costs.ts";

Deno.test("mlpParams() counts the parameters mlpDynamics() creates, time column included", () => {
  const { init } = mlpDynamics({ stateDim: 4, hidden: [7, 3], time: "concat" });
  const count = Object.values(init).reduce((s, t) => s + t.data.length, 0);
  assertEquals(mlpParams([5, 7, 3, 4]), count);
});

Deno.test("mlpMacs() is batch times the sum of in·out over the layers", () => {
  assertEquals(mlpMacs([5, 7, 3, 4], 2), 2 * (5 * 7 + 7 * 3 + 3 * 4));
  assertEquals(mlpMacs([5], 10), 0);
});

Deno.test("gradientWork() weighs gq's backward calls as z-VJPs and its nodes as θ-VJPs", () => {
  const w = gradientWork("gq", { nfeForward: 14, nfeBackward: 17, vjpEvals: 17, nodes: 2 });
  assertEquals(w, { fEvals: 14, zVjps: 15, thetaVjps: 2, units: 14 + 30 + 6 });
});

Deno.test("gradientWork() weighs the adjoints' and direct's VJPs as θ-VJPs and the rest of the backward as f", () => {
  assertEquals(gradientWork("adjoint", { nfeForward: 14, nfeBackward: 23, vjpEvals: 21, nodes: 0 }), {
    fEvals: 16,
    zVjps: 0,
    thetaVjps: 21,
    units: 16 + 63,
  });
  // A backward NFE below the VJP count (a VJP that does not count as an f call) adds no f evaluations.
  assertEquals(gradientWork("direct", { nfeForward: 14, nfeBackward: 10, vjpEvals: 12, nodes: 0 }).fEvals, 14);
});

Deno.test("relativeError() is the 2-norm of the difference over the 2-norm of the reference, across arrays", () => {
  assertClose(relativeError([[3, 0], [0]], [[0, 0], [4]]), 5 / 4, 1e-15);
  assertEquals(relativeError([[1, 2]], [[1, 2]]), 0);
  assertEquals(relativeError([[0]], [[0]]), 0);
  assertEquals(relativeError([[1]], [[0]]), Infinity);
  assertThrows(() => relativeError([[1]], [[1, 2]]), RangeError, /array 0 has 1 values against 2/);
  assertThrows(() => relativeError([], [[1]]), RangeError, /0 arrays against 1/);
});

Deno.test("gradientWork() weighs direct's stage VJPs from kept activations as two units, not three", () => {
  const stats = { nfeForward: 14, nfeBackward: 13, vjpEvals: 12, nodes: 0 };
  assertEquals(gradientWork("direct", stats, { keptActivations: true }).units, 14 + 1 + 2 * 12);
  assertEquals(gradientWork("direct", stats).units, 14 + 1 + 3 * 12, "recomputing each stage");
});
