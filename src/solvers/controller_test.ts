import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { iController, piController } from "./controller.ts";
import { integrate } from "./integrate.ts";
import { rotationProblem } from "./_test_problems.ts";

Deno.test("iController() accepts ratio ≤ 1, grows by at most ifactor and never shrinks an accepted step", () => {
  const c = iController();
  const s = c.init();
  assertEquals(c.decide(0, 5, s).factor, 10);
  assertEquals(c.decide(1e-6, 5, s).factor, 10, "clipped at ifactor");
  assertEquals(c.decide(0.99, 5, s).factor, 1, "no shrinking after acceptance");
  const rejected = c.decide(4, 5, s);
  assert(!rejected.accept);
  assertClose(rejected.factor, 0.9 * 4 ** -0.2, 1e-15, "shrink by safety·r^(−1/k)");
  assertEquals(c.decide(Infinity, 5, s), { accept: false, factor: 0.2, state: s }, "non-finite: dfactor");
  assertEquals(c.decide(NaN, 5, s).accept, false);
});

Deno.test("piController() uses the previous accepted ratio and keeps it in its state", () => {
  const c = piController({ pcoeff: 0.4, icoeff: 0.3 });
  const first = c.decide(0.01, 5, c.init());
  assertClose(first.factor, 0.9 * 0.01 ** (-0.7 / 5), 1e-15, "first step: r_prev = 1");
  const second = c.decide(0.001, 5, first.state);
  assertClose(second.factor, 0.9 * 0.001 ** (-0.7 / 5) * 0.01 ** (0.4 / 5), 1e-15, "second step");
  assertEquals(second.state.previous, 0.001);
  const rejected = c.decide(3, 5, second.state);
  assert(!rejected.accept && rejected.state === second.state, "a rejection keeps the state");
});

Deno.test("controllers refuse bad options naming them", () => {
  assertThrows(() => iController({ safety: 0 }), RangeError, /safety/);
  assertThrows(() => iController({ dfactor: 2 }), RangeError, /dfactor/);
  assertThrows(() => piController({ pcoeff: -1 }), RangeError, /pcoeff/);
  assertThrows(() => piController({ pcoeff: 0, icoeff: 0 }), RangeError, /both 0/);
});

Deno.test("integrate() with piController() meets the tolerance and refuses a controller with safety", async () => {
  const { f, exact } = rotationProblem;
  const r = await integrate(f, exact(0), 0, 2, { rtol: 1e-8, atol: 1e-10, controller: piController() });
  const err = Math.hypot(...r.y1.map((v, i) => v - exact(2)[i]!));
  assert(err < 1e-6, `error ${err}`);
  let threw = false;
  try {
    await integrate(f, exact(0), 0, 1, { controller: piController(), safety: 0.8 });
  } catch (e) {
    threw = e instanceof RangeError && /controller or safety/.test(e.message);
  }
  assert(threw, "controller and safety together must be refused");
});
