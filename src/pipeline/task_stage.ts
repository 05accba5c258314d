/**
 * The model and task stages of a training pipeline: a validated cell
 * configuration and its dataset → the neural ODE (dynamics + readout), its
 * initial parameters, batch sources for training and testing, and the test
 * metric.
 *
 * Supported combinations are checked up front by {@linkcode taskIssues}, so a
 * pipeline that the engine cannot run fails validation (exit 2) instead of
 * halfway through a sweep. A `model.head: { kind: onnx }` file is read there
 * (models/imported_head.ts): its input must take the state (data inputs plus
 * augmentation) and its output give the data's outputs, else issues at
 * `model.head.file`; it trains from the file's weights (readout head `"graph"`).
 *
 * @module
 */
import type { Tensor } from "../onnx/tensor.ts";
import type { Batch, NeuralOde } from "../train/neural_ode.ts";
import { type ImportedHead, importHeadSync } from "../models/imported_head.ts";
import { buildReadout, type HeadKind, initReadout, type LossKind } from "../train/readout.ts";
import type { BatchSource } from "../train/trainer.ts";
import { Random } from "../util/random.ts";
import { dataIssues, dataKindOf, type Dataset, isClassificationData } from "./data_kinds/registry.ts";
import type { PipelineIssue } from "./errors.ts";
import { fileCache } from "./file_cache.ts";
import type { DynamicsBuildOptions } from "./model_kinds/model_kind.ts";
import { modelKindOf } from "./model_kinds/registry.ts";
import type { PipelineConfig } from "./schema.ts";

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
  const { dataDim, outDim } = training.sizes(config.data);
  const dynamics = modelKindOf(model.dynamics.kind);
  for (const issue of dynamics.checks(model.dynamics, buildOptions(config, dataDim))) {
    issues.push({ ...issue, path: `model.${issue.path}` });
  }
  if (model.head.kind === "mlp") {
    issues.push({ path: "model.head.kind", message: 'Head "mlp" is not supported yet: use "linear" or "none"' });
  }
  if (model.form === "second-order" && model.encoder.kind === "augment") {
    issues.push({
      path: "model.encoder.kind",
      message: 'Augmentation with form "second-order" is not supported: use encoder { kind: "identity" }',
    });
  }
  if (model.head.kind === "none") {
    const state = dataDim + (model.encoder.kind === "augment" ? model.encoder.dims : 0);
    if (state < outDim) {
      issues.push({ path: "model.head.kind", message: `Head "none" reads ${outDim} outputs from a state of ${state}` });
    }
  }
  if (model.head.kind === "onnx") {
    const state = dataDim + (model.encoder.kind === "augment" ? model.encoder.dims : 0);
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

type OnnxHeadConfig = Extract<NonNullable<PipelineConfig["model"]>["head"], { kind: "onnx" }>;

/** Imported heads, read once for the checks and the cells while their file is unchanged. */
const cachedHeads = fileCache(4);

/** The imported head of `model.head: { kind: onnx }`. @throws the import's error */
function importOnnxHead(head: OnnxHeadConfig, dtype: "float32" | "float64"): ImportedHead {
  return cachedHeads(
    "onnx head",
    [head.file, head.freeze, dtype],
    [head.file],
    () => importHeadSync(head.file, { freeze: head.freeze, dtype }),
  );
}

/**
 * The checks of `model.head: { kind: onnx }`: the file reads as a head of
 * rows, and it takes the model's state and gives the data's outputs.
 */
function onnxHeadIssues(
  head: OnnxHeadConfig,
  dtype: "float32" | "float64",
  stateDim: number,
  outDim: number,
  dataKind: string,
): PipelineIssue[] {
  let imported: ImportedHead;
  try {
    imported = importOnnxHead(head, dtype);
  } catch (e) {
    let missing = false;
    try {
      Deno.statSync(head.file);
    } catch {
      missing = true;
    }
    const message = missing
      ? `No such file ${head.file} (give a path relative to the pipeline file, or an absolute one)`
      : (e as Error).message.includes(head.file)
      ? (e as Error).message
      : `${head.file}: ${(e as Error).message}`;
    return [{ path: /Cannot freeze/.test(message) ? "model.head.freeze" : "model.head.file", message }];
  }
  const issues: PipelineIssue[] = [];
  if (imported.stateDim !== stateDim) {
    issues.push({
      path: "model.head.file",
      message: `${head.file} takes states of shape [rows, ${imported.stateDim}], but the model's state has ` +
        `${stateDim} components (the data's inputs plus model.encoder's augmentation)`,
    });
  }
  if (imported.outDim !== outDim) {
    issues.push({
      path: "model.head.file",
      message: `${head.file} gives predictions of shape [rows, ${imported.outDim}], but data "${dataKind}" needs ` +
        `${outDim} outputs`,
    });
  }
  return issues;
}

/** State size of the neural SDEs the SDE cell trains (cells/sde_training_cell.ts: one-dimensional processes). */
const SDE_STATE_DIM = 1;

/** The checks of a neural SDE's drift (`model.dynamics`) and diffusion (`model.diffusion`, default: like the drift). */
function sdeIssues(config: PipelineConfig): PipelineIssue[] {
  const model = config.model!;
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

/** What the dynamics kind is asked to build for a training configuration with `dataDim` inputs. */
function buildOptions(config: PipelineConfig, dataDim: number): DynamicsBuildOptions {
  const model = config.model!;
  const augment = model.encoder.kind === "augment" ? model.encoder.dims : 0;
  return { stateDim: dataDim + augment, form: model.form, dtype: model.dtype, seed: model.initSeed };
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
    if (best === label) correct++;
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
  const augment = modelConfig.encoder.kind === "augment" ? modelConfig.encoder.dims : 0;
  const { dataDim, outDim, train, test } = training.task(dataset.data, timeSpan(config));
  const options = buildOptions(config, dataDim);
  const stateDim = options.stateDim;
  const { dynamics, init } = kind.build(modelConfig.dynamics, options);
  const isClassification = isClassificationData(config.data);
  const loss: LossKind = config.train.loss ?? (isClassification ? "cross-entropy" : "mse");
  const headConfig = modelConfig.head;
  const head: HeadKind = headConfig.kind === "linear" ? "linear" : headConfig.kind === "onnx" ? "graph" : "slice";
  const rowHead = headConfig.kind === "onnx" ? importOnnxHead(headConfig, dtype) : undefined;
  const readout = buildReadout({ stateDim, outDim, head, loss, dtype, ...(rowHead ? { rowHead } : {}) });
  // An imported head starts from the file's weights; the others from the seed.
  const headParams = rowHead
    ? Object.fromEntries(Object.entries(rowHead.init).map(([n, t]) => [n, { ...t, data: t.data.slice() } as Tensor]))
    : initReadout(readout, new Random(modelConfig.initSeed).fork(), dtype);
  const params = { ...init, ...headParams };
  const paramCount = Object.values(params).reduce((s, t) => s + t.data.length, 0);
  const metricName = testMetricName(config);
  const metric = metricName === "accuracy"
    ? (pred: Float64Array, batch: Batch) => accuracy(pred, batch)
    : mseMetric(outDim);
  return {
    model: { dynamics, readout, dataDim, augment },
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
