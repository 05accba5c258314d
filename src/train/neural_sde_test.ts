import { ornsteinUhlenbeck, type OrnsteinUhlenbeckOptions } from "../data/ornstein_uhlenbeck.ts";
import { gq } from "../gradients/method.ts";
import { mlpDynamics } from "../models/mlp.ts";
import { decodeSafetensors, encodeSafetensors } from "../models/safetensors.ts";
import { Runtime } from "../runtime/session.ts";
import { assert, assertEquals, assertRejects } from "../util/testing.ts";
import {
  evaluationSeed,
  type SdeEpochResult,
  type SdeTraining,
  type SdeTrainState,
  trainNeuralSde,
  type TrainNeuralSdeOptions,
} from "./neural_sde.ts";
import { trainStateFromParts, trainStateHeader, trainStateTensors } from "./trainer.ts";

/** A small OU problem and a neural SDE of width `width` (time-dependent softplus MLPs, float64). */
async function setUp(sizes: OrnsteinUhlenbeckOptions = { train: 16, test: 8, paths: 45, end: 2 }, width = 8) {
  const data = await ornsteinUhlenbeck({ every: 0.5, dt: 0.05, seed: 1, ...sizes });
  const common = { stateDim: 1, hidden: [width, width], time: "concat", dtype: "float64" } as const;
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

/** `state` through a checkpoint's two parts: its header as JSON text, its tensors as safetensors bytes. */
function throughCheckpoint(state: SdeTrainState): SdeTrainState {
  const { tensors } = decodeSafetensors(encodeSafetensors(trainStateTensors(state)));
  return trainStateFromParts<SdeEpochResult>(JSON.parse(JSON.stringify(trainStateHeader(state))), tensors);
}

/** An epoch record without its wall-clock fields, which differ between runs. */
function figures({ epochSeconds: _s, elapsedSeconds: _e, evaluationSeconds: _v, ...rest }: SdeEpochResult) {
  return rest;
}

/** The numbers of every parameter. */
function values(params: SdeTrainState["params"]): Record<string, number[]> {
  return Object.fromEntries(Object.entries(params).map(([k, t]) => [k, Array.from(t.data as Float64Array)]));
}

for (
  const [label, training] of [
    ["gq through Wong–Zakai noise", { ...ROUTES[0]![1], cosines: 3 } as SdeTraining],
    ["the SDE adjoint", ROUTES[1]![1]],
  ] as const
) {
  Deno.test(`trainNeuralSde() with ${label} stopped after an epoch and resumed from its checkpoint matches an uninterrupted run`, async () => {
    const runtime = new Runtime({ threads: 1 });
    try {
      const { data, drift, diffusion, params } = await setUp({ train: 8, test: 4, paths: 6, end: 1 }, 4);
      const options: TrainNeuralSdeOptions = {
        runtime,
        drift,
        diffusion,
        params,
        data,
        epochs: 3,
        batchSize: 4,
        seed: 3,
        optimizer: { lr: 1e-2 },
        training,
        evaluationDt: 0.05,
      };
      const full = await trainNeuralSde(options);
      assertEquals(full.history.map((h) => h.batches), [2, 2, 2]);

      const controller = new AbortController();
      let saved: SdeTrainState | undefined;
      const first = await trainNeuralSde({
        ...options,
        signal: controller.signal,
        onEpoch: (e, state) => {
          saved = state;
          if (e.epoch === 1) controller.abort();
        },
      });
      assert(first.stopped, "stopped");
      assertEquals(first.history.map(figures), full.history.slice(0, 1).map(figures));
      assertEquals(first.state.epoch, 1);
      assertEquals(saved?.epoch, 1);
      assertEquals(values(first.params), values(saved!.params), "the parameters of the last completed epoch");

      const state = throughCheckpoint(saved!);
      const resumed = await trainNeuralSde({ ...options, resume: state });
      assert(!resumed.stopped, "not stopped");
      assertEquals(resumed.history.map(figures), full.history.map(figures));
      assertEquals(values(resumed.params), values(full.params));
      assertEquals(resumed.state.adam.step, full.state.adam.step);
      assert(resumed.history[1]!.elapsedSeconds > saved!.history[0]!.elapsedSeconds, "the time goes on from epoch 1");
    } finally {
      await runtime.dispose();
    }
  });
}

Deno.test("trainNeuralSde() refuses a resume state past its epochs", async () => {
  const runtime = new Runtime({ threads: 1 });
  try {
    const { data, drift, diffusion, params } = await setUp({ train: 4, test: 2, paths: 3, end: 1 }, 2);
    const resume: SdeTrainState = { epoch: 3, params, adam: { step: 0, m: {}, v: {} }, history: [] };
    await assertRejects(
      () =>
        trainNeuralSde({
          runtime,
          drift,
          diffusion,
          params,
          data,
          epochs: 2,
          batchSize: 4,
          seed: 0,
          optimizer: {},
          training: ROUTES[1]![1],
          evaluationDt: 0.05,
          resume,
        }),
      RangeError,
      "trainNeuralSde: resume state is at epoch 3, past epochs 2",
    );
  } finally {
    await runtime.dispose();
  }
});

Deno.test("evaluationSeed() keeps the test KL's Brownian path off the data's own path seeds", () => {
  // The Ornstein–Uhlenbeck data draw their train and test paths with seeds 2·d + 1 and 2·d + 2; the earlier rule,
  // train seed + 1, gave the data's test seed for data.seed 0 and train.seed 1.
  const dataSeeds = new Set(Array.from({ length: 2002 }, (_, i) => i + 1));
  for (let seed = 0; seed <= 1000; seed++) {
    const s = evaluationSeed(seed);
    assert(!dataSeeds.has(s), `train seed ${seed}: evaluation seed ${s} is a data path's seed`);
    assertEquals(evaluationSeed(seed), s, "the same seed every epoch");
  }
  assert(new Set(Array.from({ length: 100 }, (_, s) => evaluationSeed(s))).size === 100, "distinct per run seed");
});
