/**
 * VJP rules of convolution, pooling, padding and batch normalisation.
 *
 * Conv's input cotangent is a ConvTranspose, or for stride 1 and at least as
 * many input as output channels a Conv of the flipped weight, the faster of
 * ORT's kernels there ({@linkcode convInputByConv}); ConvTranspose's input
 * cotangent is a Conv. A Conv's bias cotangent is a sum of the output
 * cotangent, and its weight cotangent one Gemm per kernel offset over the
 * batch-folded windows of the input ({@linkcode convWeightBySlices}), or one
 * more Conv when the input has several times the output's channels
 * ({@linkcode convWeightByConv}). ConvTranspose's weight and bias cotangents
 * and AveragePool, GlobalAveragePool and BatchNormalization with batch
 * statistics (or differentiated statistics) come from differentiating a
 * lowering into primitives (strided slices, MatMul, sums), so no rule repeats
 * another's algebra; BatchNormalization with constant statistics is affine
 * per channel and takes its closed form ({@linkcode inferenceBatchNormVjp}). MaxPool with disjoint windows (stride
 * = kernel) routes the cotangent through a mask of each window's maxima
 * ({@linkcode maxPoolByMask}); overlapping windows go through the lowering.
 * `deno task bench conv` (bench/conv_bench.ts) measures each against its
 * forward op at the paper's sizes.
 *
 * Why one file: the rules of the windowed ops share their geometry (pads,
 * output sizes, pooling windows) and the float64 conditions of the runtime's
 * lowerings.
 *
 * @module
 */
import type { GraphBuilder, Value } from "../../onnx/builder.ts";
import { GraphError } from "../../onnx/errors.ts";
import { attr, floatAttr, formatShape, intAttr, intsAttr, type Node, stringAttr } from "../../onnx/graph.ts";
import { LOWERINGS } from "../../onnx/lower.ts";
import { windowOutputSize, windowPads } from "../../onnx/shape_rules.ts";
import { int64, tensor, toNumbers } from "../../onnx/tensor.ts";
import {
  castTo,
  type Cotangent,
  ints,
  type Lower,
  padConstant,
  reduceMean,
  reduceSum,
  reshapeLike,
  scalar,
  unsqueeze,
  type VjpContext,
  type VjpRule,
} from "../rule.ts";

function fail(node: Node, message: string): never {
  throw new GraphError(message, { nodeName: node.name, opType: node.opType });
}

/** Concrete spatial sizes of an [N, C, ...spatial] value. */
function spatial(node: Node, x: Value): number[] {
  const s = x.shape.slice(2);
  if (s.some((d) => typeof d !== "number")) {
    fail(node, `Differentiating needs concrete spatial dims, got ${formatShape(x.shape)}`);
  }
  return s as number[];
}

/**
 * The input-to-output channel ratio C / M from which a stride-1 Conv's weight
 * cotangent is one Conv ({@linkcode convWeightByConv}) rather than one Gemm
 * per kernel offset: with ORT's float32 kernels at 14×14, batch 16 and 32, the
 * Conv costs 0.6–0.8× the forward at C = 101 and 301, M = 10, against 1.6–2.4×
 * for the Gemms, about as much at C = 21, M = 10, and more near C = M.
 */
const WEIGHT_BY_CONV_RATIO = 4;

/**
 * Whether {@linkcode convWeightByConv} gives a Conv's weight cotangent: stride
 * and dilation 1, pads at most kernel − 1, concrete channels with C ≥ 4·M, and
 * in float64 (where the runtime lowers Conv, which needs concrete channels) a
 * concrete batch.
 */
function weightByConv(
  x: Value,
  w: Value,
  strides: readonly number[],
  dilations: readonly number[],
  kernel: readonly number[],
  pads: readonly number[],
): boolean {
  const [batch, c] = x.shape, m = w.shape[0];
  const n = kernel.length;
  return strides.every((s) => s === 1) && dilations.every((d) => d === 1) &&
    pads.every((p, i) => p <= kernel[i % n]! - 1) &&
    typeof c === "number" && typeof m === "number" && c >= WEIGHT_BY_CONV_RATIO * m &&
    (x.dtype !== "float64" || typeof batch === "number");
}

/**
 * dL/dW of a stride-1 Conv as one Conv. dW[m, c, k] = Σ_n Σ_o g[n, m, o]·x[n, c, o + k − pad]:
 * with the batch as the channel axis that is the cotangent gᵀ [M, N, out] padded by
 * kernel − 1 − pad and convolved with the input xᵀ [C, N, size] as its kernel, which
 * gives [M, C, kernel] flipped in space; a Slice with step −1 per spatial axis turns
 * it back. Its work is the forward's, and its patch matrix is gᵀ's (kernel² values
 * per output pixel and sample), not x's (C·kernel² per pixel).
 */
function convWeightByConv(
  b: GraphBuilder,
  x: Value,
  g: Value,
  kernel: readonly number[],
  pads: readonly number[],
): Value {
  const n = kernel.length;
  const perm = attr.ints([1, 0, ...kernel.map((_, i) => i + 2)]);
  const gT = b.op1("Transpose", [g], { perm });
  const xT = b.op1("Transpose", [x], { perm });
  const flipped = b.op1("Conv", [gT, xT], {
    kernel_shape: attr.ints(x.shape.slice(2) as number[]),
    pads: attr.ints(pads.map((p, i) => kernel[i % n]! - 1 - p)),
  });
  return flipSpatial(b, flipped, n);
}

/** `v` [A, B, ...spatial] reversed along its `n` spatial axes (a Slice with step −1 on each). */
function flipSpatial(b: GraphBuilder, v: Value, n: number): Value {
  const axes = [...Array(n).keys()].map((i) => i + 2);
  return b.op1("Slice", [
    v,
    ints(b, axes.map(() => -1)),
    ints(b, axes.map(() => -(2 ** 62))),
    ints(b, axes),
    ints(b, axes.map(() => -1)),
  ]);
}

/**
 * Whether {@linkcode convInputByConv} gives a Conv's input cotangent: stride
 * 1, pads at most the dilated kernel − 1, and concrete channels with at least
 * as many input channels C as output channels M. ORT's float32 Conv then beats
 * its ConvTranspose at the paper's sizes (batch 16–32, 14×14 and 28×28):
 * 0.9× at C ≈ M (h = 50–300), 0.3× at C = 51–301, M = 10; with C < M it is
 * the slower one (1.7–2× at C = 12–32, M = 50).
 */
function inputByConv(
  x: Value,
  w: Value,
  strides: readonly number[],
  kEff: readonly number[],
  pads: readonly number[],
): boolean {
  const c = x.shape[1], m = w.shape[0];
  const n = kEff.length;
  return strides.every((s) => s === 1) && pads.every((p, i) => p <= kEff[i % n]! - 1) &&
    typeof c === "number" && typeof m === "number" && c >= m;
}

/**
 * dL/dx of a stride-1 Conv as one Conv: dx[c, i] = Σ_m Σ_k W[m, c, k]·g[m, i + pad − d·k]
 * is the cotangent g [N, M, out] convolved, with the same dilation d, by the
 * weight with its channel axes swapped and its kernel flipped, W'[c, m, j] =
 * W[m, c, K − 1 − j], padded by d·(K − 1) − pad on each side (which gives back
 * the input's size). The flip and the swap touch only the weight.
 */
function convInputByConv(
  b: GraphBuilder,
  g: Value,
  w: Value,
  kernel: readonly number[],
  kEff: readonly number[],
  dilations: readonly number[],
  pads: readonly number[],
): Value {
  const n = kernel.length;
  const swapped = b.op1("Transpose", [w], { perm: attr.ints([1, 0, ...kernel.map((_, i) => i + 2)]) });
  return b.op1("Conv", [g, flipSpatial(b, swapped, n)], {
    kernel_shape: attr.ints(kernel),
    dilations: attr.ints(dilations),
    pads: attr.ints(pads.map((p, i) => kEff[i % n]! - 1 - p)),
  });
}

/**
 * Below this many input channels {@linkcode convWeightBySlices} stacks its
 * windows into one product: a per-offset product [M, C] that narrow runs far
 * under the Gemm's speed (measured 3× slower than stacked at C = 1, 1.2× at
 * C = 11, 0.9× at C = 21, 0.65× at C = 51, 14×14 and 28×28, batch 16 and 32).
 */
const STACK_BELOW_CHANNELS = 16;

/**
 * dL/dW of any group-1 Conv as one product per kernel offset k:
 * dW[:, :, k] = gᵀ · x_kᵀ, where gᵀ is the output cotangent [M, N·out] and x_k
 * the strided window of the padded input at offset k, [C, N·out], both with the
 * batch folded into the sum (x is transposed to [C, N, ...] once, so every
 * slice is already a [C, N·out] matrix). One Gemm over N·out per offset, no
 * patch matrix and no batched product summed afterwards; for few input
 * channels ({@linkcode STACK_BELOW_CHANNELS}) the windows are stacked into one
 * [K·C, N·out] matrix and one Gemm.
 */
function convWeightBySlices(
  b: GraphBuilder,
  x: Value,
  g: Value,
  geo: {
    kernel: readonly number[];
    strides: readonly number[];
    dilations: readonly number[];
    pads: readonly number[];
    out: readonly number[];
  },
): Value {
  const { kernel, strides, dilations, pads, out } = geo;
  const n = kernel.length;
  const perm = attr.ints([1, 0, ...kernel.map((_, i) => i + 2)]);
  const xT = b.op1("Transpose", [x], { perm });
  const xp = pads.every((p) => p === 0) ? xT : padConstant(b, xT, [0, 0, ...pads.slice(0, n), 0, 0, ...pads.slice(n)]);
  const gT = b.op1("Reshape", [b.op1("Transpose", [g], { perm }), ints(b, [0, -1])]);
  const axes = ints(b, kernel.map((_, i) => i + 2)), steps = ints(b, strides);
  const offsets = (i: number): number[][] =>
    i === n ? [[]] : [...Array(kernel[i]!).keys()].flatMap((k) => offsets(i + 1).map((rest) => [k, ...rest]));
  const windows = offsets(0).map((off) => {
    const starts = off.map((k, i) => k * dilations[i]!);
    const ends = starts.map((s, i) => s + (out[i]! - 1) * strides[i]! + 1);
    return b.op1("Slice", [xp, ints(b, starts), ints(b, ends), axes, steps]);
  });
  const gemm = (v: Value) => b.op1("Gemm", [gT, b.op1("Reshape", [v, ints(b, [0, -1])])], { transB: attr.int(1) });
  const c = x.shape[1];
  if (typeof c === "number" && c < STACK_BELOW_CHANNELS && windows.length > 1) {
    // One product of [M, K·C] with the windows stacked, then [M, K, C] → [M, C, K].
    const stacked = gemm(b.op1("Concat", windows, { axis: attr.int(0) }));
    const split = b.op1("Reshape", [stacked, ints(b, [0, windows.length, c])]);
    return b.op1("Reshape", [b.op1("Transpose", [split], { perm: attr.ints([0, 2, 1]) }), ints(b, [0, 0, ...kernel])]);
  }
  const perOffset = windows.map((v) => unsqueeze(b, gemm(v), [2]));
  const joined = perOffset.length === 1 ? perOffset[0]! : b.op1("Concat", perOffset, { axis: attr.int(2) });
  return b.op1("Reshape", [joined, ints(b, [0, 0, ...kernel])]);
}

const conv: VjpRule = {
  opType: "Conv",
  vjp: (ctx) => {
    const { b, node, inputs: [x, w], outputs: [y], dy: [g] } = ctx;
    if (!g) return ctx.inputs.map(() => null);
    if (intAttr(node, "group", 1) !== 1) {
      fail(node, `Cannot differentiate group ${intAttr(node, "group", 1)}: only group 1`);
    }
    const size = spatial(node, x!), out = spatial(node, y!);
    const kernel = w!.shape.slice(2) as number[];
    const n = size.length;
    const strides = intsAttr(node, "strides", Array(n).fill(1));
    const dilations = intsAttr(node, "dilations", Array(n).fill(1));
    const kEff = kernel.map((k, i) => (k - 1) * dilations[i]! + 1);
    const pads = windowPads(node, size, kEff, strides);
    let dx: Value | null = null;
    if (ctx.wants(0) && inputByConv(x!, w!, strides, kEff, pads)) {
      dx = convInputByConv(b, g, w!, kernel, kEff, dilations, pads);
    } else if (ctx.wants(0)) {
      // ConvTranspose maps [N, M, out] back to [N, C, size]; output_padding restores the rows the stride skipped.
      const outputPadding = size.map((s, i) => s + pads[i]! + pads[i + n]! - kEff[i]! - strides[i]! * (out[i]! - 1));
      dx = b.op1("ConvTranspose", [g, w!], {
        kernel_shape: attr.ints(kernel),
        strides: attr.ints(strides),
        dilations: attr.ints(dilations),
        pads: attr.ints(pads),
        ...(outputPadding.some((p) => p !== 0) ? { output_padding: attr.ints(outputPadding) } : {}),
      });
    }
    let dw: Value | null = null;
    if (ctx.wants(1)) {
      dw = weightByConv(x!, w!, strides, dilations, kernel, pads)
        ? convWeightByConv(b, x!, g, kernel, pads)
        : convWeightBySlices(b, x!, g, { kernel, strides, dilations, pads, out });
    }
    const db = ctx.wants(2) ? reduceSum(b, g, [0, ...size.map((_, i) => i + 2)], false) : null;
    return ctx.inputs.map((_, i) => [dx, dw, db][i] ?? null);
  },
};

/** A pooling window's geometry over [N, C, ...size]: resolved pads and the −∞ padding that covers every window. */
function poolGeometry(node: Node, x: Value) {
  const size = spatial(node, x);
  const n = size.length;
  const kernel = intsAttr(node, "kernel_shape")!;
  const strides = intsAttr(node, "strides", Array(n).fill(1));
  const dilations = intsAttr(node, "dilations", Array(n).fill(1));
  const kEff = kernel.map((k, i) => (k - 1) * dilations[i]! + 1);
  if (stringAttr(node, "auto_pad", "NOTSET").startsWith("SAME")) {
    // ONNX clamps SAME's total padding at 0; ORT's float64 kernel pools with the negative pads instead (float32
    // refuses them), so no cotangent could match both: refused rather than silently wrong.
    const short = size.findIndex((s, i) => (Math.ceil(s / strides[i]!) - 1) * strides[i]! + kEff[i]! < s);
    if (short >= 0) {
      fail(
        node,
        `Cannot differentiate auto_pad SAME pooling whose windows skip input (stride > kernel on axis ${short + 2})`,
      );
    }
  }
  const pads = windowPads(node, size, kEff, strides);
  const ceil = intAttr(node, "ceil_mode", 0) === 1;
  const out = size.map((s, i) => windowOutputSize(s, pads[i]!, pads[i + n]!, kEff[i]!, strides[i]!, ceil));
  // Pad the tail far enough for ceil_mode windows.
  const tail = size.map((s, i) => Math.max(pads[i + n]!, (out[i]! - 1) * strides[i]! + kEff[i]! - s - pads[i]!));
  const full = [0, 0, ...pads.slice(0, n), 0, 0, ...tail];
  return { size, n, kernel, strides, dilations, out, head: pads.slice(0, n), full };
}

/** MaxPool as the Max of strided slices of the input padded with −∞ (ties share the cotangent). */
const lowerMaxPool: Lower = (b, node, [x]) => {
  const { size, n, kernel, strides, dilations, out, full } = poolGeometry(node, x!);
  const xp = full.every((p) => p === 0) ? x! : padConstant(b, x!, full, -Infinity);
  const axes = b.constant(int64(size.map((_, i) => i + 2)));
  const steps = b.constant(int64(strides));
  const slices: Value[] = [];
  const offsets = (i: number): number[][] =>
    i === n ? [[]] : offsets(i + 1).flatMap((rest) => [...Array(kernel[i]!).keys()].map((k) => [k, ...rest]));
  for (const off of offsets(0)) {
    const starts = off.map((k, i) => k * dilations[i]!);
    const ends = starts.map((s, i) => s + (out[i]! - 1) * strides[i]! + 1);
    slices.push(b.op1("Slice", [xp, b.constant(int64(starts)), b.constant(int64(ends)), axes, steps]));
  }
  return [slices.length === 1 ? slices[0]! : b.op1("Max", slices)];
};

/**
 * MaxPool's input cotangent for disjoint windows (stride = kernel, no
 * dilation) in one or two spatial dims: each window's maxima (x = y) share its
 * cotangent equally, as in the lowering. The −∞-padded input is cut to whole
 * windows and seen as one tall image [1, 1, N·C·rows, cols] (windows never
 * straddle two planes), where a stride-k ConvTranspose with a kernel of ones
 * spreads y and the shares over their windows and an AveragePool counts each
 * window's maxima; then the padding is cropped off and the rows no window
 * covered get zeros. Those are native kernels, where ORT's broadcasts across
 * interleaved window axes and its strided slices cost ten times more; every
 * product in the spreading is 1·v, so infinite inputs stay exact.
 */
function maxPoolByMask(b: GraphBuilder, geo: ReturnType<typeof poolGeometry>, x: Value, y: Value, g: Value): Value {
  const { size, n, kernel, out, head, full } = geo;
  const xp = full.every((p) => p === 0) ? x : padConstant(b, x, full, -Infinity);
  const cover = out.map((o, i) => o * kernel[i]!);
  const padded = size.map((s, i) => full[i + 2]! + s + full[i + n + 4]!);
  const axes = size.map((_, i) => i + 2);
  const whole = cover.every((c, i) => c === padded[i])
    ? xp
    : b.op1("Slice", [xp, ints(b, axes.map(() => 0)), ints(b, cover), ints(b, axes)]);
  // One tall plane [1, 1, N·C·rows, cols] where the runtime can take a symbolic tall axis (not float64's lowering,
  // which needs concrete spatial dims); else N·C planes [N·C, 1, rows, cols].
  const oneTall = x.dtype !== "float64" || typeof x.shape[0] === "number";
  const tall = (v: Value, dims: readonly number[]) =>
    b.op1("Reshape", [v, ints(b, oneTall ? [1, 1, -1, ...dims.slice(1)] : [-1, 1, ...dims])]);
  const volume = kernel.reduce((p, k) => p * k, 1);
  const ones = b.constant(
    tensor(new (x.dtype === "float64" ? Float64Array : Float32Array)(volume).fill(1), [1, 1, ...kernel]),
  );
  const window = { kernel_shape: attr.ints(kernel), strides: attr.ints(kernel) };
  // With a symbolic batch the tall axis is symbolic, so each Conv's result is reshaped like its counterpart.
  const [xs, gs] = [tall(whole, cover), tall(g, out)];
  const spread = (v: Value) => reshapeLike(b, b.op1("ConvTranspose", [v, ones], window), xs);
  const hits = castTo(b, b.op1("Equal", [xs, spread(tall(y, out))]), x.dtype);
  // AveragePool × volume counts the maxima: ten times cheaper than a Conv of ones, which ORT reorders to NCHWc.
  const count = b.op1("Mul", [reshapeLike(b, b.op1("AveragePool", [hits], window), gs), scalar(b, x.dtype, volume)]);
  const dx = reshapeLike(b, b.op1("Mul", [hits, spread(b.op1("Div", [gs, count]))]), whole);
  const back = [0, 0, ...head.map((p) => -p), 0, 0, ...size.map((s, i) => s + head[i]! - cover[i]!)];
  return back.every((p) => p === 0) ? dx : padConstant(b, dx, back);
}

const maxPool: VjpRule = {
  opType: "MaxPool",
  vjp: (ctx) => {
    const { b, node, inputs: [x], outputs: [y], dy: [g] } = ctx;
    if (!g) return [null];
    const geo = poolGeometry(node, x!);
    const disjoint = geo.n <= 2 && (x!.dtype === "float32" || x!.dtype === "float64") &&
      geo.strides.every((s, i) => s === geo.kernel[i]) &&
      geo.dilations.every((d) => d === 1);
    return [disjoint ? maxPoolByMask(b, geo, x!, y!, g) : ctx.viaLowering(lowerMaxPool)[0]!];
  },
};

/** BatchNormalization with batch statistics (training mode) or running statistics (inference). */
const lowerBatchNorm: Lower = (b, node, [x, scale, bias, mean, variance]) => {
  const rank = x!.shape.length;
  const eps = scalar(b, x!.dtype, floatAttr(node, "epsilon", 1e-5));
  const perChannel = (v: Value) => (rank > 2 ? unsqueeze(b, v, [...Array(rank - 2).keys()].map((k) => k + 1)) : v);
  let mu: Value, v: Value;
  if (intAttr(node, "training_mode", 0) === 1) {
    const axes = [0, ...[...Array(rank - 2).keys()].map((k) => k + 2)];
    const mean = (t: Value) => reduceMean(b, t, axes, true);
    mu = mean(x!);
    const d = b.op1("Sub", [x!, mu]);
    v = mean(b.op1("Mul", [d, d]));
  } else {
    mu = perChannel(mean!);
    v = perChannel(variance!);
  }
  const xhat = b.op1("Div", [b.op1("Sub", [x!, mu]), b.op1("Sqrt", [b.op1("Add", [v, eps])])]);
  return [b.op1("Add", [b.op1("Mul", [xhat, perChannel(scale!)]), perChannel(bias!)])];
};

const batchNorm: VjpRule = {
  opType: "BatchNormalization",
  // In training mode the running statistics only feed the running-statistics outputs.
  constantInputs: (node) => (intAttr(node, "training_mode", 0) === 1 ? [3, 4] : []),
  vjp: (ctx) => {
    if (ctx.dy.slice(1).some((g) => g)) {
      fail(ctx.node, "Cannot differentiate the running-statistics outputs of BatchNormalization");
    }
    // Running statistics held constant (a trained model's, or the conv encoder's): y is affine per channel.
    const inference = intAttr(ctx.node, "training_mode", 0) === 0 && !ctx.wants(3) && !ctx.wants(4);
    return inference && ctx.dy[0] ? inferenceBatchNormVjp(ctx) : ctx.viaLowering(lowerBatchNorm);
  },
};

/**
 * y = γ·(x − μ)/σ + β with μ and σ² constant: dx = g·γ/σ, dγ = Σ g·(x − μ) / σ and
 * dβ = Σ g over every axis but the channels' — four kernels over x's size where the
 * lowering's reverse mode takes about ten. (x − μ) before the sum, not Σ g·x − μ·Σ g,
 * which cancels in float32 when |μ| ≫ σ: 2e-5 relative error at μ = 10σ, 5e-4 at 1000σ.
 */
function inferenceBatchNormVjp(ctx: VjpContext): Cotangent[] {
  const { b, node, inputs: [x, scale, , mean, variance], dy: [g] } = ctx;
  const rank = x!.shape.length;
  const perChannel = (v: Value) => (rank > 2 ? unsqueeze(b, v, [...Array(rank - 2).keys()].map((k) => k + 1)) : v);
  const axes = [0, ...[...Array(rank - 2).keys()].map((k) => k + 2)];
  const eps = scalar(b, x!.dtype, floatAttr(node, "epsilon", 1e-5));
  const invStd = b.op1("Div", [scalar(b, x!.dtype, 1), b.op1("Sqrt", [b.op1("Add", [variance!, eps])])]);
  const dx = ctx.wants(0) ? b.op1("Mul", [g!, perChannel(b.op1("Mul", [scale!, invStd]))]) : null;
  const sumG = ctx.wants(1) || ctx.wants(2) ? reduceSum(b, g!, axes, false) : null;
  const dScale = ctx.wants(1)
    ? b.op1("Mul", [reduceSum(b, b.op1("Mul", [g!, b.op1("Sub", [x!, perChannel(mean!)])]), axes, false), invStd])
    : null;
  return [dx, dScale, ctx.wants(2) ? sumG : null, null, null];
}

/** Constant-mode Pad: the cotangent is the cotangent cropped (and padded where the pads were negative). */
const pad: VjpRule = {
  opType: "Pad",
  vjp: ({ b, node, inputs, dy: [g] }) => {
    const nulls = inputs.slice(1).map(() => null);
    if (!g) return [null, ...nulls];
    const mode = stringAttr(node, "mode", "constant");
    if (mode !== "constant") fail(node, `Cannot differentiate Pad mode ${mode}: only constant`);
    const rank = inputs[0]!.shape.length;
    let pads: number[];
    if (b.opset >= 11) {
      const c = b.constantOf(node.inputs[1]!);
      if (!c) fail(node, "Pads must be a constant to differentiate Pad");
      pads = toNumbers(c);
      if (node.inputs[3]) fail(node, "Cannot differentiate Pad with an axes input");
    } else pads = [...intsAttr(node, "pads", [])];
    const axes: number[] = [], starts: number[] = [], ends: number[] = [];
    for (let i = 0; i < rank; i++) {
      const head = Math.max(pads[i]!, 0), tail = Math.max(pads[i + rank]!, 0);
      if (head === 0 && tail === 0) continue;
      axes.push(i);
      starts.push(head);
      ends.push(tail === 0 ? 2 ** 62 : -tail);
    }
    let dx = axes.length ? b.op1("Slice", [g, ints(b, starts), ints(b, ends), ints(b, axes)]) : g;
    const neg = pads.map((p) => Math.max(-p, 0));
    if (neg.some((p) => p > 0)) dx = padConstant(b, dx, neg);
    return [dx, ...nulls];
  },
};

/**
 * ConvTranspose is Conv's adjoint in its input, so the input's cotangent is a
 * Conv of the cotangent with the same weight, strides, dilations and pads
 * (output_padding only adds rows no input reaches). With output_shape or
 * SAME auto_pad (pads derived from sizes) everything goes through the lowering.
 */
const convTranspose: VjpRule = {
  opType: "ConvTranspose",
  vjp: (ctx) => {
    const { b, node, inputs: [, w], dy: [g] } = ctx;
    if (!g) return ctx.inputs.map(() => null);
    if (intAttr(node, "group", 1) !== 1) {
      fail(node, `Cannot differentiate group ${intAttr(node, "group", 1)}: only group 1`);
    }
    const autoPad = stringAttr(node, "auto_pad", "NOTSET");
    if (intsAttr(node, "output_shape") || autoPad.startsWith("SAME")) {
      return ctx.viaLowering(LOWERINGS.get("ConvTranspose")!);
    }
    const kernel = w!.shape.slice(2) as number[];
    const n = kernel.length;
    const pads = autoPad === "VALID" ? Array(2 * n).fill(0) : intsAttr(node, "pads", Array(2 * n).fill(0));
    const strides = intsAttr(node, "strides", Array(n).fill(1));
    let dx = ctx.wants(0)
      ? b.op1("Conv", [g, w!], {
        kernel_shape: attr.ints(kernel),
        strides: attr.ints(strides),
        dilations: attr.ints(intsAttr(node, "dilations", Array(n).fill(1))),
        pads: attr.ints(pads),
      })
      : null;
    // output_padding of a stride or more (allowed below the dilation) makes that Conv ⌊p / stride⌋ rows longer
    // than the input at the end; no input reaches them.
    const extra = intsAttr(node, "output_padding", Array(n).fill(0)).map((p, i) => Math.floor(p / strides[i]!));
    if (dx && extra.some((e) => e > 0)) {
      const axes = extra.flatMap((e, i) => (e > 0 ? [i + 2] : []));
      dx = b.op1("Slice", [dx, ints(b, axes.map(() => 0)), ints(b, axes.map((a) => -extra[a - 2]!)), ints(b, axes)]);
    }
    const rest = ctx.wants(1) || ctx.wants(2) ? ctx.viaLowering(LOWERINGS.get("ConvTranspose")!, [1, 2]) : [];
    return ctx.inputs.map((_, i) => (i === 0 ? dx : rest[i] ?? null));
  },
};

/** Rules for Conv, ConvTranspose, pools, BatchNormalization and Pad. */
export const CONV_RULES: readonly VjpRule[] = [
  conv,
  convTranspose,
  { opType: "GlobalAveragePool", vjp: (ctx) => ctx.viaLowering(LOWERINGS.get("GlobalAveragePool")!) },
  maxPool,
  { opType: "AveragePool", vjp: (ctx) => ctx.viaLowering(LOWERINGS.get("AveragePool")!) },
  batchNorm,
  pad,
];
