/**
 * A compiled graph with its parameters bound, called with float64 host
 * vectors: the bridge for code that keeps float64 state on the host (the
 * JavaScript stepper, readouts, losses). A float32 graph is fed rounded
 * copies and its outputs are widened; parameters are bound once and fed
 * without copying on every call. The solvers' hot paths use fused step graphs
 * in the model dtype instead (src/solvers/onnx_stepper.ts).
 *
 * @module
 */
import type { Graph } from "../onnx/graph.ts";
import type { Tensor } from "../onnx/tensor.ts";
import type { CompiledGraph, Runtime } from "./session.ts";

/** Float element types a model can have. */
export type FloatDType = "float32" | "float64";

/** Converts a float64 vector to a tensor of the model dtype (no copy for float64). */
export function toTensor(data: Float64Array, dims: readonly number[], dtype: FloatDType): Tensor {
  return { dtype, dims, data: dtype === "float64" ? data : Float32Array.from(data) };
}

/** Reads a float tensor as a float64 vector (no copy for float64); `what` names it in the error. */
export function toFloat64(t: Tensor, what = "a tensor"): Float64Array {
  if (t.data instanceof Float64Array) return t.data;
  if (t.data instanceof Float32Array) return Float64Array.from(t.data);
  throw new TypeError(`Expected ${what} to be float32 or float64, got ${t.dtype}`);
}

/** A compiled graph with its parameters bound, called with float64 vectors. */
export class BoundGraph {
  readonly #compiled: CompiledGraph;
  readonly #dtype: FloatDType;
  readonly #fixed: Record<string, Tensor>;
  readonly #hasTime: boolean;
  /** Number of calls made. */
  calls = 0;

  private constructor(compiled: CompiledGraph, dtype: FloatDType, fixed: Record<string, Tensor>) {
    this.#compiled = compiled;
    this.#dtype = dtype;
    this.#fixed = fixed;
    this.#hasTime = compiled.graph.inputs.some((i) => i.name === "t");
  }

  /**
   * Compiles `graph` and binds `params` to the graph inputs of the same name
   * (only those the graph has), converting them to the model dtype once.
   */
  static async create(
    runtime: Runtime,
    graph: Graph,
    dtype: FloatDType,
    params: Readonly<Record<string, Tensor>>,
  ): Promise<BoundGraph> {
    const compiled = await runtime.compile(graph);
    const fixed: Record<string, Tensor> = {};
    for (const input of graph.inputs) {
      const p = params[input.name];
      if (!p) continue;
      fixed[input.name] = p.dtype === dtype ? p : toTensor(toFloat64(p, `parameter "${input.name}"`), p.dims, dtype);
    }
    return new BoundGraph(compiled, dtype, fixed);
  }

  /**
   * Runs the graph at time `t` (fed only if the graph has a `t` input) with
   * float64 inputs of the given dims, and returns the requested outputs as
   * float64 vectors.
   */
  async call(
    t: number,
    inputs: Readonly<Record<string, { data: Float64Array; dims: readonly number[] }>>,
    outputs: readonly string[],
  ): Promise<Float64Array[]> {
    const feeds: Record<string, Tensor> = { ...this.#fixed };
    if (this.#hasTime) feeds["t"] = toTensor(new Float64Array([t]), [], this.#dtype);
    for (const [name, v] of Object.entries(inputs)) feeds[name] = toTensor(v.data, v.dims, this.#dtype);
    this.calls++;
    const out = await this.#compiled.run(feeds, outputs);
    return outputs.map((n) => toFloat64(out[n]!));
  }
}
