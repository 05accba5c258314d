/**
 * The pipeline names of the SDE gradient methods, in a module without
 * imports so that the pipeline schema can list them without loading ONNX
 * Runtime.
 *
 * @module
 */

/** Pipeline names of the SDE gradient methods (reversible Heun), beside the ODE methods' names. */
export const SDE_METHOD_NAMES = ["sde-direct", "sde-adjoint"] as const;

/** One name of {@linkcode SDE_METHOD_NAMES}. */
export type SdeMethodName = typeof SDE_METHOD_NAMES[number];
