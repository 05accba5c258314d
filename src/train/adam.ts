/**
 * Adam (Kingma & Ba 2015) with PyTorch's semantics (`torch.optim.Adam`,
 * amsgrad off, weight decay coupled as an L2 term):
 *
 * ```
 * g ← ∇ + λ·θ
 * m ← β1·m + (1 − β1)·g
 * v ← β2·v + (1 − β2)·g²
 * θ ← θ − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
 * ```
 *
 * Parameters are a `Record<string, Float64Array | Float32Array>`, updated in
 * place. The optimiser object holds only options; the moments and step count
 * live in an explicit {@linkcode AdamState}. The moments have the parameters'
 * element type by default (float32 moments for a float32 model, as
 * `torch.optim.Adam` keeps them; `init(params, "float64")` keeps float64
 * ones). θ moves by the stored moments. A float32 parameter with float32
 * moments steps in float32 arithmetic, each operation rounded to float32 as
 * in `torch.optim.Adam` on float32 tensors (a WebAssembly SIMD kernel; not
 * bit-identical to torch, which forms m by lerp and θ by addcdiv); any
 * other combination computes in double precision and stores in the arrays'
 * types, so a float64 model's steps are exactly the textbook formula's. A
 * step reads every gradient element once, checking it is finite in the same
 * loop, and writes θ, m and v in place: no temporaries the size of θ.
 *
 * @module
 */
import type { FloatArray } from "../solvers/stepper.ts";
import { type AdamConstants, adamUpdate32 } from "./wasm/adam_f32.ts";

/** Options of {@linkcode Adam}. */
export interface AdamOptions {
  /** Learning rate. @default 1e-3 */
  lr?: number;
  /** Decay rates of the first and second moments. @default [0.9, 0.999] */
  betas?: readonly [number, number];
  /** Added to the denominator. @default 1e-8 */
  eps?: number;
  /** L2 penalty λ added to the gradient (PyTorch's `weight_decay`). @default 0 */
  weightDecay?: number;
}

/** Parameters or gradients by name. */
export type ParameterSet = Record<string, FloatArray>;

/** Optimiser state: the step count and per-parameter moments. */
export interface AdamState {
  /** Steps taken so far. */
  step: number;
  /** First moments, by parameter name (each as long as its parameter). */
  readonly m: Record<string, FloatArray>;
  /** Second moments, by parameter name (each as long as its parameter, of its first moment's type). */
  readonly v: Record<string, FloatArray>;
}

/**
 * The Adam optimiser.
 *
 * @example Minimise (θ − 3)²
 * ```ts
 * import { Adam } from "./adam.ts";
 * const theta = { x: new Float64Array([0]) };
 * const adam = new Adam({ lr: 0.1 });
 * const state = adam.init(theta);
 * for (let i = 0; i < 500; i++) adam.step(theta, { x: new Float64Array([2 * (theta.x[0]! - 3)]) }, state);
 * if (Math.abs(theta.x[0]! - 3) > 1e-3) throw new Error(`did not converge: ${theta.x[0]}`);
 * ```
 */
export class Adam {
  /** Learning rate. */
  readonly lr: number;
  /** Moment decay rates. */
  readonly betas: readonly [number, number];
  /** Denominator guard. */
  readonly eps: number;
  /** L2 penalty. */
  readonly weightDecay: number;

  /**
   * Validates the options.
   *
   * @throws {RangeError} naming the option when lr ≤ 0, a beta is outside [0, 1), eps ≤ 0 or weightDecay < 0.
   */
  constructor(options: AdamOptions = {}) {
    const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0 } = options;
    if (!(lr > 0 && Number.isFinite(lr))) throw new RangeError(`Adam option lr must be a positive number, got ${lr}`);
    betas.forEach((b, i) => {
      if (!(b >= 0 && b < 1)) throw new RangeError(`Adam option betas[${i}] must be in [0, 1), got ${b}`);
    });
    if (!(eps > 0 && Number.isFinite(eps))) {
      throw new RangeError(`Adam option eps must be a positive number, got ${eps}`);
    }
    if (!(weightDecay >= 0 && Number.isFinite(weightDecay))) {
      throw new RangeError(`Adam option weightDecay must be a non-negative number, got ${weightDecay}`);
    }
    this.lr = lr;
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.weightDecay = weightDecay;
  }

  /**
   * Zero moments and step 0 for these parameters.
   *
   * @param dtype Element type of the moments. @default each parameter's own
   */
  init(params: ParameterSet, dtype?: "float32" | "float64"): AdamState {
    const m: Record<string, FloatArray> = {}, v: Record<string, FloatArray> = {};
    for (const [name, p] of Object.entries(params)) {
      const wide = dtype === undefined ? p instanceof Float64Array : dtype === "float64";
      m[name] = wide ? new Float64Array(p.length) : new Float32Array(p.length);
      v[name] = wide ? new Float64Array(p.length) : new Float32Array(p.length);
    }
    return { step: 0, m, v };
  }

  /**
   * One Adam step: updates `params` and `state` in place. Every parameter
   * needs a gradient of its length (give zeros for unused ones: a missing
   * gradient is an error, not a skipped update, so that a typo in a name
   * cannot silently freeze a parameter).
   *
   * The gradients are checked for NaN and ±Infinity in the update loop
   * itself, not in a pass of their own: a non-finite element stops the step
   * where it is found, with the parameters before it (in `params` order, and
   * the elements before it in its own) already updated and `state.step` not
   * advanced. Restore parameters and state from a copy after such an error —
   * the training loops do, by training each epoch on a copy of the last
   * completed one's state.
   *
   * @param lr Learning rate for this step (for schedules). Defaults to the optimiser's.
   * @throws {TypeError} when a gradient or state entry is missing or has the wrong length (nothing is changed).
   * @throws {RangeError} when a gradient element is not finite, naming the parameter and index.
   */
  step(params: ParameterSet, grads: ParameterSet, state: AdamState, lr: number = this.lr): void {
    for (const name of Object.keys(grads)) {
      if (!(name in params)) throw new TypeError(`Adam.step got a gradient for unknown parameter "${name}"`);
    }
    for (const [name, p] of Object.entries(params)) {
      const g = grads[name], m = state.m[name], v = state.v[name];
      if (g === undefined) throw new TypeError(`Adam.step is missing the gradient of parameter "${name}"`);
      if (g.length !== p.length) {
        throw new TypeError(`Adam.step gradient of "${name}" has ${g.length} elements, the parameter ${p.length}`);
      }
      if (m === undefined || v === undefined || m.length !== p.length || v.length !== p.length) {
        throw new TypeError(`Adam state has no moments of ${p.length} elements for parameter "${name}"; call init()`);
      }
    }
    const t = state.step + 1;
    const [b1, b2] = this.betas;
    const c: AdamConstants = {
      b1,
      b2,
      c1: 1 - b1,
      c2: 1 - b2,
      stepSize: lr / (1 - b1 ** t),
      bc2Sqrt: Math.sqrt(1 - b2 ** t),
      eps: this.eps,
      weightDecay: this.weightDecay,
    };
    for (const [name, p] of Object.entries(params)) {
      const g = grads[name]!;
      const bad = update(p, g, state.m[name]!, state.v[name]!, c);
      if (bad >= 0) {
        throw new RangeError(
          `Adam.step gradient of "${name}" is ${g[bad]} at index ${bad}; the step stopped there, partly applied`,
        );
      }
    }
    state.step = t;
  }
}

/**
 * One parameter's Adam update in place; returns −1, or the index of the
 * first non-finite gradient element (where it stopped). θ moves by the
 * moments as stored. All-float32 arrays go to the WebAssembly SIMD kernel
 * (`wasm/adam_f32.ts`: float32 arithmetic, each operation rounded as in
 * PyTorch's float32 Adam; 2.4× faster than this loop in JavaScript); float64
 * and mixed arrays compute in double precision, so float64 ones give the
 * formula's numbers exactly.
 *
 * The double-precision loop exists twice, for float64 and mixed arrays: V8
 * compiles a loop for the array types it has met, and one that has met two
 * kinds runs 2–3 times slower (measured when float32 still stepped here: 9M
 * float32 parameters took 80 ms alone, 195 ms once the same loop had also
 * stepped float64 ones).
 */
function update(p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray, c: AdamConstants): number {
  if (
    p instanceof Float32Array && g instanceof Float32Array && m instanceof Float32Array && v instanceof Float32Array
  ) {
    return adamUpdate32(p, g, m, v, c);
  }
  if (
    p instanceof Float64Array && g instanceof Float64Array && m instanceof Float64Array && v instanceof Float64Array
  ) {
    return update64(p, g, m, v, c);
  }
  return updateMixed(p, g, m, v, c);
}

function update64(p: Float64Array, g: Float64Array, m: Float64Array, v: Float64Array, c: AdamConstants): number {
  const { b1, b2, c1, c2, stepSize, bc2Sqrt, eps, weightDecay } = c;
  for (let i = 0; i < p.length; i++) {
    let gi = g[i]!;
    if (gi - gi !== 0) return i;
    if (weightDecay !== 0) gi += weightDecay * p[i]!;
    m[i] = b1 * m[i]! + c1 * gi;
    v[i] = b2 * v[i]! + c2 * gi * gi;
    p[i] = p[i]! - stepSize * m[i]! / (Math.sqrt(v[i]!) / bc2Sqrt + eps);
  }
  return -1;
}

function updateMixed(p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray, c: AdamConstants): number {
  const { b1, b2, c1, c2, stepSize, bc2Sqrt, eps, weightDecay } = c;
  for (let i = 0; i < p.length; i++) {
    let gi = g[i]!;
    if (gi - gi !== 0) return i;
    if (weightDecay !== 0) gi += weightDecay * p[i]!;
    m[i] = b1 * m[i]! + c1 * gi;
    v[i] = b2 * v[i]! + c2 * gi * gi;
    p[i] = p[i]! - stepSize * m[i]! / (Math.sqrt(v[i]!) / bc2Sqrt + eps);
  }
  return -1;
}
