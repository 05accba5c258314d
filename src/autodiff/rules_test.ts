/**
 * Every VJP rule against float64 central finite differences, generated from a
 * table of cases; a test fails when a registered op has no case.
 */
import { GraphBuilder, type Value } from "../onnx/builder.ts";
import { attr, type Attributes, type Graph } from "../onnx/graph.ts";
import { int64, tensor } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { assert, assertEquals } from "../util/testing.ts";
import { gradCheck, type GradCheckOptions } from "./gradcheck.ts";
import { VJP_RULES } from "./registry.ts";

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

const CASES: RuleCase[] = [
  ...["Identity", "Neg", "Exp", "Tanh", "Sigmoid", "Softplus", "Relu", "Sin", "Cos", "Abs"].map((op) => unary(op)),
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

Deno.test("VJP_RULES: every registered op has a finite-difference case", () => {
  const covered = new Set(CASES.map((c) => c.op));
  const missing = [...VJP_RULES.keys()].filter((op) => !covered.has(op));
  assertEquals(missing, [], `ops without a case: ${missing.join(", ")}`);
});
