/**
 * Losses without hand-written derivatives: a loss given as an ONNX graph,
 * whose cotangents ∂L/∂z(t_k) quadjoint derives with its own VJP transform
 * and runs in ONNX Runtime. Hand one to {@linkcode odeGradient} as `loss`
 * in place of a function with cotangents; every gradient method (direct,
 * adjoint, seminorm, gq) runs unchanged, since odeGradient binds it to a
 * plain {@linkcode LossFunction} before the forward solve.
 *
 * - {@linkcode mseLoss}, {@linkcode crossEntropyLoss} and
 *   {@linkcode gaussianKlLoss}: the built-in loss graphs of
 *   src/autodiff/losses.ts, by name, with their targets.
 * - {@linkcode graphLoss}: a user's loss graph (a `Graph`, or an `.onnx`
 *   file read by `readModel`).
 *
 * **The states a loss reads.** `at` picks measurement times (indices into
 * `times`, −1 the last; default every time, t₀ included). Their states are
 * stacked time-major into one tensor `z` of shape `[K, batch, ...stateShape]`
 * (K = `at.length`), the layout the training loop's readouts use; ∂L/∂z(t_k)
 * is null for the times not read. Losses run in the dynamics' dtype.
 *
 * **A user's loss graph** has an input `z` as above (dims symbolic or
 * concrete), any further inputs fed by the caller — `inputs` (targets, masks:
 * fed, not differentiated) or `params` (differentiated; dL/dφ comes back in
 * `dlossParams`) — and a scalar float output `loss` (shape `[]` or `[1]`).
 * Other outputs are allowed and ignored. Before differentiating, its symbolic
 * dims take the sizes they are fed with, so ops whose VJP needs a concrete
 * dim (a Gather of one time from `z`) work.
 *
 * **Cost.** A loss graph is differentiated once and compiled once per runtime:
 * a built-in one per kind, dtype and state size (shared by every loss of that
 * kind, whatever its targets), a user's one per graph and fed shapes. Binding
 * (what odeGradient does on each call) checks shapes and looks the session up;
 * evaluating stacks the states and makes one graph run.
 *
 * @example The README's library example: L = (z(19) − 0)² for dz/dt = a·z
 * ```ts
 * import { asDynamics, fromNumbers, gq, GraphBuilder, mseLoss, odeGradient } from "../../mod.ts";
 *
 * // dz/dt = a·z as an ONNX graph: inputs t (scalar), z [batch, 1], parameter a; output dz.
 * const b = new GraphBuilder("exp");
 * b.input("t", "float64", []);
 * const z = b.input("z", "float64", ["batch", 1]);
 * const a = b.input("a", "float64", [1]);
 * b.output(b.op1("Mul", [z, a]), "dz");
 *
 * const r = await odeGradient({
 *   dynamics: asDynamics(b.build()),
 *   params: { a: fromNumbers([0.2], [1], "float64") },
 *   z0: fromNumbers([10], [1, 1], "float64"),
 *   times: [0, 19],
 *   // Mean squared error of z at the last time (at: [-1]) against the target 0: L = z(19)².
 *   loss: mseLoss({ targets: fromNumbers([0], [1, 1, 1], "float64"), at: [-1] }),
 * }, { method: gq(), rtol: 1e-6, atol: 1e-6 });
 * console.log(r.loss, r.dparams.a, r.stats);
 * const exact = 2 * 19 * 100 * Math.exp(2 * 0.2 * 19); // L = z0² e^{2aT}, dL/da = 2T·L
 * if (Math.abs(r.dparams.a![0]! - exact) > 1e-4 * exact) throw new Error(`dL/da ${r.dparams.a![0]}`);
 * ```
 *
 * @example A user's loss graph: L = Σ (z_T − y)² + 0.1·Σ_k z_k²
 * ```ts
 * import { asDynamics, attr, direct, fromNumbers, graphLoss, GraphBuilder, int64, odeGradient } from "../../mod.ts";
 * const f = new GraphBuilder("exp");
 * f.input("t", "float64", []);
 * f.output(f.op1("Mul", [f.input("z", "float64", ["batch", 1]), f.input("a", "float64", [1])]), "dz");
 *
 * const g = new GraphBuilder("my_loss");
 * const zs = g.input("z", "float64", ["times", "batch", 1]); // the states at every time, stacked
 * const y = g.input("y", "float64", ["batch", 1]);
 * const zT = g.op1("Gather", [zs, g.constant(int64([-1], []))], { axis: attr.int(0) });
 * const d = g.op1("Sub", [zT, y]);
 * const sum = (x: typeof d) => g.op1("ReduceSum", [x], { keepdims: attr.int(0) });
 * const reg = g.op1("Mul", [g.constant(fromNumbers([0.1], [], "float64")), sum(g.op1("Mul", [zs, zs]))]);
 * g.output(g.op1("Add", [sum(g.op1("Mul", [d, d])), reg]), "loss");
 *
 * const r = await odeGradient({
 *   dynamics: asDynamics(f.build()),
 *   params: { a: fromNumbers([0.5], [1], "float64") },
 *   z0: fromNumbers([1], [1, 1], "float64"),
 *   times: [0, 1],
 *   loss: graphLoss(g.build(), { inputs: { y: fromNumbers([2], [1, 1], "float64") } }),
 * }, { method: direct(), rtol: 1e-10, atol: 1e-10 });
 * const e = Math.exp(0.5); // z(1) = e^{a}: dL/dz0 = 2(e − 2)·e + 0.2·(1 + e²)
 * const exact = 2 * (e - 2) * e + 0.2 * (1 + e * e);
 * if (Math.abs(r.dz0[0]! - exact) > 1e-7) throw new Error(`dL/dz0 ${r.dz0[0]}`);
 * ```
 *
 * Why one file: the four losses share the time selection, the head and feed
 * checks and the bound loss function; each is a few lines of plan on top.
 *
 * @module
 */
import {
  crossEntropyLossGraph,
  gaussianKlLossGraph,
  type HeadSpec,
  type LossGraph,
  mseLossGraph,
} from "../autodiff/losses.ts";
import { vjpGraph } from "../autodiff/vjp.ts";
import type { Params } from "../models/dynamics.ts";
import { type DType, isFloat } from "../onnx/dtype.ts";
import { GraphBuilder } from "../onnx/builder.ts";
import { GraphError } from "../onnx/errors.ts";
import { formatShape, type Graph, type ValueInfo } from "../onnx/graph.ts";
import { readModel } from "../onnx/proto.ts";
import { sizeOf, type Tensor } from "../onnx/tensor.ts";
import { type FloatDType, toFloat64, toTensor } from "../runtime/bound_graph.ts";
import type { DerivedLoss, LossBinding, LossFunction } from "./problem.ts";

/**
 * The option every loss shares: which measurement times it reads.
 *
 * @example The last two of the measurement times
 * ```ts
 * import type { LossAtOptions } from "../../mod.ts";
 * const last: LossAtOptions = { at: [-2, -1] };
 * if (last.at!.length !== 2) throw new Error("two times");
 * ```
 */
export interface LossAtOptions {
  /**
   * Indices into `times` of the states the loss reads, in the order they are
   * stacked (the loss's leading axis K); negative ones count from the end, −1
   * being the last time. No index twice. @default every time, t₀ included
   */
  readonly at?: readonly number[];
}

/**
 * A model applied to every state the loss reads before the loss: a
 * classifier or decoder graph with its parameter values, which are
 * differentiated too (dL/dφ in `dlossParams`).
 *
 * The head sees the chosen states as rows: its input is `[rows, ...stateShape]`
 * with rows = K·batch (row i·batch + b holds sample b at time `at[i]`), so
 * declare its first dim symbolic; its output is `[rows, features]`.
 *
 * @example A linear classifier head, y = z Wᵀ
 * ```ts
 * import { fromNumbers, GraphBuilder, type LossHead } from "../../mod.ts";
 * const h = new GraphBuilder("head");
 * const z = h.input("z", "float64", ["rows", 2]);
 * const w = h.input("w", "float64", [3, 2]);
 * h.output(h.op1("MatMul", [z, h.op1("Transpose", [w])]), "logits");
 * const head: LossHead = { graph: h.build(), params: { w: fromNumbers([1, 0, 0, 1, 1, 1], [3, 2], "float64") } };
 * if (head.graph.outputs[0]!.shape[1] !== 3) throw new Error("three classes");
 * ```
 */
export interface LossHead {
  /** The head's graph: input `[rows, ...stateShape]`, output `[rows, features]`. */
  readonly graph: Graph;
  /** Input fed with the states. @default the first input */
  readonly input?: string;
  /** Output giving the predictions. @default the first output */
  readonly output?: string;
  /** Values of the head's other inputs (every one must be given); each gets a gradient. @default {} */
  readonly params?: Params;
}

/**
 * Options of {@linkcode mseLoss}.
 *
 * @example Targets at the last time, one sample masked out
 * ```ts
 * import { fromNumbers, type MseLossOptions } from "../../mod.ts";
 * const options: MseLossOptions = {
 *   targets: fromNumbers([1, 2], [1, 2, 1], "float64"),
 *   mask: fromNumbers([1, 0], [1, 2], "float64"),
 *   at: [-1],
 * };
 * if (options.targets.dims[1] !== 2) throw new Error("batch 2");
 * ```
 */
export interface MseLossOptions extends LossAtOptions {
  /** The targets, `[K, batch, ...stateShape]` (with a head `[K, batch, features]`); converted to the model dtype. */
  readonly targets: Tensor;
  /**
   * `[K, batch]`, 1 where sample b is observed at time `at[k]`, 0 where not:
   * the mean then runs over observed entries only. @default every entry observed
   */
  readonly mask?: Tensor;
  /** A head applied to the states first. */
  readonly head?: LossHead;
}

/**
 * Options of {@linkcode crossEntropyLoss}.
 *
 * @example Class indices at the last time
 * ```ts
 * import { type CrossEntropyLossOptions, int64 } from "../../mod.ts";
 * const options: CrossEntropyLossOptions = { labels: int64([0, 2], [1, 2]), at: [-1] };
 * if (options.labels.dtype !== "int64") throw new Error("indices");
 * ```
 */
export interface CrossEntropyLossOptions extends LossAtOptions {
  /**
   * int64 class indices `[K, batch]`, or float class probabilities (one-hot
   * or any distribution) `[K, batch, C]`.
   */
  readonly labels: Tensor;
  /** `[K, batch]`, 1 where observed: the mean then runs over observed samples only. @default all observed */
  readonly mask?: Tensor;
  /** A head giving the logits `[rows, C]`; without one the state is the logits (state shape `[C]`). */
  readonly head?: LossHead;
}

/**
 * Options of {@linkcode gaussianKlLoss}.
 *
 * @example Standard normal targets at two times, for a one-component state
 * ```ts
 * import { fromNumbers, type GaussianKlLossOptions } from "../../mod.ts";
 * const options: GaussianKlLossOptions = {
 *   mean: fromNumbers([0, 0], [2, 1], "float64"),
 *   variance: fromNumbers([1, 1], [2, 1], "float64"),
 *   at: [1, 2],
 * };
 * if (options.mean.dims[0] !== 2) throw new Error("two times");
 * ```
 */
export interface GaussianKlLossOptions extends LossAtOptions {
  /** Target means, `[K, m]` (m = the elements of one state). */
  readonly mean: Tensor;
  /** Target variances, `[K, m]`, positive. */
  readonly variance: Tensor;
}

/**
 * Options of {@linkcode graphLoss}.
 *
 * @example A target fed, a scale differentiated
 * ```ts
 * import { fromNumbers, type GraphLossOptions } from "../../mod.ts";
 * const options: GraphLossOptions = {
 *   inputs: { y: fromNumbers([2], [1, 1], "float64") },
 *   params: { scale: fromNumbers([1], [1], "float64") },
 *   at: [-1],
 * };
 * if (!options.inputs!.y) throw new Error("target");
 * ```
 */
export interface GraphLossOptions extends LossAtOptions {
  /** Values of graph inputs that are fed but not differentiated (targets, masks). @default {} */
  readonly inputs?: Readonly<Record<string, Tensor>>;
  /** Values of graph inputs that are differentiated: dL/dφ comes back in `dlossParams`. @default {} */
  readonly params?: Params;
}

/**
 * Mean squared error of the states (or a head's predictions) against
 * targets: mean((z − y)²) over every entry, or with a mask
 * Σ mask·Σ_c (z − y)² / (Σ mask · C) over observed samples only. The graph is
 * {@linkcode mseLossGraph}.
 *
 * @throws {TypeError} for unknown options or a non-integer `at`; when bound
 * (by {@linkcode odeGradient}), for targets or a mask whose shape does not fit
 * the states, naming both shapes.
 *
 * @example Two samples, observed at t₁ and t₂, the second sample masked out at t₂
 * ```ts
 * import { fromNumbers, mseLoss, Runtime } from "../../mod.ts";
 * const loss = mseLoss({
 *   targets: fromNumbers([0, 0, 1, 1], [2, 2, 1], "float64"),
 *   mask: fromNumbers([1, 1, 1, 0], [2, 2], "float64"),
 *   at: [1, 2],
 * });
 * const fn = await loss.bind({ runtime: new Runtime(), dtype: "float64", zDims: [2, 1], times: 3 });
 * const { value, cotangents } = await fn([Float64Array.of(9, 9), Float64Array.of(1, 2), Float64Array.of(3, 9)]);
 * // (1² + 2² + (3 − 1)²) / 3 observed entries
 * if (value !== 3 || cotangents[0] !== null || cotangents[2]![1] !== 0) throw new Error(`mse ${value}`);
 * ```
 */
export function mseLoss(options: MseLossOptions): DerivedLoss {
  const name = "mseLoss";
  checkKeys(options, ["targets", "mask", "head", "at"], name);
  checkAtIntegers(options.at, name);
  const { targets, mask, head } = options;
  return {
    name,
    bind: async (binding) => {
      const s = resolveStates(binding, options.at, name);
      const { K, batch, dtype } = s;
      if (!head) {
        checkDims(targets, [K, batch, ...s.stateShape], "targets", name, s.describe);
        const lg = cached(
          `mse|${dtype}|${s.m}|${!!mask}`,
          undefined,
          () => mseLossGraph({ shape: ["times", "batch", s.m], dtype, mask: !!mask }),
        );
        return await run(binding, s.at, name, {
          graph: lg.graph,
          state: "pred",
          stateDims: [K, batch, s.m],
          feeds: {
            target: floatFeed(targets, [K, batch, s.m], dtype, "targets", name),
            ...maskFeed(mask, [K, batch], dtype, name, s.describe),
          },
          loss: lg.outputs.loss,
          stateGrad: lg.outputs.grads.pred!,
          paramGrads: {},
        });
      }
      const h = checkHead(head, s, name);
      checkDims(targets, [K, batch, h.features], "targets", name, `${s.describe}, with ${h.features} head outputs`);
      const lg = cached(
        `mse|${dtype}|${h.key}|${!!mask}`,
        head.graph,
        () => mseLossGraph({ shape: h.outputShape, dtype, head: h.spec, mask: !!mask }),
      );
      return await run(binding, s.at, name, {
        ...h.plan(lg),
        feeds: {
          ...h.feeds,
          target: floatFeed(targets, [K * batch, h.features], dtype, "targets", name),
          ...maskFeed(mask, [K, batch], dtype, name, s.describe, [K * batch]),
        },
      });
    },
  };
}

/**
 * Cross-entropy of softmax(logits) against labels, averaged over the chosen
 * times and the batch (over observed samples with a mask): the logits are the
 * states (state shape `[C]`) or a head's output. The graph is
 * {@linkcode crossEntropyLossGraph}.
 *
 * @throws {TypeError} for unknown options, labels or a mask whose shape does
 * not fit, or a state that is not `[C]` without a head; {@linkcode RangeError}
 * for an index label outside 0 … C − 1 (when bound).
 *
 * @example Uniform logits over 4 classes cost log 4
 * ```ts
 * import { crossEntropyLoss, int64, Runtime } from "../../mod.ts";
 * const loss = crossEntropyLoss({ labels: int64([3], [1, 1]), at: [-1] });
 * const fn = await loss.bind({ runtime: new Runtime(), dtype: "float64", zDims: [1, 4], times: 2 });
 * const { value, cotangents } = await fn([new Float64Array(4), new Float64Array(4)]);
 * // ∂L/∂logits = softmax − onehot
 * if (Math.abs(value! - Math.log(4)) > 1e-15 || cotangents[1]![3] !== 0.25 - 1) throw new Error("log 4");
 * ```
 */
export function crossEntropyLoss(options: CrossEntropyLossOptions): DerivedLoss {
  const name = "crossEntropyLoss";
  checkKeys(options, ["labels", "mask", "head", "at"], name);
  checkAtIntegers(options.at, name);
  const { labels, mask, head } = options;
  const targets = labels.dtype === "int64" ? "index" : "onehot";
  if (targets === "onehot" && !isFloat(labels.dtype)) {
    throw new TypeError(`${name}: labels must be int64 class indices or float probabilities, got ${labels.dtype}`);
  }
  return {
    name,
    bind: async (binding) => {
      const s = resolveStates(binding, options.at, name);
      const { K, batch, dtype } = s;
      const h = head ? checkHead(head, s, name) : undefined;
      if (!h && s.stateShape.length !== 1) {
        throw new TypeError(
          `${name}: without a head the state is the logits and must have shape [C], got ${
            formatShape(s.stateShape)
          }; give a head that maps the state to [rows, C]`,
        );
      }
      const C = h ? h.features : s.stateShape[0]!;
      const rows = h ? [K * batch] : [K, batch];
      const given = targets === "index" ? [K, batch] : [K, batch, C];
      checkDims(labels, given, "labels", name, `${s.describe}, with ${C} classes`);
      const fed = targets === "index" ? rows : [...rows, C];
      let target: Tensor;
      if (targets === "index") {
        const bad = (labels.data as BigInt64Array).findIndex((v) => v < 0n || v >= BigInt(C));
        if (bad >= 0) {
          throw new RangeError(
            `${name}: labels[${bad}] = ${(labels.data as BigInt64Array)[bad]} is not a class index 0 … ${C - 1}`,
          );
        }
        target = { dtype: "int64", dims: fed, data: labels.data };
      } else {
        target = floatFeed(labels, fed, dtype, "labels", name);
      }
      const feeds = { target, ...maskFeed(mask, [K, batch], dtype, name, s.describe, rows) };
      if (!h) {
        const lg = cached(
          `ce|${dtype}|${C}|${targets}|${!!mask}`,
          undefined,
          () => crossEntropyLossGraph({ classes: C, leading: ["times", "batch"], targets, dtype, mask: !!mask }),
        );
        return await run(binding, s.at, name, {
          graph: lg.graph,
          state: "pred",
          stateDims: [K, batch, C],
          feeds,
          loss: lg.outputs.loss,
          stateGrad: lg.outputs.grads.pred!,
          paramGrads: {},
        });
      }
      const lg = cached(
        `ce|${dtype}|${h.key}|${targets}|${!!mask}`,
        head!.graph,
        () => crossEntropyLossGraph({ classes: C, targets, dtype, head: h.spec, mask: !!mask }),
      );
      return await run(binding, s.at, name, { ...h.plan(lg), feeds: { ...h.feeds, ...feeds } });
    },
  };
}

/**
 * KL(N(mean, variance) ‖ N(m, v)) between target Gaussians and the Gaussian
 * the batch's states span (m, v their population mean and variance over the
 * batch, per component): ½[log(v/variance) + (variance + (mean − m)²)/v − 1],
 * summed over the components of a state and averaged over the chosen times.
 * The batch is the sample; it needs two samples or more, and states that
 * differ at every chosen time (leave out t₀ when every sample starts at one
 * point). The graph is {@linkcode gaussianKlLossGraph}.
 *
 * @throws {TypeError} for unknown options or moments whose shape does not
 * fit; {@linkcode RangeError} for a batch of one or a non-positive variance
 * (when bound).
 *
 * @example States that match the target moments cost nothing
 * ```ts
 * import { fromNumbers, gaussianKlLoss, Runtime } from "../../mod.ts";
 * const loss = gaussianKlLoss({
 *   mean: fromNumbers([2], [1, 1], "float64"),
 *   variance: fromNumbers([1], [1, 1], "float64"),
 *   at: [-1],
 * });
 * const fn = await loss.bind({ runtime: new Runtime(), dtype: "float64", zDims: [2, 1], times: 2 });
 * const { value } = await fn([Float64Array.of(0, 0), Float64Array.of(1, 3)]); // mean 2, variance 1
 * if (Math.abs(value!) > 1e-15) throw new Error(`KL ${value}`);
 * ```
 */
export function gaussianKlLoss(options: GaussianKlLossOptions): DerivedLoss {
  const name = "gaussianKlLoss";
  checkKeys(options, ["mean", "variance", "at"], name);
  checkAtIntegers(options.at, name);
  return {
    name,
    bind: async (binding) => {
      const s = resolveStates(binding, options.at, name);
      const { K, batch, dtype, m } = s;
      if (batch < 2) throw new RangeError(`${name}: the batch is the sample and needs at least 2 states, got ${batch}`);
      const what = `${s.describe}, m = ${m} components`;
      checkDims(options.mean, [K, m], "mean", name, what);
      checkDims(options.variance, [K, m], "variance", name, what);
      const variance = floatFeed(options.variance, [K, m], dtype, "variance", name);
      const bad = Array.from(variance.data as Float64Array | Float32Array).findIndex((v) => !(v > 0));
      if (bad >= 0) throw new RangeError(`${name}: variance[${bad}] must be positive, got ${variance.data[bad]}`);
      const lg = cached(
        `kl|${dtype}|${m}`,
        undefined,
        () => gaussianKlLossGraph({ times: "times", dim: m, input: "samples", paths: "batch", dtype }),
      );
      return await run(binding, s.at, name, {
        graph: lg.graph,
        state: "samples",
        stateDims: [K, batch, m],
        feeds: { target_mean: floatFeed(options.mean, [K, m], dtype, "mean", name), target_var: variance },
        loss: lg.outputs.loss,
        stateGrad: lg.outputs.grads.samples!,
        paramGrads: {},
      });
    },
  };
}

/**
 * A user's loss graph, differentiated by quadjoint: `source` is a `Graph` or
 * the path of an `.onnx` file (read once, by `readModel`, at the first bind).
 *
 * The contract (checked when bound, before any solving): an input `z`
 * `[K, batch, ...stateShape]` in the dynamics' dtype, the states at the
 * chosen times stacked time-major (dims may be symbolic); every other input
 * given in `inputs` (fed) or `params` (fed and differentiated); a scalar
 * output `loss` (shape `[]` or `[1]`) in the same dtype. Cotangents come from
 * `vjpGraph(graph, { of: ["loss"], wrt: ["z", ...params] })`.
 *
 * @throws {TypeError} for unknown options, or an input named in both
 * `inputs` and `params`; when bound, a `GraphError` naming the graph and
 * value for a missing `z` or `loss`, a non-scalar loss, a dtype or shape that
 * does not fit the states or the feeds (both shapes shown), an input nobody
 * feeds, or an op without a VJP rule.
 *
 * @example L = Σ_k Σ (z_k − y_k)², with y fed
 * ```ts
 * import { attr, fromNumbers, graphLoss, GraphBuilder, Runtime } from "../../mod.ts";
 * const g = new GraphBuilder("sse");
 * const d = g.op1("Sub", [g.input("z", "float64", ["times", "batch", 1]), g.input("y", "float64", ["times", "batch", 1])]);
 * g.output(g.op1("ReduceSum", [g.op1("Mul", [d, d])], { keepdims: attr.int(0) }), "loss");
 * const loss = graphLoss(g.build(), { inputs: { y: fromNumbers([1, 1], [2, 1, 1], "float64") } });
 * const fn = await loss.bind({ runtime: new Runtime(), dtype: "float64", zDims: [1, 1], times: 2 });
 * const { value, cotangents } = await fn([Float64Array.of(1), Float64Array.of(4)]);
 * if (value !== 9 || cotangents[0]![0] !== 0 || cotangents[1]![0] !== 6) throw new Error(`sse ${value}`);
 * ```
 */
export function graphLoss(source: Graph | string, options: GraphLossOptions = {}): DerivedLoss {
  checkKeys(options, ["inputs", "params", "at"], "graphLoss");
  const name = `graphLoss(${typeof source === "string" ? source : source.name})`;
  checkAtIntegers(options.at, name);
  const inputs = options.inputs ?? {};
  const params = options.params ?? {};
  const both = Object.keys(inputs).find((k) => Object.hasOwn(params, k));
  if (both !== undefined) throw new TypeError(`${name}: "${both}" is given in both inputs and params; give it once`);
  let loaded: Promise<Graph> | undefined;
  const load = () => (loaded ??= typeof source === "string" ? readModel(source) : Promise.resolve(source));
  return {
    name,
    bind: async (binding) => {
      const graph = await load();
      const s = resolveStates(binding, options.at, name);
      const place = (valueName: string) => ({ graph: graph.name, valueName });
      const z = graph.inputs.find((v) => v.name === STATE_INPUT);
      if (!z) {
        throw new GraphError(
          `A loss graph needs an input "${STATE_INPUT}" (the states, ${s.describe}); its inputs are ${
            list(graph.inputs)
          }`,
          place(STATE_INPUT),
        );
      }
      const out = graph.outputs.find((v) => v.name === LOSS_OUTPUT);
      if (!out) {
        throw new GraphError(
          `A loss graph needs an output "${LOSS_OUTPUT}" (the scalar loss); its outputs are ${list(graph.outputs)}`,
          place(LOSS_OUTPUT),
        );
      }
      if (!out.shape.every((d) => d === 1)) {
        throw new GraphError(
          `Output "${LOSS_OUTPUT}" must be a scalar (shape [] or [1]), got ${out.dtype}${formatShape(out.shape)}`,
          place(LOSS_OUTPUT),
        );
      }
      if (out.dtype !== s.dtype) {
        throw new GraphError(
          `Output "${LOSS_OUTPUT}" is ${out.dtype}, the states are ${s.dtype} (the dynamics' dtype): build the loss in ${s.dtype}`,
          place(LOSS_OUTPUT),
        );
      }
      const symbols = new Map<string, [number, string]>();
      checkInput(graph, z, s.dtype, s.stackedDims, s.label, symbols);
      const feeds: Record<string, Tensor> = {};
      for (const [key, given] of [["inputs", inputs], ["params", params]] as const) {
        for (const [n, t] of Object.entries(given)) {
          const input = graph.inputs.find((v) => v.name === n);
          if (!input || n === STATE_INPUT) {
            throw new GraphError(
              `${key}.${n} is not an input of the loss graph besides "${STATE_INPUT}"; its inputs are ${
                list(graph.inputs)
              }`,
              place(n),
            );
          }
          if (key === "params" && !isFloat(input.dtype)) {
            throw new GraphError(
              `params.${n}: input "${n}" is ${input.dtype}; only float inputs have gradients`,
              place(n),
            );
          }
          const fed = isFloat(t.dtype) && isFloat(input.dtype) ? toTensor(toFloat64(t), t.dims, input.dtype) : t;
          checkInput(graph, input, fed.dtype, fed.dims, `${key}.${n}`, symbols);
          feeds[n] = fed;
        }
      }
      const unfed = graph.inputs.filter((v) => v.name !== STATE_INPUT && !feeds[v.name]);
      if (unfed.length > 0) {
        throw new GraphError(
          `Nothing feeds input${unfed.length > 1 ? "s" : ""} ${
            unfed.map((v) => `"${v.name}" ${v.dtype}${formatShape(v.shape)}`).join(", ")
          }: give ${unfed.length > 1 ? "them" : "it"} in inputs (fed) or params (differentiated)`,
          place(unfed[0]!.name),
        );
      }
      const wrt = [STATE_INPUT, ...Object.keys(params)];
      const fedDims = new Map([
        [STATE_INPUT, s.stackedDims],
        ...Object.entries(feeds).map(([n, t]) => [n, t.dims] as const),
      ]);
      const derived = derivedGraph(graph, wrt, fedDims);
      const seed = derived.inputs.find((v) => v.name === `grad_${LOSS_OUTPUT}`)!;
      feeds[seed.name] = toTensor(Float64Array.of(1), seed.shape as number[], s.dtype);
      return await run(binding, s.at, name, {
        graph: derived,
        state: STATE_INPUT,
        stateDims: s.stackedDims,
        feeds,
        loss: LOSS_OUTPUT,
        stateGrad: `grad_${STATE_INPUT}`,
        paramGrads: Object.fromEntries(Object.keys(params).map((p) => [p, `grad_${p}`])),
      });
    },
  };
}

/** The name of a loss graph's stacked-states input. */
const STATE_INPUT = "z";
/** The name of a loss graph's scalar output. */
const LOSS_OUTPUT = "loss";

/** A loss graph ready to run: what every loss reduces to when bound. */
interface Plan {
  /** The differentiated graph. */
  readonly graph: Graph;
  /** The input fed with the stacked states. */
  readonly state: string;
  /** The dims the stacked states are fed with. */
  readonly stateDims: readonly number[];
  /** Every other input. */
  readonly feeds: Readonly<Record<string, Tensor>>;
  /** Output names: the loss, ∂L/∂(stacked states), dL/dφ per parameter. */
  readonly loss: string;
  readonly stateGrad: string;
  readonly paramGrads: Readonly<Record<string, string>>;
}

/** The states a loss reads, resolved against a binding. */
interface States {
  readonly dtype: FloatDType;
  /** Chosen time indices, non-negative. */
  readonly at: readonly number[];
  readonly K: number;
  readonly batch: number;
  readonly stateShape: readonly number[];
  /** Elements of one state. */
  readonly m: number;
  /** `[K, batch, ...stateShape]`. */
  readonly stackedDims: readonly number[];
  /** For messages: "the states at K times of batch B, state [..]". */
  readonly label: string;
  /** For messages: the label with the stacked type, "…: dtype[K, B, ...]". */
  readonly describe: string;
}

function resolveStates(binding: LossBinding, atOption: readonly number[] | undefined, name: string): States {
  const { zDims, times, dtype } = binding;
  const at = atOption === undefined ? [...Array(times).keys()] : atOption.map((k, i) => {
    if (k < -times || k >= times) {
      throw new RangeError(
        `${name}: at[${i}] = ${k} is not an index into ${times} measurement times (use 0 … ${
          times - 1
        }, or −1 … −${times} from the end)`,
      );
    }
    return k < 0 ? k + times : k;
  });
  const twice = at.find((k, i) => at.indexOf(k) !== i);
  if (twice !== undefined) throw new RangeError(`${name}: at names measurement time ${twice} twice`);
  const [batch, ...stateShape] = zDims;
  const stackedDims = [at.length, batch!, ...stateShape];
  const label = `the states at ${at.length} time${at.length > 1 ? "s" : ""} of batch ${batch}, state ${
    formatShape(stateShape)
  }`;
  return {
    dtype,
    at,
    K: at.length,
    batch: batch!,
    stateShape,
    m: sizeOf(stateShape),
    stackedDims,
    label,
    describe: `${label}: ${dtype}${formatShape(stackedDims)}`,
  };
}

/** Compiles the plan and returns the loss function: stack the chosen states, one run, split ∂L/∂z per time. */
async function run(binding: LossBinding, at: readonly number[], name: string, plan: Plan): Promise<LossFunction> {
  const compiled = await binding.runtime.compile(plan.graph);
  const n = sizeOf(binding.zDims);
  const params = Object.entries(plan.paramGrads);
  const outputs = [plan.loss, plan.stateGrad, ...params.map(([, o]) => o)];
  return async (states) => {
    if (states.length !== binding.times) {
      throw new RangeError(`${name}: got ${states.length} states, bound to ${binding.times} measurement times`);
    }
    const stacked = new Float64Array(at.length * n);
    at.forEach((k, i) => {
      const z = states[k]!;
      if (z.length !== n) throw new RangeError(`${name}: state ${k} has ${z.length} elements, z has ${n}`);
      stacked.set(z, i * n);
    });
    const feeds = { ...plan.feeds, [plan.state]: toTensor(stacked, plan.stateDims, binding.dtype) };
    const out = await compiled.run(feeds, outputs);
    const g = toFloat64(out[plan.stateGrad]!);
    const cotangents: (Float64Array | null)[] = states.map(() => null);
    at.forEach((k, i) => (cotangents[k] = g.slice(i * n, (i + 1) * n)));
    const value = toFloat64(out[plan.loss]!)[0]!;
    if (params.length === 0) return { value, cotangents };
    const dlossParams = Object.fromEntries(params.map(([p, o]) => [p, out[o]!.data as Float32Array | Float64Array]));
    return { value, cotangents, dlossParams };
  };
}

/** A head checked against the states, with what its loss graph needs. */
interface CheckedHead {
  readonly spec: HeadSpec;
  /** Cache key of the head's role in a loss graph (its input, output and parameters). */
  readonly key: string;
  readonly outputShape: readonly (number | string)[];
  /** The size of the output's last axis. */
  readonly features: number;
  /** The head's parameters in its dtype. */
  readonly feeds: Readonly<Record<string, Tensor>>;
  /** The plan's graph, state and gradient names for a loss graph built with `spec`. */
  plan(lg: LossGraph): Omit<Plan, "feeds">;
}

function checkHead(head: LossHead, s: States, name: string): CheckedHead {
  checkKeys(head, ["graph", "input", "output", "params"], `${name} head`);
  const g = head.graph;
  const place = (valueName?: string) => ({ graph: g.name, ...(valueName ? { valueName } : {}) });
  const inputName = head.input ?? g.inputs[0]?.name;
  const input = g.inputs.find((v) => v.name === inputName);
  if (!input) {
    throw new GraphError(
      `${name}: head input "${inputName}" is not an input; its inputs are ${list(g.inputs)}`,
      place(),
    );
  }
  const outputName = head.output ?? g.outputs[0]?.name;
  const output = g.outputs.find((v) => v.name === outputName);
  if (!output) {
    throw new GraphError(
      `${name}: head output "${outputName}" is not an output; its outputs are ${list(g.outputs)}`,
      place(),
    );
  }
  const rows = s.K * s.batch;
  const symbols = new Map<string, [number, string]>();
  checkInput(
    g,
    input,
    s.dtype,
    [rows, ...s.stateShape],
    `the states as rows (${s.K} time${s.K > 1 ? "s" : ""} × batch ${s.batch}, state ${formatShape(s.stateShape)})`,
    symbols,
  );
  const features = output.shape[1];
  if (output.shape.length !== 2 || typeof features !== "number") {
    throw new GraphError(
      `${name}: head output "${output.name}" must be [rows, features] with a concrete features dim, got ${
        formatShape(output.shape)
      }`,
      place(output.name),
    );
  }
  if (output.dtype !== s.dtype) {
    throw new GraphError(
      `${name}: head output "${output.name}" is ${output.dtype}, the states are ${s.dtype}`,
      place(output.name),
    );
  }
  const params = head.params ?? {};
  const feeds: Record<string, Tensor> = {};
  for (const [n, t] of Object.entries(params)) {
    const v = g.inputs.find((i) => i.name === n);
    if (!v || n === input.name) {
      throw new GraphError(
        `${name}: head params.${n} is not a parameter input of the head; its inputs are ${list(g.inputs)}`,
        place(n),
      );
    }
    if (!isFloat(v.dtype) || !isFloat(t.dtype)) {
      throw new GraphError(`${name}: head params.${n} must be float, got ${t.dtype} for a ${v.dtype} input`, place(n));
    }
    const fed = toTensor(toFloat64(t), t.dims, v.dtype);
    checkInput(g, v, fed.dtype, fed.dims, `head params.${n}`, symbols);
    feeds[n] = fed;
  }
  const unfed = g.inputs.filter((v) => v.name !== input.name && !feeds[v.name]);
  if (unfed.length > 0) {
    throw new GraphError(
      `${name}: nothing feeds head input${unfed.length > 1 ? "s" : ""} ${
        unfed.map((v) => `"${v.name}"`).join(", ")
      }: give ${unfed.length > 1 ? "their values" : "its value"} in head.params`,
      place(unfed[0]!.name),
    );
  }
  const names = Object.keys(params);
  return {
    spec: { graph: g, input: input.name, output: output.name, params: names },
    key: JSON.stringify([input.name, output.name, names]),
    outputShape: output.shape,
    features,
    feeds,
    plan: (lg) => ({
      graph: lg.graph,
      state: input.name,
      stateDims: [rows, ...s.stateShape],
      loss: lg.outputs.loss,
      stateGrad: lg.outputs.grads[input.name]!,
      paramGrads: Object.fromEntries(names.map((p) => [p, lg.outputs.grads[p]!])),
    }),
  };
}

/** Checks a feed's dtype and dims against a graph input, binding its symbolic dims in `symbols`. */
function checkInput(
  graph: Graph,
  input: ValueInfo,
  dtype: DType,
  dims: readonly number[],
  what: string,
  symbols: Map<string, [number, string]>,
): void {
  const bad = (why = "") =>
    new GraphError(
      `Input "${input.name}" is declared ${input.dtype}${formatShape(input.shape)}, but it is fed ${what}: ${dtype}${
        formatShape(dims)
      }${why}`,
      { graph: graph.name, valueName: input.name },
    );
  if (dtype !== input.dtype || dims.length !== input.shape.length) throw bad();
  input.shape.forEach((d, i) => {
    const n = dims[i]!;
    if (typeof d === "number") {
      if (d !== n) throw bad();
      return;
    }
    const prev = symbols.get(d);
    if (prev && prev[0] !== n) throw bad(` (${d} = ${prev[0]} from "${prev[1]}")`);
    symbols.set(d, [n, input.name]);
  });
}

/** Checks a caller's tensor has exactly `dims`. */
function checkDims(t: Tensor, dims: readonly number[], what: string, name: string, context: string): void {
  if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
    throw new TypeError(
      `${name}: ${what} must have shape ${formatShape(dims)} for ${context}, got ${formatShape(t.dims)}`,
    );
  }
}

/** A float tensor in the model dtype with new dims (same element count, row-major). */
function floatFeed(t: Tensor, dims: readonly number[], dtype: FloatDType, what: string, name: string): Tensor {
  if (!isFloat(t.dtype)) throw new TypeError(`${name}: ${what} must be float32 or float64, got ${t.dtype}`);
  return toTensor(toFloat64(t), dims, dtype);
}

/** The `mask` feed, if any: given as `[K, batch]`, fed with `fedDims`. */
function maskFeed(
  mask: Tensor | undefined,
  dims: readonly number[],
  dtype: FloatDType,
  name: string,
  context: string,
  fedDims: readonly number[] = dims,
): { mask?: Tensor } {
  if (!mask) return {};
  checkDims(mask, dims, "mask", name, context);
  return { mask: floatFeed(mask, fedDims, dtype, "mask", name) };
}

/** Built-in loss graphs by kind, dtype and shape; with a head, per head graph. */
const BUILT_IN = new Map<string, LossGraph>();
const WITH_HEAD = new WeakMap<Graph, Map<string, LossGraph>>();

function cached(key: string, head: Graph | undefined, make: () => LossGraph): LossGraph {
  let table = BUILT_IN;
  if (head) {
    table = WITH_HEAD.get(head) ?? new Map();
    WITH_HEAD.set(head, table);
  }
  let lg = table.get(key);
  if (!lg) table.set(key, lg = make());
  return lg;
}

/** User loss graphs specialised and differentiated, per graph, differentiated inputs and input dims. */
const DERIVED = new WeakMap<Graph, Map<string, Graph>>();

/**
 * The VJP graph of a user's loss graph with every input given the dims it is
 * fed with: symbolic dims become sizes before differentiating, so rules that
 * need a concrete dim (Gather on the time axis, say) apply. One graph, and so
 * one session per runtime, per distinct set of dims.
 */
function derivedGraph(graph: Graph, wrt: readonly string[], dims: ReadonlyMap<string, readonly number[]>): Graph {
  const table = DERIVED.get(graph) ?? new Map<string, Graph>();
  DERIVED.set(graph, table);
  const key = JSON.stringify([wrt, graph.inputs.map((v) => dims.get(v.name) ?? v.shape)]);
  let g = table.get(key);
  if (!g) {
    const concrete = { ...graph, inputs: graph.inputs.map((v) => ({ ...v, shape: dims.get(v.name) ?? v.shape })) };
    table.set(key, g = vjpGraph(GraphBuilder.from(concrete).build(), { of: [LOSS_OUTPUT], wrt }));
  }
  return g;
}

function checkKeys(options: object, known: readonly string[], name: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(`Unknown option "${key}" for ${name}; known options are ${known.join(", ")}`);
    }
  }
}

function checkAtIntegers(at: readonly number[] | undefined, name: string): void {
  if (at === undefined) return;
  if (!Array.isArray(at) || at.length === 0) {
    throw new TypeError(`${name}: at must list at least one index into times, got ${JSON.stringify(at)}`);
  }
  at.forEach((k, i) => {
    if (!Number.isInteger(k)) throw new TypeError(`${name}: at[${i}] must be an integer index into times, got ${k}`);
  });
}

function list(values: readonly ValueInfo[]): string {
  return values.length ? values.map((v) => v.name).join(", ") : "(none)";
}
