/**
 * The records of a training cell from its epochs, for the neural-ODE and the
 * neural-SDE training cells alike. Times are kept apart: an epoch's
 * `epochSeconds` (its training and test evaluation, `evaluationSeconds` of
 * it), the checkpoint written after it (`checkpointSeconds`), and on the
 * run record the cell's whole wall-clock (`wallSeconds`), which also holds
 * building the data and model and writing the trained model.
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

/** What the cell timed besides its epochs. */
export interface CellTimes {
  /** Seconds of the checkpoint written after `epoch` (0: none); null when unknown (an earlier session did not say). */
  checkpointSeconds(epoch: number): number | null;
  /** Wall-clock seconds of the cell so far (summed over its sessions), or null when unknown. */
  wallSeconds(): number | null;
}

/** What identifies a run in each of its records. */
export type RunLabel = Pick<TrainingRunRecord, "cellId" | "method" | "width" | "batchSize" | "seed">;

/** One record per epoch. */
export function epochRecords(
  label: RunLabel,
  history: readonly EpochFigures[],
  times: Pick<CellTimes, "checkpointSeconds">,
): TrainingEpochRecord[] {
  const { cellId, method, width, batchSize, seed } = label;
  return history.map((h) => ({
    cellId,
    method,
    width,
    batchSize,
    seed,
    epoch: h.epoch,
    elapsedSeconds: h.elapsedSeconds,
    testLoss: h.testLoss ?? null,
    trainLoss: h.trainLoss,
    testMetric: h.testMetric ?? null,
    epochSeconds: h.epochSeconds,
    evaluationSeconds: h.evaluationSeconds ?? null,
    checkpointSeconds: times.checkpointSeconds(h.epoch),
    nfeForwardPerEpoch: h.nfeForwardPerEpoch,
    nfeBackwardPerEpoch: h.nfeBackwardPerEpoch,
    nodesPerEpoch: h.nodesPerEpoch,
  }));
}

/**
 * The run's record from its epochs: totals over the run, NFE as means per
 * batch; the training time leaves out the test evaluations and the
 * checkpoints, which have their own totals, and the cell's wall-clock is read
 * last (build the record once everything else is done).
 */
export function runRecord(
  fields:
    & RunLabel
    & Pick<TrainingRunRecord, "params" | "lr" | "metric">
    & { readonly cosines?: number },
  history: readonly EpochFigures[],
  times: CellTimes,
): TrainingRunRecord {
  const last = history.at(-1);
  const lastTest = [...history].reverse().find((r) => r.testMetric !== undefined);
  const batches = history.reduce((s, r) => s + r.batches, 0);
  const sum = (f: (r: EpochFigures) => number) => history.reduce((s, r) => s + f(r), 0);
  const perBatch = (f: (r: EpochFigures) => number) => batches > 0 ? sum(f) / batches : null;
  // Epochs from checkpoints of earlier versions lack their evaluation time: then the split is unknown.
  const timed = history.every((r) => r.evaluationSeconds !== undefined);
  const evaluationSeconds = timed ? sum((r) => r.evaluationSeconds!) : null;
  const elapsed = last?.elapsedSeconds ?? null;
  const saves = history.map((r) => times.checkpointSeconds(r.epoch));
  const checkpointSeconds = saves.every((x) => x !== null) ? saves.reduce((a, b) => a + b, 0) : null;
  // Fields in the order of the CSV's columns.
  return {
    cellId: fields.cellId,
    method: fields.method,
    width: fields.width,
    seed: fields.seed,
    batchSize: fields.batchSize,
    params: fields.params,
    epochs: history.length,
    lr: fields.lr,
    trainSeconds: elapsed !== null && evaluationSeconds !== null ? elapsed - evaluationSeconds : elapsed,
    evaluationSeconds,
    testMetric: lastTest?.testMetric ?? null,
    testLoss: lastTest?.testLoss ?? null,
    trainLoss: last?.trainLoss ?? null,
    metric: fields.metric,
    nfeForwardPerBatch: perBatch((r) => r.nfeForwardPerEpoch),
    nfeBackwardPerBatch: perBatch((r) => r.nfeBackwardPerEpoch),
    nodesPerBatch: perBatch((r) => r.nodesPerEpoch),
    epochSeconds: history.length > 0 ? sum((r) => r.epochSeconds) / history.length : null,
    checkpointSeconds,
    wallSeconds: times.wallSeconds(),
    heldBytes: history.length > 0 && history.every((r) => r.heldBytes !== undefined)
      ? Math.max(...history.map((r) => r.heldBytes!))
      : null,
    cosines: fields.cosines ?? null,
  };
}
