/**
 * quadjoint: fast gradients for neural ODEs and SDEs, with ONNX dynamics.
 *
 * @module
 */
export * from "./src/onnx/dtype.ts";
export * from "./src/onnx/tensor.ts";
export * from "./src/onnx/graph.ts";
export * from "./src/onnx/errors.ts";
export { GraphBuilder, type OpOptions, type Value } from "./src/onnx/builder.ts";
export { decodeModel, encodeModel, readModel, writeModel } from "./src/onnx/proto.ts";
export * from "./src/runtime/session.ts";
export { type ModelStoreOptions, readModels, writeModels } from "./src/runtime/model_store.ts";
export { Random } from "./src/util/random.ts";
export * from "./src/solvers/tableau.ts";
export { rkStep, type RkStepResult, type VectorField } from "./src/solvers/rk.ts";
export * from "./src/solvers/solver.ts";
export * from "./src/solvers/integrate.ts";
export * from "./src/solvers/controller.ts";
export * from "./src/solvers/stepper.ts";
export * from "./src/solvers/step_graph.ts";
export * from "./src/solvers/onnx_stepper.ts";
export { inlineGraph, type InlineOptions } from "./src/onnx/inline.ts";
export { BoundGraph } from "./src/runtime/bound_graph.ts";
export * from "./src/solvers/norm.ts";
export * from "./src/solvers/solver_error.ts";
export * from "./src/gradients/gauss_legendre.ts";
export * from "./src/models/dynamics.ts";
export * from "./src/models/mlp.ts";
export * from "./src/models/second_order.ts";
export * from "./src/models/conv.ts";
export * from "./src/models/bake.ts";
export { lowerForRuntime, needsLowering } from "./src/onnx/lower.ts";
export * from "./src/train/adam.ts";
export * from "./src/data/analytic.ts";
export * from "./src/data/batches.ts";
export * from "./src/data/crossing.ts";
export * from "./src/data/nested_spheres.ts";
export * from "./src/data/sines.ts";
export * from "./src/autodiff/vjp.ts";
export * from "./src/gradients/fused_graphs.ts";
export * from "./src/autodiff/losses.ts";
export { VJP_RULES } from "./src/autodiff/registry.ts";
export * from "./src/autodiff/rule.ts";
export {
  adjoint,
  type AdjointMethod,
  type AdjointOptions,
  direct,
  type DirectMethod,
  gq,
  GQ_NODES,
  type GqMethod,
  type GqNodes,
  type GqOptions,
  type GradientMethod,
  METHOD_NAMES,
  methodByName,
  type MethodName,
  methodName,
  type MethodOptions,
  seminorm,
  STEP_CONTROLS,
  type StepControl,
} from "./src/gradients/method.ts";
export * from "./src/gradients/problem.ts";
export { odeGradient, odeSolve, type OdeSolveOptions } from "./src/gradients/ode_gradient.ts";
export * from "./src/models/linear.ts";
export * from "./src/train/readout.ts";
export * from "./src/train/neural_ode.ts";
export * from "./src/train/trainer.ts";
