/**
 * Every VJP rule against float64 central finite differences, generated from a
 * table of cases; a test fails when a registered op has no case.
 */
import { GraphBuilder, type Value } from "../onnx/builder.ts";
import { attr, type Attributes, type Graph } from "../onnx/graph.ts";
import { int64, tensor } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import type { Random } from "../util/random.ts";
import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { GraphError } from "../onnx/errors.ts";
import { gradCheck, type GradCheckOptions } from "./gradcheck.ts";
import { VJP_RULES } from "./registry.ts";
import { vjpGraph } from "./vjp.ts";

/** One finite-difference case for one op. */
interface RuleCase {
  readonly op: string;
  readonly name: string;
  readonly graph: Graph;
  readonly options?: GradCheckOptions;
  /** float32 only: ORT lacks the float64 kernel and quadjoint does not lower it yet. */
  readonly tol?: number;
}

const D = "float64";

function g(name: string, build: (b: GraphBuilder) => Value | Value[], opset?: number): Graph {
  const b = new GraphBuilder(name, opset ? { opset } : {});
  const out = build(b);
  (Array.isArray(out) ? out : [out]).forEach((v, i) => b.output(v, `y${i}`));
  return b.build();
}

const ints = (b: GraphBuilder, v: number[]) => b.constant(int64(v));

function unary(op: string, attrs: Attributes = {}, draw: "normal" | "positive" = "normal", label = ""): RuleCase {
  return {
    op,
    name: `${op}${label}`,
    graph: g(op, (b) => b.op1(op, [b.input("x", D, [3, 4])], attrs)),
    options: { draw: { x: draw } },
  };
}

function binary(op: string, a: number[], c: number[], draw: "normal" | "positive" = "normal"): RuleCase {
  return {
    op,
    name: `${op} [${a}]·[${c}]`,
    graph: g(op, (b) => b.op1(op, [b.input("a", D, a), b.input("b", D, c)])),
    options: { draw: { a: draw, b: draw } },
  };
}

/** BatchNormalization in training mode (batch statistics) with learned scale and bias, at an opset. */
function batchNormTraining(opset?: number): Graph {
  return g("bn", (b) =>
    b.op(
      "BatchNormalization",
      [
        b.input("x", D, [4, 2, 3]),
        b.input("scale", D, [2]),
        b.input("bias", D, [2]),
        b.constant(tensor(Float64Array.of(0, 0), [2])),
        b.constant(tensor(Float64Array.of(1, 1), [2])),
      ],
      { training_mode: attr.int(1) },
      { outputs: 3 },
    )[0]!, opset);
}

function gemm(transA: number, transB: number, alpha: number, beta: number, c: number[] | null): RuleCase {
  const [m, k, n] = [3, 4, 2];
  return {
    op: "Gemm",
    name: `Gemm transA=${transA} transB=${transB} alpha=${alpha} beta=${beta} C=${c ? `[${c}]` : "none"}`,
    graph: g("gemm", (b) => {
      const A = b.input("A", D, transA ? [k, m] : [m, k]);
      const B = b.input("B", D, transB ? [n, k] : [k, n]);
      const C = c ? b.input("C", D, c) : null;
      return b.op1("Gemm", [A, B, C], {
        transA: attr.int(transA),
        transB: attr.int(transB),
        alpha: attr.float(alpha),
        beta: attr.float(beta),
      });
    }),
  };
}

/** Normals scaled by `k`, to reach the flat pieces of HardSigmoid and HardSwish. */
const wide = (k: number) => (rng: Random, n: number) => Array.from({ length: n }, () => k * rng.normal());

/** One op on [3, 4] inputs at an opset (Gelu is from opset 20, Mish from 18). */
function unaryAt(op: string, opset: number, attrs: Attributes, label: string): RuleCase {
  return { op, name: `${op}${label}`, graph: g(op, (b) => b.op1(op, [b.input("x", D, [3, 4])], attrs), opset) };
}

function einsum(equation: string, shapes: number[][], label = ""): RuleCase {
  return {
    op: "Einsum",
    name: `Einsum "${equation}"${label}`,
    graph: g("einsum", (b) => {
      const xs = shapes.map((s, i) => b.input(`x${i}`, D, s));
      return b.op1("Einsum", xs, { equation: attr.string(equation) });
    }),
  };
}

function conv1d(op: "Conv" | "ConvTranspose", attrs: Attributes, label: string): RuleCase {
  return {
    op,
    name: `${op} 1-D ${label}`,
    graph: g(op, (b) => {
      const w = b.input("w", D, op === "Conv" ? [3, 2, 3] : [2, 3, 3]);
      return b.op1(op, [b.input("x", D, [2, 2, 5]), w, b.input("b", D, [3])], attrs);
    }),
  };
}

const CASES: RuleCase[] = [
  ...["Identity", "Neg", "Exp", "Tanh", "Sigmoid", "Softplus", "Relu", "Sin", "Cos", "Abs"].map((op) => unary(op)),
  ...["Erf", "Softsign", "HardSwish"].map((op) => unary(op)),
  unary("Selu", {}, "normal", " default alpha, gamma"),
  unary("Selu", { alpha: attr.float(1.5), gamma: attr.float(0.5) }),
  unary("Celu", { alpha: attr.float(0.7) }),
  { ...unary("HardSigmoid", { alpha: attr.float(0.25), beta: attr.float(0.4) }), options: { draw: { x: wide(3) } } },
  { ...unary("HardSwish", {}, "normal", " across its three pieces"), options: { draw: { x: wide(4) } } },
  unaryAt("Mish", 18, {}, ""),
  unaryAt("Gelu", 20, {}, " exact"),
  unaryAt("Gelu", 20, { approximate: attr.string("tanh") }, " tanh approximation"),
  {
    op: "PRelu",
    name: "PRelu with a per-channel slope",
    graph: g("prelu", (b) => b.op1("PRelu", [b.input("x", D, [2, 3, 4]), b.input("slope", D, [3, 1])])),
  },
  {
    op: "Clip",
    name: "Clip with min and max inputs (their cotangents too)",
    graph: g("clip", (b) => b.op1("Clip", [b.input("x", D, [3, 4]), b.input("lo", D, []), b.input("hi", D, [])])),
    options: { values: { lo: tensor(Float64Array.of(-0.4), []), hi: tensor(Float64Array.of(0.6), []) } },
  },
  {
    op: "Clip",
    name: "Clip with only a max (min omitted)",
    graph: g("clip", (b) => b.op1("Clip", [b.input("x", D, [3, 4]), null, b.input("hi", D, [])])),
  },
  {
    op: "Clip",
    name: "Clip with min above max (every output is max)",
    graph: g("clip", (b) => b.op1("Clip", [b.input("x", D, [3, 4]), b.input("lo", D, []), b.input("hi", D, [])])),
    options: { values: { lo: tensor(Float64Array.of(0.5), []), hi: tensor(Float64Array.of(-0.5), []) } },
  },
  {
    op: "Clip",
    name: "Clip at opset 10 (min and max as attributes)",
    graph: g(
      "clip",
      (b) => b.op1("Clip", [b.input("x", D, [3, 4])], { min: attr.float(-0.3), max: attr.float(0.8) }),
      10,
    ),
  },
  einsum("bi,oi->bo", [[2, 4], [3, 4]], " (a Linear layer)"),
  einsum("bi,oij,bj->bo", [[2, 3], [2, 3, 4], [2, 4]], " (a bilinear form)"),
  einsum("bij,bjk->bik", [[2, 3, 4], [2, 4, 2]], " (a batched product)"),
  einsum("...i,oi->...o", [[2, 3, 4], [2, 4]], " (an ellipsis)"),
  einsum("ij,jk", [[2, 3], [3, 4]], " (implicit output)"),
  einsum("ij->", [[2, 3]], " (a full sum: labels only the operand has)"),
  einsum("ij,j->i", [[2, 3], [3]], ""),
  einsum("i,j->ij", [[2], [3]], " (an outer product)"),
  {
    op: "LayerNormalization",
    name: "LayerNormalization over the last axis with bias",
    graph: g(
      "ln",
      (b) => b.op1("LayerNormalization", [b.input("x", D, [2, 3, 4]), b.input("s", D, [4]), b.input("b", D, [4])]),
    ),
  },
  {
    op: "LayerNormalization",
    name: "LayerNormalization over axes 1, 2 without bias, Mean and InvStdDev used (stash_type float64)",
    graph: g("ln", (b) =>
      b.op(
        "LayerNormalization",
        [b.input("x", D, [2, 3, 4]), b.input("s", D, [3, 4])],
        { axis: attr.int(1), epsilon: attr.float(1e-3), stash_type: attr.int(11) },
        { outputs: 3 },
      )),
  },
  {
    op: "InstanceNormalization",
    name: "InstanceNormalization of [2, 3, 2, 2]",
    graph: g(
      "in",
      (b) =>
        b.op1("InstanceNormalization", [b.input("x", D, [2, 3, 2, 2]), b.input("s", D, [3]), b.input("b", D, [3])]),
    ),
  },
  ...[18, 21].map((opset): RuleCase => ({
    op: "GroupNormalization",
    name: `GroupNormalization at opset ${opset} (scale per ${opset < 21 ? "group" : "channel"})`,
    graph: g("gn", (b) => {
      const n = opset < 21 ? 2 : 4;
      return b.op1(
        "GroupNormalization",
        [b.input("x", D, [2, 4, 3]), b.input("s", D, [n]), b.input("b", D, [n])],
        { num_groups: attr.int(2) },
      );
    }, opset),
  })),
  {
    op: "GlobalAveragePool",
    name: "GlobalAveragePool of [2, 3, 2, 3]",
    graph: g("gap", (b) => b.op1("GlobalAveragePool", [b.input("x", D, [2, 3, 2, 3])])),
  },
  conv1d("Conv", { pads: attr.ints([1, 0]), strides: attr.ints([2]) }, "stride 2, pads (1, 0), float64"),
  conv1d(
    "ConvTranspose",
    { strides: attr.ints([2]), pads: attr.ints([1, 1]), output_padding: attr.ints([1]) },
    "stride 2, output_padding 1",
  ),
  {
    op: "ConvTranspose",
    name: "ConvTranspose 2-D stride 2, pads 1, output_padding 1, dilation 2",
    graph: g(
      "convt",
      (b) =>
        b.op1("ConvTranspose", [b.input("x", D, [2, 2, 3, 3]), b.input("w", D, [2, 3, 2, 2]), b.input("b", D, [3])], {
          strides: attr.ints([2, 2]),
          pads: attr.ints([1, 1, 1, 0]),
          output_padding: attr.ints([1, 0]),
          dilations: attr.ints([2, 1]),
        }),
    ),
  },
  conv1d(
    "ConvTranspose",
    { strides: attr.ints([1]), output_padding: attr.ints([2]), dilations: attr.ints([3]) },
    "output_padding 2 at stride 1, dilation 3 (its Conv cotangent two rows longer than x)",
  ),
  {
    op: "ConvTranspose",
    name: "ConvTranspose 2-D with output_shape (all through the lowering)",
    graph: g("convt", (b) =>
      b.op1("ConvTranspose", [b.input("x", D, [1, 2, 3, 3]), b.input("w", D, [2, 1, 3, 3])], {
        strides: attr.ints([2, 2]),
        output_shape: attr.ints([6, 6]),
      })),
  },
  {
    op: "Gather",
    name: "Gather of one column (a scalar index) on axis 1",
    graph: g(
      "gather",
      (b) => b.op1("Gather", [b.input("x", D, [3, 4]), b.constant(int64([2], []))], { axis: attr.int(1) }),
    ),
  },
  {
    op: "Gather",
    name: "Gather with 2-D indices, a repeat and a negative index",
    graph: g("gather", (b) => b.op1("Gather", [b.input("x", D, [4, 3]), b.constant(int64([0, -1, 2, 0], [2, 2]))])),
  },
  ...["Log", "Sqrt", "Reciprocal"].map((op) => unary(op, {}, "positive")),
  unary("LeakyRelu", { alpha: attr.float(0.2) }),
  unary("Elu", { alpha: attr.float(0.7) }),
  unary("Elu", {}, "normal", " default alpha"),
  {
    op: "Cast",
    name: "Cast float32 → float64",
    graph: g("cast", (b) => b.op1("Cast", [b.input("x", "float32", [5])], { to: attr.int(11) })),
    // Steps of 2⁻⁴ on inputs in (−1, 1) are exact in float32.
    options: { step: 0.0625, draw: { x: (rng, n) => Array.from({ length: n }, () => rng.uniformIn(-0.9, 0.9)) } },
  },
  binary("Add", [3, 4], [4]),
  binary("Add", [3, 1], [1, 4]),
  binary("Sub", [2, 3, 4], [3, 1]),
  binary("Mul", [3, 4], [3, 4]),
  binary("Mul", [3, 4], []),
  binary("Div", [3, 4], [4], "positive"),
  binary("Pow", [3, 4], [4], "positive"),
  {
    op: "Pow",
    name: "Pow with constant exponent 3",
    graph: g("pow", (b) => b.op1("Pow", [b.input("x", D, [3, 4]), b.constant(tensor(Float64Array.of(3), []))])),
  },
  {
    op: "Sum",
    name: "Sum of three with broadcasting",
    graph: g("sum", (b) => b.op1("Sum", [b.input("a", D, [3, 4]), b.input("b", D, [4]), b.input("c", D, [3, 1])])),
  },
  binary("Max", [3, 4], [4]),
  binary("Min", [3, 4], [3, 4]),
  {
    op: "Max",
    name: "Max of three with broadcasting",
    graph: g("max", (b) => b.op1("Max", [b.input("a", D, [3, 4]), b.input("b", D, [4]), b.input("c", D, [3, 1])])),
  },
  {
    op: "Min",
    name: "Min of three with broadcasting",
    graph: g("min", (b) => b.op1("Min", [b.input("a", D, [2, 1, 4]), b.input("b", D, [3, 1]), b.input("c", D, [])])),
  },
  {
    op: "Where",
    name: "Where with broadcast branches",
    graph: g("where", (b) => {
      const x = b.input("x", D, [3, 4]), y = b.input("y", D, [4]);
      const c = b.op1("Greater", [x, b.constant(tensor(Float64Array.of(0), []))]);
      return b.op1("Where", [c, b.op1("Mul", [x, x]), y]);
    }),
  },
  gemm(0, 0, 1, 1, [3, 2]),
  gemm(0, 1, 1, 1, [2]),
  gemm(1, 0, 0.5, 2, [3, 1]),
  gemm(1, 1, 1.5, 0.25, []),
  gemm(0, 1, 1, 1, null),
  binary("MatMul", [3, 4], [4, 2]),
  binary("MatMul", [2, 3, 4], [4, 2]),
  binary("MatMul", [2, 1, 3, 4], [3, 4, 2]),
  binary("MatMul", [4], [2, 4, 3]),
  binary("MatMul", [2, 3, 4], [4]),
  binary("MatMul", [4], [4]),
  {
    op: "Concat",
    name: "Concat on axis 1",
    graph: g(
      "concat",
      (b) => b.op1("Concat", [b.input("a", D, [2, 3]), b.input("b", D, [2, 1])], { axis: attr.int(1) }),
    ),
  },
  {
    op: "Slice",
    name: "Slice with steps 1 and 2 and a negative start",
    graph: g(
      "slice",
      (b) =>
        b.op1("Slice", [b.input("x", D, [4, 7]), ints(b, [1, -6]), ints(b, [3, 7]), ints(b, [0, 1]), ints(b, [1, 2])]),
    ),
  },
  {
    op: "Slice",
    name: "Slice with a negative step",
    graph: g(
      "slice",
      (b) => b.op1("Slice", [b.input("x", D, [3, 5]), ints(b, [4]), ints(b, [0]), ints(b, [1]), ints(b, [-2])]),
    ),
  },
  {
    op: "Split",
    name: "Split into 3 (two outputs used)",
    graph: g("split", (b) => {
      const [p, , r] = b.op("Split", [b.input("x", D, [2, 6]), ints(b, [1, 2, 3])], { axis: attr.int(1) }, {
        outputs: 3,
      });
      return [p!, b.op1("Tanh", [r!])];
    }),
  },
  {
    op: "Reshape",
    name: "Reshape [2,6] → [3,-1]",
    graph: g("reshape", (b) => b.op1("Reshape", [b.input("x", D, [2, 6]), ints(b, [3, -1])])),
  },
  {
    op: "Flatten",
    name: "Flatten axis 1",
    graph: g("flatten", (b) => b.op1("Flatten", [b.input("x", D, [2, 3, 2])])),
  },
  {
    op: "Squeeze",
    name: "Squeeze axis 1",
    graph: g("squeeze", (b) => b.op1("Squeeze", [b.input("x", D, [3, 1, 2]), ints(b, [1])])),
  },
  {
    op: "Unsqueeze",
    name: "Unsqueeze axes 0 and 2",
    graph: g("unsqueeze", (b) => b.op1("Unsqueeze", [b.input("x", D, [3, 2]), ints(b, [0, 2])])),
  },
  {
    op: "Transpose",
    name: "Transpose perm [1,2,0]",
    graph: g("transpose", (b) => b.op1("Transpose", [b.input("x", D, [2, 3, 4])], { perm: attr.ints([1, 2, 0]) })),
  },
  {
    op: "Expand",
    name: "Expand [3,1] → [2,3,4]",
    graph: g("expand", (b) => b.op1("Expand", [b.input("x", D, [3, 1]), ints(b, [2, 3, 4])])),
  },
  {
    op: "ReduceSum",
    name: "ReduceSum axes [0,2] keepdims 0",
    graph: g(
      "rsum",
      (b) => b.op1("ReduceSum", [b.input("x", D, [2, 3, 4]), ints(b, [0, -1])], { keepdims: attr.int(0) }),
    ),
  },
  {
    op: "ReduceSum",
    name: "ReduceSum all axes keepdims 1",
    graph: g("rsum", (b) => b.op1("ReduceSum", [b.input("x", D, [2, 3])])),
  },
  {
    op: "ReduceMean",
    name: "ReduceMean axis 1 keepdims 1 (opset 17 attribute)",
    graph: g("rmean", (b) => b.op1("ReduceMean", [b.input("x", D, [2, 3, 4])], { axes: attr.ints([1]) })),
  },
  {
    op: "ReduceMean",
    name: "ReduceMean over a symbolic batch",
    graph: g(
      "rmean",
      (b) => b.op1("ReduceMean", [b.input("x", D, ["batch", 3])], { axes: attr.ints([0]), keepdims: attr.int(0) }),
    ),
    options: { dims: { batch: 4 } },
  },
  {
    op: "Softmax",
    name: "Softmax axis -1",
    graph: g("softmax", (b) => b.op1("Softmax", [b.input("x", D, [3, 4])])),
  },
  {
    op: "Softmax",
    name: "Softmax axis 1 of rank 3 (opset 11 semantics)",
    graph: g("softmax", (b) => b.op1("Softmax", [b.input("x", D, [2, 3, 2])], { axis: attr.int(1) }), 11),
  },
  {
    op: "LogSoftmax",
    name: "LogSoftmax axis 0",
    graph: g("logsoftmax", (b) => b.op1("LogSoftmax", [b.input("x", D, [3, 4])], { axis: attr.int(0) })),
  },
  ...[
    { label: "stride 1, pad 1", attrs: { pads: attr.ints([1, 1, 1, 1]) }, size: [5, 5] },
    {
      label: "stride 2, pad (1,0,0,1), dilation 2",
      attrs: { strides: attr.ints([2, 2]), pads: attr.ints([1, 0, 0, 1]), dilations: attr.ints([2, 2]) },
      size: [7, 6],
    },
    {
      label: "stride 2 with a skipped last row, SAME_UPPER",
      attrs: { strides: attr.ints([2, 2]), auto_pad: attr.string("SAME_UPPER") },
      size: [6, 5],
    },
  ].map(({ label, attrs, size }): RuleCase => ({
    op: "Conv",
    name: `Conv 3×3 ${label}`,
    graph: g("conv", (b) => {
      const x = b.input("x", D, ["batch", 2, ...size]);
      const w = b.input("w", D, [3, 2, 3, 3]);
      const bias = b.input("b", D, [3]);
      return b.op1("Conv", [x, w, bias], { kernel_shape: attr.ints([3, 3]), ...attrs });
    }),
    options: { dims: { batch: 2 } },
  })),
  {
    op: "Conv",
    name: "Conv 1-D with respect to the input only (constant weight)",
    graph: g("conv1d", (b) => {
      const w = b.initializer("w", tensor(Float32Array.from({ length: 12 }, (_, i) => Math.sin(i)), [2, 2, 3]));
      return b.op1("Conv", [b.input("x", "float32", [2, 2, 7]), w], { pads: attr.ints([1, 1]) });
    }),
    // Conv is linear in x and the drawn inputs move by exact float32 steps.
    options: { step: 0.0625, draw: { x: (rng, n) => Array.from({ length: n }, () => rng.uniformIn(-0.9, 0.9)) } },
    tol: 1e-4,
  },
  {
    op: "MaxPool",
    name: "MaxPool 2×2 stride 2",
    graph: g(
      "maxpool",
      (b) =>
        b.op1("MaxPool", [b.input("x", D, [2, 2, 4, 5])], {
          kernel_shape: attr.ints([2, 2]),
          strides: attr.ints([2, 2]),
        }),
    ),
  },
  {
    op: "MaxPool",
    name: "MaxPool 3×3 stride 1 pad 1 (overlapping windows)",
    graph: g(
      "maxpool",
      (b) =>
        b.op1("MaxPool", [b.input("x", D, [1, 2, 4, 4])], {
          kernel_shape: attr.ints([3, 3]),
          pads: attr.ints([1, 1, 1, 1]),
        }),
    ),
  },
  {
    op: "MaxPool",
    name: "MaxPool ceil_mode with end pads (a window starting in the padding is dropped)",
    graph: g(
      "maxpool",
      (b) =>
        b.op1("MaxPool", [b.input("x", D, [1, 2, 4, 5])], {
          kernel_shape: attr.ints([2, 2]),
          strides: attr.ints([2, 2]),
          pads: attr.ints([0, 0, 1, 1]),
          ceil_mode: attr.int(1),
        }),
    ),
  },
  {
    op: "AveragePool",
    name: "AveragePool 3×3 stride 2 pad 1 excluding pads",
    graph: g("avgpool", (b) =>
      b.op1("AveragePool", [b.input("x", D, [2, 2, 5, 5])], {
        kernel_shape: attr.ints([3, 3]),
        strides: attr.ints([2, 2]),
        pads: attr.ints([1, 1, 1, 1]),
      })),
  },
  {
    op: "BatchNormalization",
    name: "BatchNormalization inference mode",
    graph: g("bn", (b) =>
      b.op1("BatchNormalization", [
        b.input("x", D, [3, 2, 2, 2]),
        b.input("scale", D, [2]),
        b.input("bias", D, [2]),
        b.input("mean", D, [2]),
        b.input("var", D, [2]),
      ], { epsilon: attr.float(1e-3) })),
    options: { draw: { var: "positive" } },
  },
  {
    op: "BatchNormalization",
    name: "BatchNormalization inference mode with one value as scale, bias and mean",
    graph: g("bn", (b) => {
      const s = b.input("s", D, [2]);
      return b.op1("BatchNormalization", [b.input("x", D, [3, 2, 2, 2]), s, s, s, b.input("var", D, [2])]);
    }),
    options: { draw: { var: "positive" } },
  },
  {
    op: "BatchNormalization",
    name: "BatchNormalization training mode (batch statistics)",
    graph: batchNormTraining(),
  },
  {
    op: "BatchNormalization",
    name: "BatchNormalization training mode at opset 18 (ReduceMean axes as an input)",
    graph: batchNormTraining(18),
  },
  {
    op: "Pad",
    name: "Pad with negative pads at opset 10 (pads as an attribute)",
    graph: g("pad", (b) => b.op1("Pad", [b.input("x", D, [3, 4])], { pads: attr.ints([1, 0, 2, -1]) }), 10),
  },
  {
    op: "Pad",
    name: "Pad constant with positive and negative pads",
    graph: g(
      "pad",
      (b) =>
        b.op1("Pad", [b.input("x", D, [3, 4]), ints(b, [1, 0, 2, -1]), b.constant(tensor(Float64Array.of(0.5), []))]),
    ),
  },
];

const rt = new Runtime({ threads: 1 });

for (const c of CASES) {
  Deno.test(`VJP rule ${c.op} matches central differences: ${c.name}`, async () => {
    const { errors, grads, feeds } = await gradCheck(rt, c.graph, c.options);
    for (const [name, err] of Object.entries(errors)) {
      assertEquals(grads[name]!.dims, feeds[name]!.dims, `shape of grad_${name}`);
      assert(err <= (c.tol ?? 1e-6), `${c.name}: grad_${name} relative error ${err.toExponential(2)}`);
    }
  });
}

Deno.test("Einsum's VJP rule refuses diagonals and broadcast ellipses, naming the node and the equation", () => {
  for (
    const [equation, shapes, why] of [
      ["ii->i", [[3, 3]], "operand 0 repeats a label"],
      ["...i,...i->...", [[2, 3], [1, 3]], "broadcast along"],
    ] as const
  ) {
    const graph = g(
      "einsum",
      (b) =>
        b.op1("Einsum", shapes.map((s, i) => b.input(`x${i}`, D, s)), { equation: attr.string(equation) }, {
          name: "contract",
        }),
    );
    const e = assertThrows(() => vjpGraph(graph, { of: ["y0"], wrt: ["x0"] }), GraphError);
    for (const part of ["node contract (Einsum)", `"${equation}"`, why]) {
      assert(e.message.includes(part), `"${e.message}" lacks ${part}`);
    }
  }
});

Deno.test("VJP_RULES: every registered op has a finite-difference case", () => {
  const covered = new Set(CASES.map((c) => c.op));
  const missing = [...VJP_RULES.keys()].filter((op) => !covered.has(op));
  assertEquals(missing, [], `ops without a case: ${missing.join(", ")}`);
});

Deno.test("Pow's cotangents at a zero base are torch's limits, not NaN, and an integer exponent is taken", async () => {
  const b = new GraphBuilder("pow_zero");
  b.output(b.op1("Pow", [b.input("x", D, [4]), b.input("p", D, [4])]), "y");
  const vjp = await rt.compile(vjpGraph(b.build(), { of: ["y"], wrt: ["x", "p"], keepOutputs: false }));
  const out = await vjp.run({
    x: tensor(Float64Array.of(0, 0, 0, 2), [4]),
    p: tensor(Float64Array.of(0, 1, 2, 1.5), [4]),
    grad_y: tensor(Float64Array.of(1, 1, 1, 1), [4]),
  });
  // d/dx: 0 where p = 0 (x⁰ is constant), p·x^(p−1) elsewhere; d/dp: 0 at x = 0 with p ≥ 0, xᵖ·log x elsewhere.
  assertEquals(Array.from(out["grad_x"]!.data as Float64Array), [0, 1, 0, 1.5 * Math.sqrt(2)]);
  assertEquals(Array.from(out["grad_p"]!.data as Float64Array), [0, 0, 0, 2 ** 1.5 * Math.log(2)]);

  // A float base with an int64 exponent (ONNX opset ≥ 12): the base's dtype out, its cotangent 3x².
  const c = new GraphBuilder("pow_int");
  c.output(c.op1("Pow", [c.input("x", D, [2]), c.constant(int64([3]))]), "y");
  const intVjp = await rt.compile(vjpGraph(c.build(), { of: ["y"], wrt: ["x"], keepOutputs: false }));
  const got = await intVjp.run({
    x: tensor(Float64Array.of(1.5, -2), [2]),
    grad_y: tensor(Float64Array.of(1, 1), [2]),
  });
  assertEquals(Array.from(got["grad_x"]!.data as Float64Array), [3 * 1.5 ** 2, 3 * 4]);
});
