import assert from "node:assert/strict";
import { rkStep } from "./rk.ts";
import { SOLVERS } from "./solver.ts";
import { distance, logSlope, rotationProblem } from "./_test_problems.ts";

for (const s of Object.values(SOLVERS)) {
  // One step from the exact state: the local error at mid-step is O(h^(min(order, interpolation order) + 1)).
  const expected = Math.min(s.order, s.interpolation.order) + 1;
  Deno.test(`${s.name} dense output (${s.interpolation.name}) has local error of order ${expected} at mid-step`, async () => {
    const { f, exact } = rotationProblem;
    const t0 = 0.3;
    const points: [number, number][] = [];
    for (let h = 0.2; h > 1e-3; h /= 2) {
      const step = await rkStep(s.tableau, f, t0, exact(t0), h);
      const f1 = step.f1 ?? await f(t0 + h, step.y1);
      const dense = s.interpolation.fit({ t0, t1: t0 + h, y0: exact(t0), y1: step.y1, stages: step.stages, f1 });
      const err = distance(dense(t0 + h / 2), exact(t0 + h / 2));
      if (err < 1e-12) break;
      points.push([h, err]);
      assert.deepEqual(dense(t0 + h), step.y1, "the dense output ends at y1");
      assert.deepEqual(dense(t0), exact(t0), "the dense output starts at y0");
    }
    const last = points.slice(-2);
    const slope = logSlope(last.map((p) => p[0]), last.map((p) => p[1]));
    const message = `${s.name}: mid-step slope ${slope.toFixed(2)}, points ${points}`;
    // dopri8's interpolant is so accurate that roundoff comes before its asymptotic regime: at least the order.
    if (s.order >= 8) assert.ok(slope > expected - 0.3, message);
    else assert.ok(Math.abs(slope - expected) <= 0.3, message);
  });
}

Deno.test("dense output of a backward step interpolates inside it", async () => {
  const { f, exact } = rotationProblem;
  for (const s of [SOLVERS.dopri5, SOLVERS.tsit5, SOLVERS.rk4]) {
    const step = await rkStep(s.tableau, f, 1, exact(1), -0.05);
    const f1 = step.f1 ?? await f(0.95, step.y1);
    const dense = s.interpolation.fit({ t0: 1, t1: 0.95, y0: exact(1), y1: step.y1, stages: step.stages, f1 });
    assert.ok(distance(dense(0.97), exact(0.97)) < 1e-5, s.name);
  }
});

Deno.test("SOLVERS maps each name to the solver of that name", () => {
  for (const [name, s] of Object.entries(SOLVERS)) {
    assert.equal(s.name, name);
    assert.equal(s.tableau.name, name);
    assert.equal(s.order, s.tableau.order);
    assert.equal(s.adaptive, s.tableau.bError !== undefined);
  }
  assert.deepEqual(Object.keys(SOLVERS).sort(), [
    "adaptive_heun",
    "bosh3",
    "dopri5",
    "dopri8",
    "euler",
    "midpoint",
    "rk4",
    "tsit5",
  ]);
});
