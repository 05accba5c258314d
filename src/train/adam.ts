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
 * live in an explicit {@linkcode AdamState}, which serialises to JSON for
 * checkpoints ({@linkcode adamStateToJson}, {@linkcode adamStateFromJson})
 * exactly. Moments are kept in float64 whatever the parameters' type, so a
 * float32 model updates as PyTorch would with float64 optimizer state (within
 * float32 rounding of θ).
 *
 * @module
 */
import { floatsFromBase64, floatsToBase64 } from "./_floats.ts";

/** Parameters or gradients by name. */
export type ParameterSet = Record<string, Float64Array | Float32Array>;

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

/** Optimiser state: the step count and per-parameter moments. */
export interface AdamState {
  /** Steps taken so far. */
  step: number;
  /** First moments, by parameter name. */
  readonly m: Record<string, Float64Array>;
  /** Second moments, by parameter name. */
  readonly v: Record<string, Float64Array>;
}

/** {@linkcode AdamState} as plain JSON: moments as base64 of little-endian float64 bytes. */
export interface AdamStateJson {
  /** Format marker. */
  readonly format: "quadjoint.adam/1";
  /** Steps taken so far. */
  readonly step: number;
  /** First moments, base64 float64 LE. */
  readonly m: Record<string, string>;
  /** Second moments, base64 float64 LE. */
  readonly v: Record<string, string>;
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

  /** Zero moments and step 0 for these parameters. */
  init(params: ParameterSet): AdamState {
    const m: Record<string, Float64Array> = {}, v: Record<string, Float64Array> = {};
    for (const [name, p] of Object.entries(params)) {
      m[name] = new Float64Array(p.length);
      v[name] = new Float64Array(p.length);
    }
    return { step: 0, m, v };
  }

  /**
   * One Adam step: updates `params` in place and advances `state`. Every
   * parameter needs a gradient of its length (give zeros for unused ones: a
   * missing gradient is an error, not a skipped update, so that a typo in a
   * name cannot silently freeze a parameter).
   *
   * @param lr Learning rate for this step (for schedules). Defaults to the optimiser's.
   * @throws {TypeError} when a gradient or state entry is missing or has the wrong length.
   * @throws {RangeError} when a gradient is not finite. Nothing is changed when it throws.
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
      const bad = g.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) throw new RangeError(`Adam.step gradient of "${name}" is ${g[bad]} at index ${bad}`);
    }
    const t = state.step + 1;
    const [b1, b2] = this.betas;
    const stepSize = lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    const wd = this.weightDecay, eps = this.eps;
    for (const [name, p] of Object.entries(params)) {
      const g = grads[name]!, m = state.m[name]!, v = state.v[name]!;
      for (let i = 0; i < p.length; i++) {
        let gi = g[i]!;
        if (wd !== 0) gi += wd * p[i]!;
        const mi = b1 * m[i]! + (1 - b1) * gi;
        const vi = b2 * v[i]! + (1 - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i]! - stepSize * mi / (Math.sqrt(vi) / bc2Sqrt + eps);
      }
    }
    state.step = t;
  }
}

/**
 * The state as JSON-ready data (exact: float64 bytes in base64).
 *
 * @example Round trip through JSON
 * ```ts
 * import { Adam, adamStateFromJson, adamStateToJson } from "./adam.ts";
 * const adam = new Adam();
 * const theta = { w: new Float64Array([1, 2]) };
 * const s = adam.init(theta);
 * adam.step(theta, { w: new Float64Array([0.5, -0.25]) }, s);
 * const back = adamStateFromJson(JSON.parse(JSON.stringify(adamStateToJson(s))));
 * if (back.step !== 1 || back.m.w![0] !== s.m.w![0]) throw new Error("not exact");
 * ```
 */
export function adamStateToJson(state: AdamState): AdamStateJson {
  const m: Record<string, string> = {}, v: Record<string, string> = {};
  for (const [name, a] of Object.entries(state.m)) m[name] = floatsToBase64(a);
  for (const [name, a] of Object.entries(state.v)) v[name] = floatsToBase64(a);
  return { format: "quadjoint.adam/1", step: state.step, m, v };
}

/**
 * Restores a state saved by {@linkcode adamStateToJson}.
 *
 * @throws {SyntaxError} when the data is not such a state (naming the field).
 */
export function adamStateFromJson(json: unknown): AdamState {
  const o = json as Partial<AdamStateJson> | null;
  if (typeof o !== "object" || o === null || o.format !== "quadjoint.adam/1") {
    throw new SyntaxError(`Adam state format must be "quadjoint.adam/1", got ${JSON.stringify(o?.format)}`);
  }
  if (!Number.isInteger(o.step) || o.step! < 0) {
    throw new SyntaxError(`Adam state step must be a non-negative integer, got ${o.step}`);
  }
  const read = (field: "m" | "v"): Record<string, Float64Array> => {
    const rec = o[field];
    if (typeof rec !== "object" || rec === null) throw new SyntaxError(`Adam state field ${field} must be an object`);
    const out: Record<string, Float64Array> = {};
    for (const [name, s] of Object.entries(rec)) {
      if (typeof s !== "string") throw new SyntaxError(`Adam state ${field}.${name} must be a base64 string`);
      out[name] = floatsFromBase64(s, "float64", `Adam state ${field}.${name}`);
    }
    return out;
  };
  const m = read("m"), v = read("v");
  for (const name of Object.keys(m)) {
    if (v[name]?.length !== m[name]!.length) {
      throw new SyntaxError(`Adam state m.${name} and v.${name} differ in length`);
    }
  }
  return { step: o.step!, m, v };
}
