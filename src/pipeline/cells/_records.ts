/**
 * The records of a training cell from its epochs, for the neural-ODE and the
 * neural-SDE training cells alike.
 *
 * @module
 */
import type { TrainingEpochRecord, TrainingRunRecord } from "../../results/records.ts";
import type { EpochTotals } from "../../train/trainer.ts";

/** What the records take from an epoch of either training loop. */
export interface EpochFigures extends EpochTotals {
  /** Test loss, when evaluated. */
  readonly testLoss?: number;
  /** Test metric, when evaluated. */
  readonly testMetric?: number;
  /** Largest memory one batch held; absent where the loop does not measure it. */
  readonly heldBytes?: number;
}

/** One record per epoch. */
export function epochRecords(
  cellId: string,
  method: string,
  width: number,
  seed: number,
  history: readonly EpochFigures[],
): TrainingEpochRecord[] {
  return history.map((h) => ({
    cellId,
    method,
    width,
    seed,
    epoch: h.epoch,
    elapsedSeconds: h.elapsedSeconds,
    testLoss: h.testLoss ?? null,
    trainLoss: h.trainLoss,
    testMetric: h.testMetric ?? null,
    epochSeconds: h.epochSeconds,
    nfeForwardPerEpoch: h.nfeForwardPerEpoch,
    nfeBackwardPerEpoch: h.nfeBackwardPerEpoch,
    nodesPerEpoch: h.nodesPerEpoch,
  }));
}

/** The run's record from its epochs: totals over the run, NFE as means per batch. */
export function runRecord(
  fields:
    & Pick<TrainingRunRecord, "cellId" | "method" | "width" | "seed" | "params" | "lr" | "metric">
    & { readonly cosines?: number },
  history: readonly EpochFigures[],
): TrainingRunRecord {
  const last = history.at(-1);
  const lastTest = [...history].reverse().find((r) => r.testMetric !== undefined);
  const batches = history.reduce((s, r) => s + r.batches, 0);
  const sum = (f: (r: EpochFigures) => number) => history.reduce((s, r) => s + f(r), 0);
  const perBatch = (f: (r: EpochFigures) => number) => batches > 0 ? sum(f) / batches : null;
  // Fields in the order of the CSV's columns.
  return {
    cellId: fields.cellId,
    method: fields.method,
    width: fields.width,
    seed: fields.seed,
    params: fields.params,
    epochs: history.length,
    lr: fields.lr,
    trainSeconds: last?.elapsedSeconds ?? null,
    testMetric: lastTest?.testMetric ?? null,
    testLoss: lastTest?.testLoss ?? null,
    trainLoss: last?.trainLoss ?? null,
    metric: fields.metric,
    nfeForwardPerBatch: perBatch((r) => r.nfeForwardPerEpoch),
    nfeBackwardPerBatch: perBatch((r) => r.nfeBackwardPerEpoch),
    nodesPerBatch: perBatch((r) => r.nodesPerEpoch),
    epochSeconds: history.length > 0 ? sum((r) => r.epochSeconds) / history.length : null,
    heldBytes: history.length > 0 && history.every((r) => r.heldBytes !== undefined)
      ? Math.max(...history.map((r) => r.heldBytes!))
      : null,
    cosines: fields.cosines ?? null,
  };
}
