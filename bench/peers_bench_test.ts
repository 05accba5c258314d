import { assertClose, assertEquals } from "../src/util/testing.ts";
import { readResults } from "../src/results/file.ts";
import type { PeerGradientRecord, PeerTrainingRecord } from "../src/results/records.ts";
import { writeBenchResults } from "./_report.ts";
import { limitRecords, type MachineLimits, resultsMeta } from "./peers_bench.ts";

/** A direct gradient at width 1000, dim 4, batch 2, as one quick run measured it. */
const gradient: PeerGradientRecord = {
  regime: "dim 4, batch 2",
  dim: 4,
  batch: 2,
  t1: 1,
  width: 1000,
  params: 1011004,
  method: "direct",
  peer: "torchdiffeq odeint",
  repeats: 2,
  quadjointSeconds: 0.034072901,
  peerSeconds: 0.0467,
  ratio: 0.034072901 / 0.0467,
  quadjointNfeForwardPerGradient: 14,
  peerNfeForwardPerGradient: 14,
  quadjointNfeBackwardPerGradient: 13,
  peerNfeBackwardPerGradient: 0,
  vjpCallsPerGradient: 12,
  nodesPerGradient: 0,
  dthetaRelativeError: 1.5e-6,
  dz0RelativeError: 8.8e-7,
  lossRelativeDifference: 4.5e-7,
  quadjointTimesSeconds: [0.034, 0.0341],
  peerTimesSeconds: [0.0466, 0.0468],
};

/** A GQ row whose peer was skipped: every peer field null. */
const skipped: PeerGradientRecord = {
  ...gradient,
  method: "gq",
  peer: "authors' GQ (gtol 0.1)",
  peerSeconds: null,
  ratio: null,
  peerNfeForwardPerGradient: null,
  peerNfeBackwardPerGradient: null,
  dthetaRelativeError: null,
  dz0RelativeError: null,
  lossRelativeDifference: null,
  peerTimesSeconds: [],
  peerError: "skipped: the authors' GQ is not loaded",
};

const training: PeerTrainingRecord = {
  width: 1000,
  method: "adjoint",
  peer: "torchdiffeq odeint_adjoint",
  epochs: 2,
  quadjointEpochSeconds: 0.02,
  peerEpochSeconds: 0.08,
  ratio: 0.25,
  quadjointFirstEpochSeconds: 0.1,
  peerFirstEpochSeconds: 0.09,
  quadjointFirstLoss: 4.97,
  peerFirstLoss: 4.97,
  quadjointLastLoss: 3.1,
  peerLastLoss: 3.1,
  quadjointNfeForwardPerEpoch: 14,
  peerNfeForwardPerEpoch: 14,
  quadjointNfeBackwardPerEpoch: 20,
  peerNfeBackwardPerEpoch: 20,
};

const limits: MachineLimits = {
  matmul: { m: 200, k: 1000, n: 1000, milliseconds: 3.03, gflops: 131.9 },
  gemv: { m: 2, k: 1000, n: 1000, milliseconds: 0.19, gflops: 20.9, gbytesPerSecond: 20.9 },
  copy: { bytes: 134217728, milliseconds: 13.58, gbytesPerSecond: 19.767335611283475 },
  identity: { bytes: 134217728, milliseconds: 471.3, gbytesPerSecond: 0.57 },
};

Deno.test("limitRecords() sets a small-state gradient's work against the copy bandwidth, for quadjoint and the peer", () => {
  const [direct, gq] = limitRecords([gradient, skipped], limits);
  // direct (kept activations): 14 + (13 − 12) plain calls and 12 stage VJPs of 2 units = 39 units, each one read of
  // 1 011 004 float32 weights.
  assertEquals([direct!.workUnits, direct!.rateUnit, direct!.limitRate], [39, "GB/s", 19.767335611283475]);
  assertEquals(direct!.gradientSeconds, gradient.quadjointSeconds);
  assertClose(direct!.achievedRate, (4 * 39 * 1011004) / (0.034072901 * 1e9), 1e-12, "achievedRate");
  assertClose(direct!.fraction, direct!.achievedRate / 19.767335611283475, 1e-12, "fraction");
  assertClose(direct!.peerFraction!, direct!.fraction * 0.034072901 / 0.0467, 1e-12, "peerFraction");
  assertEquals(gq!.peerFraction, null);
});

Deno.test("a peers results file round-trips through readResults() with its three record lists and flat meta", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const versions = { python: "3.11.7", torch: "2.5.0", torchdiffeq: "0.2.5", gq: false };
    const meta = resultsMeta(versions, limits, true);
    assertEquals(
      [meta.rtol, meta.quick, meta.torch, meta.gq, meta.matmulGflops, meta.copyGbytesPerSecond, meta.identityBytes],
      [1e-3, true, "2.5.0", false, 131.9, 19.767335611283475, 134217728],
    );
    const results = {
      peerGradients: [gradient, skipped],
      peerTraining: [training],
      peerLimits: limitRecords([gradient, skipped], limits),
    };
    const path = await writeBenchResults("peers", "Peers", results, { dir, subtitle: "demo", meta });
    const file = await readResults(path);
    assertEquals(file.results, results);
    assertEquals([file.title, file.subtitle, file.meta?.benchmark, file.meta?.torchdiffeq], [
      "Peers",
      "demo",
      "peers",
      "0.2.5",
    ]);
    assertEquals(typeof file.meta?.cpus, "number", "the machine comes first, then the benchmark's own facts");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
