/**
 * The SDE training cell: a neural SDE (drift `model.dynamics`, diffusion
 * `model.diffusion`, one value per sample) trained on stochastic data by
 * `trainNeuralSde` — an ODE gradient method through the noise stage
 * (Wong–Zakai), or sde-direct / sde-adjoint through reversible Heun at
 * `solve.dt` — with the test KL of the SDE solver's samples as its metric.
 * Like the training cell it writes checkpoints on the configured schedule
 * (`_checkpoint.ts`), so `--resume` continues an interrupted cell from its
 * last saved epoch with the numbers of an uninterrupted run. A finished
 * cell leaves its trained drift and diffusion (`_model_files.ts`).
 *
 * @module
 */
import type { OrnsteinUhlenbeckData } from "../../data/ornstein_uhlenbeck.ts";
import { emptyCellRecords } from "../../results/records.ts";
import { type SdeEpochResult, type SdeTraining, trainNeuralSde } from "../../train/neural_sde.ts";
import { sdeEpochCost } from "../cost.ts";
import { dataKindOf } from "../data_kinds/registry.ts";
import { makeDataset } from "../data_stage.ts";
import { modelKindOf } from "../model_kinds/registry.ts";
import { noiseKindOf } from "../noise_kinds/registry.ts";
import { learningRateFor, type PipelineConfig } from "../schema.ts";
import { gradientMethod, solveSettings } from "../settings.ts";
import { cellCheckpoint, removeCheckpoint, savedIfFails, withFinalCheckpoint } from "./_checkpoint.ts";
import { writeTrainedSde } from "./_model_files.ts";
import { Random } from "../../util/random.ts";
import { epochRecords, runRecord } from "./_records.ts";
import { sdeFigureRecords } from "./_sde_figures.ts";
import type { CellContext, CellKind, CellOutcome } from "./cell_kind.ts";

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

/** The first counter word of the diffusion's weight stream ("diff"). */
const DIFFUSION_STREAM = 0x64696666;

/** The first counter word of the figures' sample paths ("figs"; train.seed + 2 could be a data path's seed). */
const FIGURES_STREAM = 0x66696773;

async function runSdeCell(ctx: CellContext): Promise<CellOutcome> {
  const startedMs = performance.now();
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
    // A stream of its own: initSeed + 1 was the next replicate's drift seed (seeds: [0, 1]).
    seed: Random.streamSeed(model.initSeed, DIFFUSION_STREAM),
    paramPrefix: "g",
  });
  const width = driftKind.width(model.dynamics);
  const lr = learningRateFor(train.optimizer.lr, width);
  const params = { ...drift.init, ...diffusion.init };
  const method = config.gradient.method;
  const checkpoint = await cellCheckpoint<SdeEpochResult>(ctx, sdeEpochCost, startedMs);
  const resume = checkpoint.resume;
  const training = route(config);
  const run = trainNeuralSde({
    runtime,
    drift: drift.dynamics,
    diffusion: diffusion.dynamics,
    params,
    data,
    epochs: train.epochs,
    batchSize: train.batchSize ?? data.train.x0.length,
    seed: train.seed,
    optimizer: { lr, betas: train.optimizer.betas, eps: train.optimizer.eps, weightDecay: train.optimizer.weightDecay },
    training,
    evaluationDt: config.solve.dt!,
    evaluateEvery: config.evaluate.every,
    ...(resume ? { resume } : {}),
    ...(signal ? { signal } : {}),
    onEpoch: async (e, state) => {
      await checkpoint.epochEnded(state);
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
  const result = await withFinalCheckpoint(checkpoint, run);
  // The test metric is the test KL, which is also the test loss.
  const history = result.history.map((e) => ({
    ...e,
    ...(e.testKl !== undefined ? { testLoss: e.testKl, testMetric: e.testKl } : {}),
  }));
  const records = emptyCellRecords();
  const label = {
    cellId: cell.id,
    method,
    width,
    batchSize: train.batchSize ?? data.train.x0.length,
    seed: train.seed,
  };
  records.epochs = epochRecords(label, history, checkpoint);
  if (!result.stopped) {
    const paramCount = Object.values(params).reduce((s, t) => s + t.data.length, 0);
    const cosines = training.kind === "wong-zakai" ? { cosines: training.cosines } : {};
    const fields = {
      ...label,
      params: paramCount,
      lr,
      metric: "kl",
      ...cosines,
    };
    const charts = config.report?.charts ?? [];
    const sde = { drift: drift.dynamics, diffusion: diffusion.dynamics };
    const meta = { cellId: cell.id, pipeline: config.name };
    // The figures and the model files after the last epoch: if either fails, that epoch is saved first.
    await savedIfFails(checkpoint, async () => {
      if (charts.includes("sde-densities") || charts.includes("sde-paths")) {
        const figures = await sdeFigureRecords({
          label: { cellId: cell.id, method, width },
          runtime,
          model: { ...sde, params: result.params },
          data,
          dt: config.solve.dt!,
          seed: Random.streamSeed(train.seed, FIGURES_STREAM),
        });
        if (charts.includes("sde-densities")) records.sdeDensities = figures.densities;
        if (charts.includes("sde-paths")) records.sdePaths = figures.paths;
      }
      await writeTrainedSde(ctx.dir, sde, result.params, meta);
    });
    // Last, so that the cell's wall-clock holds the figures and the model's files.
    records.runs = [runRecord(fields, history, checkpoint)];
  }
  return { records, stopped: result.stopped, resumed: resume !== undefined };
}

/** The SDE training cell kind: every configuration on stochastic data. */
export const sdeTrainingCell: CellKind = {
  kind: "sde-training",
  takes: stochastic,
  units: (config) => config.train?.epochs ?? 1,
  unitCost: sdeEpochCost,
  metricLabel: () => "kl",
  run: runSdeCell,
  finished: removeCheckpoint,
};
