/**
 * Normalisation layers as primitives: LayerNormalization, InstanceNormalization,
 * GroupNormalization (opset 18's per-group and opset 21's per-channel scale)
 * and GlobalAveragePool. {@linkcode LOWERINGS} in lower.ts lists them; the
 * float64 runtime uses those ORT lacks (InstanceNormalization, GlobalAveragePool)
 * or computes in float32 whatever the input (GroupNormalization's stash_type),
 * and the VJP rules differentiate all of them through these rewrites.
 *
 * Statistics are computed in the input's precision: `stash_type` (which asks
 * for float32 statistics) only sets the dtype of LayerNormalization's optional
 * Mean and InvStdDev outputs, so float64 graphs stay float64 throughout.
 *
 * @module
 */
import type { GraphBuilder, Value } from "./builder.ts";
import { GraphError } from "./errors.ts";
import { attr, floatAttr, formatShape, intAttr, type Node } from "./graph.ts";
import type { Lowering } from "./lower.ts";
import { int64, tensor } from "./tensor.ts";

function scalar(b: GraphBuilder, x: Value, v: number): Value {
  return b.constant(tensor(x.dtype === "float64" ? Float64Array.of(v) : Float32Array.of(v), []));
}

/** ReduceMean over `axes` keeping dims, with axes as an input from opset 18. */
function mean(b: GraphBuilder, x: Value, axes: readonly number[]): Value {
  if (b.opset >= 18) return b.op1("ReduceMean", [x, b.constant(int64(axes))], { keepdims: attr.int(1) });
  return b.op1("ReduceMean", [x], { axes: attr.ints(axes), keepdims: attr.int(1) });
}

function unsqueeze(b: GraphBuilder, x: Value, axes: readonly number[]): Value {
  if (axes.length === 0) return x;
  if (b.opset >= 13) return b.op1("Unsqueeze", [x, b.constant(int64(axes))]);
  return b.op1("Unsqueeze", [x], { axes: attr.ints(axes) });
}

/** (x − mean) / √(var + ε) over `axes`, plus the mean and 1/√(var + ε). */
function standardize(b: GraphBuilder, x: Value, axes: readonly number[], eps: number) {
  const mu = mean(b, x, axes);
  const d = b.op1("Sub", [x, mu]);
  const variance = mean(b, b.op1("Mul", [d, d]), axes);
  const invStd = b.op1("Reciprocal", [b.op1("Sqrt", [b.op1("Add", [variance, scalar(b, x, eps)])])]);
  return { xhat: b.op1("Mul", [d, invStd]), mu, invStd };
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** LayerNormalization over axes axis…rank−1: Y, and the Mean and InvStdDev outputs in stash_type's dtype. */
export const layerNorm: Lowering = (b, node, [x, scale, bias]) => {
  const rank = x!.shape.length;
  const axis = intAttr(node, "axis", -1);
  const { xhat, mu, invStd } = standardize(
    b,
    x!,
    range(axis < 0 ? axis + rank : axis, rank),
    floatAttr(node, "epsilon", 1e-5),
  );
  const scaled = b.op1("Mul", [xhat, scale!]);
  const y = bias ? b.op1("Add", [scaled, bias]) : scaled;
  const stash = intAttr(node, "stash_type", 1) === 11 ? "float64" : "float32";
  const cast = (
    v: Value,
  ) => (v.dtype === stash ? v : b.op1("Cast", [v], { to: attr.int(stash === "float64" ? 11 : 1) }));
  return [y, cast(mu), cast(invStd)];
};

/** Per-channel statistics over the spatial axes, then the channel's scale and bias. */
export const instanceNorm: Lowering = (b, node, [x, scale, bias]) => {
  const rank = x!.shape.length;
  const { xhat } = standardize(b, x!, range(2, rank), floatAttr(node, "epsilon", 1e-5));
  const perChannel = (v: Value) => unsqueeze(b, v, range(1, rank - 1));
  return [b.op1("Add", [b.op1("Mul", [xhat, perChannel(scale!)]), perChannel(bias!)])];
};

/**
 * Statistics per (sample, group) of channels; the scale and bias are per group
 * before opset 21 and per channel from 21, as the two versions of the op say.
 */
export const groupNorm: Lowering = (b, node, [x, scale, bias]) => {
  const rank = x!.shape.length;
  const groups = intAttr(node, "num_groups")!;
  const c = x!.shape[1];
  if (typeof c !== "number") {
    throw new GraphError(`GroupNormalization needs a concrete channel count, got input ${formatShape(x!.shape)}`, {
      nodeName: node.name,
      opType: node.opType,
    });
  }
  const grouped = b.op1("Reshape", [x!, b.constant(int64([0, groups, -1]))]);
  const { xhat } = standardize(b, grouped, [2], floatAttr(node, "epsilon", 1e-5));
  if (b.opset < 21) {
    const perGroup = (v: Value) => unsqueeze(b, v, [1]);
    const y = b.op1("Add", [b.op1("Mul", [xhat, perGroup(scale!)]), perGroup(bias!)]);
    return [b.op1("Reshape", [y, b.op1("Shape", [x!])])];
  }
  const perChannel = (v: Value) => unsqueeze(b, v, range(1, rank - 1));
  const back = b.op1("Reshape", [xhat, b.op1("Shape", [x!])]);
  return [b.op1("Add", [b.op1("Mul", [back, perChannel(scale!)]), perChannel(bias!)])];
};

/** The mean over every spatial axis, kept as size-1 dims. */
export const globalAveragePool: Lowering = (b, _node: Node, [x]) => [mean(b, x!, range(2, x!.shape.length))];
