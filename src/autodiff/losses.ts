/**
 * Loss graphs that output the loss and its gradients in one graph, and VJP
 * graphs of encoders and heads.
 *
 * Each loss graph has inputs for the predictions (or, with a `head`, the head's
 * input and parameters) and the targets, and outputs `loss` (a scalar), `pred`
 * (the head's predictions, with a head) and `grad_<x>` for every differentiated input. The loss's
 * own cotangent is the constant 1, so no cotangent input is needed. With
 * `mask: true`, MSE and cross-entropy also take a float input `mask` over the
 * predictions' leading dims and average over observed entries only.
 *
 * Why one file: the loss graphs share their head, mask and dtype handling; one per loss would copy it.
 *
 * @module
 */
import { GraphBuilder, type Value } from "../onnx/builder.ts";
import { isFloat } from "../onnx/dtype.ts";
import { GraphError } from "../onnx/errors.ts";
import { attr, type Dim, formatShape, type Graph, type Shape, typeOf } from "../onnx/graph.ts";
import { int64 } from "../onnx/tensor.ts";
import { castTo, reduceSum, scalar } from "./rule.ts";
import { finishVjp, vjpGraph } from "./vjp.ts";

/** Float element types of losses. */
export type LossDType = "float32" | "float64";

/** A loss graph and the names of its outputs. */
export interface LossGraph {
  /** The graph. */
  readonly graph: Graph;
  /** Output names: the loss, the predictions and one gradient per differentiated input. */
  readonly outputs: {
    readonly loss: string;
    /** The head's predictions; absent without a head (the predictions are then the `pred` input). */
    readonly pred?: string;
    readonly grads: Readonly<Record<string, string>>;
  };
}

/**
 * A model applied before the loss (a decoder or classifier head). Its
 * parameters are differentiated along with its input.
 */
export interface HeadSpec {
  /** The head's graph. */
  readonly graph: Graph;
  /** Input fed with the model state. @default the first input */
  readonly input?: string;
  /** Output that gives the predictions. @default the first output */
  readonly output?: string;
  /** Trainable parameters (inputs or initializers). @default every other float input */
  readonly params?: readonly string[];
}

interface LossStart {
  b: GraphBuilder;
  pred: Value;
  wrt: string[];
  /** Output the predictions (they come from a head). */
  head: boolean;
}

/** Starts a loss graph: either a `pred` input, or the head's nodes with `pred` its output. */
function start(name: string, dtype: LossDType, shape: Shape, head: HeadSpec | undefined): LossStart {
  if (!head) {
    const b = new GraphBuilder(name);
    return { b, pred: b.input("pred", dtype, shape), wrt: ["pred"], head: false };
  }
  const g = head.graph;
  const input = head.input ?? g.inputs[0]?.name;
  const output = head.output ?? g.outputs[0]?.name;
  if (!input || !g.inputs.some((v) => v.name === input)) {
    throw new GraphError(`Head input "${input}" is not an input of the head`, { graph: g.name });
  }
  if (!output || !g.outputs.some((v) => v.name === output)) {
    throw new GraphError(`Head output "${output}" is not an output of the head`, { graph: g.name });
  }
  const params = head.params ?? g.inputs.filter((v) => v.name !== input && isFloat(v.dtype)).map((v) => v.name);
  const b = GraphBuilder.from(g, { name, keepOutputs: false });
  const pred = b.value(output);
  if (pred.dtype !== dtype) {
    throw new GraphError(`Head output "${output}" is ${pred.dtype}, the loss is ${dtype}`, { graph: g.name });
  }
  return { b, pred, wrt: [input, ...params], head: true };
}

/** Outputs loss and pred, then appends the gradients of the loss with respect to `wrt`. */
function finish(s: LossStart, loss: Value): LossGraph {
  const { b, pred } = s;
  b.output(loss, "loss");
  const predOut = s.head ? b.output(pred, "pred") : undefined;
  const forward = b.build();
  const grads = new Map(s.wrt.map((w) => [w, `grad_${w}`]));
  for (const n of grads.values()) {
    if (typeOf(forward, n)) {
      throw new GraphError(`Cannot add "${n}": the graph already has it`, { graph: forward.name });
    }
  }
  const b2 = GraphBuilder.from(forward);
  b2.reserveNames([...grads.values()]);
  const seeds = new Map([["loss", scalar(b2, pred.dtype, 1)]]);
  return {
    graph: finishVjp(b2, forward, seeds, grads),
    outputs: { loss: "loss", ...(predOut ? { pred: predOut.name } : {}), grads: Object.fromEntries(grads) },
  };
}

function meanAll(b: GraphBuilder, x: Value): Value {
  return b.op1("ReduceMean", [x], { keepdims: attr.int(0) });
}

/**
 * The masked mean for `mask: true`: adds a float input `mask` over the
 * predictions' leading dims (all but the last), 1 where observed, and returns
 * Σ mask·perEntry / Σ mask, or / (Σ mask · C) with `perComponent` (C the
 * size of the last axis); a batch with nothing observed gives 0, not 0/0.
 * `perEntry` is already summed over the last axis.
 */
function maskedMean(s: LossStart, perEntry: Value, perComponent: boolean): Value {
  const { b, pred } = s;
  const mask = b.input("mask", pred.dtype, pred.shape.slice(0, -1));
  // A batch with nothing observed divides by 1: its loss (and gradients) are 0, not 0/0.
  const sum = b.op1("ReduceSum", [mask], { keepdims: attr.int(0) });
  const zero = scalar(b, pred.dtype, 0);
  const observed = b.op1("Where", [b.op1("Equal", [sum, zero]), scalar(b, pred.dtype, 1), sum]);
  const total = b.op1("ReduceSum", [b.op1("Mul", [perEntry, mask])], { keepdims: attr.int(0) });
  if (!perComponent) return b.op1("Div", [total, observed]);
  const last = pred.shape[pred.shape.length - 1]!;
  const c = typeof last === "number" ? scalar(b, pred.dtype, last) : castTo(
    b,
    b.op1("Gather", [b.op1("Shape", [pred]), b.constant(int64([-1], []))], { axis: attr.int(0) }),
    pred.dtype,
  );
  return b.op1("Div", [total, b.op1("Mul", [observed, c])]);
}

/** Options for {@linkcode mseLossGraph}. */
export interface MseOptions {
  /** Shape of predictions and targets (the head's output shape with a head); the last axis holds the components. */
  readonly shape: Shape;
  /** Element type. @default "float32" */
  readonly dtype?: LossDType;
  /** A head applied first. */
  readonly head?: HeadSpec;
  /**
   * Add a float input `mask` over the leading dims (all but the last), 1 where
   * observed: the loss is then Σ mask·Σ_c (pred − target)² / (Σ mask · C).
   * @default false
   */
  readonly mask?: boolean;
}

/**
 * Mean squared error over all elements, mean((pred − target)²), with its
 * gradients. Inputs `pred` (or the head's) and `target`, and `mask` with
 * `mask: true` (the mean is then over observed entries only).
 *
 * @example
 * ```ts
 * import { Runtime } from "../runtime/session.ts";
 * import { fromNumbers } from "../onnx/tensor.ts";
 * import { mseLossGraph } from "./losses.ts";
 * const { graph } = mseLossGraph({ shape: [2], dtype: "float64" });
 * const rt = new Runtime();
 * const out = await (await rt.compile(graph)).run({
 *   pred: fromNumbers([1, 3], [2], "float64"),
 *   target: fromNumbers([0, 0], [2], "float64"),
 * });
 * if (out.loss!.data[0] !== 5 || out.grad_pred!.data[1] !== 3) throw new Error("mse");
 * await rt.dispose();
 * ```
 *
 * @example A mask skips unobserved rows
 * ```ts
 * import { Runtime } from "../runtime/session.ts";
 * import { fromNumbers } from "../onnx/tensor.ts";
 * import { mseLossGraph } from "./losses.ts";
 * const { graph } = mseLossGraph({ shape: ["batch", 2], dtype: "float64", mask: true });
 * const rt = new Runtime();
 * const out = await (await rt.compile(graph)).run({
 *   pred: fromNumbers([1, 3, 100, 100], [2, 2], "float64"),
 *   target: fromNumbers([0, 0, 0, 0], [2, 2], "float64"),
 *   mask: fromNumbers([1, 0], [2], "float64"),
 * });
 * if (out.loss!.data[0] !== 5 || out.grad_pred!.data[2] !== 0) throw new Error("masked mse");
 * await rt.dispose();
 * ```
 */
export function mseLossGraph(options: MseOptions): LossGraph {
  const dtype = options.dtype ?? "float32";
  const s = start("mse_loss", dtype, options.shape, options.head);
  const target = s.b.input("target", dtype, s.pred.shape);
  const d = s.b.op1("Sub", [s.pred, target]);
  const sq = s.b.op1("Mul", [d, d]);
  if (!options.mask) return finish(s, meanAll(s.b, sq));
  if (s.pred.shape.length === 0) {
    throw new GraphError(`A masked MSE needs predictions with a last axis, got shape []`, { graph: s.b.name });
  }
  const perEntry = reduceSum(s.b, sq, [s.pred.shape.length - 1], false);
  return finish(s, maskedMean(s, perEntry, true));
}

/** Options for {@linkcode crossEntropyLossGraph}. */
export interface CrossEntropyOptions {
  /** Number of classes C; logits are `[batch, C]` (or `[...leading, C]`). */
  readonly classes: number;
  /**
   * `"index"`: int64 targets `[batch]`; `"onehot"`: float targets `[batch, C]` (any distribution). With
   * `leading`, `[...leading]` and `[...leading, C]`. @default "index"
   */
  readonly targets?: "index" | "onehot";
  /** Batch dim. @default "batch" */
  readonly batch?: Dim;
  /** Dims ahead of the class axis, e.g. `["times", "batch"]`; replaces `batch`. @default [batch] */
  readonly leading?: readonly Dim[];
  /** Element type. @default "float32" */
  readonly dtype?: LossDType;
  /** A head applied first (its output gives the logits). */
  readonly head?: HeadSpec;
  /**
   * Add a float input `mask` over the leading dims, 1 where observed: the loss
   * is then Σ mask·(−Σ_c target·logsoftmax(logits)) / Σ mask. @default false
   */
  readonly mask?: boolean;
}

/**
 * Cross-entropy from logits averaged over the batch (over all leading dims):
 * −mean_b Σ_c target[b, c]·logsoftmax(logits)[b, c]. Inputs `pred` (logits,
 * or the head's inputs) and `target`, and `mask` with `mask: true` (the mean
 * is then over observed entries only).
 *
 * @example Uniform logits cost log C
 * ```ts
 * import { Runtime } from "../runtime/session.ts";
 * import { fromNumbers, int64 } from "../onnx/tensor.ts";
 * import { crossEntropyLossGraph } from "./losses.ts";
 * const { graph } = crossEntropyLossGraph({ classes: 4, dtype: "float64" });
 * const rt = new Runtime();
 * const out = await (await rt.compile(graph)).run({
 *   pred: fromNumbers([0, 0, 0, 0], [1, 4], "float64"),
 *   target: int64([2]),
 * });
 * if (Math.abs(out.loss!.data[0] as number - Math.log(4)) > 1e-15) throw new Error("log 4");
 * await rt.dispose();
 * ```
 *
 * @example Over times and batch, with a mask
 * ```ts
 * import { Runtime } from "../runtime/session.ts";
 * import { fromNumbers, int64 } from "../onnx/tensor.ts";
 * import { crossEntropyLossGraph } from "./losses.ts";
 * const { graph } = crossEntropyLossGraph({ classes: 2, leading: ["times", "batch"], dtype: "float64", mask: true });
 * const rt = new Runtime();
 * const out = await (await rt.compile(graph)).run({
 *   pred: fromNumbers([0, 0, 5, -5], [2, 1, 2], "float64"),
 *   target: int64([0, 1], [2, 1]),
 *   mask: fromNumbers([1, 0], [2, 1], "float64"),
 * });
 * if (Math.abs(out.loss!.data[0] as number - Math.log(2)) > 1e-15) throw new Error("only the first is observed");
 * await rt.dispose();
 * ```
 */
export function crossEntropyLossGraph(options: CrossEntropyOptions): LossGraph {
  const dtype = options.dtype ?? "float32";
  const C = options.classes;
  if (!Number.isInteger(C) || C < 1) throw new RangeError(`classes must be a positive integer, got ${C}`);
  if (options.leading && options.batch !== undefined) {
    throw new TypeError(`Give either leading or batch, got leading [${options.leading}] and batch ${options.batch}`);
  }
  const leading = options.leading ?? [options.batch ?? "batch"];
  const s = start("cross_entropy_loss", dtype, [...leading, C], options.head);
  const { b, pred } = s;
  const rank = pred.shape.length;
  const last = pred.shape[rank - 1];
  if (rank < 1 || (typeof last === "number" && last !== C)) {
    throw new GraphError(`Logits must be [..., ${C}] for ${C} classes, got ${formatShape(pred.shape)}`, {
      graph: b.name,
      valueName: pred.name,
    });
  }
  let onehot: Value;
  if ((options.targets ?? "index") === "index") {
    const target = b.input("target", "int64", pred.shape.slice(0, -1));
    const idx = b.op1("Unsqueeze", [target, b.constant(int64([rank - 1]))]);
    const classes = b.constant(int64([...Array(C).keys()]));
    onehot = castTo(b, b.op1("Equal", [idx, classes]), dtype);
  } else {
    onehot = b.input("target", dtype, pred.shape);
  }
  const logp = b.op1("LogSoftmax", [pred], { axis: attr.int(-1) });
  const perSample = reduceSum(b, b.op1("Mul", [onehot, logp]), [rank - 1], false);
  if (options.mask) return finish(s, maskedMean(s, b.op1("Neg", [perSample]), false));
  return finish(s, b.op1("Neg", [meanAll(b, perSample)]));
}

/** Options for {@linkcode gaussianKlLossGraph}. */
export interface GaussianKlOptions {
  /** Number of times T. */
  readonly times: Dim;
  /** Dimension D of each Gaussian. */
  readonly dim: number;
  /**
   * `"moments"`: inputs `mean` and `var`, `[T, D]`; `"samples"`: input
   * `samples` `[T, paths, D]` whose mean and (population) variance over paths
   * are taken in the graph. @default "moments"
   */
  readonly input?: "moments" | "samples";
  /** Number of paths with `"samples"`. @default "paths" */
  readonly paths?: Dim;
  /** Element type. @default "float32" */
  readonly dtype?: LossDType;
}

/**
 * KL(N(target_mean, target_var) ‖ N(mean, var)) per time and dimension,
 * summed over dimensions and averaged over times:
 * ½[log(var/target_var) + (target_var + (target_mean − mean)²)/var − 1].
 * Inputs `mean`, `var` (or `samples`), `target_mean`, `target_var`.
 *
 * @example Equal Gaussians cost nothing
 * ```ts
 * import { Runtime } from "../runtime/session.ts";
 * import { fromNumbers } from "../onnx/tensor.ts";
 * import { gaussianKlLossGraph } from "./losses.ts";
 * const { graph } = gaussianKlLossGraph({ times: 1, dim: 1, dtype: "float64" });
 * const m = fromNumbers([0.3], [1, 1], "float64"), v = fromNumbers([2], [1, 1], "float64");
 * const rt = new Runtime();
 * const out = await (await rt.compile(graph)).run({ mean: m, var: v, target_mean: m, target_var: v });
 * if (out.loss!.data[0] !== 0) throw new Error("KL of equal Gaussians");
 * await rt.dispose();
 * ```
 */
export function gaussianKlLossGraph(options: GaussianKlOptions): LossGraph {
  const dtype = options.dtype ?? "float32";
  const T = options.times, D = options.dim;
  const b = new GraphBuilder("gaussian_kl_loss");
  let mean: Value, variance: Value, wrt: string[];
  if ((options.input ?? "moments") === "samples") {
    const x = b.input("samples", dtype, [T, options.paths ?? "paths", D]);
    mean = b.op1("ReduceMean", [x], { axes: attr.ints([1]), keepdims: attr.int(0) });
    const d = b.op1("Sub", [x, b.op1("Unsqueeze", [mean, b.constant(int64([1]))])]);
    variance = b.op1("ReduceMean", [b.op1("Mul", [d, d])], { axes: attr.ints([1]), keepdims: attr.int(0) });
    wrt = ["samples"];
  } else {
    mean = b.input("mean", dtype, [T, D]);
    variance = b.input("var", dtype, [T, D]);
    wrt = ["mean", "var"];
  }
  const tm = b.input("target_mean", dtype, [T, D]);
  const tv = b.input("target_var", dtype, [T, D]);
  const diff = b.op1("Sub", [tm, mean]);
  const ratio = b.op1("Div", [b.op1("Add", [tv, b.op1("Mul", [diff, diff])]), variance]);
  const logRatio = b.op1("Log", [b.op1("Div", [variance, tv])]);
  const one = scalar(b, dtype, 1), half = scalar(b, dtype, 0.5);
  const kl = b.op1("Mul", [half, b.op1("Sub", [b.op1("Add", [logRatio, ratio]), one])]);
  const loss = meanAll(b, reduceSum(b, kl, [1], false));
  return finish({ b, pred: mean, wrt, head: false }, loss);
}

/** A VJP graph of a model with the names of its cotangent inputs and gradient outputs. */
export interface ModelVjp {
  /** The graph: the model's inputs, one cotangent per output in `of`; its outputs, then the gradients. */
  readonly graph: Graph;
  /** Cotangent input name per model output. */
  readonly cotangents: Readonly<Record<string, string>>;
  /** Gradient output name per differentiated input. */
  readonly grads: Readonly<Record<string, string>>;
}

/**
 * The VJP graph of an encoder, head or any model, with defaults for what to
 * differentiate: every float output receives a cotangent, every float input
 * (and, with `initializers: true`, every float initializer) gets a gradient.
 *
 * @example An encoder's VJP
 * ```ts
 * import { augmentGraph } from "../models/mlp.ts";
 * import { vjpOfModel } from "./losses.ts";
 * const { cotangents, grads } = vjpOfModel(augmentGraph(2, 3, "float64"));
 * if (Object.keys(grads).length !== 1 || Object.keys(cotangents).length !== 1) throw new Error("names");
 * ```
 */
export function vjpOfModel(
  graph: Graph,
  options: { of?: readonly string[]; wrt?: readonly string[]; initializers?: boolean } = {},
): ModelVjp {
  const of = options.of ?? graph.outputs.filter((v) => isFloat(v.dtype)).map((v) => v.name);
  const wrt = options.wrt ?? [
    ...graph.inputs.filter((v) => isFloat(v.dtype)).map((v) => v.name),
    ...(options.initializers ? [...graph.initializers].filter(([, t]) => isFloat(t.dtype)).map(([n]) => n) : []),
  ];
  return {
    graph: vjpGraph(graph, { of, wrt }),
    cotangents: Object.fromEntries(of.map((o) => [o, `grad_${o}`])),
    grads: Object.fromEntries(wrt.map((w) => [w, `grad_${w}`])),
  };
}
