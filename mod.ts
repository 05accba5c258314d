/**
 * quadjoint: fast gradients for neural ODEs and SDEs, with ONNX dynamics.
 *
 * What a user composes, by layer: ONNX graphs and tensors; the runtime that
 * runs them; dynamics builders; solvers (tableaux, steppers, step-size
 * controllers, the stepping loop); the gradient methods (`direct`,
 * `adjoint`, `seminorm`, `gq`) and `odeGradient`; SDE solvers on seeded Brownian paths
 * and Wong–Zakai noise; training; datasets;
 * pipelines; results files and reports. Internals — VJP rule helpers, the
 * fused graphs the methods run, float64 lowering, graph inlining — stay in
 * `src/` (tests/public_api_test.ts lists them and keeps this list honest).
 *
 * @example The gradient of L = z(T)² for dz/dt = a·z, by Gauss–Legendre quadrature
 * ```ts
 * import { asDynamics, fromNumbers, gq, GraphBuilder, odeGradient } from "./mod.ts";
 * const b = new GraphBuilder("exp");
 * b.input("t", "float64", []);
 * const z = b.input("z", "float64", ["batch", 1]);
 * const a = b.input("a", "float64", [1]);
 * b.output(b.op1("Mul", [z, a]), "dz");
 * const r = await odeGradient({
 *   dynamics: asDynamics(b.build()),
 *   params: { a: fromNumbers([0.2], [1], "float64") },
 *   z0: fromNumbers([10], [1, 1], "float64"),
 *   times: [0, 2],
 *   loss: ([, zT]) => ({ value: zT![0]! ** 2, cotangents: [null, Float64Array.of(2 * zT![0]!)] }),
 * }, { method: gq(), rtol: 1e-8, atol: 1e-8 });
 * // L = z0² e^{2aT}, so dL/da = 2T·L.
 * const exact = 2 * 2 * 100 * Math.exp(0.8);
 * if (Math.abs(r.dparams.a![0]! - exact) > 1e-5 * exact) throw new Error(`dL/da ${r.dparams.a![0]}`);
 * ```
 *
 * @example A pipeline file run, and its results file read back
 * ```ts
 * import { readResults, runPipelineFile } from "./mod.ts";
 * const out = await Deno.makeTempDir();
 * const file = `${out}/tiny.json`;
 * await Deno.writeTextFile(file, JSON.stringify({
 *   name: "tiny",
 *   data: { kind: "analytic", T: { min: 1, max: 2, count: 2 } },
 *   solve: { rtol: 1e-8, atol: 1e-8 },
 *   gradient: { method: "gq" },
 *   evaluate: { metrics: ["gradient-error"] },
 * }));
 * const { dir } = await runPipelineFile(file, { out, threads: 1, report: false, progress: { write: () => {} } });
 * const results = await readResults(`${dir}/results.json`);
 * if (results.results.gradientErrors?.length !== 8) throw new Error("two end times × four quantities");
 * await Deno.remove(out, { recursive: true });
 * ```
 *
 * @module
 */

// ONNX graphs and tensors
export { type DType, isFloat, type TensorArray, type TypedArrayOf } from "./src/onnx/dtype.ts";
export * from "./src/onnx/tensor.ts";
export {
  attr,
  type Attribute,
  type Attributes,
  DEFAULT_OPSET,
  type Dim,
  floatAttr,
  type Graph,
  intAttr,
  intsAttr,
  type Node,
  type OpsetImport,
  renameValues,
  type Shape,
  stringAttr,
  type TensorType,
  typeOf,
  type ValueInfo,
} from "./src/onnx/graph.ts";
export * from "./src/onnx/errors.ts";
export { GraphBuilder, type OpOptions, type Value } from "./src/onnx/builder.ts";
export { decodeModel, encodeModel, readModel, readModelSync, writeModel } from "./src/onnx/proto.ts";

// Running graphs
export * from "./src/runtime/session.ts";
export { type ModelStoreOptions, readModels, writeModels } from "./src/runtime/model_store.ts";
export { Random } from "./src/util/random.ts";

// Differentiating graphs
export { vjpGraph, type VjpOptions } from "./src/autodiff/vjp.ts";
export * from "./src/autodiff/losses.ts";

// Dynamics
export * from "./src/models/dynamics.ts";
export * from "./src/models/mlp.ts";
export * from "./src/models/second_order.ts";
export * from "./src/models/activations.ts";
export * from "./src/models/conv.ts";
export * from "./src/models/conv_encoder.ts";
export * from "./src/models/linear.ts";
export * from "./src/models/bake.ts";
export * from "./src/models/lift.ts";
export * from "./src/models/imported.ts";
export * from "./src/models/imported_layer.ts";
export * from "./src/models/safetensors.ts";

// Solvers
export * from "./src/solvers/tableau.ts";
export * from "./src/solvers/solver.ts";
export {
  integrate,
  type IntegrateOptions,
  type IntegrateResult,
  type IntegrateStats,
  type Observe,
  odeint,
  type OdeintOptions,
  type OdeintResult,
  solve,
  type SolveOptions,
  type SolveResult,
  type SolveStepInfo,
  type StepInfo,
  type VectorField,
} from "./src/solvers/integrate.ts";
export * from "./src/solvers/controller.ts";
export * from "./src/solvers/stepper.ts";
export { type StepBlock, type StepSystem } from "./src/solvers/step_graph.ts";
export * from "./src/solvers/onnx_stepper.ts";
export * from "./src/solvers/norm.ts";
export * from "./src/solvers/solver_error.ts";

// Gradients
export * from "./src/gradients/gauss_legendre.ts";
export {
  adjoint,
  type AdjointMethod,
  type AdjointOptions,
  direct,
  DIRECT_ACTIVATIONS,
  type DirectActivations,
  type DirectMethod,
  type DirectOptions,
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
export * from "./src/gradients/graph_loss.ts";

// Neural SDEs: Brownian paths, SDE solvers, Wong–Zakai noise
export { BrownianPath, type BrownianPathOptions } from "./src/sde/brownian.ts";
export * from "./src/sde/terms.ts";
export * from "./src/sde/solvers.ts";
export * from "./src/sde/sdeint.ts";
export * from "./src/sde/karhunen_loeve.ts";
export * from "./src/sde/sde_gradient.ts";
export * from "./src/sde/gaussian_kl.ts";
export * from "./src/sde/sample_paths.ts";
export * from "./src/sde/method_names.ts";

// Training
export * from "./src/train/adam.ts";
export * from "./src/train/readout.ts";
export * from "./src/train/neural_ode.ts";
export * from "./src/train/trainer.ts";
export * from "./src/train/neural_sde.ts";

// Datasets
export * from "./src/data/analytic.ts";
export * from "./src/data/batches.ts";
export * from "./src/data/crossing.ts";
export * from "./src/data/nested_spheres.ts";
export * from "./src/data/sines.ts";
export * from "./src/data/ornstein_uhlenbeck.ts";
// Users' data files: CSV, NumPy .npy/.npz, IDX; series batches with masks; splits and z-scores.
export * from "./src/data/file_error.ts";
export * from "./src/data/csv.ts";
export * from "./src/data/npy.ts";
export * from "./src/data/idx.ts";
export * from "./src/data/series.ts";
export * from "./src/data/split.ts";
export * from "./src/data/zscore.ts";

// Results and reports
export * from "./src/results/records.ts";
export { parseResults, readResults, writePipelineResults, writeResults } from "./src/results/file.ts";
export { experimentReport, type ExperimentReportOptions } from "./src/report/experiment.ts";
export { renderReport, type ReportContent, type ReportSection, writeReport } from "./src/report/html.ts";
export type { CellFormat, CellValue, ReportTable, TableColumn } from "./src/report/summary.ts";
export * from "./src/report/specs.ts";
export * from "./src/report/sde_specs.ts";
export {
  renderPng,
  type RenderPngOptions,
  renderSvg,
  type RenderSvgOptions,
  writeReportCharts,
} from "./src/report/static.ts";

// Pipelines (their settings are validated from files: see pipelines/schema.json)
export { OutputError, type PipelineRun, runPipelineFile, type RunPipelineOptions } from "./src/pipeline/engine.ts";
export type { CellEvent } from "./src/pipeline/cells/cell_kind.ts";
export type { ProgressOptions } from "./src/pipeline/progress.ts";
export { PipelineError, type PipelineIssue } from "./src/pipeline/errors.ts";
