/**
 * The model and task stages of a training pipeline: a validated cell
 * configuration and its dataset → the neural ODE (dynamics + readout), its
 * initial parameters, batch sources for training and testing, and the test
 * metric.
 *
 * Supported combinations are checked up front by {@linkcode taskIssues}, so a
 * pipeline that the engine cannot run fails validation (exit 2) instead of
 * halfway through a sweep. A `model.head: { kind: onnx }` file is read there
 * (`_model_state.ts`): its input must take the state and its output give the
 * data's outputs, else issues at `model.head.file`; it trains from the file's
 * weights (readout head `"graph"`).
 *
 * @module
 */
import type { Tensor } from "../onnx/tensor.ts";
import type { Batch, NeuralOde } from "../train/neural_ode.ts";
import { channelStatistics, convEncoder } from "../models/conv_encoder.ts";
import { buildReadout, type HeadKind, initReadout, type LossKind } from "../train/readout.ts";
import type { BatchSource } from "../train/trainer.ts";
import { Random } from "../util/random.ts";
import { dataIssues, dataKindOf, type Dataset, isClassificationData } from "./data_kinds/registry.ts";
import type { PipelineIssue } from "./errors.ts";
import { importOnnxLayer, type ModelConfig, type ModelState, modelState, onnxHeadIssues } from "./_model_state.ts";
import type { DynamicsBuildOptions } from "./model_kinds/model_kind.ts";
import { modelKindOf } from "./model_kinds/registry.ts";
import type { PipelineConfig } from "./schema.ts";

/** The first counter word of the conv encoder's weight stream ("encd"). */
const ENCODER_STREAM = 0x656e6364;

/**
 * The conv encoder's initialisation seed: a keyed stream of `initSeed`, apart from the dynamics' (initSeed itself).
 * The earlier initSeed + 1 was the next replicate's dynamics seed (`seeds: [0, 1]`), so replicates shared draws.
 */
export function encoderSeed(initSeed: number): number {
  return Random.streamSeed(initSeed, ENCODER_STREAM);
}

/** Everything needed to train one cell. */
export interface Task {
  /** The model. */
  readonly model: NeuralOde;
  /** Initial parameters of dynamics and head. */
  readonly params: Record<string, Tensor>;
  /** Number of trainable scalars. */
  readonly paramCount: number;
  /** The model's width (for reports). */
  readonly width: number;
  /** Training data. */
  readonly train: BatchSource;
  /** Test data, one batch. */
  readonly test: Batch;
  /** The loss. */
  readonly loss: LossKind;
  /** Name of the test metric (see {@linkcode testMetricName}). */
  readonly metricName: "accuracy" | "mse";
  /** The test metric from test predictions. */
  readonly metric: (pred: Float64Array, batch: Batch, loss: number) => number;
}

/**
 * Problems the engine has with a configuration that the schema accepts:
 * combinations it cannot build. Empty when the cell can run.
 */
export function taskIssues(config: PipelineConfig): PipelineIssue[] {
  // The data's files first: the sizes below are read from them.
  const issues: PipelineIssue[] = dataIssues(config.data);
  if (issues.length > 0) return issues;
  const model = config.model;
  const data = dataKindOf(config.data.kind);
  const training = data.training;
  if (model !== undefined && data.stochastic === true) return sdeIssues(config);
  if (model === undefined || training === undefined) return issues;
  const sizes = training.sizes(config.data);
  const { outDim } = sizes;
  const state = modelState(config, sizes);
  if ("issues" in state) return state.issues;
  const dynamics = modelKindOf(model.dynamics.kind);
  for (const issue of dynamics.checks(model.dynamics, buildOptions(config, state))) {
    issues.push({ ...issue, path: `model.${issue.path}` });
  }
  if (model.form === "second-order" && model.encoder.kind !== "identity") {
    issues.push({
      path: "model.encoder.kind",
      message: `Encoder "${model.encoder.kind}" with form "second-order" is not supported: use encoder ` +
        '{ kind: "identity" }',
    });
  }
  if (model.head.kind === "none" && state.stateDim < outDim) {
    issues.push({
      path: "model.head.kind",
      message: `Head "none" reads ${outDim} outputs from a state of ${state.stateDim}`,
    });
  }
  if (model.head.kind === "onnx") {
    issues.push(...onnxHeadIssues(model.head, model.dtype, state, outDim, config.data.kind));
  }
  if ((model.head.kind === "linear" || model.head.kind === "mlp") && model.head.outputs !== undefined) {
    if (model.head.outputs !== outDim) {
      issues.push({
        path: "model.head.outputs",
        message: `Data "${config.data.kind}" needs ${outDim} outputs, got ${model.head.outputs}`,
      });
    }
  }
  return issues;
}

/** State size of the neural SDEs the SDE cell trains (cells/sde_training_cell.ts: one-dimensional processes). */
const SDE_STATE_DIM = 1;

/** The checks of a neural SDE's drift (`model.dynamics`) and diffusion (`model.diffusion`, default: like the drift). */
function sdeIssues(config: PipelineConfig): PipelineIssue[] {
  const model = config.model!;
  if (model.encoder.kind === "onnx" || model.head.kind === "onnx") {
    const slot = model.encoder.kind === "onnx" ? "encoder" : "head";
    return [{
      path: `model.${slot}.kind`,
      message: `A neural SDE takes no ${slot} from an ONNX file (stochastic data)`,
    }];
  }
  const options = { stateDim: SDE_STATE_DIM, form: model.form, dtype: model.dtype, seed: model.initSeed } as const;
  const drift = modelKindOf(model.dynamics.kind).checks(model.dynamics, options);
  const g = { ...options, paramPrefix: "g" };
  const diffusion = model.diffusion === undefined
    ? modelKindOf(model.dynamics.kind).checks(model.dynamics, g)
      .filter((i) => !drift.some((d) => d.path === i.path && d.message === i.message))
    : modelKindOf(model.diffusion.kind).checks(model.diffusion, g)
      .map((i) => ({ ...i, path: i.path.replace(/^dynamics\b/, "diffusion") }));
  return [...drift, ...diffusion].map((i) => ({ ...i, path: `model.${i.path}` }));
}

/**
 * The test metric of a training configuration: `accuracy` or `mse` when
 * `evaluate.metrics` names one, otherwise accuracy for classification data and
 * MSE for the rest.
 */
export function testMetricName(config: PipelineConfig): "accuracy" | "mse" {
  const metrics = config.evaluate.metrics;
  if (metrics.includes("accuracy")) return "accuracy";
  if (metrics.includes("mse")) return "mse";
  return isClassificationData(config.data) ? "accuracy" : "mse";
}

/** What the dynamics kind is asked to build for a training configuration with the given state. */
function buildOptions(config: PipelineConfig, state: ModelState): DynamicsBuildOptions {
  const model = config.model!;
  const image = state.imageShape ? { imageShape: state.imageShape } : {};
  return { stateDim: state.stateDim, ...image, form: model.form, dtype: model.dtype, seed: model.initSeed };
}

function timeSpan(config: PipelineConfig): [number, number] {
  return [config.solve.times?.start ?? 0, config.solve.times?.end ?? 1];
}

function accuracy(pred: Float64Array, batch: Batch): number {
  const classes = batch.targets.length / (batch.mask.length);
  const T = batch.times.length;
  const last = (T - 1) * batch.size;
  let correct = 0;
  for (let j = 0; j < batch.size; j++) {
    const row = (last + j) * classes;
    let best = 0, label = 0;
    for (let c = 1; c < classes; c++) if (pred[row + c]! > pred[row + best]!) best = c;
    for (let c = 1; c < classes; c++) if (batch.targets[row + c]! > batch.targets[row + label]!) label = c;
    // A row with a NaN logit is wrong, not class 0 by default (NaN compares false).
    let finite = true;
    for (let c = 0; c < classes; c++) finite &&= Number.isFinite(pred[row + c]!);
    if (finite && best === label) correct++;
  }
  return correct / batch.size;
}

/**
 * Builds the model, initial parameters and data of a training cell.
 *
 * @throws {RangeError} for analytic data (no model) or a combination
 *   {@linkcode taskIssues} refuses.
 *
 * @example Nested spheres with an augmented MLP and a linear head
 * ```ts
 * import { buildTask } from "./task_stage.ts";
 * import { makeDataset } from "./data_stage.ts";
 * import { PipelineSchema } from "./schema.ts";
 * const config = PipelineSchema.parse({
 *   name: "demo",
 *   data: { kind: "nested-spheres", trainPerClass: 10, testPerClass: 5 },
 *   model: { encoder: { kind: "augment", dims: 3 }, dynamics: { kind: "mlp", width: 8 }, head: { kind: "linear" } },
 *   solve: {}, gradient: { method: "gq" }, train: { epochs: 1 },
 * });
 * const task = buildTask(config, makeDataset(config.data));
 * if (task.train.size !== 20 || task.test.size !== 10 || task.metricName !== "accuracy") throw new Error();
 * ```
 */
export function buildTask(config: PipelineConfig, dataset: Dataset): Task {
  const modelConfig = config.model;
  const training = dataKindOf(dataset.kind).training;
  if (modelConfig === undefined || training === undefined || config.train === undefined) {
    throw new RangeError(`buildTask needs a model, a train stage and training data, got data.kind "${dataset.kind}"`);
  }
  const issues = taskIssues(config);
  if (issues.length > 0) throw new RangeError(issues.map((i) => `${i.path}: ${i.message}`).join("; "));
  const dtype = modelConfig.dtype;
  const kind = modelKindOf(modelConfig.dynamics.kind);
  const { dataDim, outDim, train, test } = training.task(dataset.data, timeSpan(config));
  const sizes = training.sizes(config.data);
  const state = modelState(config, sizes) as ModelState;
  const stateDim = state.stateDim;
  const { dynamics, init } = kind.build(modelConfig.dynamics, buildOptions(config, state));
  const isClassification = isClassificationData(config.data);
  const loss: LossKind = config.train.loss ?? (isClassification ? "cross-entropy" : "mse");
  const headConfig = modelConfig.head;
  const head: HeadKind = HEAD_KINDS[headConfig.kind];
  const rowHead = headConfig.kind === "onnx" ? importOnnxLayer("head", headConfig, dtype) : undefined;
  const mlp = headConfig.kind === "mlp" ? { hidden: headConfig.hidden, activation: headConfig.activation } : undefined;
  const readout = buildReadout({
    stateDim,
    outDim,
    head,
    loss,
    dtype,
    ...(rowHead ? { rowHead } : {}),
    ...(mlp ? { mlp } : {}),
  });
  // Imported layers start from the file's weights; the others from the seed.
  const headParams = rowHead
    ? copyWeights(rowHead.init)
    : initReadout(readout, new Random(modelConfig.initSeed).fork(), dtype);
  const encoder = state.encoder ?? (modelConfig.encoder.kind === "conv"
    ? convEncoder({
      imageShape: sizes.imageShape!,
      channels: modelConfig.encoder.channels,
      statistics: channelStatistics(sampleRows(train), sizes.imageShape!),
      dtype,
      seed: encoderSeed(modelConfig.initSeed),
    })
    : undefined);
  const params = { ...init, ...headParams, ...(encoder ? copyWeights(encoder.init) : {}) };
  const paramCount = Object.values(params).reduce((s, t) => s + t.data.length, 0);
  const metricName = testMetricName(config);
  const metric = metricName === "accuracy"
    ? (pred: Float64Array, batch: Batch) => accuracy(pred, batch)
    : mseMetric(outDim);
  const augment = modelConfig.encoder.kind === "augment" ? modelConfig.encoder.dims : 0;
  return {
    model: { dynamics, readout, dataDim, augment, ...(encoder ? { encoder } : {}) },
    params,
    paramCount,
    width: kind.width(modelConfig.dynamics),
    train,
    test,
    loss,
    metricName,
    metric,
  };
}

/** The readout head of each `model.head.kind`. */
const HEAD_KINDS: Record<ModelConfig["head"]["kind"], HeadKind> = {
  none: "slice",
  linear: "linear",
  mlp: "mlp",
  onnx: "graph",
};

/** Every input row of a batch source, a thousand samples at a time. */
function* sampleRows(source: BatchSource): Generator<Float64Array> {
  for (let start = 0; start < source.size; start += 1000) {
    const batch = source.batch(Int32Array.from({ length: Math.min(1000, source.size - start) }, (_, i) => start + i));
    const dim = batch.x.length / batch.size;
    for (let i = 0; i < batch.size; i++) yield batch.x.subarray(i * dim, (i + 1) * dim);
  }
}

/** Fresh copies of imported weights, so training never writes into the cached import. */
function copyWeights(weights: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(weights).map(([n, t]) => [n, { ...t, data: t.data.slice() } as Tensor]));
}

/** Mean squared error over observed entries, whatever the training loss. */
function mseMetric(outDim: number) {
  return (pred: Float64Array, batch: Batch): number => {
    let sum = 0, n = 0;
    for (let r = 0; r < batch.mask.length; r++) {
      if (batch.mask[r] === 0) continue;
      for (let c = 0; c < outDim; c++) {
        const e = pred[r * outDim + c]! - batch.targets[r * outDim + c]!;
        sum += e * e;
        n++;
      }
    }
    return n === 0 ? NaN : sum / n;
  };
}
