/**
 * The cost model behind the progress line's time estimate: the relative cost
 * of one epoch of a training cell, from the data kind's samples per epoch and
 * the dynamics kind's multiply-adds per sample. Only ratios between cells
 * matter; the estimate is refined by measured time as the run goes.
 *
 * @module
 */
import { dataKindOf } from "./data_kinds/registry.ts";
import { modelKindOf } from "./model_kinds/registry.ts";
import type { PipelineConfig } from "./schema.ts";

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
  const { dataDim } = training.sizes(config.data);
  const stateDim = dataDim + (model.encoder.kind === "augment" ? model.encoder.dims : 0);
  const macs = modelKindOf(model.dynamics.kind).macsPerSample(model.dynamics, stateDim);
  const samples = training.samplesPerEpoch(config.data);
  const batches = Math.ceil(samples / Math.min(config.train?.batchSize ?? samples, samples));
  return batches + (macs * samples) / CALL_OVERHEAD_MACS;
}
