/**
 * Readouts: the head and loss applied to the ODE states at the measurement
 * times, as one loss graph (see {@linkcode mseLossGraph} and
 * {@linkcode crossEntropyLossGraph}) that gives the loss, ∂L/∂z(t_k) and the
 * head's parameter gradients in a single call. The head is a slice of the
 * state, a linear layer, or a user's row graph (`"graph"`, e.g. a torch
 * export read by `importHead`), applied to the `[times·batch, state]` rows.
 *
 * Graph inputs: `zs` [times, batch, stateDim] (the states stacked), the head
 * parameters, `target` [times, batch, outDim] and `mask` [times, batch] (1
 * where observed). Outputs: `loss` (scalar), `pred` [times, batch, outDim],
 * `grad_zs` and `grad_<param>` per head parameter.
 *
 * @module
 */
import { crossEntropyLossGraph, type HeadSpec, type LossGraph, mseLossGraph } from "../autodiff/losses.ts";
import { GraphBuilder, type Value } from "../onnx/builder.ts";
import { defaultOpset, formatShape, type Graph } from "../onnx/graph.ts";
import { inlineGraph } from "../onnx/inline.ts";
import { int64, type Tensor, tensor } from "../onnx/tensor.ts";
import { activate, type Activation } from "../models/activations.ts";
import type { Random } from "../util/random.ts";

/** How predictions are read from the state. */
export type HeadKind =
  /** The first `outDim` state components are the prediction. */
  | "slice"
  /** A linear layer `z Wᵀ + b`. */
  | "linear"
  /** An MLP on the flattened state: hidden layers with an activation, then a linear layer (option `mlp`). */
  | "mlp"
  /**
   * A row graph `z` [rows, stateDim] → `y` [rows, outDim] with its weights as
   * inputs (an imported head, see models/imported_layer.ts), applied to every
   * state of every time: the states are reshaped to rows and the predictions back.
   */
  | "graph";

/** The graph of a `"graph"` head: `z` [rows, stateDim] → `y` [rows, outDim], one input per parameter. */
export interface RowHead {
  /** The graph (inputs `z` and the parameters, output `y`). */
  readonly graph: Graph;
  /** Its parameters: inputs of `graph`, with their shapes. */
  readonly params: readonly { readonly name: string; readonly shape: readonly number[] }[];
}

/** The hidden layers of an `"mlp"` head. */
export interface MlpHead {
  /** Hidden layer widths. */
  readonly hidden: readonly number[];
  /** Activation after each hidden layer. */
  readonly activation: Activation;
}

/** One dense layer of a `"linear"` or `"mlp"` head: parameters `<name>.weight` [to, from] and `<name>.bias` [to]. */
export interface HeadLayer {
  /** The parameters' name prefix. */
  readonly name: string;
  /** Inputs per row. */
  readonly from: number;
  /** Outputs per row. */
  readonly to: number;
}

/** The dense layers of a `"linear"` head (one, `head`) or an `"mlp"` head (`head.l0` … `head.l<hidden>`), in order. */
function headLayers(stateDim: number, outDim: number, mlp: MlpHead | undefined): HeadLayer[] {
  if (!mlp) return [{ name: "head", from: stateDim, to: outDim }];
  const widths = [stateDim, ...mlp.hidden, outDim];
  return widths.slice(1).map((to, i) => ({ name: `head.l${i}`, from: widths[i]!, to }));
}

/**
 * x Wᵀ + b through a linear head (`mlp` undefined) or an MLP head's layers with its activation between (over any
 * leading axes of x): the one definition of the dense heads, which the readout trains (weights as inputs) and model
 * files write (weights baked in). `param` gives a layer's weight or bias as a value of `b`'s graph.
 */
export function denseHead(
  b: GraphBuilder,
  x: Value,
  sizes: { readonly stateDim: number; readonly outDim: number; readonly mlp: MlpHead | undefined },
  param: (name: string, shape: readonly number[], layer: HeadLayer) => Value,
): Value {
  const layers = headLayers(sizes.stateDim, sizes.outDim, sizes.mlp);
  layers.forEach((layer, i) => {
    const w = param(`${layer.name}.weight`, [layer.to, layer.from], layer);
    const bias = param(`${layer.name}.bias`, [layer.to], layer);
    x = b.op1("Add", [b.op1("MatMul", [x, b.op1("Transpose", [w])]), bias]);
    if (sizes.mlp && i < layers.length - 1) x = activate(b, x, sizes.mlp.activation);
  });
  return x;
}

/** The loss between predictions and targets. */
export type LossKind =
  /** Mean of squared errors over observed entries. */
  | "mse"
  /** Cross-entropy of softmax(pred) against one-hot targets, mean over observed samples. */
  | "cross-entropy";

/** A readout: head + loss graph with its parameter shapes. */
export interface Readout {
  /**
   * The head + loss graph with its gradients (inputs zs, head params, target,
   * mask; outputs loss, pred, grad_zs, grad_<param>).
   */
  readonly graph: Graph;
  /** Output names of `graph`: the loss, the predictions and the gradient per differentiated input. */
  readonly outputs: LossGraph["outputs"];
  /** How predictions are read from the state. */
  readonly head: HeadKind;
  /** The loss. */
  readonly loss: LossKind;
  /** State components per sample. */
  readonly stateDim: number;
  /** Prediction components per sample. */
  readonly outDim: number;
  /** Head parameter shapes by name (empty for "slice"). */
  readonly params: Readonly<Record<string, readonly number[]>>;
  /** Inputs per output of each head parameter's layer: the U(±1/√fanIn) bound of {@linkcode initReadout}. */
  readonly fanIn: Readonly<Record<string, number>>;
  /** The row graph of a `"graph"` head. */
  readonly rowHead?: RowHead;
  /** The hidden layers of an `"mlp"` head (its parameters are `head.l<i>.weight` and `.bias`). */
  readonly mlp?: MlpHead;
}

/** The head as a graph: input `zs` [times, batch, stateDim], output `y` [times, batch, outDim]. */
function headSpec(
  head: HeadKind,
  stateDim: number,
  outDim: number,
  dtype: "float32" | "float64",
  rowHead: RowHead | undefined,
  mlp: MlpHead | undefined,
): { spec: HeadSpec; params: Record<string, number[]>; fanIn: Record<string, number> } {
  // An imported head is inlined, and inlining keeps one opset: the readout graph takes the head's.
  const b = new GraphBuilder(`head_${head}`, head === "graph" ? { opset: defaultOpset(rowHead!.graph) } : {});
  const zs = b.input("zs", dtype, ["times", "batch", stateDim]);
  const params: Record<string, number[]> = {};
  const fanIn: Record<string, number> = {};
  let pred: Value;
  if (head === "mlp" || head === "linear") {
    pred = denseHead(b, zs, { stateDim, outDim, mlp: head === "mlp" ? mlp! : undefined }, (name, shape, layer) => {
      params[name] = [...shape];
      fanIn[name] = layer.from;
      return b.input(name, dtype, shape);
    });
  } else if (head === "graph") {
    const bind = new Map<string, Value>();
    for (const p of rowHead!.params) {
      bind.set(p.name, b.input(p.name, dtype, p.shape));
      params[p.name] = [...p.shape];
    }
    bind.set("z", b.op1("Reshape", [zs, b.constant(int64([-1, stateDim]))]));
    const y = inlineGraph(b, rowHead!.graph, bind, { prefix: "head/" }).get("y")!;
    const leading = b.op1("Slice", [b.op1("Shape", [zs]), b.constant(int64([0])), b.constant(int64([2]))]);
    const shape = b.op1("Concat", [leading, b.constant(int64([outDim]))], { axis: { type: "int", value: 0 } });
    pred = b.op1("Reshape", [y, shape]);
  } else {
    pred = b.op1("Slice", [zs, b.constant(int64([0])), b.constant(int64([outDim])), b.constant(int64([2]))]);
  }
  b.output(pred, "y");
  return { spec: { graph: b.build(), input: "zs", output: "y", params: Object.keys(params) }, params, fanIn };
}

/**
 * Builds the readout graph: the head (`"slice"` or `"linear"`) and the masked
 * loss over observed entries, with the gradients of the loss.
 *
 * @example A slice head with MSE
 * ```ts
 * import { buildReadout } from "./readout.ts";
 * const r = buildReadout({ stateDim: 3, outDim: 1, head: "slice", loss: "mse", dtype: "float64" });
 * if (r.outputs.grads.zs !== "grad_zs" || Object.keys(r.params).length !== 0) throw new Error("readout");
 * ```
 */
export function buildReadout(options: {
  stateDim: number;
  outDim: number;
  head: HeadKind;
  loss: LossKind;
  dtype: "float32" | "float64";
  /** The row graph of head `"graph"` (required there, ignored otherwise). */
  rowHead?: RowHead;
  /** The hidden layers of head `"mlp"` (required there, ignored otherwise). */
  mlp?: MlpHead;
}): Readout {
  const { stateDim, outDim, head, loss, dtype } = options;
  if (head === "slice" && outDim > stateDim) {
    throw new RangeError(`A slice head reads ${outDim} outputs from a state of ${stateDim} components`);
  }
  const { rowHead } = options;
  if (head === "graph") checkRowHead(rowHead, stateDim, outDim, dtype);
  const { mlp } = options;
  if (head === "mlp" && mlp === undefined) throw new TypeError('Head "mlp" needs its hidden layers in option mlp');
  const { spec, params, fanIn } = headSpec(head, stateDim, outDim, dtype, rowHead, mlp);
  const lg = loss === "mse"
    ? mseLossGraph({ shape: ["times", "batch", outDim], dtype, head: spec, mask: true })
    : crossEntropyLossGraph({
      classes: outDim,
      leading: ["times", "batch"],
      targets: "onehot",
      dtype,
      head: spec,
      mask: true,
    });
  const graph = { ...lg.graph, name: `readout_${head}_${loss}` };
  return {
    graph,
    outputs: lg.outputs,
    head,
    loss,
    stateDim,
    outDim,
    params,
    fanIn,
    ...(rowHead ? { rowHead } : {}),
    ...(head === "mlp" ? { mlp: mlp! } : {}),
  };
}

/** A `"graph"` head's graph must map `z` [rows, stateDim] to `y` [rows, outDim] in the readout's dtype. */
function checkRowHead(
  rowHead: RowHead | undefined,
  stateDim: number,
  outDim: number,
  dtype: "float32" | "float64",
): asserts rowHead is RowHead {
  if (rowHead === undefined) throw new TypeError('Head "graph" needs its graph in option rowHead');
  const { graph } = rowHead;
  const z = graph.inputs.find((v) => v.name === "z");
  const y = graph.outputs.find((v) => v.name === "y");
  const want = (v: typeof z, n: number) =>
    v !== undefined && v.dtype === dtype && v.shape.length === 2 && v.shape[1] === n;
  if (!want(z, stateDim) || !want(y, outDim)) {
    const show = (v: typeof z) => (v ? `${v.dtype} ${formatShape(v.shape)}` : "missing");
    throw new RangeError(
      `Head graph ${graph.name} must map z ${dtype} [rows, ${stateDim}] to y ${dtype} [rows, ${outDim}]; it has ` +
        `z ${show(z)} and y ${show(y)}`,
    );
  }
}

/**
 * Initial head parameters like PyTorch's nn.Linear (U(±1/√fan_in), the fan-in
 * of each parameter's own layer), drawn in the order of `readout.params`.
 *
 * @example
 * ```ts
 * import { Random } from "../util/random.ts";
 * import { buildReadout, initReadout } from "./readout.ts";
 * const r = buildReadout({ stateDim: 3, outDim: 2, head: "linear", loss: "cross-entropy", dtype: "float64" });
 * const p = initReadout(r, new Random(0), "float64");
 * if (p["head.weight"]!.dims.join() !== "2,3") throw new Error("weight shape");
 * ```
 */
export function initReadout(readout: Readout, rng: Random, dtype: "float32" | "float64"): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, shape] of Object.entries(readout.params)) {
    const bound = 1 / Math.sqrt(readout.fanIn[name] ?? readout.stateDim);
    const n = shape.reduce((a, b) => a * b, 1);
    const data = dtype === "float64" ? new Float64Array(n) : new Float32Array(n);
    rng.fillUniform(data, -bound, bound);
    out[name] = tensor(data, shape);
  }
  return out;
}
