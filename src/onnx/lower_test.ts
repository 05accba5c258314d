import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { GraphBuilder } from "./builder.ts";
import { GraphError } from "./errors.ts";
import { attr, type Attributes, type Graph } from "./graph.ts";
import {
  lowerForCpuSpeed,
  lowerForRuntime,
  needsLowering,
  splitRowGemms,
  splittableRowDims,
  stackOuterProducts,
} from "./lower.ts";
import { fromNumbers, sizeOf, tensor } from "./tensor.ts";

const runtime = new Runtime({ threads: 1 });

interface Operand {
  name: string;
  dims: number[];
  values: number[];
}

function opGraph(
  opType: string,
  operands: readonly Operand[],
  attributes: Attributes,
  dtype: "float32" | "float64",
  opset?: number,
): Graph {
  const b = new GraphBuilder(`${opType}_${dtype}`, opset ? { opset } : {});
  const inputs = operands.map((o) => b.input(o.name, dtype, o.dims));
  b.output(b.op1(opType, inputs, attributes, { name: `the_${opType}` }), "y");
  return b.build();
}

/** Runs one op in float64 (lowered) and float32 (native ORT kernel); returns both outputs as numbers. */
async function runBoth(opType: string, operands: readonly Operand[], attributes: Attributes = {}, opset?: number) {
  const results: Record<string, { dims: number[]; values: number[] }> = {};
  for (const dtype of ["float64", "float32"] as const) {
    const g = opGraph(opType, operands, attributes, dtype, opset);
    assertEquals(needsLowering(g), dtype === "float64", `${opType} ${dtype} lowering need`);
    if (dtype === "float64") {
      const lowered = lowerForRuntime(g);
      assert(!lowered.nodes.some((n) => n.opType === opType), `${opType} should be gone from the lowered graph`);
    } else assert(lowerForRuntime(g) === g, "float32 graphs are never lowered");
    const feeds = Object.fromEntries(operands.map((o) => [o.name, fromNumbers(o.values, o.dims, dtype)]));
    const y = (await (await runtime.compile(g)).run(feeds)).y!;
    results[dtype] = { dims: [...y.dims], values: Array.from(y.data as Float64Array) };
  }
  assertEquals(results.float64!.dims, results.float32!.dims, "float64 and float32 output shapes");
  return { f64: results.float64!, f32: results.float32! };
}

function normals(rng: Random, dims: number[], scale = 1): Operand["values"] {
  return Array.from({ length: sizeOf(dims) }, () => scale * rng.normal());
}

/** Values as float32 would hold them, so float64 and float32 runs see the same inputs. */
function rounded(values: number[]): number[] {
  return values.map(Math.fround);
}

// ---- element-wise ops ----------------------------------------------------------------------------------------------

const ELEMENTWISE_X = rounded([-30, -8, -3.5, -1.2, -0.4, -1e-3, 0, 1e-4, 0.3, 0.9, 2, 2.6, 4.5, 12, 40, 90]);

const SELU_ALPHA = 1.67326319217681884765625, SELU_GAMMA = 1.05070102214813232421875;
const elementwise: { op: string; attrs: Attributes; ref: (x: number) => number }[] = [
  { op: "Softsign", attrs: {}, ref: (x) => x / (1 + Math.abs(x)) },
  { op: "Selu", attrs: {}, ref: (x) => SELU_GAMMA * (x > 0 ? x : SELU_ALPHA * Math.expm1(x)) },
  {
    op: "Selu",
    attrs: { alpha: attr.float(0.5), gamma: attr.float(2) },
    ref: (x) => 2 * (x > 0 ? x : 0.5 * Math.expm1(x)),
  },
  { op: "HardSigmoid", attrs: {}, ref: (x) => Math.max(0, Math.min(1, 0.2 * x + 0.5)) },
  { op: "HardSwish", attrs: {}, ref: (x) => x * Math.max(0, Math.min(1, x / 6 + 0.5)) },
  {
    op: "Celu",
    attrs: { alpha: attr.float(0.7) },
    ref: (x) => Math.max(0, x) + Math.min(0, 0.7 * Math.expm1(x / 0.7)),
  },
  { op: "Sigmoid", attrs: {}, ref: (x) => 1 / (1 + Math.exp(-x)) },
  {
    op: "HardSigmoid",
    attrs: { alpha: attr.float(0.25), beta: attr.float(0.25) },
    ref: (x) => Math.max(0, Math.min(1, 0.25 * x + 0.25)),
  },
];

for (const { op, attrs, ref } of elementwise) {
  const label = Object.keys(attrs).length ? ` with ${Object.keys(attrs).join(", ")}` : "";
  Deno.test(`lowerForRuntime() ${op}${label} in float64 matches the float32 kernel and a TypeScript reference`, async () => {
    const x: Operand = { name: "x", dims: [4, 4], values: ELEMENTWISE_X };
    const { f64, f32 } = await runBoth(op, [x], attrs);
    assertClose(f64.values, f32.values, 1e-6, `${op} float64 vs float32`);
    const want = x.values.map(ref);
    // Each value on its own scale, so small outputs are checked as tightly as large ones.
    want.forEach((w, i) => assertClose(f64.values[i]!, w, 1e-14, `${op}(${x.values[i]})`));
  });
}

/** erf(x) to double precision, from mpmath (40 digits) rounded to the nearest float64. */
const ERF_TABLE: readonly (readonly [number, number])[] = [
  [-30, -1.0],
  [-6.5, -1.0],
  [-5.9, -0.9999999999999999],
  [-4.5, -0.9999999998033839],
  [-4.0000001, -0.9999999845827549],
  [-4, -0.9999999845827421],
  [-3.2, -0.9999939742388483],
  [-2, -0.9953222650189527],
  [-1.5, -0.9661051464753108],
  [-0.9, -0.7969082124228322],
  [-0.5, -0.5204998778130465],
  [-0.46875, -0.49261347321793797],
  [-0.3, -0.3286267594591274],
  [-0.001, -0.0011283787909692365],
  [-1e-12, -1.1283791670955126e-12],
  [0, 0.0],
  [1e-300, 1.1283791670955126e-300],
  [2.5e-09, 2.8209479177387815e-09],
  [0.1, 0.1124629160182849],
  [0.25, 0.27632639016823696],
  [0.46875, 0.49261347321793797],
  [0.4688, 0.4926587618132793],
  [0.6, 0.6038560908479259],
  [1, 0.8427007929497149],
  [1.25, 0.9229001282564583],
  [2.2, 0.9981371537020182],
  [3, 0.9999779095030014],
  [3.99, 0.9999999832607886],
  [4, 0.9999999845827421],
  [4.01, 0.9999999858030606],
  [5, 0.9999999999984626],
  [5.5, 0.9999999999999927],
  [5.99, 1.0],
  [6.2, 1.0],
  [9, 1.0],
  [27, 1.0],
];

Deno.test("lowerForRuntime() Erf in float64 is within 1e-15 relative of erf from mpmath on every branch", async () => {
  const g = opGraph("Erf", [{ name: "x", dims: [ERF_TABLE.length], values: [] }], {}, "float64");
  const s = await runtime.compile(g);
  const y = (await s.run({ x: fromNumbers(ERF_TABLE.map(([x]) => x), [ERF_TABLE.length], "float64") })).y!;
  ERF_TABLE.forEach(([x, want], i) => assertClose(Number(y.data[i]), want, 1e-15, `erf(${x})`));
  // Odd symmetry holds exactly.
  const sym = (await s.run({ x: fromNumbers(ERF_TABLE.map(([x]) => -x), [ERF_TABLE.length], "float64") })).y!;
  ERF_TABLE.forEach(([x], i) => assert(sym.data[i] === -y.data[i]!, `erf(${-x}) = ${sym.data[i]} ≠ −erf(${x})`));
});

Deno.test("lowerForRuntime() Erf in float64 matches the float32 kernel", async () => {
  const x: Operand = { name: "x", dims: [2, 8], values: ELEMENTWISE_X.map((v) => v / 4) };
  const { f64, f32 } = await runBoth("Erf", [x]);
  assertClose(f64.values, f32.values, 1e-6, "erf float64 vs float32");
});

Deno.test("lowerForRuntime() exact Gelu in float64 is x/2·(1 + erf(x/√2)) with mpmath's erf (to the rounding of 1 + erf), and matches the float32 kernel", async () => {
  const points = ERF_TABLE.filter(([t]) => Math.abs(t) < 8);
  const xs = points.map(([t]) => t * Math.SQRT2);
  const g = opGraph("Gelu", [{ name: "x", dims: [xs.length], values: [] }], {}, "float64", 20);
  const y = (await (await runtime.compile(g)).run({ x: fromNumbers(xs, [xs.length], "float64") })).y!;
  // The formula torch uses too: 1 + erf cancels for very negative x, so the error is relative to max(1, |x|).
  points.forEach(([, e], i) => {
    const err = Math.abs(Number(y.data[i]) - (xs[i]! / 2) * (1 + e));
    assert(err <= 1e-15 * Math.max(1, Math.abs(xs[i]!)), `gelu(${xs[i]}) off by ${err}`);
  });
  const x: Operand = { name: "x", dims: [2, 8], values: ELEMENTWISE_X.map((v) => v / 4) };
  const { f64, f32 } = await runBoth("Gelu", [x], {}, 20);
  assertClose(f64.values, f32.values, 1e-6, "gelu float64 vs float32");
});

Deno.test("lowerForRuntime() lowers what a rewrite emits: no Erf after Gelu, no HardSigmoid after HardSwish", () => {
  for (const [op, inner, opset] of [["Gelu", "Erf", 20], ["HardSwish", "HardSigmoid", 17]] as const) {
    const lowered = lowerForRuntime(opGraph(op, [{ name: "x", dims: [3], values: [] }], {}, "float64", opset));
    const left = lowered.nodes.filter((n) => n.opType === op || n.opType === inner).map((n) => n.opType);
    assertEquals(left, [], `${op} lowered`);
  }
  // Tanh-approximated Gelu has a float64 kernel and stays.
  const tanh = opGraph(
    "Gelu",
    [{ name: "x", dims: [3], values: [] }],
    { approximate: attr.string("tanh") },
    "float64",
    20,
  );
  assert(!needsLowering(tanh), "tanh Gelu needs no lowering");
});

Deno.test("lowerForRuntime() runs SiLU, x·Sigmoid(x), in float64 (ORT would fuse it into a float32-only QuickGelu)", async () => {
  const b = new GraphBuilder("silu");
  const x = b.input("x", "float64", [4]);
  b.output(b.op1("Mul", [x, b.op1("Sigmoid", [x])]), "y");
  const y = (await (await runtime.compile(b.build())).run({ x: fromNumbers([-3, -0.5, 0.25, 2], [4], "float64") })).y!;
  [-3, -0.5, 0.25, 2].forEach((v, i) => assertClose(Number(y.data[i]), v / (1 + Math.exp(-v)), 1e-15, `silu(${v})`));
});

Deno.test("lowerForRuntime() Clip at opset 10 (bounds as attributes) in float64 matches the float32 kernel", async () => {
  const x: Operand = { name: "x", dims: [4, 4], values: ELEMENTWISE_X };
  // Bounds as ONNX stores them, in float32.
  for (
    const attrs of [
      { min: attr.float(Math.fround(-1.2)), max: attr.float(2) },
      { max: attr.float(Math.fround(0.3)) },
      {},
    ]
  ) {
    const { f64, f32 } = await runBoth("Clip", [x], attrs, 10);
    assertEquals(f64.values, f32.values, `Clip ${Object.keys(attrs)}`);
  }
});

// ---- normalisation layers: TypeScript references --------------------------------------------------------------------

/** Standardizes each run of `block` consecutive values (mean 0, variance 1 with ε), then y = x̂·scale(i) + bias(i). */
function normRef(
  values: readonly number[],
  block: number,
  eps: number,
  affine: (i: number) => [number, number],
): number[] {
  const out: number[] = [];
  for (let s = 0; s < values.length; s += block) {
    const run = values.slice(s, s + block);
    const m = run.reduce((a, v) => a + v, 0) / block;
    const v = run.reduce((a, u) => a + (u - m) ** 2, 0) / block;
    run.forEach((u, k) => {
      const [sc, bi] = affine(s + k);
      out.push(((u - m) / Math.sqrt(v + eps)) * sc + bi);
    });
  }
  return out;
}

const normCases: {
  name: string;
  op: string;
  x: number[];
  params: number[];
  attrs: Attributes;
  opset?: number;
  block: number;
  index: (i: number) => number;
}[] = [
  {
    name: "LayerNormalization over the last axis",
    op: "LayerNormalization",
    x: [2, 3, 5],
    params: [5],
    attrs: {},
    block: 5,
    index: (i) => i % 5,
  },
  {
    name: "LayerNormalization over axes 1, 2 with epsilon 1e-3",
    op: "LayerNormalization",
    x: [2, 3, 4],
    params: [3, 4],
    attrs: { axis: attr.int(1), epsilon: attr.float(1e-3) },
    block: 12,
    index: (i) => i % 12,
  },
  {
    name: "InstanceNormalization of [2, 3, 2, 3]",
    op: "InstanceNormalization",
    x: [2, 3, 2, 3],
    params: [3],
    attrs: {},
    block: 6,
    index: (i) => Math.floor(i / 6) % 3,
  },
  {
    name: "GroupNormalization at opset 18 (per-group scale)",
    op: "GroupNormalization",
    x: [2, 4, 3],
    params: [2],
    attrs: { num_groups: attr.int(2) },
    opset: 18,
    block: 6,
    index: (i) => Math.floor(i / 6) % 2,
  },
  {
    name: "GroupNormalization at opset 21 (per-channel scale)",
    op: "GroupNormalization",
    x: [2, 4, 3],
    params: [4],
    attrs: { num_groups: attr.int(2) },
    opset: 21,
    block: 6,
    index: (i) => Math.floor(i / 3) % 4,
  },
];

for (const c of normCases) {
  Deno.test(`lowerForRuntime() ${c.name} in float64 equals a TypeScript reference and the float32 kernel`, async () => {
    const rng = new Random(c.block * 7 + c.x.length);
    const x = { name: "x", dims: c.x, values: rounded(normals(rng, c.x, 2)) };
    const scale = { name: "scale", dims: c.params, values: rounded(normals(rng, c.params)) };
    const bias = { name: "bias", dims: c.params, values: rounded(normals(rng, c.params)) };
    const { f64, f32 } = await runBoth(c.op, [x, scale, bias], c.attrs, c.opset);
    const eps = c.attrs.epsilon?.type === "float" ? c.attrs.epsilon.value : 1e-5;
    const want = normRef(x.values, c.block, eps, (i) => [scale.values[c.index(i)]!, bias.values[c.index(i)]!]);
    assertClose(f64.values, want, 1e-14, "float64 vs reference");
    assertClose(f64.values, f32.values, 1e-5, "float64 vs float32 kernel");
  });
}

Deno.test("lowerForRuntime() GlobalAveragePool in float64 is the spatial mean and matches the float32 kernel", async () => {
  const x = { name: "x", dims: [2, 3, 2, 3], values: rounded(normals(new Random(5), [2, 3, 2, 3])) };
  const { f64, f32 } = await runBoth("GlobalAveragePool", [x]);
  assertEquals(f64.dims, [2, 3, 1, 1]);
  const want = Array.from({ length: 6 }, (_, k) => x.values.slice(6 * k, 6 * k + 6).reduce((a, v) => a + v, 0) / 6);
  assertClose(f64.values, want, 1e-15, "float64 vs mean");
  assertClose(f64.values, f32.values, 1e-6, "float64 vs float32 kernel");
});

// ---- 1-D window ops, lowered as 2-D ones of height 1 ----------------------------------------------------------------

const oneD: { op: string; operands: [number[], number[]?, number[]?]; attrs: Attributes }[] = [
  { op: "Conv", operands: [[2, 2, 7], [3, 2, 3], [3]], attrs: { strides: attr.ints([2]), pads: attr.ints([1, 2]) } },
  { op: "Conv", operands: [[1, 2, 6], [2, 2, 2]], attrs: { dilations: attr.ints([2]), pads: attr.ints([2, 0]) } },
  {
    op: "ConvTranspose",
    operands: [[2, 2, 4], [2, 3, 3], [3]],
    attrs: { strides: attr.ints([2]), pads: attr.ints([1, 0]), output_padding: attr.ints([1]) },
  },
  { op: "AveragePool", operands: [[2, 2, 7]], attrs: { kernel_shape: attr.ints([3]), pads: attr.ints([1, 1]) } },
];

for (const { op, operands, attrs } of oneD) {
  Deno.test(`lowerForRuntime() 1-D ${op} ${JSON.stringify(operands)} in float64 matches the float32 kernel`, async () => {
    const rng = new Random(operands.flat().length);
    const names = ["x", "w", "b"];
    const ops = operands.flatMap((
      dims,
      i,
    ) => (dims ? [{ name: names[i]!, dims, values: rounded(normals(rng, dims)) }] : []));
    const { f64, f32 } = await runBoth(op, ops, attrs);
    assertClose(f64.values, f32.values, 1e-6, `${op} float64 vs float32 kernel`);
  });
}

// ---- 2-D window ops: TypeScript references by direct loops ---------------------------------------------------------

interface Conv2d {
  strides?: [number, number];
  pads?: [number, number, number, number];
  dilations?: [number, number];
}

function at4(dims: readonly number[], a: number, b: number, c: number, d: number): number {
  return ((a * dims[1]! + b) * dims[2]! + c) * dims[3]! + d;
}

function convRef(x: Operand, w: Operand, bias: number[] | undefined, o: Conv2d): number[] {
  const [n, c, h, wd] = x.dims as [number, number, number, number];
  const [m, , kh, kw] = w.dims as [number, number, number, number];
  const [sh, sw] = o.strides ?? [1, 1], [dh, dw] = o.dilations ?? [1, 1];
  const [pt, pl, pb, pr] = o.pads ?? [0, 0, 0, 0];
  const ho = Math.floor((h + pt + pb - (kh - 1) * dh - 1) / sh) + 1;
  const wo = Math.floor((wd + pl + pr - (kw - 1) * dw - 1) / sw) + 1;
  const y: number[] = [];
  for (let a = 0; a < n; a++) {
    for (let f = 0; f < m; f++) {
      for (let oh = 0; oh < ho; oh++) {
        for (let ow = 0; ow < wo; ow++) {
          let s = bias ? bias[f]! : 0;
          for (let ch = 0; ch < c; ch++) {
            for (let i = 0; i < kh; i++) {
              for (let j = 0; j < kw; j++) {
                const ih = oh * sh + i * dh - pt, iw = ow * sw + j * dw - pl;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                s += x.values[at4(x.dims, a, ch, ih, iw)]! * w.values[at4(w.dims, f, ch, i, j)]!;
              }
            }
          }
          y.push(s);
        }
      }
    }
  }
  return y;
}

function convTransposeRef(
  x: Operand,
  w: Operand,
  bias: number[] | undefined,
  o: Conv2d & { outputPadding?: [number, number] },
): { dims: number[]; values: number[] } {
  const [n, c, h, wd] = x.dims as [number, number, number, number];
  const [, m, kh, kw] = w.dims as [number, number, number, number];
  const [sh, sw] = o.strides ?? [1, 1], [dh, dw] = o.dilations ?? [1, 1];
  const [pt, pl, pb, pr] = o.pads ?? [0, 0, 0, 0];
  const [oph, opw] = o.outputPadding ?? [0, 0];
  const ho = sh * (h - 1) + oph + (kh - 1) * dh + 1 - pt - pb;
  const wo = sw * (wd - 1) + opw + (kw - 1) * dw + 1 - pl - pr;
  const dims = [n, m, ho, wo];
  const y = new Array<number>(n * m * ho * wo).fill(0);
  for (let a = 0; a < n; a++) {
    for (let f = 0; f < m; f++) {
      for (let i = 0; i < ho * wo; i++) y[at4(dims, a, f, 0, 0) + i] = bias ? bias[f]! : 0;
      for (let ch = 0; ch < c; ch++) {
        for (let ih = 0; ih < h; ih++) {
          for (let iw = 0; iw < wd; iw++) {
            for (let i = 0; i < kh; i++) {
              for (let j = 0; j < kw; j++) {
                const oh = ih * sh + i * dh - pt, ow = iw * sw + j * dw - pl;
                if (oh < 0 || oh >= ho || ow < 0 || ow >= wo) continue;
                y[at4(dims, a, f, oh, ow)]! += x.values[at4(x.dims, a, ch, ih, iw)]! *
                  w.values[at4(w.dims, ch, f, i, j)]!;
              }
            }
          }
        }
      }
    }
  }
  return { dims, values: y };
}

function averagePoolRef(x: Operand, kernel: [number, number], o: Conv2d & { includePad: boolean }): number[] {
  const [n, c, h, wd] = x.dims as [number, number, number, number];
  const [kh, kw] = kernel, [sh, sw] = o.strides ?? [1, 1];
  const [pt, pl, pb, pr] = o.pads ?? [0, 0, 0, 0];
  const ho = Math.floor((h + pt + pb - kh) / sh) + 1, wo = Math.floor((wd + pl + pr - kw) / sw) + 1;
  const y: number[] = [];
  for (let a = 0; a < n * c; a++) {
    for (let oh = 0; oh < ho; oh++) {
      for (let ow = 0; ow < wo; ow++) {
        let s = 0, count = 0;
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const ih = oh * sh + i - pt, iw = ow * sw + j - pl;
            if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
            s += x.values[(a * h + ih) * wd + iw]!;
            count++;
          }
        }
        y.push(s / (o.includePad ? kh * kw : count));
      }
    }
  }
  return y;
}

function convAttrs(o: Conv2d): Attributes {
  return {
    ...(o.strides ? { strides: attr.ints(o.strides) } : {}),
    ...(o.pads ? { pads: attr.ints(o.pads) } : {}),
    ...(o.dilations ? { dilations: attr.ints(o.dilations) } : {}),
  };
}

const convCases: { name: string; x: number[]; w: number[]; bias: boolean; o: Conv2d }[] = [
  { name: "3×3, pads 1, bias", x: [2, 3, 6, 6], w: [4, 3, 3, 3], bias: true, o: { pads: [1, 1, 1, 1] } },
  {
    name: "3×2, strides [2, 1], asymmetric pads, dilations [1, 2]",
    x: [2, 2, 7, 8],
    w: [3, 2, 3, 2],
    bias: false,
    o: { strides: [2, 1], pads: [1, 0, 2, 1], dilations: [1, 2] },
  },
  { name: "1×1, stride 2", x: [1, 4, 5, 5], w: [2, 4, 1, 1], bias: true, o: { strides: [2, 2] } },
];

for (const { name, x: xd, w: wd, bias, o } of convCases) {
  Deno.test(`lowerForRuntime() Conv ${name} in float64 equals direct loops and the float32 kernel`, async () => {
    const rng = new Random(xd.reduce((a, b) => a * 7 + b, 1));
    const x = { name: "x", dims: xd, values: rounded(normals(rng, xd)) };
    const w = { name: "w", dims: wd, values: rounded(normals(rng, wd, 0.5)) };
    const b = { name: "b", dims: [wd[0]!], values: rounded(normals(rng, [wd[0]!])) };
    const { f64, f32 } = await runBoth("Conv", bias ? [x, w, b] : [x, w], convAttrs(o));
    assertClose(f64.values, convRef(x, w, bias ? b.values : undefined, o), 1e-12, "float64 vs loops");
    assertClose(f64.values, f32.values, 1e-6, "float64 vs float32 kernel");
  });
}

Deno.test("lowerForRuntime() Conv with auto_pad SAME_UPPER and SAME_LOWER matches the float32 kernel", async () => {
  const rng = new Random(5);
  const x = { name: "x", dims: [1, 2, 5, 6], values: rounded(normals(rng, [1, 2, 5, 6])) };
  const w = { name: "w", dims: [2, 2, 3, 2], values: rounded(normals(rng, [2, 2, 3, 2])) };
  for (const mode of ["SAME_UPPER", "SAME_LOWER"]) {
    const { f64, f32 } = await runBoth("Conv", [x, w], { auto_pad: attr.string(mode), strides: attr.ints([2, 2]) });
    assertEquals(f64.dims, [1, 2, 3, 3]);
    assertClose(f64.values, f32.values, 1e-6, mode);
  }
});

const convTransposeCases: {
  name: string;
  x: number[];
  w: number[];
  bias: boolean;
  o: Conv2d & { outputPadding?: [number, number] };
}[] = [
  {
    name: "3×3, pads 1 (Conv's input gradient)",
    x: [2, 4, 5, 5],
    w: [4, 3, 3, 3],
    bias: false,
    o: { pads: [1, 1, 1, 1] },
  },
  {
    name: "3×2, strides 2, pads, output_padding, dilations [1, 2], bias",
    x: [2, 3, 4, 3],
    w: [3, 2, 3, 2],
    bias: true,
    o: { strides: [2, 2], pads: [1, 0, 0, 1], outputPadding: [1, 0], dilations: [1, 2] },
  },
  {
    name: "2×2, pads larger than the kernel (cropping)",
    x: [1, 2, 6, 6],
    w: [2, 2, 2, 2],
    bias: false,
    o: { pads: [2, 1, 2, 2] },
  },
  { name: "3×3, strides [3, 1]", x: [1, 1, 3, 4], w: [1, 2, 3, 3], bias: true, o: { strides: [3, 1] } },
];

for (const { name, x: xd, w: wd, bias, o } of convTransposeCases) {
  Deno.test(`lowerForRuntime() ConvTranspose ${name} in float64 equals direct loops and the float32 kernel`, async () => {
    const rng = new Random(xd.reduce((a, b) => a * 5 + b, 3));
    const x = { name: "x", dims: xd, values: rounded(normals(rng, xd)) };
    const w = { name: "w", dims: wd, values: rounded(normals(rng, wd, 0.5)) };
    const b = { name: "b", dims: [wd[1]!], values: rounded(normals(rng, [wd[1]!])) };
    const attrs = {
      ...convAttrs(o),
      ...(o.outputPadding ? { output_padding: attr.ints(o.outputPadding) } : {}),
    };
    const { f64, f32 } = await runBoth("ConvTranspose", bias ? [x, w, b] : [x, w], attrs);
    const want = convTransposeRef(x, w, bias ? b.values : undefined, o);
    assertEquals(f64.dims, want.dims);
    assertClose(f64.values, want.values, 1e-12, "float64 vs loops");
    assertClose(f64.values, f32.values, 1e-6, "float64 vs float32 kernel");
  });
}

Deno.test("lowerForRuntime() ConvTranspose with output_shape or auto_pad matches the float32 kernel", async () => {
  const rng = new Random(17);
  const x = { name: "x", dims: [1, 2, 4, 5], values: rounded(normals(rng, [1, 2, 4, 5])) };
  const w = { name: "w", dims: [2, 3, 3, 3], values: rounded(normals(rng, [2, 3, 3, 3])) };
  const variants: Attributes[] = [
    { strides: attr.ints([2, 2]), output_shape: attr.ints([8, 9]) },
    { strides: attr.ints([2, 2]), output_shape: attr.ints([8, 9]), auto_pad: attr.string("SAME_UPPER") },
    { strides: attr.ints([2, 2]), auto_pad: attr.string("SAME_UPPER") },
    { strides: attr.ints([2, 2]), auto_pad: attr.string("SAME_LOWER") },
  ];
  for (const attrs of variants) {
    const { f64, f32 } = await runBoth("ConvTranspose", [x, w], attrs);
    assertClose(f64.values, f32.values, 1e-6, JSON.stringify(attrs));
  }
});

const poolCases: { name: string; x: number[]; k: [number, number]; o: Conv2d }[] = [
  { name: "3×3, pads 1", x: [2, 3, 5, 5], k: [3, 3], o: { pads: [1, 1, 1, 1] } },
  { name: "2×2, strides 2", x: [1, 2, 6, 4], k: [2, 2], o: { strides: [2, 2] } },
  {
    name: "3×2, strides [2, 1], asymmetric pads",
    x: [1, 2, 7, 5],
    k: [3, 2],
    o: { strides: [2, 1], pads: [1, 0, 1, 1] },
  },
];

for (const { name, x: xd, k, o } of poolCases) {
  for (const includePad of [false, true]) {
    Deno.test(
      `lowerForRuntime() AveragePool ${name}, count_include_pad ${+includePad}, equals direct loops and the float32 kernel`,
      async () => {
        const rng = new Random(xd.reduce((a, b) => a * 3 + b, 7));
        const x = { name: "x", dims: xd, values: rounded(normals(rng, xd)) };
        const attrs = { ...convAttrs(o), kernel_shape: attr.ints(k), count_include_pad: attr.int(+includePad) };
        const { f64, f32 } = await runBoth("AveragePool", [x], attrs);
        assertClose(f64.values, averagePoolRef(x, k, { ...o, includePad }), 1e-12, "float64 vs loops");
        assertClose(f64.values, f32.values, 1e-6, "float64 vs float32 kernel");
      },
    );
  }
}

// ---- refusals ------------------------------------------------------------------------------------------------------

Deno.test("lowerForRuntime() rejects grouped and 3-D float64 Conv, and symbolic spatial dims, naming the node", () => {
  const grouped = new GraphBuilder("g");
  const x = grouped.input("x", "float64", [1, 4, 5, 5]);
  grouped.output(grouped.op1("Conv", [x, grouped.input("w", "float64", [2, 2, 3, 3])], { group: attr.int(2) }, {
    name: "c1",
  }));
  assertThrows(() => lowerForRuntime(grouped.build()), GraphError, /node c1 \(Conv\).*group 2/);

  const threeD = new GraphBuilder("g1");
  const x1 = threeD.input("x", "float64", [1, 2, 4, 4, 4]);
  threeD.output(threeD.op1("Conv", [x1, threeD.input("w", "float64", [2, 2, 3, 3, 3])], {}, { name: "c2" }));
  assertThrows(() => lowerForRuntime(threeD.build()), GraphError, /node c2 \(Conv\).*1-D and 2-D.*\[1, 2, 4, 4, 4\]/);

  const symbolic = new GraphBuilder("g2");
  const xs = symbolic.input("x", "float64", ["batch", 1, "h", 5]);
  symbolic.output(symbolic.op1("AveragePool", [xs], { kernel_shape: attr.ints([2, 2]) }, { name: "p" }));
  assertThrows(
    () => lowerForRuntime(symbolic.build()),
    GraphError,
    /node p \(AveragePool\).*concrete.*\[batch, 1, h, 5\]/,
  );
});

Deno.test("lowerForRuntime() lowers a float64 Conv whose omitted bias is an empty input name", async () => {
  const b = new GraphBuilder("nobias");
  const x = b.input("x", "float64", [1, 1, 3, 3]);
  b.output(b.op1("Conv", [x, b.input("w", "float64", [1, 1, 2, 2]), null]), "y");
  const s = await runtime.compile(b.build());
  const y = (await s.run({
    x: fromNumbers([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3], "float64"),
    w: fromNumbers([1, 0, 0, -1], [1, 1, 2, 2], "float64"),
  })).y!;
  assertEquals(Array.from(y.data as Float64Array), [-4, -4, -4, -4]);
});

Deno.test("lowerForRuntime() keeps a symbolic batch dim through Conv", async () => {
  const b = new GraphBuilder("batchconv");
  const x = b.input("x", "float64", ["batch", 1, 4, 4]);
  const w = b.input("w", "float64", [1, 1, 3, 3]);
  b.output(b.op1("Conv", [x, w], { pads: attr.ints([1, 1, 1, 1]) }), "y");
  const s = await runtime.compile(b.build());
  const ones = (n: number) => new Array<number>(n).fill(1);
  for (const batch of [1, 3]) {
    const y = (await s.run({
      x: fromNumbers(ones(16 * batch), [batch, 1, 4, 4], "float64"),
      w: fromNumbers(ones(9), [1, 1, 3, 3], "float64"),
    })).y!;
    assertEquals(y.dims, [batch, 1, 4, 4]);
    // Interior points see 9 ones, edges 6, corners 4.
    assertEquals(Array.from(y.data as Float64Array).slice(0, 16), [4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4]);
  }
});

Deno.test("lowerForCpuSpeed() runs float32 Softplus without ORT's kernel, as accurate as it; float64 and other ops untouched", async () => {
  const f32 = opGraph("Softplus", [{ name: "x", dims: [4001], values: [] }], {}, "float32");
  const lowered = lowerForCpuSpeed(f32);
  assert(!lowered.nodes.some((n) => n.opType === "Softplus"), "float32 Softplus should be rewritten");
  assert(
    lowerForCpuSpeed(opGraph("Softplus", [{ name: "x", dims: [3], values: [] }], {}, "float64")).nodes
      .some((n) => n.opType === "Softplus"),
    "float64 Softplus is lowerForRuntime's business",
  );
  const relu = opGraph("Relu", [{ name: "x", dims: [3], values: [] }], {}, "float32");
  assert(lowerForCpuSpeed(relu) === relu, "a graph with nothing to rewrite comes back as itself");

  // x over [−100, 100] plus the edges; exact softplus in float64 as the reference. The bound is relative: a softplus
  // of −20 is 2e-9, and a later Log must see that, not 0.
  const xs = [...Array.from({ length: 3998 }, (_, i) => -100 + (200 * i) / 3997), Infinity, -Infinity, NaN];
  const x = fromNumbers(xs, [xs.length], "float32");
  const y = (await (await runtime.compile(lowered)).run({ x })).y!.data as Float32Array;
  x.data.forEach((xi, i) => {
    const yi = y[i]!;
    if (Number.isNaN(xi)) return assert(Number.isNaN(yi), "softplus(NaN) is NaN");
    const exact = xi === Infinity ? Infinity : Math.max(xi, 0) + Math.log1p(Math.exp(-Math.abs(xi)));
    if (!Number.isFinite(exact)) return assertEquals(yi, exact, `softplus(${xi})`);
    // Below about −87 e^x leaves float32's normal range: there the bound is two of its smallest subnormals, or 0 where
    // the thread flushes subnormals (RuntimeOptions.flushDenormals; in a test process only the first session's
    // calling thread and every session's pool threads do).
    const bound = Math.max(4e-7 * exact, 3e-45);
    const flushed = yi === 0 && exact < 1.2e-38;
    assert(flushed || Math.abs(yi - exact) <= bound, `softplus(${xi}) = ${yi}, exact ${exact}`);
  });
});

Deno.test("splitRowGemms() computes a large float32 Gemm of few rows row by row, to the unsplit product's values", async () => {
  const rng = new Random(9);
  const b = new GraphBuilder("rows");
  const x = b.input("x", "float32", ["batch", 300]);
  const w = b.input("w", "float32", [400, 300]);
  const bias = b.input("c", "float32", [400]);
  const h = b.op1("Gemm", [x, w, bias], { transB: attr.int(1), alpha: attr.float(0.5) }, { name: "big" });
  // Small (launch-bound) and transposed-A products stay as they are.
  const small = b.op1("Gemm", [h, b.input("v", "float32", [400, 3])], {}, { name: "small" });
  b.output(small, "y");
  b.output(b.op1("Gemm", [h, h], { transA: attr.int(1) }, { name: "outer" }), "hh");
  const g = b.build();
  assertEquals([...splittableRowDims(g)], ["batch"]);
  const split = splitRowGemms(g, "batch", 3);
  assertEquals(
    split.nodes.filter((n) => n.opType === "Gemm").length,
    3 + 2,
    "three one-row products beside the two others",
  );
  assertEquals(
    split.outputs.map((o) => [o.name, o.shape]),
    [["y", [3, 3]], ["hh", [400, 400]]],
    "rows concrete from there",
  );
  const feeds = {
    x: tensor(rng.fillUniform(new Float32Array(3 * 300), -1, 1), [3, 300]),
    w: tensor(rng.fillUniform(new Float32Array(400 * 300), -1, 1), [400, 300]),
    c: tensor(rng.fillUniform(new Float32Array(400), -1, 1), [400]),
    v: tensor(rng.fillUniform(new Float32Array(400 * 3), -1, 1), [400, 3]),
  };
  const whole = await (await runtime.compile(g)).run(feeds);
  const byRows = await (await runtime.compile(split)).run(feeds);
  for (const name of ["y", "hh"]) {
    const [got, want] = [byRows[name]!.data as Float32Array, whole[name]!.data as Float32Array];
    assertClose(Array.from(got), Array.from(want), 1e-5, `${name} row by row`);
  }
  const f64 = opGraph(
    "Gemm",
    [{ name: "a", dims: ["batch" as unknown as number, 300], values: [] }, { name: "b", dims: [300, 400], values: [] }],
    {},
    "float64",
  );
  assertEquals(splittableRowDims(f64).size, 0, "float64 products are left alone");
});

Deno.test("splitRowGemms() before opset 13 gives Split its sizes as an attribute, and leaves a per-row bias alone", async () => {
  const b = new GraphBuilder("rows12", { opset: 12 });
  const x = b.input("x", "float32", ["batch", 256]);
  const w = b.input("w", "float32", [256, 256]);
  const perRow = b.input("c", "float32", ["batch", 256]);
  const h = b.op1("Gemm", [x, w], {}, { name: "big" });
  b.output(b.op1("Gemm", [h, w, perRow], { beta: attr.float(2) }, { name: "biased" }), "y");
  const g = b.build();
  const split = splitRowGemms(g, "batch", 2);
  assertEquals(split.nodes.filter((n) => n.opType === "Gemm").length, 2 + 1, "only the unbiased product is split");
  assert(
    split.nodes.some((n) => n.opType === "Split" && n.inputs.length === 1 && n.attributes.split),
    "split attribute",
  );
  const v = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.cos(k + 0.1 * i) / 8);
  const feeds = { x: tensor(v(512, 1), [2, 256]), w: tensor(v(65536, 2), [256, 256]), c: tensor(v(512, 3), [2, 256]) };
  const [whole, byRows] = [
    await (await runtime.compile(g)).run(feeds),
    await (await runtime.compile(split)).run(feeds),
  ];
  assertClose(Array.from(byRows.y!.data as Float32Array), Array.from(whole.y!.data as Float32Array), 1e-5, "y");
});

Deno.test("stackOuterProducts() sums weight cotangents Σ gᵢᵀhᵢ as one Gemm over stacked rows, to the same values", async () => {
  const b = new GraphBuilder("outer");
  const rows = [2, 3, 2];
  const g = rows.map((r, i) => b.input(`g${i}`, "float64", [r, 5]));
  const h = rows.map((r, i) => b.input(`h${i}`, "float64", [r, 4]));
  const acc = b.input("acc", "float64", [5, 4]);
  const p = rows.map((_, i) => b.op1("Gemm", [g[i]!, h[i]!], { transA: attr.int(1) }));
  // Inner sums and an Identity are looked through; the running sum becomes the stacked Gemm's C.
  const inner = b.op1("Identity", [b.op1("Add", [p[0]!, p[1]!])]);
  b.output(b.op1("Sum", [inner, acc, p[2]!]), "total");
  // Not stackable: a product that is also an output, and one with transB.
  const shown = b.op1("Gemm", [g[0]!, h[0]!], { transA: attr.int(1) });
  b.output(shown, "shown");
  const tb = b.op1("Gemm", [g[1]!, b.input("k", "float64", [4, 3])], { transA: attr.int(1), transB: attr.int(1) });
  b.output(b.op1("Add", [shown, b.op1("Gemm", [g[2]!, h[2]!], { transA: attr.int(1) })]), "partial");
  b.output(b.op1("Add", [tb, tb]), "twice");
  const graph = b.build();
  const stacked = stackOuterProducts(graph);
  const gemms = (x: Graph) => x.nodes.filter((n) => n.opType === "Gemm").length;
  assertEquals(gemms(graph) - gemms(stacked), 2, "three products of `total` are one Gemm; the rest stay");
  assertEquals(stacked.outputs, graph.outputs);
  const rng = new Random(4);
  const feed = (dims: number[]) => tensor(rng.fillUniform(new Float64Array(dims[0]! * dims[1]!), -1, 1), dims);
  const feeds = {
    ...Object.fromEntries(rows.flatMap((r, i) => [[`g${i}`, feed([r, 5])], [`h${i}`, feed([r, 4])]])),
    acc: feed([5, 4]),
    k: feed([4, 3]),
  };
  // The reference in plain arithmetic: the runtime would stack the original graph's products too.
  const data = (name: string) => (feeds as Record<string, { data: Float64Array }>)[name]!.data;
  const outer = (i: number) =>
    Array.from({ length: 20 }, (_, e) => {
      const [row, col] = [Math.floor(e / 4), e % 4];
      let sum = 0;
      for (let r = 0; r < rows[i]!; r++) sum += data(`g${i}`)[r * 5 + row]! * data(`h${i}`)[r * 4 + col]!;
      return sum;
    });
  const got = await (await runtime.compile(stacked)).run(feeds);
  const total = outer(0).map((v, e) => v + outer(1)[e]! + outer(2)[e]! + data("acc")[e]!);
  assertClose(Array.from(got.total!.data as Float64Array), total, 1e-14, "total");
  assertClose(
    Array.from(got.partial!.data as Float64Array),
    outer(0).map((v, e) => v + outer(2)[e]!),
    1e-14,
    "partial",
  );
  assert(stackOuterProducts(stacked) === stacked, "nothing left to stack: the same graph back");
});
