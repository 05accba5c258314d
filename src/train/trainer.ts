/**
 * The training loop of a neural ODE: Adam over seeded minibatches, any
 * gradient method, per-epoch evaluation, resumable state and a stop signal.
 *
 * Reproducible: the batch order of epoch e comes from `minibatches(n,
 * batchSize, seed, { epoch: e })`, so the same seed gives the same numbers on
 * the same machine, and a run resumed from an epoch checkpoint continues
 * exactly as an uninterrupted one would.
 *
 * Interruption: when `signal` aborts, the loop finishes the batch in flight
 * and returns with `stopped: true`. A partial epoch is rolled back, so the
 * returned parameters and state are those of the last completed epoch — the
 * state `onEpoch` last received — and a resumed run restarts the interrupted
 * epoch from its beginning, giving the numbers of an uninterrupted run.
 *
 * Why one file: the loop and its checkpoint format must change together (a resumed run continues bit for bit).
 * The neural-SDE loop (neural_sde.ts) keeps the same state, its own epoch records in `history`, and checkpoints
 * with the same JSON helpers.
 *
 * @module
 */
import { minibatches } from "../data/batches.ts";
import type { Tensor } from "../onnx/tensor.ts";
import type { Runtime } from "../runtime/session.ts";
import {
  Adam,
  type AdamOptions,
  type AdamState,
  adamStateFromJson,
  type AdamStateJson,
  adamStateToJson,
} from "./adam.ts";
import { floatsFromBase64, floatsToBase64 } from "./_floats.ts";
import { type Batch, evaluate, lossAndGradients, type NeuralOde, type TrainGradientSettings } from "./neural_ode.ts";

/** A dataset split that can form batches from row indices. */
export interface BatchSource {
  /** Number of samples. */
  readonly size: number;
  /** The batch of samples `indices`. */
  batch(indices: Int32Array): Batch;
}

/** What every training loop records of an epoch (the neural-ODE and the neural-SDE loop alike). */
export interface EpochTotals {
  /** Epoch number, from 1. */
  readonly epoch: number;
  /** Mean training loss over the epoch's batches (trainNeuralOde weights them by batch size). */
  readonly trainLoss: number;
  /** Wall-clock seconds of this epoch (training and evaluation). */
  readonly epochSeconds: number;
  /** Wall-clock seconds of this epoch's test evaluation, part of epochSeconds (absent in older checkpoints). */
  readonly evaluationSeconds?: number;
  /** Wall-clock seconds since training began (summed over resumed sessions). */
  readonly elapsedSeconds: number;
  /** Minibatches in the epoch (one gradient each). */
  readonly batches: number;
  /** Forward NFE summed over the epoch's gradients. */
  readonly nfeForwardPerEpoch: number;
  /** Backward NFE summed over the epoch's gradients: every evaluation of f or of a VJP of f, gq's nodes included. */
  readonly nfeBackwardPerEpoch: number;
  /** gq's quadrature nodes summed over the epoch's gradients (counted in the backward NFE too); 0 for other methods. */
  readonly nodesPerEpoch: number;
}

/** What one epoch of {@linkcode trainNeuralOde} recorded. */
export interface EpochResult extends EpochTotals {
  /** Largest memory held by one batch's gradient computation, in bytes. */
  readonly heldBytes: number;
  /** Test loss, when evaluated this epoch. */
  readonly testLoss?: number;
  /** Test metric (see {@linkcode TrainOptions.metric}), when evaluated this epoch. */
  readonly testMetric?: number;
  /** Forward NFE of the test evaluation. */
  readonly testNfe?: number;
}

/**
 * The state of a run after a completed epoch: enough to continue it exactly.
 * `E` is the loop's epoch record ({@linkcode EpochResult} for trainNeuralOde,
 * `SdeEpochResult` for trainNeuralSde); the elapsed time continues from the
 * last record's `elapsedSeconds`.
 */
export interface TrainState<E extends EpochTotals = EpochResult> {
  /** Completed epochs. */
  readonly epoch: number;
  /** Parameter values (copies). */
  readonly params: Readonly<Record<string, Tensor>>;
  /** Optimiser state (copies). */
  readonly adam: AdamState;
  /** Records of the completed epochs. */
  readonly history: readonly E[];
}

/** Progress inside an epoch, reported after each batch. */
export interface BatchProgress {
  /** Epoch number, from 1. */
  readonly epoch: number;
  /** Batch number in the epoch, from 1. */
  readonly batch: number;
  /** Batches in the epoch. */
  readonly batches: number;
  /** This batch's loss. */
  readonly loss: number;
  /** Forward NFE of this batch's gradient. */
  readonly nfeForwardPerBatch: number;
  /** Backward NFE of this batch's gradient (gq's nodes included). */
  readonly nfeBackwardPerBatch: number;
  /** gq's quadrature nodes of this batch's gradient. */
  readonly nodesPerBatch: number;
}

/** Options of {@linkcode trainNeuralOde}. */
export interface TrainOptions {
  /** Where graphs run. */
  readonly runtime: Runtime;
  /** The model. */
  readonly model: NeuralOde;
  /** Initial parameters (dynamics and head), by graph input name; not modified. */
  readonly params: Readonly<Record<string, Tensor>>;
  /** Training data. */
  readonly train: BatchSource;
  /** Test data as one batch, evaluated after epochs (see `evaluateEvery`). */
  readonly test?: Batch;
  /** Passes over the training data. */
  readonly epochs: number;
  /** Minibatch size. @default the whole training set */
  readonly batchSize?: number;
  /** Seed of the minibatch shuffles. @default 0 */
  readonly seed?: number;
  /** Adam options. @default {} (lr 1e-3) */
  readonly optimizer?: AdamOptions;
  /** Gradient method and solver settings. */
  readonly gradient: TrainGradientSettings;
  /** Evaluate the test batch every this many epochs (and after the last). @default 1 */
  readonly evaluateEvery?: number;
  /** Test metric from the test predictions `[times, batch, outDim]` and the test batch. @default the test loss */
  readonly metric?: (pred: Float64Array, batch: Batch, loss: number) => number;
  /** Continue from this state instead of the initial parameters. */
  readonly resume?: TrainState;
  /** Stops training after the batch in flight. */
  readonly signal?: AbortSignal;
  /** Called after each completed epoch with its record and the state to checkpoint. */
  readonly onEpoch?: (result: EpochResult, state: TrainState) => void | Promise<void>;
  /** Called after each batch. */
  readonly onBatch?: (progress: BatchProgress) => void;
}

/** What {@linkcode trainNeuralOde} returns. */
export interface TrainResult {
  /** Parameters after the last completed epoch. */
  readonly params: Record<string, Tensor>;
  /** One record per completed epoch (resumed ones included). */
  readonly history: readonly EpochResult[];
  /** Whether the signal stopped training before `epochs`. */
  readonly stopped: boolean;
  /** The state after the last completed epoch. */
  readonly state: TrainState;
}

function copyParams(params: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(params)) out[name] = { ...t, data: t.data.slice() } as Tensor;
  return out;
}

/** What one epoch trains in place: copies of a state's parameters and optimiser state. */
export interface EpochWork {
  /** Parameter tensors (copies). */
  readonly params: Record<string, Tensor>;
  /** The same parameters' float arrays, which Adam steps in place. */
  readonly floats: Record<string, Float64Array | Float32Array>;
  /** Optimiser state (a copy). */
  readonly adam: AdamState;
}

/**
 * Copies of `state`'s parameters and optimiser state for the next epoch to
 * train in place. Both training loops train each epoch on such a copy and
 * make it the new state only when the epoch completes, so a cut-short epoch
 * leaves the state of the last completed one untouched (no rollback needed).
 *
 * @throws {TypeError} for a parameter that is not float32 or float64.
 *
 * @example The copy changes, the state does not
 * ```ts
 * import { epochWork } from "./trainer.ts";
 * import { tensor } from "../onnx/tensor.ts";
 * const state = {
 *   epoch: 0, history: [], params: { w: tensor(Float64Array.of(1), [1]) },
 *   adam: { step: 0, m: { w: Float64Array.of(0) }, v: { w: Float64Array.of(0) } },
 * };
 * const work = epochWork(state);
 * work.floats.w![0] = 2;
 * work.adam.step = 1;
 * if (state.params.w.data[0] !== 1 || state.adam.step !== 0) throw new Error("the state changed");
 * ```
 */
export function epochWork(state: TrainState<EpochTotals>): EpochWork {
  const params = copyParams(state.params);
  const m: Record<string, Float64Array> = {}, v: Record<string, Float64Array> = {};
  for (const [k, a] of Object.entries(state.adam.m)) m[k] = a.slice();
  for (const [k, a] of Object.entries(state.adam.v)) v[k] = a.slice();
  return { params, floats: floatData(params), adam: { step: state.adam.step, m, v } };
}

/**
 * The state a run starts from: `resume`, or epoch 0 with `params` and
 * `adam`'s initial state when there is none.
 *
 * @throws {TypeError} for a parameter that is not float32 or float64.
 *
 * @example A fresh start
 * ```ts
 * import { startState } from "./trainer.ts";
 * import { Adam } from "./adam.ts";
 * import { tensor } from "../onnx/tensor.ts";
 * const state = startState(new Adam({}), { w: tensor(Float64Array.of(1, 2), [2]) });
 * if (state.epoch !== 0 || state.adam.m.w!.length !== 2) throw new Error("not a fresh state");
 * ```
 */
export function startState<E extends EpochTotals>(
  adam: Adam,
  params: Readonly<Record<string, Tensor>>,
  resume?: TrainState<E>,
): TrainState<E> {
  return resume ?? { epoch: 0, params, adam: adam.init(floatData(params)), history: [] };
}

function floatData(params: Readonly<Record<string, Tensor>>): Record<string, Float64Array | Float32Array> {
  const out: Record<string, Float64Array | Float32Array> = {};
  for (const [name, t] of Object.entries(params)) {
    if (!(t.data instanceof Float64Array || t.data instanceof Float32Array)) {
      throw new TypeError(`Parameter "${name}" must be float32 or float64, got ${t.dtype}`);
    }
    out[name] = t.data;
  }
  return out;
}

/**
 * Trains a neural ODE with Adam. Each batch: loss and gradients by the chosen
 * method ({@linkcode lossAndGradients}), one Adam step. After each epoch the
 * test batch is evaluated (forward only) and `onEpoch` receives the record and
 * the new state (never changed afterwards), which {@linkcode trainStateToJson}
 * makes a checkpoint.
 *
 * @throws {RangeError} for epochs, batch size or evaluateEvery that are not
 *   positive integers, or a resume state past `epochs`.
 *
 * @example Crossing trajectories with an augmented MLP
 * ```ts
 * import { trainNeuralOde } from "./trainer.ts";
 * import { buildReadout, initReadout } from "./readout.ts";
 * import { mlpDynamics } from "../models/mlp.ts";
 * import { gq } from "../gradients/method.ts";
 * import { Runtime } from "../runtime/session.ts";
 * import { Random } from "../util/random.ts";
 * const { dynamics, init } = mlpDynamics({ stateDim: 2, hidden: [16, 16], dtype: "float64", seed: 1 });
 * const readout = buildReadout({ stateDim: 2, outDim: 1, head: "slice", loss: "mse", dtype: "float64" });
 * const model = { dynamics, readout, dataDim: 1, augment: 1 };
 * const batch = {
 *   x: Float64Array.of(1, -1), size: 2, times: [0, 1],
 *   targets: Float64Array.of(0, 0, -1, 1), mask: Float64Array.of(0, 0, 1, 1),
 * };
 * const runtime = new Runtime({ threads: 1 });
 * const r = await trainNeuralOde({
 *   runtime, model, params: { ...init, ...initReadout(readout, new Random(0), "float64") },
 *   train: { size: 2, batch: () => batch }, test: batch,
 *   epochs: 60, optimizer: { lr: 0.05 }, gradient: { method: gq() },
 * });
 * const first = r.history[0]!.testLoss!, last = r.history.at(-1)!.testLoss!;
 * if (!(last < 0.1 * first)) throw new Error(`loss ${first} → ${last}`);
 * ```
 */
export async function trainNeuralOde(options: TrainOptions): Promise<TrainResult> {
  const { runtime, model, train, test, epochs, seed = 0, gradient, metric, resume, signal } = options;
  const batchSize = options.batchSize ?? train.size;
  const every = options.evaluateEvery ?? 1;
  for (const [name, v] of [["epochs", epochs], ["batchSize", batchSize], ["evaluateEvery", every]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`trainNeuralOde option ${name} must be a positive integer, got ${v}`);
    }
  }
  if (resume && resume.epoch > epochs) {
    throw new RangeError(`trainNeuralOde resume state is at epoch ${resume.epoch}, past epochs ${epochs}`);
  }
  const adam = new Adam(options.optimizer ?? {});
  let state = startState(adam, options.params, resume);
  let stopped = false;
  for (let epoch = state.epoch + 1; epoch <= epochs && !stopped; epoch++) {
    if (signal?.aborted) {
      stopped = true;
      break;
    }
    const t0 = performance.now();
    const batches = minibatches(train.size, batchSize, seed, { epoch: epoch - 1 });
    const { params, floats: data, adam: adamState } = epochWork(state);
    let lossSum = 0, count = 0, nfeForward = 0, nfeBackward = 0, nodes = 0, heldBytes = 0;
    for (let i = 0; i < batches.length; i++) {
      const batch = train.batch(batches[i]!);
      const r = await lossAndGradients(runtime, model, params, batch, gradient);
      adam.step(data, r.grads, adamState);
      lossSum += r.loss * batch.size;
      count += batch.size;
      const { forward, backward } = r.stats;
      nfeForward += forward.nfe;
      nfeBackward += backward.nfe;
      nodes += r.stats.nodes;
      heldBytes = Math.max(heldBytes, r.stats.heldBytes);
      options.onBatch?.({
        epoch,
        batch: i + 1,
        batches: batches.length,
        loss: r.loss,
        nfeForwardPerBatch: forward.nfe,
        nfeBackwardPerBatch: backward.nfe,
        nodesPerBatch: r.stats.nodes,
      });
      if (signal?.aborted && i < batches.length - 1) {
        // A partial epoch is not kept: the state stays that of the last completed epoch.
        stopped = true;
        break;
      }
    }
    if (stopped) break;
    let testLoss: number | undefined, testMetric: number | undefined, testNfe: number | undefined;
    const evalStart = performance.now();
    if (test && (epoch % every === 0 || epoch === epochs)) {
      const e = await evaluate(runtime, model, params, test, gradient);
      testLoss = e.loss;
      testNfe = e.nfe;
      testMetric = metric ? metric(e.pred, test, e.loss) : e.loss;
    }
    const end = performance.now();
    const epochSeconds = (end - t0) / 1000;
    const result: EpochResult = {
      epoch,
      trainLoss: lossSum / count,
      epochSeconds,
      evaluationSeconds: (end - evalStart) / 1000,
      elapsedSeconds: (state.history.at(-1)?.elapsedSeconds ?? 0) + epochSeconds,
      batches: batches.length,
      nfeForwardPerEpoch: nfeForward,
      nfeBackwardPerEpoch: nfeBackward,
      nodesPerEpoch: nodes,
      heldBytes,
      ...(testLoss !== undefined ? { testLoss } : {}),
      ...(testMetric !== undefined ? { testMetric } : {}),
      ...(testNfe !== undefined ? { testNfe } : {}),
    };
    // The epoch's copies become the state; later epochs train copies of it, so it is never changed again.
    state = { epoch, params, adam: adamState, history: [...state.history, result] };
    await options.onEpoch?.(result, state);
  }
  return { params: copyParams(state.params), history: state.history, stopped, state };
}

// --- checkpoints ---------------------------------------------------------------------------------

/** The format marker of training checkpoints this version writes and reads. */
export const TRAIN_STATE_FORMAT = "quadjoint.train/2";

/** A {@linkcode TrainState} as JSON: parameters as base64 of their little-endian bytes. */
export interface TrainStateJson<E extends EpochTotals = EpochResult> {
  /** Format marker (/2: epoch records carry their units, `epochSeconds`, `elapsedSeconds`, `…PerEpoch`). */
  readonly format: typeof TRAIN_STATE_FORMAT;
  /** Completed epochs. */
  readonly epoch: number;
  /** Parameters: dtype, dims and base64 little-endian bytes. */
  readonly params: Record<string, { dtype: "float32" | "float64"; dims: number[]; data: string }>;
  /** Optimiser state. */
  readonly adam: AdamStateJson;
  /** Epoch records. */
  readonly history: E[];
}

/**
 * The state as JSON-ready data; exact (float bytes in base64), so a resumed
 * run continues bit for bit.
 *
 * @example Round trip
 * ```ts
 * import { trainStateFromJson, trainStateToJson } from "./trainer.ts";
 * import { tensor } from "../onnx/tensor.ts";
 * const state = {
 *   epoch: 1, history: [],
 *   params: { w: tensor(Float32Array.of(0.1, -2), [2]) },
 *   adam: { step: 3, m: { w: Float64Array.of(1, 2) }, v: { w: Float64Array.of(3, 4) } },
 * };
 * const back = trainStateFromJson(JSON.parse(JSON.stringify(trainStateToJson(state))));
 * if (back.params.w!.data[0] !== state.params.w.data[0] || back.adam.step !== 3) throw new Error("not exact");
 * ```
 */
export function trainStateToJson<E extends EpochTotals>(state: TrainState<E>): TrainStateJson<E> {
  const params: TrainStateJson<E>["params"] = {};
  for (const [name, t] of Object.entries(state.params)) {
    if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
      throw new TypeError(`Parameter "${name}" must be float32 or float64, got ${t.dtype}`);
    }
    params[name] = {
      dtype: t.data instanceof Float64Array ? "float64" : "float32",
      dims: [...t.dims],
      data: floatsToBase64(t.data),
    };
  }
  return {
    format: TRAIN_STATE_FORMAT,
    epoch: state.epoch,
    params,
    adam: adamStateToJson(state.adam),
    history: [...state.history],
  };
}

/**
 * Reads a state written by {@linkcode trainStateToJson}. The epoch records
 * are taken as they are: `E` is the caller's word for which loop wrote them.
 *
 * @throws {SyntaxError} when the data are not such a state.
 */
export function trainStateFromJson<E extends EpochTotals = EpochResult>(json: unknown): TrainState<E> {
  const j = json as Partial<TrainStateJson<E>> | null;
  if (typeof j !== "object" || j === null || j.format !== TRAIN_STATE_FORMAT) {
    throw new SyntaxError(
      `Not a training checkpoint: format is ${JSON.stringify(j?.format)}, expected "${TRAIN_STATE_FORMAT}"`,
    );
  }
  if (!Number.isInteger(j.epoch) || typeof j.params !== "object" || !Array.isArray(j.history)) {
    throw new SyntaxError("Training checkpoint lacks epoch, params or history");
  }
  const params: Record<string, Tensor> = {};
  for (const [name, p] of Object.entries(j.params ?? {})) {
    const n = p.dims.reduce((a, b) => a * b, 1);
    const data = floatsFromBase64(p.data, p.dtype, `Checkpoint parameter "${name}"`, n);
    params[name] = { dtype: p.dtype, dims: p.dims, data } as Tensor;
  }
  return { epoch: j.epoch!, params, adam: adamStateFromJson(j.adam), history: j.history! };
}
