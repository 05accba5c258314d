/**
 * Readouts: the head and loss applied to the ODE states at the measurement
 * times, as one ONNX graph whose VJP gives ∂L/∂z(t_k) and the head's
 * parameter gradients in a single call.
 *
 * Graph inputs: `zs` [times, batch, stateDim] (the states stacked),
 * `targets` [times, batch, outDim], `mask` [times, batch] (1 where observed),
 * and the head parameters. Outputs: `loss` (scalar) and `pred`
 * [times, batch, outDim].
 *
 * @module
 */
import { GraphBuilder, type Value } from "../onnx/builder.ts";
import { attr, type Graph } from "../onnx/graph.ts";
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
  /** The head + loss graph (inputs zs, targets, mask, head params; outputs loss, pred). */
  readonly graph: Graph;
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

/** Builds the readout graph. */
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
  const b = new GraphBuilder(`readout_${head}_${loss}`);
  const zs = b.input("zs", dtype, ["times", "batch", stateDim]);
  const targets = b.input("targets", dtype, ["times", "batch", outDim]);
  const mask = b.input("mask", dtype, ["times", "batch"]);
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
  const axesLast = b.constant(int64([2]));
  const observed = b.op1("ReduceSum", [mask], { keepdims: attr.int(0) });
  let perSample: Value; // [times, batch]
  let denominator: Value = observed;
  if (loss === "mse") {
    const diff = b.op1("Sub", [pred, targets]);
    perSample = b.op1("ReduceSum", [b.op1("Mul", [diff, diff]), axesLast], { keepdims: attr.int(0) });
    const scale = dtype === "float64" ? Float64Array.of(outDim) : Float32Array.of(outDim);
    denominator = b.op1("Mul", [observed, b.constant(tensor(scale, []))]);
  } else {
    const logp = b.op1("LogSoftmax", [pred], { axis: attr.int(-1) });
    perSample = b.op1("Neg", [
      b.op1("ReduceSum", [b.op1("Mul", [logp, targets]), axesLast], { keepdims: attr.int(0) }),
    ]);
  }
  const total = b.op1("ReduceSum", [b.op1("Mul", [perSample, mask])], { keepdims: attr.int(0) });
  b.output(b.op1("Div", [total, denominator]), "loss");
  b.output(pred, "pred");
  return { graph: b.build(), head, loss, stateDim, outDim, params };
}

/** Initial head parameters like PyTorch's nn.Linear (U(±1/√fan_in)). */
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
