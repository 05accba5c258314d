import { ornsteinUhlenbeck } from "../data/ornstein_uhlenbeck.ts";
import { gq } from "../gradients/method.ts";
import { mlpDynamics } from "../models/mlp.ts";
import { Runtime } from "../runtime/session.ts";
import { assert } from "../util/testing.ts";
import { type SdeTraining, trainNeuralSde } from "./neural_sde.ts";

/** A small OU problem and a width-8 neural SDE (time-dependent softplus MLPs, float64). */
async function setUp() {
  const data = await ornsteinUhlenbeck({ train: 16, test: 8, paths: 45, end: 2, every: 0.5, dt: 0.05, seed: 1 });
  const common = { stateDim: 1, hidden: [8, 8], time: "concat", dtype: "float64" } as const;
  const drift = mlpDynamics({ ...common, seed: 1 });
  const diffusion = mlpDynamics({ ...common, seed: 2, paramPrefix: "g" });
  return { data, drift: drift.dynamics, diffusion: diffusion.dynamics, params: { ...drift.init, ...diffusion.init } };
}

const ROUTES: [string, SdeTraining][] = [
  ["gq through Wong–Zakai noise", {
    kind: "wong-zakai",
    method: gq(),
    cosines: 5,
    solve: { solver: "dopri5", rtol: 1e-3, atol: 1e-3 },
  }],
  ["the SDE adjoint", { kind: "sde", method: "adjoint", dt: 0.05 }],
];

for (const [label, training] of ROUTES) {
  Deno.test(`trainNeuralSde() with ${label} lowers the test KL of the SDE solver's samples`, async () => {
    const runtime = new Runtime({ threads: 1 });
    try {
      const { data, drift, diffusion, params } = await setUp();
      const { history, params: trained } = await trainNeuralSde({
        runtime,
        drift,
        diffusion,
        params,
        data,
        epochs: 20,
        batchSize: 8,
        seed: 0,
        optimizer: { lr: 1e-2 },
        training,
        evaluationDt: 0.05,
      });
      const first = history[0]!.testKl!, last = history.at(-1)!.testKl!;
      assert(history.length === 20 && history.every((h) => Number.isFinite(h.trainLoss)), "20 finite epochs");
      assert(last < 0.7 * first, `test KL ${first} → ${last}`);
      assert(trained["l0.weight"]!.data[0] !== params["l0.weight"]!.data[0], "the drift trained");
      assert(trained["g0.weight"]!.data[0] !== params["g0.weight"]!.data[0], "the diffusion trained");
    } finally {
      await runtime.dispose();
    }
  });
}
