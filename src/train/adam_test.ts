import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { Adam } from "./adam.ts";
import { CHUNK } from "./wasm/adam_f32.ts";

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

Deno.test("Adam.step() on float64 gives, bit for bit, the numbers of the formula evaluated element by element", () => {
  // The reference is the loop Adam ran before it kept moments in the parameters' type: float64 models must not move.
  const adam = new Adam({ lr: 3e-3, betas: [0.8, 0.99], eps: 1e-7, weightDecay: 0.05 });
  const theta = { a: Float64Array.of(0.3, -1.7, 2.5, 1e-9), b: Float64Array.of(-0.25) };
  const state = adam.init(theta);
  const ref = { a: theta.a.slice(), b: theta.b.slice() };
  const m = { a: new Float64Array(4), b: new Float64Array(1) }, v = { a: new Float64Array(4), b: new Float64Array(1) };
  for (let t = 1; t <= 7; t++) {
    const grads = { a: ref.a.map((x, i) => Math.sin(3 * x + i * t)), b: ref.b.map((x) => Math.cos(x * t)) };
    adam.step(theta, { a: grads.a.slice(), b: grads.b.slice() }, state);
    const stepSize = 3e-3 / (1 - 0.8 ** t), bc2Sqrt = Math.sqrt(1 - 0.99 ** t);
    for (const k of ["a", "b"] as const) {
      const p = ref[k], g = grads[k], mk = m[k], vk = v[k];
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]! + 0.05 * p[i]!;
        const mi = 0.8 * mk[i]! + (1 - 0.8) * gi;
        const vi = 0.99 * vk[i]! + (1 - 0.99) * gi * gi;
        mk[i] = mi;
        vk[i] = vi;
        p[i] = p[i]! - stepSize * mi / (Math.sqrt(vi) / bc2Sqrt + 1e-7);
      }
    }
    assertEquals([theta, state.m, state.v, state.step], [ref, m, v, t], `step ${t}`);
  }
});

Deno.test("Adam.init() keeps the moments in each parameter's type unless asked for float64", () => {
  const adam = new Adam();
  const theta = { w: new Float32Array(3), b: new Float64Array(2) };
  const own = adam.init(theta);
  assert(own.m.w instanceof Float32Array && own.v.w instanceof Float32Array, "float32 moments for float32 w");
  assert(own.m.b instanceof Float64Array && own.v.b instanceof Float64Array, "float64 moments for float64 b");
  const wide = adam.init(theta, "float64");
  assert(wide.m.w instanceof Float64Array && wide.v.w instanceof Float64Array, "float64 moments on request");
});

Deno.test("Adam.step() on float32 steps in float32 arithmetic, bit for bit, over whole and partial SIMD chunks", () => {
  // The reference rounds every operation to float32 (Math.fround of each double result is the float32 result
  // for +, −, ×, ÷ and √); lengths around the kernel's chunk and vector sizes, and weight decay on and off.
  const f = Math.fround;
  for (const [n, weightDecay] of [[3, 0], [CHUNK + 5, 0.05], [2 * CHUNK, 0], [7, 0.5]] as const) {
    const adam = new Adam({ lr: 0.01, betas: [0.8, 0.99], eps: 1e-6, weightDecay });
    const theta = { w: Float32Array.from({ length: n }, (_, i) => Math.sin(i + 0.5)) };
    const state = adam.init(theta);
    const ref = Float32Array.from(theta.w), m = new Float32Array(n), v = new Float32Array(n);
    for (let t = 1; t <= 4; t++) {
      const g = Float32Array.from(ref, (x, i) => Math.sin(x * 7 + i + t) * 10 ** ((i % 9) - 4));
      adam.step(theta, { w: g }, state);
      const b1 = f(0.8), b2 = f(0.99), c1 = f(1 - 0.8), c2 = f(1 - 0.99), wd = f(weightDecay);
      const stepSize = f(0.01 / (1 - 0.8 ** t)), bc2Sqrt = f(Math.sqrt(1 - 0.99 ** t)), eps = f(1e-6);
      for (let i = 0; i < n; i++) {
        const gi = weightDecay === 0 ? g[i]! : f(g[i]! + f(wd * ref[i]!));
        m[i] = f(f(b1 * m[i]!) + f(c1 * gi));
        v[i] = f(f(b2 * v[i]!) + f(f(c2 * gi) * gi));
        ref[i] = f(ref[i]! - f(f(stepSize * m[i]!) / f(f(f(Math.sqrt(v[i]!)) / bc2Sqrt) + eps)));
      }
      assertEquals([theta.w, state.m.w, state.v.w], [ref, m, v], `n ${n}, step ${t}`);
    }
  }
});

Deno.test("Adam.step() on float32 stops at the first non-finite gradient, with exactly the elements before it updated", () => {
  // Positions inside a vector of four, at a vector's start, in the scalar tail and in a later chunk.
  for (const bad of [0, 2, 4, 9, CHUNK + 1]) {
    for (const value of [NaN, Infinity, -Infinity]) {
      const n = CHUNK + 10;
      const theta = { w: Float32Array.from({ length: n }, (_, i) => i / n) };
      const clean = { w: Float32Array.from(theta.w) };
      const adam = new Adam({ lr: 0.1 });
      const state = adam.init(theta), g = new Float32Array(n).fill(1);
      adam.step(clean, { w: g.slice() }, adam.init(clean)); // every element updated, for comparison
      g[bad] = value;
      assertThrows(() => adam.step(theta, { w: g }, state), RangeError, `is ${value} at index ${bad}`);
      assertEquals(theta.w.subarray(0, bad), clean.w.subarray(0, bad), `updated before ${bad}`);
      assert(theta.w.subarray(bad).every((x, i) => x === Math.fround((bad + i) / n)), `θ untouched from ${bad}`);
      assert(state.m.w!.subarray(0, bad).every((x) => x !== 0), `m updated before ${bad}`);
      assert(state.m.w!.subarray(bad).every((x) => x === 0), `m untouched from ${bad}`);
      assert(state.v.w!.subarray(0, bad).every((x) => x !== 0), `v updated before ${bad}`);
      assert(state.v.w!.subarray(bad).every((x) => x === 0), `v untouched from ${bad}`);
      assertEquals(state.step, 0, "the step is not counted");
    }
  }
});

Deno.test("Adam refuses bad options, missing and non-finite gradients, naming the culprit", () => {
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
  assert(s.step === 0 && s.m.a!.every((x) => x === 0) && theta.a.every((x) => x === 0), "refused steps change nothing");
  // A non-finite gradient is found by the update loop itself: it stops there, the step count stays.
  assertThrows(
    () => adam.step(theta, { a: Float64Array.of(1, Infinity), b: new Float32Array(1) }, s),
    RangeError,
    'gradient of "a" is Infinity at index 1; the step stopped there, partly applied',
  );
  assertThrows(
    () => adam.step(theta, { a: new Float64Array(2), b: Float32Array.of(NaN) }, s),
    RangeError,
    'gradient of "b" is NaN at index 0',
  );
  assertEquals(s.step, 0, "the step is not counted");
});
