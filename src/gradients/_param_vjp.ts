/**
 * Σᵢ aᵢᵀ∂f/∂θ(zᵢ, tᵢ) over many points, computed in ONNX Runtime in batches:
 * GQ's quadrature, its nodes' weights folded into the aᵢ. Points are buffered on the host (a state and a cotangent
 * each, small) and sent in batches of up to {@linkcode MAX_BATCH} to one
 * {@linkcode paramVjpBatchGraph} call that also adds the running sums, so the
 * θ-sized work happens in ORT kernels and one θ-sized output comes back per
 * batch — not one per point, widened and added up in JavaScript.
 *
 * Memory: at most `MAX_BATCH` points are held, whatever the number of steps.
 *
 * The dynamics' per-sample constants are the same at every point (a point is
 * the whole batch at one time): they are fed once per call, unstacked.
 *
 * @module
 */
import { paramVjpBatchGraph } from "./fused_graphs.ts";
import type { Dynamics, Params } from "../models/dynamics.ts";
import type { Tensor } from "../onnx/tensor.ts";
import type { CompiledGraph, Runtime } from "../runtime/session.ts";
import type { FloatArray } from "../solvers/stepper.ts";
import { zeroParamGradients } from "./_context.ts";

/** Most points per graph call (a graph is compiled per batch size, so at most this many). */
export const MAX_BATCH = 4;

/** Accumulates weighted parameter (and time) cotangents at points, in batches. */
export class ParamGradientAccumulator {
  readonly #runtime: Runtime;
  readonly #dynamics: Dynamics;
  readonly #params: Params;
  readonly #constants: Params;
  readonly #zDims: readonly number[];
  readonly #n: number;
  readonly #Z: FloatArray;
  readonly #A: FloatArray;
  readonly #T: FloatArray;
  #pending = 0;
  #sums: Record<string, Tensor> | undefined;
  #timeSum = 0;
  /** Points added so far. */
  points = 0;
  /** Graph calls made so far. */
  calls = 0;

  /**
   * An empty accumulator for `dynamics` at `params` and `constants` (model
   * dtype; the constants of `dynamics.constants`, batch first) with states of
   * dims `zDims`.
   */
  constructor(runtime: Runtime, dynamics: Dynamics, params: Params, zDims: readonly number[], constants: Params = {}) {
    this.#runtime = runtime;
    this.#dynamics = dynamics;
    this.#params = params;
    this.#constants = constants;
    this.#zDims = zDims;
    this.#n = zDims.reduce((x, y) => x * y, 1);
    const make = (n: number) => (dynamics.dtype === "float64" ? new Float64Array(n) : new Float32Array(n));
    this.#Z = make(MAX_BATCH * this.#n);
    this.#A = make(MAX_BATCH * this.#n);
    this.#T = make(MAX_BATCH);
  }

  /** Adds weight·aᵀ∂f/∂θ(z, t) and weight·aᵀ∂f/∂t (the arrays are copied). */
  async add(t: number, z: ArrayLike<number>, a: ArrayLike<number>, weight: number): Promise<void> {
    const i = this.#pending, n = this.#n;
    for (let j = 0; j < n; j++) {
      this.#Z[i * n + j] = z[j]!;
      this.#A[i * n + j] = weight * a[j]!;
    }
    this.#T[i] = t;
    this.#pending++;
    this.points++;
    if (this.#pending === MAX_BATCH) await this.#flush();
  }

  /** The sums: dL/dθ contributions per parameter (model dtype) and the time term. */
  async finish(): Promise<{ dparams: Record<string, FloatArray>; dt: number }> {
    await this.#flush();
    const sums = this.#sums;
    const dparams = sums
      ? Object.fromEntries(this.#dynamics.params.map((p) => [p.name, sums[p.name]!.data as FloatArray]))
      : zeroParamGradients(this.#dynamics);
    return { dparams, dt: this.#timeSum };
  }

  async #flush(): Promise<void> {
    // All pending points in one call: at most MAX_BATCH distinct graph sizes are ever compiled.
    if (this.#pending === 0) return;
    await this.#run(this.#pending);
    this.#pending = 0;
  }

  /** One graph call over the first `count` buffered points. */
  async #run(count: number): Promise<void> {
    const dyn = this.#dynamics, n = this.#n, dtype = dyn.dtype;
    const accumulate = this.#sums !== undefined;
    const { graph, names } = paramVjpBatchGraph(dyn, count, accumulate);
    const compiled: CompiledGraph = await this.#runtime.compile(graph);
    const stacked = (data: FloatArray): Tensor =>
      ({ dtype, dims: [count, ...this.#zDims], data: data.subarray(0, count * n) }) as Tensor;
    const feeds: Record<string, Tensor> = { [names.z]: stacked(this.#Z), [names.a]: stacked(this.#A) };
    if (names.t) feeds[names.t] = { dtype, dims: [count], data: this.#T.subarray(0, count) } as Tensor;
    for (const p of dyn.params) feeds[p.name] = this.#params[p.name]!;
    for (const c of dyn.constants) feeds[c.name] = this.#constants[c.name]!;
    if (accumulate) {
      for (const p of dyn.params) feeds[names.accumulators!.params[p.name]!] = this.#sums![p.name]!;
      feeds[names.accumulators!.t] = {
        dtype,
        dims: [],
        data: dtype === "float64" ? Float64Array.of(this.#timeSum) : Float32Array.of(this.#timeSum),
      } as Tensor;
    }
    const out = await compiled.run(feeds);
    this.calls++;
    this.#sums = Object.fromEntries(dyn.params.map((p) => [p.name, out[names.outputs.params[p.name]!]!]));
    this.#timeSum = out[names.outputs.t]!.data[0] as number;
  }
}
