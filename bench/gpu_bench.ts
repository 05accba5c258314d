/**
 * The GPU check, `deno task bench gpu [--gq-path DIR]` (issue #14, part 4):
 * on a machine with an NVIDIA GPU and `deno task setup-gpu` done,
 *
 * 1. quickstart's dynamics (MLP of width 32, two softplus layers, time
 *    concatenated, state dim 5 = 2 + 3 augmented, batch 200) on `cuda`: every
 *    gradient method's dL/dz0 and dL/dθ must equal the CPU's to a relative
 *    1e-4 in float32 (max |Δ| over max |g|, per tensor);
 * 2. one-gradient times per method on `cuda` at widths 1000, 2000 and 3000,
 *    for a small state (dim 4, batch 2) and a wide batch (dim 5, batch 200),
 *    after one untimed run that compiles the graphs;
 * 3. where a Python with torch and torchdiffeq is found (bench/.venv or
 *    python3; nothing is installed), the peers benchmark's gradient rows at
 *    the same sizes with torch on the same GPU (`--device cuda` of
 *    bench/peers/peers.py; the authors' GQ from `--gq-path`): same θ and z0,
 *    interleaved repeats, gradient agreement, quadjoint ÷ torch ratios;
 *
 * into reports/bench/gpu.json (`gradientTimings`, methods labelled
 * `<method> (cuda)`, and `peerGradients`; the check's errors in `meta`),
 * written again after each part, so a run cut short keeps what it measured.
 * Where no CUDA device can start it prints one line saying why and measures
 * nothing. A deadline keeps the run under ten minutes: sizes not reached are
 * left out and named.
 *
 * Not yet here: seconds per epoch for crossing trajectories at width 3000.
 *
 * @module
 */
import { adjoint, direct, gq, type GradientMethod, seminorm } from "../src/gradients/method.ts";
import { odeGradient } from "../src/gradients/ode_gradient.ts";
import type { GradientResult } from "../src/gradients/problem.ts";
import { GraphBuilder } from "../src/onnx/builder.ts";
import { type GradientTimingRecord, type PeerGradientRecord, perGradientCosts } from "../src/results/records.ts";
import { type Backend, BackendError, nvidiaDriverVersion, Runtime } from "../src/runtime/session.ts";
import { benchmarkMlp } from "./_mlp_problem.ts";
import { findPeerPython, PeerServer } from "./_peer_server.ts";
import { GQ_SKIPPED, measureGradients, printPeerGradients, type Regime } from "./peers_bench.ts";
import { median, printTable, timeRepeats, writeBenchResults } from "./_report.ts";

const METHODS: { label: string; method: GradientMethod }[] = [
  { label: "direct", method: direct() },
  { label: "adjoint", method: adjoint() },
  { label: "seminorm", method: seminorm() },
  { label: "gq", method: gq() },
];

/** The check's bound: max |g_cuda − g_cpu| / max |g_cpu| per tensor. */
export const GRADIENT_RTOL = 1e-4;

/** Whole-run deadline, under the ten minutes the check is given. */
const DEADLINE_MS = 8.5 * 60 * 1000;

/** max |a − b| / max |b| (0 for two zero tensors). */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`Lengths differ: ${a.length} and ${b.length}`);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

/** The worst relative error over dL/dz0 and each dL/dθ of two gradients of one problem. */
export function worstGradientError(got: GradientResult, want: GradientResult): number {
  let worst = relativeError(got.dz0, want.dz0);
  for (const [name, g] of Object.entries(want.dparams)) {
    const h = got.dparams[name];
    if (h === undefined) return Infinity;
    worst = Math.max(worst, relativeError(h, g));
  }
  return worst;
}

/** Why CUDA cannot start here, or `undefined` when a session starts on it. */
async function cudaUnavailable(runtime: Runtime): Promise<string | undefined> {
  const b = new GraphBuilder("probe");
  b.output(b.op1("Relu", [b.input("x", "float32", [1])]), "y");
  try {
    await runtime.compile(b.build());
    return undefined;
  } catch (e) {
    if (e instanceof BackendError) return e.message.replace(/^Backend cuda cannot start: /, "");
    throw e;
  }
}

async function gradientCheck(cuda: Runtime, cpu: Runtime): Promise<Record<string, number>> {
  const { problem } = benchmarkMlp(32, 5, 200, 1);
  const errors: Record<string, number> = {};
  for (const { label, method } of METHODS) {
    const opts = { method, rtol: 1e-3, atol: 1e-3 };
    const want = await odeGradient(problem, { ...opts, runtime: cpu });
    const got = await odeGradient(problem, { ...opts, runtime: cuda });
    errors[label] = worstGradientError(got, want);
  }
  return errors;
}

/** The timed sizes: a small state (dim 4, batch 2) and a wide batch (dim 5, batch 200), t ∈ [0, 1]. */
const SHAPES = [[4, 2], [5, 200]] as const;

async function timeWidths(
  cuda: Runtime,
  widths: readonly number[],
  start: number,
): Promise<{ records: GradientTimingRecord[]; skipped: string[] }> {
  const records: GradientTimingRecord[] = [];
  const skipped: string[] = [];
  for (const [dim, batch] of SHAPES) {
    for (const width of widths) {
      if (performance.now() - start > DEADLINE_MS) {
        skipped.push(`width ${width} dim ${dim} batch ${batch}`);
        continue;
      }
      const { init, problem } = benchmarkMlp(width, dim, batch, 1);
      const params = Object.values(init).reduce((s, t) => s + t.data.length, 0);
      for (const { label, method } of METHODS) {
        let last: GradientResult | undefined;
        const ms = await timeRepeats(async () => {
          last = await odeGradient(problem, { method, rtol: 1e-3, atol: 1e-3, runtime: cuda });
        }, { repeats: 3, warmup: 1, minRepeats: 1, budgetMs: 20_000 });
        records.push({
          method: `${label} (${cuda.backend})`,
          solver: "dopri5",
          width,
          batch,
          dim,
          t1: 1,
          params,
          tolerance: 1e-3,
          gradientSeconds: median(ms) / 1000,
          ...perGradientCosts(last!.stats),
          vjpCallsPerGradient: last!.stats.vjpEvals,
          heldBytes: last!.stats.heldBytes,
        });
      }
      console.log(`width ${width} dim ${dim} batch ${batch}: done`);
    }
  }
  return { records, skipped };
}

/** What the torch part measured, or why it measured nothing. */
interface PeerPart {
  rows: PeerGradientRecord[];
  skipped: string[];
  /** "torch X, torchdiffeq Y on <device>", or why there are no torch rows. */
  said: string;
}

/**
 * The peers benchmark's gradient rows with torch on the GPU (the same device as `cuda`'s, or the CPU when `cuda`
 * is the CPU standing in), at `widths` for each of {@linkcode SHAPES}; `measured` gets the rows so far after
 * each width.
 */
async function torchOnGpu(
  cuda: Runtime,
  widths: readonly number[],
  start: number,
  gqPath: string | undefined,
  measured: (rows: readonly PeerGradientRecord[]) => Promise<void>,
): Promise<PeerPart> {
  const found = await findPeerPython(["torch", "torchdiffeq"]);
  if (found === undefined) {
    return { rows: [], skipped: [], said: "no Python with torch and torchdiffeq (bench/.venv or python3)" };
  }
  const device = cuda.backend === "cuda" ? "cuda" : "cpu";
  const peer = PeerServer.start(found.python, { threads: 2, flushDenormals: true, gqPath, device });
  const tmp = await Deno.makeTempDir({ prefix: "quadjoint-gpu-" });
  try {
    let hello: Record<string, unknown>;
    try {
      hello = await peer.request({ cmd: "hello" });
    } catch (e) {
      return { rows: [], skipped: [], said: `torch cannot run on ${device}: ${(e as Error).message}` };
    }
    const gqAvailable = hello.gq === true;
    const said = `${found.versions} on ${hello.device_name || device}; authors' GQ ${
      gqAvailable ? "loaded" : `skipped (${hello.gq_error})`
    }`;
    const rows: PeerGradientRecord[] = [], skipped: string[] = [];
    for (const [dim, batch] of SHAPES) {
      const regime: Regime = { name: `dim ${dim}, batch ${batch}`, dim, batch, t1: 1, widths };
      for (const width of widths) {
        if (performance.now() - start > DEADLINE_MS) {
          skipped.push(`torch width ${width} dim ${dim} batch ${batch}`);
          continue;
        }
        const these = await measureGradients(peer, gqAvailable, regime, width, 3, tmp, cuda);
        rows.push(...these);
        console.log(
          `torch, ${regime.name}, width ${width}: ` +
            these.map((r) => `${r.method} ${r.ratio?.toFixed(2) ?? "—"}`).join(", "),
        );
        for (const r of these) {
          if (r.peerError && r.peerError !== GQ_SKIPPED) console.log(`  ${r.method} peer failed: ${r.peerError}`);
        }
        await measured(rows);
      }
    }
    return { rows, skipped, said };
  } finally {
    await peer.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** Options of the GPU check's {@linkcode run}. */
export interface GpuBenchOptions {
  /** Time width 1000 only. @default false */
  quick?: boolean;
  /** The backend checked against the CPU (`cpu` makes a dry run of the script, for its test). @default "cuda" */
  backend?: Backend;
  /** Widths to time. @default [1000, 2000, 3000] ([1000] with `quick`) */
  widths?: readonly number[];
  /** Folder of gpu.json. @default "reports/bench" */
  dir?: string;
  /** Whether to measure torch on the same device, where a Python with torch is found. @default true */
  peers?: boolean;
  /** The folder holding the authors' `torch_gq_adjoint/` (their GQ rows); without it they are skipped. */
  gqPath?: string;
}

/** Runs the GPU check; without a CUDA device, one line and nothing else. */
export async function run(options: GpuBenchOptions = {}): Promise<void> {
  const start = performance.now();
  const backend = options.backend ?? "cuda";
  const widths = options.widths ?? (options.quick ? [1000] : [1000, 2000, 3000]);
  const cuda = new Runtime({ backend, strict: true });
  const why = await cudaUnavailable(cuda);
  if (why !== undefined) {
    console.log(`gpu: no CUDA device (${why}); nothing measured`);
    await cuda.dispose();
    return;
  }
  const device = cuda.deviceName ?? backend;
  const driver = nvidiaDriverVersion() ?? "unknown";
  console.log(`gpu: ${device}, NVIDIA driver ${driver}`);
  const cpu = new Runtime();
  let records: GradientTimingRecord[] = [], peerRows: PeerGradientRecord[] = [];
  const meta: Record<string, string | number | boolean> = { device, nvidiaDriver: driver };
  // Written after each part: a run stopped from outside keeps the parts it finished.
  const save = async () => {
    const path = await writeBenchResults(
      "gpu",
      `Gradients on the GPU (${backend})`,
      { gradientTimings: records, peerGradients: peerRows },
      {
        subtitle: `${device}; quickstart's dynamics checked against the CPU to ${GRADIENT_RTOL}`,
        meta,
        ...(options.dir !== undefined ? { dir: options.dir } : {}),
      },
    );
    console.log(`wrote ${path}`);
  };
  try {
    const errors = await gradientCheck(cuda, cpu);
    const worst = Math.max(...Object.values(errors));
    const pass = worst <= GRADIENT_RTOL;
    for (const [m, e] of Object.entries(errors)) {
      console.log(`gradient check ${m}: relative error ${e.toExponential(2)}`);
    }
    console.log(`gradient check: ${pass ? "pass" : "FAIL"} (worst ${worst.toExponential(2)}, bound ${GRADIENT_RTOL})`);
    Object.assign(meta, {
      gradientCheck: pass ? "pass" : "fail",
      gradientCheckWorst: worst,
      gradientCheckBound: GRADIENT_RTOL,
      ...Object.fromEntries(Object.entries(errors).map(([m, e]) => [`gradientError ${m}`, e])),
    });
    await save();
    const timed = await timeWidths(cuda, widths, start);
    records = timed.records;
    printTable(`One gradient on ${backend} (dopri5, rtol = atol = 1e-3)`, records, [
      "method",
      "width",
      "dim",
      "batch",
      "params",
      "gradientSeconds",
      "nfeForwardPerGradient",
      "nfeBackwardPerGradient",
      "nodesPerGradient",
    ]);
    const skipped = [...timed.skipped];
    if (skipped.length > 0) meta.skipped = skipped.join("; ");
    await save();
    if (options.peers !== false) {
      const torch = await torchOnGpu(cuda, widths, start, options.gqPath, (rows) => {
        peerRows = [...rows];
        return save();
      });
      console.log(`gpu: torch: ${torch.said}`);
      meta.torch = torch.said;
      peerRows = torch.rows;
      skipped.push(...torch.skipped);
      if (peerRows.length > 0) {
        printPeerGradients(`quadjoint ÷ torch on ${backend}, seconds per gradient`, peerRows);
      }
      if (skipped.length > 0) meta.skipped = skipped.join("; ");
      await save();
    }
    if (skipped.length > 0) console.log(`not reached before the deadline: ${skipped.join("; ")}`);
  } finally {
    await cpu.dispose();
    await cuda.dispose();
  }
}
