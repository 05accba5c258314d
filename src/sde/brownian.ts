/**
 * A seeded Brownian path that can be queried again, in any order, without
 * being stored: a virtual Brownian tree (Gaines & Lyons 1997; torchsde's
 * `BrownianTree`, diffrax's `VirtualBrownianTree`) over a uniform grid of
 * `steps` cells on [t0, t1].
 *
 * W(t0) = 0 and W(t1) ~ N(0, (t1 − t0)·I) come from the seed; each cell
 * boundary is a Brownian-bridge sample between the two ends of the interval
 * that halves down to it, with the normals of each tree node computed by a
 * counter-based generator from the seed and the node's number. So the same
 * seed gives the same path on the forward and the backward pass, and a solve
 * at any multiple of the grid step sees the same path (what strong-order
 * tests need). A query costs O(log steps) node evaluations; a small cache of
 * recent nodes makes a sweep through the grid cost O(1) per query.
 *
 * Values are exact at grid times; other times are refused (the solvers here
 * step on the grid).
 *
 * @module
 */
import { CounterNormals } from "../util/counter_random.ts";

/** Options of {@linkcode BrownianPath}. */
export interface BrownianPathOptions {
  /** Start of the time span. */
  readonly t0: number;
  /** End of the time span (after t0). */
  readonly t1: number;
  /** Cells of the grid: queries are exact at t0 + k·(t1 − t0)/steps. */
  readonly steps: number;
  /** Independent components (batch × noise channels). */
  readonly size: number;
  /** Seed of the path. */
  readonly seed: number;
}

/** Tree nodes kept for reuse: enough for a root-to-leaf path and its neighbours. */
const CACHE_NODES = 256;

/**
 * A Brownian motion of `size` independent components on a grid.
 *
 * @example Increments add up, whatever the order of the queries
 * ```ts
 * import { BrownianPath } from "./brownian.ts";
 * const w = new BrownianPath({ t0: 0, t1: 1, steps: 8, size: 2, seed: 3 });
 * const whole = w.increment(0, 1), a = w.increment(0.5, 1), b = w.increment(0, 0.5);
 * if (Math.abs(a[0]! + b[0]! - whole[0]!) > 1e-15) throw new Error("increments do not add up");
 * ```
 */
export class BrownianPath {
  /** Start of the time span. */
  readonly t0: number;
  /** End of the time span. */
  readonly t1: number;
  /** Cells of the grid. */
  readonly steps: number;
  /** Independent components. */
  readonly size: number;
  /** Grid step. */
  readonly h: number;
  readonly #normals: CounterNormals;
  readonly #cache = new Map<number, Float64Array>();
  readonly #end: Float64Array;

  /** Makes the path; nothing is drawn until it is queried, except W(t1). */
  constructor(options: BrownianPathOptions) {
    const { t0, t1, steps, size, seed } = options;
    if (!(Number.isFinite(t0) && Number.isFinite(t1) && t1 > t0)) {
      throw new RangeError(`BrownianPath needs t0 < t1, got t0 = ${t0}, t1 = ${t1}`);
    }
    if (!(Number.isInteger(steps) && steps >= 1 && steps < 2 ** 30)) {
      throw new RangeError(`BrownianPath: steps must be an integer in [1, 2^30), got ${steps}`);
    }
    if (!(Number.isInteger(size) && size >= 1)) {
      throw new RangeError(`BrownianPath: size must be a positive integer, got ${size}`);
    }
    this.t0 = t0;
    this.t1 = t1;
    this.steps = steps;
    this.size = size;
    this.h = (t1 - t0) / steps;
    this.#normals = new CounterNormals(seed, 0x5de);
    this.#end = this.#sample(0, Math.sqrt(t1 - t0), undefined, undefined, 0);
  }

  /** Fills a fresh array with `scale` · N(0, I) of counter `id` (0: W(t1); n ≥ 1: tree node n's midpoint), plus the bridge mean between `a` and `b` at `weight`. */
  #sample(id: number, scale: number, a: Float64Array | undefined, b: Float64Array | undefined, weight: number) {
    const out = new Float64Array(this.size);
    for (let c = 0; c < this.size; c += 2) {
      const pair = this.#normals.pair(id, c >>> 1);
      out[c] = scale * pair[0]!;
      if (c + 1 < this.size) out[c + 1] = scale * pair[1]!;
    }
    if (a && b) { for (let c = 0; c < this.size; c++) out[c]! += a[c]! + weight * (b[c]! - a[c]!); }
    return out;
  }

  /** The grid index of `t`, or a RangeError naming it. */
  index(t: number): number {
    const k = Math.round((t - this.t0) / this.h);
    const tolerance = 1e-9 * Math.max(1, Math.abs(this.t0), Math.abs(this.t1));
    if (k < 0 || k > this.steps || Math.abs(this.t0 + k * this.h - t) > tolerance) {
      throw new RangeError(
        `Brownian path on [${this.t0}, ${this.t1}] with step ${this.h} has no value at t = ${t}: ` +
          "query grid times (a solver step that is a multiple of the path's step)",
      );
    }
    return k;
  }

  /** W(t) − W(t0) at grid time `t` (a fresh array). */
  value(t: number): Float64Array {
    return this.#valueAt(this.index(t)).slice();
  }

  /** W(t) − W(s) for grid times s and t (a fresh array; negative when t < s). */
  increment(s: number, t: number): Float64Array {
    const a = this.#valueAt(this.index(s)), b = this.#valueAt(this.index(t));
    const out = new Float64Array(this.size);
    for (let c = 0; c < this.size; c++) out[c] = b[c]! - a[c]!;
    return out;
  }

  /** W at grid index k (shared array: do not modify). */
  #valueAt(k: number): Float64Array {
    let i = 0, j = this.steps, id = 1;
    let wi: Float64Array = new Float64Array(this.size), wj: Float64Array = this.#end;
    if (k === 0) return wi;
    while (k !== j) {
      // Here i ≤ k < j and j − i ≥ 2 (when j − i = 1, k = i was handled below).
      if (k === i) return wi;
      const m = (i + j) >>> 1;
      let wm = this.#cache.get(id);
      if (wm === undefined) {
        const scale = Math.sqrt(((m - i) * (j - m) / (j - i)) * this.h);
        wm = this.#sample(id, scale, wi, wj, (m - i) / (j - i));
        if (this.#cache.size >= CACHE_NODES) this.#cache.delete(this.#cache.keys().next().value!);
        this.#cache.set(id, wm);
      }
      if (k < m) {
        j = m;
        wj = wm;
        id = 2 * id;
      } else {
        i = m;
        wi = wm;
        id = 2 * id + 1;
      }
    }
    return wj;
  }
}
