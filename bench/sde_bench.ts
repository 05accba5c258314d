/**
 * Neural-SDE training side by side: seconds per epoch of the paper's
 * Ornstein–Uhlenbeck experiment (drift and diffusion: time-dependent softplus
 * MLPs with 2 hidden layers, float32, batch 40 initial values × 45 paths,
 * t ∈ [0, 10] observed every 0.1) for gq through Karhunen–Loève noise
 * (10 cosines, dopri5 at rtol = atol = 1e-3), SDE direct and the SDE adjoint
 * (reversible Heun, dt = 0.01), at widths 20 and 100. Methods are
 * interleaved epoch by epoch so a slow spell hits each alike; read the
 * ratios. `--quick` trims the data to [0, 2] and 80 initial values.
 *
 * Not yet: torchsde's `sdeint_adjoint` on the same problem.
 * Results go to reports/bench/sde.json, a results file of `sdeEpochTimings`.
 *
 * @module
 */
import { ornsteinUhlenbeck } from "../src/data/ornstein_uhlenbeck.ts";
import { gq } from "../src/gradients/method.ts";
import { mlpDynamics } from "../src/models/mlp.ts";
import type { SdeEpochTimingRecord } from "../src/results/records.ts";
import { Runtime } from "../src/runtime/session.ts";
import { type SdeTraining, trainNeuralSde } from "../src/train/neural_sde.ts";
import { median, printTable, writeBenchResults } from "./_report.ts";

const METHODS: [string, SdeTraining][] = [
  ["gq", { kind: "wong-zakai", method: gq(), cosines: 10, solve: { solver: "dopri5", rtol: 1e-3, atol: 1e-3 } }],
  ["sde-direct", { kind: "sde", method: "direct", dt: 0.01 }],
  ["sde-adjoint", { kind: "sde", method: "adjoint", dt: 0.01 }],
];

/** Runs the SDE benchmark. */
export async function run(options: { quick?: boolean } = {}): Promise<void> {
  const quick = options.quick ?? false;
  const data = await ornsteinUhlenbeck(
    quick ? { train: 80, test: 4, paths: 45, end: 2, every: 0.1 } : { train: 200, test: 4, paths: 45 },
  );
  const runtime = new Runtime({ threads: 2 });
  const records: SdeEpochTimingRecord[] = [];
  const rounds = quick ? 1 : 3;
  for (const width of [20, 100]) {
    const common = { stateDim: 1, hidden: [width, width], time: "concat", dtype: "float32" } as const;
    const drift = mlpDynamics({ ...common, seed: 1 }),
      diffusion = mlpDynamics({ ...common, seed: 2, paramPrefix: "g" });
    const times: number[][] = METHODS.map(() => []);
    const nfe: [number, number][] = METHODS.map(() => [0, 0]);
    // One untimed round compiles every graph; then rounds of one epoch per method in turn.
    for (let round = 0; round <= rounds; round++) {
      for (const [i, [, training]] of METHODS.entries()) {
        const { history } = await trainNeuralSde({
          runtime,
          drift: drift.dynamics,
          diffusion: diffusion.dynamics,
          params: { ...drift.init, ...diffusion.init },
          data,
          epochs: 1,
          batchSize: 40,
          seed: round,
          optimizer: { lr: 1e-3 },
          training,
          evaluationDt: 0.01,
          evaluateEvery: 2, // past the one epoch but for the last: the test KL is part of the epoch
        });
        const e = history[0]!;
        if (round > 0) times[i]!.push(e.epochSeconds);
        nfe[i] = [e.nfeForwardPerEpoch, e.nfeBackwardPerEpoch];
      }
    }
    for (const [i, [method]] of METHODS.entries()) {
      records.push({
        method,
        width,
        initialValues: data.train.x0.length,
        paths: data.paths,
        batchSize: 40,
        epochSeconds: median(times[i]!),
        nfeForwardPerEpoch: nfe[i]![0],
        nfeBackwardPerEpoch: nfe[i]![1],
      });
    }
  }
  await runtime.dispose();
  printTable("Neural SDE on Ornstein–Uhlenbeck: seconds per epoch", records, [
    "method",
    "width",
    "initialValues",
    "paths",
    "epochSeconds",
    "nfeForwardPerEpoch",
    "nfeBackwardPerEpoch",
  ]);
  await writeBenchResults("sde", "Neural SDE training side by side", { sdeEpochTimings: records });
}
