/**
 * The cost model behind the progress line's time estimate: the relative cost
 * of one epoch of a training cell (neural ODE or SDE), from the data's samples
 * per epoch and the dynamics kind's multiply-adds per sample. Only ratios between cells
 * matter; the estimate is refined by measured time as the run goes.
 *
 * @module
 */
import { dataKindOf } from "./data_kinds/registry.ts";
import { modelKindOf } from "./model_kinds/registry.ts";
import type { PipelineConfig } from "./schema.ts";
import { modelStateSize } from "./_model_state.ts";

/** Multiply-adds that cost about as much as the fixed overhead of one graph call (a few tens of µs). */
const CALL_OVERHEAD_MACS = 300_000;

/**
 * Relative cost of one epoch: each minibatch pays a fixed call overhead, and
 * every sample the dynamics' multiply-adds. 1 when the configuration trains
 * no model.
 */
export function epochCost(config: PipelineConfig): number {
  const model = config.model;
  const training = dataKindOf(config.data.kind).training;
  if (!model || !training) return 1;
  const { stateDim, imageShape } = modelStateSize(config, training.sizes(config.data));
  const macs = modelKindOf(model.dynamics.kind).macsPerSample(model.dynamics, stateDim, imageShape);
  const samples = training.samplesPerEpoch(config.data);
  const batches = Math.ceil(samples / Math.min(config.train?.batchSize ?? samples, samples));
  return batches + (macs * samples) / CALL_OVERHEAD_MACS;
}

/**
 * Relative cost of one epoch of a neural SDE: every solver step of every
 * minibatch pays the call overhead, and every sample the drift's and the
 * diffusion's multiply-adds per step.
 */
export function sdeEpochCost(config: PipelineConfig): number {
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
