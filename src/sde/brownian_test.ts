import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { BrownianPath } from "./brownian.ts";

Deno.test("BrownianPath gives the same values for the same seed, in any query order, and other values for another seed", () => {
  const options = { t0: 0, t1: 2, steps: 1000, size: 3, seed: 9 };
  const forward = new BrownianPath(options), backward = new BrownianPath(options);
  const times = Array.from({ length: 1001 }, (_, k) => k * 0.002);
  const a = times.map((t) => forward.value(t));
  const b = times.toReversed().map((t) => backward.value(t)).toReversed();
  assertEquals(a, b);
  // A scattered order that evicts the node cache.
  const scattered = new BrownianPath(options);
  for (const k of [999, 3, 512, 1, 700, 250, 1000, 0]) assertEquals(scattered.value(times[k]!), a[k]);
  assert(new BrownianPath({ ...options, seed: 10 }).value(1)[0] !== a[500]![0], "another seed, another path");
  assertEquals(a[0], new Float64Array(3), "W(t0) = 0");
});

Deno.test("BrownianPath has Brownian statistics: mean 0, Cov(W(s), W(t)) = min(s, t), independent increments", () => {
  const n = 20_000;
  const w = new BrownianPath({ t0: 1, t1: 3, steps: 8, size: n, seed: 4 });
  const ws = w.value(1.5), wt = w.value(2.75), inc1 = w.increment(1, 1.5), inc2 = w.increment(2, 2.75);
  const mean = (x: Float64Array) => x.reduce((a, b) => a + b, 0) / n;
  const dot = (x: Float64Array, y: Float64Array) => x.reduce((s, v, i) => s + v * y[i]!, 0) / n;
  // Tolerances: 5 standard errors of each estimate.
  assert(Math.abs(mean(wt)) < 5 * Math.sqrt(1.75 / n), `mean ${mean(wt)}`);
  assert(Math.abs(dot(wt, wt) - 1.75) < 5 * 1.75 * Math.sqrt(2 / n), `Var W(2.75) ${dot(wt, wt)}`);
  assert(Math.abs(dot(ws, wt) - 0.5) < 5 * Math.sqrt((0.5 * 1.75 + 0.25) / n), `Cov ${dot(ws, wt)}`);
  assert(Math.abs(dot(inc1, inc2)) < 5 * Math.sqrt(0.5 * 0.75 / n), `increments correlate: ${dot(inc1, inc2)}`);
  const whole = w.increment(1, 3), parts = [1, 1.25, 2, 3].slice(1).map((t, i) => w.increment([1, 1.25, 2][i]!, t));
  for (let c = 0; c < 5; c++) {
    assert(Math.abs(parts.reduce((s, p) => s + p[c]!, 0) - whole[c]!) < 1e-12, "increments add up");
  }
});

Deno.test("BrownianPath refuses times off its grid and bad settings, naming them", () => {
  const w = new BrownianPath({ t0: 0, t1: 1, steps: 10, size: 1, seed: 0 });
  assertThrows(() => w.value(0.05), RangeError, "no value at t = 0.05");
  assertThrows(() => w.value(1.1), RangeError, "t = 1.1");
  assertThrows(() => new BrownianPath({ t0: 1, t1: 1, steps: 10, size: 1, seed: 0 }), RangeError, "t0 < t1");
  assertThrows(() => new BrownianPath({ t0: 0, t1: 1, steps: 2.5, size: 1, seed: 0 }), RangeError, "steps");
  assertEquals(w.index(0.3), 3);
});
