/**
 * The paper's image model (§5.5) under each gradient method, and its
 * convolution graphs' VJPs against their forward graphs.
 *
 * The model: Fashion-MNIST-sized images [1, 28, 28] through the paper's
 * encoder (models/conv_encoder.ts) to z0 [batch, 10, 14, 14], then the
 * dynamics `model.dynamics: { kind: conv, channels: h, time: concat }` builds
 * (pipeline/model_kinds/conv.ts, called here): conv 3×3 10+1 → h, softplus,
 * conv 3×3 h+1 → h, softplus, conv 3×3 h+1 → 10, padding 1, t as one more
 * channel; float32, dopri5, rtol = atol = 1e-3, t ∈ [0, 1], loss Σ z(1)².
 *
 * The gradient table times dL/d(z0, θ) of the ODE block per method (z0 is
 * encoded once, outside the timing; its share is the same for every method):
 * medians of interleaved rounds after an untimed round on t ∈ [0, 0.05]
 * that compiles each method's graphs. At these tolerances the forward solve
 * takes two or three steps, so even `direct`'s tape stays small (650 MB peak
 * at h = 300, batch 32) and every method runs at every size.
 *
 * The VJP table sets each piece's VJP graph (`vjpGraph`, cotangents only)
 * against its forward graph, one ORT thread: the dynamics (cotangents of z,
 * t and θ, which recompute the activations they need) and their three
 * convolutions, and the encoder's BatchNorm, convolutions and max-pool (and
 * the whole encoder, for its parameters). A VJP should cost at most 1.5 × the
 * usual factor of two over its forward: {@linkcode VJP_BUDGET}. Two clocks:
 * milliseconds per call through `Runtime` (what a solver pays, copies of
 * inputs and outputs included) and ORT's own kernel times (profiled), which
 * leave the copies out — for the encoder's small pieces the copies are most
 * of a call, and inside the one fused graph the method runs there are none.
 * The budget is checked on the kernel times, the fastest of the profiled calls
 * (the least disturbed by whatever else the machine runs).
 *
 * A full run (h = 50, 100, 300 × batch 16, 32) takes about ten minutes on
 * two idle cores (twenty on busy ones), so `conv` runs only when named;
 * `--quick` (h = 8, batch 4, one round) takes seconds. Results go to
 * reports/bench/conv.json.
 *
 * Why one file: the two tables share the model, its builders and the
 * profiling helper, and no other benchmark needs them.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import { vjpGraph } from "../src/autodiff/vjp.ts";
import { adjoint, direct, gq, type GradientMethod, seminorm } from "../src/gradients/method.ts";
import { adjointDynamicsGraph, gqBackwardGraph } from "../src/gradients/fused_graphs.ts";
import { odeGradient } from "../src/gradients/ode_gradient.ts";
import type { GradientResult, LossValue } from "../src/gradients/problem.ts";
import { convEncoder } from "../src/models/conv_encoder.ts";
import type { DynamicsModel } from "../src/models/dynamics.ts";
import { GraphBuilder } from "../src/onnx/builder.ts";
import { attr, type Attributes, type Graph } from "../src/onnx/graph.ts";
import { lowerForCpuSpeed, lowerForRuntime } from "../src/onnx/lower.ts";
import { encodeModel } from "../src/onnx/proto.ts";
import { type Tensor, tensor } from "../src/onnx/tensor.ts";
import { ConvDynamicsSchema, convModel } from "../src/pipeline/model_kinds/conv.ts";
import { type GradientTimingRecord, perGradientCosts } from "../src/results/records.ts";
import { Runtime } from "../src/runtime/session.ts";
import { Random } from "../src/util/random.ts";
import { median, printTable, timeRepeats, writeJson } from "./_report.ts";

/** At most 1.5 × the usual factor of two: a VJP graph's cost over its forward graph's. */
export const VJP_BUDGET = 3;

const IMAGE = [1, 28, 28] as const;
const STATE = [10, 14, 14] as const;
const TOL = 1e-3;

/** The methods, in table order; adjoint is the ratios' reference. */
const METHODS: readonly { label: string; method: GradientMethod }[] = [
  { label: "adjoint", method: adjoint() },
  { label: "seminorm", method: seminorm() },
  { label: "gq", method: gq() },
  { label: "direct", method: direct() },
];

/** One method at one size: {@linkcode GradientTimingRecord} (width: hidden channels h) and its time over adjoint's. */
export interface ConvGradientRecord extends GradientTimingRecord {
  /** gradientSeconds over adjoint's at the same h and batch. */
  vsAdjoint: number;
  /** Every timed round's seconds. */
  roundSeconds: number[];
}

/** One piece's VJP graph against its forward graph. */
export interface ConvVjpRecord {
  /** What was differentiated, and with respect to what. */
  piece: string;
  /** Hidden channels h of the dynamics (0 for the encoder's pieces). */
  hidden: number;
  batch: number;
  /** The piece's main input, e.g. `[16,101,14,14]`. */
  input: string;
  /** Milliseconds per call through Runtime (medians), forward and VJP. */
  forwardMs: number;
  vjpMs: number;
  /** vjpMs / forwardMs. */
  ratio: number;
  /** ORT kernel milliseconds per call (the fastest profiled call: the least disturbed by other work), forward and VJP. */
  forwardKernelMs: number;
  vjpKernelMs: number;
  /** vjpKernelMs / forwardKernelMs, the number checked against {@linkcode VJP_BUDGET}. */
  kernelRatio: number;
  /** kernelRatio ≤ VJP_BUDGET. */
  withinBudget: boolean;
}

/** The dynamics the pipeline builds for `{ kind: conv, channels: hidden, time: concat }` on [10, 14, 14] states. */
export function paperDynamics(hidden: number, seed = 1): DynamicsModel {
  const config = ConvDynamicsSchema.parse({ kind: "conv", channels: hidden, time: "concat" });
  return convModel.build(config, {
    stateDim: STATE[0] * STATE[1] * STATE[2],
    imageShape: STATE,
    form: "first-order",
    dtype: "float32",
    seed,
  });
}

/** L = Σ z(1)² and its cotangent 2·z(1). */
function sumOfSquares(states: readonly Float64Array[]): LossValue {
  const z = states.at(-1)!;
  return { value: z.reduce((s, v) => s + v * v, 0), cotangents: [null, z.map((v) => 2 * v)] };
}

/** z0 of `batch` seeded uniform images through the paper's encoder at its initial weights. */
async function encodedState(rt: Runtime, batch: number): Promise<Tensor> {
  const encoder = convEncoder({ imageShape: IMAGE, channels: STATE[0] });
  const pixels = IMAGE[0] * IMAGE[1] * IMAGE[2];
  const x = tensor(new Random(2).fillUniform(new Float32Array(batch * pixels), 0, 1), [batch, pixels]);
  const { z0 } = await (await rt.compile(encoder.graph)).run({ ...encoder.init, x });
  return z0!;
}

async function timeGradients(
  rt: Runtime,
  hidden: number,
  batch: number,
  rounds: number,
): Promise<ConvGradientRecord[]> {
  const { dynamics, init } = paperDynamics(hidden);
  const z0 = await encodedState(rt, batch);
  const methods = METHODS;
  const solve = (method: GradientMethod, t1: number) =>
    odeGradient({ dynamics, params: init, z0, times: [0, t1], loss: sumOfSquares }, {
      method,
      rtol: TOL,
      atol: TOL,
      runtime: rt,
    });
  // A short untimed round compiles every method's graphs; then rounds of all methods in turn, so that a slow spell
  // of the machine hits every method alike.
  for (const { method } of methods) await solve(method, 0.05);
  const last: (GradientResult | undefined)[] = methods.map(() => undefined);
  const times: number[][] = methods.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, { method }] of methods.entries()) {
      const [ms] = await timeRepeats(async () => {
        last[i] = await solve(method, 1);
      }, { repeats: 1, warmup: 0, minRepeats: 1 });
      times[i]!.push(ms! / 1000);
    }
  }
  const params = Object.values(init).reduce((s, t) => s + t.data.length, 0);
  const seconds = times.map((t) => median(t));
  return methods.map(({ label }, i) => {
    const s = last[i]!.stats;
    return {
      method: label,
      solver: "dopri5",
      width: hidden,
      batch,
      dim: STATE[0] * STATE[1] * STATE[2],
      t1: 1,
      params,
      tolerance: TOL,
      gradientSeconds: seconds[i]!,
      ...perGradientCosts(s),
      vjpCallsPerGradient: s.vjpEvals,
      heldBytes: s.heldBytes,
      vsAdjoint: seconds[i]! / seconds[0]!,
      roundSeconds: times[i]!,
    };
  });
}

// ---- VJP graphs against their forward graphs -------------------------------------------------------------------

/** A piece: its forward graph, the inputs its VJP is taken with respect to, and the shape it is labelled by. */
interface Piece {
  piece: string;
  hidden: number;
  batch: number;
  input: readonly number[];
  forward: Graph;
  wrt: readonly string[];
  /** A fused graph timed against `forward` instead of `vjpGraph(forward)`; it computes f too, so its budget is one more. */
  fused?: Graph;
}

/** One op on float32 graph inputs, its output `y`; batch symbolic, as in the model. */
function oneOp(op: string, inputs: readonly [string, readonly (number | "batch")[]][], attrs: Attributes): Graph {
  const b = new GraphBuilder(op.toLowerCase());
  b.output(b.op1(op, inputs.map(([n, s]) => b.input(n, "float32", s)), attrs), "y");
  return b.build();
}

const CONV3 = { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) };

function convPiece(label: string, hidden: number, batch: number, cin: number, cout: number, side: number): Piece {
  return {
    piece: `${label} conv ${cin}→${cout} (x, w, b)`,
    hidden,
    batch,
    input: [batch, cin, side, side],
    forward: oneOp("Conv", [["x", ["batch", cin, side, side]], ["w", [cout, cin, 3, 3]], ["b", [cout]]], CONV3),
    wrt: ["x", "w", "b"],
  };
}

/** The dynamics and their three convolutions at h and batch. */
function dynamicsPieces(hidden: number, batch: number): Piece[] {
  const { dynamics } = paperDynamics(hidden);
  const g = dynamics.graph;
  const wrt = ["z", "t", ...dynamics.params.map((p) => p.name)];
  const input = [batch, ...STATE];
  const [c, side] = [STATE[0], STATE[1]];
  return [
    { piece: "dynamics f (z, t, θ)", hidden, batch, input, forward: g, wrt },
    {
      piece: "dynamics: adjoint graph (f + all)",
      hidden,
      batch,
      input,
      forward: g,
      wrt,
      fused: adjointDynamicsGraph(dynamics).graph,
    },
    {
      piece: "dynamics: GQ backward (f + z)",
      hidden,
      batch,
      input,
      forward: g,
      wrt,
      fused: gqBackwardGraph(dynamics).graph,
    },
    convPiece("dynamics", hidden, batch, c + 1, hidden, side),
    convPiece("dynamics", hidden, batch, hidden + 1, hidden, side),
    convPiece("dynamics", hidden, batch, hidden + 1, c, side),
  ];
}

/** The encoder's pieces at a batch: BatchNorm, its two convolutions, the max-pool, and the whole encoder. */
function encoderPieces(batch: number): Piece[] {
  const encoder = convEncoder({ imageShape: IMAGE, channels: STATE[0] });
  const [cin, side] = [IMAGE[0], IMAGE[1]];
  const c = STATE[0];
  const bn = new GraphBuilder("batchnorm");
  bn.output(
    bn.op1("BatchNormalization", [
      bn.input("x", "float32", ["batch", cin, side, side]),
      bn.input("scale", "float32", [cin]),
      bn.input("bias", "float32", [cin]),
      bn.initializer("mean", tensor(new Float32Array(cin).fill(0.3), [cin])),
      bn.initializer("var", tensor(new Float32Array(cin).fill(0.1), [cin])),
    ], { epsilon: attr.float(1e-5) }),
    "y",
  );
  const pool = { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) };
  return [
    {
      piece: "encoder (its parameters)",
      hidden: 0,
      batch,
      input: [batch, cin * side * side],
      forward: encoder.graph,
      wrt: encoder.params.map((p) => p.name),
    },
    {
      piece: "encoder BatchNorm (x, scale, bias)",
      hidden: 0,
      batch,
      input: [batch, cin, side, side],
      forward: bn.build(),
      wrt: ["x", "scale", "bias"],
    },
    convPiece("encoder", 0, batch, cin, c, side),
    {
      piece: "encoder MaxPool 2×2 (x)",
      hidden: 0,
      batch,
      input: [batch, c, side, side],
      forward: oneOp("MaxPool", [["x", ["batch", c, side, side]]], pool),
      wrt: ["x"],
    },
    convPiece("encoder", 0, batch, c, c, side / 2),
  ];
}

/**
 * Seeded normal feeds for every input of `graph`, symbolic dims bound to `batch`; variances positive; weights
 * (`w`, `*.weight` of rank ≥ 2) scaled by 1/√fan-in as a layer's initialisation is. With unit-variance weights the
 * h = 300 dynamics' pre-activations reach ±100, past float32 exp's underflow at −87, and the subnormals there made
 * the forward graph 2–3 times slower than in training (its VJP ratio read below 1).
 */
function feedsFor(graph: Graph, batch: number, rng: Random): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const v of graph.inputs) {
    const dims = v.shape.map((d) => (typeof d === "number" ? d : batch));
    const data = rng.fillNormal(new Float32Array(dims.reduce((p, d) => p * d, 1)));
    if (/var/.test(v.name)) data.forEach((x, i) => (data[i] = 1 + Math.abs(x)));
    if (dims.length >= 2 && /(^w|\.weight)$/.test(v.name)) {
      const scale = 1 / Math.sqrt(dims.slice(1).reduce((p, d) => p * d, 1));
      data.forEach((x, i) => (data[i] = x * scale));
    }
    feeds[v.name] = tensor(data, dims);
  }
  return feeds;
}

/**
 * ORT's kernel time of each call of `graph`, in ms: the durations of its nodes'
 * kernels that ORT's profiler records (no input or output copies, no session
 * overhead), summed per call, `warmup` calls dropped. One thread, idle threads
 * sleeping, as {@linkcode Runtime} runs sessions.
 */
export async function profiledKernelMs(
  graph: Graph,
  feeds: Readonly<Record<string, Tensor>>,
  calls: number,
  warmup = 2,
): Promise<number[]> {
  const dir = await Deno.makeTempDir({ prefix: "quadjoint_conv_bench_" });
  try {
    const session = await ort.InferenceSession.create(encodeModel(lowerForCpuSpeed(lowerForRuntime(graph))), {
      graphOptimizationLevel: "all",
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: "sequential",
      logSeverityLevel: 3,
      enableProfiling: true,
      profileFilePrefix: `${dir}/profile`,
      // Subnormals flushed, as the runtime's sessions (RuntimeOptions.flushDenormals).
      extra: {
        session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" }, set_denormal_as_zero: "1" },
      },
    });
    const ortFeeds = Object.fromEntries(
      Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor(t.dtype, t.data as Float32Array, [...t.dims])]),
    );
    for (let i = 0; i < warmup + calls; i++) await session.run(ortFeeds);
    session.endProfiling();
    await session.release();
    const [file] = [...Deno.readDirSync(dir)].map((e) => `${dir}/${e.name}`);
    if (!file) throw new Error("ONNX Runtime wrote no profile");
    return kernelMsPerRun(JSON.parse(await Deno.readTextFile(file))).slice(warmup);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** One event of an ORT profile (Chrome trace format): µs timestamps and durations. */
export interface ProfileEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
}

/** Per `model_run` event, in order, the summed durations (ms) of the node kernels (`*_kernel_time`) inside it. */
export function kernelMsPerRun(events: readonly ProfileEvent[]): number[] {
  const kernels = events.filter((e) => e.cat === "Node" && e.name?.endsWith("_kernel_time"));
  return events.filter((e) => e.name === "model_run").map((run) => {
    const [start, end] = [run.ts ?? 0, (run.ts ?? 0) + (run.dur ?? 0)];
    const inside = kernels.filter((k) => (k.ts ?? -1) >= start && (k.ts ?? -1) <= end);
    return inside.reduce((s, k) => s + (k.dur ?? 0), 0) / 1000;
  });
}

async function timePiece(rt: Runtime, p: Piece, calls: number, rng: Random): Promise<ConvVjpRecord> {
  const vjp = p.fused ??
    vjpGraph(p.forward, { of: p.forward.outputs.map((o) => o.name), wrt: p.wrt, keepOutputs: false });
  const feeds = feedsFor(vjp, p.batch, rng);
  const forwardFeeds = Object.fromEntries(p.forward.inputs.map((v) => [v.name, feeds[v.name]!]));
  const [f, v] = [await rt.compile(p.forward), await rt.compile(vjp)];
  // Forward and VJP calls alternate, so that both see the same machine.
  const fMs: number[] = [], vMs: number[] = [];
  await f.run(forwardFeeds);
  await v.run(feeds);
  for (let i = 0; i < calls; i++) {
    fMs.push((await timeRepeats(() => f.run(forwardFeeds), { repeats: 1, warmup: 0, minRepeats: 1 }))[0]!);
    vMs.push((await timeRepeats(() => v.run(feeds), { repeats: 1, warmup: 0, minRepeats: 1 }))[0]!);
  }
  // The fastest call of each: on a shared machine the median of two profiles taken apart moves with the load.
  const fk = Math.min(...await profiledKernelMs(p.forward, forwardFeeds, calls));
  const vk = Math.min(...await profiledKernelMs(vjp, feeds, calls));
  const [forwardMs, vjpMs] = [median(fMs), median(vMs)];
  return {
    piece: p.piece,
    hidden: p.hidden,
    batch: p.batch,
    input: `[${p.input.join(",")}]`,
    forwardMs,
    vjpMs,
    ratio: vjpMs / forwardMs,
    forwardKernelMs: fk,
    vjpKernelMs: vk,
    kernelRatio: vk / fk,
    withinBudget: p.fused ? vk / fk <= VJP_BUDGET + 1 : vk / fk <= VJP_BUDGET,
  };
}

/** The gradient table: every method at every hidden width and batch, `rounds` interleaved rounds each. */
export async function gradientRows(
  hiddens: readonly number[],
  batches: readonly number[],
  rounds: number,
): Promise<ConvGradientRecord[]> {
  const rt = new Runtime();
  const rows: ConvGradientRecord[] = [];
  try {
    for (const hidden of hiddens) {
      for (const batch of batches) {
        const some = await timeGradients(rt, hidden, batch, rounds);
        rows.push(...some);
        console.log(
          `h ${hidden} batch ${batch}: ` + some.map((r) => `${r.method} ${r.gradientSeconds.toFixed(2)} s`).join(", "),
        );
      }
    }
  } finally {
    await rt.dispose();
  }
  return rows;
}

/** The VJP table: the dynamics' pieces at every hidden width and batch, the encoder's at every batch; one thread. */
export async function vjpRows(
  hiddens: readonly number[],
  batches: readonly number[],
  calls: number,
): Promise<ConvVjpRecord[]> {
  const rt = new Runtime({ threads: 1 });
  const rows: ConvVjpRecord[] = [];
  const rng = new Random(3);
  try {
    for (const batch of batches) {
      for (const hidden of hiddens) {
        for (const p of dynamicsPieces(hidden, batch)) rows.push(await timePiece(rt, p, calls, rng));
      }
      for (const p of encoderPieces(batch)) rows.push(await timePiece(rt, p, calls, rng));
    }
  } finally {
    await rt.dispose();
  }
  return rows;
}

const GRADIENT_COLUMNS = [
  "method",
  "width",
  "batch",
  "params",
  "gradientSeconds",
  "vsAdjoint",
  "nfeForwardPerGradient",
  "nfeBackwardPerGradient",
  "vjpCallsPerGradient",
  "nodesPerGradient",
  "heldBytes",
] as const;

const VJP_COLUMNS = [
  "piece",
  "hidden",
  "batch",
  "input",
  "forwardMs",
  "vjpMs",
  "ratio",
  "forwardKernelMs",
  "vjpKernelMs",
  "kernelRatio",
  "withinBudget",
] as const;

/** Prints the VJP table. */
export function printVjpTable(rows: readonly ConvVjpRecord[]): void {
  printTable(
    `VJP graph ÷ forward graph, one thread (budget ${VJP_BUDGET} on kernel time; fused rows include f: ${
      VJP_BUDGET + 1
    })`,
    rows,
    VJP_COLUMNS,
  );
}

/** Runs both tables, prints them and writes reports/bench/conv.json. */
export async function run(options: { quick?: boolean } = {}): Promise<void> {
  const quick = options.quick ?? false;
  const hiddens = quick ? [8] : [50, 100, 300];
  const batches = quick ? [4] : [16, 32];
  const rounds = quick ? 1 : 3;
  const calls = quick ? 5 : 15;
  const gradients = await gradientRows(hiddens, batches, rounds);
  printTable(
    "One gradient of the paper's conv model (state [batch, 10, 14, 14], dopri5, rtol = atol = 1e-3, t ∈ [0, 1])",
    gradients,
    GRADIENT_COLUMNS,
  );
  const vjp = await vjpRows(hiddens, batches, calls);
  printVjpTable(vjp);
  const path = await writeJson("conv", {
    quick,
    settings: {
      solver: "dopri5",
      rtol: TOL,
      atol: TOL,
      t1: 1,
      loss: "sum of squares of z(1)",
      rounds,
      vjpCalls: calls,
    },
    vjpBudget: VJP_BUDGET,
    gradients,
    vjp,
  });
  console.log(`wrote ${path}`);
}

if (import.meta.main) await run({ quick: Deno.args.includes("--quick") });
