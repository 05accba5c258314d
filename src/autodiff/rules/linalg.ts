/**
 * VJP rules of matrix products: Gemm in all transA/transB/alpha/beta forms and
 * batched, broadcasting MatMul (1-D operands included).
 *
 * @module
 */
import type { GraphBuilder, Value } from "../../onnx/builder.ts";
import { attr, type Attributes, floatAttr, intAttr } from "../../onnx/graph.ts";
import { type Cotangent, ew, scalar, squeeze, transposeLast, unsqueeze, type VjpRule } from "../rule.ts";

/** Gemm(a, b) with the given flags and scale, omitting default attributes. */
function gemm(b: GraphBuilder, x: Value, y: Value, transA: boolean, transB: boolean, alpha: number): Value {
  const attrs: Record<string, Attributes[string]> = {};
  if (transA) attrs["transA"] = attr.int(1);
  if (transB) attrs["transB"] = attr.int(1);
  if (alpha !== 1) attrs["alpha"] = attr.float(alpha);
  return b.op1("Gemm", [x, y], attrs);
}

/** Rules for Gemm and MatMul. */
export const LINALG_RULES: readonly VjpRule[] = [
  {
    opType: "Gemm",
    vjp: ({ b, node, inputs: [A, B, C], dy: [g], wants }) => {
      if (!g) return [null, null, null];
      const ta = intAttr(node, "transA", 0) === 1, tb = intAttr(node, "transB", 0) === 1;
      const alpha = floatAttr(node, "alpha", 1), beta = floatAttr(node, "beta", 1);
      // Y = α·op(A)·op(B) + β·C, so d op(A) = α·g·op(B)ᵀ and d op(B) = α·op(A)ᵀ·g.
      let dA: Cotangent = null, dB: Cotangent = null, dC: Cotangent = null;
      if (wants(0)) dA = ta ? gemm(b, B!, g, tb, true, alpha) : gemm(b, g, B!, false, !tb, alpha);
      if (wants(1)) dB = tb ? gemm(b, g, A!, true, ta, alpha) : gemm(b, A!, g, !ta, false, alpha);
      if (C && wants(2)) dC = beta === 1 ? g : ew.mul(b, g, scalar(b, g.dtype, beta));
      return [dA, dB, dC];
    },
  },
  {
    opType: "MatMul",
    vjp: ({ b, inputs: [A, B], dy: [g], wants }) => {
      if (!g) return [null, null];
      // Promote 1-D operands to matrices (as MatMul does) and their cotangent to match.
      const a1 = A!.shape.length === 1, b1 = B!.shape.length === 1;
      const a2 = a1 ? unsqueeze(b, A!, [0]) : A!;
      const b2 = b1 ? unsqueeze(b, B!, [1]) : B!;
      let g2 = g;
      if (a1) g2 = unsqueeze(b, g2, [g2.shape.length - (b1 ? 0 : 1)]);
      if (b1) g2 = unsqueeze(b, g2, [g2.shape.length]);
      // dA = g·Bᵀ, dB = Aᵀ·g; broadcast batch dims are summed by the engine.
      let dA: Cotangent = null, dB: Cotangent = null;
      if (wants(0)) {
        dA = b.op1("MatMul", [g2, transposeLast(b, b2)]);
        if (a1) dA = squeeze(b, dA, [dA.shape.length - 2]);
      }
      if (wants(1)) {
        dB = b.op1("MatMul", [transposeLast(b, a2), g2]);
        if (b1) dB = squeeze(b, dB, [dB.shape.length - 1]);
      }
      return [dA, dB];
    },
  },
];
