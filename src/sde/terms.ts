/**
 * The terms of an SDE dy = f(t, y) dt + g(t, y) ∘ dW (Stratonovich) or
 * dy = f dt + g dW (Itô): drift f and diffusion g as functions of float64
 * state vectors. Noise is diagonal (g has y's shape and multiplies dW
 * elementwise) or scalar per sample (dW has one entry per sample, g one per
 * state entry).
 *
 * {@linkcode onnxSdeTerms} makes the terms from two dynamics graphs (the
 * dynamics contract of src/models: inputs t, z and parameters; output dz).
 *
 * @module
 */
import { type Dynamics, DYNAMICS_NAMES, type Params } from "../models/dynamics.ts";
import { BoundGraph } from "../runtime/bound_graph.ts";
import type { Runtime } from "../runtime/session.ts";

/** A drift or diffusion: the value at time t and state y (a fresh array or one the caller may not keep). */
export type SdeFunction = (t: number, y: Float64Array) => Promise<Float64Array> | Float64Array;

/** Drift and diffusion of an SDE, and how many calls each has had. */
export interface SdeTerms {
  /** f(t, y), same size as y. */
  readonly drift: SdeFunction;
  /** g(t, y), same size as y. */
  readonly diffusion: SdeFunction;
}

/**
 * Adds g ⊙ dW · scale to `out`: diagonal noise when dW has g's size, scalar
 * noise per sample when g has `dW.length` samples of equal size.
 *
 * @throws {RangeError} when the sizes fit neither.
 */
export function addNoise(out: Float64Array, g: Float64Array, dW: Float64Array, scale = 1): void {
  if (g.length !== out.length) throw new RangeError(`Diffusion has ${g.length} entries for a state of ${out.length}`);
  const w = noisePerEntry(dW, g.length);
  for (let i = 0; i < out.length; i++) out[i]! += scale * g[i]! * w[i]!;
}

/**
 * A Brownian increment as one value per state entry: itself for diagonal noise (as many entries as the state), each
 * sample's one value repeated over that sample's entries for scalar noise per sample.
 *
 * @throws {RangeError} when `dW` fits neither.
 */
export function noisePerEntry(dW: Float64Array, size: number): Float64Array {
  if (dW.length === size) return dW;
  const per = size / dW.length;
  if (!Number.isInteger(per)) {
    throw new RangeError(
      `Brownian increment of ${dW.length} entries fits neither diagonal noise (${size}) nor scalar noise per sample`,
    );
  }
  return Float64Array.from({ length: size }, (_, i) => dW[Math.floor(i / per)]!);
}

/**
 * Checks that a drift and a diffusion graph describe one state: the same
 * state shape and dtype (what diagonal noise needs).
 *
 * @throws {TypeError} naming `where` and both shapes and dtypes when they differ.
 */
export function checkSameState(drift: Dynamics, diffusion: Dynamics, where: string): void {
  if (drift.stateShape.join() !== diffusion.stateShape.join() || drift.dtype !== diffusion.dtype) {
    throw new TypeError(
      `${where}: drift and diffusion must share state shape and dtype: [${drift.stateShape}] ${drift.dtype} vs ` +
        `[${diffusion.stateShape}] ${diffusion.dtype}`,
    );
  }
}

/** Options of {@linkcode onnxSdeTerms}. */
export interface OnnxSdeTermsOptions {
  /** Where the graphs run. */
  readonly runtime: Runtime;
  /** The drift graph f(z, t, θ_f). */
  readonly drift: Dynamics;
  /** The diffusion graph g(z, t, θ_g), same state shape and dtype as the drift. */
  readonly diffusion: Dynamics;
  /** Parameters of both graphs, by name (each graph takes the ones it has). */
  readonly params: Params;
}

/** Terms evaluated by ONNX Runtime, with the number of calls made so far. */
export interface OnnxSdeTerms extends SdeTerms {
  /** Calls of the drift and diffusion graphs. */
  readonly calls: () => { drift: number; diffusion: number };
}

/**
 * Drift and diffusion from dynamics graphs, called with float64 states of any
 * batch size (the state shape is the graphs').
 *
 * @throws {TypeError} when the two graphs disagree on state shape or dtype.
 */
export async function onnxSdeTerms(options: OnnxSdeTermsOptions): Promise<OnnxSdeTerms> {
  const { runtime, drift, diffusion, params } = options;
  checkSameState(drift, diffusion, "onnxSdeTerms");
  const size = drift.stateShape.reduce((a, b) => a * b, 1);
  const f = await BoundGraph.create(runtime, drift.graph, drift.dtype, params);
  const g = await BoundGraph.create(runtime, diffusion.graph, diffusion.dtype, params);
  const call = (graph: BoundGraph) => async (t: number, y: Float64Array) => {
    const dims = [y.length / size, ...drift.stateShape];
    const [out] = await graph.call(t, { [DYNAMICS_NAMES.state]: { data: y, dims } }, [DYNAMICS_NAMES.derivative]);
    return out!;
  };
  return { drift: call(f), diffusion: call(g), calls: () => ({ drift: f.calls, diffusion: g.calls }) };
}
