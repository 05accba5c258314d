import { assertEquals } from "../../util/testing.ts";
import { type CellTimes, type EpochFigures, epochRecords, runRecord } from "./_records.ts";

const label = { cellId: "c", method: "gq", width: 8, batchSize: 4, seed: 0 };
const fields = { ...label, params: 10, lr: 0.01, metric: "mse" };

/** Two epochs of 1.5 s each, 0.5 s of it evaluating. */
const history: EpochFigures[] = [1, 2].map((epoch) => ({
  epoch,
  trainLoss: 1 / epoch,
  epochSeconds: 1.5,
  evaluationSeconds: 0.5,
  elapsedSeconds: 1.5 * epoch,
  batches: 2,
  nfeForwardPerEpoch: 20,
  nfeBackwardPerEpoch: 30,
  nodesPerEpoch: 4,
  testMetric: 0.1 * epoch,
}));

Deno.test("epochRecords() and runRecord() keep epoch, evaluation, checkpoint and wall-clock times apart", () => {
  const times: CellTimes = { checkpointSeconds: (e) => (e === 2 ? 0.25 : 0), wallSeconds: () => 4 };
  assertEquals(
    epochRecords(label, history, times).map((r) => [r.epochSeconds, r.evaluationSeconds, r.checkpointSeconds]),
    [
      [1.5, 0.5, 0],
      [1.5, 0.5, 0.25],
    ],
  );
  const run = runRecord(fields, history, times);
  assertEquals(
    [run.trainSeconds, run.evaluationSeconds, run.checkpointSeconds, run.wallSeconds, run.epochSeconds],
    [2, 1, 0.25, 4, 1.5],
  );
});

Deno.test("runRecord() gives null checkpoint and wall-clock times where an earlier session left them unknown", () => {
  const run = runRecord(fields, history, { checkpointSeconds: (e) => (e === 1 ? null : 0.1), wallSeconds: () => null });
  assertEquals([run.checkpointSeconds, run.wallSeconds], [null, null]);
});
