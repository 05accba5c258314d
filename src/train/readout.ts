/**
 * Readouts: the head and loss applied to the ODE states at the measurement
 * times, as one loss graph (see {@linkcode mseLossGraph} and
 * {@linkcode crossEntropyLossGraph}) that gives the loss, ∂L/∂z(t_k) and the
 * head's parameter gradients in a single call.
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
import type { Graph } from "../onnx/graph.ts";
import { int64, type Tensor, tensor } from "../onnx/tensor.ts";
import type { Random } from "../util/random.ts";

/** How predictions are read from the state. */
export type HeadKind =
  /** The first `outDim` state components are the prediction. */
  | "slice"
  /** A linear layer `z Wᵀ + b`. */
  | "linear";

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
}

/** The head as a graph: input `zs` [times, batch, stateDim], output `y` [times, batch, outDim]. */
function headSpec(
  head: HeadKind,
  stateDim: number,
  outDim: number,
  dtype: "float32" | "float64",
): { spec: HeadSpec; params: Record<string, number[]> } {
  const b = new GraphBuilder(`head_${head}`);
  const zs = b.input("zs", dtype, ["times", "batch", stateDim]);
  const params: Record<string, number[]> = {};
  let pred: Value;
  if (head === "linear") {
    const w = b.input("head.weight", dtype, [outDim, stateDim]);
    const bias = b.input("head.bias", dtype, [outDim]);
    params["head.weight"] = [outDim, stateDim];
    params["head.bias"] = [outDim];
    pred = b.op1("Add", [b.op1("MatMul", [zs, b.op1("Transpose", [w])]), bias]);
  } else {
    pred = b.op1("Slice", [zs, b.constant(int64([0])), b.constant(int64([outDim])), b.constant(int64([2]))]);
  }
  b.output(pred, "y");
  return { spec: { graph: b.build(), input: "zs", output: "y", params: Object.keys(params) }, params };
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
}): Readout {
  const { stateDim, outDim, head, loss, dtype } = options;
  if (head === "slice" && outDim > stateDim) {
    throw new RangeError(`A slice head reads ${outDim} outputs from a state of ${stateDim} components`);
  }
  const { spec, params } = headSpec(head, stateDim, outDim, dtype);
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
  return { graph, outputs: lg.outputs, head, loss, stateDim, outDim, params };
}

/**
 * Initial head parameters like PyTorch's nn.Linear (U(±1/√fan_in)).
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
  const bound = 1 / Math.sqrt(readout.stateDim);
  for (const [name, shape] of Object.entries(readout.params)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = dtype === "float64" ? new Float64Array(n) : new Float32Array(n);
    rng.fillUniform(data, -bound, bound);
    out[name] = tensor(data, shape);
  }
  return out;
}
