/**
 * quadjoint against the PyTorch peers on the same problems: one gradient of
 * MLP dynamics (2 hidden softplus layers, time as an extra input column,
 * float32, dopri5 at rtol = atol = 1e-3, loss = mean z(T)²) by
 *
 * | quadjoint                   | peer                                                                 |
 * |-----------------------------|----------------------------------------------------------------------|
 * | `direct()`                  | torchdiffeq `odeint`, backpropagation through the solver             |
 * | `adjoint()`                 | torchdiffeq `odeint_adjoint`                                         |
 * | `seminorm()`                | `odeint_adjoint(adjoint_options=dict(norm="seminorm"))`              |
 * | `gq({ nodes: "interval" })` | the paper authors' `odeint_adjoint_gq(gtol=0.1)`: the same node rule |
 *
 * with the same θ (quadjoint's seeded initial weights, sent to the peer in a
 * weight file), the same z0 and time grid, and 2 threads on both sides (ORT
 * intra-op threads, `torch.set_num_threads`). Runs are interleaved round
 * robin — quadjoint method m and peer method m (which goes first alternates
 * by round), next method — after one untimed warm-up run of each, whose
 * gradients are compared (relative error of dL/dθ and dL/dz0). Also: seconds
 * per epoch of the crossing-trajectories training loop
 * (pipelines/crossing-trajectories.yaml) in both libraries, epochs
 * interleaved the same way, and the
 * machine's limits (a MatMul of the gradient's size through ONNX Runtime,
 * copy bandwidth) set against the work each of quadjoint's gradients does
 * (see `_peer_costs.ts` for the work model).
 *
 * The peers run in bench/peers/peers.py, a JSON-lines server started once.
 * The authors' GQ is imported from the checkout given by `--gq-path DIR`;
 * without it the GQ peer rows are skipped. Writes reports/bench/peers.json,
 * a results file (src/results/) of `peerGradients`, `peerTraining` and
 * `peerLimits` records with the settings, the peer's versions and the
 * machine's limits in its `meta`, and reports/bench/peers.html. Read ratios
 * measured in one run, not absolute times.
 *
 * Why one file: one comparison with one peer process; the peer's server, weights and cost model are split out into _peer_*.ts.
 *
 * @module
 */
import { adjoint, direct, gq, type GradientMethod, methodName, seminorm } from "../src/gradients/method.ts";
import { odeGradient } from "../src/gradients/ode_gradient.ts";
import type { GradientResult } from "../src/gradients/problem.ts";
import { benchmarkMlp } from "./_mlp_problem.ts";
import { GraphBuilder } from "../src/onnx/builder.ts";
import { type Tensor, tensor } from "../src/onnx/tensor.ts";
import { solveSettings } from "../src/pipeline/settings.ts";
import { makeDataset } from "../src/pipeline/data_stage.ts";
import { readPipeline } from "../src/pipeline/parse.ts";
import { learningRateFor } from "../src/pipeline/schema.ts";
import { hiddenWidths } from "../src/pipeline/model_kinds/mlp.ts";
import { expandSweep } from "../src/pipeline/sweep.ts";
import { buildTask } from "../src/pipeline/task_stage.ts";
import { renderReport, writeReport } from "../src/report/html.ts";
import { type ChartSpec, methodColourScale } from "../src/report/specs.ts";
import type { ReportTable } from "../src/report/summary.ts";
import { Runtime } from "../src/runtime/session.ts";
import { trainNeuralOde } from "../src/train/trainer.ts";
import { machineCpu } from "../src/util/machine.ts";
import { Random } from "../src/util/random.ts";
import { gradientWork, mlpMacs, mlpParams, relativeError } from "./_peer_costs.ts";
import { ensurePeerPython, type PeerAnswer, PeerServer, PeerSetupError } from "./_peer_server.ts";
import { readWeights, type WeightTensor, writeWeights } from "./_peer_weights.ts";
import type { PeerGradientRecord, PeerLimitRecord, PeerTrainingRecord } from "../src/results/records.ts";
import { median, printTable, REPORT_DIR, timeRepeats, writeBenchResults } from "./_report.ts";
import type { BenchOptions } from "./main.ts";

const RTOL = 1e-3, ATOL = 1e-3, THREADS = 2;

/** The peer error of GQ rows when the authors' GQ was not loaded (said once at the start, not per row). */
export const GQ_SKIPPED = "skipped: the authors' GQ is not loaded";

/** The methods, each with its peer. */
const DIRECT_METHOD = direct();

/**
 * The methods, each with its peer, with the peer's backward step control (torchdiffeq's and the GQ authors':
 * the largest per-block RMS norm, the first step selected per interval): quadjoint's own looser default would
 * take fewer backward steps, so a ratio against it would mix another algorithm with speed.
 */
const METHODS: readonly { method: GradientMethod; peer: string }[] = [
  { method: DIRECT_METHOD, peer: "torchdiffeq odeint" },
  { method: adjoint({ stepControl: "torchdiffeq" }), peer: "torchdiffeq odeint_adjoint" },
  { method: seminorm({ stepControl: "torchdiffeq" }), peer: "odeint_adjoint (seminorm)" },
  // The paper's node rule on both sides (quadjoint's default adaptive nodes have no peer).
  { method: gq({ nodes: "interval", C: 0.1, stepControl: "torchdiffeq" }), peer: "authors' GQ (gtol 0.1)" },
];

/** A state size, batch and time span. */
export interface Regime {
  readonly name: string;
  readonly dim: number;
  readonly batch: number;
  readonly t1: number;
  readonly widths: readonly number[];
}

function regimes(quick: boolean): Regime[] {
  return quick
    ? [
      { name: "dim 4, batch 2", dim: 4, batch: 2, t1: 1, widths: [100, 1000] },
      { name: "dim 5, batch 200", dim: 5, batch: 200, t1: 1, widths: [100, 1000] },
      { name: "dim 4, batch 2, t ∈ [0, 10]", dim: 4, batch: 2, t1: 10, widths: [100] },
      { name: "dim 5, batch 200, t ∈ [0, 10]", dim: 5, batch: 200, t1: 10, widths: [100] },
    ]
    : [
      { name: "dim 4, batch 2", dim: 4, batch: 2, t1: 1, widths: [100, 1000, 2000, 3000] },
      { name: "dim 5, batch 200", dim: 5, batch: 200, t1: 1, widths: [100, 1000, 2000, 3000] },
      { name: "dim 4, batch 2, t ∈ [0, 10]", dim: 4, batch: 2, t1: 10, widths: [100, 1000, 2000] },
      { name: "dim 5, batch 200, t ∈ [0, 10]", dim: 5, batch: 200, t1: 10, widths: [100, 1000] },
      // With the initial (untrained) weights t ∈ [0, 10] takes only 20–26 forward evaluations; t ∈ [0, 100]
      // takes 50–80, the range of a model in training.
      { name: "dim 4, batch 2, t ∈ [0, 100]", dim: 4, batch: 2, t1: 100, widths: [1000] },
      { name: "dim 5, batch 200, t ∈ [0, 100]", dim: 5, batch: 200, t1: 100, widths: [1000] },
    ];
}

function repeatsFor(width: number, quick: boolean): number {
  if (quick) return width <= 1000 ? 2 : 1;
  return width <= 1000 ? 5 : 3;
}

function asWeight(t: Tensor): WeightTensor {
  if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
    throw new TypeError(`Cannot send a ${t.dtype} tensor to the peers`);
  }
  return { dims: t.dims, data: t.data };
}

async function peerRequest(
  peer: PeerServer,
  request: { cmd: string } & Record<string, unknown>,
): Promise<PeerAnswer | string> {
  try {
    return await peer.request(request);
  } catch (e) {
    if (e instanceof PeerSetupError) throw e; // the server is gone: nothing more can run
    return (e as Error).message;
  }
}

/**
 * One gradient per method in quadjoint and in the peer at one width of `regime`, same θ and z0, interleaved
 * round robin after a warm-up round whose gradients are compared; quadjoint runs on `runtime` (the GPU check
 * passes its CUDA runtime), else on a CPU runtime of {@linkcode THREADS} threads made and disposed here.
 */
export async function measureGradients(
  peer: PeerServer,
  gqAvailable: boolean,
  regime: Regime,
  width: number,
  repeats: number,
  tmp: string,
  given?: Runtime,
): Promise<PeerGradientRecord[]> {
  const { dim, batch, t1 } = regime;
  const { dynamics, init, z0, problem } = benchmarkMlp(width, dim, batch, t1);
  const names = dynamics.params.map((p) => p.name);
  const params = names.reduce((s, n) => s + init[n]!.data.length, 0);
  const weightsPath = `${tmp}/weights.bin`, gradPath = `${tmp}/grad.bin`;
  const weights: Record<string, WeightTensor> = {};
  for (const n of names) weights[n] = asWeight(init[n]!);
  weights.z0 = asWeight(z0);
  await writeWeights(weightsPath, weights);
  const loaded = await peer.request({
    cmd: "model",
    weights: weightsPath,
    dim,
    hidden: [width, width],
    time: "concat",
  });
  if (loaded.params !== params) {
    throw new Error(`Peer model has ${loaded.params} parameters, quadjoint's ${params}: the two MLPs differ`);
  }
  const runtime = given ?? new Runtime({ threads: THREADS });
  // No dL/dt_k: the peers' t does not require grad, so torch computes none.
  const options = (method: GradientMethod) => ({ method, rtol: RTOL, atol: ATOL, runtime, timeGradients: false });
  const gradientRequest = (method: string, gradOut?: string) => ({
    cmd: "gradient",
    method,
    t1,
    rtol: RTOL,
    atol: ATOL,
    ...(gradOut ? { grad_out: gradOut } : {}),
  });
  const records: PeerGradientRecord[] = [];
  const results: GradientResult[] = [];
  const peerAnswers: (PeerAnswer | string)[] = [];
  // Warm-up round (untimed): compiles quadjoint's graphs, and gives both gradients for the agreement check.
  for (const { method, peer: peerName } of METHODS) {
    const name = methodName(method);
    const r = await odeGradient(problem, options(method));
    results.push(r);
    const hasPeer = name !== "gq" || gqAvailable;
    const a = hasPeer ? await peerRequest(peer, gradientRequest(name, gradPath)) : GQ_SKIPPED;
    peerAnswers.push(a);
    let dtheta: number | null = null, dz0: number | null = null, lossDiff: number | null = null;
    if (typeof a !== "string") {
      const g = await readWeights(gradPath);
      dtheta = relativeError(names.map((n) => r.dparams[n]!), names.map((n) => g[n]!.data));
      dz0 = relativeError([r.dz0], [g.z0!.data]);
      lossDiff = Math.abs(r.loss! - (a.loss as number)) / Math.abs(a.loss as number);
    }
    records.push({
      regime: regime.name,
      dim,
      batch,
      t1,
      width,
      params,
      method: name,
      peer: peerName,
      repeats,
      quadjointSeconds: NaN,
      peerSeconds: null,
      ratio: null,
      quadjointNfeForwardPerGradient: r.stats.forward.nfe,
      peerNfeForwardPerGradient: typeof a === "string" ? null : (a.nfe_forward as number),
      quadjointNfeBackwardPerGradient: r.stats.backward.nfe,
      peerNfeBackwardPerGradient: typeof a === "string" ? null : (a.nfe_backward as number),
      vjpCallsPerGradient: r.stats.vjpEvals,
      nodesPerGradient: r.stats.nodes,
      dthetaRelativeError: dtheta,
      dz0RelativeError: dz0,
      lossRelativeDifference: lossDiff,
      quadjointTimesSeconds: [],
      peerTimesSeconds: [],
      ...(typeof a === "string" ? { peerError: a } : {}),
    });
  }
  // Timed rounds, round robin: quadjoint m and peer m, then the next m; the pair's order alternates by round.
  for (let rep = 0; rep < repeats; rep++) {
    for (const [i, { method }] of METHODS.entries()) {
      const rec = records[i]!;
      const ours = async () => {
        const [ms] = await timeRepeats(() => odeGradient(problem, options(method)), { repeats: 1, warmup: 0 });
        rec.quadjointTimesSeconds.push(ms! / 1000);
      };
      const theirs = async () => {
        if (rec.peerError !== undefined) return;
        const a = await peerRequest(peer, gradientRequest(rec.method));
        if (typeof a === "string") rec.peerError = a;
        else rec.peerTimesSeconds.push(a.seconds as number);
      };
      for (const run of rep % 2 === 0 ? [ours, theirs] : [theirs, ours]) await run();
    }
  }
  for (const rec of records) {
    rec.quadjointSeconds = median(rec.quadjointTimesSeconds);
    if (rec.peerTimesSeconds.length > 0) {
      rec.peerSeconds = median(rec.peerTimesSeconds);
      rec.ratio = rec.quadjointSeconds / rec.peerSeconds;
    }
  }
  if (given === undefined) await runtime.dispose();
  return records;
}

function fmt(v: number | null, digits = 2): string {
  return v === null || !Number.isFinite(v) ? "—" : v.toFixed(digits);
}

// --- training loop -------------------------------------------------------------------------------

const PIPELINE = new URL("../pipelines/crossing-trajectories.yaml", import.meta.url).pathname;

/** Median of the epochs after the first (the first compiles graphs), or the only epoch. */
function steadyEpoch(seconds: readonly number[]): number {
  return median(seconds.length > 1 ? seconds.slice(1) : seconds);
}

async function measureTraining(
  peer: PeerServer,
  gqAvailable: boolean,
  quick: boolean,
  tmp: string,
): Promise<PeerTrainingRecord[]> {
  const config = await readPipeline(PIPELINE);
  const cells = expandSweep(config, PIPELINE);
  const widths = quick ? [1000] : [1000, 3000];
  const epochs = quick ? 2 : 5;
  const out: PeerTrainingRecord[] = [];
  for (const width of widths) {
    for (const { method, peer: peerName } of METHODS) {
      const name = methodName(method);
      const cell = cells.find((c) =>
        c.values["model.dynamics.width"] === width && c.values["gradient.method"] === name
      );
      if (!cell) throw new Error(`${PIPELINE} has no cell for width ${width} and method ${name}`);
      const c = cell.config, train = c.train!;
      const task = buildTask(c, makeDataset(c.data));
      const lr = learningRateFor(train.optimizer.lr, task.width);
      const optimizer = {
        lr,
        betas: train.optimizer.betas,
        eps: train.optimizer.eps,
        weightDecay: train.optimizer.weightDecay,
      };
      // The same start for the peer: the dynamics' initial θ, the data and the targets at the last time.
      const { dynamics } = task.model;
      const weights: Record<string, WeightTensor> = {};
      for (const p of dynamics.params) weights[p.name] = asWeight(task.params[p.name]!);
      const weightsPath = `${tmp}/train.bin`;
      await writeWeights(weightsPath, weights);
      const all = task.train.batch(Int32Array.from({ length: task.train.size }, (_, i) => i));
      const outDim = task.model.readout.outDim, n = all.size;
      const rows = (data: Float64Array, cols: number, from = 0) =>
        Array.from({ length: n }, (_, i) => Array.from(data.subarray(from + i * cols, from + (i + 1) * cols)));
      const mlp = c.model!.dynamics;
      if (mlp.kind !== "mlp") {
        throw new TypeError(`peers: the crossing pipeline's dynamics must be an mlp, not ${mlp.kind}`);
      }
      let peerError: string | undefined = name !== "gq" || gqAvailable ? undefined : GQ_SKIPPED;
      if (peerError === undefined) {
        const started = await peerRequest(peer, {
          cmd: "train_start",
          weights: weightsPath,
          dim: dynamics.stateShape[0]!,
          hidden: hiddenWidths(mlp),
          time: mlp.time,
          x: rows(all.x, task.model.dataDim),
          target: rows(all.targets, outDim, (all.times.length - 1) * n * outDim),
          method: name,
          lr,
          betas: train.optimizer.betas,
          eps: train.optimizer.eps,
          t1: all.times.at(-1)!,
          rtol: c.solve.rtol,
          atol: c.solve.atol,
        });
        if (typeof started === "string") peerError = started;
      }
      const peerEpochs: PeerAnswer[] = [];
      const peerEpoch = async () => {
        if (peerError !== undefined || peerEpochs.length >= epochs) return;
        const a = await peerRequest(peer, { cmd: "train_epoch" });
        if (typeof a === "string") peerError = a;
        else peerEpochs.push(a);
      };
      // Epochs interleaved in rounds whose order alternates: q1 p1 | p2 q2 | q3 p3 | p4 q4 …
      const runtime = new Runtime({ threads: THREADS });
      const q = await trainNeuralOde({
        runtime,
        model: task.model,
        params: task.params,
        train: task.train,
        epochs,
        seed: train.seed,
        optimizer,
        // The gradient rows' method (the peer's step control), not the pipeline's default.
        gradient: { ...solveSettings(c.solve), method },
        onEpoch: async (e) => {
          if (e.epoch % 2 === 1) {
            await peerEpoch();
            await peerEpoch();
          }
        },
      });
      await runtime.dispose();
      const peerDone = peerError === undefined && peerEpochs.length === epochs;
      const qs = q.history.map((h) => h.epochSeconds);
      const ps = peerDone ? peerEpochs.map((a) => a.seconds as number) : null;
      const pl = peerDone ? peerEpochs.map((a) => a.loss as number) : null;
      const last = q.history.at(-1)!, peerLast = peerDone ? peerEpochs.at(-1)! : null;
      const rec: PeerTrainingRecord = {
        width,
        method: name,
        peer: peerName,
        epochs,
        quadjointEpochSeconds: steadyEpoch(qs),
        peerEpochSeconds: ps ? steadyEpoch(ps) : null,
        ratio: ps ? steadyEpoch(qs) / steadyEpoch(ps) : null,
        quadjointFirstEpochSeconds: qs[0]!,
        peerFirstEpochSeconds: ps ? ps[0]! : null,
        quadjointFirstLoss: q.history[0]!.trainLoss,
        peerFirstLoss: pl ? pl[0]! : null,
        quadjointLastLoss: last.trainLoss,
        peerLastLoss: pl ? pl.at(-1)! : null,
        quadjointNfeForwardPerEpoch: last.nfeForwardPerEpoch,
        peerNfeForwardPerEpoch: peerLast ? (peerLast.nfe_forward as number) : null,
        quadjointNfeBackwardPerEpoch: last.nfeBackwardPerEpoch,
        peerNfeBackwardPerEpoch: peerLast ? (peerLast.nfe_backward as number) : null,
        ...(peerError !== undefined ? { peerError } : {}),
      };
      out.push(rec);
      const seconds = `${rec.quadjointEpochSeconds.toFixed(3)} s/epoch vs ${fmt(rec.peerEpochSeconds, 3)}`;
      console.log(`training width ${width} ${name}: ${seconds} (ratio ${fmt(rec.ratio)})`);
      if (rec.peerError && rec.peerError !== GQ_SKIPPED) console.log(`  peer failed: ${rec.peerError}`);
    }
  }
  return out;
}

// --- machine limits ------------------------------------------------------------------------------

/**
 * Measured limits of this machine through the same runtime settings: the best of the repeats (a peak, where the
 * gradients' times are medians), so that a noisy stretch of the run cannot put a gradient above its limit.
 */
export interface MachineLimits {
  /** The MatMul [m, k] × [k, n] timed, and its rate. */
  matmul: { m: number; k: number; n: number; milliseconds: number; gflops: number };
  /** The batch-2 product [2, k] × [k, n]: weight streaming through ORT. */
  gemv: { m: number; k: number; n: number; milliseconds: number; gflops: number; gbytesPerSecond: number };
  /** Float32Array copy of `bytes` bytes: (read + write) bytes per second. */
  copy: { bytes: number; milliseconds: number; gbytesPerSecond: number };
  /** ORT Identity on the same tensor (its output is copied out too): 2·bytes per run. */
  identity: { bytes: number; milliseconds: number; gbytesPerSecond: number };
}

async function matmulRate(runtime: Runtime, m: number, k: number, n: number, quick: boolean) {
  const b = new GraphBuilder("matmul");
  const x = b.input("a", "float32", [m, k]);
  b.output(b.op1("MatMul", [x, b.input("b", "float32", [k, n])]), "c");
  const s = await runtime.compile(b.build());
  const rng = new Random(3);
  const feeds = {
    a: tensor(rng.fillUniform(new Float32Array(m * k), -1, 1), [m, k]),
    b: tensor(rng.fillUniform(new Float32Array(k * n), -1, 1), [k, n]),
  };
  const ms = Math.min(
    ...await timeRepeats(() => s.run(feeds), { repeats: quick ? 10 : 30, budgetMs: quick ? 500 : 3000 }),
  );
  return { m, k, n, milliseconds: ms, gflops: (2 * m * k * n) / (ms * 1e6) };
}

/** The wide-batch limit: a [batch, width] × [width, width] MatMul's rate. */
async function matmulLimit(width: number, batch: number, quick: boolean): Promise<MachineLimits["matmul"]> {
  const runtime = new Runtime({ threads: THREADS });
  const matmul = await matmulRate(runtime, batch, width, width, quick);
  await runtime.dispose();
  return matmul;
}

/** The small-state limits: the batch-2 product's weight streaming, a Float32Array copy and ORT's Identity. */
async function bandwidthLimits(width: number, quick: boolean): Promise<Omit<MachineLimits, "matmul">> {
  const runtime = new Runtime({ threads: THREADS });
  const g = await matmulRate(runtime, 2, width, width, quick);
  const gemv = { ...g, gbytesPerSecond: (4 * g.k * g.n) / (g.milliseconds * 1e6) };
  const count = 32 * 1024 * 1024, bytes = 4 * count;
  const src = new Random(4).fillUniform(new Float32Array(count), -1, 1), dst = new Float32Array(count);
  const copyMs = Math.min(...await timeRepeats(() => Promise.resolve(dst.set(src)), { repeats: quick ? 5 : 15 }));
  const b = new GraphBuilder("identity");
  b.output(b.op1("Identity", [b.input("x", "float32", [count])]), "y");
  const s = await runtime.compile(b.build());
  const idMs = Math.min(...await timeRepeats(() => s.run({ x: tensor(src, [count]) }), { repeats: quick ? 5 : 15 }));
  await runtime.dispose();
  return {
    gemv,
    copy: { bytes, milliseconds: copyMs, gbytesPerSecond: (2 * bytes) / (copyMs * 1e6) },
    identity: { bytes, milliseconds: idMs, gbytesPerSecond: (2 * bytes) / (idMs * 1e6) },
  };
}

/** quadjoint's gradients of `rows` set against the machine's `limits`, one record each (the work model of _peer_costs.ts). */
export function limitRecords(rows: readonly PeerGradientRecord[], limits: MachineLimits): PeerLimitRecord[] {
  const out: PeerLimitRecord[] = [];
  for (const r of rows) {
    const sizes = [r.dim + 1, r.width, r.width, r.dim];
    const w = gradientWork(r.method, {
      nfeForward: r.quadjointNfeForwardPerGradient,
      nfeBackward: r.quadjointNfeBackwardPerGradient,
      vjpEvals: r.vjpCallsPerGradient,
      nodes: r.nodesPerGradient,
    }, { keptActivations: DIRECT_METHOD.activations === "keep" });
    // Wide batch: limited by the MatMul rate; small state: by the bandwidth of reading weights and gradients.
    const wide = r.batch > 2;
    const work = wide ? 2 * w.units * mlpMacs(sizes, r.batch) : 4 * w.units * mlpParams(sizes);
    const limit = wide ? limits.matmul.gflops : limits.copy.gbytesPerSecond;
    const achieved = work / (r.quadjointSeconds * 1e9);
    out.push({
      regime: r.regime,
      width: r.width,
      batch: r.batch,
      method: r.method,
      workUnits: w.units,
      gradientSeconds: r.quadjointSeconds,
      achievedRate: achieved,
      rateUnit: wide ? "GFLOP/s" : "GB/s",
      limitRate: limit,
      fraction: achieved / limit,
      peerFraction: r.peerSeconds === null ? null : work / (r.peerSeconds * 1e9) / limit,
    });
  }
  return out;
}

// --- report --------------------------------------------------------------------------------------

/** Prints the ratio table (`title`) and the per-method table of gradient rows: the terminal's view of them. */
export function printPeerGradients(title: string, rows: readonly PeerGradientRecord[]): void {
  printTable(title, ratioTable(rows), [
    "regime",
    "width",
    "fwd NFE q/peer",
    "gq/GQ",
    "direct/odeint",
    "adjoint/odeint_adjoint",
    "seminorm/seminorm",
    "qj gq/adjoint",
    "peer gq/adjoint",
  ]);
  printTable("Per method", rows, [
    "regime",
    "width",
    "method",
    "quadjointSeconds",
    "peerSeconds",
    "ratio",
    "quadjointNfeForwardPerGradient",
    "peerNfeForwardPerGradient",
    "quadjointNfeBackwardPerGradient",
    "peerNfeBackwardPerGradient",
    "dthetaRelativeError",
    "dz0RelativeError",
  ]);
}

/** One row per regime and width: each method's quadjoint ÷ peer ratio. */
function ratioTable(rows: readonly PeerGradientRecord[]) {
  const keys = [...new Set(rows.map((r) => `${r.regime}|${r.width}`))];
  return keys.map((k) => {
    const cell = rows.filter((r) => `${r.regime}|${r.width}` === k);
    const by = (m: string) => cell.find((r) => r.method === m);
    const within = (lib: "quadjointSeconds" | "peerSeconds") => {
      const g = by("gq")?.[lib], a = by("adjoint")?.[lib];
      return g != null && a != null ? g / a : null;
    };
    const direct = by("direct");
    return {
      regime: cell[0]!.regime,
      width: cell[0]!.width,
      "fwd NFE q/peer": `${direct?.quadjointNfeForwardPerGradient}/${direct?.peerNfeForwardPerGradient ?? "—"}`,
      "gq/GQ": by("gq")?.ratio ?? null,
      "direct/odeint": by("direct")?.ratio ?? null,
      "adjoint/odeint_adjoint": by("adjoint")?.ratio ?? null,
      "seminorm/seminorm": by("seminorm")?.ratio ?? null,
      "qj gq/adjoint": within("quadjointSeconds"),
      "peer gq/adjoint": within("peerSeconds"),
    };
  });
}

function ratioSpec(rows: readonly PeerGradientRecord[]): ChartSpec {
  const values = rows.filter((r) => r.ratio !== null).map((r) => ({
    regime: r.regime,
    width: r.width,
    method: r.method,
    ratio: r.ratio,
    quadjointSeconds: r.quadjointSeconds,
    peerSeconds: r.peerSeconds,
  }));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "quadjoint ÷ peer, seconds per gradient (below 1: quadjoint faster)",
    data: { values },
    facet: { field: "regime", type: "nominal", title: null },
    columns: 2,
    resolve: { scale: { x: "independent" } },
    spec: {
      width: 300,
      height: 200,
      layer: [
        {
          mark: { type: "line", point: true },
          encoding: {
            x: { field: "width", type: "quantitative", scale: { type: "log", nice: false }, axis: { grid: true } },
            y: { field: "ratio", type: "quantitative", scale: { type: "log" }, title: "quadjoint ÷ peer" },
            color: {
              field: "method",
              type: "nominal",
              scale: methodColourScale(values.map((v) => v.method)),
            },
            tooltip: [
              { field: "method", type: "nominal" },
              { field: "width", type: "quantitative" },
              { field: "ratio", type: "quantitative", format: ".3~g" },
              { field: "quadjointSeconds", type: "quantitative", format: ".4~g" },
              { field: "peerSeconds", type: "quantitative", format: ".4~g" },
            ],
          },
        },
        { mark: { type: "rule", strokeDash: [4, 4] }, encoding: { y: { datum: 1 } } },
      ],
    },
  } as ChartSpec;
}

/** The cells of `records` under `columns`: numbers and strings as they are, anything else empty. */
function tableRows(records: readonly object[], columns: ReportTable["columns"]): ReportTable["rows"] {
  return records.map((r) =>
    Object.fromEntries(columns.map((c) => {
      const v = (r as Record<string, unknown>)[c.key];
      return [c.key, typeof v === "number" || typeof v === "string" ? v : null];
    }))
  );
}

function htmlReport(
  versions: Record<string, unknown>,
  gradients: readonly PeerGradientRecord[],
  training: readonly PeerTrainingRecord[],
  limits: MachineLimits | undefined,
  limitRows: readonly PeerLimitRecord[],
  quick: boolean,
): string {
  const ratioRows = ratioTable(gradients);
  const ratioCols: ReportTable["columns"] = [
    { key: "regime", label: "regime" },
    { key: "width", label: "width", format: "int" },
    { key: "fwd NFE q/peer", label: "fwd NFE q/peer", description: "forward NFE of direct: quadjoint / peer" },
    { key: "gq/GQ", label: "gq ÷ authors' GQ", format: "ratio" },
    { key: "direct/odeint", label: "direct ÷ odeint", format: "ratio" },
    { key: "adjoint/odeint_adjoint", label: "adjoint ÷ odeint_adjoint", format: "ratio" },
    { key: "seminorm/seminorm", label: "seminorm ÷ seminorm", format: "ratio" },
    { key: "qj gq/adjoint", label: "quadjoint gq/adjoint", format: "ratio" },
    { key: "peer gq/adjoint", label: "peer GQ/adjoint", format: "ratio" },
  ];
  const detailColumns: ReportTable["columns"] = [
    { key: "regime", label: "regime" },
    { key: "width", label: "width", format: "int" },
    { key: "method", label: "method" },
    { key: "quadjointSeconds", label: "quadjoint s" },
    { key: "peerSeconds", label: "peer s" },
    { key: "ratio", label: "ratio", format: "ratio" },
    { key: "quadjointNfeForwardPerGradient", label: "fwd NFE q", format: "int" },
    { key: "peerNfeForwardPerGradient", label: "fwd NFE peer", format: "int" },
    { key: "quadjointNfeBackwardPerGradient", label: "bwd NFE q", format: "int" },
    { key: "peerNfeBackwardPerGradient", label: "bwd NFE peer", format: "int" },
    { key: "dthetaRelativeError", label: "dL/dθ rel. err", description: "‖q − peer‖ / ‖peer‖ over all of θ" },
    { key: "dz0RelativeError", label: "dL/dz0 rel. err" },
  ];
  const detail: ReportTable = {
    caption: "Per method: median seconds, NFE and gradient agreement",
    columns: detailColumns,
    rows: tableRows(gradients, detailColumns),
    note: "Peer backward NFE counts every call of the torch module during backward(); 0 for odeint, " +
      "which backpropagates through the recorded graph instead.",
  };
  const trainTableColumns: ReportTable["columns"] = [
    { key: "width", label: "width", format: "int" },
    { key: "method", label: "method" },
    { key: "epochs", label: "epochs", format: "int" },
    { key: "quadjointEpochSeconds", label: "quadjoint s/epoch" },
    { key: "peerEpochSeconds", label: "peer s/epoch" },
    { key: "ratio", label: "ratio", format: "ratio" },
    { key: "quadjointFirstLoss", label: "quadjoint first loss" },
    { key: "peerFirstLoss", label: "peer first loss" },
    { key: "quadjointLastLoss", label: "quadjoint last loss" },
    { key: "peerLastLoss", label: "peer last loss" },
    { key: "quadjointNfeForwardPerEpoch", label: "fwd NFE q", format: "int" },
    { key: "peerNfeForwardPerEpoch", label: "fwd NFE peer", format: "int" },
    { key: "quadjointNfeBackwardPerEpoch", label: "bwd NFE q", format: "int" },
    { key: "peerNfeBackwardPerEpoch", label: "bwd NFE peer", format: "int" },
  ];
  const trainTable: ReportTable = {
    caption: "Crossing trajectories: seconds per epoch (median after the first epoch)",
    columns: trainTableColumns,
    rows: tableRows(training, trainTableColumns),
    note: "Epochs interleaved: quadjoint 1, peer 1, peer 2, quadjoint 2, quadjoint 3, … (the order alternates by " +
      "round). NFE of the last epoch.",
  };
  const limitTableColumns: ReportTable["columns"] = [
    { key: "regime", label: "regime" },
    { key: "width", label: "width", format: "int" },
    { key: "method", label: "method" },
    { key: "workUnits", label: "work (f evals)", format: "int" },
    { key: "gradientSeconds", label: "seconds" },
    { key: "achievedRate", label: "achieved" },
    { key: "rateUnit", label: "unit" },
    { key: "limitRate", label: "limit" },
    { key: "fraction", label: "fraction of limit" },
    { key: "peerFraction", label: "peer (same work)" },
  ];
  const limitTable: ReportTable = {
    caption: "quadjoint's gradients against the machine's limits",
    columns: limitTableColumns,
    rows: tableRows(limitRows, limitTableColumns),
    note: "Work model: f = 1 unit, f + aᵀ∂f/∂z = 2, f + aᵀ∂f/∂z + aᵀ∂f/∂θ (direct's stage VJPs, the adjoints' " +
      "augmented calls, each gq node) = 3; a unit is batch·Σ in·out multiply-adds (batch 200: against the MatMul " +
      "rate) or one read of the float32 weights (batch 2: against the copy bandwidth).",
  };
  const limitText = limits
    ? `MatMul [${limits.matmul.m}, ${limits.matmul.k}] × [${limits.matmul.k}, ${limits.matmul.n}]: ` +
      `${limits.matmul.gflops.toFixed(1)} GFLOP/s. Batch-2 product [2, ${limits.gemv.k}] × [${limits.gemv.k}, ` +
      `${limits.gemv.n}]: ${limits.gemv.gflops.toFixed(1)} GFLOP/s, ${limits.gemv.gbytesPerSecond.toFixed(1)} GB/s ` +
      `of weights. Float32Array copy of ${limits.copy.bytes / 2 ** 20} MiB: ` +
      `${limits.copy.gbytesPerSecond.toFixed(1)} GB/s (read + write); ORT Identity on it: ` +
      `${limits.identity.gbytesPerSecond.toFixed(1)} GB/s.`
    : "Not measured.";
  return renderReport({
    title: "quadjoint vs the PyTorch peers",
    subtitle: SUBTITLE,
    meta: {
      date: new Date().toISOString(),
      mode: quick ? "quick" : "full",
      cpus: navigator.hardwareConcurrency,
      cpuModel: machineCpu().model ?? "unknown",
      deno: Deno.version.deno,
      ...Object.fromEntries(Object.entries(versions).map(([k, v]) => [k, String(v)])),
    },
    sections: [
      {
        title: "Ratios",
        text: "Each ratio is quadjoint's median seconds for one gradient divided by the peer's, measured in the same " +
          "run with interleaved repeats: below 1 quadjoint is faster. Read ratios, not absolute times.",
        charts: [ratioSpec(gradients)],
        table: [{ caption: "quadjoint ÷ peer", columns: ratioCols, rows: ratioRows }, detail],
      },
      { title: "Training loop", table: trainTable },
      { title: "Machine limits", text: limitText, table: limitTable },
    ],
  });
}

const SUBTITLE = "One gradient of MLP dynamics (2 hidden softplus layers), dopri5 at rtol = atol = 1e-3, float32, " +
  "2 threads, the same θ and z0 in both libraries";

/**
 * The settings, the peer's versions and the machine's limits as a results
 * file's flat meta: `rtol`, `torch`, …, and each limit as group + field
 * (`matmulGflops`, `copyGbytesPerSecond`, `identityMilliseconds`, …).
 */
export function resultsMeta(
  versions: Record<string, unknown>,
  limits: MachineLimits,
  quick: boolean,
): Record<string, string | number | boolean | null> {
  const meta: Record<string, string | number | boolean | null> = {
    rtol: RTOL,
    atol: ATOL,
    solver: "dopri5",
    threads: THREADS,
    dtype: "float32",
    quick,
  };
  for (const [k, v] of Object.entries(versions)) meta[k] = typeof v === "boolean" || v === null ? v : String(v);
  for (const [group, values] of Object.entries(limits)) {
    for (const [k, v] of Object.entries(values as Record<string, number>)) {
      meta[`${group}${k[0]!.toUpperCase()}${k.slice(1)}`] = Number.isFinite(v) ? v : null;
    }
  }
  return meta;
}

// --- entry point ---------------------------------------------------------------------------------

/** Runs the peer benchmark; `quick` trims sizes, repeats and epochs; `gqPath` locates the authors' GQ checkout. */
export async function run(options: BenchOptions = {}): Promise<void> {
  const quick = options.quick ?? false;
  const tmp = await Deno.makeTempDir({ prefix: "quadjoint-peers-" });
  let peer: PeerServer | undefined;
  try {
    const python = await ensurePeerPython();
    // Subnormals flushed on both sides: the runtime's default (RuntimeOptions.flushDenormals), torch set to match.
    peer = PeerServer.start(python, { threads: THREADS, flushDenormals: true, gqPath: options.gqPath });
    const hello = await peer.request({ cmd: "hello" });
    const gqAvailable = hello.gq === true;
    const versions = {
      python: hello.python,
      torch: hello.torch,
      torchdiffeq: hello.torchdiffeq,
      gq: gqAvailable,
      torchFlushesDenormals: hello.flush_denormals === true,
    };
    console.log(
      `peers: torch ${hello.torch}, torchdiffeq ${hello.torchdiffeq}, ${hello.threads} torch threads, ` +
        `${THREADS} ORT threads, subnormals flushed ${
          hello.flush_denormals === true ? "on both sides" : "by quadjoint only"
        }; authors' GQ ${gqAvailable ? "loaded" : `skipped (${hello.gq_error})`}`,
    );
    if (!gqAvailable && !options.gqPath) {
      console.log("peers: pass --gq-path DIR (the folder holding torch_gq_adjoint/) for the authors' GQ rows");
    }

    const gradients: PeerGradientRecord[] = [];
    // Limits at the largest width measured at t ∈ [0, 1] with batch 200 (at most 2000), for both batches, measured right
    // after the rows they are set against: the machine's speed drifts by a third within minutes, and limits measured
    // at the end of the run read gq at 0.86 of the MatMul rate in one run and 0.53 in the next.
    const all = regimes(quick);
    const wide = Math.max(...all.filter((r) => r.t1 === 1 && r.batch > 2).flatMap((r) => r.widths));
    const limitWidth = quick ? wide : Math.min(wide, 2000);
    const limitsNear: { matmul?: MachineLimits["matmul"]; bandwidth?: Omit<MachineLimits, "matmul"> } = {};
    for (const regime of all) {
      for (const width of regime.widths) {
        const rows = await measureGradients(peer, gqAvailable, regime, width, repeatsFor(width, quick), tmp);
        gradients.push(...rows);
        if (regime.t1 === 1 && width === limitWidth) {
          if (regime.batch > 2) limitsNear.matmul = await matmulLimit(limitWidth, 200, quick);
          else limitsNear.bandwidth = await bandwidthLimits(limitWidth, quick);
        }
        console.log(
          `${regime.name}, width ${width} (fwd NFE ${rows[0]!.quadjointNfeForwardPerGradient}/${
            rows[0]!.peerNfeForwardPerGradient ?? "—"
          }): ` + rows.map((r) => `${r.method} ${fmt(r.ratio)}`).join(", "),
        );
        for (const r of rows) {
          if (r.peerError && r.peerError !== GQ_SKIPPED) console.log(`  ${r.method} peer failed: ${r.peerError}`);
        }
      }
    }

    const training = await measureTraining(peer, gqAvailable, quick, tmp);

    // The MatMul rate from beside the batch-200 rows, the bandwidths from beside the batch-2 ones.
    const { matmul, bandwidth } = limitsNear;
    if (!matmul || !bandwidth) {
      throw new Error(`peers: no t ∈ [0, 1] rows at width ${limitWidth} to measure the limits beside`);
    }
    const limits: MachineLimits = { matmul, ...bandwidth };
    const limitRows = limitRecords(gradients.filter((r) => r.t1 === 1 && r.width === limitWidth), limits);

    printPeerGradients(
      "quadjoint ÷ peer, seconds per gradient (dopri5, rtol = atol = 1e-3, float32, 2 threads)",
      gradients,
    );
    printTable("Crossing trajectories training, seconds per epoch", training, [
      "width",
      "method",
      "epochs",
      "quadjointEpochSeconds",
      "peerEpochSeconds",
      "ratio",
      "quadjointFirstLoss",
      "peerFirstLoss",
      "quadjointLastLoss",
      "peerLastLoss",
    ]);
    console.log(
      `Limits: MatMul [${limits.matmul.m}, ${limits.matmul.k}] x [${limits.matmul.k}, ${limits.matmul.n}] ` +
        `${limits.matmul.gflops.toFixed(1)} GFLOP/s; batch-2 product ${limits.gemv.gflops.toFixed(1)} GFLOP/s ` +
        `(${limits.gemv.gbytesPerSecond.toFixed(1)} GB/s of weights); Float32Array copy ` +
        `${limits.copy.gbytesPerSecond.toFixed(1)} GB/s; ` +
        `ORT Identity ${limits.identity.gbytesPerSecond.toFixed(1)} GB/s`,
    );
    printTable("quadjoint's gradients against the machine's limits", limitRows, [
      "regime",
      "width",
      "method",
      "workUnits",
      "gradientSeconds",
      "achievedRate",
      "rateUnit",
      "limitRate",
      "fraction",
      "peerFraction",
    ]);

    const path = await writeBenchResults(
      "peers",
      "quadjoint vs the PyTorch peers",
      { peerGradients: gradients, peerTraining: training, peerLimits: limitRows },
      { subtitle: SUBTITLE, meta: resultsMeta(versions, limits, quick) },
    );
    const html = `${REPORT_DIR}/peers.html`;
    await writeReport(html, htmlReport(versions, gradients, training, limits, limitRows, quick));
    console.log(`Wrote ${path} and ${html}`);
  } catch (e) {
    if (e instanceof PeerSetupError) {
      console.error(`peers: ${e.message}`);
      Deno.exitCode = 1;
      return;
    }
    throw e;
  } finally {
    await peer?.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
