import assert from "node:assert/strict";
import { integrate, odeint, type StepInfo } from "./integrate.ts";
import { rmsNorm } from "./norm.ts";
import { rkStep, type VectorField } from "./rk.ts";
import { SOLVERS } from "./solver.ts";
import { SolverError } from "./solver_error.ts";
import { distance, linearProblem, rotation2d, rotationProblem } from "./_test_problems.ts";

const ADAPTIVE = Object.values(SOLVERS).filter((s) => s.adaptive);

function counting(f: VectorField): { f: VectorField; calls: () => number } {
  let calls = 0;
  return {
    f: (t, y) => {
      calls++;
      return f(t, y);
    },
    calls: () => calls,
  };
}

for (const s of ADAPTIVE) {
  Deno.test(`integrate() with ${s.name} meets the tolerance on y' = λy and a rotation, forwards and backwards`, async () => {
    const rtol = 1e-6, atol = 1e-9;
    const cases = [
      { p: linearProblem(-1.3), t0: 0, t1: 2 },
      { p: linearProblem(0.7), t0: 2, t1: -1 },
      { p: rotation2d(2), t0: 0, t1: 3 },
      { p: rotation2d(2), t0: 3, t1: 0.5 },
    ];
    for (const { p, t0, t1 } of cases) {
      const y0 = p.exact(t0);
      const { y1, stats } = await integrate(p.f, y0, t0, t1, { solver: s, rtol, atol });
      const exact = p.exact(t1);
      const scale = atol + rtol * Math.max(...exact.map(Math.abs));
      const err = distance(y1, exact);
      assert.ok(err < 50 * scale, `${s.name} [${t0} → ${t1}]: error ${err} is ${(err / scale).toFixed(1)}× tolerance`);
      assert.ok(stats.accepted > 0 && stats.initialStepNfe === 2);
    }
  });
}

Deno.test("integrate() error shrinks with rtol for dopri5 and tsit5", async () => {
  const { f, exact } = rotationProblem;
  for (const s of [SOLVERS.dopri5, SOLVERS.tsit5]) {
    const errs: number[] = [];
    for (const rtol of [1e-4, 1e-6, 1e-8]) {
      const { y1 } = await integrate(f, exact(0), 0, 2, { solver: s, rtol, atol: rtol * 1e-2 });
      errs.push(distance(y1, exact(2)));
    }
    assert.ok(errs[0]! > 10 * errs[1]! && errs[1]! > 10 * errs[2]!, `${s.name}: errors ${errs}`);
  }
});

Deno.test("integrate() takes Hairer's initial step and torchdiffeq's step-size update", async () => {
  const lambda = -0.8, rtol = 1e-3, atol = 1e-6;
  const { f } = linearProblem(lambda);
  const steps: StepInfo[] = [];
  await integrate(f, new Float64Array([1]), 0, 5, { rtol, atol, onStep: (s) => void steps.push(s) });
  // Hairer II.4 for y' = λy, y0 = 1: d0 = 1/sc, d1 = |λ|/sc, h0 = 0.01/|λ|, d2 = λ²/sc, h1 = (0.01/max(d1, d2))^(1/5).
  const sc = atol + rtol;
  const h0 = 0.01 / Math.abs(lambda);
  const d1 = Math.abs(lambda) / sc, d2 = (lambda * lambda) / sc;
  const first = Math.min(100 * h0, (0.01 / Math.max(d1, d2)) ** (1 / 5));
  assert.ok(Math.abs(steps[0]!.t1 - steps[0]!.t0 - first) < 1e-15 * first, `first step ${steps[0]!.t1} vs ${first}`);
  // Every next step: h·min(10, max(0.9·ratio^(−1/5), 1)) after an accepted step (none are rejected here).
  for (let i = 0; i + 2 < steps.length; i++) {
    const s = steps[i]!, h = s.t1 - s.t0;
    const { yError, y1 } = await rkStep(SOLVERS.dopri5.tableau, f, s.t0, s.y0, h);
    const ratio = rmsNorm(yError!, s.y0, y1, rtol, atol);
    const expected = h * Math.min(10, Math.max(0.9 * ratio ** (-1 / 5), 1));
    const next = steps[i + 1]!.t1 - steps[i + 1]!.t0;
    assert.ok(Math.abs(next - expected) < 1e-12 * expected, `step ${i + 1}: ${next} vs ${expected}`);
  }
});

Deno.test("integrate() counts nfe: 2 + 6 per step for dopri5, stages × steps on a fixed grid", async () => {
  const { f: f0, exact } = rotationProblem;
  const c = counting(f0);
  const r = await integrate(c.f, exact(0), 0, 2, { rtol: 1e-8, atol: 1e-10 });
  assert.ok(r.stats.rejected > 0, "this solve has rejected steps");
  assert.equal(r.stats.nfe, c.calls());
  assert.equal(r.stats.nfe, 2 + 6 * (r.stats.accepted + r.stats.rejected));
  assert.equal(r.stats.initialStepNfe, 2);

  const withFirst = counting(f0);
  const r2 = await integrate(withFirst.f, exact(0), 0, 2, { rtol: 1e-8, atol: 1e-10, firstStep: 0.01 });
  assert.equal(r2.stats.initialStepNfe, 0);
  assert.equal(r2.stats.nfe, 1 + 6 * (r2.stats.accepted + r2.stats.rejected));

  for (const [name, stages] of [["rk4", 4], ["midpoint", 2], ["euler", 1]] as const) {
    const fixed = counting(f0);
    const r3 = await integrate(fixed.f, exact(0), 0, 1, { solver: SOLVERS[name], dt: 0.1 });
    assert.deepEqual(r3.stats, { nfe: stages * 10, accepted: 10, rejected: 0, initialStepNfe: 0 }, name);
    assert.equal(fixed.calls(), stages * 10);
  }
  // Interpolating inside the last step of a non-FSAL solver needs f(t1, y1): one more evaluation.
  const r4 = await integrate(f0, exact(0), 0, 1, {
    solver: SOLVERS.rk4,
    steps: 10,
    observe: { times: [0.95], at: () => {} },
  });
  assert.equal(r4.stats.nfe, 41);

  const heun = await integrate(f0, exact(0), 0, 1, { solver: SOLVERS.adaptive_heun, rtol: 1e-4, atol: 1e-6 });
  const { accepted, rejected } = heun.stats;
  assert.equal(
    heun.stats.nfe,
    2 + (accepted + rejected) + (accepted - 1),
    "Heun: one new stage per try, f(t1, y1) per step",
  );
});

Deno.test("integrate() on a fixed grid shortens the last step to land on t1", async () => {
  const { f, exact } = rotationProblem;
  const ends: number[] = [];
  const r = await integrate(f, exact(0), 0, 1, { solver: SOLVERS.rk4, dt: 0.3, onStep: (s) => void ends.push(s.t1) });
  assert.deepEqual(ends.map((t) => +t.toFixed(12)), [0.3, 0.6, 0.9, 1]);
  assert.equal(ends[3], 1);
  assert.equal(r.lastStep, 0.3);
  const back: number[] = [];
  await integrate(f, exact(1), 1, 0, { solver: SOLVERS.euler, steps: 4, onStep: (s) => void back.push(s.t1) });
  assert.deepEqual(back, [0.75, 0.5, 0.25, 0]);
});

for (const s of [SOLVERS.dopri5, SOLVERS.tsit5, SOLVERS.bosh3, SOLVERS.dopri8, SOLVERS.rk4]) {
  Deno.test(`integrate() observations by "interpolate" and "clamp" agree with ${s.name}, backwards too`, async () => {
    const { f, exact } = rotationProblem;
    for (const [t0, t1] of [[0, 2], [2, 0]] as const) {
      const times = [0.1, 0.37, 0.5, 1.25, 1.9, 2].map((t) => (t0 < t1 ? t : 2 - t));
      const got: Record<string, Float64Array[]> = { interpolate: [], clamp: [] };
      const landed: number[] = [];
      for (const by of ["interpolate", "clamp"] as const) {
        await integrate(f, exact(t0), t0, t1, {
          solver: s,
          rtol: 1e-9,
          atol: 1e-11,
          ...(s.adaptive ? {} : { dt: 0.005 }),
          observe: { times, by, at: (_t, y) => void got[by]!.push(y) },
          onStep: (st) => void (by === "clamp" && landed.push(st.t1)),
        });
        assert.equal(got[by]!.length, times.length, by);
      }
      for (let i = 0; i < times.length; i++) {
        const e = exact(times[i]!);
        // dopri8's dense output is only 4th order, so between its long steps it is far less accurate than the steps.
        const agree = s.name === "dopri8" ? 1e-6 : 1e-7;
        assert.ok(
          distance(got.interpolate![i]!, got.clamp![i]!) < agree,
          `${s.name} t = ${times[i]}: methods disagree`,
        );
        assert.ok(distance(got.clamp![i]!, e) < 1e-7, `${s.name} t = ${times[i]}: clamp is off`);
        assert.ok(landed.includes(times[i]!), `${s.name}: a clamped step ends exactly on ${times[i]}`);
      }
    }
  });
}

Deno.test("odeint() makes one continued solve through all times and returns y0 first", async () => {
  const { f, exact } = rotationProblem;
  const times = [0, 0.3, 0.8, 1.7, 2.5];
  const { ys, stats } = await odeint(f, exact(0), times, { rtol: 1e-9, atol: 1e-11 });
  assert.equal(ys.length, times.length);
  assert.deepEqual(ys[0], exact(0));
  ys.forEach((y, k) => assert.ok(distance(y, exact(times[k]!)) < 1e-7, `t = ${times[k]}`));
  const whole = await integrate(f, exact(0), 0, 2.5, { rtol: 1e-9, atol: 1e-11 });
  assert.deepEqual(stats, whole.stats, "observing by interpolation costs no extra steps or restarts");
  const back = await odeint(f, exact(2.5), [...times].reverse(), { rtol: 1e-9, atol: 1e-11, by: "clamp" });
  back.ys.forEach((y, k) => assert.ok(distance(y, exact(times[times.length - 1 - k]!)) < 1e-7));
  assert.equal(back.stats.initialStepNfe, 2);
});

Deno.test("odeint() rejects bad time grids with a RangeError naming the index and value", async () => {
  const { f } = linearProblem(-1);
  const y0 = new Float64Array([1]);
  const bad: [number[], RegExp][] = [
    [[], /times is empty/],
    [[0, 1, 1, 2], /times\[2\] = 1 does not continue the strictly increasing order after times\[1\] = 1/],
    [[3, 2, 2.5], /times\[2\] = 2\.5 does not continue the strictly decreasing order/],
    [[0, NaN, 1], /times\[1\] must be finite, got NaN/],
    [[0, Infinity], /times\[1\] must be finite, got Infinity/],
  ];
  for (const [times, message] of bad) {
    await assert.rejects(odeint(f, y0, times), (e: unknown) => e instanceof RangeError && message.test(e.message));
  }
  await assert.rejects(
    integrate(f, y0, 0, 1, { observe: { times: [0.5, 1.5], at: () => {} } }),
    /observe\.times\[1\] = 1\.5 is not inside \[0, 1\]/,
  );
  await assert.rejects(
    integrate(f, y0, 1, 0, { observe: { times: [0.2, 0.5], at: () => {} } }),
    /observe\.times\[1\] = 0\.5 goes against the direction of integration/,
  );
});

Deno.test("integrate() throws SolverError naming t, h and steps for NaN, underflow and maxSteps", async () => {
  const expectFailure = async (p: Promise<unknown>, reason: string, check: (e: SolverError) => void) => {
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof SolverError && e instanceof RangeError, String(e));
      assert.equal(e.reason, reason);
      assert.match(e.message, new RegExp(`at t = ${e.t} with step size ${e.h} after ${e.steps} steps`));
      check(e);
      return true;
    });
  };
  const nanAfterHalf: VectorField = (t, y) => Promise.resolve(y.map((v) => (t > 0.5 ? NaN : -v)));
  await expectFailure(integrate(nanAfterHalf, new Float64Array([1]), 0, 1), "nonfinite", (e) => {
    assert.ok(e.t <= 0.5 && e.t > 0.4);
  });
  await expectFailure(
    integrate(nanAfterHalf, new Float64Array([1]), 0, 1, { solver: SOLVERS.rk4, dt: 0.2 }),
    "nonfinite",
    (e) => assert.ok(Math.abs(e.t - 0.4) < 1e-12 && Math.abs(e.h - 0.2) < 1e-12 && e.steps === 3),
  );
  const square: VectorField = (_t, y) => Promise.resolve(y.map((v) => v * v));
  await expectFailure(integrate(square, new Float64Array([1]), 0, 2), "underflow", (e) => {
    assert.ok(Math.abs(e.t - 1) < 1e-4, `blow-up of y' = y² is at t = 1, got ${e.t}`);
    assert.ok(Math.abs(e.h) < 1e-12);
  });
  await expectFailure(integrate(square, new Float64Array([1]), 0, 2, { minStep: 1e-6 }), "underflow", (e) => {
    assert.ok(e.t < 1 && Math.abs(e.h) === 1e-6);
    assert.match(e.message, /minStep/);
  });
  const { f } = linearProblem(-1);
  await expectFailure(integrate(f, new Float64Array([1]), 0, 10, { maxSteps: 5 }), "maxSteps", (e) => {
    assert.equal(e.steps, 5);
    assert.match(e.message, /raise maxSteps/);
  });
  const c = counting(f);
  await expectFailure(
    integrate(c.f, new Float64Array([1]), 0, 10, { solver: SOLVERS.euler, dt: 1e-3, maxSteps: 100 }),
    "maxSteps",
    (e) => {
      assert.match(e.message, /needs 10000 steps/);
    },
  );
  assert.ok(c.calls() <= 1, "a fixed grid over maxSteps is refused before stepping");
});

Deno.test("integrate() validates options, naming the option and value", async () => {
  const { f } = linearProblem(-1);
  const y0 = new Float64Array([1, 2]);
  const cases: [object, RegExp, ErrorConstructor][] = [
    [{ rtol: -1 }, /rtol must be ≥ 0, got -1/, RangeError],
    [{ atol: new Float64Array(3) }, /atol has 3 components but the state has 2/, RangeError],
    [{ solver: SOLVERS.rk4 }, /fixed-step solver rk4 needs option dt or steps/, RangeError],
    [{ dt: 0.1, steps: 3 }, /give dt \(0\.1\) or steps \(3\), not both/, RangeError],
    [{ firstStep: -0.1 }, /firstStep must be a positive finite number, got -0\.1/, RangeError],
    [{ rtl: 1e-3 }, /unknown option "rtl"/, TypeError],
  ];
  for (const [options, message, type] of cases) {
    await assert.rejects(integrate(f, y0, 0, 1, options), (e: unknown) => e instanceof type && message.test(e.message));
  }
  await assert.rejects(integrate(f, new Float64Array([NaN]), 0, 1), /y0\[0\] must be finite, got NaN/);
});

Deno.test("integrate() with a seminorm ignoring a component takes fewer steps", async () => {
  // Component 1 oscillates fast and is not fed back; a norm that drops it lets the steps follow component 0.
  const f: VectorField = (t, y) => Promise.resolve(new Float64Array([-y[0]!, Math.cos(40 * t)]));
  const y0 = new Float64Array([1, 0]);
  const full = await integrate(f, y0, 0, 2, { rtol: 1e-7, atol: 1e-9 });
  const semi = await integrate(f, y0, 0, 2, {
    rtol: 1e-7,
    atol: 1e-9,
    norm: (err, a, b, rtol, atol) => rmsNorm(err.subarray(0, 1), a.subarray(0, 1), b.subarray(0, 1), rtol, atol),
  });
  assert.ok(semi.stats.accepted < full.stats.accepted / 2, `${semi.stats.accepted} vs ${full.stats.accepted}`);
  assert.ok(Math.abs(semi.y1[0]! - Math.exp(-2)) < 1e-6);
  // A per-component atol that is huge on component 1 has the same effect.
  const perComponent = await integrate(f, y0, 0, 2, { rtol: 1e-7, atol: new Float64Array([1e-9, 1e3]) });
  assert.ok(perComponent.stats.accepted < full.stats.accepted / 2);
});

Deno.test("integrate() continues with lastStep as firstStep without a new initial-step selection", async () => {
  const { f, exact } = rotationProblem;
  const a = await integrate(f, exact(0), 0, 1, { rtol: 1e-8, atol: 1e-10 });
  const b = await integrate(f, a.y1, 1, 2, { rtol: 1e-8, atol: 1e-10, firstStep: a.lastStep });
  assert.ok(a.lastStep > 0 && b.stats.initialStepNfe === 0);
  assert.ok(distance(b.y1, exact(2)) < 1e-6);
  // A last step shortened to a sliver to land on t1 leaves the step size proposed before it.
  const g = linearProblem(-1).f;
  const ends: number[] = [];
  await integrate(g, new Float64Array([1]), 0, 10, { rtol: 1e-6, atol: 1e-9, onStep: (s) => void ends.push(s.t1) });
  const sliver = await integrate(g, new Float64Array([1]), 0, ends[3]! + 1e-9, { rtol: 1e-6, atol: 1e-9 });
  assert.equal(sliver.stats.accepted, 5);
  const before = ends[4]! - ends[3]!;
  assert.ok(Math.abs(sliver.lastStep - before) < 1e-12 * before, `lastStep ${sliver.lastStep}: the proposal ${before}`);
  const same = await integrate(f, exact(0), 0.5, 0.5, {});
  assert.deepEqual(same.stats, { nfe: 0, accepted: 0, rejected: 0, initialStepNfe: 0 });
});

Deno.test("integrate() with atol 0 steps a component that stays exactly 0 (a zero error counts 0, not 0/0)", async () => {
  const f: VectorField = (_t, y) => Promise.resolve(Float64Array.of(-y[0]!, 0));
  const { y1 } = await integrate(f, Float64Array.of(1, 0), 0, 1, { rtol: 1e-8, atol: 0 });
  assert.ok(Math.abs(y1[0]! - Math.exp(-1)) < 1e-7, `y0(1) = ${y1[0]}`);
  assert.equal(y1[1], 0);
  const ratio = rmsNorm(Float64Array.of(0, 1e-9), Float64Array.of(0, 1), Float64Array.of(0, 1), 1e-8, 0);
  assert.ok(Math.abs(ratio - Math.sqrt(0.005)) < 1e-15, `${ratio}`); // (0² + 0.1²)/2 under the root
});

Deno.test("integrate() reports underflow at t = 0 after a few rejections, not after shrinking the step to 0", async () => {
  let calls = 0;
  // Finite at t = 0 only: every trial step is rejected as non-finite.
  const f: VectorField = (t) => {
    calls++;
    return Promise.resolve(Float64Array.of(t === 0 ? 1 : NaN));
  };
  await assert.rejects(() => integrate(f, Float64Array.of(0), 0, 1, { rtol: 1e-12, atol: 1e-12 }), SolverError);
  assert.ok(calls < 300, `${calls} evaluations before giving up`);
});

Deno.test("integrate() takes the tiny steps a fast pulse near t = 0 needs on a long span", async () => {
  const f: VectorField = (t) => Promise.resolve(Float64Array.of(1e7 * Math.exp(-1e7 * t)));
  const { y1 } = await integrate(f, Float64Array.of(0), 0, 1e8, { rtol: 1e-6, atol: 1e-9 });
  assert.ok(Math.abs(y1[0]! - 1) < 1e-4, `∫ = ${y1[0]}`);
});
