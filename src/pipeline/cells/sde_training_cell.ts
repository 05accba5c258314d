/**
 * The SDE training cell: a neural SDE (drift `model.dynamics`, diffusion
 * `model.diffusion`, one value per sample) trained on stochastic data by
 * `trainNeuralSde` — an ODE gradient method through the noise stage
 * (Wong–Zakai), or sde-direct / sde-adjoint through reversible Heun at
 * `solve.dt` — with the test KL of the SDE solver's samples as its metric.
 * No checkpoints yet: an interrupted cell starts over.
 *
 * @module
 */
import type { OrnsteinUhlenbeckData } from "../../data/ornstein_uhlenbeck.ts";
import type { TrainingEpochRecord, TrainingRunRecord } from "../../results/records.ts";
import { emptyCellRecords } from "../../results/records.ts";
import { type SdeTraining, trainNeuralSde } from "../../train/neural_sde.ts";
import { dataKindOf } from "../data_kinds/registry.ts";
import { makeDataset } from "../data_stage.ts";
import { modelKindOf } from "../model_kinds/registry.ts";
import { noiseKindOf } from "../noise_kinds/registry.ts";
import { learningRateFor, type PipelineConfig } from "../schema.ts";
import { gradientMethod, solveSettings } from "../settings.ts";
import type { CellContext, CellKind, CellOutcome } from "./cell_kind.ts";

/** Multiply-adds that cost about as much as one graph call's fixed overhead (as in cost.ts). */
const CALL_OVERHEAD_MACS = 300_000;

function stochastic(config: PipelineConfig): boolean {
  return dataKindOf(config.data.kind).stochastic === true;
}

/** The gradient route of a configuration. */
function route(config: PipelineConfig): SdeTraining {
  const name = config.gradient.method;
  if (name === "sde-direct" || name === "sde-adjoint") {
    return { kind: "sde", method: name === "sde-direct" ? "direct" : "adjoint", dt: config.solve.dt! };
  }
  const noise = config.noise!;
  const { backward: _backward, ...solve } = solveSettings(config.solve);
  return noiseKindOf(noise.kind).route(noise, gradientMethod(config), solve);
}

/** Relative cost of an epoch: batches' call overhead plus the drift's and diffusion's work per sample and time. */
function epochCost(config: PipelineConfig): number {
  const data = config.data as { train?: number; paths?: number; end?: number };
  const model = config.model;
  if (!model) return 1;
  const samples = (data.train ?? 1) * (data.paths ?? 1);
  const steps = (data.end ?? 1) / (config.solve.dt ?? 0.01);
  const kind = modelKindOf(model.dynamics.kind);
  const macs = 2 * kind.macsPerSample(model.dynamics, 1);
  const batches = Math.ceil((data.train ?? 1) / (config.train?.batchSize ?? data.train ?? 1));
  return batches * steps + (macs * samples * steps) / CALL_OVERHEAD_MACS;
}

async function runSdeCell(ctx: CellContext): Promise<CellOutcome> {
  const { cell, runtime, progress, signal } = ctx;
  const config = cell.config;
  const model = config.model!, train = config.train!;
  const data = await (makeDataset(config.data).data as Promise<OrnsteinUhlenbeckData>);
  const driftKind = modelKindOf(model.dynamics.kind);
  const diffusionSettings = model.diffusion ?? model.dynamics;
  const common = { stateDim: 1, form: model.form, dtype: model.dtype } as const;
  const drift = driftKind.build(model.dynamics, { ...common, seed: model.initSeed });
  const diffusion = modelKindOf(diffusionSettings.kind).build(diffusionSettings, {
    ...common,
    seed: model.initSeed + 1,
    paramPrefix: "g",
  });
  const width = driftKind.width(model.dynamics);
  const lr = learningRateFor(train.optimizer.lr, width);
  const params = { ...drift.init, ...diffusion.init };
  const method = config.gradient.method;
  const result = await trainNeuralSde({
    runtime,
    drift: drift.dynamics,
    diffusion: diffusion.dynamics,
    params,
    data,
    epochs: train.epochs,
    batchSize: train.batchSize ?? data.train.x0.length,
    seed: train.seed,
    optimizer: { lr, betas: train.optimizer.betas, eps: train.optimizer.eps, weightDecay: train.optimizer.weightDecay },
    training: route(config),
    evaluationDt: config.solve.dt!,
    evaluateEvery: config.evaluate.every,
    ...(signal ? { signal } : {}),
    onEpoch: (e) => {
      progress.update({
        step: e.epoch,
        steps: train.epochs,
        stepName: "epoch",
        loss: e.trainLoss,
        metric: e.testKl !== undefined ? { name: "kl", value: e.testKl } : undefined,
        done: true,
      });
      ctx.onEvent?.({ cell: cell.id, kind: "epoch", epoch: e.epoch });
    },
  });
  const h = result.history;
  const records = emptyCellRecords();
  records.epochs = h.map((e): TrainingEpochRecord => ({
    cellId: cell.id,
    method,
    width,
    seed: train.seed,
    epoch: e.epoch,
    elapsedSeconds: e.elapsedSeconds,
    testLoss: e.testKl ?? null,
    trainLoss: e.trainLoss,
    testMetric: e.testKl ?? null,
    epochSeconds: e.epochSeconds,
    nfeForwardPerEpoch: e.nfeForwardPerEpoch,
    nfeBackwardPerEpoch: e.nfeBackwardPerEpoch,
    nodesPerEpoch: e.nodesPerEpoch,
  }));
  if (!result.stopped) {
    const last = h.at(-1), lastTest = [...h].reverse().find((e) => e.testKl !== undefined);
    const batches = h.reduce((s, e) => s + e.batches, 0);
    const perBatch = (f: (e: typeof h[number]) => number) =>
      batches > 0 ? h.reduce((s, e) => s + f(e), 0) / batches : null;
    const run: TrainingRunRecord = {
      cellId: cell.id,
      method,
      width,
      seed: train.seed,
      params: Object.values(params).reduce((s, t) => s + t.data.length, 0),
      epochs: h.length,
      lr,
      trainSeconds: last?.elapsedSeconds ?? null,
      testMetric: lastTest?.testKl ?? null,
      testLoss: lastTest?.testKl ?? null,
      trainLoss: last?.trainLoss ?? null,
      metric: "kl",
      nfeForwardPerBatch: perBatch((e) => e.nfeForwardPerEpoch),
      nfeBackwardPerBatch: perBatch((e) => e.nfeBackwardPerEpoch),
      nodesPerBatch: perBatch((e) => e.nodesPerEpoch),
      epochSeconds: h.length > 0 ? h.reduce((s, e) => s + e.epochSeconds, 0) / h.length : null,
      heldBytes: null,
    };
    records.runs = [run];
  }
  return { records, stopped: result.stopped, resumed: false };
}

/** The SDE training cell kind: every configuration on stochastic data. */
export const sdeTrainingCell: CellKind = {
  kind: "sde-training",
  takes: stochastic,
  units: (config) => config.train?.epochs ?? 1,
  unitCost: epochCost,
  metricLabel: () => "kl",
  run: runSdeCell,
};
