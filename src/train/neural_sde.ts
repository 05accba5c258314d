/**
 * Training a neural SDE dz = f(z, t, θ_f) dt + g(z, t, θ_g) ∘ dW on sample
 * moments (the paper's §5.6): Adam over seeded minibatches of initial values,
 * each replicated once per sample path, with the sample-Gaussian KL loss
 * against the true paths' moments, by one of two routes:
 *
 * - `"wong-zakai"`: the random ODE dz/dt = f + g ⊙ ξ(t) with a fresh
 *   Karhunen–Loève noise draw per batch and sample (src/sde/karhunen_loeve.ts),
 *   differentiated by any ODE gradient method (direct, adjoint, seminorm, gq);
 *   with 0 cosines only the drift trains, on the KL's mean term (the model's
 *   samples have no spread).
 * - `"sde"`: reversible Heun on a fresh Brownian path per batch,
 *   differentiated by SDE direct or the SDE adjoint (src/sde/sde_gradient.ts).
 *
 * Either way the test metric is the same KL, of samples the SDE solver
 * (reversible Heun) draws on a fixed test Brownian path: parameters trained
 * through Wong–Zakai are evaluated as an SDE.
 *
 * Reproducible and resumable as trainNeuralOde (trainer.ts), with the same
 * state and checkpoint helpers: the batches of epoch e come from
 * `minibatches(…, seed, { epoch: e })`, and the noise of batch b of epoch e
 * (Karhunen–Loève coefficients or the Brownian path's seed) from its own
 * stream `Random.keyed(seed, [·, e, b])`, so no generator state is carried
 * between batches and a run resumed from an epoch's state continues exactly
 * as an uninterrupted one. When `signal` aborts, the epoch in flight is
 * dropped: the returned state is that of the last completed epoch.
 *
 * @module
 */
import type { OrnsteinUhlenbeckData, SdeSamples } from "../data/ornstein_uhlenbeck.ts";
import { minibatches } from "../data/batches.ts";
import type { GradientMethod } from "../gradients/method.ts";
import { odeGradient } from "../gradients/ode_gradient.ts";
import type { SolveSettings } from "../gradients/problem.ts";
import { asDynamics, type Dynamics } from "../models/dynamics.ts";
import { type Tensor, tensor } from "../onnx/tensor.ts";
import { toTensor } from "../runtime/bound_graph.ts";
import type { Runtime } from "../runtime/session.ts";
import { BrownianPath } from "../sde/brownian.ts";
import { sampleGaussianKl, type TargetMoments } from "../sde/gaussian_kl.ts";
import { KL_COEFFICIENTS, sampleKlCoefficients, wongZakaiGraph } from "../sde/karhunen_loeve.ts";
import { sdeGradient, type SdeGradientMethod } from "../sde/sde_gradient.ts";
import { sdeint } from "../sde/sdeint.ts";
import { onnxSdeTerms } from "../sde/terms.ts";
import { Random } from "../util/random.ts";
import type { FloatArray } from "../solvers/stepper.ts";
import { Adam, type AdamOptions } from "./adam.ts";
import { type EpochTotals, epochWork, startState, type TrainState } from "./trainer.ts";

/** The first counter word of the training noise's streams, apart from any other keyed use of the seed ("nois"). */
const NOISE_STREAM = 0x6e6f6973;

/**
 * The stream of the test KL's Brownian path ("eval"). A seed of the form train seed + 1 could equal the seed of the
 * data's own test paths (2·data.seed + 2 on the same grid: data.seed 0, train.seed 1), which made the model's
 * samples ride the very Brownian motions of the targets and read a KL of 0.
 */
const EVAL_STREAM = 0x6576616c;

/** How gradients are computed. */
export type SdeTraining =
  | {
    /** The Wong–Zakai ODE with Karhunen–Loève noise. */
    readonly kind: "wong-zakai";
    /** Any ODE gradient method. */
    readonly method: GradientMethod;
    /** Cosines m of the noise (0: the drift alone). */
    readonly cosines: number;
    /** The ODE solver and tolerances. */
    readonly solve: SolveSettings;
  }
  | {
    /** Reversible Heun on a Brownian path. */
    readonly kind: "sde";
    /** SDE direct or the SDE adjoint. */
    readonly method: SdeGradientMethod;
    /** Solver step. */
    readonly dt: number;
  };

/** Options of {@linkcode trainNeuralSde}. */
export interface TrainNeuralSdeOptions {
  /** Where graphs run. */
  readonly runtime: Runtime;
  /** The drift graph. */
  readonly drift: Dynamics;
  /** The diffusion graph (diagonal noise). */
  readonly diffusion: Dynamics;
  /** Initial parameters of both, by name; copied, not changed. */
  readonly params: Readonly<Record<string, Tensor>>;
  /** Observation times, paths per initial value and the two splits (state size 1 per sample). */
  readonly data: Pick<OrnsteinUhlenbeckData, "times" | "paths" | "train" | "test">;
  /** Passes over the training initial values. */
  readonly epochs: number;
  /** Initial values per minibatch. */
  readonly batchSize: number;
  /** Seed of minibatch order and noise. */
  readonly seed: number;
  /** Adam settings. */
  readonly optimizer: AdamOptions;
  /** The gradient route. */
  readonly training: SdeTraining;
  /** Step of the SDE solver that evaluates the test KL. */
  readonly evaluationDt: number;
  /** Evaluate every this many epochs (and after the last). @default 1 */
  readonly evaluateEvery?: number;
  /** Continue from this state (of a run with the same options) instead of the initial parameters. */
  readonly resume?: SdeTrainState;
  /** Stops after the batch in flight; the epoch it cuts short is not kept. */
  readonly signal?: AbortSignal;
  /**
   * Called after each completed epoch with its record and the state to
   * checkpoint, which holds until the next call returns (as trainNeuralOde's).
   */
  readonly onEpoch?: (epoch: SdeEpochResult, state: SdeTrainState) => void | Promise<void>;
}

/** One epoch's record. */
export interface SdeEpochResult extends EpochTotals {
  /** Test KL of the SDE solver's samples, when evaluated. */
  readonly testKl?: number;
}

/**
 * The state of a neural-SDE run after a completed epoch: enough to continue
 * it exactly (the noise needs no state of its own); `trainStateHeader` and
 * `trainStateTensors` make it a checkpoint.
 */
export type SdeTrainState = TrainState<SdeEpochResult>;

/** What {@linkcode trainNeuralSde} returns. */
export interface TrainNeuralSdeResult {
  /** The parameters after the last completed epoch. */
  readonly params: Record<string, Tensor>;
  /** One record per completed epoch (resumed ones included). */
  readonly history: SdeEpochResult[];
  /** Whether the signal stopped training early. */
  readonly stopped: boolean;
  /** The state after the last completed epoch. */
  readonly state: SdeTrainState;
}

/** Initial values `indices` of a split, each repeated `paths` times, and the targets' moments per time. */
function batchOf(split: SdeSamples, indices: Int32Array, paths: number): { y0: Float64Array; target: TargetMoments } {
  const y0 = new Float64Array(indices.length * paths);
  indices.forEach((j, g) => y0.fill(split.x0[j]!, g * paths, (g + 1) * paths));
  const pick = (per: readonly Float64Array[]) => per.map((v) => Float64Array.from(indices, (j) => v[j]!));
  return { y0, target: { mean: pick(split.mean), variance: pick(split.variance) } };
}

/** The Brownian path seed of the test KL of a run seeded `seed`: its own keyed stream, fixed over the epochs. */
export function evaluationSeed(seed: number): number {
  return Random.streamSeed(seed, EVAL_STREAM);
}

/** Test KL: samples of the SDE solver on a fixed Brownian path, against the test moments. */
export async function sdeTestKl(
  runtime: Runtime,
  model: { drift: Dynamics; diffusion: Dynamics; params: Readonly<Record<string, Tensor>> },
  data: Pick<OrnsteinUhlenbeckData, "times" | "paths" | "test">,
  dt: number,
  seed: number,
): Promise<number> {
  const { times, paths, test } = data;
  const { y0, target } = batchOf(test, Int32Array.from({ length: test.x0.length }, (_, i) => i), paths);
  const end = times.at(-1)!;
  const brownian = new BrownianPath({
    t0: times[0]!,
    t1: end,
    steps: Math.round((end - times[0]!) / dt),
    size: y0.length,
    seed,
  });
  const terms = await onnxSdeTerms({ runtime, ...model });
  const { states } = await sdeint(terms, y0, times, { solver: "reversible-heun", dt, brownian });
  return sampleGaussianKl(states, target, paths).value!;
}

/**
 * Trains a neural SDE; see the module doc for the two routes.
 *
 * @throws {RangeError} for bad epochs, batch size, a resume state past
 *   `epochs` or a state that is not one value per sample.
 */
export async function trainNeuralSde(options: TrainNeuralSdeOptions): Promise<TrainNeuralSdeResult> {
  const { runtime, drift, diffusion, data, epochs, batchSize, seed, training, evaluationDt, resume } = options;
  const every = options.evaluateEvery ?? 1;
  if (!(Number.isInteger(epochs) && epochs >= 1)) {
    throw new RangeError(`trainNeuralSde: epochs must be a positive integer, got ${epochs}`);
  }
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new RangeError(`trainNeuralSde: batchSize must be a positive integer, got ${batchSize}`);
  }
  if (drift.stateShape.join() !== "1") {
    throw new RangeError(`trainNeuralSde: the state must be one value per sample, got [${drift.stateShape}]`);
  }
  if (resume && resume.epoch > epochs) {
    throw new RangeError(`trainNeuralSde: resume state is at epoch ${resume.epoch}, past epochs ${epochs}`);
  }
  const adam = new Adam(options.optimizer);
  const first = startState(adam, options.params, resume);
  let state = first;
  // The state before `state`, whose arrays the next epoch may train in (never the caller's).
  let recycle: SdeTrainState | undefined;
  // Zero gradients of the parameters a route does not use (the diffusion without noise), made once.
  const zeros: Record<string, FloatArray> = {};
  const { times, paths, train } = data;
  const end = times.at(-1)!;
  const wongZakai = training.kind === "wong-zakai"
    ? asDynamics(wongZakaiGraph({ drift, diffusion, t0: times[0]!, t1: end, cosines: training.cosines }), {
      constants: training.cosines > 0 ? [KL_COEFFICIENTS] : [],
    })
    : undefined;
  let stopped = false;
  for (let epoch = state.epoch + 1; epoch <= epochs && !stopped; epoch++) {
    const t0 = performance.now();
    const batches = minibatches(train.x0.length, Math.min(batchSize, train.x0.length), seed, { epoch: epoch - 1 });
    const { params, floats, adam: adamState } = epochWork(state, recycle);
    let lossSum = 0, nfeForward = 0, nfeBackward = 0, nodes = 0;
    for (const [b, indices] of batches.entries()) {
      if (options.signal?.aborted) {
        // A cut-short epoch is not kept: the state stays that of the last completed epoch.
        stopped = true;
        break;
      }
      const noise = Random.keyed(seed, [NOISE_STREAM, epoch - 1, b]);
      const { y0, target } = batchOf(train, indices, paths);
      // Without noise every sample of an initial value coincides: only the mean can be matched.
      const meanOnly = training.kind === "wong-zakai" && training.cosines === 0;
      const loss = (states: readonly Float64Array[]) => sampleGaussianKl(states, target, paths, { meanOnly });
      let value: number | undefined, grads: Record<string, FloatArray>;
      if (training.kind === "wong-zakai") {
        const dynamics = wongZakai!;
        const used = Object.fromEntries(dynamics.params.map((p) => [p.name, params[p.name]!]));
        const constants = training.cosines > 0
          ? {
            [KL_COEFFICIENTS]: tensor(sampleKlCoefficients(noise, training.cosines, y0.length, 1), [
              y0.length,
              training.cosines,
              1,
            ]),
          }
          : {};
        const r = await odeGradient(
          { dynamics, params: used, constants, z0: toTensor(y0, [y0.length, 1], dynamics.dtype), times, loss },
          { ...training.solve, method: training.method, runtime, timeGradients: false },
        );
        value = r.loss;
        grads = { ...r.dparams };
        nfeForward += r.stats.forward.nfe;
        nfeBackward += r.stats.backward.nfe;
        nodes += r.stats.nodes;
      } else {
        const brownian = new BrownianPath({
          t0: times[0]!,
          t1: end,
          steps: Math.round((end - times[0]!) / training.dt),
          size: y0.length,
          seed: noise.int(2 ** 31),
        });
        const r = await sdeGradient(
          { drift, diffusion, params, y0: tensor(y0, [y0.length, 1]), times, loss, brownian, dt: training.dt },
          { method: training.method, runtime },
        );
        value = r.loss;
        grads = r.dparams;
        nfeForward += r.stats.forwardCalls;
        nfeBackward += r.stats.backwardCalls;
      }
      // Parameters the route does not use (the diffusion without noise) get zero gradients.
      for (const [name, p] of Object.entries(floats)) {
        grads[name] ??= zeros[name] ??= p instanceof Float64Array
          ? new Float64Array(p.length)
          : new Float32Array(p.length);
      }
      adam.step(floats, grads, adamState);
      lossSum += value!;
    }
    if (stopped) break;
    const evalStart = performance.now();
    const testKl = epoch % every === 0 || epoch === epochs
      ? await sdeTestKl(runtime, { drift, diffusion, params }, data, evaluationDt, evaluationSeed(seed))
      : undefined;
    const epochEnd = performance.now();
    const epochSeconds = (epochEnd - t0) / 1000;
    const record: SdeEpochResult = {
      epoch,
      trainLoss: lossSum / batches.length,
      ...(testKl !== undefined ? { testKl } : {}),
      epochSeconds,
      evaluationSeconds: (epochEnd - evalStart) / 1000,
      elapsedSeconds: (state.history.at(-1)?.elapsedSeconds ?? 0) + epochSeconds,
      batches: batches.length,
      nfeForwardPerEpoch: nfeForward,
      nfeBackwardPerEpoch: nfeBackward,
      nodesPerEpoch: nodes,
    };
    // The epoch's copy becomes the state; the one before it is free once onEpoch has seen this one.
    const previous = state;
    state = { epoch, params, adam: adamState, history: [...state.history, record] };
    await options.onEpoch?.(record, state);
    recycle = previous === first ? undefined : previous;
  }
  return { params: epochWork(state).params, history: [...state.history], stopped, state };
}
