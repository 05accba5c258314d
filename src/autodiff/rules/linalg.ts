/**
 * VJP rules of matrix products: Gemm in all transA/transB/alpha/beta forms,
 * batched, broadcasting MatMul (1-D operands included), and Einsum without
 * repeated labels in one operand (the contractions torch writes for Linear-like
 * and bilinear layers and batched products, `...` included).
 *
 * @module
 */
import type { GraphBuilder, Value } from "../../onnx/builder.ts";
import { formatEinsum, parseEinsum } from "../../onnx/einsum.ts";
import { GraphError } from "../../onnx/errors.ts";
import { attr, type Attributes, type Dim, floatAttr, intAttr, stringAttr } from "../../onnx/graph.ts";
import {
  type Cotangent,
  ew,
  expandLike,
  scalar,
  squeeze,
  transposeLast,
  unsqueeze,
  type VjpContext,
  type VjpRule,
} from "../rule.ts";

/** Gemm(a, b) with the given flags and scale, omitting default attributes. */
function gemm(b: GraphBuilder, x: Value, y: Value, transA: boolean, transB: boolean, alpha: number): Value {
  const attrs: Record<string, Attributes[string]> = {};
  if (transA) attrs["transA"] = attr.int(1);
  if (transB) attrs["transB"] = attr.int(1);
  if (alpha !== 1) attrs["alpha"] = attr.float(alpha);
  return b.op1("Gemm", [x, y], attrs);
}

/**
 * Einsum's cotangent for operand k is the Einsum of the output's cotangent with
 * the other operands, onto operand k's labels; labels only operand k has (summed
 * inside it) are then broadcast back. Repeated labels within an operand
 * (diagonals, traces) are refused.
 */
function einsumVjp({ b, node, inputs, dy: [g], wants }: VjpContext): Cotangent[] {
  if (!g) return inputs.map(() => null);
  const equation = stringAttr(node, "equation", "");
  const spec = parseEinsum(equation, inputs.map((v) => v!.shape.length));
  const refuse = (why: string): never => {
    throw new GraphError(`Cannot differentiate Einsum "${equation}": ${why}`, {
      nodeName: node.name,
      opType: node.opType,
    });
  };
  const dims = new Map<string, Set<Dim>>();
  spec.inputs.forEach((labels, i) => {
    if (new Set(labels).size !== labels.length) {
      refuse(`operand ${i} repeats a label (a diagonal or trace); only distinct labels per operand are supported`);
    }
    labels.forEach((l, j) => dims.set(l, (dims.get(l) ?? new Set()).add(inputs[i]!.shape[j]!)));
  });
  for (const sizes of dims.values()) {
    if (sizes.size > 1 && sizes.has(1)) refuse('operands broadcast along "..." (a size-1 dim meets a larger one)');
  }
  return inputs.map((x, k) => {
    if (!wants(k)) return null;
    const others = spec.inputs.flatMap((labels, j) => (j === k ? [] : [{ labels, v: inputs[j]! }]));
    const elsewhere = new Set([...spec.output, ...others.flatMap((o) => o.labels)]);
    const mine = spec.inputs[k]!;
    const kept = mine.filter((l) => elsewhere.has(l));
    const terms = [spec.output, ...others.map((o) => o.labels)];
    const trivial = others.length === 0 && kept.join() === spec.output.join();
    let gx = trivial
      ? g
      : b.op1("Einsum", [g, ...others.map((o) => o.v)], { equation: attr.string(formatEinsum(terms, kept)) });
    if (kept.length < mine.length) {
      gx = unsqueeze(b, gx, mine.flatMap((l, i) => (elsewhere.has(l) ? [] : [i])));
      gx = expandLike(b, gx, x!);
    }
    return gx;
  });
}

/** Rules for Gemm, MatMul and Einsum. */
export const LINALG_RULES: readonly VjpRule[] = [
  {
    opType: "Gemm",
    vjp: ({ b, node, inputs, dy: [g], wants }) => {
      const [A, B, C] = inputs;
      // C is optional (torch's dynamo export leaves it out): one cotangent per input given.
      const given = <T>(cotangents: T[]) => cotangents.slice(0, inputs.length);
      if (!g) return given([null, null, null]);
      const ta = intAttr(node, "transA", 0) === 1, tb = intAttr(node, "transB", 0) === 1;
      const alpha = floatAttr(node, "alpha", 1), beta = floatAttr(node, "beta", 1);
      // Y = α·op(A)·op(B) + β·C, so d op(A) = α·g·op(B)ᵀ and d op(B) = α·op(A)ᵀ·g.
      let dA: Cotangent = null, dB: Cotangent = null, dC: Cotangent = null;
      if (wants(0)) dA = ta ? gemm(b, B!, g, tb, true, alpha) : gemm(b, g, B!, false, !tb, alpha);
      if (wants(1)) dB = tb ? gemm(b, g, A!, true, ta, alpha) : gemm(b, A!, g, !ta, false, alpha);
      if (C && wants(2)) dC = beta === 1 ? g : ew.mul(b, g, scalar(b, g.dtype, beta));
      return given([dA, dB, dC]);
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
  { opType: "Einsum", vjp: einsumVjp },
];
