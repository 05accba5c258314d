/**
 * Shape and dtype inference, one rule per op type.
 *
 * Every node added to a graph passes through its op's rule, so a bad shape is
 * caught when the graph is built, with the node named, rather than when ONNX
 * Runtime first runs it. The registry is one array; duplicates are rejected.
 *
 * Rules may also compute "shape values": the contents of small int64 tensors
 * that hold shapes (outputs of Shape, Constant, Concat, Gather, Slice…), so
 * that Reshape(x, Shape(y)) keeps y's symbolic dims.
 *
 * Why one file: the rules are one registry of small functions, one per op, kept as a list like the VJP rules.
 *
 * @module
 */
import type { DType } from "./dtype.ts";
import { isFloat } from "./dtype.ts";
import { einsumSizes, parseEinsum } from "./einsum.ts";
import { GraphError } from "./errors.ts";
import {
  type Dim,
  floatAttr,
  formatShape,
  intAttr,
  intsAttr,
  type Node,
  type Shape,
  stringAttr,
  type TensorType,
} from "./graph.ts";
import { type Tensor, toNumbers } from "./tensor.ts";

/** What a rule sees of one node. */
export interface ShapeContext {
  readonly node: Node;
  /** Types of the node's inputs; `undefined` where an optional input is omitted. */
  readonly inputs: readonly (TensorType | undefined)[];
  /** The opset of the default domain. */
  readonly opset: number;
  /** The constant value of input `i`, if it is known when building. */
  constant(i: number): Tensor | undefined;
  /** The contents of int64 input `i` as dims, if known (possibly symbolic). */
  shapeValue(i: number): Dim[] | undefined;
  /** A fresh symbolic dim for sizes that cannot be known. */
  fresh(): string;
}

/** What a rule returns: one type per output, and optional shape values. */
export interface ShapeResult {
  readonly types: readonly TensorType[];
  readonly shapeValues?: readonly (Dim[] | undefined)[];
}

/** A shape rule: from input types to output types, throwing a plain message on error. */
export type ShapeRule = (ctx: ShapeContext) => ShapeResult | TensorType[];

/** Error thrown by rules; the builder adds the node's name and op. */
export class ShapeRuleError extends Error {}

function fail(message: string): never {
  throw new ShapeRuleError(message);
}

function need(ctx: ShapeContext, i: number): TensorType {
  const t = ctx.inputs[i];
  if (!t) fail(`input ${i} is required`);
  return t;
}

function needFloat(ctx: ShapeContext, i: number): TensorType {
  const t = need(ctx, i);
  if (!isFloat(t.dtype)) fail(`input ${i} must be float32 or float64, got ${t.dtype}`);
  return t;
}

function sameDtype(ctx: ShapeContext, indices: readonly number[]): DType {
  let dtype: DType | undefined;
  for (const i of indices) {
    const t = ctx.inputs[i];
    if (!t) continue;
    if (dtype === undefined) dtype = t.dtype;
    else if (t.dtype !== dtype) fail(`input ${i} has dtype ${t.dtype} but input ${indices[0]} has ${dtype}`);
  }
  if (dtype === undefined) fail("no inputs");
  return dtype;
}

/** True if two dims are known to be equal. */
export function dimEquals(a: Dim, b: Dim): boolean {
  return a === b;
}

/** Numpy-style broadcast of shapes; symbolic dims match themselves or 1. */
export function broadcastShapes(shapes: readonly Shape[]): Dim[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    let dim: Dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + k];
      if (d === undefined || d === 1) continue;
      if (dim === 1) dim = d;
      else if (dim !== d) {
        // A symbolic dim against a concrete one: assume they agree at run time.
        if (typeof dim === "string" && typeof d === "number") dim = d;
        else if (!(typeof d === "string" && typeof dim === "number")) {
          fail(`shapes ${shapes.map(formatShape).join(" and ")} cannot be broadcast`);
        }
      }
    }
    out.push(dim);
  }
  return out;
}

function normAxis(axis: number, rank: number, what = "axis"): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

function product(dims: readonly Dim[]): Dim {
  let n = 1;
  for (const d of dims) {
    if (typeof d !== "number") return dims.length === 1 ? d : `(${dims.join("*")})`;
    n *= d;
  }
  return n;
}

const unary: ShapeRule = (ctx) => [need(ctx, 0)];
const unaryFloat: ShapeRule = (ctx) => [needFloat(ctx, 0)];

const binary: ShapeRule = (ctx) => {
  const a = need(ctx, 0), b = need(ctx, 1);
  return [{ dtype: sameDtype(ctx, [0, 1]), shape: broadcastShapes([a.shape, b.shape]) }];
};

/** Pow: the base's dtype; the exponent may be of another numeric type (opset 12 and later). */
const pow: ShapeRule = (ctx) => {
  const a = need(ctx, 0), b = need(ctx, 1);
  return [{ dtype: a.dtype, shape: broadcastShapes([a.shape, b.shape]) }];
};

const variadic: ShapeRule = (ctx) => {
  const idx = ctx.inputs.map((_, i) => i);
  return [{ dtype: sameDtype(ctx, idx), shape: broadcastShapes(idx.map((i) => need(ctx, i).shape)) }];
};

const compare: ShapeRule = (ctx) => {
  const [t] = binary(ctx) as TensorType[];
  return [{ dtype: "bool", shape: t!.shape }];
};

const logical: ShapeRule = (ctx) => {
  for (const i of [0, 1]) if (need(ctx, i).dtype !== "bool") fail(`input ${i} must be bool`);
  return [{ dtype: "bool", shape: broadcastShapes([need(ctx, 0).shape, need(ctx, 1).shape]) }];
};

function matmulShape(a: Shape, b: Shape): Dim[] {
  if (a.length === 0 || b.length === 0) fail("MatMul inputs must not be scalars");
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const k1 = a2[a2.length - 1]!, k2 = b2[b2.length - 2]!;
  if (typeof k1 === "number" && typeof k2 === "number" && k1 !== k2) {
    fail(`inner dims differ: ${formatShape(a)} × ${formatShape(b)}`);
  }
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]);
  const out = [...batch, a2[a2.length - 2]!, b2[b2.length - 1]!];
  if (a.length === 1) out.splice(out.length - 2, 1);
  if (b.length === 1) out.splice(out.length - 1, 1);
  return out;
}

function reduceAxes(ctx: ShapeContext, rank: number, axesInputIndex: number | undefined): number[] | undefined {
  const fromAttr = intsAttr(ctx.node, "axes");
  if (fromAttr) return fromAttr.map((a) => normAxis(a, rank));
  if (axesInputIndex !== undefined && ctx.inputs[axesInputIndex]) {
    const c = ctx.constant(axesInputIndex);
    if (!c) fail("axes input must be a constant");
    return toNumbers(c).map((a) => normAxis(a, rank));
  }
  return undefined;
}

function reduceRule(axesFromInputSince: number): ShapeRule {
  return (ctx) => {
    const x = need(ctx, 0);
    const keep = intAttr(ctx.node, "keepdims", 1) === 1;
    const axesIndex = ctx.opset >= axesFromInputSince ? 1 : undefined;
    let axes = reduceAxes(ctx, x.shape.length, axesIndex);
    if (!axes || axes.length === 0) {
      if (intAttr(ctx.node, "noop_with_empty_axes", 0) === 1) return [x];
      axes = x.shape.map((_, i) => i);
    }
    const shape: Dim[] = [];
    x.shape.forEach((d, i) => {
      if (!axes!.includes(i)) shape.push(d);
      else if (keep) shape.push(1);
    });
    return [{ dtype: x.dtype, shape }];
  };
}

function spatialOut(
  ctx: ShapeContext,
  x: TensorType,
  kernel: readonly number[],
  channels: Dim,
): TensorType {
  const n = kernel.length;
  if (x.shape.length !== n + 2) fail(`input must have rank ${n + 2}, got ${formatShape(x.shape)}`);
  const strides = intsAttr(ctx.node, "strides", kernel.map(() => 1));
  const dilations = intsAttr(ctx.node, "dilations", kernel.map(() => 1));
  const kEff = kernel.map((k, i) => (k - 1) * dilations[i]! + 1);
  const sizes = x.shape.slice(2);
  const same = stringAttr(ctx.node, "auto_pad", "NOTSET").startsWith("SAME");
  // SAME pads depend on the size; other modes do not, so symbolic sizes still get their pads checked.
  const pads = resolveWindowPads(ctx.node, sizes.map((d) => (typeof d === "number" ? d : 1)), kEff, strides);
  const ceil = intAttr(ctx.node, "ceil_mode", 0) === 1;
  const spatial = sizes.map((size, i): Dim => {
    if (typeof size !== "number") return ctx.fresh();
    if (same) return Math.ceil(size / strides[i]!);
    return windowOutputSize(size, pads[i]!, pads[i + n]!, kEff[i]!, strides[i]!, ceil);
  });
  return { dtype: x.dtype, shape: [x.shape[0]!, channels, ...spatial] };
}

/**
 * Output length of a windowed op along one axis: `size` padded by `padBegin`
 * and `padEnd`, windows of extent `kEff` every `stride`. With `ceil` (pools'
 * ceil_mode) a last window that would start inside the end padding is dropped,
 * as ONNX Runtime and PyTorch do.
 */
export function windowOutputSize(
  size: number,
  padBegin: number,
  padEnd: number,
  kEff: number,
  stride: number,
  ceil: boolean,
): number {
  const span = size + padBegin + padEnd - kEff;
  if (span < 0) fail(`kernel ${kEff} is larger than padded input ${size + padBegin + padEnd}`);
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (ceil && (out - 1) * stride >= size + padBegin) out--;
  return out;
}

/**
 * Explicit pads [begin…, end…] of a windowed op (Conv, pools) after resolving
 * `auto_pad`, for concrete spatial `size`, effective kernel extents `kEff`
 * ((k − 1)·dilation + 1) and `strides`. Shared by shape inference, lowering
 * and differentiation, so the three agree on the geometry. Errors name the node.
 */
export function windowPads(
  node: Node,
  size: readonly number[],
  kEff: readonly number[],
  strides: readonly number[],
): number[] {
  try {
    return resolveWindowPads(node, size, kEff, strides);
  } catch (e) {
    if (e instanceof ShapeRuleError) throw new GraphError(e.message, { nodeName: node.name, opType: node.opType });
    throw e;
  }
}

/** {@linkcode windowPads} for use inside shape rules (plain messages; the builder names the node). */
function resolveWindowPads(
  node: Node,
  size: readonly number[],
  kEff: readonly number[],
  strides: readonly number[],
): number[] {
  const n = size.length;
  const autoPad = stringAttr(node, "auto_pad", "NOTSET");
  if (autoPad === "VALID") return Array(2 * n).fill(0);
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    const head: number[] = [], tail: number[] = [];
    for (let i = 0; i < n; i++) {
      const out = Math.ceil(size[i]! / strides[i]!);
      const total = Math.max(0, (out - 1) * strides[i]! + kEff[i]! - size[i]!);
      const h = autoPad === "SAME_UPPER" ? Math.floor(total / 2) : Math.ceil(total / 2);
      head.push(h);
      tail.push(total - h);
    }
    return [...head, ...tail];
  }
  if (autoPad !== "NOTSET") fail(`auto_pad "${autoPad}" is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER`);
  const pads = intsAttr(node, "pads", Array(2 * n).fill(0));
  if (pads.length !== 2 * n) fail(`pads [${pads.join(", ")}] needs ${2 * n} values`);
  return [...pads];
}

function reshapeTarget(ctx: ShapeContext, x: TensorType, target: readonly Dim[]): Dim[] {
  const allowZero = intAttr(ctx.node, "allowzero", 0) === 1;
  const out: Dim[] = target.map((
    d,
    i,
  ) => (d === 0 && !allowZero ? x.shape[i] ?? fail(`dim 0 copies a missing input dim ${i}`) : d));
  const inferred = out.indexOf(-1);
  if (out.filter((d) => d === -1).length > 1) fail("at most one dim may be -1");
  const total = product(x.shape);
  if (inferred >= 0) {
    const rest = out.filter((_, i) => i !== inferred);
    const known = product(rest);
    if (typeof total === "number" && typeof known === "number") {
      if (known === 0 || total % known !== 0) fail(`cannot reshape ${formatShape(x.shape)} to ${formatShape(target)}`);
      out[inferred] = total / known;
    } else {
      // Symbolic: the -1 takes the input's symbolic dims that the others do not account for
      // (as a multiset: [n, n] reshaped to [n, -1] leaves one n).
      const unmatched = rest.filter((d) => typeof d === "string");
      const symbolic = x.shape.filter((d) => {
        if (typeof d !== "string") return false;
        const k = unmatched.indexOf(d);
        if (k < 0) return true;
        unmatched.splice(k, 1);
        return false;
      });
      const numericIn = x.shape.filter((d) => typeof d === "number").reduce(
        (a, b) => (a as number) * (b as number),
        1,
      ) as number;
      const numericRest = rest.filter((d) => typeof d === "number").reduce(
        (a, b) => (a as number) * (b as number),
        1,
      ) as number;
      const symbolicRestOk = rest.every((d) => typeof d === "number" || x.shape.includes(d));
      if (symbolicRestOk && numericIn % numericRest === 0) {
        const k = numericIn / numericRest;
        // A product gets a name made of its factors, so two Reshapes of one value agree on it.
        out[inferred] = symbolic.length === 0
          ? k
          : symbolic.length === 1 && k === 1
          ? symbolic[0]!
          : [...(k === 1 ? [] : [String(k)]), ...symbolic].join("*");
      } else out[inferred] = ctx.fresh();
    }
  } else {
    const t = product(out);
    if (typeof total === "number" && typeof t === "number" && t !== total) {
      fail(`cannot reshape ${formatShape(x.shape)} (${total} elements) to ${formatShape(out)} (${t} elements)`);
    }
    // Same symbolic dims on both sides: the concrete parts must then have equal products.
    const symbolicKey = (s: readonly Dim[]) => s.filter((d) => typeof d === "string").sort().join("\u0000");
    const numeric = (s: readonly Dim[]) => s.reduce<number>((a, d) => (typeof d === "number" ? a * d : a), 1);
    if (typeof total !== "number" && symbolicKey(x.shape) === symbolicKey(out) && numeric(x.shape) !== numeric(out)) {
      fail(`cannot reshape ${formatShape(x.shape)} to ${formatShape(out)}: element counts differ`);
    }
  }
  return out;
}

function sliceParams(ctx: ShapeContext, rank: number) {
  const get = (i: number, attrName: string): number[] | undefined => {
    if (ctx.opset >= 10) return knownInts(ctx, i);
    const a = intsAttr(ctx.node, attrName);
    return a ? [...a] : undefined;
  };
  const starts = get(1, "starts"), ends = get(2, "ends");
  const axes = get(3, "axes") ?? starts?.map((_, i) => i);
  const steps = get(4, "steps") ?? starts?.map(() => 1);
  if (!starts || !ends || !axes || !steps) return undefined;
  return { starts, ends, axes: axes.map((a) => normAxis(a, rank)), steps };
}

/** Applies a Slice to one concrete dim; returns the output size and the effective start. */
export function sliceDim(size: number, start: number, end: number, step: number): { size: number; start: number } {
  if (step === 0) fail("slice step must not be 0");
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + size : start;
  let e = end < 0 ? end + size : end;
  if (step > 0) {
    s = clamp(s, 0, size);
    e = clamp(e, 0, size);
    return { size: Math.max(0, Math.ceil((e - s) / step)), start: s };
  }
  // ONNX (and ONNX Runtime) clamp a backward start into [0, size − 1], unlike Python slicing.
  s = clamp(s, 0, size - 1);
  e = clamp(e, -1, size - 1);
  return { size: Math.max(0, Math.ceil((e - s) / step)), start: s };
}

function castTarget(node: Node): DType {
  const to = intAttr(node, "to");
  const map: Record<number, DType> = { 1: "float32", 6: "int32", 7: "int64", 9: "bool", 11: "float64" };
  const d = to === undefined ? undefined : map[to];
  if (!d) fail(`cast target ${to} is not supported`);
  return d;
}

// Shape values through shape arithmetic. Exporters compute run-time shapes from Shape(x) with
// Gather, Unsqueeze, Concat, Slice, Cast, Reshape, Add/Sub/Mul/Div, Equal and Where (torch's
// `t.expand(z.shape[0], 1)`, TorchScript's `Where(Equal(s, −1), 1, s)`); carrying the values
// through them keeps a symbolic batch dim all the way to the Expand, Reshape or ConstantOfShape
// that uses them. Bools are 0 and 1. Symbolic results of arithmetic are named by their
// expression, "(batch*2)", so equal expressions give equal dims.

/** The constant or shape value of int input `i` when every entry is a known number. */
function knownInts(ctx: ShapeContext, i: number): number[] | undefined {
  if (!ctx.inputs[i]) return undefined;
  const c = ctx.constant(i);
  if (c) return toNumbers(c);
  const sv = ctx.shapeValue(i);
  return sv && sv.every((d) => typeof d === "number") ? sv as number[] : undefined;
}

/**
 * `rule`, plus the shape value `value` gives for its first output when that
 * output is a non-float tensor of rank 0 or 1 and the rule gave none. A value
 * whose length contradicts the output's size is dropped.
 */
function valued(rule: ShapeRule, value: (ctx: ShapeContext) => Dim[] | undefined): ShapeRule {
  return (ctx) => {
    const r = rule(ctx);
    const result: ShapeResult = Array.isArray(r) ? { types: r } : r as ShapeResult;
    const t = result.types[0];
    if (!t || result.shapeValues?.[0] || isFloat(t.dtype) || t.shape.length > 1) return result;
    const sv = value(ctx);
    const size = t.shape.length === 0 ? 1 : t.shape[0]!;
    if (!sv || (typeof size === "number" && sv.length !== size)) return result;
    return { ...result, shapeValues: [sv, ...(result.shapeValues?.slice(1) ?? [])] };
  };
}

/** Elementwise `f` over the shape values of inputs `indices` (length-1 values broadcast). */
function zipValues(
  ctx: ShapeContext,
  indices: readonly number[],
  f: (...xs: Dim[]) => Dim | undefined,
): Dim[] | undefined {
  const vs = indices.map((i) => ctx.shapeValue(i));
  if (vs.some((v) => !v)) return undefined;
  const n = Math.max(...vs.map((v) => v!.length));
  if (vs.some((v) => v!.length !== n && v!.length !== 1)) return undefined;
  const out: Dim[] = [];
  for (let k = 0; k < n; k++) {
    const d = f(...vs.map((v) => v![v!.length === 1 ? 0 : k]!));
    if (d === undefined) return undefined;
    out.push(d);
  }
  return out;
}

/** Int64 arithmetic on dims: exact on numbers, identities on symbols, else the expression as a name. */
const DIM_ARITHMETIC: Readonly<Record<string, (a: Dim, b: Dim) => Dim>> = {
  Add: (a, b) => typeof a === "number" && typeof b === "number" ? a + b : b === 0 ? a : a === 0 ? b : `(${a}+${b})`,
  Sub: (a, b) => typeof a === "number" && typeof b === "number" ? a - b : b === 0 ? a : a === b ? 0 : `(${a}-${b})`,
  Mul: (a, b) =>
    typeof a === "number" && typeof b === "number"
      ? a * b
      : a === 0 || b === 0
      ? 0
      : b === 1
      ? a
      : a === 1
      ? b
      : `(${a}*${b})`,
  // ONNX integer Div truncates.
  Div: (a, b) =>
    typeof a === "number" && typeof b === "number"
      ? (b === 0 ? fail("shape arithmetic divides by zero") : Math.trunc(a / b))
      : b === 1
      ? a
      : a === b
      ? 1
      : `(${a}/${b})`,
};

/** Shape values of Add, Sub, Mul, Div on int shape tensors. */
function arithmeticValue(op: string): (ctx: ShapeContext) => Dim[] | undefined {
  const f = DIM_ARITHMETIC[op]!;
  return (
    ctx,
  ) => (need(ctx, 0).dtype === "int64" || need(ctx, 0).dtype === "int32" ? zipValues(ctx, [0, 1], f) : undefined);
}

/** Equal on dims: known where both are numbers or the same symbol; a symbolic dim (≥ 0) never equals a negative number. */
function equalValue(ctx: ShapeContext): Dim[] | undefined {
  return zipValues(ctx, [0, 1], (a, b) => {
    if (a === b) return 1;
    if (typeof a === "number" && typeof b === "number") return 0;
    if ((typeof a === "number" && a < 0) || (typeof b === "number" && b < 0)) return 0;
    return undefined;
  });
}

/** Integer Mod (fmod 0) on known numbers, with the divisor's sign as Python's %; TorchScript uses it on shapes. */
function modValue(ctx: ShapeContext): Dim[] | undefined {
  if (intAttr(ctx.node, "fmod", 0) !== 0 || isFloat(need(ctx, 0).dtype)) return undefined;
  const mod = (a: Dim, b: Dim) =>
    typeof a === "number" && typeof b === "number" && b !== 0 ? ((a % b) + b) % b : undefined;
  return zipValues(ctx, [0, 1], mod);
}

const RULES: ReadonlyArray<readonly [string, ShapeRule]> = [
  ["Identity", valued(unary, (ctx) => ctx.shapeValue(0))],
  ["Neg", valued(unary, (ctx) => zipValues(ctx, [0], (a) => (typeof a === "number" ? -a : undefined)))],
  ...["Abs", "Sign", "Floor", "Ceil", "Round"].map((op) => [op, unary] as const),
  ...[
    "Exp",
    "Log",
    "Sqrt",
    "Reciprocal",
    "Tanh",
    "Sigmoid",
    "Softplus",
    "Softsign",
    "Relu",
    "LeakyRelu",
    "Elu",
    "Selu",
    "Erf",
    "Sin",
    "Cos",
    "HardSigmoid",
  ].map((op) => [op, unaryFloat] as const),
  ...["Add", "Sub", "Mul", "Div"].map((op) => [op, valued(binary, arithmeticValue(op))] as const),
  ["Pow", pow],
  ...["Sum", "Max", "Min", "Mean"].map((op) => [op, variadic] as const),
  ["Equal", valued(compare, equalValue)],
  ...["Less", "Greater", "LessOrEqual", "GreaterOrEqual"].map((op) => [op, compare] as const),
  ...["And", "Or", "Xor"].map((op) => [op, logical] as const),
  ["Not", (ctx) => [need(ctx, 0)]],
  [
    "Cast",
    valued((ctx) => [{ dtype: castTarget(ctx.node), shape: need(ctx, 0).shape }], (ctx) => {
      const to = castTarget(ctx.node);
      if (to !== "bool") return ctx.shapeValue(0);
      return zipValues(ctx, [0], (a) => (typeof a === "number" ? (a !== 0 ? 1 : 0) : undefined));
    }),
  ],
  ["CastLike", (ctx) => [{ dtype: need(ctx, 1).dtype, shape: need(ctx, 0).shape }]],
  [
    "Where",
    valued((ctx) => {
      const c = need(ctx, 0);
      if (c.dtype !== "bool") fail("condition must be bool");
      const x = need(ctx, 1), y = need(ctx, 2);
      if (x.dtype !== y.dtype) fail(`branches have dtypes ${x.dtype} and ${y.dtype}`);
      return [{ dtype: x.dtype, shape: broadcastShapes([c.shape, x.shape, y.shape]) }];
    }, (ctx) => zipValues(ctx, [0, 1, 2], (c, x, y) => (c === 1 ? x : c === 0 ? y : undefined))),
  ],
  ["Softmax", unaryFloat],
  ["LogSoftmax", unaryFloat],
  ["MatMul", (ctx) => [{ dtype: sameDtype(ctx, [0, 1]), shape: matmulShape(need(ctx, 0).shape, need(ctx, 1).shape) }]],
  ["Gemm", (ctx) => {
    const a = need(ctx, 0), b = need(ctx, 1);
    if (a.shape.length !== 2 || b.shape.length !== 2) {
      fail(`A and B must be matrices, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
    }
    const dtype = sameDtype(ctx, [0, 1, 2]);
    const ta = intAttr(ctx.node, "transA", 0) === 1, tb = intAttr(ctx.node, "transB", 0) === 1;
    const [m, ka] = ta ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
    const [kb, n] = tb ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
    if (typeof ka === "number" && typeof kb === "number" && ka !== kb) {
      fail(`inner dims differ: A ${formatShape(a.shape)}${ta ? "ᵀ" : ""} × B ${formatShape(b.shape)}${tb ? "ᵀ" : ""}`);
    }
    const c = ctx.inputs[2];
    if (c) broadcastShapes([[m, n], c.shape]);
    if (c && c.shape.length > 2) fail(`C must broadcast to [${m}, ${n}], got ${formatShape(c.shape)}`);
    return [{ dtype, shape: [m, n] }];
  }],
  ["Concat", (ctx) => {
    const ts = ctx.inputs.map((_, i) => need(ctx, i));
    const dtype = sameDtype(ctx, ts.map((_, i) => i));
    const rank = ts[0]!.shape.length;
    const axis = normAxis(intAttr(ctx.node, "axis", 0), rank);
    let total: Dim = 0;
    ts.forEach((t, i) => {
      if (t.shape.length !== rank) fail(`input ${i} has rank ${t.shape.length}, expected ${rank}`);
      t.shape.forEach((d, k) => {
        const d0 = ts[0]!.shape[k]!;
        if (k !== axis && typeof d === "number" && typeof d0 === "number" && d !== d0) {
          fail(
            `input ${i} has shape ${formatShape(t.shape)}, incompatible with ${
              formatShape(ts[0]!.shape)
            } off axis ${axis}`,
          );
        }
      });
      const d = t.shape[axis]!;
      total = typeof total === "number" && typeof d === "number" ? total + d : ctx.fresh();
    });
    const shape = [...ts[0]!.shape];
    shape[axis] = total;
    const parts = ts.map((_, i) => ctx.shapeValue(i));
    const sv = rank === 1 && dtype === "int64" && parts.every((p) => p) ? [parts.flat() as Dim[]] : undefined;
    return { types: [{ dtype, shape }], ...(sv ? { shapeValues: sv } : {}) };
  }],
  ["Shape", (ctx) => {
    const x = need(ctx, 0);
    const start = intAttr(ctx.node, "start", 0), end = intAttr(ctx.node, "end", x.shape.length);
    const r = x.shape.length;
    // Negative ends count from the rank, and both clamp to [0, rank] (an end below −rank gives no dims).
    const clamp = (v: number) => Math.min(r, Math.max(0, v < 0 ? v + r : v));
    const dims = x.shape.slice(clamp(start), Math.max(clamp(start), clamp(end)));
    return { types: [{ dtype: "int64", shape: [dims.length] }], shapeValues: [[...dims]] };
  }],
  ["Size", (ctx) => {
    const n = product(need(ctx, 0).shape);
    return { types: [{ dtype: "int64", shape: [] }], shapeValues: [[n]] };
  }],
  ["Constant", (ctx) => {
    const v = ctx.node.attributes["value"];
    if (v?.type === "tensor") {
      const t = v.value;
      const sv = t.dtype === "int64" && t.dims.length <= 1 ? [toNumbers(t)] : undefined;
      return { types: [{ dtype: t.dtype, shape: t.dims }], ...(sv ? { shapeValues: sv } : {}) };
    }
    const f = ctx.node.attributes["value_float"], fs = ctx.node.attributes["value_floats"];
    const i = ctx.node.attributes["value_int"], is = ctx.node.attributes["value_ints"];
    if (f) return [{ dtype: "float32", shape: [] }];
    if (fs?.type === "floats") return [{ dtype: "float32", shape: [fs.value.length] }];
    if (i?.type === "int") return { types: [{ dtype: "int64", shape: [] }], shapeValues: [[i.value]] };
    if (is?.type === "ints") {
      return { types: [{ dtype: "int64", shape: [is.value.length] }], shapeValues: [[...is.value]] };
    }
    fail("Constant needs a value attribute");
  }],
  [
    "ConstantOfShape",
    valued((ctx) => {
      const dims = ctx.shapeValue(0);
      const v = ctx.node.attributes["value"];
      const dtype = v?.type === "tensor" ? v.value.dtype : "float32";
      const rank = need(ctx, 0).shape[0];
      if (!dims) {
        if (typeof rank !== "number") fail("shape input must have a known length");
        return [{ dtype, shape: Array.from({ length: rank }, () => ctx.fresh()) }];
      }
      return [{ dtype, shape: dims }];
    }, (ctx) => {
      // A filled int vector of known length (TorchScript's ConstantOfShape(Shape(s)) of ones).
      const v = ctx.node.attributes["value"];
      const dims = knownInts(ctx, 0);
      if (v?.type !== "tensor" || !dims || dims.length > 1) return undefined;
      const n = dims.length === 0 ? 1 : dims[0]!;
      return n <= 64 ? Array(n).fill(toNumbers(v.value)[0]!) : undefined;
    }),
  ],
  [
    "Reshape",
    valued((ctx) => {
      const x = need(ctx, 0);
      const target = ctx.shapeValue(1);
      if (!target) {
        const len = need(ctx, 1).shape[0];
        if (typeof len !== "number") fail("target shape must have a known length");
        return [{ dtype: x.dtype, shape: Array.from({ length: len }, () => ctx.fresh()) }];
      }
      return [{ dtype: x.dtype, shape: reshapeTarget(ctx, x, target) }];
    }, (ctx) => ctx.shapeValue(0)),
  ],
  ["Flatten", (ctx) => {
    const x = need(ctx, 0);
    const axis = intAttr(ctx.node, "axis", 1);
    const a = axis < 0 ? axis + x.shape.length : axis;
    if (a < 0 || a > x.shape.length) fail(`axis ${axis} is out of range for rank ${x.shape.length}`);
    return [{ dtype: x.dtype, shape: [product(x.shape.slice(0, a)), product(x.shape.slice(a))] }];
  }],
  ["Transpose", (ctx) => {
    const x = need(ctx, 0);
    const perm = intsAttr(ctx.node, "perm", x.shape.map((_, i) => x.shape.length - 1 - i));
    if (perm.length !== x.shape.length || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
      fail(`perm [${perm.join(", ")}] is not a permutation of rank ${x.shape.length}`);
    }
    return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]!) }];
  }],
  ["Unsqueeze", (ctx) => {
    const x = need(ctx, 0);
    const axes = ctx.opset >= 13
      ? (ctx.constant(1) ? toNumbers(ctx.constant(1)!) : undefined)
      : intsAttr(ctx.node, "axes")?.slice();
    if (!axes) fail("axes must be a constant");
    const rank = x.shape.length + axes.length;
    const norm = axes.map((a) => normAxis(a, rank));
    const shape: Dim[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[k++]!);
    const sv = ctx.shapeValue(0);
    return { types: [{ dtype: x.dtype, shape }], ...(sv && x.shape.length === 0 ? { shapeValues: [sv] } : {}) };
  }],
  ["Squeeze", (ctx) => {
    const x = need(ctx, 0);
    const axesRaw = ctx.opset >= 13
      ? (ctx.inputs[1] ? ctx.constant(1) && toNumbers(ctx.constant(1)!) : undefined)
      : intsAttr(ctx.node, "axes")?.slice();
    if (ctx.inputs[1] && !axesRaw) fail("axes must be a constant");
    const axes = axesRaw
      ? axesRaw.map((a) => normAxis(a, x.shape.length))
      : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
    for (const a of axes) {
      if (typeof x.shape[a] === "number" && x.shape[a] !== 1) fail(`cannot squeeze axis ${a} of size ${x.shape[a]}`);
    }
    const sv = ctx.shapeValue(0);
    return {
      types: [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !axes.includes(i)) }],
      ...(sv ? { shapeValues: [sv] } : {}),
    };
  }],
  ["Expand", (ctx) => {
    const x = need(ctx, 0);
    const target = ctx.shapeValue(1);
    if (target) return [{ dtype: x.dtype, shape: broadcastShapes([x.shape, target]) }];
    // A target computed in a way the shape values do not follow: its length fixes the rank,
    // x's dims other than 1 survive the broadcast, and the rest are unknown.
    const len = need(ctx, 1).shape[0];
    if (typeof len !== "number") fail("target shape must have a known length");
    const rank = Math.max(len, x.shape.length);
    const shape = Array.from({ length: rank }, (_, k): Dim => {
      const d = x.shape[k - (rank - x.shape.length)];
      return d === undefined || d === 1 ? ctx.fresh() : d;
    });
    return [{ dtype: x.dtype, shape }];
  }],
  ["Tile", (ctx) => {
    const x = need(ctx, 0);
    const reps = ctx.shapeValue(1) ??
      (typeof need(ctx, 1).shape[0] === "number" && need(ctx, 1).shape[0] === x.shape.length
        ? x.shape.map(() => ctx.fresh())
        : undefined);
    if (!reps || reps.length !== x.shape.length) fail("repeats must have one entry per dim");
    return [{
      dtype: x.dtype,
      shape: x.shape.map((d, i) => {
        const r = reps[i]!;
        return typeof d === "number" && typeof r === "number" ? d * r : r === 1 ? d : ctx.fresh();
      }),
    }];
  }],
  ["Slice", (ctx) => {
    const x = need(ctx, 0);
    const p = sliceParams(ctx, x.shape.length);
    if (!p) fail("starts, ends, axes and steps must be constants");
    const shape = [...x.shape];
    p.axes.forEach((axis, i) => {
      const size = shape[axis]!;
      if (typeof size === "number") shape[axis] = sliceDim(size, p.starts[i]!, p.ends[i]!, p.steps[i]!).size;
      else if (p.starts[i] === 0 && p.ends[i]! >= 2 ** 31 - 1 && p.steps[i] === 1) shape[axis] = size;
      else shape[axis] = ctx.fresh();
    });
    const sv = ctx.shapeValue(0);
    let out: Dim[] | undefined;
    if (sv && x.shape.length === 1) {
      const step = p.steps[0]!;
      const { size, start } = sliceDim(sv.length, p.starts[0]!, p.ends[0]!, step);
      out = Array.from({ length: size }, (_, k) => sv[start + k * step]!);
    }
    return { types: [{ dtype: x.dtype, shape }], ...(out ? { shapeValues: [out] } : {}) };
  }],
  ["Split", (ctx) => {
    const x = need(ctx, 0);
    const n = ctx.node.outputs.length;
    const axis = normAxis(intAttr(ctx.node, "axis", 0), x.shape.length);
    const size = x.shape[axis]!;
    let parts: number[] | undefined;
    if (ctx.opset >= 13 && ctx.inputs[1]) {
      const c = ctx.constant(1);
      if (!c) fail("split sizes must be a constant");
      parts = toNumbers(c);
    } else if (intsAttr(ctx.node, "split")) parts = [...intsAttr(ctx.node, "split")!];
    if (!parts) {
      if (typeof size !== "number") {
        return Array.from(
          { length: n },
          () => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === axis ? ctx.fresh() : d)) }),
        );
      }
      const chunk = Math.ceil(size / n);
      parts = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, size - i * chunk)));
    }
    if (parts.length !== n) fail(`${parts.length} split sizes for ${n} outputs`);
    if (typeof size === "number" && parts.reduce((a, b) => a + b, 0) !== size) {
      fail(`split sizes [${parts.join(", ")}] do not add up to dim ${axis} of size ${size}`);
    }
    return parts.map((p) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === axis ? p : d)) }));
  }],
  ["Gather", (ctx) => {
    const x = need(ctx, 0), idx = need(ctx, 1);
    if (idx.dtype !== "int64" && idx.dtype !== "int32") fail("indices must be int64 or int32");
    const axis = normAxis(intAttr(ctx.node, "axis", 0), x.shape.length);
    const shape = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
    const sv = ctx.shapeValue(0), ci = knownInts(ctx, 1);
    let out: Dim[] | undefined;
    if (sv && ci && x.shape.length === 1 && ci.every((i) => i >= -sv.length && i < sv.length)) {
      out = ci.map((i) => sv[i < 0 ? i + sv.length : i]!);
    }
    return { types: [{ dtype: x.dtype, shape }], ...(out ? { shapeValues: [out] } : {}) };
  }],
  ["ReduceSum", reduceRule(13)],
  ["ReduceMean", reduceRule(18)],
  ["ReduceMax", reduceRule(18)],
  ["ReduceMin", reduceRule(18)],
  ["ReduceProd", reduceRule(18)],
  ["ReduceSumSquare", reduceRule(18)],
  ["ReduceLogSumExp", reduceRule(18)],
  ["ArgMax", (ctx) => {
    const x = need(ctx, 0);
    const axis = normAxis(intAttr(ctx.node, "axis", 0), x.shape.length);
    const keep = intAttr(ctx.node, "keepdims", 1) === 1;
    const shape = keep ? x.shape.map((d, i) => (i === axis ? 1 : d)) : x.shape.filter((_, i) => i !== axis);
    return [{ dtype: "int64", shape }];
  }],
  ["Conv", (ctx) => {
    const x = needFloat(ctx, 0), w = need(ctx, 1);
    const dtype = sameDtype(ctx, [0, 1, 2]);
    const group = intAttr(ctx.node, "group", 1);
    const kernel = w.shape.slice(2);
    if (kernel.some((k) => typeof k !== "number")) fail(`weight shape ${formatShape(w.shape)} must be concrete`);
    const cin = x.shape[1], wc = w.shape[1];
    if (typeof cin === "number" && typeof wc === "number" && cin !== wc * group) {
      fail(`input has ${cin} channels but weight ${formatShape(w.shape)} expects ${(wc as number) * group}`);
    }
    const b = ctx.inputs[2];
    if (b && (b.shape.length !== 1 || b.shape[0] !== w.shape[0])) {
      fail(`bias shape ${formatShape(b.shape)} must be [${w.shape[0]}]`);
    }
    return [{ ...spatialOut(ctx, x, kernel as number[], w.shape[0]!), dtype }];
  }],
  ["ConvTranspose", (ctx) => {
    const x = needFloat(ctx, 0), w = need(ctx, 1);
    const dtype = sameDtype(ctx, [0, 1, 2]);
    const group = intAttr(ctx.node, "group", 1);
    const kernel = w.shape.slice(2) as number[];
    const n = kernel.length;
    const strides = intsAttr(ctx.node, "strides", kernel.map(() => 1));
    const dil = intsAttr(ctx.node, "dilations", kernel.map(() => 1));
    const pads = intsAttr(ctx.node, "pads", [...kernel.map(() => 0), ...kernel.map(() => 0)]);
    const outPad = intsAttr(ctx.node, "output_padding", kernel.map(() => 0));
    const outShape = intsAttr(ctx.node, "output_shape");
    // ONNX Runtime refuses the node only when it runs; say so while building.
    outPad.forEach((p, i) => {
      const limit = Math.max(strides[i] ?? 1, dil[i] ?? 1);
      if (p < 0 || p >= limit) {
        fail(
          `output_padding[${i}] (${p}) must be in [0, max(stride, dilation)) = [0, ${limit}) (as ONNX Runtime requires)`,
        );
      }
    });
    const autoPad = stringAttr(ctx.node, "auto_pad", "NOTSET");
    const same = autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER";
    const spatial: Dim[] = kernel.map((k, i) => {
      if (outShape) return outShape[outShape.length - n + i]!;
      const s = x.shape[i + 2]!;
      if (typeof s !== "number") return ctx.fresh();
      if (same) return s * strides[i]!;
      if (autoPad === "VALID") return strides[i]! * (s - 1) + outPad[i]! + (k - 1) * dil[i]! + 1;
      return strides[i]! * (s - 1) + outPad[i]! + (k - 1) * dil[i]! + 1 - pads[i]! - pads[i + n]!;
    });
    return [{ dtype, shape: [x.shape[0]!, (w.shape[1] as number) * group, ...spatial] }];
  }],
  ["MaxPool", (ctx) => {
    const x = needFloat(ctx, 0);
    const kernel = intsAttr(ctx.node, "kernel_shape");
    if (!kernel) fail("kernel_shape is required");
    const t = spatialOut(ctx, x, kernel, x.shape[1]!);
    return ctx.node.outputs.length > 1 ? [t, { dtype: "int64", shape: t.shape }] : [t];
  }],
  ["AveragePool", (ctx) => {
    const x = needFloat(ctx, 0);
    const kernel = intsAttr(ctx.node, "kernel_shape");
    if (!kernel) fail("kernel_shape is required");
    return [spatialOut(ctx, x, kernel, x.shape[1]!)];
  }],
  ["GlobalAveragePool", (ctx) => {
    const x = needFloat(ctx, 0);
    return [{ dtype: x.dtype, shape: [x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map(() => 1)] }];
  }],
  ["BatchNormalization", (ctx) => {
    const x = needFloat(ctx, 0);
    const dtype = sameDtype(ctx, [0, 1, 2]);
    const c = x.shape[1]!;
    for (const i of [1, 2, 3, 4]) {
      const t = need(ctx, i);
      if (t.shape.length !== 1 || (typeof c === "number" && typeof t.shape[0] === "number" && t.shape[0] !== c)) {
        fail(`input ${i} must have shape [${c}], got ${formatShape(t.shape)}`);
      }
    }
    floatAttr(ctx.node, "epsilon", 1e-5);
    const stat: TensorType = { dtype, shape: [c] };
    return [{ dtype, shape: x.shape }, stat, stat].slice(0, ctx.node.outputs.length);
  }],
  ["Pad", (ctx) => {
    const x = need(ctx, 0);
    const pads = ctx.opset >= 11 ? ctx.constant(1) && toNumbers(ctx.constant(1)!) : intsAttr(ctx.node, "pads")?.slice();
    if (!pads || pads.length !== 2 * x.shape.length) fail("pads must be a constant with two entries per dim");
    const r = x.shape.length;
    return [{
      dtype: x.dtype,
      shape: x.shape.map((
        d,
        i,
      ) => (typeof d === "number"
        ? d + pads[i]! + pads[i + r]!
        : pads[i] === 0 && pads[i + r] === 0
        ? d
        : ctx.fresh())
      ),
    }];
  }],
  ["Range", (ctx) => {
    const [s, l, d] = [0, 1, 2].map((i) => ctx.constant(i));
    const dtype = sameDtype(ctx, [0, 1, 2]);
    if (s && l && d) {
      const [a, b, c] = [s, l, d].map((t) => toNumbers(t)[0]!);
      return [{ dtype, shape: [Math.max(Math.ceil((b! - a!) / c!), 0)] }];
    }
    // Range(0, n, 1) over a dim read from a shape (arange(x.shape[0])) has that dim's length.
    const [start, limit, delta] = [0, 1, 2].map((i) => ctx.shapeValue(i)?.[0]);
    if (start === 0 && delta === 1 && typeof limit === "string") return [{ dtype, shape: [limit] }];
    return [{ dtype, shape: [ctx.fresh()] }];
  }],
  ["ScatterND", (ctx) => [need(ctx, 0)]],
  ["ScatterElements", (ctx) => [need(ctx, 0)]],
  ["GatherElements", (ctx) => [{ dtype: need(ctx, 0).dtype, shape: need(ctx, 1).shape }]],
  ["OneHot", (ctx) => {
    const idx = need(ctx, 0), depth = ctx.constant(1), values = need(ctx, 2);
    const axis = intAttr(ctx.node, "axis", -1);
    const shape: Dim[] = [...idx.shape];
    shape.splice(axis < 0 ? idx.shape.length + 1 + axis : axis, 0, depth ? toNumbers(depth)[0]! : ctx.fresh());
    return [{ dtype: values.dtype, shape }];
  }],
  // ---- ops torch exports for common layers ----
  ...["HardSwish", "Mish", "Celu"].map((op) => [op, unaryFloat] as const),
  ["Gelu", (ctx) => {
    const approximate = stringAttr(ctx.node, "approximate", "none");
    if (approximate !== "none" && approximate !== "tanh") fail(`approximate "${approximate}" is not "none" or "tanh"`);
    return [needFloat(ctx, 0)];
  }],
  ["Mod", valued(binary, modValue)],
  ["Clip", (ctx) => {
    const x = need(ctx, 0);
    for (const i of [1, 2]) {
      const t = ctx.inputs[i];
      if (!t) continue;
      if (t.dtype !== x.dtype) fail(`input ${i} is ${t.dtype} but the input is ${x.dtype}`);
      if (product(t.shape) !== 1) {
        fail(`input ${i} (${i === 1 ? "min" : "max"}) must be a scalar, got ${formatShape(t.shape)}`);
      }
    }
    return [x];
  }],
  ["PRelu", (ctx) => {
    const x = needFloat(ctx, 0), slope = need(ctx, 1);
    sameDtype(ctx, [0, 1]);
    const out = broadcastShapes([x.shape, slope.shape]);
    if (out.length !== x.shape.length || out.some((d, i) => typeof d === "number" && d !== x.shape[i])) {
      fail(`slope ${formatShape(slope.shape)} does not broadcast to the input ${formatShape(x.shape)}`);
    }
    return [x];
  }],
  ["LayerNormalization", (ctx) => {
    const x = needFloat(ctx, 0);
    need(ctx, 1);
    const dtype = sameDtype(ctx, [0, 1, 2]);
    const rank = x.shape.length;
    const axis = normAxis(intAttr(ctx.node, "axis", -1), rank);
    const normalized = x.shape.slice(axis);
    for (const i of [1, 2]) {
      const t = ctx.inputs[i];
      if (t && broadcastShapes([normalized, t.shape]).length !== normalized.length) {
        fail(`input ${i} ${formatShape(t.shape)} does not broadcast to the normalized dims ${formatShape(normalized)}`);
      }
    }
    const stash = intAttr(ctx.node, "stash_type", 1);
    if (stash !== 1 && stash !== 11) fail(`stash_type ${stash} is not 1 (float32) or 11 (float64)`);
    const stat: TensorType = {
      dtype: stash === 11 ? "float64" : "float32",
      shape: x.shape.map((d, i) => (i < axis ? d : 1)),
    };
    return [{ dtype, shape: x.shape }, stat, stat].slice(0, Math.max(1, ctx.node.outputs.length));
  }],
  ["InstanceNormalization", (ctx) => {
    const x = needFloat(ctx, 0);
    sameDtype(ctx, [0, 1, 2]);
    if (x.shape.length < 3) fail(`input must have rank 3 or more, got ${formatShape(x.shape)}`);
    const c = x.shape[1]!;
    for (const i of [1, 2]) {
      const t = need(ctx, i);
      if (t.shape.length !== 1 || (typeof c === "number" && typeof t.shape[0] === "number" && t.shape[0] !== c)) {
        fail(`input ${i} must have shape [${c}], got ${formatShape(t.shape)}`);
      }
    }
    return [x];
  }],
  ["GroupNormalization", (ctx) => {
    const x = needFloat(ctx, 0);
    sameDtype(ctx, [0, 1, 2]);
    const groups = intAttr(ctx.node, "num_groups");
    if (groups === undefined || groups < 1) fail("num_groups must be a positive int");
    if (x.shape.length < 3) fail(`input must have rank 3 or more, got ${formatShape(x.shape)}`);
    const c = x.shape[1]!;
    if (typeof c === "number" && c % groups !== 0) fail(`${c} channels do not split into ${groups} groups`);
    // Opset 18 scales per group; opset 21 per channel.
    const n = ctx.opset >= 21 ? c : groups;
    for (const i of [1, 2]) {
      const t = need(ctx, i);
      if (t.shape.length !== 1 || (typeof n === "number" && typeof t.shape[0] === "number" && t.shape[0] !== n)) {
        fail(`input ${i} must have shape [${n}] at opset ${ctx.opset}, got ${formatShape(t.shape)}`);
      }
    }
    return [x];
  }],
  ["Einsum", (ctx) => {
    const ts = ctx.inputs.map((_, i) => need(ctx, i));
    const dtype = sameDtype(ctx, ts.map((_, i) => i));
    const equation = stringAttr(ctx.node, "equation", "");
    if (!equation) fail("equation is required");
    const spec = parseEinsum(equation, ts.map((t) => t.shape.length));
    const sizes = einsumSizes(spec, ts.map((t) => t.shape));
    return [{ dtype, shape: spec.output.map((l) => sizes.get(l)!) }];
  }],
];

/** Shape rules by op type. Built from one array; a repeated op type is a programming error. */
export const SHAPE_RULES: ReadonlyMap<string, ShapeRule> = (() => {
  const map = new Map<string, ShapeRule>();
  for (const [op, rule] of RULES) {
    if (map.has(op)) throw new Error(`Shape rule for ${op} is registered twice`);
    map.set(op, rule);
  }
  return map;
})();
