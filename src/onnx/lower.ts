/**
 * Rewrites of composite ops into primitives, and the lowering of the ops that
 * ONNX Runtime's CPU kernels lack in float64.
 *
 * ORT 1.30 has no float64 kernel for Softplus, Softsign, Elu, Selu, Erf,
 * HardSigmoid, HardSwish, exact Gelu, Conv, ConvTranspose, AveragePool,
 * GlobalAveragePool, InstanceNormalization, Clip before opset 11 or
 * LayerNormalization with float64 statistics (stash_type 11); Celu is
 * float32-only in the ONNX schema; LayerNormalization and GroupNormalization
 * run in float64 but only to ~1e-13 (opset 21's GroupNormalization to ~1e-8:
 * float32 statistics); and the optimizer fuses x·Sigmoid(x) into a
 * float32-only kernel (all measured). float64 is how quadjoint checks
 * gradients tightly, so those nodes are rewritten into primitives that
 * compute in float64 ({@linkcode FLOAT64_LOWERINGS}); a rewrite that emits
 * another lowered op (Gelu's Erf, HardSwish's HardSigmoid) is lowered in turn.
 * float32 graphs are left alone: the native kernels are faster.
 * {@linkcode Runtime.compile} applies this before creating a session, so
 * built, imported and generated graphs all work. The VJP rules differentiate
 * composite ops through the same rewrites ({@linkcode LOWERINGS}), whether or
 * not ORT has a float64 kernel for them (Mish, tanh Gelu).
 *
 * Why one file: one rewrite per op, sharing the rewrite helpers, and the one
 * table of them; a list, not a hierarchy (the normalisation layers, which
 * share their own helpers, are in _lower_norm.ts).
 *
 * @module
 */
import { GraphBuilder, type Value } from "./builder.ts";
import { GraphError } from "./errors.ts";
import type { Graph, Node, TensorType } from "./graph.ts";
import { attr, defaultOpset, floatAttr, formatShape, intAttr, intsAttr, stringAttr, typeOf } from "./graph.ts";
import { windowOutputSize, windowPads } from "./shape_rules.ts";
import { int64, tensor } from "./tensor.ts";
import { globalAveragePool, groupNorm, instanceNorm, layerNorm } from "./_lower_norm.ts";

/**
 * Rewrites one node into primitives, returning its output values (same order
 * as `node.outputs`). An omitted optional input (empty name) is `undefined`.
 */
export type Lowering = (b: GraphBuilder, node: Node, inputs: (Value | undefined)[]) => Value[];

function scalar(b: GraphBuilder, dtype: TensorType["dtype"], v: number): Value {
  const data = dtype === "float64" ? new Float64Array([v]) : new Float32Array([v]);
  return b.constant(tensor(data, []));
}

/**
 * log(1 + u) accurate for tiny u (Kahan's trick, since ONNX has no Log1p):
 * with w = 1 + u rounded, log(w)·u/(w − 1), or u itself where w rounds to 1.
 */
function log1p(b: GraphBuilder, u: Value): Value {
  const one = scalar(b, u.dtype, 1);
  const w = b.op1("Add", [one, u]);
  const ratio = b.op1("Div", [b.op1("Mul", [b.op1("Log", [w]), u]), b.op1("Sub", [w, one])]);
  return b.op1("Where", [b.op1("Equal", [w, one]), u, ratio]);
}

/**
 * exp(x) − 1 accurate near 0 (Kahan's trick): with u = exp(x) rounded,
 * (u − 1)·x/log(u), x where u rounds to 1, −1 where u underflows.
 */
function expm1(b: GraphBuilder, x: Value): Value {
  const one = scalar(b, x.dtype, 1);
  const u = b.op1("Exp", [x]);
  const um1 = b.op1("Sub", [u, one]);
  const ratio = b.op1("Div", [b.op1("Mul", [um1, x]), b.op1("Log", [u])]);
  const nearZero = b.op1("Where", [b.op1("Equal", [u, one]), x, ratio]);
  return b.op1("Where", [b.op1("Less", [x, scalar(b, x.dtype, -700)]), b.op1("Neg", [one]), nearZero]);
}

/** softplus(x) = relu(x) + log1p(exp(−|x|)), stable for large |x| and accurate for very negative x. */
const softplus: Lowering = (b, _node, [x]) => {
  const tail = log1p(b, b.op1("Exp", [b.op1("Neg", [b.op1("Abs", [x!])])]));
  return [b.op1("Add", [b.op1("Relu", [x!]), tail])];
};

/** elu(x) = x for x > 0, alpha·expm1(x) otherwise. */
const elu: Lowering = (b, node, [x]) => {
  const alpha = floatAttr(node, "alpha", 1);
  const zero = scalar(b, x!.dtype, 0);
  const neg = b.op1("Mul", [scalar(b, x!.dtype, alpha), expm1(b, b.op1("Min", [x!, zero]))]);
  return [b.op1("Where", [b.op1("Greater", [x!, zero]), x!, neg])];
};

/** softsign(x) = x / (1 + |x|). */
const softsign: Lowering = (b, _node, [x]) => {
  return [b.op1("Div", [x!, b.op1("Add", [scalar(b, x!.dtype, 1), b.op1("Abs", [x!])])])];
};

/** ONNX's defaults for Selu, the float32 roundings of the exact constants. */
export const SELU_ALPHA = 1.67326319217681884765625;
/** See {@linkcode SELU_ALPHA}. */
export const SELU_GAMMA = 1.05070102214813232421875;

/** selu(x) = gamma · (x for x > 0, alpha·(exp(x) − 1) otherwise). */
const selu: Lowering = (b, node, [x]) => {
  const [inner] = elu(b, { ...node, attributes: { alpha: attr.float(floatAttr(node, "alpha", SELU_ALPHA)) } }, [x!]);
  return [b.op1("Mul", [scalar(b, x!.dtype, floatAttr(node, "gamma", SELU_GAMMA)), inner!])];
};

/** hardsigmoid(x) = max(0, min(1, alpha·x + beta)). */
const hardSigmoid: Lowering = (b, node, [x]) => {
  const d = x!.dtype;
  const lin = b.op1("Add", [
    b.op1("Mul", [scalar(b, d, floatAttr(node, "alpha", 0.2)), x!]),
    scalar(b, d, floatAttr(node, "beta", 0.5)),
  ]);
  return [b.op1("Max", [b.op1("Min", [lin, scalar(b, d, 1)]), scalar(b, d, 0)])];
};

/** hardswish(x) = x · hardsigmoid(x) with alpha 1/6, beta 1/2. */
const hardSwish: Lowering = (b, _node, [x]) => {
  const hs = b.op1("HardSigmoid", [x!], { alpha: attr.float(1 / 6), beta: attr.float(0.5) });
  return [b.op1("Mul", [x!, hs])];
};

/**
 * sigmoid(x) = 1 / (1 + exp(−x)). Sigmoid has a float64 kernel, but ORT's
 * extended optimizations fuse x·Sigmoid(x) (SiLU) into com.microsoft's
 * QuickGelu, which has none; without a Sigmoid there is nothing to fuse.
 */
const sigmoid: Lowering = (b, _node, [x]) => {
  const e = b.op1("Exp", [b.op1("Neg", [x!])]);
  return [b.op1("Reciprocal", [b.op1("Add", [scalar(b, x!.dtype, 1), e])])];
};

/** Clip before opset 11 (bounds as attributes): Max with min, then Min with max. */
const clip: Lowering = (b, node, inputs) => {
  let y = inputs[0]!;
  const bound = (i: number, name: string) =>
    inputs[i] ?? (node.attributes[name] ? scalar(b, y.dtype, floatAttr(node, name, 0)) : undefined);
  const lo = bound(1, "min"), hi = bound(2, "max");
  if (lo) y = b.op1("Max", [y, lo]);
  if (hi) y = b.op1("Min", [y, hi]);
  return [lo || hi ? y : b.op1("Identity", [y])];
};

/** mish(x) = x · tanh(softplus(x)). */
const mish: Lowering = (b, _node, [x]) => [b.op1("Mul", [x!, b.op1("Tanh", [b.op1("Softplus", [x!])])])];

/** celu(x) = alpha · elu(x / alpha). */
const celu: Lowering = (b, node, [x]) => {
  const alpha = scalar(b, x!.dtype, floatAttr(node, "alpha", 1));
  return [b.op1("Mul", [alpha, b.op1("Elu", [b.op1("Div", [x!, alpha])])])];
};

/** gelu(x) = x/2 · (1 + erf(x/√2)), or with approximate "tanh" x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³))). */
const gelu: Lowering = (b, node, [x]) => {
  const d = x!.dtype, c = (v: number) => scalar(b, d, v);
  const inner = stringAttr(node, "approximate", "none") === "tanh"
    ? b.op1("Tanh", [
      b.op1("Mul", [
        c(Math.sqrt(2 / Math.PI)),
        b.op1("Add", [x!, b.op1("Mul", [c(0.044715), b.op1("Mul", [x!, b.op1("Mul", [x!, x!])])])]),
      ]),
    ])
    : b.op1("Erf", [b.op1("Mul", [x!, c(Math.SQRT1_2)])]);
  return [b.op1("Mul", [b.op1("Mul", [c(0.5), x!]), b.op1("Add", [c(1), inner])])];
};

// W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969), as in his
// CALERF (netlib specfun): erf on |x| ≤ 0.46875, erfc on (0.46875, 4] and on (4, ∞), each near 1e-16 relative.
const ERF_A = [3.1611237438705656, 113.864154151050156, 377.485237685302021, 3209.37758913846947, 0.185777706184603153];
const ERF_B = [23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062];
const ERF_C = [
  0.564188496988670089,
  8.88314979438837594,
  66.1191906371416295,
  298.635138197400131,
  881.95222124176909,
  1712.04761263407058,
  2051.07837782607147,
  1230.33935479799725,
  2.15311535474403846e-8,
];
const ERF_D = [
  15.7449261107098347,
  117.693950891312499,
  537.181101862009858,
  1621.38957456669019,
  3290.79923573345963,
  4362.61909014324716,
  3439.36767414372164,
  1230.33935480374942,
];
const ERF_P = [
  0.305326634961232344,
  0.360344899949804439,
  0.125781726111229246,
  0.0160837851487422766,
  6.58749161529837803e-4,
  0.0163153871373020978,
];
const ERF_Q = [
  2.56852019228982242,
  1.87295284992346047,
  0.527905102951428412,
  0.0605183413124413191,
  0.00233520497626869185,
];
const ERF_THRESH = 0.46875;
const FRAC_1_SQRT_PI = 0.56418958354775628695;

/**
 * Cody's nested evaluation: num = ((lead·y + n₀)·y + n₁)·y … + nLast,
 * den = ((y + d₀)·y + d₁)·y … + dLast, returns num / den.
 */
function codyRatio(
  b: GraphBuilder,
  y: Value,
  lead: number,
  num: readonly number[],
  den: readonly number[],
): Value {
  const d = y.dtype;
  let xnum = b.op1("Mul", [scalar(b, d, lead), y]);
  let xden = y;
  for (let i = 0; i < den.length - 1; i++) {
    xnum = b.op1("Mul", [b.op1("Add", [xnum, scalar(b, d, num[i]!)]), y]);
    xden = b.op1("Mul", [b.op1("Add", [xden, scalar(b, d, den[i]!)]), y]);
  }
  const last = den.length - 1;
  return b.op1("Div", [b.op1("Add", [xnum, scalar(b, d, num[last]!)]), b.op1("Add", [xden, scalar(b, d, den[last]!)])]);
}

/**
 * erf(x) by Cody's three rational approximations, each on its own range and
 * chosen with Where. Every branch sees an input clamped into its range, so no
 * branch makes inf or NaN.
 */
const erf: Lowering = (b, _node, [x]) => {
  const d = x!.dtype;
  const c = (v: number) => scalar(b, d, v);
  const y = b.op1("Abs", [x!]);
  // |x| ≤ 0.46875: erf(x) = x · R₁(x²).
  const ySmall = b.op1("Min", [y, c(ERF_THRESH)]);
  const small = b.op1("Mul", [x!, codyRatio(b, b.op1("Mul", [ySmall, ySmall]), ERF_A[4]!, ERF_A, ERF_B)]);
  // 0.46875 < |x| ≤ 4: erfc(y) = exp(−y²) · R₂(y).
  const yMid = b.op1("Max", [b.op1("Min", [y, c(4)]), c(ERF_THRESH)]);
  const expMid = b.op1("Exp", [b.op1("Neg", [b.op1("Mul", [yMid, yMid])])]);
  const erfcMid = b.op1("Mul", [expMid, codyRatio(b, yMid, ERF_C[8]!, ERF_C, ERF_D)]);
  // |x| > 4: erfc(y) = exp(−y²)/y · (1/√π − R₃(1/y²)/y²); past 6, erfc < 2e-17 and erf rounds to ±1.
  const yBig = b.op1("Max", [b.op1("Min", [y, c(6)]), c(4)]);
  const inv2 = b.op1("Reciprocal", [b.op1("Mul", [yBig, yBig])]);
  const tail = b.op1("Mul", [inv2, codyRatio(b, inv2, ERF_P[5]!, ERF_P, ERF_Q)]);
  const expBig = b.op1("Exp", [b.op1("Neg", [b.op1("Mul", [yBig, yBig])])]);
  const erfcBig = b.op1("Mul", [expBig, b.op1("Div", [b.op1("Sub", [c(FRAC_1_SQRT_PI), tail]), yBig])]);
  const erfc = b.op1("Where", [b.op1("Greater", [y, c(4)]), erfcBig, erfcMid]);
  // erf(y) = (0.5 − erfc) + 0.5, in Cody's order; then the sign of x.
  const erfLarge = b.op1("Add", [b.op1("Sub", [c(0.5), erfc]), c(0.5)]);
  const signed = b.op1("Where", [b.op1("Less", [x!, c(0)]), b.op1("Neg", [erfLarge]), erfLarge]);
  return [b.op1("Where", [b.op1("Greater", [y, c(ERF_THRESH)]), signed, small])];
};

// ---- 2-D windows: Conv, ConvTranspose, AveragePool --------------------------------------------------------------------

/** Concrete [N?, C, H, W] of a 2-D op's input, or GraphError naming the node. */
function imageDims(node: Node, x: Value): { c: number; h: number; w: number } {
  const [, c, h, w] = x.shape;
  if (x.shape.length !== 4) {
    throw new GraphError(
      `float64 lowering supports 1-D and 2-D ${node.opType} only (input rank 3 or 4), got input ${
        formatShape(x.shape)
      }`,
      {
        nodeName: node.name,
        opType: node.opType,
      },
    );
  }
  if (typeof c !== "number" || typeof h !== "number" || typeof w !== "number") {
    throw new GraphError(
      `float64 lowering needs concrete channel and spatial dims, got input ${formatShape(x.shape)}`,
      {
        nodeName: node.name,
        opType: node.opType,
      },
    );
  }
  return { c, h, w };
}

/** Refuses a node the lowering cannot express; the lowering serves float64 graphs and the VJPs of some ops in any dtype. */
function unsupported(node: Node, what: string): never {
  throw new GraphError(
    `the lowering into primitives (float64 graphs, and this op's gradient) does not support ${what}`,
    { nodeName: node.name, opType: node.opType },
  );
}

function pair(node: Node, name: string, fallback: number): [number, number] {
  const v = intsAttr(node, name, [fallback, fallback]);
  if (v.length !== 2) unsupported(node, `${name} [${v.join(", ")}] (need 2 values)`);
  return [v[0]!, v[1]!];
}

/** Zero-pads (positive entries) and crops (negative entries) dims 2 and 3 by [top, left, bottom, right]. */
function padOrCrop(b: GraphBuilder, x: Value, h: number, w: number, p: readonly number[]): Value {
  let y = x;
  if (p.some((v) => v > 0)) {
    const pos = p.map((v) => Math.max(v, 0));
    y = b.op1("Pad", [y, b.constant(int64([0, 0, pos[0]!, pos[1]!, 0, 0, pos[2]!, pos[3]!])), scalar(b, x.dtype, 0)]);
  }
  if (p.some((v) => v < 0)) {
    const hp = h + Math.max(p[0]!, 0) + Math.max(p[2]!, 0), wp = w + Math.max(p[1]!, 0) + Math.max(p[3]!, 0);
    const starts = [Math.max(-p[0]!, 0), Math.max(-p[1]!, 0)];
    const ends = [hp - Math.max(-p[2]!, 0), wp - Math.max(-p[3]!, 0)];
    y = b.op1("Slice", [y, b.constant(int64(starts)), b.constant(int64(ends)), b.constant(int64([2, 3]))]);
  }
  return y;
}

interface Window {
  kernel: readonly [number, number];
  strides: readonly [number, number];
  dilations: readonly [number, number];
  out: readonly [number, number];
}

/**
 * The geometry of a 2-D window op (Conv, AveragePool) with kernel kh×kw over
 * an h×w input: strides, dilations, resolved pads [top, left, bottom, right]
 * and output size.
 */
function windowGeometry(node: Node, h: number, w: number, kh: number, kw: number): Window & { pads: number[] } {
  const strides = pair(node, "strides", 1), dilations = pair(node, "dilations", 1);
  const kEff = [(kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1];
  const pads = windowPads(node, [h, w], kEff, strides);
  const out: [number, number] = [
    windowOutputSize(h, pads[0]!, pads[2]!, kEff[0]!, strides[0], false),
    windowOutputSize(w, pads[1]!, pads[3]!, kEff[1]!, strides[1], false),
  ];
  return { kernel: [kh, kw], strides, dilations, pads, out };
}

/** The kh·kw strided slices of an already padded input, one per kernel offset (i, j), row-major. */
function windowSlices(b: GraphBuilder, xp: Value, win: Window): Value[] {
  const [kh, kw] = win.kernel, [sh, sw] = win.strides, [dh, dw] = win.dilations, [ho, wo] = win.out;
  const axes = b.constant(int64([2, 3])), steps = b.constant(int64([sh, sw]));
  const slices: Value[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const starts = [i * dh, j * dw];
      const ends = [i * dh + (ho - 1) * sh + 1, j * dw + (wo - 1) * sw + 1];
      slices.push(b.op1("Slice", [xp, b.constant(int64(starts)), b.constant(int64(ends)), axes, steps]));
    }
  }
  return slices;
}

/**
 * Convolution of an already padded input `xp` [N, C, ·, ·] with `w` [M, C, kh, kw]:
 * the kernel-offset slices concatenated on the channel axis (order (i, j, c)) and
 * one MatMul with the weight permuted to [M, kh, kw, C].
 */
function convCore(b: GraphBuilder, xp: Value, w: Value, c: number, m: number, win: Window): Value {
  const [kh, kw] = win.kernel, [ho, wo] = win.out;
  const k = kh * kw * c;
  const slices = windowSlices(b, xp, win);
  const patches = slices.length === 1 ? slices[0]! : b.op1("Concat", slices, { axis: attr.int(1) });
  const cols = b.op1("Reshape", [patches, b.constant(int64([0, k, ho * wo]))]);
  const wr = b.op1("Reshape", [b.op1("Transpose", [w], { perm: attr.ints([0, 2, 3, 1]) }), b.constant(int64([m, k]))]);
  const y = b.op1("MatMul", [wr, cols]);
  return b.op1("Reshape", [y, b.constant(int64([0, m, ho, wo]))]);
}

function addBias(b: GraphBuilder, y: Value, bias: Value | undefined, m: number): Value {
  return bias ? b.op1("Add", [y, b.op1("Reshape", [bias, b.constant(int64([m, 1, 1]))])]) : y;
}

function kernelOf(node: Node, w: Value): [number, number, number, number] {
  const dims = w.shape;
  if (dims.length !== 4 || dims.some((d) => typeof d !== "number")) {
    unsupported(node, `weight shape ${formatShape(dims)} (need concrete 4-D)`);
  }
  return dims as [number, number, number, number];
}

/** Conv 2-D, group 1: Pad, one strided Slice per kernel offset, Concat, MatMul. */
const conv: Lowering = (b, node, [x, w, bias]) => {
  if (intAttr(node, "group", 1) !== 1) unsupported(node, `group ${intAttr(node, "group", 1)} (only group 1)`);
  const { c, h, w: width } = imageDims(node, x!);
  const [m, , kh, kw] = kernelOf(node, w!);
  const win = windowGeometry(node, h, width, kh, kw);
  const y = convCore(b, padOrCrop(b, x!, h, width, win.pads), w!, c, m, win);
  return [addBias(b, y, bias, m)];
};

const MOST_NEGATIVE = -Number.MAX_SAFE_INTEGER;

/**
 * ConvTranspose 2-D, group 1, as a stride-1 convolution: the input spread out by
 * the stride (zeros between samples), padded by (k_eff − 1 − pad) per side
 * (plus output_padding at the end; negative amounts crop), convolved with the
 * kernel flipped in space and with its channel axes swapped.
 */
const convTranspose: Lowering = (b, node, [x, w, bias]) => {
  if (intAttr(node, "group", 1) !== 1) unsupported(node, `group ${intAttr(node, "group", 1)} (only group 1)`);
  const { c, h, w: width } = imageDims(node, x!);
  const [wc, m, kh, kw] = kernelOf(node, w!);
  if (wc !== c) unsupported(node, `weight ${formatShape(w!.shape)} for ${c} input channels`);
  const [sh, sw] = pair(node, "strides", 1), dilations = pair(node, "dilations", 1);
  const outPad = pair(node, "output_padding", 0);
  const kEff = [(kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1];
  const natural = [sh * (h - 1) + outPad[0] + kEff[0]!, sw * (width - 1) + outPad[1] + kEff[1]!];
  const autoPad = stringAttr(node, "auto_pad", "NOTSET");
  const outputShape = intsAttr(node, "output_shape");
  let pads: number[];
  if (outputShape || autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    // ONNX: total padding = natural size − requested size, split head/tail by auto_pad (ORT's NOTSET = SAME_LOWER).
    const target = outputShape ? outputShape.slice(-2) : [h * sh, width * sw];
    const head: number[] = [], tail: number[] = [];
    for (let i = 0; i < 2; i++) {
      const total = natural[i]! - target[i]!;
      if (total < 0) unsupported(node, `output_shape [${target.join(", ")}] larger than the natural output`);
      const half = Math.floor(total / 2);
      head.push(autoPad === "SAME_UPPER" ? half : total - half);
      tail.push(autoPad === "SAME_UPPER" ? total - half : half);
    }
    pads = [...head, ...tail];
  } else {
    if (autoPad !== "NOTSET" && autoPad !== "VALID") unsupported(node, `auto_pad ${autoPad}`);
    pads = autoPad === "VALID" ? [0, 0, 0, 0] : [...intsAttr(node, "pads", [0, 0, 0, 0])];
  }
  let xs = x!, hs = h, ws = width;
  if (sh > 1 || sw > 1) {
    // [N, C, H, W] → [N, C, H, 1, W, 1] → zero-pad to [N, C, H, sh, W, sw] → [N, C, H·sh, W·sw].
    const x6 = b.op1("Reshape", [xs, b.constant(int64([0, c, h, 1, width, 1]))]);
    const spread = b.op1("Pad", [
      x6,
      b.constant(int64([0, 0, 0, 0, 0, 0, 0, 0, 0, sh - 1, 0, sw - 1])),
      scalar(b, x!.dtype, 0),
    ]);
    xs = b.op1("Reshape", [spread, b.constant(int64([0, c, h * sh, width * sw]))]);
    hs = h * sh;
    ws = width * sw;
  }
  // The spread input is (sh − 1) rows too long at the end; fold that into the bottom pad.
  const p = [
    kEff[0]! - 1 - pads[0]!,
    kEff[1]! - 1 - pads[1]!,
    kEff[0]! - 1 - pads[2]! + outPad[0] - (sh - 1),
    kEff[1]! - 1 - pads[3]! + outPad[1] - (sw - 1),
  ];
  const xp = padOrCrop(b, xs, hs, ws, p);
  const flipped = b.op1("Slice", [
    w!,
    b.constant(int64([-1, -1])),
    b.constant(int64([MOST_NEGATIVE, MOST_NEGATIVE])),
    b.constant(int64([2, 3])),
    b.constant(int64([-1, -1])),
  ]);
  const wf = b.op1("Transpose", [flipped], { perm: attr.ints([1, 0, 2, 3]) });
  const out: [number, number] = [natural[0]! - pads[0]! - pads[2]!, natural[1]! - pads[1]! - pads[3]!];
  const y = convCore(b, xp, wf, c, m, { kernel: [kh, kw], strides: [1, 1], dilations, out });
  return [addBias(b, y, bias, m)];
};

/** AveragePool 2-D: Pad, Sum of strided slices, divided by the window size or by the count of real samples. */
const averagePool: Lowering = (b, node, [x]) => {
  const { h, w: width } = imageDims(node, x!);
  if (intAttr(node, "ceil_mode", 0) !== 0) unsupported(node, "ceil_mode 1");
  const kernel = intsAttr(node, "kernel_shape");
  if (!kernel || kernel.length !== 2) unsupported(node, `kernel_shape [${kernel?.join(", ") ?? ""}] (need 2 values)`);
  const [kh, kw] = kernel as [number, number];
  const win = windowGeometry(node, h, width, kh, kw);
  const { strides, dilations, pads, out } = win;
  const slices = windowSlices(b, padOrCrop(b, x!, h, width, pads), win);
  const sum = slices.length === 1 ? slices[0]! : b.op1("Sum", slices);
  if (intAttr(node, "count_include_pad", 0) === 1) return [b.op1("Div", [sum, scalar(b, x!.dtype, kh * kw)])];
  // Samples inside the unpadded input, per output position: a product of per-axis counts.
  const inside = (o: number, k: number, s: number, d: number, pad: number, size: number) => {
    let n = 0;
    for (let i = 0; i < k; i++) {
      const at = o * s + i * d - pad;
      if (at >= 0 && at < size) n++;
    }
    return n;
  };
  // In x's dtype: the VJP of a float32 AveragePool goes through this lowering too.
  const counts = new (x!.dtype === "float32" ? Float32Array : Float64Array)(out[0] * out[1]);
  for (let oh = 0; oh < out[0]; oh++) {
    for (let ow = 0; ow < out[1]; ow++) {
      counts[oh * out[1] + ow] = inside(oh, kh, strides[0], dilations[0], pads[0]!, h) *
        inside(ow, kw, strides[1], dilations[1], pads[1]!, width);
    }
  }
  return [b.op1("Div", [sum, b.constant(tensor(counts, out))])];
};

/**
 * A 2-D window lowering (Conv, ConvTranspose, AveragePool) that also takes 1-D inputs [N, C, L], as [N, C, 1, L]:
 * every per-axis attribute gains a leading 1 (pads a leading 0), and the
 * result loses the extra axis.
 */
function withOneD(lower2d: Lowering): Lowering {
  return (b, node, inputs) => {
    if (inputs[0]!.shape.length !== 3) return lower2d(b, node, inputs);
    const axis = b.opset >= 13
      ? { inputs: [b.constant(int64([2]))], attrs: {} }
      : { inputs: [], attrs: { axes: attr.ints([2]) } };
    const unsq = (v: Value) => b.op1("Unsqueeze", [v, ...axis.inputs], axis.attrs);
    const lift: Record<string, (v: readonly number[]) => number[]> = {
      kernel_shape: (v) => [1, ...v],
      strides: (v) => [1, ...v],
      dilations: (v) => [1, ...v],
      output_padding: (v) => [0, ...v],
      output_shape: (v) => [1, ...v.slice(-1)],
      pads: (v) => [0, v[0]!, 0, v[1]!],
    };
    const attributes = Object.fromEntries(
      Object.entries(node.attributes).map(([k, a]) => {
        const f = lift[k];
        return [k, f && a.type === "ints" ? attr.ints(f(a.value)) : a];
      }),
    );
    // The data and (Conv, ConvTranspose) weight gain the axis; a bias does not.
    const [y] = lower2d(b, { ...node, attributes }, inputs.map((v, i) => (v && i < 2 ? unsq(v) : v)));
    return [b.op1("Squeeze", [y!, ...axis.inputs], axis.attrs)];
  };
}

/**
 * Every rewrite into primitives, by op type: what the float64 runtime uses
 * for the ops in {@linkcode FLOAT64_LOWERINGS}, and what VJP rules
 * differentiate composite ops through.
 */
export const LOWERINGS: ReadonlyMap<string, Lowering> = new Map<string, Lowering>([
  ["Softplus", softplus],
  ["Elu", elu],
  ["Softsign", softsign],
  ["Selu", selu],
  ["HardSigmoid", hardSigmoid],
  ["HardSwish", hardSwish],
  ["Mish", mish],
  ["Clip", clip],
  ["Sigmoid", sigmoid],
  ["Celu", celu],
  ["Gelu", gelu],
  ["Erf", erf],
  ["Conv", withOneD(conv)],
  ["ConvTranspose", withOneD(convTranspose)],
  ["AveragePool", withOneD(averagePool)],
  ["GlobalAveragePool", globalAveragePool],
  ["LayerNormalization", layerNorm],
  ["InstanceNormalization", instanceNorm],
  ["GroupNormalization", groupNorm],
]);

/** The ops ORT 1.30's CPU provider cannot run, or runs inexactly, in float64 (see the module doc). */
const LOWERED_IN_FLOAT64 = new Set([
  "Softplus",
  "Elu",
  "Softsign",
  "Selu",
  "HardSigmoid",
  "HardSwish",
  "Celu",
  "Erf",
  "Conv",
  "ConvTranspose",
  "AveragePool",
  "GlobalAveragePool",
  "InstanceNormalization",
  "GroupNormalization",
  "LayerNormalization",
  "Clip", // before opset 11 only
  "Gelu", // exact only: tanh Gelu has a float64 kernel
  "Sigmoid",
]);

/**
 * Lowerings by op type, applied to float64 nodes only: Gelu only exact (tanh
 * Gelu has a float64 kernel), Clip only before opset 11.
 */
export const FLOAT64_LOWERINGS: ReadonlyMap<string, Lowering> = new Map(
  [...LOWERINGS].filter(([op]) => LOWERED_IN_FLOAT64.has(op)),
);

function lowersInFloat64(graph: Graph, node: Node): boolean {
  if (!FLOAT64_LOWERINGS.has(node.opType) || !isFloat64Node(graph, node)) return false;
  if (node.opType === "Gelu") return stringAttr(node, "approximate", "none") === "none";
  if (node.opType === "Clip") return defaultOpset(graph) < 11;
  return true;
}

/** True if the graph has a float64 node that ORT cannot run natively. */
export function needsLowering(graph: Graph): boolean {
  return graph.nodes.some((n) => lowersInFloat64(graph, n));
}

function isFloat64Node(graph: Graph, node: Node): boolean {
  return outputDtype(graph, node) === "float64";
}

function outputDtype(graph: Graph, node: Node): TensorType["dtype"] | undefined {
  const out = node.outputs[0];
  return out === undefined ? undefined : typeOf(graph, out)?.dtype;
}

/**
 * softplus(x) = relu(x) + log1p(u), u = e^−|x|, for float32 on the CPU, with log1p(u) = log w + (u − (w − 1)) where
 * w = 1 + u rounded: u − (w − 1) is exactly the rounding error of w (w − 1 is exact for w ∈ [1, 2]), so the sum keeps
 * the relative accuracy that log w alone loses for tiny u — softplus(−20) = 2.1e-9, not 0. ORT 1.30's float32
 * Softplus kernel evaluates exp and log1p one element at a time: 6.4–7.8 ms for [200, 2000] on 2 threads, more than
 * half a 2000-wide MLP layer's Gemm, where these vectorised kernels take 2.8 ms (torch's fused softplus: 0.6 ms).
 * Where softplus(x) is a normal float32 (x ≳ −87) its relative error is ≤ 3.1e-7, the native kernel's 2.8e-7 (in the
 * subnormal tail below, ≤ 2 subnormal steps, or 0 where subnormals are flushed: `RuntimeOptions.flushDenormals`). An
 * earlier relu(x) − log σ(|x|) was as fast but only absolutely accurate: 0 from x = −17, so a later Log gave −∞.
 */
const fastSoftplus: Lowering = (b, _node, [x]) => {
  const one = scalar(b, "float32", 1);
  const u = b.op1("Exp", [b.op1("Neg", [b.op1("Abs", [x!])])]);
  const w = b.op1("Add", [u, one]);
  const roundingError = b.op1("Sub", [u, b.op1("Sub", [w, one])]);
  return [b.op1("Add", [b.op1("Add", [b.op1("Relu", [x!]), b.op1("Log", [w])]), roundingError])];
};

/** float32 ops whose ORT CPU kernel is slower than a composition of faster kernels, with that composition. */
const FLOAT32_CPU_LOWERINGS: ReadonlyMap<string, Lowering> = new Map([["Softplus", fastSoftplus]]);

/**
 * The graph with the float32 ops that ORT's CPU kernels run slowly ({@linkcode FLOAT32_CPU_LOWERINGS}: Softplus)
 * replaced by faster primitives of the same accuracy, and sums of weight cotangents as one stacked product (any
 * dtype, {@linkcode stackOuterProducts}); the same graph object when there is nothing to do. For CPU sessions only;
 * model files keep the standard ops.
 */
export function lowerForCpuSpeed(graph: Graph): Graph {
  const pick = (node: Node) =>
    outputDtype(graph, node) === "float32" ? FLOAT32_CPU_LOWERINGS.get(node.opType) : undefined;
  const lowered = graph.nodes.some((n) => pick(n) !== undefined) ? rewriteNodes(graph, pick) : graph;
  return stackOuterProducts(lowered);
}

/**
 * Sums of products gᵢᵀhᵢ — a weight's cotangent summed over a step's stages, GQ's nodes, or onto a running sum — as
 * ONE Gemm over the rows stacked, [g₁; g₂; …]ᵀ[h₁; h₂; …], with the other summands as its C. Each product writes a
 * whole weight-sized matrix and the sums read them all again; with few rows that is the cost: at [2, 2000] rows per
 * product, 2 products and a running sum took 24 ms and the stacked Gemm 13, 6 products 55 and 15 (2 threads). The
 * same sum in another order: rounding differs, nothing else. Products qualify when they are Gemms with transA, no
 * transB, alpha 1 and no C, used only by the sum, of its shape.
 */
export function stackOuterProducts(graph: Graph): Graph {
  const uses = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  for (const o of graph.outputs) uses.set(o.name, (uses.get(o.name) ?? 0) + 1);
  const producer = new Map(graph.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const isSum = (n: Node | undefined) => n !== undefined && (n.opType === "Add" || n.opType === "Sum");
  const summed = new Set(graph.nodes.filter(isSum).flatMap((n) => n.inputs));
  const shapeKey = (name: string) => JSON.stringify(typeOf(graph, name)?.shape);
  const product = (name: string, key: string) => {
    const n = producer.get(name);
    return n?.opType === "Gemm" && intAttr(n, "transA", 0) === 1 && intAttr(n, "transB", 0) === 0 &&
      floatAttr(n, "alpha", 1) === 1 && !n.inputs[2] && uses.get(name) === 1 && shapeKey(name) === key;
  };
  // Each sum whose result no other sum of the tree absorbs, with its summands through single-use inner sums.
  const plans = new Map<Node, { products: Node[]; others: string[]; absorbed: Node[] }>();
  for (const root of graph.nodes) {
    const out = root.outputs[0]!;
    const key = shapeKey(out);
    const parentIsSum = summed.has(out) && uses.get(out) === 1;
    if (!isSum(root) || parentIsSum || !/^\[\d+,\d+\]$/.test(key)) continue;
    const products: Node[] = [], others: string[] = [], absorbed: Node[] = [];
    const walk = (name: string) => {
      const n = producer.get(name);
      const inner = n !== undefined && n !== root && uses.get(name) === 1 && shapeKey(name) === key;
      if (inner && (isSum(n) || n!.opType === "Identity")) {
        // Inner sums, and the Identity a graph output's renaming leaves (inlined graphs keep it), are looked through.
        absorbed.push(n!);
        n!.inputs.forEach(walk);
      } else if (product(name, key)) {
        products.push(producer.get(name)!);
      } else others.push(name);
    };
    root.inputs.forEach(walk);
    if (products.length >= 2) plans.set(root, { products, others, absorbed });
  }
  if (plans.size === 0) return graph;
  const gone = new Set([...plans.values()].flatMap((p) => [...p.products, ...p.absorbed]));
  const b = GraphBuilder.from({ ...graph, nodes: [], outputs: [] }, { keepOutputs: false });
  b.reserveNames(graph.nodes.flatMap((n) => [n.name, ...n.outputs]));
  for (const node of graph.nodes) {
    if (gone.has(node)) continue;
    const plan = plans.get(node);
    if (!plan) {
      b.addNode(node);
      continue;
    }
    const stack = (k: 0 | 1) => b.op1("Concat", plan.products.map((p) => b.value(p.inputs[k]!)), { axis: attr.int(0) });
    const rest = plan.others.map((o) => b.value(o));
    const c = rest.length === 0 ? [] : [rest.length === 1 ? rest[0]! : b.op1("Sum", rest)];
    b.op1("Gemm", [stack(0), stack(1), ...c], { transA: attr.int(1) }, { outputNames: [node.outputs[0]!] });
  }
  for (const o of graph.outputs) b.output(b.value(o.name), o.name);
  return b.build();
}

/**
 * Returns a graph where every float64 node without an ORT CPU kernel is
 * replaced by primitives; the same graph object when nothing needs lowering.
 */
export function lowerForRuntime(graph: Graph): Graph {
  // A rewrite may emit ops that are lowered too (Gelu → Erf); none emits its own op, so this ends.
  let g = graph;
  while (needsLowering(g)) g = lowerOnce(g);
  return g;
}

function lowerOnce(graph: Graph): Graph {
  return rewriteNodes(graph, (node) => lowersInFloat64(graph, node) ? FLOAT64_LOWERINGS.get(node.opType) : undefined);
}

/** The graph with every node that `pick` gives a lowering for replaced by that lowering's primitives. */
function rewriteNodes(graph: Graph, pick: (node: Node) => Lowering | undefined): Graph {
  const b = GraphBuilder.from({ ...graph, nodes: [], outputs: [] }, { keepOutputs: false });
  b.reserveNames(graph.nodes.flatMap((n) => [n.name, ...n.outputs]));
  for (const node of graph.nodes) {
    const lowering = pick(node);
    if (!lowering) {
      b.addNode(node);
      continue;
    }
    const inputs = node.inputs.map((n) => (n === "" ? undefined : b.value(n)));
    const outs = lowering(b, node, inputs);
    node.outputs.forEach((name, i) => {
      if (name !== "") b.op1("Identity", [outs[i]!], {}, { outputNames: [name] });
    });
  }
  for (const o of graph.outputs) b.output(b.value(o.name), o.name);
  return b.build();
}

/**
 * Most rows for which {@linkcode splitRowGemms} pays: ORT 1.30's SGEMM packs the weight on every call unless the
 * product has one row, where it streams the weight instead (a GEMV). For a [2, 2000] × [2000, 2000] product that is
 * 2.6–4 ms against 0.6–0.8 ms for one row on 2 threads; at 4 rows the four single-row products cost as much as one.
 */
export const SPLIT_ROWS_MAX = 3;

/** Products with fewer weight entries than this are launch-bound: splitting them gains nothing. */
const LARGE_GEMM = 1 << 16;

/** The symbolic dim that counts the rows of a large float32 Gemm {@linkcode splitRowGemms} can split, if any. */
function splittableRowDim(graph: Graph, node: Node): string | undefined {
  if (node.opType !== "Gemm" || intAttr(node, "transA", 0) !== 0 || outputDtype(graph, node) !== "float32") return;
  const type = (i: number) => (node.inputs[i] ? typeOf(graph, node.inputs[i]!) : undefined);
  const [a, w] = [type(0), type(1)];
  const rows = a?.shape[0];
  if (typeof rows !== "string" || a!.shape.length !== 2 || w?.shape.length !== 2) return;
  const [k, n] = w.shape;
  if (typeof k !== "number" || typeof n !== "number" || k * n < LARGE_GEMM) return;
  // A bias with one row per product row would have to be split too (and one of unknown shape might): left alone.
  if (node.inputs[2]) {
    const c = type(2);
    if (c === undefined || (c.shape.length === 2 && c.shape[0] !== 1)) return;
  }
  return rows;
}

/** The symbolic row counts of the graph's large float32 Gemms: the dims {@linkcode splitRowGemms} can specialise on. */
export function splittableRowDims(graph: Graph): Set<string> {
  return new Set(graph.nodes.flatMap((n) => splittableRowDim(graph, n) ?? []));
}

/**
 * The graph with every large float32 Gemm whose row count is the symbolic dim `dim` computed as `rows` one-row Gemms
 * and a Concat, for sessions that run with `dim` = `rows` ≤ {@linkcode SPLIT_ROWS_MAX} (see there for why): from
 * those products on, shapes have `rows` where they had `dim`. The same arithmetic per row; CPU only.
 */
export function splitRowGemms(graph: Graph, dim: string, rows: number): Graph {
  const split = (b: GraphBuilder, node: Node, [a, w, c]: (Value | undefined)[]): Value[] => {
    // Split sizes are an input from opset 13, an attribute before.
    const ones = Array<number>(rows).fill(1);
    const parts = b.opset >= 13
      ? b.op("Split", [a!, b.constant(int64(ones))], { axis: attr.int(0) }, { outputs: rows })
      : b.op("Split", [a!], { axis: attr.int(0), split: attr.ints(ones) }, { outputs: rows });
    const products = parts.map((row) => b.op1("Gemm", c ? [row, w!, c] : [row, w!], node.attributes));
    return [b.op1("Concat", products, { axis: attr.int(0) })];
  };
  return rewriteNodes(graph, (node) => (splittableRowDim(graph, node) === dim ? split : undefined));
}
