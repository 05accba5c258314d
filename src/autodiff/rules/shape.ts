/**
 * VJP rules of ops that move or reduce elements without arithmetic: reshapes,
 * transposes, concatenation, slicing, gathering, broadcasting and sums.
 *
 * Reshape, Flatten, Squeeze and Unsqueeze share one rule (reshape the
 * cotangent back to the input's shape); Expand leaves all the work to the
 * engine's broadcast reduction.
 *
 * @module
 */
import type { GraphBuilder, Value } from "../../onnx/builder.ts";
import { GraphError } from "../../onnx/errors.ts";
import { attr, type Dim, intAttr, intsAttr, type Node } from "../../onnx/graph.ts";
import { sliceDim } from "../../onnx/shape_rules.ts";
import { tensor, toNumbers } from "../../onnx/tensor.ts";
import {
  castTo,
  ew,
  expandLike,
  ints,
  padConstant,
  reshapeLike,
  scalar,
  unsqueeze,
  type VjpRule,
  zerosLike,
} from "../rule.ts";

function fail(node: Node, message: string): never {
  throw new GraphError(message, { nodeName: node.name, opType: node.opType });
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Reads constant int input `i` of a node (or its attribute for older opsets). */
function constInts(b: GraphBuilder, node: Node, i: number, attrName: string, inputSince: number): number[] | undefined {
  if (b.opset >= inputSince) {
    const name = node.inputs[i];
    if (!name) return undefined;
    const c = b.knownInts(name);
    if (!c) fail(node, `Input ${i} (${attrName}) must be known when building to differentiate this node`);
    return c;
  }
  const a = intsAttr(node, attrName);
  return a ? [...a] : undefined;
}

const reshapeBack: (opType: string) => VjpRule = (opType) => ({
  opType,
  vjp: ({ b, inputs, dy: [g] }) => [g ? reshapeLike(b, g, inputs[0]!) : null, ...inputs.slice(1).map(() => null)],
});

/** Axes a reduction node reduces over (all when none are given, none for a no-op). */
function reductionAxes(b: GraphBuilder, node: Node, rank: number, axesInputSince: number): number[] {
  const axes = constInts(b, node, 1, "axes", axesInputSince);
  if (!axes || axes.length === 0) {
    return intAttr(node, "noop_with_empty_axes", 0) === 1 ? [] : [...Array(rank).keys()];
  }
  return axes.map((a) => normAxis(a, rank));
}

function reduction(opType: string, axesInputSince: number, mean: boolean): VjpRule {
  return {
    opType,
    vjp: ({ b, node, inputs, outputs: [y], dy: [g] }) => {
      const x = inputs[0], rest = inputs.slice(1).map(() => null);
      if (!g) return [null, ...rest];
      const axes = reductionAxes(b, node, x!.shape.length, axesInputSince);
      const keep = intAttr(node, "keepdims", 1) === 1;
      const gk = keep || axes.length === 0 ? g : unsqueeze(b, g, axes);
      let gx = expandLike(b, gk, x!);
      if (mean && axes.length > 0) {
        const dims = axes.map((a) => x!.shape[a]!);
        if (dims.every((d) => typeof d === "number")) {
          const n = (dims as number[]).reduce((p, d) => p * d, 1);
          gx = ew.div(b, gx, scalar(b, g.dtype, n));
        } else {
          // Symbolic reduced dims: n = size(x) / size(y), read at run time.
          const n = b.op1("Div", [b.op1("Size", [x!]), b.op1("Size", [y!])]);
          gx = ew.div(b, gx, castTo(b, n, g.dtype));
        }
      }
      return [gx, ...rest];
    },
  };
}

/** The cotangent of Slice's input along one axis, by padding (step 1) or a 0/1 scatter matrix. */
function unslice(
  b: GraphBuilder,
  node: Node,
  g: Value,
  axis: number,
  size: Dim,
  start: number,
  end: number,
  step: number,
) {
  const rank = g.shape.length;
  if (typeof size !== "number") {
    if (start === 0 && end >= 2 ** 31 - 1 && step === 1) return g;
    fail(node, `Cannot differentiate a slice of symbolic dim ${size} on axis ${axis} (starts ${start}, ends ${end})`);
  }
  const { size: m, start: s } = sliceDim(size, start, end, step);
  if (step === 1) {
    const pads = Array<number>(2 * rank).fill(0);
    pads[axis] = s;
    pads[axis + rank] = size - s - m;
    return pads.every((p) => p === 0) ? g : padConstant(b, g, pads);
  }
  // Any other step: move the axis last and multiply by S[j, s + j·step] = 1.
  const data = new (g.dtype === "float64" ? Float64Array : Float32Array)(m * size);
  for (let j = 0; j < m; j++) data[j * size + s + j * step] = 1;
  const S = b.constant(tensor(data, [m, size]));
  const perm = [...[...Array(rank).keys()].filter((k) => k !== axis), axis];
  const inv = perm.map((_, k) => perm.indexOf(k));
  const moved = b.op1("Transpose", [g], { perm: attr.ints(perm) });
  return b.op1("Transpose", [b.op1("MatMul", [moved, S])], { perm: attr.ints(inv) });
}

/** Rules for shape and reduction ops. */
export const SHAPE_RULES: readonly VjpRule[] = [
  reshapeBack("Reshape"),
  reshapeBack("Flatten"),
  reshapeBack("Squeeze"),
  reshapeBack("Unsqueeze"),
  {
    opType: "Transpose",
    vjp: ({ b, node, inputs: [x], dy: [g] }) => {
      if (!g) return [null];
      const r = x!.shape.length;
      const perm = intsAttr(node, "perm", [...Array(r).keys()].reverse());
      const inv = perm.map((_, k) => perm.indexOf(k));
      return [b.op1("Transpose", [g], { perm: attr.ints(inv) })];
    },
  },
  { opType: "Expand", vjp: ({ dy: [g] }) => [g ?? null, null] },
  {
    opType: "Concat",
    vjp: ({ b, node, inputs, dy: [g] }) => {
      if (!g) return inputs.map(() => null);
      const rank = inputs[0]!.shape.length;
      const axis = normAxis(intAttr(node, "axis", 0), rank);
      const sizes = inputs.map((x) => x!.shape[axis]!);
      if (sizes.some((d) => typeof d !== "number")) {
        fail(node, `Cannot differentiate a concatenation of symbolic sizes [${sizes.join(", ")}] on axis ${axis}`);
      }
      const outputs = inputs.length;
      if (outputs === 1) return [g];
      return b.op(
        "Split",
        b.opset >= 13 ? [g, ints(b, sizes as number[])] : [g],
        { axis: attr.int(axis), ...(b.opset >= 13 ? {} : { split: attr.ints(sizes as number[]) }) },
        { outputs },
      );
    },
  },
  {
    opType: "Split",
    vjp: ({ b, node, inputs, outputs, dy }) => {
      if (dy.every((g) => !g)) return inputs.map(() => null);
      const axis = normAxis(intAttr(node, "axis", 0), inputs[0]!.shape.length);
      // Outputs without a cotangent contribute zero blocks shaped like them.
      const parts = outputs.map((o, i) => dy[i] ?? zerosLike(b, o!));
      return [b.op1("Concat", parts, { axis: attr.int(axis) }), ...inputs.slice(1).map(() => null)];
    },
  },
  {
    opType: "Slice",
    vjp: ({ b, node, inputs, dy: [g] }) => {
      const nulls = inputs.slice(1).map(() => null);
      if (!g) return [null, ...nulls];
      const x = inputs[0]!;
      const rank = x.shape.length;
      const starts = constInts(b, node, 1, "starts", 10)!;
      const ends = constInts(b, node, 2, "ends", 10)!;
      const axes = (constInts(b, node, 3, "axes", 10) ?? starts.map((_, i) => i)).map((a) => normAxis(a, rank));
      const steps = constInts(b, node, 4, "steps", 10) ?? starts.map(() => 1);
      let gx: Value = g;
      axes.forEach((axis, i) => {
        gx = unslice(b, node, gx, axis, x.shape[axis]!, starts[i]!, ends[i]!, steps[i]!);
      });
      return [gx, ...nulls];
    },
  },
  {
    opType: "Gather",
    vjp: ({ b, node, inputs: [x, idx], dy: [g] }) => {
      if (!g) return [null, null];
      // With constant indices: the cotangent scattered back (repeats added) by a 0/1 matrix on the gathered axis.
      const rank = x!.shape.length;
      const axis = normAxis(intAttr(node, "axis", 0), rank);
      const size = x!.shape[axis]!;
      const c = b.constantOf(node.inputs[1]!);
      if (!c) fail(node, "Indices must be a constant to differentiate Gather");
      if (typeof size !== "number") {
        fail(node, `Cannot differentiate a Gather from symbolic dim ${size} on axis ${axis}`);
      }
      const picks = toNumbers(c).map((i) => (i < 0 ? i + size : i));
      const m = picks.length;
      const data = new (g.dtype === "float64" ? Float64Array : Float32Array)(m * size);
      picks.forEach((p, j) => (data[j * size + p] = 1));
      // g has the index dims where x had `axis`; fold them into one axis of m entries, moved last.
      const k = idx!.shape.length;
      let flat = g;
      if (k === 0) flat = unsqueeze(b, g, [axis]);
      else if (k > 1) {
        const shape = b.op1("Shape", [g]);
        const part = (from: number, to: number) => b.op1("Slice", [shape, ints(b, [from]), ints(b, [to])]);
        const target = b.op1("Concat", [part(0, axis), ints(b, [m]), part(axis + k, 2 ** 62)], { axis: attr.int(0) });
        flat = b.op1("Reshape", [g, target]);
      }
      const perm = [...[...Array(rank).keys()].filter((a) => a !== axis), axis];
      const inv = perm.map((_, a) => perm.indexOf(a));
      const moved = b.op1("Transpose", [flat], { perm: attr.ints(perm) });
      const spread = b.op1("MatMul", [moved, b.constant(tensor(data, [m, size]))]);
      return [b.op1("Transpose", [spread], { perm: attr.ints(inv) }), null];
    },
  },
  reduction("ReduceSum", 13, false),
  reduction("ReduceMean", 18, true),
];
