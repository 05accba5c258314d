/**
 * The training cell: the model and train stages of one configuration —
 * dataset, neural ODE, Adam over minibatches with the configured gradient
 * method — with checkpoints on the configured schedule (`_checkpoint.ts`;
 * always when stopped or failed), so `--resume` continues an interrupted cell
 * from its last saved epoch. A finished cell leaves its trained model in its
 * folder instead of a checkpoint: `model.onnx` (and `encoder.onnx`,
 * `head.onnx`) and `weights.safetensors` (see `_model_files.ts`).
 *
 * @module
 */
import { emptyCellRecords } from "../../results/records.ts";
import type { TrainGradientSettings } from "../../train/neural_ode.ts";
import { type EpochResult, trainNeuralOde } from "../../train/trainer.ts";
import { epochCost } from "../cost.ts";
import { dataKindOf } from "../data_kinds/registry.ts";
import { makeDataset } from "../data_stage.ts";
import { learningRateFor } from "../schema.ts";
import { gradientMethod, solveSettings } from "../settings.ts";
import { buildTask, testMetricName } from "../task_stage.ts";
import { cellCheckpoint, removeCheckpoint, savedIfFails, withFinalCheckpoint } from "./_checkpoint.ts";
import { writeTrainedModel } from "./_model_files.ts";
import { epochRecords, runRecord } from "./_records.ts";
import type { CellContext, CellKind, CellOutcome } from "./cell_kind.ts";

async function runTrainingCell(ctx: CellContext): Promise<CellOutcome> {
  const startedMs = performance.now();
  const { cell, runtime, progress, signal } = ctx;
  const config = cell.config;
  const train = config.train!;
  const task = buildTask(config, makeDataset(config.data));
  const gradient: TrainGradientSettings = { ...solveSettings(config.solve), method: gradientMethod(config) };
  const lr = learningRateFor(train.optimizer.lr, task.width);
  const checkpoint = await cellCheckpoint<EpochResult>(ctx, epochCost, startedMs);
  const resume = checkpoint.resume;
  const method = config.gradient.method;
  const training = trainNeuralOde({
    runtime,
    model: task.model,
    params: task.params,
    train: task.train,
    test: task.test,
    epochs: train.epochs,
    ...(train.batchSize !== undefined ? { batchSize: Math.min(train.batchSize, task.train.size) } : {}),
    seed: train.seed,
    optimizer: { lr, betas: train.optimizer.betas, eps: train.optimizer.eps, weightDecay: train.optimizer.weightDecay },
    gradient,
    evaluateEvery: config.evaluate.every,
    metric: task.metric,
    ...(resume ? { resume } : {}),
    ...(signal ? { signal } : {}),
    onBatch: (b) =>
      progress.update({
        step: b.epoch,
        steps: train.epochs,
        stepName: "epoch",
        detail: `batch ${b.batch}/${b.batches}`,
        loss: b.loss,
        nfeForwardPerBatch: b.nfeForwardPerBatch,
        nfeBackwardPerBatch: b.nfeBackwardPerBatch,
        nodesPerBatch: b.nodesPerBatch,
        done: false,
      }),
    onEpoch: async (e, state) => {
      await checkpoint.epochEnded(state);
      progress.update({
        step: e.epoch,
        steps: train.epochs,
        stepName: "epoch",
        loss: e.trainLoss,
        metric: e.testMetric !== undefined ? { name: task.metricName, value: e.testMetric } : undefined,
        // The status line shows per-batch NFE throughout: the epoch's means.
        nfeForwardPerBatch: e.nfeForwardPerEpoch / e.batches,
        nfeBackwardPerBatch: e.nfeBackwardPerEpoch / e.batches,
        nodesPerBatch: e.nodesPerEpoch / e.batches,
        done: true,
      });
      ctx.onEvent?.({ cell: cell.id, kind: "epoch", epoch: e.epoch });
    },
  });
  const result = await withFinalCheckpoint(checkpoint, training);
  const records = emptyCellRecords();
  const label = {
    cellId: cell.id,
    method,
    width: task.width,
    batchSize: Math.min(train.batchSize ?? task.train.size, task.train.size),
    seed: train.seed,
  };
  records.epochs = epochRecords(label, result.history, checkpoint);
  if (!result.stopped) {
    const meta = { cellId: cell.id, pipeline: config.name };
    await savedIfFails(checkpoint, () => writeTrainedModel(ctx.dir, task.model, result.params, meta));
    const fields = {
      ...label,
      params: task.paramCount,
      lr,
      metric: task.metricName,
    };
    // Last, so that the cell's wall-clock holds the model's files.
    records.runs = [runRecord(fields, result.history, checkpoint)];
  }
  return { records, stopped: result.stopped, resumed: resume !== undefined };
}

/** The training cell kind: every configuration whose data train a model. */
export const trainingCell: CellKind = {
  kind: "training",
  takes: (config) => dataKindOf(config.data.kind).training !== undefined,
  units: (config) => config.train?.epochs ?? 1,
  unitCost: epochCost,
  metricLabel: testMetricName,
  run: runTrainingCell,
  finished: removeCheckpoint,
};
