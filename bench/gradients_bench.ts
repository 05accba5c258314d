/**
 * Gradient methods side by side: time, function evaluations, VJP calls,
 * quadrature nodes, held and peak memory per method for MLP dynamics of growing
 * width, in two regimes over t ∈ [0, 1] — a small state (dim 4, batch 2:
 * crossing trajectories) and a wide batch (dim 5, batch 200: nested
 * spheres) — and the small state over t ∈ [0, 10] (more backward steps, so
 * more adaptive GQ nodes), plus held memory against tolerance on the paper's
 * analytic problem.
 *
 * Peak memory (`peakRssBytes`) is the rise of the resident set over one
 * gradient, measured in a fresh process per method, width and regime
 * (`_gradient_memory.ts`) for the four methods (null for GQ's variants); with
 * `--quick`, at the largest width of the first regime only.
 *
 * All methods are measured in the same run; read the ratios, not the
 * absolute times. Results go to reports/bench/gradients.json, a results file
 * (src/results/) of `gradientTimings` records.
 *
 * @module
 */
import {
  adjoint,
  direct,
  gq,
  type GradientMethod,
  METHOD_NAMES,
  type MethodName,
  seminorm,
} from "../src/gradients/method.ts";
import { odeGradient } from "../src/gradients/ode_gradient.ts";
import type { GradientResult } from "../src/gradients/problem.ts";
import { exponentialDynamics } from "../src/models/linear.ts";
import { probeGradientMemory } from "./_gradient_memory.ts";
import { benchmarkMlp } from "./_mlp_problem.ts";
import { tensor } from "../src/onnx/tensor.ts";
import { Runtime } from "../src/runtime/session.ts";
import { type GradientTimingRecord, perGradientCosts } from "../src/results/records.ts";
import { median, printTable, timeRepeats, writeBenchResults } from "./_report.ts";

/** The four methods (gq with its default, adaptive nodes), then GQ's other node rules and its checkpoint variant. */
const METHODS: { label: string; method: GradientMethod }[] = [
  { label: "direct", method: direct() },
  { label: "adjoint", method: adjoint() },
  { label: "seminorm", method: seminorm() },
  { label: "gq", method: gq() },
  { label: "gq paper", method: gq({ nodes: "interval", C: 0.1 }) },
  { label: "gq per-step", method: gq({ nodes: "per-step" }) },
  { label: "gq checkpoint", method: gq({ trajectory: "checkpoint" }) },
];

async function timeMlp(
  runtime: Runtime,
  width: number,
  dim: number,
  batch: number,
  t1: number,
  repeats: number,
  probeMemory: boolean,
): Promise<GradientTimingRecord[]> {
  const { init, problem } = benchmarkMlp(width, dim, batch, t1);
  const params = Object.values(init).reduce((s, t) => s + t.data.length, 0);
  const out: GradientTimingRecord[] = [];
  const last: (GradientResult | undefined)[] = METHODS.map(() => undefined);
  const times: number[][] = METHODS.map(() => []);
  // One untimed round first (it builds and compiles every method's graphs), then rounds of all methods in turn, so
  // that a slow spell of the machine hits every method alike.
  for (let round = 0; round <= repeats; round++) {
    for (const [i, { method }] of METHODS.entries()) {
      const [ms] = await timeRepeats(async () => {
        last[i] = await odeGradient(problem, { method, rtol: 1e-3, atol: 1e-3, runtime });
      }, { repeats: 1, warmup: 0, minRepeats: 1 });
      if (round > 0) times[i]!.push(ms!);
    }
  }
  for (const [i, { label }] of METHODS.entries()) {
    const s = last[i]!.stats;
    const ms = times[i]!;
    out.push({
      method: label,
      solver: "dopri5",
      width,
      batch,
      dim,
      t1,
      params,
      tolerance: 1e-3,
      gradientSeconds: median(ms) / 1000,
      ...perGradientCosts(s),
      vjpCallsPerGradient: s.vjpEvals,
      heldBytes: s.heldBytes,
      ...(await peakMemory(label, probeMemory, { width, dim, batch, t1 })),
    });
  }
  return out;
}

/** The measured peak of one gradient of `label` (one of the four methods, by name), or null. */
async function peakMemory(
  label: string,
  probe: boolean,
  point: { width: number; dim: number; batch: number; t1: number },
): Promise<Pick<GradientTimingRecord, "peakRssBytes" | "peakRssError">> {
  if (!probe || !(METHOD_NAMES as readonly string[]).includes(label)) return { peakRssBytes: null };
  const peak = await probeGradientMemory({ method: label as MethodName, ...point });
  return { peakRssBytes: peak.peakRssBytes, ...(peak.error !== undefined ? { peakRssError: peak.error } : {}) };
}

async function memoryVsTolerance(runtime: Runtime): Promise<GradientTimingRecord[]> {
  const dynamics = exponentialDynamics("float64");
  const out: GradientTimingRecord[] = [];
  for (const tol of [1e-3, 1e-4, 1e-5, 1e-6, 1e-7]) {
    for (const { label, method } of METHODS) {
      let r: GradientResult | undefined;
      // A warm-up run first, so the first tolerance's time does not include compiling the method's graphs.
      const [ms] = await timeRepeats(async () => {
        r = await odeGradient({
          dynamics,
          params: { a: tensor(Float64Array.of(0.2), [1]) },
          z0: tensor(Float64Array.of(10), [1, 1]),
          times: [0, 25],
          loss: ([, z]) => ({ value: z![0]! ** 2, cotangents: [null, Float64Array.of(2 * z![0]!)] }),
        }, { method, rtol: tol, atol: tol, runtime });
      }, { repeats: 1, warmup: 1, minRepeats: 1 });
      const { stats } = r!;
      out.push({
        method: label,
        solver: "dopri5",
        width: 0,
        batch: 1,
        dim: 1,
        t1: 25,
        params: 1,
        tolerance: tol,
        gradientSeconds: ms! / 1000,
        ...perGradientCosts(stats),
        vjpCallsPerGradient: stats.vjpEvals,
        heldBytes: stats.heldBytes,
      });
    }
  }
  return out;
}

/** Runs the gradient benchmark; `quick` trims widths for a smoke run. */
export async function run(options: { quick?: boolean } = {}): Promise<void> {
  const runtime = new Runtime();
  const widths = options.quick ? [5, 100] : [5, 20, 100, 500, 1000, 2000];
  const records: GradientTimingRecord[] = [];
  // The two regimes at t ∈ [0, 1], then the small state over t ∈ [0, 10], where the backward solve takes more steps.
  const regimes = [[4, 2, 1, widths], [5, 200, 1, widths], [4, 2, 10, widths.filter((w) => w >= 100)]] as const;
  for (const [dim, batch, t1, regimeWidths] of regimes) {
    for (const width of regimeWidths) {
      const repeats = options.quick ? 1 : width >= 1000 ? 5 : 9;
      const probe = !options.quick || (batch === regimes[0][1] && t1 === 1 && width === widths.at(-1));
      const rows = await timeMlp(runtime, width, dim, batch, t1, repeats, probe);
      records.push(...rows);
      const byMethod = Object.fromEntries(rows.map((r) => [r.method, r.gradientSeconds]));
      const ratio = (a: string, b: string) => `${a}/${b} ${(byMethod[a]! / byMethod[b]!).toFixed(2)}`;
      console.log(
        `width ${width} dim ${dim} batch ${batch} t1 ${t1}: ${ratio("gq", "gq paper")}, ${ratio("gq", "adjoint")}, ` +
          `${ratio("gq", "seminorm")}, ${ratio("gq", "direct")}`,
      );
    }
  }
  const memory = await memoryVsTolerance(runtime);
  printTable("Gradient time per method (dopri5, rtol = atol = 1e-3; gq paper: C = 0.1)", records, [
    "method",
    "width",
    "dim",
    "batch",
    "t1",
    "params",
    "gradientSeconds",
    "nfeForwardPerGradient",
    "nfeBackwardPerGradient",
    "vjpCallsPerGradient",
    "nodesPerGradient",
    "heldBytes",
    "peakRssBytes",
  ]);
  const failed = records.find((r) => r.peakRssError !== undefined);
  if (failed) console.log(`Peak memory not measured: ${failed.peakRssError}\n`);
  printTable("Held memory vs tolerance (dz/dt = 0.2 z, T = 25)", memory, [
    "method",
    "tolerance",
    "nfeForwardPerGradient",
    "nfeBackwardPerGradient",
    "heldBytes",
  ]);
  await writeBenchResults("gradients", "Gradient methods side by side", { gradientTimings: [...records, ...memory] });
  await runtime.dispose();
}
