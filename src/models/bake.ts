/**
 * Baking parameters into a dynamics graph as initializers.
 *
 * @module
 */
import { formatShape, type Graph } from "../onnx/graph.ts";
import type { Dynamics, Params } from "./dynamics.ts";

/**
 * Returns the dynamics graph with θ as initializers instead of inputs: the
 * graph then has inputs `t` and `z` only. ONNX Runtime may prepack baked
 * weights (faster runs), at the price of a new session whenever θ changes —
 * the trade-off `bench/onnx_bench.ts` measures. Tensors are shared, not copied.
 *
 * Throws TypeError when a parameter is missing or has the wrong dtype or
 * shape, and RangeError for values that are not parameters of `dynamics`.
 *
 * @example Bake an MLP's initial θ
 * ```ts
 * import { bakeParams } from "./bake.ts";
 * import { mlpDynamics } from "./mlp.ts";
 * const { dynamics, init } = mlpDynamics({ stateDim: 2, hidden: [8] });
 * const g = bakeParams(dynamics, init);
 * if (g.inputs.map((v) => v.name).join() !== "t,z") throw new Error("θ should be baked");
 * ```
 */
export function bakeParams(dynamics: Dynamics, params: Params): Graph {
  const graph = dynamics.graph;
  const known = new Set(dynamics.params.map((p) => p.name));
  for (const name of Object.keys(params)) {
    if (!known.has(name)) {
      throw new RangeError(
        `"${name}" is not a parameter of ${graph.name}; its parameters are ${[...known].join(", ")}`,
      );
    }
  }
  const initializers = new Map(graph.initializers);
  for (const p of dynamics.params) {
    const value = params[p.name];
    if (!value) throw new TypeError(`Parameter "${p.name}" of ${graph.name} has no value to bake`);
    if (
      value.dtype !== dynamics.dtype || value.dims.length !== p.shape.length ||
      value.dims.some((d, i) => d !== p.shape[i])
    ) {
      throw new TypeError(
        `Parameter "${p.name}" of ${graph.name} must be ${dynamics.dtype}${formatShape(p.shape)}, got ${value.dtype}${
          formatShape(value.dims)
        }`,
      );
    }
    initializers.set(p.name, value);
  }
  return { ...graph, inputs: graph.inputs.filter((v) => !known.has(v.name)), initializers };
}
