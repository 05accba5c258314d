/**
 * VJP rules of convolution, pooling, padding and batch normalisation.
 *
 * Conv's input cotangent is a ConvTranspose and ConvTranspose's a Conv (fast
 * native kernels in float32); their weight and bias cotangents, and all of
 * MaxPool, AveragePool, GlobalAveragePool and BatchNormalization, come from
 * differentiating a lowering into primitives
 * (strided slices, MatMul, Max, sums), so no rule repeats another's algebra.
 *
 * @module
 */
import type { Value } from "../../onnx/builder.ts";
import { GraphError } from "../../onnx/errors.ts";
import { attr, floatAttr, formatShape, intAttr, intsAttr, type Node, stringAttr } from "../../onnx/graph.ts";
import { LOWERINGS } from "../../onnx/lower.ts";
import { windowOutputSize, windowPads } from "../../onnx/shape_rules.ts";
import { int64, toNumbers } from "../../onnx/tensor.ts";
import { ints, type Lower, padConstant, reduceMean, scalar, unsqueeze, type VjpRule } from "../rule.ts";

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
    if (ctx.wants(0)) {
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
    // Only the weight and bias go through the lowering (1-D and 2-D), and only when wanted.
    const rest = ctx.wants(1) || ctx.wants(2) ? ctx.viaLowering(LOWERINGS.get("Conv")!, [1, 2]) : [];
    return ctx.inputs.map((_, i) => (i === 0 ? dx : rest[i] ?? null));
  },
};

/** MaxPool as the Max of strided slices of the input padded with −∞ (ties share the cotangent). */
const lowerMaxPool: Lower = (b, node, [x]) => {
  const size = spatial(node, x!);
  const n = size.length;
  const kernel = intsAttr(node, "kernel_shape")!;
  const strides = intsAttr(node, "strides", Array(n).fill(1));
  const dilations = intsAttr(node, "dilations", Array(n).fill(1));
  const kEff = kernel.map((k, i) => (k - 1) * dilations[i]! + 1);
  const pads = windowPads(node, size, kEff, strides);
  const ceil = intAttr(node, "ceil_mode", 0) === 1;
  const out = size.map((s, i) => windowOutputSize(s, pads[i]!, pads[i + n]!, kEff[i]!, strides[i]!, ceil));
  // Pad the tail far enough for ceil_mode windows.
  const tail = size.map((s, i) => Math.max(pads[i + n]!, (out[i]! - 1) * strides[i]! + kEff[i]! - s - pads[i]!));
  const full = [0, 0, ...pads.slice(0, n), 0, 0, ...tail];
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
    return ctx.viaLowering(lowerBatchNorm);
  },
};

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
    const dx = ctx.wants(0)
      ? b.op1("Conv", [g, w!], {
        kernel_shape: attr.ints(kernel),
        strides: attr.ints(intsAttr(node, "strides", Array(n).fill(1))),
        dilations: attr.ints(intsAttr(node, "dilations", Array(n).fill(1))),
        pads: attr.ints(pads),
      })
      : null;
    const rest = ctx.wants(1) || ctx.wants(2) ? ctx.viaLowering(LOWERINGS.get("ConvTranspose")!, [1, 2]) : [];
    return ctx.inputs.map((_, i) => (i === 0 ? dx : rest[i] ?? null));
  },
};

/** Rules for Conv, ConvTranspose, pools, BatchNormalization and Pad. */
export const CONV_RULES: readonly VjpRule[] = [
  conv,
  convTranspose,
  { opType: "GlobalAveragePool", vjp: (ctx) => ctx.viaLowering(LOWERINGS.get("GlobalAveragePool")!) },
  { opType: "MaxPool", vjp: (ctx) => [ctx.viaLowering(lowerMaxPool)[0]!] },
  { opType: "AveragePool", vjp: (ctx) => ctx.viaLowering(LOWERINGS.get("AveragePool")!) },
  batchNorm,
  pad,
];
