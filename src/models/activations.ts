/**
 * The activation functions the model builders know, by name, and the one
 * place that maps a name to its ONNX op: dynamics builders, readout heads
 * and the trained-model files all apply activations through
 * {@linkcode activate}.
 *
 * @module
 */
import type { GraphBuilder, Value } from "../onnx/builder.ts";

/** Activation functions the builders know, by name. */
export const ACTIVATIONS = ["softplus", "tanh", "relu", "sigmoid", "elu"] as const;

/** One of {@linkcode ACTIVATIONS}. */
export type Activation = typeof ACTIVATIONS[number];

const ACTIVATION_OPS: Readonly<Record<Activation, string>> = {
  softplus: "Softplus",
  tanh: "Tanh",
  relu: "Relu",
  sigmoid: "Sigmoid",
  elu: "Elu",
};

/**
 * Applies an activation by name.
 *
 * @example
 * ```ts
 * import { GraphBuilder } from "../onnx/builder.ts";
 * import { activate } from "./activations.ts";
 * const b = new GraphBuilder("act");
 * const y = activate(b, b.input("x", "float32", [2, 3]), "softplus");
 * b.output(y, "y");
 * ```
 */
export function activate(b: GraphBuilder, x: Value, activation: Activation): Value {
  return b.op1(ACTIVATION_OPS[activation], [x]);
}
