import type { SdeEpochTimingRecord } from "../src/results/records.ts";
import { readResults } from "../src/results/file.ts";
import { assertClose, assertEquals, assertThrows } from "../src/util/testing.ts";
import { decodeWeights, encodeWeights } from "./_peer_weights.ts";
import { writeBenchResults } from "./_report.ts";
import {
  meanSd,
  ouDataTensors,
  replicateBatch,
  TORCHSDE_METHOD,
  welchZ,
  withTorchsdeRatios,
} from "./_torchsde_peer.ts";

const row = { initialValues: 80, paths: 45, batchSize: 40, nfeForwardPerEpoch: 804, nfeBackwardPerEpoch: 804 };

Deno.test("withTorchsdeRatios() divides each record by torchsde's at its own width, and leaves widths without one alone", () => {
  const records: SdeEpochTimingRecord[] = [
    { ...row, method: "gq", width: 20, epochSeconds: 1 },
    { ...row, method: "sde-adjoint", width: 20, epochSeconds: 3 },
    { ...row, method: TORCHSDE_METHOD, width: 20, epochSeconds: 2 },
    { ...row, method: "sde-adjoint", width: 100, epochSeconds: 5 },
  ];
  const out = withTorchsdeRatios(records);
  assertEquals(out.map((r) => r.ratioToTorchsde), [0.5, 1.5, 1, undefined]);
  assertEquals("ratioToTorchsde" in out[3]!, false);
  assertEquals(records[0]!.ratioToTorchsde, undefined); // the input is not changed
});

Deno.test("meanSd() uses the n − 1 standard deviation, 0 for one value, and refuses none", () => {
  assertEquals(meanSd([1, 2, 3, 6]), { mean: 3, sd: Math.sqrt(14 / 3) });
  assertEquals(meanSd([4]), { mean: 4, sd: 0 });
  assertThrows(() => meanSd([]), RangeError, /at least one value/);
});

Deno.test("welchZ() is the difference of the means over its standard error, signed, infinite for constant samples", () => {
  // Means 2 and 5, sample variances 1 and 16/3 over 3 and 4 values: se = √(1/3 + 4/3).
  assertClose(welchZ([1, 2, 3], [3, 7, 3, 7]), -3 / Math.sqrt(5 / 3), 1e-15);
  assertEquals(welchZ([2, 2], [2, 2]), 0);
  assertEquals(welchZ([3, 3], [2, 2]), Infinity);
});

Deno.test("replicateBatch() repeats each chosen initial value once per path and picks its moments at every time", () => {
  const split = {
    x0: Float64Array.of(10, 20, 30),
    mean: [Float64Array.of(10, 20, 30), Float64Array.of(11, 21, 31)],
    variance: [Float64Array.of(0, 0, 0), Float64Array.of(1, 2, 3)],
  };
  const { y0, target } = replicateBatch(split, Int32Array.of(2, 0), 2);
  assertEquals([...y0], [30, 30, 10, 10]);
  assertEquals(target.mean.map((m) => [...m]), [[30, 10], [31, 11]]);
  assertEquals(target.variance.map((v) => [...v]), [[0, 0], [3, 1]]);
});

Deno.test("ouDataTensors() stacks each split's moments as [times, initial values] for the weight file", () => {
  const split = (x: number) => ({
    x0: Float64Array.of(x, x + 1),
    mean: [Float64Array.of(x, x + 1), Float64Array.of(x + 2, x + 3)],
    variance: [Float64Array.of(0, 0), Float64Array.of(0.5, 0.25)],
    paths: [],
  });
  const back = decodeWeights(encodeWeights(ouDataTensors({ times: [0, 0.1], train: split(1), test: split(7) })));
  assertEquals(Object.keys(back).sort(), [
    "test.mean",
    "test.variance",
    "test.x0",
    "times",
    "train.mean",
    "train.variance",
    "train.x0",
  ]);
  assertEquals(back["train.mean"]!.dims, [2, 2]);
  assertEquals([...back["train.mean"]!.data], [1, 2, 3, 4]);
  assertEquals([...back["test.variance"]!.data], [0, 0, 0.5, 0.25]);
  assertEquals([...back.times!.data], [0, Math.fround(0.1)]);
});

Deno.test("an SDE results file with torchsde rows and ratios round-trips through readResults()", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const rows = withTorchsdeRatios([
      { ...row, method: "sde-adjoint", width: 20, epochSeconds: 1.078 },
      { ...row, method: TORCHSDE_METHOD, width: 20, epochSeconds: 0.614, nfeBackwardPerEpoch: 1736 },
    ]);
    const path = await writeBenchResults("sde", "t", { sdeEpochTimings: rows }, {
      dir,
      meta: { torchsde: "0.2.6", torchsdeWidth20FirstBatchLossWelchZ: -0.04 },
    });
    const back = await readResults(path);
    assertEquals(back.results.sdeEpochTimings, rows);
    assertEquals(back.meta?.torchsde, "0.2.6");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
