/**
 * What a VJP rule is, what it sees, and the one registry that holds them.
 *
 * A rule turns the cotangents of one node's outputs into cotangents of its
 * inputs by emitting ordinary ONNX nodes with the same {@linkcode GraphBuilder}
 * that holds the forward graph, so forward values are shared, not recomputed.
 * Rules may return a cotangent with the *output's* broadcast shape: the engine
 * sums it back over broadcast axes, checks dtype and shape, and names the op
 * and node when a rule gets it wrong.
 *
 * @module
 */
import type { GraphBuilder, Value } from "../onnx/builder.ts";
import { type DType, ONNX_DATA_TYPE } from "../onnx/dtype.ts";
import { attr, type Node } from "../onnx/graph.ts";
import { int64, type Tensor, tensor } from "../onnx/tensor.ts";

/** What a rule sees of one forward node. */
export interface VjpContext {
  /** The builder holding the forward graph; rules append backward nodes to it. */
  readonly b: GraphBuilder;
  /** The forward node. */
  readonly node: Node;
  /** The node's inputs; `undefined` where an optional input is omitted. */
  readonly inputs: readonly (Value | undefined)[];
  /** The node's outputs; `undefined` where an optional output is omitted. */
  readonly outputs: readonly (Value | undefined)[];
  /** Cotangent of each output, or null where none flows back (a zero cotangent). */
  readonly dy: readonly (Value | null)[];
  /** True if input `i` needs a cotangent; a rule may skip the others (return null). */
  wants(i: number): boolean;
  /**
   * Differentiates the node through a lowering: `lower` emits primitives
   * computing the node's outputs from its inputs, and the engine differentiates
   * those with their own rules. Returns one cotangent per input (null for the
   * inputs not wanted or not in `only`).
   */
  viaLowering(lower: Lower, only?: readonly number[]): readonly Cotangent[];
}

/** Emits primitives computing a node's outputs (in order) from its inputs. */
export type Lower = (b: GraphBuilder, node: Node, inputs: Value[]) => Value[];

/** One input cotangent: a value shaped like the input or broadcastable from it, or null for none. */
export type Cotangent = Value | null;

/** A VJP rule for one op type. */
export interface VjpRule {
  /** ONNX op type, e.g. "Gemm". */
  readonly opType: string;
  /**
   * Float inputs the op's outputs are constant in (indices), besides integer
   * and bool inputs which never carry gradients; e.g. BatchNormalization's
   * running statistics in training mode. @default none
   */
  readonly constantInputs?: (node: Node) => readonly number[];
  /** Emits the backward nodes; returns one cotangent (or null) per node input. */
  vjp(ctx: VjpContext): readonly Cotangent[];
}

/**
 * Builds a rule registry from one array, rejecting a repeated op type.
 *
 * @example A registry with one rule
 * ```ts
 * import { makeRegistry } from "./rule.ts";
 * const reg = makeRegistry([{ opType: "Identity", vjp: (ctx) => [ctx.dy[0] ?? null] }]);
 * if (!reg.has("Identity")) throw new Error("missing rule");
 * ```
 */
export function makeRegistry(rules: readonly VjpRule[]): ReadonlyMap<string, VjpRule> {
  const map = new Map<string, VjpRule>();
  for (const r of rules) {
    if (map.has(r.opType)) throw new Error(`VJP rule for ${r.opType} is registered twice`);
    map.set(r.opType, r);
  }
  return map;
}

// ---- helpers shared by the rule files -------------------------------------------------------

/** A float scalar constant of `dtype`. */
export function scalar(b: GraphBuilder, dtype: DType, v: number): Value {
  const data = dtype === "float64" ? new Float64Array([v]) : new Float32Array([v]);
  return b.constant(tensor(data, []));
}

/** An int64 vector constant (axes, shapes, pads). */
export function ints(b: GraphBuilder, values: readonly number[]): Value {
  return b.constant(int64(values));
}

/** `x` cast to `dtype`. */
export function castTo(b: GraphBuilder, x: Value, dtype: DType): Value {
  return b.op1("Cast", [x], { to: attr.int(ONNX_DATA_TYPE[dtype]) });
}

/** A constant tensor. */
export function constant(b: GraphBuilder, t: Tensor): Value {
  return b.constant(t);
}

/** Exact zeros shaped like `like` (symbolic dims read at run time). */
export function zerosLike(b: GraphBuilder, like: Value): Value {
  const shape = b.op1("Shape", [like]);
  const data = like.dtype === "float64" ? new Float64Array([0]) : new Float32Array([0]);
  return b.op1("ConstantOfShape", [shape], { value: attr.tensor(tensor(data, [1])) });
}

/** `x` reshaped to `like`'s shape (read at run time, so symbolic dims survive). */
export function reshapeLike(b: GraphBuilder, x: Value, like: Value): Value {
  return b.op1("Reshape", [x, b.op1("Shape", [like])]);
}

/** `x` broadcast to `like`'s shape. */
export function expandLike(b: GraphBuilder, x: Value, like: Value): Value {
  return b.op1("Expand", [x, b.op1("Shape", [like])]);
}

/** A reduction over `axes`, as an input from opset `inputSince`, an attribute before. */
function reduce(
  b: GraphBuilder,
  opType: string,
  inputSince: number,
  x: Value,
  axes: readonly number[],
  keepdims: boolean,
): Value {
  const keep = { keepdims: attr.int(keepdims ? 1 : 0) };
  if (b.opset >= inputSince) return b.op1(opType, [x, ints(b, axes)], keep);
  return b.op1(opType, [x], { ...keep, axes: attr.ints(axes) });
}

/** ReduceSum over `axes`, as an attribute or input depending on the opset. */
export function reduceSum(b: GraphBuilder, x: Value, axes: readonly number[], keepdims: boolean): Value {
  return reduce(b, "ReduceSum", 13, x, axes, keepdims);
}

/** ReduceMean over `axes`, as an attribute or input depending on the opset. */
export function reduceMean(b: GraphBuilder, x: Value, axes: readonly number[], keepdims: boolean): Value {
  return reduce(b, "ReduceMean", 18, x, axes, keepdims);
}

/**
 * Constant-mode Pad of `x` by `pads` (all begins, then all ends; negative
 * entries crop) with `value`, as inputs or attributes depending on the opset.
 */
export function padConstant(b: GraphBuilder, x: Value, pads: readonly number[], value = 0): Value {
  if (b.opset >= 11) return b.op1("Pad", [x, ints(b, pads), scalar(b, x.dtype, value)]);
  return b.op1("Pad", [x], { pads: attr.ints(pads), value: attr.float(value) });
}

/** Unsqueeze at `axes`, as an attribute or input depending on the opset. */
export function unsqueeze(b: GraphBuilder, x: Value, axes: readonly number[]): Value {
  if (b.opset >= 13) return b.op1("Unsqueeze", [x, ints(b, axes)]);
  return b.op1("Unsqueeze", [x], { axes: attr.ints(axes) });
}

/** Squeeze at `axes`, as an attribute or input depending on the opset. */
export function squeeze(b: GraphBuilder, x: Value, axes: readonly number[]): Value {
  if (b.opset >= 13) return b.op1("Squeeze", [x, ints(b, axes)]);
  return b.op1("Squeeze", [x], { axes: attr.ints(axes) });
}

/** Swaps the last two axes of a tensor of rank ≥ 2. */
export function transposeLast(b: GraphBuilder, x: Value): Value {
  const r = x.shape.length;
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [r - 1, r - 2];
  return b.op1("Transpose", [x], { perm: attr.ints(perm) });
}

/** Shorthands for common elementwise ops. */
export const ew = {
  add: (b: GraphBuilder, x: Value, y: Value): Value => b.op1("Add", [x, y]),
  sub: (b: GraphBuilder, x: Value, y: Value): Value => b.op1("Sub", [x, y]),
  mul: (b: GraphBuilder, x: Value, y: Value): Value => b.op1("Mul", [x, y]),
  div: (b: GraphBuilder, x: Value, y: Value): Value => b.op1("Div", [x, y]),
  neg: (b: GraphBuilder, x: Value): Value => b.op1("Neg", [x]),
} as const;
