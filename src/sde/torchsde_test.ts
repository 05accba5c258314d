import { assert } from "../util/testing.ts";
import { reversibleHeun } from "./solvers.ts";
import type { SdeTerms } from "./terms.ts";

/** torchsde 0.2.6's reversible-Heun states on given increments (tests/fixtures/make_torchsde_reversible_heun.py). */
interface Fixture {
  readonly dt: number;
  readonly y0: number[];
  readonly increments: number[][];
  readonly states: number[][];
}

Deno.test("reversibleHeun gives torchsde 0.2.6's states on the same Brownian increments", async () => {
  const fixture: Fixture = JSON.parse(
    await Deno.readTextFile(new URL("../../tests/fixtures/torchsde_reversible_heun.json", import.meta.url)),
  );
  // The fixture's SDE: f(t, y) = sin(y) − 0.3y + 0.1t, g(t, y) = 0.5/(1 + y²), diagonal, Stratonovich.
  const terms: SdeTerms = {
    drift: (t, y) => y.map((v) => Math.sin(v) - 0.3 * v + 0.1 * t),
    diffusion: (_t, y) => y.map((v) => 0.5 / (1 + v * v)),
  };
  const { dt } = fixture;
  let state = await reversibleHeun.init(terms, 0, Float64Array.from(fixture.y0));
  let worst = 0;
  for (const [n, dW] of fixture.increments.entries()) {
    state = await reversibleHeun.step(terms, state, n * dt, dt, Float64Array.from(dW));
    const expected = fixture.states[n + 1]!;
    worst = Math.max(worst, ...state.y.map((v, i) => Math.abs(v - expected[i]!)));
  }
  assert(fixture.states.length === fixture.increments.length + 1, "one state per step and the start");
  assert(worst < 1e-12, `largest difference from torchsde ${worst}`);
});
