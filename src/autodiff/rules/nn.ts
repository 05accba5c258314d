/**
 * VJP rules of neural-network ops: Softmax and LogSoftmax, and the
 * normalisation layers LayerNormalization, InstanceNormalization and
 * GroupNormalization, differentiated through their rewrites into primitives
 * (onnx/_lower_norm.ts), mean and variance terms included.
 *
 * @module
 */
import type { GraphBuilder, Value } from "../../onnx/builder.ts";
import { intAttr, type Node } from "../../onnx/graph.ts";
import { LOWERINGS } from "../../onnx/lower.ts";
import { ew, reduceSum, type VjpRule } from "../rule.ts";

/** The axes Softmax normalises over: one axis from opset 13, all trailing axes before. */
function softmaxAxes(b: GraphBuilder, node: Node, rank: number): number[] {
  const axis = intAttr(node, "axis", b.opset >= 13 ? -1 : 1);
  const a = axis < 0 ? axis + rank : axis;
  return b.opset >= 13 ? [a] : [...Array(rank - a).keys()].map((k) => k + a);
}

const sumKeep = (b: GraphBuilder, x: Value, axes: number[]) => reduceSum(b, x, axes, true);

/** Rules for Softmax, LogSoftmax and the normalisation layers. */
export const NN_RULES: readonly VjpRule[] = [
  {
    opType: "Softmax",
    vjp: ({ b, node, outputs: [y], dy: [g] }) => {
      if (!g) return [null];
      // dx = y ⊙ (g − Σ g ⊙ y).
      const axes = softmaxAxes(b, node, y!.shape.length);
      return [ew.mul(b, y!, ew.sub(b, g, sumKeep(b, ew.mul(b, g, y!), axes)))];
    },
  },
  {
    opType: "LogSoftmax",
    vjp: ({ b, node, outputs: [y], dy: [g] }) => {
      if (!g) return [null];
      // dx = g − softmax ⊙ Σ g, with softmax = exp(y).
      const axes = softmaxAxes(b, node, y!.shape.length);
      return [ew.sub(b, g, ew.mul(b, b.op1("Exp", [y!]), sumKeep(b, g, axes)))];
    },
  },
  // LayerNormalization's Mean and InvStdDev outputs are differentiated too, when something uses them.
  ...["LayerNormalization", "InstanceNormalization", "GroupNormalization"].map((opType): VjpRule => ({
    opType,
    vjp: (ctx) => ctx.viaLowering(LOWERINGS.get(opType)!),
  })),
];
