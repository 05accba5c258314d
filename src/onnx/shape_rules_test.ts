import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { GraphBuilder } from "./builder.ts";
import { GraphError } from "./errors.ts";
import { attr, type Graph, type Shape } from "./graph.ts";
import { broadcastShapes, SHAPE_RULES, sliceDim } from "./shape_rules.ts";
import { fromNumbers, int64, type Tensor, zeros } from "./tensor.ts";

const runtime = new Runtime({ threads: 1 });

function f32(b: GraphBuilder, name: string, dims: readonly number[]) {
  return b.initializer(name, fromNumbers(new Random(dims.length).fillNormal(new Float32Array(product(dims))), dims));
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1);
}

/**
 * Each case builds a graph whose outputs are the values to check; ONNX Runtime
 * then runs it with the symbolic dims bound to `sizes`, and every inferred
 * dim must equal what ORT produced. `fresh` lists outputs allowed to carry
 * dims the rules could not know (fresh symbols), which are then not compared.
 */
interface Case {
  readonly name: string;
  readonly sizes: Readonly<Record<string, number>>;
  readonly build: (b: GraphBuilder) => void;
  readonly fresh?: readonly string[];
  /** @default 17 */
  readonly opset?: number;
}

const CASES: readonly Case[] = [
  {
    name: "MatMul with broadcast batch dims",
    sizes: { batch: 3 },
    build: (b) => {
      b.output(b.op1("MatMul", [b.input("a", "float32", ["batch", 1, 2, 3]), f32(b, "w", [4, 3, 5])]), "y");
    },
  },
  {
    name: "MatMul with 1-D operands",
    sizes: {},
    build: (b) => {
      const v = b.input("v", "float32", [3]);
      b.output(b.op1("MatMul", [v, f32(b, "m", [3, 5])]), "vm");
      b.output(b.op1("MatMul", [f32(b, "n", [2, 3]), v]), "nv");
    },
  },
  {
    name: "Gemm with transA and transB",
    sizes: { batch: 4 },
    build: (b) => {
      const a = b.input("a", "float32", [3, "batch"]);
      b.output(
        b.op1("Gemm", [a, f32(b, "w", [5, 3]), f32(b, "c", [5])], { transA: attr.int(1), transB: attr.int(1) }),
        "y",
      );
    },
  },
  {
    name: "Conv with strides, pads and dilations",
    sizes: { batch: 2 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 2, 9, 7]);
      b.output(
        b.op1("Conv", [x, f32(b, "w", [4, 2, 3, 3])], {
          strides: attr.ints([2, 1]),
          pads: attr.ints([1, 0, 2, 1]),
          dilations: attr.ints([2, 1]),
        }),
        "y",
      );
    },
  },
  {
    name: "Conv with groups and bias",
    sizes: { batch: 1 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 4, 6, 6]);
      b.output(b.op1("Conv", [x, f32(b, "w", [6, 2, 3, 3]), f32(b, "b", [6])], { group: attr.int(2) }), "y");
    },
  },
  {
    name: "Conv with auto_pad SAME_UPPER and VALID",
    sizes: { batch: 2 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 1, 7, 8]);
      const w = f32(b, "w", [2, 1, 3, 3]);
      b.output(b.op1("Conv", [x, w], { auto_pad: attr.string("SAME_UPPER"), strides: attr.ints([2, 2]) }), "same");
      b.output(b.op1("Conv", [x, w], { auto_pad: attr.string("VALID"), strides: attr.ints([2, 3]) }), "valid");
    },
  },
  {
    name: "MaxPool with ceil_mode and AveragePool with pads",
    sizes: { batch: 2 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 3, 7, 7]);
      b.output(
        b.op1("MaxPool", [x], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]), ceil_mode: attr.int(1) }),
        "max",
      );
      b.output(
        b.op1("AveragePool", [x], { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) }),
        "avg",
      );
      b.output(b.op1("GlobalAveragePool", [x]), "gap");
      // A last ceil-mode window that would start inside the end padding is dropped (4 + 1 → 2, not 3).
      const y = b.input("y", "float32", ["batch", 1, 4, 4]);
      b.output(
        b.op1("MaxPool", [y], {
          kernel_shape: attr.ints([2, 2]),
          strides: attr.ints([2, 2]),
          pads: attr.ints([0, 0, 1, 1]),
          ceil_mode: attr.int(1),
        }),
        "max_end_pad",
      );
    },
  },
  {
    name: "ConvTranspose with stride and output_padding",
    sizes: { batch: 2 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 2, 4, 5]);
      b.output(
        b.op1("ConvTranspose", [x, f32(b, "w", [2, 3, 3, 3])], {
          strides: attr.ints([2, 2]),
          output_padding: attr.ints([1, 0]),
          pads: attr.ints([1, 1, 1, 1]),
        }),
        "y",
      );
    },
  },
  {
    name: "ConvTranspose with auto_pad SAME_UPPER, SAME_LOWER and output_shape",
    sizes: { batch: 1 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 2, 4, 5]);
      const w = f32(b, "w", [2, 3, 3, 3]);
      for (const mode of ["SAME_UPPER", "SAME_LOWER"]) {
        b.output(b.op1("ConvTranspose", [x, w], { strides: attr.ints([2, 2]), auto_pad: attr.string(mode) }), mode);
      }
      b.output(
        b.op1("ConvTranspose", [x, w], { strides: attr.ints([2, 2]), output_shape: attr.ints([8, 9]) }),
        "shaped",
      );
    },
  },
  {
    name: "Reshape with 0 and -1, and Flatten",
    sizes: { batch: 3 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 2, 6]);
      b.output(b.op1("Reshape", [x, b.initializer("s", int64([0, -1, 3]))]), "r");
      b.output(b.op1("Reshape", [x, b.initializer("s2", int64([-1, 12]))]), "r2");
      b.output(b.op1("Flatten", [x], { axis: attr.int(1) }), "flat");
    },
  },
  {
    name: "Reshape to Shape(y) and to Concat(Shape(x)[:1], [-1])",
    sizes: { batch: 3 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 2, 3]);
      const y = b.input("y", "float32", ["batch", 6]);
      b.output(b.op1("Reshape", [x, b.op1("Shape", [y])]), "like_y");
      const head = b.op1("Slice", [
        b.op1("Shape", [x]),
        b.initializer("st", int64([0])),
        b.initializer("en", int64([1])),
      ]);
      const target = b.op1("Concat", [head, b.initializer("m1", int64([-1]))], { axis: attr.int(0) });
      b.output(b.op1("Reshape", [x, target]), "flat");
    },
  },
  {
    name: "Slice with negative steps, and over a symbolic axis",
    sizes: { batch: 4 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 10]);
      const s = (n: string, v: number[]) => b.initializer(n, int64(v));
      b.output(b.op1("Slice", [x, s("s0", [-1]), s("e0", [-100]), s("a0", [1]), s("p0", [-3])]), "rev");
      b.output(b.op1("Slice", [x, s("s1", [0, 2]), s("e1", [2 ** 31 - 1, 7]), s("a1", [0, 1])]), "mid");
      b.output(b.op1("Slice", [x, s("s2", [-100]), s("e2", [-200]), s("a2", [1]), s("p2", [-1])]), "before_start");
    },
  },
  {
    name: "Split, Squeeze, Unsqueeze and Transpose",
    sizes: { batch: 2 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 5, 1]);
      const [p, q] = b.op("Split", [x, b.initializer("sp", int64([2, 3]))], { axis: attr.int(1) }, { outputs: 2 });
      b.output(p!, "p");
      b.output(q!, "q");
      b.output(b.op1("Squeeze", [x, b.initializer("ax", int64([-1]))]), "sq");
      b.output(b.op1("Unsqueeze", [x, b.initializer("ax2", int64([0, 3]))]), "unsq");
      b.output(b.op1("Transpose", [x]), "tr");
    },
  },
  {
    name: "ReduceSum with an axes input, ReduceMean with an axes attribute, ArgMax",
    sizes: { batch: 3 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 4, 5]);
      b.output(b.op1("ReduceSum", [x, b.initializer("ax", int64([1]))], { keepdims: attr.int(0) }), "sum");
      b.output(b.op1("ReduceMean", [x], { axes: attr.ints([-1, 0]) }), "mean");
      b.output(b.op1("ArgMax", [x], { axis: attr.int(2), keepdims: attr.int(0) }), "argmax");
    },
  },
  {
    name: "Gather, Pad, Expand, Tile and Concat",
    sizes: { batch: 3 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 4]);
      b.output(b.op1("Gather", [x, b.initializer("idx", int64([0, 3, 1, 1], [2, 2]))], { axis: attr.int(1) }), "g");
      b.output(b.op1("Pad", [x, b.initializer("pads", int64([0, 1, 0, 2]))]), "pad");
      const col = b.input("col", "float32", [4, 1]);
      b.output(b.op1("Expand", [col, b.initializer("to", int64([2, 4, 3]))]), "exp");
      b.output(b.op1("Tile", [x, b.initializer("reps", int64([1, 3]))]), "tile");
      b.output(b.op1("Concat", [x, x, b.op1("Relu", [x])], { axis: attr.int(-1) }), "cat");
    },
  },
  {
    name: "broadcasting binary ops and Where with symbolic dims",
    sizes: { batch: 3 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 1, 3]);
      const y = b.input("y", "float32", [4, 1]);
      const s = b.input("s", "float32", []);
      b.output(b.op1("Add", [x, y]), "sum");
      b.output(b.op1("Mul", [x, s]), "scaled");
      const c = b.op1("Greater", [x, y]);
      b.output(b.op1("Where", [c, x, s]), "where");
    },
  },
  {
    name: "torch dynamo's t.expand(z.shape[0], 1): Shape, Concat, Expand",
    sizes: { batch: 3 },
    build: (b) => {
      const z = b.input("z", "float32", ["batch", 2]);
      const head = b.op1("Shape", [z], { start: attr.int(0), end: attr.int(1) });
      const target = b.op1("Concat", [head, b.initializer("one", int64([1]))], { axis: attr.int(0) });
      b.output(b.op1("Expand", [b.input("t", "float32", [1]), target]), "expand");
    },
  },
  {
    name: "TorchScript's t.expand(z.shape[0], 1): Gather, Unsqueeze, Reshape, ConstantOfShape, Mul, Equal, Where",
    sizes: { batch: 3 },
    build: (b) => {
      const z = b.input("z", "float32", ["batch", 2]);
      const n = b.op1("Gather", [b.op1("Shape", [z]), b.initializer("i0", int64([0], []))], { axis: attr.int(0) });
      const un = b.op1("Unsqueeze", [n, b.initializer("ax", int64([0]))]);
      const cat = b.op1("Concat", [un, b.initializer("one", int64([1]))], { axis: attr.int(0) });
      const shape = b.op1("Reshape", [cat, b.initializer("flat", int64([-1]))]);
      const ones = b.op1("ConstantOfShape", [b.op1("Shape", [shape])], { value: attr.tensor(int64([1], [1])) });
      const minus = b.op1("Mul", [ones, b.constant(int64([-1], []))]);
      const target = b.op1("Where", [b.op1("Equal", [shape, minus]), ones, shape]);
      b.output(b.op1("Expand", [b.input("t", "float32", [1]), target]), "expand");
    },
  },
  {
    name: "shape arithmetic: Reshape to Concat(batch, Mul(d1, d2)), Slice with a step, Cast, Sub, Div, Neg",
    sizes: { batch: 3 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 3, 4]);
      const s = b.op1("Shape", [x]);
      const at = (i: number) => b.op1("Gather", [s, b.constant(int64([i]))], { axis: attr.int(0) });
      const flat = b.op1("Mul", [at(1), at(2)]);
      b.output(b.op1("Reshape", [x, b.op1("Concat", [at(0), flat], { axis: attr.int(0) })]), "flat");
      const odd = b.op1("Slice", [
        s,
        b.initializer("st", int64([0])),
        b.initializer("en", int64([3])),
        b.initializer("a0", int64([0])),
        b.initializer("two", int64([2])),
      ]);
      const cast = b.op1("Cast", [b.op1("Cast", [odd], { to: attr.int(6) })], { to: attr.int(7) });
      b.output(b.op1("ConstantOfShape", [cast]), "odd");
      // [batch, 4 − 1, 12 / 4, −(−1)] → [batch, 3, 3, 1] … from arithmetic on the shape.
      const three = b.op1("Sub", [at(2), b.initializer("k1", int64([1]))]);
      const div = b.op1("Div", [flat, at(2)]);
      const neg = b.op1("Neg", [b.initializer("m1", int64([-1]))]);
      const zeros = b.op1("ConstantOfShape", [b.op1("Concat", [at(0), three, div, neg], { axis: attr.int(0) })]);
      b.output(zeros, "zeros");
      b.output(
        b.op1("Range", [
          b.initializer("r0", int64([0], [])),
          b.op1("Squeeze", [at(0)]),
          b.initializer("r1", int64([1], [])),
        ]),
        "range",
      );
    },
  },
  {
    name: "Expand and Tile whose shapes no shape value follows keep what broadcasting fixes",
    sizes: { batch: 3 },
    fresh: ["expand", "tile"],
    build: (b) => {
      const y = b.input("y", "float32", ["batch", 5]);
      const unknown = b.op1("Abs", [b.op1("Shape", [y])]);
      b.output(b.op1("Expand", [b.input("x", "float32", ["batch", 1]), unknown]), "expand");
      b.output(b.op1("Tile", [y, b.op1("Abs", [b.initializer("reps", int64([1, 2]))])]), "tile");
    },
  },
  {
    name: "LayerNormalization with Mean and InvStdDev, InstanceNormalization, GroupNormalization at opset 18",
    sizes: { batch: 2 },
    opset: 18,
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 4, 3]);
      const [y, mean, inv] = b.op("LayerNormalization", [x, f32(b, "s", [4, 3]), f32(b, "b", [3])], {
        axis: attr.int(1),
      }, { outputs: 3 });
      b.output(y!, "ln");
      b.output(mean!, "mean");
      b.output(inv!, "inv");
      b.output(b.op1("InstanceNormalization", [x, f32(b, "is", [4]), f32(b, "ib", [4])]), "in");
      b.output(
        b.op1("GroupNormalization", [x, f32(b, "gs", [2]), f32(b, "gb", [2])], { num_groups: attr.int(2) }),
        "gn",
      );
    },
  },
  {
    name: "GroupNormalization at opset 21 and Gelu",
    sizes: { batch: 2 },
    opset: 21,
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 4, 3]);
      b.output(
        b.op1("GroupNormalization", [x, f32(b, "gs", [4]), f32(b, "gb", [4])], { num_groups: attr.int(2) }),
        "gn",
      );
      b.output(b.op1("Gelu", [x], { approximate: attr.string("tanh") }), "gelu");
    },
  },
  {
    name: "Clip with omitted bounds, PRelu, HardSwish, Mish, Celu and Mod",
    sizes: { batch: 3 },
    opset: 18,
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 2, 4]);
      b.output(b.op1("Clip", [x, null, f32(b, "hi", [])]), "clip");
      b.output(b.op1("PRelu", [x, f32(b, "slope", [2, 1])]), "prelu");
      for (const op of ["HardSwish", "Mish", "Celu"]) b.output(b.op1(op, [x]), op);
      b.output(b.op1("Mod", [b.initializer("n", int64([7, -7])), b.initializer("d", int64([3]))]), "mod");
    },
  },
  {
    name: "Einsum with explicit, implicit and ellipsis outputs",
    sizes: { batch: 2 },
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 4]);
      const e = (eq: string, ...xs: Parameters<GraphBuilder["op1"]>[1]) =>
        b.op1("Einsum", xs, { equation: attr.string(eq) });
      b.output(e("bi,oi->bo", x, f32(b, "w", [3, 4])), "linear");
      b.output(e("bi,oij,bj->bo", x, f32(b, "bw", [2, 4, 4]), x), "bilinear");
      b.output(e("...i,...j", x, x), "outer");
      b.output(e("ij,jk", f32(b, "p", [2, 3]), f32(b, "q", [3, 5])), "implicit");
      b.output(e("... i, i -> ...", b.input("t", "float32", ["batch", 3, 4]), f32(b, "v", [4])), "spaces");
    },
  },
  {
    name: "Concat along a symbolic axis gives a fresh dim",
    sizes: { batch: 3 },
    fresh: ["cat"],
    build: (b) => {
      const x = b.input("x", "float32", ["batch", 2]);
      b.output(b.op1("Concat", [x, x], { axis: attr.int(0) }), "cat");
    },
  },
];

function bindShape(shape: Shape, sizes: Readonly<Record<string, number>>): number[] {
  return shape.map((d) => (typeof d === "number" ? d : sizes[d] ?? NaN));
}

for (const c of CASES) {
  Deno.test(`SHAPE_RULES infer the shapes ONNX Runtime produces for ${c.name}`, async () => {
    const b = new GraphBuilder("case", c.opset ? { opset: c.opset } : {});
    c.build(b);
    const g: Graph = b.build();
    const rng = new Random(3);
    const feeds: Record<string, Tensor> = {};
    for (const input of g.inputs) {
      const dims = bindShape(input.shape, c.sizes);
      feeds[input.name] = fromNumbers(rng.fillNormal(new Float32Array(product(dims))), dims);
    }
    const out = await (await runtime.compile(g)).run(feeds);
    for (const o of g.outputs) {
      const actual = out[o.name]!.dims;
      assertEquals(o.shape.length, actual.length, `rank of ${o.name}: inferred ${o.shape}, ORT gave [${actual}]`);
      o.shape.forEach((d, k) => {
        if (typeof d === "string" && !(d in c.sizes)) {
          assert(c.fresh?.includes(o.name), `output ${o.name} has unexpected fresh dim ${d} at ${k}`);
          return;
        }
        assertEquals(
          bindShape([d], c.sizes)[0],
          actual[k],
          `dim ${k} of ${o.name}: inferred [${o.shape}], ORT gave [${actual}]`,
        );
      });
    }
  });
}

Deno.test("Reshape(x, Shape(y)) keeps y's symbolic dims", () => {
  const b = new GraphBuilder("g");
  const x = b.input("x", "float32", ["batch", "steps", 6]);
  const y = b.input("y", "float32", ["batch", "steps", 2, 3]);
  const r = b.op1("Reshape", [x, b.op1("Shape", [y])]);
  assertEquals(r.shape, ["batch", "steps", 2, 3]);
  const head = b.op1("Gather", [b.op1("Shape", [x]), b.initializer("i", int64([0, 1]))]);
  const flat = b.op1("Reshape", [x, b.op1("Concat", [head, b.initializer("m", int64([-1]))], { axis: attr.int(0) })]);
  assertEquals(flat.shape, ["batch", "steps", 6]);
  // A symbolic dim that appears twice: -1 takes the copy the other dims do not account for.
  const sq = b.input("sq", "float32", ["n", "n"]);
  assertEquals(b.op1("Reshape", [sq, b.initializer("keep0", int64([0, -1]))]).shape, ["n", "n"]);
});

Deno.test("Shape's start and end count negatives from the rank and clamp to it", () => {
  const b = new GraphBuilder("g");
  const x = b.input("x", "float32", [2, 3, 4]);
  const shape = (start: number, end: number) => b.op1("Shape", [x], { start: attr.int(start), end: attr.int(end) });
  assertEquals(shape(0, -4).shape, [0], "an end below −rank: no dims");
  assertEquals(shape(-2, 10).shape, [2], "the last two");
  assertEquals(shape(2, 1).shape, [0], "an end before the start");
  assertEquals(shape(-9, -1).shape, [2], "a start below −rank: from 0");
});

Deno.test("shape values name symbolic arithmetic by its expression and stay unknown where a dim could be anything", () => {
  const b = new GraphBuilder("g");
  const x = b.input("x", "float32", ["batch", 6]);
  const n = b.op1("Shape", [x], { end: attr.int(1) });
  const twice = b.op1("Mul", [n, b.initializer("two", int64([2]))]);
  const half = b.op1("Concat", [twice, b.initializer("three", int64([3]))], { axis: attr.int(0) });
  assertEquals(b.op1("Reshape", [x, half]).shape, ["(batch*2)", 3]);
  // batch = 1 is possible, so Equal(batch, 1) is unknown and the Where that uses it too.
  const isOne = b.op1("Equal", [n, b.initializer("one", int64([1]))]);
  const picked = b.op1("Where", [isOne, b.initializer("four", int64([4])), n]);
  const e = b.op1("Expand", [b.input("c", "float32", [1]), picked]);
  assert(typeof e.shape[0] === "string" && e.shape[0] !== "batch", `Expand guessed ${e.shape}`);
  // A dim is never negative, so Equal(batch, −1) is known false.
  const neg = b.op1("Equal", [n, b.initializer("minus", int64([-1]))]);
  const kept = b.op1("Where", [neg, b.initializer("five", int64([5])), n]);
  assertEquals(b.op1("Expand", [b.input("d", "float32", [1]), kept]).shape, ["batch"]);
});

Deno.test("Transpose's shape rule accepts any permutation of rank above 10", () => {
  const b = new GraphBuilder("g");
  const dims = Array.from({ length: 12 }, (_, i) => i + 1);
  const perm = dims.map((_, i) => 11 - i);
  const y = b.op1("Transpose", [b.input("x", "float32", dims)], { perm: attr.ints(perm) });
  assertEquals(y.shape, [...dims].reverse());
});

Deno.test("broadcastShapes() matches symbolic dims with themselves and with 1", () => {
  assertEquals(broadcastShapes([["batch", 1, 3], [4, 1]]), ["batch", 4, 3]);
  assertEquals(broadcastShapes([["batch", 3], [1, 3]]), ["batch", 3]);
  assertEquals(broadcastShapes([["batch", 3], ["batch", 1]]), ["batch", 3]);
  assertEquals(broadcastShapes([[1], ["n"]]), ["n"]);
  assertEquals(broadcastShapes([[], ["batch", 2]]), ["batch", 2]);
});

Deno.test("broadcastShapes() takes the concrete size when a symbolic dim meets one", () => {
  assertEquals(broadcastShapes([["batch", 3], [5, 3]]), [5, 3]);
  assertEquals(broadcastShapes([[5, 3], ["batch", 3]]), [5, 3]);
});

Deno.test("broadcastShapes() throws naming both shapes when concrete dims differ", () => {
  assertThrows(() => broadcastShapes([["batch", 3], [4]]), Error, "[batch, 3] and [4] cannot be broadcast");
});

Deno.test("sliceDim() agrees with Array.prototype.slice for positive steps", () => {
  const a = Array.from({ length: 7 }, (_, i) => i);
  for (const start of [-9, -3, 0, 2, 7, 9]) {
    for (const end of [-9, -1, 0, 4, 7, 100]) {
      assertEquals(sliceDim(7, start, end, 1).size, a.slice(start, end).length, `slice(${start}, ${end})`);
    }
  }
});

Deno.test("sliceDim() counts elements of a reversed range for negative steps", () => {
  assertEquals(sliceDim(10, -1, -100, -1), { size: 10, start: 9 });
  assertEquals(sliceDim(10, -1, -100, -3), { size: 4, start: 9 }); // 9, 6, 3, 0
  assertEquals(sliceDim(10, 5, 1, -2), { size: 2, start: 5 }); // 5, 3
  // A start before the beginning clamps to 0 (ONNX Runtime returns element 0), not to "empty" as in Python.
  assertEquals(sliceDim(10, -100, -200, -1), { size: 1, start: 0 });
  assertEquals(sliceDim(10, -100, 5, -1), { size: 0, start: 0 });
  assertThrows(() => sliceDim(10, 0, 5, 0), Error, "step must not be 0");
});

/** Builds one node and returns the GraphError it raises. */
function buildError(build: (b: GraphBuilder) => void): GraphError {
  return assertThrows(() => build(new GraphBuilder("g")), GraphError) as GraphError;
}

const SHAPE_ERRORS: ReadonlyArray<readonly [string, (b: GraphBuilder) => void, readonly string[]]> = [
  [
    "MatMul inner dims",
    (b) =>
      b.op1("MatMul", [b.input("a", "float32", ["batch", 3]), b.input("w", "float32", [4, 5])], {}, { name: "mm" }),
    ["node mm (MatMul)", "inner dims differ", "[batch, 3] × [4, 5]"],
  ],
  [
    "Concat off-axis mismatch",
    (b) =>
      b.op1("Concat", [b.input("a", "float32", [2, 3]), b.input("c", "float32", [4, 4])], { axis: attr.int(1) }, {
        name: "cat",
      }),
    ["node cat (Concat)", "input 1 has shape [4, 4]", "[2, 3]", "axis 1"],
  ],
  [
    "Concat rank mismatch",
    (b) =>
      b.op1("Concat", [b.input("a", "float32", ["batch", 3]), b.input("c", "float32", ["batch", 3, 1])], {}, {
        name: "cat",
      }),
    ["node cat (Concat)", "input 1 has rank 3, expected 2", "float32[batch, 3, 1]"],
  ],
  [
    "Reshape element count",
    (b) => b.op1("Reshape", [b.input("a", "float32", [2, 6]), b.initializer("s", int64([5, 3]))], {}, { name: "rs" }),
    ["node rs (Reshape)", "[2, 6] (12 elements)", "[5, 3] (15 elements)"],
  ],
  [
    "Reshape element count with a symbolic dim",
    (b) =>
      b.op1("Reshape", [b.input("a", "float32", ["batch", 6]), b.initializer("s", int64([0, 4]))], {}, {
        name: "rs",
      }),
    ["node rs (Reshape)", "cannot reshape [batch, 6] to [batch, 4]"],
  ],
  [
    "Reshape with -1 and no whole multiple",
    (b) => b.op1("Reshape", [b.input("a", "float32", [2, 6]), b.initializer("s", int64([5, -1]))], {}, { name: "rs" }),
    ["node rs (Reshape)", "cannot reshape [2, 6] to [5, -1]"],
  ],
  [
    "Gemm inner dims",
    (b) =>
      b.op1("Gemm", [b.input("a", "float32", ["batch", 3]), b.initializer("w", zeros("float32", [4, 3]))], {}, {
        name: "gm",
      }),
    ["node gm (Gemm)", "A [batch, 3] × B [4, 3]"],
  ],
  [
    "Gemm non-matrix",
    (b) =>
      b.op1("Gemm", [b.input("a", "float32", ["batch", 3, 1]), b.initializer("w", zeros("float32", [3, 3]))], {}, {
        name: "gm",
      }),
    ["node gm (Gemm)", "must be matrices", "[batch, 3, 1]"],
  ],
  [
    "Conv channels",
    (b) =>
      b.op1(
        "Conv",
        [b.input("a", "float32", ["batch", 3, 8, 8]), b.initializer("w", zeros("float32", [4, 2, 3, 3]))],
        {},
        {
          name: "cv",
        },
      ),
    ["node cv (Conv)", "input has 3 channels", "weight [4, 2, 3, 3] expects 2", "float32[batch, 3, 8, 8]"],
  ],
  [
    "Conv bias",
    (b) =>
      b.op1(
        "Conv",
        [
          b.input("a", "float32", ["batch", 2, 8, 8]),
          b.initializer("w", zeros("float32", [4, 2, 3, 3])),
          b.initializer("bias", zeros("float32", [3])),
        ],
        {},
        { name: "cv" },
      ),
    ["node cv (Conv)", "bias shape [3] must be [4]"],
  ],
  [
    "Conv pads of the wrong length",
    (b) =>
      b.op1(
        "Conv",
        [b.input("a", "float32", ["batch", 2, 8, 8]), b.initializer("w", zeros("float32", [4, 2, 3, 3]))],
        { pads: attr.ints([1, 1]) },
        { name: "cv" },
      ),
    ["node cv (Conv)", "pads [1, 1] needs 4 values"],
  ],
  [
    "MaxPool with an unknown auto_pad",
    (b) =>
      b.op1("MaxPool", [b.input("a", "float32", ["batch", 2, 8, 8])], {
        kernel_shape: attr.ints([2, 2]),
        auto_pad: attr.string("SAME_MIDDLE"),
      }, { name: "mp" }),
    ["node mp (MaxPool)", 'auto_pad "SAME_MIDDLE" is not one of'],
  ],
  [
    "Conv kernel larger than the input",
    (b) =>
      b.op1("Conv", [b.input("a", "float32", [1, 1, 2, 2]), b.initializer("w", zeros("float32", [1, 1, 3, 3]))], {}, {
        name: "cv",
      }),
    ["node cv (Conv)", "kernel 3 is larger than padded input 2"],
  ],
  [
    "broadcast mismatch",
    (b) => b.op1("Add", [b.input("a", "float32", ["batch", 3]), b.input("c", "float32", [4])], {}, { name: "ad" }),
    ["node ad (Add)", "[batch, 3] and [4] cannot be broadcast"],
  ],
  [
    "dtype mismatch",
    (b) => b.op1("Add", [b.input("a", "float32", [3]), b.input("c", "float64", [3])], {}, { name: "ad" }),
    ["node ad (Add)", "input 1 has dtype float64 but input 0 has float32"],
  ],
  [
    "Split sizes",
    (b) =>
      b.op("Split", [b.input("a", "float32", [2, 5]), b.initializer("s", int64([2, 2]))], { axis: attr.int(1) }, {
        name: "sp",
        outputs: 2,
      }),
    ["node sp (Split)", "split sizes [2, 2] do not add up to dim 1 of size 5"],
  ],
  [
    "Transpose perm",
    (b) => b.op1("Transpose", [b.input("a", "float32", [2, 5])], { perm: attr.ints([0, 0]) }, { name: "tr" }),
    ["node tr (Transpose)", "perm [0, 0] is not a permutation of rank 2"],
  ],
  [
    "Squeeze of a non-unit axis",
    (b) => b.op1("Squeeze", [b.input("a", "float32", [2, 5]), b.initializer("ax", int64([1]))], {}, { name: "sq" }),
    ["node sq (Squeeze)", "cannot squeeze axis 1 of size 5"],
  ],
  [
    "axis out of range",
    (b) => b.op1("Softmax", [b.op1("Concat", [b.input("a", "float32", [2])], { axis: attr.int(3) }, { name: "c" })]),
    ["node c (Concat)", "axis 3 is out of range for rank 1"],
  ],
  [
    "an Einsum term with more labels than its operand's rank",
    (b) => b.op1("Einsum", [b.input("a", "float32", [2, 3])], { equation: attr.string("ijk->i") }, { name: "es" }),
    ["node es (Einsum)", `term "ijk" has 3 labels for an operand of rank 2`],
  ],
  [
    "Einsum ellipses of different ranks (ONNX Runtime refuses them; a rank-0 one crashed it)",
    (b) =>
      b.op1("Einsum", [b.input("a", "float32", [2, 1, 3, 4]), b.input("c", "float32", [5, 4, 6])], {
        equation: attr.string("...ij,...jk"),
      }, { name: "es" }),
    ["node es (Einsum)", `the "..." of operand 1 stands for 1 dims, another operand's for 2`],
  ],
  [
    "an explicit Einsum output without its inputs' ellipsis",
    (b) =>
      b.op1("Einsum", [b.input("a", "float32", [2, 3]), b.input("c", "float32", [3, 2])], {
        equation: attr.string("...i,i...->i"),
      }, { name: "es" }),
    ["node es (Einsum)", `its output must keep the "..." its inputs have`],
  ],
  [
    "Einsum labels of different sizes",
    (b) =>
      b.op1("Einsum", [b.input("a", "float32", [2, 3]), b.input("c", "float32", [4, 2])], {
        equation: attr.string("ij,jk->ik"),
      }, { name: "es" }),
    ["node es (Einsum)", `label "j" has sizes 3 and 4`],
  ],
  [
    "GroupNormalization with channels that do not split into the groups",
    (b) =>
      b.op1(
        "GroupNormalization",
        [
          b.input("a", "float32", [2, 6, 3]),
          b.input("s", "float32", [4]),
          b.input("t", "float32", [4]),
        ],
        { num_groups: attr.int(4) },
        { name: "gn" },
      ),
    ["node gn (GroupNormalization)", "6 channels do not split into 4 groups"],
  ],
  [
    "Clip with a non-scalar bound",
    (b) => b.op1("Clip", [b.input("a", "float32", [2, 3]), b.input("lo", "float32", [3])], {}, { name: "cl" }),
    ["node cl (Clip)", "input 1 (min) must be a scalar, got [3]"],
  ],
  [
    "ConvTranspose output_padding not below max(stride, dilation) (ONNX Runtime refuses it only when it runs)",
    (b) =>
      b.op1("ConvTranspose", [b.input("a", "float32", [1, 1, 3]), b.input("w", "float32", [1, 1, 2])], {
        output_padding: attr.ints([1]),
      }, { name: "ct" }),
    ["node ct (ConvTranspose)", "output_padding[0] (1) must be in [0, max(stride, dilation)) = [0, 1)"],
  ],
  [
    "float op on an int tensor",
    (b) => b.op1("Tanh", [b.initializer("i", int64([1, 2]))], {}, { name: "th" }),
    ["node th (Tanh)", "input 0 must be float32 or float64, got int64"],
  ],
];

for (const [what, build, parts] of SHAPE_ERRORS) {
  Deno.test(`GraphBuilder.op() throws GraphError naming the node and shapes on ${what}`, () => {
    const e = buildError(build);
    for (const p of parts) assert(e.message.includes(p), `message "${e.message}" lacks "${p}"`);
    assert(e.place.nodeName !== undefined && e.place.opType !== undefined, "place lacks the node");
  });
}

Deno.test("SHAPE_RULES covers the ops quadjoint's model builders and importers rely on", () => {
  const ops = [
    "Gemm",
    "MatMul",
    "Conv",
    "MaxPool",
    "Softplus",
    "Tanh",
    "Relu",
    "Flatten",
    "Reshape",
    "Shape",
    "Gather",
    "Unsqueeze",
    "Concat",
  ];
  const missing: string[] = ops.filter((op) => !SHAPE_RULES.has(op));
  assertEquals(missing, []);
});
