import { assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { exponentialProblem, exponentialSolution } from "./analytic.ts";

Deno.test("exponentialProblem() gradients agree with float64 central differences of L = z(T)²", () => {
  const p = exponentialProblem({ z0: 1.5, a: -0.3, T: { min: 0.5, max: 3, count: 6 } });
  const L = (z0: number, a: number, T: number) => exponentialSolution(z0, a, T) ** 2;
  p.T.forEach((T, i) => {
    const h = 1e-6;
    assertClose(p.loss[i]!, L(1.5, -0.3, T), 1e-14, "loss");
    assertClose(p.dLdz0[i]!, (L(1.5 + h, -0.3, T) - L(1.5 - h, -0.3, T)) / (2 * h), 1e-8, "dL/dz0");
    assertClose(p.dLda[i]!, (L(1.5, -0.3 + h, T) - L(1.5, -0.3 - h, T)) / (2 * h), 1e-8, "dL/da");
    assertClose(p.dLdT[i]!, (L(1.5, -0.3, T + h) - L(1.5, -0.3, T - h)) / (2 * h), 1e-8, "dL/dT");
  });
});

Deno.test("exponentialProblem() defaults to the paper's z0 = 10, a = 0.2 and T = 19…29", () => {
  const p = exponentialProblem();
  assertEquals([p.z0, p.a], [10, 0.2]);
  assertEquals(Array.from(p.T), [19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
  assertClose(p.zT[0]!, 10 * Math.exp(3.8), 1e-15, "z(19)");
});

Deno.test("exponentialProblem() refuses a bad T grid, naming the option", () => {
  assertThrows(
    () => exponentialProblem({ T: { min: 2, max: 1, count: 3 } }),
    RangeError,
    "T.max (1) is below T.min (2)",
  );
  assertThrows(() => exponentialProblem({ T: { min: 1, max: 2, count: 0 } }), RangeError, "T.count");
  assertThrows(() => exponentialProblem({ a: NaN }), RangeError, "option a must be finite, got NaN");
});
