import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { Adam, adamStateFromJson, adamStateToJson } from "./adam.ts";

Deno.test("Adam.step() matches hand-computed steps exactly when the arithmetic is exact", () => {
  // β = (0.5, 0.75), ε = 0: step 1 with g = 1 gives m = 0.5, v = 0.25, m̂ = 1, v̂ = 1, θ −= lr·1.
  // Step 2 with g = −1: m = −0.25, v = 0.4375, m̂ = −1/3, v̂ = 1, θ += lr/3.
  const adam = new Adam({ lr: 1, betas: [0.5, 0.75], eps: 1e-300 });
  const theta = { w: new Float64Array([0]) };
  const s = adam.init(theta);
  adam.step(theta, { w: new Float64Array([1]) }, s);
  assertEquals([theta.w[0], s.m.w![0], s.v.w![0], s.step], [-1, 0.5, 0.25, 1]);
  adam.step(theta, { w: new Float64Array([-1]) }, s);
  assertEquals([s.m.w![0], s.v.w![0], s.step], [-0.25, 0.4375, 2]);
  assertClose(theta.w[0]!, -1 + 1 / 3, 1e-16, "θ after two steps");
});

Deno.test("Adam.step() agrees with the bias-corrected textbook form for PyTorch's defaults", () => {
  // Kingma & Ba's Algorithm 1 written independently: θ −= lr·m̂/(√v̂ + ε).
  const grads = [[0.3, -2, 1e-3], [0.1, 4, -1e-3], [-0.7, 0.5, 2e-3], [0.2, -0.1, 0]];
  const adam = new Adam({ lr: 0.01, weightDecay: 0.1 });
  const theta = { a: new Float64Array([1, -2, 0.5]) };
  const state = adam.init(theta);
  const ref = [1, -2, 0.5], m = [0, 0, 0], v = [0, 0, 0];
  grads.forEach((g, k) => {
    adam.step(theta, { a: new Float64Array(g) }, state);
    const t = k + 1;
    for (let i = 0; i < 3; i++) {
      const gi = g[i]! + 0.1 * ref[i]!;
      m[i] = 0.9 * m[i]! + 0.1 * gi;
      v[i] = 0.999 * v[i]! + 0.001 * gi * gi;
      const mHat = m[i]! / (1 - 0.9 ** t), vHat = v[i]! / (1 - 0.999 ** t);
      ref[i] = ref[i]! - 0.01 * mHat / (Math.sqrt(vHat) + 1e-8);
    }
    assertClose(theta.a, ref, 1e-14, `θ after step ${t}`);
  });
  // The first step moves each coordinate by lr·sign(g) (up to ε): Adam's scale invariance.
  const fresh = { p: new Float64Array([0, 0]) };
  const s2 = new Adam({ lr: 0.01 }).init(fresh);
  new Adam({ lr: 0.01 }).step(fresh, { p: new Float64Array([1e-3, -5e3]) }, s2);
  assertClose(fresh.p, [-0.01, 0.01], 1e-5, "first step");
});

Deno.test("Adam minimises an ill-conditioned quadratic in float64 and float32", () => {
  const scale = [1, 100, 0.01], target = [3, -1, 0.5];
  for (const Arr of [Float64Array, Float32Array]) {
    const theta = { x: new Arr([0, 0, 0]) };
    const adam = new Adam({ lr: 0.05 });
    const state = adam.init(theta);
    for (let i = 0; i < 3000; i++) {
      const lr = 0.05 * (1 - i / 3000); // linear decay to settle the final oscillation
      const g = new Arr(3);
      for (let j = 0; j < 3; j++) g[j] = scale[j]! * (theta.x[j]! - target[j]!);
      adam.step(theta, { x: g }, state, lr);
    }
    assertClose(theta.x, target, 1e-3, `${Arr.name} minimum`);
  }
});

Deno.test("adamStateToJson() round-trips exactly: a restored run continues bit for bit", () => {
  const adam = new Adam({ lr: 0.02 });
  const grad = (p: Float64Array, k: number) => p.map((x, i) => Math.sin(x * (i + 1) + k));
  const theta = { u: new Float64Array([0.1, 0.2, 0.3]), w: new Float64Array([-1]) };
  const state = adam.init(theta);
  const run = (params: typeof theta, s: typeof state, from: number, to: number) => {
    for (let k = from; k < to; k++) adam.step(params, { u: grad(params.u, k), w: grad(params.w, k) }, s);
  };
  run(theta, state, 0, 5);
  const saved = JSON.stringify({
    theta: { u: Array.from(theta.u), w: Array.from(theta.w) },
    adam: adamStateToJson(state),
  });
  run(theta, state, 5, 10);
  const restoredJson = JSON.parse(saved);
  const restored = {
    u: Float64Array.from(restoredJson.theta.u as number[]),
    w: Float64Array.from(restoredJson.theta.w as number[]),
  };
  const restoredState = adamStateFromJson(restoredJson.adam);
  assertEquals(restoredState.step, 5);
  run(restored, restoredState, 5, 10);
  assertEquals(restored, theta);
  assertEquals(restoredState, state);
});

Deno.test("Adam refuses bad options, missing gradients and corrupt states, naming the culprit", () => {
  assertThrows(() => new Adam({ lr: 0 }), RangeError, "lr must be a positive number, got 0");
  assertThrows(() => new Adam({ betas: [0.9, 1] }), RangeError, "betas[1] must be in [0, 1), got 1");
  const adam = new Adam();
  const theta = { a: new Float64Array(2), b: new Float32Array(1) };
  const s = adam.init(theta);
  assertThrows(() => adam.step(theta, { a: new Float64Array(2) }, s), TypeError, 'gradient of parameter "b"');
  assertThrows(
    () => adam.step(theta, { a: new Float64Array(3), b: new Float32Array(1) }, s),
    TypeError,
    "has 3 elements",
  );
  assertThrows(
    () => adam.step(theta, { a: new Float64Array(2), b: new Float32Array(1), c: new Float64Array(1) }, s),
    TypeError,
    'unknown parameter "c"',
  );
  assertThrows(
    () => adam.step(theta, { a: new Float64Array([1, NaN]), b: new Float32Array(1) }, s),
    RangeError,
    "NaN at index 1",
  );
  assertThrows(() => adamStateFromJson({ format: "x" }), SyntaxError, 'got "x"');
  assertThrows(
    () => adamStateFromJson({ format: "quadjoint.adam/1", step: 1, m: { a: "AAA=" }, v: {} }),
    SyntaxError,
    "m.a",
  );
  assert(s.step === 0 && s.m.a!.every((x) => x === 0) && theta.a.every((x) => x === 0), "failed steps change nothing");
});
