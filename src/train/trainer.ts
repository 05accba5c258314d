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
 * Memory: each epoch trains a copy of the last completed state (that is what
 * makes the rollback free), in the arrays of the state before it once that
 * one is no longer needed, so the loop holds two sets of θ and Adam moments
 * and, after its second epoch, allocates no θ-sized arrays of its own.
 *
 * Checkpoints: {@linkcode trainStateHeader} (epoch, step count, history: small
 * JSON) and {@linkcode trainStateTensors} (parameters and moments as tensors,
 * for a binary file such as safetensors) split a state exactly;
 * {@linkcode trainStateFromParts} joins them again.
 *
 * Why one file: the loop and its checkpoint format must change together (a resumed run continues bit for bit).
 * The neural-SDE loop (neural_sde.ts) keeps the same state, its own epoch records in `history`, and checkpoints
 * with the same helpers.
 *
 * @module
 */
import { minibatches } from "../data/batches.ts";
import type { Tensor } from "../onnx/tensor.ts";
import type { Runtime } from "../runtime/session.ts";
import type { FloatArray } from "../solvers/stepper.ts";
import { Adam, type AdamOptions, type AdamState } from "./adam.ts";
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
  /** Parameter values (a loop's state holds them until its next `onEpoch` returns: see TrainOptions.onEpoch). */
  readonly params: Readonly<Record<string, Tensor>>;
  /** Optimiser state (held as long as the parameters). */
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
  /**
   * Called after each completed epoch with its record and the state to
   * checkpoint. The state holds until the next call to `onEpoch` returns; the
   * loop then trains the epoch after in its arrays, so copy (or save) what
   * must outlive that.
   */
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
  readonly floats: Record<string, FloatArray>;
  /** Optimiser state (a copy). */
  readonly adam: AdamState;
}

/** `a` as a copy of `b`: the same kind of array, the same length. */
function sameShape(a: FloatArray | undefined, b: FloatArray): a is FloatArray {
  return a !== undefined && a.constructor === b.constructor && a.length === b.length;
}

/** Copies `source` into `target` when every array matches; false (and nothing copied) otherwise. */
function copyInto(target: Readonly<Record<string, FloatArray>>, source: Readonly<Record<string, FloatArray>>): boolean {
  const entries = Object.entries(source);
  if (Object.keys(target).length !== entries.length || !entries.every(([k, a]) => sameShape(target[k], a))) {
    return false;
  }
  for (const [k, a] of entries) target[k]!.set(a);
  return true;
}

/**
 * Copies of `state`'s parameters and optimiser state for the next epoch to
 * train in place. Both training loops train each epoch on such a copy and
 * make it the new state only when the epoch completes, so a cut-short epoch
 * leaves the state of the last completed one untouched (no rollback needed).
 *
 * With `recycle`, a state nothing holds any longer (the one before `state`),
 * its arrays receive the copy when they match `state`'s — no allocation; the
 * loops pass the state two epochs back.
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
 * const again = epochWork(state, { ...state, params: work.params, adam: work.adam });
 * if (again.floats.w !== work.floats.w || again.floats.w![0] !== 1) throw new Error("not recycled");
 * ```
 */
export function epochWork(state: TrainState<EpochTotals>, recycle?: TrainState<EpochTotals>): EpochWork {
  const floats = floatData(state.params);
  if (recycle) {
    const target = floatData(recycle.params);
    const { m, v } = recycle.adam;
    const fits = Object.keys(target).every((k) => recycle.params[k]!.dims.join() === state.params[k]?.dims.join());
    if (fits && copyInto(target, floats) && copyInto(m, state.adam.m) && copyInto(v, state.adam.v)) {
      return { params: { ...recycle.params }, floats: target, adam: { step: state.adam.step, m, v } };
    }
  }
  const params = copyParams(state.params);
  const m: Record<string, FloatArray> = {}, v: Record<string, FloatArray> = {};
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

function floatData(params: Readonly<Record<string, Tensor>>): Record<string, FloatArray> {
  const out: Record<string, FloatArray> = {};
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
 * the new state, which {@linkcode trainStateHeader} and
 * {@linkcode trainStateTensors} make a checkpoint.
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
  const first = startState(adam, options.params, resume);
  let state = first;
  // The state before `state`, whose arrays the next epoch may train in (never the caller's).
  let recycle: TrainState | undefined;
  let stopped = false;
  for (let epoch = state.epoch + 1; epoch <= epochs && !stopped; epoch++) {
    if (signal?.aborted) {
      stopped = true;
      break;
    }
    const t0 = performance.now();
    const batches = minibatches(train.size, batchSize, seed, { epoch: epoch - 1 });
    const { params, floats: data, adam: adamState } = epochWork(state, recycle);
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
    // The epoch's copy becomes the state; the one before it is free once onEpoch has seen this one.
    const previous = state;
    state = { epoch, params, adam: adamState, history: [...state.history, result] };
    await options.onEpoch?.(result, state);
    recycle = previous === first ? undefined : previous;
  }
  return { params: copyParams(state.params), history: state.history, stopped, state };
}

// --- checkpoints ---------------------------------------------------------------------------------

/**
 * The format marker of training checkpoints this version writes and reads
 * (/3: the tensors apart from the JSON, moments in the parameters' type; /2
 * held everything as base64 in JSON).
 */
export const TRAIN_STATE_FORMAT = "quadjoint.train/3";

/** The JSON part of a {@linkcode TrainState}: everything but the tensors. */
export interface TrainStateHeader<E extends EpochTotals = EpochResult> {
  /** Format marker. */
  readonly format: typeof TRAIN_STATE_FORMAT;
  /** Completed epochs. */
  readonly epoch: number;
  /** Adam steps taken. */
  readonly adamStep: number;
  /** Epoch records. */
  readonly history: E[];
}

/** Tensor-name prefixes of a state's parts: `param/w`, `adam.m/w`, `adam.v/w`. */
const PARTS = { param: "param/", m: "adam.m/", v: "adam.v/" } as const;

/**
 * The JSON part of a state (see {@linkcode trainStateTensors} for the rest).
 *
 * @example
 * ```ts
 * import { trainStateHeader } from "./trainer.ts";
 * const header = trainStateHeader({ epoch: 2, history: [], params: {}, adam: { step: 6, m: {}, v: {} } });
 * if (header.adamStep !== 6 || header.format !== "quadjoint.train/3") throw new Error("wrong header");
 * ```
 */
export function trainStateHeader<E extends EpochTotals>(state: TrainState<E>): TrainStateHeader<E> {
  return { format: TRAIN_STATE_FORMAT, epoch: state.epoch, adamStep: state.adam.step, history: [...state.history] };
}

/**
 * A state's parameters and Adam moments as tensors named `param/<name>`,
 * `adam.m/<name>` and `adam.v/<name>` (moments with their parameter's dims),
 * each viewing the state's own array — nothing is copied; write them before
 * the state changes (e.g. with `writeSafetensors`).
 *
 * @throws {TypeError} for a parameter that is not float32 or float64, or one without moments.
 *
 * @example Round trip through safetensors bytes
 * ```ts
 * import { trainStateFromParts, trainStateHeader, trainStateTensors } from "./trainer.ts";
 * import { decodeSafetensors, encodeSafetensors } from "../models/safetensors.ts";
 * import { tensor } from "../onnx/tensor.ts";
 * const state = {
 *   epoch: 1, history: [],
 *   params: { w: tensor(Float32Array.of(0.1, -2), [2]) },
 *   adam: { step: 3, m: { w: Float32Array.of(1, 2) }, v: { w: Float32Array.of(3, 4) } },
 * };
 * const { tensors } = decodeSafetensors(encodeSafetensors(trainStateTensors(state)));
 * const back = trainStateFromParts(JSON.parse(JSON.stringify(trainStateHeader(state))), tensors);
 * if (back.params.w!.data[1] !== -2 || back.adam.v.w![1] !== 4 || back.adam.step !== 3) throw new Error("not exact");
 * ```
 */
export function trainStateTensors(state: TrainState<EpochTotals>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  const floats = floatData(state.params);
  for (const [name, t] of Object.entries(state.params)) {
    const m = state.adam.m[name], v = state.adam.v[name];
    if (m === undefined || v === undefined) throw new TypeError(`Parameter "${name}" has no Adam moments`);
    out[PARTS.param + name] = { dtype: t.dtype, dims: t.dims, data: floats[name]! } as Tensor;
    out[PARTS.m + name] = { dtype: dtypeOf(m), dims: t.dims, data: m } as Tensor;
    out[PARTS.v + name] = { dtype: dtypeOf(v), dims: t.dims, data: v } as Tensor;
  }
  return out;
}

function dtypeOf(a: FloatArray): "float32" | "float64" {
  return a instanceof Float64Array ? "float64" : "float32";
}

/**
 * Joins the parts {@linkcode trainStateHeader} and
 * {@linkcode trainStateTensors} made (the tensors as read back, e.g. by
 * `readSafetensors`; they become the state's arrays). The epoch records are
 * taken as they are: `E` is the caller's word for which loop wrote them.
 *
 * @throws {SyntaxError} when the header is not of this format or the tensors
 *   are not a state's (a parameter without both moments, a moment of another
 *   length or type, a tensor that is no part), naming what is wrong.
 */
export function trainStateFromParts<E extends EpochTotals = EpochResult>(
  header: unknown,
  tensors: Readonly<Record<string, Tensor>>,
): TrainState<E> {
  const h = header as Partial<TrainStateHeader<E>> | null;
  if (typeof h !== "object" || h === null || h.format !== TRAIN_STATE_FORMAT) {
    throw new SyntaxError(
      `Not a training checkpoint: format is ${JSON.stringify(h?.format)}, expected "${TRAIN_STATE_FORMAT}"`,
    );
  }
  if (!Number.isInteger(h.epoch) || !Number.isInteger(h.adamStep) || !Array.isArray(h.history)) {
    throw new SyntaxError("Training checkpoint lacks epoch, adamStep or history");
  }
  const params: Record<string, Tensor> = {};
  const m: Record<string, FloatArray> = {}, v: Record<string, FloatArray> = {};
  for (const [key, t] of Object.entries(tensors)) {
    if (!key.startsWith(PARTS.param)) {
      if (!key.startsWith(PARTS.m) && !key.startsWith(PARTS.v)) {
        throw new SyntaxError(`Training checkpoint tensor "${key}" is not a parameter or a moment`);
      }
      continue;
    }
    const name = key.slice(PARTS.param.length);
    if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
      throw new SyntaxError(`Checkpoint parameter "${name}" must be float32 or float64, got ${t.dtype}`);
    }
    params[name] = t;
    const [mt, vt] = [tensors[PARTS.m + name], tensors[PARTS.v + name]];
    for (const [moment, part] of [["m", mt], ["v", vt]] as const) {
      if (!part || !(part.data instanceof Float32Array || part.data instanceof Float64Array)) {
        throw new SyntaxError(`Checkpoint parameter "${name}" has no float Adam moment ${moment}`);
      }
      if (part.data.length !== t.data.length) {
        throw new SyntaxError(
          `Checkpoint Adam moment ${moment} of "${name}" has ${part.data.length} elements, the parameter ${t.data.length}`,
        );
      }
    }
    if (mt!.dtype !== vt!.dtype) throw new SyntaxError(`Checkpoint Adam moments of "${name}" differ in type`);
    m[name] = mt!.data as FloatArray;
    v[name] = vt!.data as FloatArray;
  }
  for (const key of Object.keys(tensors)) {
    const name = key.startsWith(PARTS.m) ? key.slice(PARTS.m.length) : key.slice(PARTS.v.length);
    if (!key.startsWith(PARTS.param) && !(name in params)) {
      throw new SyntaxError(`Training checkpoint tensor "${key}" is a moment of no parameter`);
    }
  }
  return { epoch: h.epoch!, params, adam: { step: h.adamStep!, m, v }, history: h.history! };
}
