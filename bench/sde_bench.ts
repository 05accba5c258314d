/**
 * Neural-SDE training side by side: seconds per epoch of the paper's
 * Ornstein–Uhlenbeck experiment (drift and diffusion: time-dependent softplus
 * MLPs with 2 hidden layers, float32, batch 40 initial values × 45 paths,
 * t ∈ [0, 10] observed every 0.1) for gq through Karhunen–Loève noise
 * (10 cosines, dopri5 at rtol = atol = 1e-3), SDE direct and the SDE adjoint
 * (reversible Heun, dt = 0.01), at widths 20 and 100, and the same epoch
 * by torchsde 0.2.6's `sdeint_adjoint` (method "reversible_heun",
 * adjoint_method "adjoint_reversible_heun", dt = 0.01, Stratonovich,
 * diagonal noise, float32, a fresh `BrownianInterval` per batch) in
 * bench/peers/torchsde_ou.py: the same MLPs from quadjoint's initial weights,
 * the same initial values, target moments and batches, the same KL loss,
 * Adam at the same lr, 2 torch threads against 2 ORT threads. Every epoch
 * starts from the initial weights and, on both sides, ends with one test-KL
 * evaluation (reversible Heun on a fixed Brownian path, 4 test initial
 * values × 45 paths), so the seconds compare like for like.
 *
 * Methods are interleaved epoch by epoch (after one untimed round) so a slow
 * spell hits each alike; each record holds the median of 3 epochs (1 with
 * `--quick`) and its `ratioToTorchsde`; read the ratios. Before timing, each
 * width checks that the two libraries solve the same problem: drift and
 * diffusion outputs at a few (t, z) (max |difference| into the meta; float32
 * round-off, about 1e-7) and the first batch's loss at the initial weights
 * over several Brownian seeds per library (means, SDs and Welch's z into the
 * meta: the paths differ, so only the distributions can agree).
 *
 * The torchsde peer runs when bench/.venv's Python (or `python3`) imports
 * torch and torchsde (`deno task bench peers` creates bench/.venv with them);
 * otherwise the benchmark says why in one line and times quadjoint alone.
 * `--quick` trims the data to [0, 2] and 80 initial values.
 * Results go to reports/bench/sde.json, a results file of `sdeEpochTimings`.
 *
 * @module
 */
import { minibatches } from "../src/data/batches.ts";
import { ornsteinUhlenbeck, type OrnsteinUhlenbeckData } from "../src/data/ornstein_uhlenbeck.ts";
import { gq } from "../src/gradients/method.ts";
import type { Dynamics, Params } from "../src/models/dynamics.ts";
import { mlpDynamics } from "../src/models/mlp.ts";
import type { SdeEpochTimingRecord } from "../src/results/records.ts";
import { Runtime } from "../src/runtime/session.ts";
import { BrownianPath } from "../src/sde/brownian.ts";
import { sampleGaussianKl } from "../src/sde/gaussian_kl.ts";
import { sdeint } from "../src/sde/sdeint.ts";
import { onnxSdeTerms } from "../src/sde/terms.ts";
import { type SdeTraining, trainNeuralSde } from "../src/train/neural_sde.ts";
import { median, printTable, writeBenchResults } from "./_report.ts";
import { meanSd, replicateBatch, TORCHSDE_METHOD, TorchsdePeer, welchZ, withTorchsdeRatios } from "./_torchsde_peer.ts";

/** ORT intra-op threads, and torch's. */
const THREADS = 2;
/** Reversible Heun's step, in training and in the test KL, both libraries. */
const DT = 0.01;
/** Initial values per batch (each with all its paths). */
const BATCH = 40;
/** Adam's learning rate (betas 0.9, 0.999, eps 1e-8 on both sides). */
const LR = 1e-3;
/** Largest drift or diffusion output difference the agreement check accepts. */
const OUTPUT_TOLERANCE = 1e-5;

const METHODS: [string, SdeTraining][] = [
  ["gq", { kind: "wong-zakai", method: gq(), cosines: 10, solve: { solver: "dopri5", rtol: 1e-3, atol: 1e-3 } }],
  ["sde-direct", { kind: "sde", method: "direct", dt: 0.01 }],
  ["sde-adjoint", { kind: "sde", method: "adjoint", dt: 0.01 }],
];

/** What the agreement check found at one width. */
interface Agreement {
  /** Largest |quadjoint − torchsde| over the drift and diffusion outputs compared. */
  readonly outputMaxAbsDifference: number;
  /** The first batch's loss at the initial weights, one per Brownian seed. */
  readonly quadjointLosses: number[];
  readonly torchsdeLosses: number[];
}

/**
 * Checks that quadjoint and the peer solve the same problem at the initial
 * weights: f and g at a few (t, z), and the first batch's loss over `seeds`
 * Brownian paths in each library (forward solves only).
 */
async function agreement(
  runtime: Runtime,
  model: { drift: Dynamics; diffusion: Dynamics; params: Params },
  peer: TorchsdePeer,
  data: OrnsteinUhlenbeckData,
  seeds: readonly number[],
): Promise<Agreement> {
  const terms = await onnxSdeTerms({ runtime, ...model });
  const end = data.times.at(-1)!, t0 = data.times[0]!;
  const ts = [t0, 0.37, end / 2, end];
  const z = Float64Array.from({ length: 9 }, (_, i) => -3 + 0.75 * i);
  const theirs = await peer.outputs(ts, [...z]);
  let worst = 0;
  for (const [k, t] of ts.entries()) {
    const f = (await terms.drift(t, z)).slice(), g = (await terms.diffusion(t, z)).slice();
    z.forEach((_, i) => {
      worst = Math.max(worst, Math.abs(f[i]! - theirs.f[k]![i]!), Math.abs(g[i]! - theirs.g[k]![i]!));
    });
  }
  // The batch quadjoint's first epoch of round 0 starts with.
  const indices = minibatches(data.train.x0.length, BATCH, 0, { epoch: 0 })[0]!;
  const { y0, target } = replicateBatch(data.train, indices, data.paths);
  const quadjointLosses: number[] = [];
  for (const seed of seeds) {
    const brownian = new BrownianPath({ t0, t1: end, steps: Math.round((end - t0) / DT), size: y0.length, seed });
    const { states } = await sdeint(terms, y0, data.times, { solver: "reversible-heun", dt: DT, brownian });
    quadjointLosses.push(sampleGaussianKl(states, target, data.paths).value!);
  }
  const torchsdeLosses = await peer.losses(indices, seeds, DT);
  return { outputMaxAbsDifference: worst, quadjointLosses, torchsdeLosses };
}

/** Meta entries of one width's agreement check: `torchsdeWidth20OutputMaxAbsDifference`, …. */
function agreementMeta(width: number, a: Agreement): Record<string, number> {
  const q = meanSd(a.quadjointLosses), t = meanSd(a.torchsdeLosses);
  const key = (k: string) => `torchsdeWidth${width}${k}`;
  return {
    [key("OutputMaxAbsDifference")]: a.outputMaxAbsDifference,
    [key("FirstBatchLossQuadjointMean")]: q.mean,
    [key("FirstBatchLossQuadjointSd")]: q.sd,
    [key("FirstBatchLossTorchsdeMean")]: t.mean,
    [key("FirstBatchLossTorchsdeSd")]: t.sd,
    [key("FirstBatchLossWelchZ")]: welchZ(a.quadjointLosses, a.torchsdeLosses),
  };
}

/** Runs the SDE benchmark. */
export async function run(options: { quick?: boolean } = {}): Promise<void> {
  const quick = options.quick ?? false;
  const data = await ornsteinUhlenbeck(
    quick ? { train: 80, test: 4, paths: 45, end: 2, every: 0.1 } : { train: 200, test: 4, paths: 45 },
  );
  const runtime = new Runtime({ threads: THREADS });
  const records: SdeEpochTimingRecord[] = [];
  const rounds = quick ? 1 : 3;
  const checkSeeds = Array.from({ length: quick ? 4 : 6 }, (_, i) => 10_000 + i);
  const meta: Record<string, string | number | boolean | null> = {
    quick,
    threads: THREADS,
    dt: DT,
    batchSize: BATCH,
    lr: LR,
    dtype: "float32",
    epochIncludes: "the training batches and one test-KL evaluation (both libraries)",
  };

  const started = await TorchsdePeer.start(THREADS);
  let peer = typeof started === "string" ? undefined : started;
  if (typeof started === "string") {
    console.log(`sde: torchsde peer skipped: ${started}`);
    meta.torchsde = null;
    meta.torchsdeSkipped = started;
  } else {
    const v = started.versions;
    console.log(
      `sde: torchsde ${v.torchsde}, torch ${v.torch}, ${v.torchThreads} torch threads, ${THREADS} ORT threads, ` +
        `subnormals flushed ${v.torchFlushesDenormals === "true" ? "on both sides" : "by quadjoint only"}`,
    );
    Object.assign(meta, {
      python: v.python,
      torch: v.torch,
      torchsde: v.torchsde,
      torchThreads: Number(v.torchThreads),
      torchFlushesDenormals: v.torchFlushesDenormals === "true",
    });
    meta.torchsdeCall = 'sdeint_adjoint(method="reversible_heun", adjoint_method="adjoint_reversible_heun", ' +
      `dt=${DT}), BrownianInterval(dt=${DT}) per batch, float32 ts`;
    meta.torchsdeFirstBatchLossSeeds = checkSeeds.length;
  }
  /** Runs `fn` on the peer; a failure is reported once and the benchmark goes on without it. */
  const withPeer = async <T>(what: string, fn: (p: TorchsdePeer) => Promise<T>): Promise<T | undefined> => {
    if (!peer) return undefined;
    try {
      return await fn(peer);
    } catch (e) {
      const message = (e as Error).message;
      console.log(`sde: torchsde peer failed during ${what} (${message}); continuing without it`);
      meta.torchsdeError = `${what}: ${message}`;
      await peer.close();
      peer = undefined;
      return undefined;
    }
  };

  try {
    await withPeer("data", (p) => p.loadData(data));
    for (const width of [20, 100]) {
      const common = { stateDim: 1, hidden: [width, width], time: "concat", dtype: "float32" } as const;
      const drift = mlpDynamics({ ...common, seed: 1 }),
        diffusion = mlpDynamics({ ...common, seed: 2, paramPrefix: "g" });
      const params = { ...drift.init, ...diffusion.init };
      const peerParams = await withPeer("model", (p) => p.loadModel(width, params));
      const ours = Object.values(params).reduce((s, t) => s + t.data.length, 0);
      if (peerParams !== undefined && peerParams !== ours) {
        throw new Error(`torchsde's model has ${peerParams} parameters, quadjoint's ${ours}: the two MLPs differ`);
      }
      const check = await withPeer(
        "the agreement check",
        (p) =>
          agreement(runtime, { drift: drift.dynamics, diffusion: diffusion.dynamics, params }, p, data, checkSeeds),
      );
      if (check) {
        const m = agreementMeta(width, check);
        Object.assign(meta, m);
        const q = meanSd(check.quadjointLosses), t = meanSd(check.torchsdeLosses);
        const verdict = check.outputMaxAbsDifference <= OUTPUT_TOLERANCE ? "agree" : "DISAGREE";
        console.log(
          `width ${width}: f and g ${verdict} (max |Δ| ${check.outputMaxAbsDifference.toExponential(2)}, ` +
            `tolerance ${OUTPUT_TOLERANCE}); first-batch loss at the initial weights over ${checkSeeds.length} ` +
            `Brownian seeds: quadjoint ${q.mean.toFixed(4)} ± ${q.sd.toFixed(4)}, torchsde ${t.mean.toFixed(4)} ± ` +
            `${t.sd.toFixed(4)} (Welch z ${m[`torchsdeWidth${width}FirstBatchLossWelchZ`]!.toFixed(2)})`,
        );
      }
      const times: number[][] = METHODS.map(() => []);
      const nfe: [number, number][] = METHODS.map(() => [0, 0]);
      const peerTimes: number[] = [];
      let peerNfe: [number, number] = [0, 0];
      const losses: { method: string; trainLoss: number; testKl: number }[] = [];
      // One untimed round compiles every graph; then rounds of one epoch per method (and the peer) in turn.
      for (let round = 0; round <= rounds; round++) {
        for (const [i, [method, training]] of METHODS.entries()) {
          const { history } = await trainNeuralSde({
            runtime,
            drift: drift.dynamics,
            diffusion: diffusion.dynamics,
            params,
            data,
            epochs: 1,
            batchSize: BATCH,
            seed: round,
            optimizer: { lr: LR },
            training,
            evaluationDt: DT,
            evaluateEvery: 2, // past the one epoch but for the last: the test KL is part of the epoch
          });
          const e = history[0]!;
          if (round > 0) times[i]!.push(e.epochSeconds);
          nfe[i] = [e.nfeForwardPerEpoch, e.nfeBackwardPerEpoch];
          if (round === rounds) losses.push({ method, trainLoss: e.trainLoss, testKl: e.testKl! });
        }
        // The batches trainNeuralSde draws for seed `round`, epoch 1.
        const batches = minibatches(data.train.x0.length, BATCH, round, { epoch: 0 });
        const e = await withPeer("an epoch", (p) => p.epoch({ batches, seed: round, lr: LR, dt: DT }));
        if (e) {
          if (round > 0) peerTimes.push(e.seconds);
          peerNfe = [e.nfeForward, e.nfeBackward];
          if (round === rounds) losses.push({ method: TORCHSDE_METHOD, trainLoss: e.trainLoss, testKl: e.testKl });
        }
      }
      const row = { width, initialValues: data.train.x0.length, paths: data.paths, batchSize: BATCH };
      for (const [i, [method]] of METHODS.entries()) {
        records.push({
          method,
          ...row,
          epochSeconds: median(times[i]!),
          nfeForwardPerEpoch: nfe[i]![0],
          nfeBackwardPerEpoch: nfe[i]![1],
        });
      }
      if (peer && peerTimes.length === rounds) {
        records.push({
          method: TORCHSDE_METHOD,
          ...row,
          epochSeconds: median(peerTimes),
          nfeForwardPerEpoch: peerNfe[0],
          nfeBackwardPerEpoch: peerNfe[1],
        });
      }
      printTable(`width ${width}: losses of the last round's epoch (different Brownian paths per library)`, losses, [
        "method",
        "trainLoss",
        "testKl",
      ]);
    }
  } finally {
    await peer?.close();
    await runtime.dispose();
  }
  const rows = withTorchsdeRatios(records);
  printTable("Neural SDE on Ornstein–Uhlenbeck: seconds per epoch", rows, [
    "method",
    "width",
    "initialValues",
    "paths",
    "epochSeconds",
    "ratioToTorchsde",
    "nfeForwardPerEpoch",
    "nfeBackwardPerEpoch",
  ]);
  await writeBenchResults("sde", "Neural SDE training side by side", { sdeEpochTimings: rows }, { meta });
}
