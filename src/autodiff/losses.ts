/**
 * Loss graphs that output the loss and its gradients in one graph, and VJP
 * graphs of encoders and heads.
 *
 * Each loss graph has inputs for the predictions (or, with a `head`, the head's
 * input and parameters) and the targets, and outputs `loss` (a scalar), `pred`
 * (the head's predictions, with a head) and `grad_<x>` for every differentiated input. The loss's
 * own cotangent is the constant 1, so no cotangent input is needed.
 *
 * @module
 */
import { GraphBuilder, type Value } from "../onnx/builder.ts";
import { isFloat } from "../onnx/dtype.ts";
import { GraphError } from "../onnx/errors.ts";
import { attr, type Dim, type Graph, type Shape, typeOf } from "../onnx/graph.ts";
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

/** Options for {@linkcode mseLossGraph}. */
export interface MseOptions {
  /** Shape of predictions and targets (the head's output shape with a head). */
  readonly shape: Shape;
  /** Element type. @default "float32" */
  readonly dtype?: LossDType;
  /** A head applied first. */
  readonly head?: HeadSpec;
}

/**
 * Mean squared error over all elements, mean((pred − target)²), with its
 * gradients. Inputs `pred` (or the head's) and `target`.
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
 */
export function mseLossGraph(options: MseOptions): LossGraph {
  const dtype = options.dtype ?? "float32";
  const s = start("mse_loss", dtype, options.shape, options.head);
  const target = s.b.input("target", dtype, s.pred.shape);
  const d = s.b.op1("Sub", [s.pred, target]);
  return finish(s, meanAll(s.b, s.b.op1("Mul", [d, d])));
}

/** Options for {@linkcode crossEntropyLossGraph}. */
export interface CrossEntropyOptions {
  /** Number of classes C; logits are `[batch, C]`. */
  readonly classes: number;
  /** `"index"`: int64 targets `[batch]`; `"onehot"`: float targets `[batch, C]` (any distribution). @default "index" */
  readonly targets?: "index" | "onehot";
  /** Batch dim. @default "batch" */
  readonly batch?: Dim;
  /** Element type. @default "float32" */
  readonly dtype?: LossDType;
  /** A head applied first (its output gives the logits). */
  readonly head?: HeadSpec;
}

/**
 * Cross-entropy from logits averaged over the batch:
 * −mean_b Σ_c target[b, c]·logsoftmax(logits)[b, c]. Inputs `pred` (logits,
 * or the head's inputs) and `target`.
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
 */
export function crossEntropyLossGraph(options: CrossEntropyOptions): LossGraph {
  const dtype = options.dtype ?? "float32";
  const C = options.classes;
  if (!Number.isInteger(C) || C < 1) throw new RangeError(`classes must be a positive integer, got ${C}`);
  const s = start("cross_entropy_loss", dtype, [options.batch ?? "batch", C], options.head);
  const { b, pred } = s;
  let onehot: Value;
  if ((options.targets ?? "index") === "index") {
    const target = b.input("target", "int64", [pred.shape[0]!]);
    const idx = b.op1("Unsqueeze", [target, b.constant(int64([1]))]);
    const classes = b.constant(int64([...Array(C).keys()]));
    onehot = castTo(b, b.op1("Equal", [idx, classes]), dtype);
  } else {
    onehot = b.input("target", dtype, pred.shape);
  }
  const logp = b.op1("LogSoftmax", [pred], { axis: attr.int(-1) });
  const perSample = reduceSum(b, b.op1("Mul", [onehot, logp]), [1], false);
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
