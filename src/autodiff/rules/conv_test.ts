/**
 * The Conv and MaxPool rules' paths against float64 central differences and
 * against each other: a Conv's input cotangent as a Conv of the flipped weight
 * (stride 1, input channels ≥ output channels) or a ConvTranspose, its weight
 * cotangent as one Conv (input channels ≥ 4 × output channels, stride 1) or as
 * one Gemm per kernel offset, and
 * MaxPool's cotangent through a mask of each window's maxima (disjoint
 * windows) or through the lowering (overlapping ones).
 * rules_test.ts holds the cases of every rule, these included.
 */
import { GraphBuilder } from "../../onnx/builder.ts";
import { attr, type Attributes, type Dim, type Graph } from "../../onnx/graph.ts";
import { type Tensor, tensor, toNumbers } from "../../onnx/tensor.ts";
import { Runtime } from "../../runtime/session.ts";
import { Random } from "../../util/random.ts";
import { assert, assertClose, assertEquals, assertThrows } from "../../util/testing.ts";
import { GraphError } from "../../onnx/errors.ts";
import { gradCheck, type GradCheckOptions } from "../gradcheck.ts";
import { vjpGraph } from "../vjp.ts";

const rt = new Runtime({ threads: 1 });

/** One op on inputs of `dtype`, its output `y`. */
function oneOp(
  op: string,
  inputs: readonly [string, readonly Dim[]][],
  attrs: Attributes,
  dtype: "float32" | "float64" = "float64",
): Graph {
  const b = new GraphBuilder(op.toLowerCase());
  b.output(b.op1(op, inputs.map(([n, s]) => b.input(n, dtype, s)), attrs), "y");
  return b.build();
}

/** Op types of the VJP graph of `graph`'s output with respect to `wrt` (before any runtime lowering). */
function vjpOps(graph: Graph, wrt: readonly string[]): Set<string> {
  return new Set(vjpGraph(graph, { of: ["y"], wrt, keepOutputs: false }).nodes.map((n) => n.opType));
}

/** How many `op` nodes that VJP graph has. */
function vjpCount(graph: Graph, wrt: readonly string[], op: string): number {
  return vjpGraph(graph, { of: ["y"], wrt, keepOutputs: false }).nodes.filter((n) => n.opType === op).length;
}

interface Case {
  readonly name: string;
  readonly graph: Graph;
  readonly wrt: readonly string[];
  /** An op the fast path emits and the general one does not (or the reverse, with `absent`). */
  readonly present?: string;
  readonly absent?: string;
  readonly options?: GradCheckOptions;
}

const k3 = (pads: number[]) => ({ kernel_shape: attr.ints([3, 3]), pads: attr.ints(pads) });

const bn = (dims: readonly Dim[], channels: number) =>
  oneOp("BatchNormalization", [
    ["x", dims],
    ["scale", [channels]],
    ["bias", [channels]],
    ["mean", [channels]],
    ["var", [channels]],
  ], { epsilon: attr.float(1e-3) });

const CASES: Case[] = [
  {
    name: "BatchNormalization with constant statistics, [N, C, H, W]",
    graph: bn([3, 2, 4, 5], 2),
    wrt: ["x", "scale", "bias"],
    options: { draw: { var: "positive" } },
  },
  {
    name: "BatchNormalization with constant statistics, [N, C] and only x wanted",
    graph: bn([4, 3], 3),
    wrt: ["x"],
    absent: "ReduceSum",
    options: { draw: { var: "positive" } },
  },
  {
    name: "Conv 3×3 pad 1, 8 → 2 channels: weight cotangent as one Conv",
    graph: oneOp("Conv", [["x", [2, 8, 5, 6]], ["w", [2, 8, 3, 3]], ["b", [2]]], k3([1, 1, 1, 1])),
    wrt: ["x", "w", "b"],
    absent: "Gemm",
  },
  {
    name: "Conv 3×2 with pads (2, 0, 0, 1), 9 → 2 channels: weight cotangent as one Conv",
    graph: oneOp("Conv", [["x", [2, 9, 5, 4]], ["w", [2, 9, 3, 2]]], {
      kernel_shape: attr.ints([3, 2]),
      pads: attr.ints([2, 0, 0, 1]),
    }),
    wrt: ["x", "w"],
    absent: "Gemm",
  },
  {
    name: "Conv 1-D pad 1, 4 → 1 channel: weight cotangent as one Conv",
    graph: oneOp("Conv", [["x", [3, 4, 7]], ["w", [1, 4, 3]], ["b", [1]]], { pads: attr.ints([1, 1]) }),
    wrt: ["w", "b"],
    absent: "Gemm",
  },
  {
    name: "Conv 8 → 2 channels with a symbolic batch in float64: weight cotangent by one Gemm per kernel offset",
    graph: oneOp("Conv", [["x", ["batch", 8, 4, 4]], ["w", [2, 8, 3, 3]]], k3([1, 1, 1, 1])),
    wrt: ["w"],
    present: "Gemm",
    options: { dims: { batch: 2 } },
  },
  {
    name: "Conv 3 → 3 channels (too few input channels): weight cotangent by one Gemm per kernel offset",
    graph: oneOp("Conv", [["x", [2, 3, 4, 4]], ["w", [3, 3, 3, 3]]], k3([1, 1, 1, 1])),
    wrt: ["w"],
    present: "Gemm",
  },
  {
    name: "Conv 3×3 stride 2 pad 1, 16 → 5 channels: weight cotangent by one Gemm per kernel offset",
    graph: oneOp("Conv", [["x", [2, 16, 5, 4]], ["w", [5, 16, 3, 3]], ["b", [5]]], {
      kernel_shape: attr.ints([3, 3]),
      strides: attr.ints([2, 2]),
      pads: attr.ints([1, 1, 1, 1]),
    }),
    wrt: ["w", "b"],
    present: "Gemm",
  },
  {
    name: "Conv 3×3 strides (2, 1), dilations (1, 2), pads (1, 2, 0, 1): weight cotangent by one Gemm per offset",
    graph: oneOp("Conv", [["x", [2, 3, 7, 8]], ["w", [2, 3, 3, 3]], ["b", [2]]], {
      kernel_shape: attr.ints([3, 3]),
      strides: attr.ints([2, 1]),
      dilations: attr.ints([1, 2]),
      pads: attr.ints([1, 2, 0, 1]),
    }),
    wrt: ["x", "w", "b"],
    present: "Gemm",
  },
  {
    name:
      "Conv 3×3 dilations (2, 1), pads (2, 0, 1, 1), 5 → 3 channels: input cotangent as a Conv of the flipped weight",
    graph: oneOp("Conv", [["x", [2, 5, 7, 6]], ["w", [3, 5, 3, 3]], ["b", [3]]], {
      kernel_shape: attr.ints([3, 3]),
      dilations: attr.ints([2, 1]),
      pads: attr.ints([2, 0, 1, 1]),
    }),
    wrt: ["x"],
    absent: "ConvTranspose",
  },
  {
    name: "Conv 3×3 pad 1, 2 → 4 channels (fewer input than output channels): input cotangent by ConvTranspose",
    graph: oneOp("Conv", [["x", [2, 2, 5, 5]], ["w", [4, 2, 3, 3]]], k3([1, 1, 1, 1])),
    wrt: ["x", "w"],
    present: "ConvTranspose",
  },
  {
    name: "Conv 1×1 pad 1, 3 → 2 channels (pads beyond the kernel): input cotangent by ConvTranspose",
    graph: oneOp("Conv", [["x", [2, 3, 4, 4]], ["w", [2, 3, 1, 1]]], {
      kernel_shape: attr.ints([1, 1]),
      pads: attr.ints([1, 1, 1, 1]),
    }),
    wrt: ["x"],
    present: "ConvTranspose",
  },
  {
    name: "MaxPool 2×2 stride 2 with a symbolic batch (one plane per channel in float64)",
    graph: oneOp("MaxPool", [["x", ["batch", 2, 5, 4]]], {
      kernel_shape: attr.ints([2, 2]),
      strides: attr.ints([2, 2]),
    }),
    wrt: ["x"],
    present: "ConvTranspose",
    options: { dims: { batch: 2 } },
  },
  {
    name: "MaxPool 3×2 stride (3, 2), begin pads and ceil_mode",
    graph: oneOp("MaxPool", [["x", [2, 2, 7, 5]]], {
      kernel_shape: attr.ints([3, 2]),
      strides: attr.ints([3, 2]),
      pads: attr.ints([1, 1, 0, 0]),
      ceil_mode: attr.int(1),
    }),
    wrt: ["x"],
    present: "ConvTranspose",
  },
  {
    name: "MaxPool 1-D kernel 3 stride 3 pads 1 (a tail no window covers)",
    graph: oneOp("MaxPool", [["x", [2, 3, 9]]], {
      kernel_shape: attr.ints([3]),
      strides: attr.ints([3]),
      pads: attr.ints([1, 1]),
    }),
    wrt: ["x"],
    present: "ConvTranspose",
  },
  {
    name: "MaxPool 2×2 stride 1 (overlapping windows): through the lowering",
    graph: oneOp("MaxPool", [["x", [1, 2, 4, 4]]], { kernel_shape: attr.ints([2, 2]) }),
    wrt: ["x"],
    absent: "ConvTranspose",
  },
];

for (const c of CASES) {
  Deno.test(`conv rules: ${c.name} matches central differences`, async () => {
    const ops = vjpOps(c.graph, c.wrt);
    if (c.present) assert(ops.has(c.present), `expected a ${c.present} node, got ${[...ops].join(", ")}`);
    if (c.absent) assert(!ops.has(c.absent), `expected no ${c.absent} node, got ${[...ops].join(", ")}`);
    const { errors, grads, feeds } = await gradCheck(rt, c.graph, { ...c.options, wrt: c.wrt });
    for (const [name, err] of Object.entries(errors)) {
      assertEquals(grads[name]!.dims, feeds[name]!.dims, `shape of grad_${name}`);
      assert(err <= 1e-6, `${c.name}: grad_${name} relative error ${err.toExponential(2)}`);
    }
  });
}

/** The VJP of `graph` at `feeds` with cotangent `gy`: every gradient output. */
async function runVjp(graph: Graph, wrt: readonly string[], feeds: Record<string, Tensor>, gy: Tensor) {
  return await (await rt.compile(vjpGraph(graph, { of: ["y"], wrt, keepOutputs: false }))).run({
    ...feeds,
    grad_y: gy,
  });
}

Deno.test("conv rules: MaxPool's maxima share a window's cotangent equally, in float32 and float64", async () => {
  for (const dtype of ["float32", "float64"] as const) {
    const F = dtype === "float64" ? Float64Array : Float32Array;
    const graph = oneOp(
      "MaxPool",
      [["x", ["batch", 1, 2, 4]]],
      { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) },
      dtype,
    );
    // Window 1: four equal maxima; window 2: two of 3 and a 1 and a 2.
    const x = tensor(F.from([5, 5, 3, 1, 5, 5, 2, 3]), [1, 1, 2, 4]);
    const out = await runVjp(graph, ["x"], { x }, tensor(F.from([8, 6]), [1, 1, 1, 2]));
    assertEquals([...toNumbers(out.grad_x!)], [2, 2, 3, 0, 2, 2, 0, 3]);
  }
});

Deno.test("conv rules: float32 with a symbolic batch (weight by Conv, one tall plane, AveragePool) agrees with float64 to 1e-5", async () => {
  const rng = new Random(7);
  const pieces: [string, readonly [string, readonly Dim[]][], Attributes, string[]][] = [
    ["Conv", [["x", ["batch", 12, 6, 6]], ["w", [3, 12, 3, 3]], ["b", [3]]], k3([1, 1, 1, 1]), ["x", "w", "b"]],
    ["MaxPool", [["x", ["batch", 3, 6, 7]]], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) }, ["x"]],
    // count_include_pad 0 divides by the real samples per window: a constant the lowering builds in x's dtype.
    ["AveragePool", [["x", ["batch", 2, 5, 5]]], {
      kernel_shape: attr.ints([3, 3]),
      strides: attr.ints([2, 2]),
      pads: attr.ints([1, 1, 1, 1]),
    }, ["x"]],
  ];
  for (const [op, inputs, attrs, wrt] of pieces) {
    const [g32, g64] = [oneOp(op, inputs, attrs, "float32"), oneOp(op, inputs, attrs)];
    const draw = (dims: number[]) => Float64Array.from({ length: dims.reduce((p, d) => p * d, 1) }, () => rng.normal());
    const f64: Record<string, Tensor> = {}, f32: Record<string, Tensor> = {};
    for (const [n, shape] of inputs) {
      const dims = shape.map((d) => (typeof d === "number" ? d : 2));
      const data = draw(dims);
      f64[n] = tensor(data, dims);
      f32[n] = tensor(Float32Array.from(data), dims);
    }
    const y = (await (await rt.compile(g64)).run(f64)).y!;
    const gy = draw(y.dims as number[]);
    const [a, e] = [
      await runVjp(g32, wrt, f32, tensor(Float32Array.from(gy), y.dims)),
      await runVjp(g64, wrt, f64, tensor(gy, y.dims)),
    ];
    // In float64 a symbolic batch sends Conv's weight cotangent through the per-offset Gemms and MaxPool's planes
    // one per channel; MaxPool's lowering would multiply by MatMul.
    const [ops32, ops64] = [vjpOps(g32, wrt), vjpOps(g64, wrt)];
    if (op === "Conv") assert(!ops32.has("Gemm") && ops64.has("Gemm"), "Conv: one Conv in float32, Gemms in float64");
    else if (op === "MaxPool") assert(!ops32.has("MatMul") && !ops64.has("MatMul"), "MaxPool: the mask in both");
    for (const w of wrt) assertClose(toNumbers(a[`grad_${w}`]!), toNumbers(e[`grad_${w}`]!), 1e-5, `${op} grad_${w}`);
  }
});

Deno.test("conv rules: the Conv weight path is chosen by channels: one Conv, one stacked Gemm or nine", () => {
  const conv = (c: number, m: number) =>
    oneOp("Conv", [["x", ["batch", c, 5, 5]], ["w", [m, c, 3, 3]]], k3([1, 1, 1, 1]), "float32");
  assertEquals(vjpCount(conv(12, 3), ["w"], "Gemm"), 0, "12 ≥ 4·3: one Conv");
  assertEquals(vjpCount(conv(12, 4), ["w"], "Gemm"), 1, "12 < 4·4 and 12 < 16 channels: the windows stacked");
  assertEquals(vjpCount(conv(16, 5), ["w"], "Gemm"), 9, "16 < 4·5 and 16 channels: one Gemm per offset");
});

Deno.test("BatchNormalization's closed form keeps dγ accurate in float32 when |μ| ≫ σ", async () => {
  const dims = [8, 3, 6, 6], c = 3, rng = new Random(11);
  const inputs: [string, readonly Dim[]][] = [["x", dims], ["scale", [c]], ["bias", [c]], ["mean", [c]], ["var", [c]]];
  const graphOf = (dtype: "float32" | "float64") =>
    oneOp("BatchNormalization", inputs, { epsilon: attr.float(1e-3) }, dtype);
  const n = dims.reduce((a, b) => a * b, 1);
  // Inputs about their statistics' mean of 100 with σ = 1.
  const values: Record<string, number[]> = {
    x: Array.from({ length: n }, () => Math.fround(100 + rng.normal())), // float32 values in both runs
    scale: [1, 0.5, 2],
    bias: [0, 0, 0],
    mean: [100, 100, 100],
    var: [1, 1, 1],
  };
  const gy = Array.from({ length: n }, () => Math.fround(rng.normal()));
  const feeds = (dtype: "float32" | "float64") =>
    Object.fromEntries(
      inputs.map(([name, d]) => [
        name,
        tensor((dtype === "float32" ? Float32Array : Float64Array).from(values[name]!), d as number[]),
      ]),
    );
  const [a, e] = [
    await runVjp(graphOf("float32"), ["scale"], feeds("float32"), tensor(Float32Array.from(gy), dims)),
    await runVjp(graphOf("float64"), ["scale"], feeds("float64"), tensor(Float64Array.from(gy), dims)),
  ];
  // Σ g·x − μ·Σ g cancelled here to about 1e-4 relative.
  assertClose(toNumbers(a["grad_scale"]!), toNumbers(e["grad_scale"]!), 3e-6, "dγ");
});

Deno.test("BatchNormalization with constant statistics takes the closed form: dγ from Σ g·(x − μ), not from the lowering's x̂", () => {
  const graph = bn([3, 2, 4, 5], 2);
  const gTimesX = (wrt: readonly string[]) => {
    const nodes = vjpGraph(graph, { of: ["y"], wrt, keepOutputs: false }).nodes;
    const centred = new Set(nodes.filter((n) => n.opType === "Sub" && n.inputs[0] === "x").map((n) => n.outputs[0]!));
    return nodes.some((n) => n.opType === "Mul" && n.inputs.includes("grad_y") && n.inputs.some((i) => centred.has(i)));
  };
  assert(gTimesX(["x", "scale", "bias"]), "closed form with the statistics constant");
  assert(!gTimesX(["x", "scale", "bias", "mean", "var"]), "the lowering when the statistics are differentiated");
});

Deno.test("conv rules: SAME pooling whose stride skips input is refused by name, not differentiated wrongly", () => {
  const graph = oneOp("MaxPool", [["x", [1, 1, 1, 4]]], {
    kernel_shape: attr.ints([1, 1]),
    strides: attr.ints([1, 4]),
    auto_pad: attr.string("SAME_LOWER"),
  });
  assertThrows(() => vjpGraph(graph, { of: ["y"], wrt: ["x"], keepOutputs: false }), GraphError, /axis 3/);
});
