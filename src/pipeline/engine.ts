/**
 * The pipeline engine: a validated pipeline → trained models, results and a
 * report under `<out>/<pipeline name>/`:
 *
 * | file | what |
 * |---|---|
 * | `results.json` | every record (the `deno task report` input format) and the cells' status |
 * | `results.csv`, `epochs.csv`, `gradient_errors.csv`, `memory.csv` | the same records for spreadsheets |
 * | `report.html` | the self-contained report |
 * | `charts/NN-<title>.svg`, `.png` | each chart, for READMEs |
 * | `cells/<cellId>/checkpoint.json` | the last completed epoch of a training cell |
 * | `cells/<cellId>/result.json` | a finished cell's records (what `--resume` skips) |
 *
 * Every file is written atomically. The sweep's cells run in order; each is
 * either a training cell (model + train stages) or an analytic cell (the
 * exponential problem: gradient errors vs T, held memory vs tolerance).
 *
 * Strings from the file map to library objects in one table each: solvers in
 * `SOLVERS` (src/solvers), gradient methods through `methodByName`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type GradientMethod, methodByName } from "../gradients/method.ts";
import type { SolveSettings } from "../gradients/problem.ts";
import { type ChartKind, experimentReport } from "../report/experiment.ts";
import { renderReport } from "../report/html.ts";
import type { EpochRecord, GradientErrorRecord, MemoryRecord, RunRecord } from "../report/specs.ts";
import { writeReportCharts } from "../report/static.ts";
import { type Backend, Runtime } from "../runtime/session.ts";
import { SOLVERS } from "../solvers/solver.ts";
import type { TrainGradientSettings } from "../train/neural_ode.ts";
import {
  type EpochResult,
  trainNeuralOde,
  type TrainState,
  trainStateFromJson,
  trainStateToJson,
} from "../train/trainer.ts";
import { analyticErrors, analyticMemory, type PerGradientCosts, perGradientCosts } from "./analytic_stage.ts";
import { makeDataset } from "./data_stage.ts";
import { PipelineError, type PipelineIssue } from "./errors.ts";
import { readJsonIfExists, replaceDirectory, toCsv, writeFileAtomic, writeJsonAtomic } from "../util/files.ts";
import { Progress, type ProgressOptions } from "./progress.ts";
import { hiddenWidths, learningRateFor, type PipelineConfig, type SolveConfig } from "./schema.ts";
import { dataKindOf } from "./data_kinds/registry.ts";
import { expandSweep, type SweepCell } from "./sweep.ts";
import { buildTask, taskIssues, testMetricName } from "./task_stage.ts";

/** A finished training run, as written to results.json (a report {@linkcode RunRecord} with more fields). */
export interface RunResult extends RunRecord {
  /** The sweep cell. */
  cellId: string;
  /** Trainable scalars. */
  params: number;
  /** Completed epochs. */
  epochs: number;
  /** Learning rate used. */
  lr: number;
  /** Training loss of the last epoch. */
  trainLoss: number | null;
  /** Test loss after the last evaluation. */
  testLoss: number | null;
  /** Name of the test metric. */
  metric: string;
  /** Mean wall-clock seconds per epoch. */
  epochSeconds: number | null;
  /** Largest memory held by one batch's gradient computation. */
  heldBytes: number | null;
}

/** One epoch of one run, as written to results.json. */
export interface EpochResultRecord extends EpochRecord {
  /** The sweep cell. */
  cellId: string;
  /** Training loss of the epoch. */
  trainLoss: number;
  /** Test metric, when evaluated. */
  testMetric: number | null;
  /** Wall-clock seconds of this epoch. */
  epochSeconds: number;
  /** Forward NFE summed over the epoch's batches. */
  nfeForwardPerEpoch: number;
  /** Backward NFE summed over the epoch's batches (every evaluation of f or of a VJP of f, gq's nodes included). */
  nfeBackwardPerEpoch: number;
  /** gq's quadrature nodes summed over the epoch's batches. */
  nodesPerEpoch: number;
}

/** The records of one cell. */
export interface CellRecords {
  /** One record per finished training run. */
  runs: RunResult[];
  /** One record per completed epoch. */
  epochs: EpochResultRecord[];
  /** Relative errors of the analytic problem, per T and quantity. */
  gradientErrors: (GradientErrorRecord & { cellId: string } & PerGradientCosts)[];
  /** Held memory per tolerance. */
  memory: (MemoryRecord & { cellId: string; T: number } & PerGradientCosts)[];
}

/** What happened to a cell. */
export type CellStatus = "done" | "resumed" | "skipped" | "partial" | "failed" | "pending";

/** A cell's entry in results.json. */
export interface CellSummary {
  /** Stable cell id. */
  id: string;
  /** Swept values. */
  values: Record<string, unknown>;
  /** Outcome. */
  status: CellStatus;
  /** The error, for failed cells. */
  error?: string;
}

/** results.json: the report CLI's input format plus the pipeline's cells. */
export interface PipelineResults {
  /** Format marker (/2: NFE fields carry their unit, PerBatch / PerEpoch / PerGradient, and count gq nodes). */
  format: "quadjoint.results/2";
  /** Pipeline name. */
  pipeline: string;
  /** "complete" or "interrupted". */
  status: "complete" | "interrupted";
  /** Report title. */
  title: string;
  /** Report subtitle. */
  subtitle?: string;
  /** Charts to draw. */
  charts?: ChartKind[];
  /** Include the speed summary. */
  summary: boolean;
  /** Name of the test metric. */
  metricLabel: string;
  /** Log scale for the test metric. */
  metricLogY: boolean;
  /** Facts about the run. */
  meta: Record<string, string | number | boolean | null>;
  /** Per-cell status. */
  cells: CellSummary[];
  /** The records. */
  results: CellRecords;
}

/** Options of {@linkcode runPipeline}. */
export interface RunPipelineOptions {
  /** Output root; results go to `<out>/<pipeline name>/`. @default "reports" */
  out?: string;
  /** Skip finished cells and continue unfinished ones from their last epoch checkpoint. @default false */
  resume?: boolean;
  /** Backend (falls back to CPU with a warning). @default "cpu" */
  backend?: Backend;
  /** ONNX Runtime intra-op threads; 0 lets it choose. @default 0 */
  threads?: number;
  /** A runtime to use instead of making one (not disposed). */
  runtime?: Runtime;
  /** Stops the run after the batch in flight; results so far and checkpoints are written. */
  signal?: AbortSignal;
  /** Progress display options. */
  progress?: ProgressOptions;
  /** Write report.html. @default true */
  report?: boolean;
  /** Write charts/*.svg and *.png. @default true */
  charts?: boolean;
  /** The pipeline file (for the report header). */
  file?: string;
  /** Whether --quick was applied (for the report header). */
  quick?: boolean;
  /** Called after every completed epoch or analytic cell (for tests: abort at a chosen point). */
  onEvent?: (event: { cell: string; kind: "epoch" | "cell"; epoch?: number }) => void;
}

/** What {@linkcode runPipeline} returns. */
export interface PipelineRun {
  /** The results written. */
  results: PipelineResults;
  /** The output folder. */
  dir: string;
  /** 0 complete, 1 a cell failed, 130 interrupted. */
  exitCode: number;
}

/** The one table from solver names in a pipeline file to solver objects. */
function solverOf(name: SolveConfig["solver"]) {
  return SOLVERS[name];
}

/** Solver settings of the solve stage (forward, and backward for the adjoint family). */
export function solveSettings(solve: SolveConfig): SolveSettings & { backward?: SolveSettings } {
  const base: SolveSettings = {
    solver: solverOf(solve.solver).name,
    rtol: solve.rtol,
    atol: solve.atol,
    maxSteps: solve.maxSteps,
    ...(solve.dt !== undefined ? { dt: solve.dt } : {}),
  };
  const b = solve.backward;
  if (b === undefined) return base;
  const backward: SolveSettings = {
    ...base,
    ...(b.solver !== undefined ? { solver: solverOf(b.solver).name } : {}),
    ...(b.rtol !== undefined ? { rtol: b.rtol } : {}),
    ...(b.atol !== undefined ? { atol: b.atol } : {}),
  };
  return { ...base, backward };
}

/** The gradient method of a configuration. */
export function gradientMethod(config: PipelineConfig): GradientMethod {
  return methodByName(config.gradient.method, {
    gq: config.gradient.gq,
    stepControl: config.gradient.stepControl,
  });
}

/**
 * Short hash of what a cell computes, so a checkpoint of another configuration
 * is never resumed. Fields that change only how results are shown (name,
 * description, report) are left out: editing a report title keeps checkpoints.
 */
function configHash(config: PipelineConfig): string {
  const { name: _name, description: _description, report: _report, ...computed } = config;
  return createHash("sha256").update(JSON.stringify(computed)).digest("hex").slice(0, 16);
}

/**
 * Problems the engine has with a validated configuration (every cell is
 * checked): what the schema allows but the engine cannot build yet. Throws
 * nothing; {@linkcode checkPipeline} turns them into a {@linkcode PipelineError}.
 */
export function engineIssues(cells: readonly SweepCell[]): PipelineIssue[] {
  const seen = new Set<string>();
  const out: PipelineIssue[] = [];
  for (const cell of cells) {
    for (const issue of taskIssues(cell.config)) {
      const key = `${issue.path}: ${issue.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(cells.length > 1 ? { ...issue, message: `${issue.message} (cell ${cell.id})` } : issue);
    }
  }
  return out;
}

/**
 * Expands the sweep and checks every cell can run.
 *
 * @throws {PipelineError} with every issue, before anything is written.
 */
export function checkPipeline(config: PipelineConfig, file = "(pipeline)"): SweepCell[] {
  const cells = expandSweep(config, file);
  const issues = engineIssues(cells);
  if (issues.length > 0) throw new PipelineError(file, issues);
  return cells;
}

function emptyRecords(): CellRecords {
  return { runs: [], epochs: [], gradientErrors: [], memory: [] };
}

/** Multiply-adds that cost about as much as the fixed overhead of one graph call (a few tens of µs). */
const CALL_OVERHEAD_MACS = 300_000;

/**
 * Relative cost of one unit (epoch) of a cell, for the time estimate: each
 * minibatch pays a fixed call overhead, and every sample the MLP's
 * multiply-adds Σ width_i·width_{i+1} (samples per epoch from the data kind).
 */
function unitWeight(cell: SweepCell): number {
  const c = cell.config;
  const d = c.model?.dynamics;
  const training = dataKindOf(c.data.kind).training;
  if (!d || !training) return 1;
  const hidden = hiddenWidths(d);
  let macs = hidden.reduce((s, h) => s + h, 0);
  for (let i = 1; i < hidden.length; i++) macs += hidden[i - 1]! * hidden[i]!;
  const samples = training.samplesPerEpoch(c.data);
  const batches = Math.ceil(samples / Math.min(c.train?.batchSize ?? samples, samples));
  return batches + (macs * samples) / CALL_OVERHEAD_MACS;
}

/** A cell's units (epochs or analytic points) weighted by their cost. */
function weightedUnits(cell: SweepCell): number {
  return unitsOf(cell) * unitWeight(cell);
}

function unitsOf(cell: SweepCell): number {
  const c = cell.config;
  if (c.data.kind === "analytic") {
    const errors = c.evaluate.metrics.includes("gradient-error") ? c.data.T.count : 0;
    const memory = c.memory ? c.memory.tolerances.length : 0;
    return Math.max(1, errors + memory);
  }
  return c.train?.epochs ?? 1;
}

function epochRecords(cellId: string, method: string, width: number, seed: number, history: readonly EpochResult[]) {
  return history.map((h): EpochResultRecord => ({
    cellId,
    method,
    width,
    seed,
    epoch: h.epoch,
    seconds: h.elapsed,
    testLoss: h.testLoss ?? null,
    trainLoss: h.trainLoss,
    testMetric: h.testMetric ?? null,
    epochSeconds: h.seconds,
    nfeForwardPerEpoch: h.nfeForwardPerEpoch,
    nfeBackwardPerEpoch: h.nfeBackwardPerEpoch,
    nodesPerEpoch: h.nodesPerEpoch,
  }));
}

interface CellContext {
  readonly cell: SweepCell;
  readonly dir: string;
  readonly runtime: Runtime;
  readonly progress: Progress;
  readonly resume: boolean;
  readonly signal: AbortSignal | undefined;
  readonly onEvent: RunPipelineOptions["onEvent"];
}

/** A training cell. Returns its records, whether it was stopped and whether it continued from a checkpoint. */
async function runTrainingCell(
  ctx: CellContext,
): Promise<{ records: CellRecords; stopped: boolean; resumed: boolean }> {
  const { cell, runtime, progress, signal } = ctx;
  const config = cell.config;
  const train = config.train!;
  const task = buildTask(config, makeDataset(config.data));
  const method = gradientMethod(config);
  const solve = solveSettings(config.solve);
  const gradient: TrainGradientSettings = { ...solve, method };
  const lr = learningRateFor(train.optimizer.lr, task.width);
  const hash = configHash(config);
  const checkpointPath = join(ctx.dir, "checkpoint.json");
  let resume: TrainState | undefined;
  if (ctx.resume) {
    const saved = await readJsonIfExists(checkpointPath) as { configHash?: string; state?: unknown } | undefined;
    if (saved?.configHash === hash) {
      resume = trainStateFromJson(saved.state);
      progress.log(`cell ${cell.id}: resuming after epoch ${resume.epoch}`);
      progress.skip(resume.epoch * unitWeight(cell));
    } else if (saved !== undefined) {
      progress.log(`cell ${cell.id}: checkpoint is of another configuration; starting over`);
    }
  }
  const methodLabel = config.gradient.method;
  const result = await trainNeuralOde({
    runtime,
    model: task.model,
    params: task.params,
    train: task.train,
    test: task.test,
    epochs: train.epochs,
    ...(train.batchSize !== undefined ? { batchSize: Math.min(train.batchSize, task.train.size) } : {}),
    seed: train.seed,
    optimizer: { lr, betas: train.optimizer.betas, eps: train.optimizer.eps, weightDecay: train.optimizer.weightDecay },
    gradient,
    evaluateEvery: config.evaluate.every,
    metric: task.metric,
    ...(resume ? { resume } : {}),
    ...(signal ? { signal } : {}),
    onBatch: (b) =>
      progress.update({
        step: b.epoch,
        steps: train.epochs,
        stepName: "epoch",
        detail: `batch ${b.batch}/${b.batches}`,
        loss: b.loss,
        nfeForwardPerBatch: b.nfeForwardPerBatch,
        nfeBackwardPerBatch: b.nfeBackwardPerBatch,
        nodesPerBatch: b.nodesPerBatch,
        done: false,
      }),
    onEpoch: async (e, state) => {
      await writeJsonAtomic(checkpointPath, { configHash: hash, cellId: cell.id, state: trainStateToJson(state) });
      progress.update({
        step: e.epoch,
        steps: train.epochs,
        stepName: "epoch",
        loss: e.trainLoss,
        metric: e.testMetric !== undefined ? { name: task.metricName, value: e.testMetric } : undefined,
        // The status line shows per-batch NFE throughout: the epoch's means.
        nfeForwardPerBatch: e.nfeForwardPerEpoch / e.batches,
        nfeBackwardPerBatch: e.nfeBackwardPerEpoch / e.batches,
        nodesPerBatch: e.nodesPerEpoch / e.batches,
        done: true,
      });
      ctx.onEvent?.({ cell: cell.id, kind: "epoch", epoch: e.epoch });
    },
  });
  const h = result.history;
  const last = h.at(-1);
  const lastTest = [...h].reverse().find((r) => r.testMetric !== undefined);
  const batches = h.reduce((s, r) => s + r.batches, 0);
  const sum = (f: (r: EpochResult) => number) => h.reduce((s, r) => s + f(r), 0);
  const run: RunResult = {
    cellId: cell.id,
    method: methodLabel,
    width: task.width,
    seed: train.seed,
    params: task.paramCount,
    epochs: h.length,
    lr,
    trainSeconds: last?.elapsed ?? null,
    testMetric: lastTest?.testMetric ?? null,
    testLoss: lastTest?.testLoss ?? null,
    trainLoss: last?.trainLoss ?? null,
    metric: task.metricName,
    nfeForwardPerBatch: batches > 0 ? sum((r) => r.nfeForwardPerEpoch) / batches : null,
    nfeBackwardPerBatch: batches > 0 ? sum((r) => r.nfeBackwardPerEpoch) / batches : null,
    nodesPerBatch: batches > 0 ? sum((r) => r.nodesPerEpoch) / batches : null,
    epochSeconds: h.length > 0 ? sum((r) => r.seconds) / h.length : null,
    heldBytes: h.length > 0 ? Math.max(...h.map((r) => r.heldBytes)) : null,
  };
  const records = emptyRecords();
  records.epochs = epochRecords(cell.id, methodLabel, task.width, train.seed, h);
  if (!result.stopped) records.runs = [run];
  return { records, stopped: result.stopped, resumed: resume !== undefined };
}

/** An analytic cell: gradient errors vs T and held memory vs tolerance. */
async function runAnalyticCell(ctx: CellContext): Promise<CellRecords> {
  const { cell, runtime, progress } = ctx;
  const config = cell.config;
  if (config.data.kind !== "analytic") throw new RangeError(`Cell ${cell.id} is not analytic`);
  const dataset = makeDataset(config.data);
  if (dataset.kind !== "analytic") throw new RangeError(`Cell ${cell.id} is not analytic`);
  const problem = dataset.data;
  const method = gradientMethod(config);
  const methodLabel = config.gradient.method;
  const solve = solveSettings(config.solve);
  const records = emptyRecords();
  const units = unitsOf(cell);
  let step = 0;
  const tick = () => progress.update({ step: ++step, steps: units, stepName: "point", done: true });
  if (config.evaluate.metrics.includes("gradient-error")) {
    for (const e of await analyticErrors(runtime, problem, method, solve, tick)) {
      const costs = perGradientCosts(e.stats);
      for (const [quantity, value] of [["L", e.loss], ["dL/dz0", e.dz0], ["dL/da", e.da], ["dL/dT", e.dT]] as const) {
        records.gradientErrors.push({
          cellId: cell.id,
          method: methodLabel,
          T: e.T,
          quantity,
          relativeError: value,
          ...costs,
        });
      }
    }
  }
  if (config.memory) {
    const T = problem.T[problem.T.length - 1]!;
    for (const m of await analyticMemory(runtime, problem, T, method, solve, config.memory.tolerances, tick)) {
      records.memory.push({
        cellId: cell.id,
        method: methodLabel,
        tolerance: m.tolerance,
        bytes: m.heldBytes,
        T: m.T,
        nfeForwardPerGradient: m.nfeForwardPerGradient,
        nfeBackwardPerGradient: m.nfeBackwardPerGradient,
        nodesPerGradient: m.nodesPerGradient,
      });
    }
  }
  return records;
}

function metaOf(config: PipelineConfig, options: RunPipelineOptions, runtime: Runtime): PipelineResults["meta"] {
  return {
    pipeline: config.name,
    file: options.file ?? null,
    quick: options.quick ?? false,
    backend: runtime.backend,
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    os: `${Deno.build.os}-${Deno.build.arch}`,
  };
}

/** Writes results.json and the CSV files. */
async function writeResults(dir: string, results: PipelineResults): Promise<void> {
  const r = results.results;
  await writeJsonAtomic(join(dir, "results.json"), results);
  const tables: [string, readonly object[]][] = [
    ["epochs.csv", r.epochs],
    ["gradient_errors.csv", r.gradientErrors],
    ["memory.csv", r.memory],
  ];
  const primary = r.runs.length > 0 ? r.runs : r.gradientErrors.length > 0 ? r.gradientErrors : r.memory;
  await writeFileAtomic(join(dir, "results.csv"), toCsv(primary));
  for (const [name, rows] of tables) {
    if (rows.length > 0) await writeFileAtomic(join(dir, name), toCsv(rows));
  }
}

/**
 * Renders report.html (and with `charts`, charts/*.svg and *.png) from a
 * results file's content; what `deno task report` does too.
 */
export async function writePipelineReport(dir: string, results: PipelineResults, charts = true): Promise<void> {
  const content = experimentReport(results.results, {
    title: results.title,
    ...(results.subtitle !== undefined ? { subtitle: results.subtitle } : {}),
    ...(results.charts !== undefined ? { charts: results.charts } : {}),
    summary: results.summary,
    metricLabel: results.metricLabel,
    metricLogY: results.metricLogY,
    meta: results.meta,
  });
  await writeFileAtomic(join(dir, "report.html"), renderReport(content));
  if (!charts) return;
  await replaceDirectory(join(dir, "charts"), async (tmp) => void await writeReportCharts(tmp, content));
}

/**
 * Runs a validated pipeline: every sweep cell in order, checkpoints after
 * each epoch, results after each cell, the report at the end.
 *
 * @throws {PipelineError} when a cell cannot be built (before anything is written).
 *
 * @example The analytic problem for one method
 * ```ts
 * import { runPipeline } from "./engine.ts";
 * import { PipelineSchema } from "./schema.ts";
 * const config = PipelineSchema.parse({
 *   name: "tiny",
 *   data: { kind: "analytic", T: { min: 1, max: 2, count: 2 } },
 *   solve: { rtol: 1e-8, atol: 1e-8 },
 *   gradient: { method: "gq" },
 *   evaluate: { metrics: ["gradient-error"] },
 * });
 * const out = await Deno.makeTempDir();
 * const { results } = await runPipeline(config, { out, threads: 1, report: false, progress: { write: () => {} } });
 * const worst = Math.max(...results.results.gradientErrors.map((r) => r.relativeError ?? Infinity));
 * if (!(worst < 1e-5)) throw new Error(`relative error ${worst}`);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function runPipeline(config: PipelineConfig, options: RunPipelineOptions = {}): Promise<PipelineRun> {
  const cells = checkPipeline(config, options.file);
  const dir = join(options.out ?? "reports", config.name);
  const runtime = options.runtime ??
    new Runtime({ backend: options.backend ?? "cpu", threads: options.threads ?? 0 });
  const progress = new Progress(cells.reduce((s, c) => s + weightedUnits(c), 0), options.progress ?? {});
  const first = cells[0]!.config;
  const metricLabel = first.data.kind === "analytic" ? "relative error" : testMetricName(first);
  const results: PipelineResults = {
    format: "quadjoint.results/2",
    pipeline: config.name,
    status: "complete",
    title: config.report?.title ?? config.name,
    ...(config.description !== undefined ? { subtitle: config.description } : {}),
    ...(config.report?.charts !== undefined ? { charts: [...config.report.charts] } : {}),
    summary: config.report?.summary ?? true,
    metricLabel,
    metricLogY: metricLabel === "mse",
    meta: metaOf(config, options, runtime),
    cells: cells.map((c) => ({ id: c.id, values: { ...c.values }, status: "pending" })),
    results: emptyRecords(),
  };
  const merge = (r: CellRecords) => {
    results.results.runs.push(...r.runs);
    results.results.epochs.push(...r.epochs);
    results.results.gradientErrors.push(...r.gradientErrors);
    results.results.memory.push(...r.memory);
  };
  let failed = false;
  try {
    for (const [i, cell] of cells.entries()) {
      const summary = results.cells[i]!;
      const cellDir = join(dir, "cells", cell.id);
      const resultPath = join(cellDir, "result.json");
      const hash = configHash(cell.config);
      if (options.resume) {
        const saved = await readJsonIfExists(resultPath) as { configHash?: string; records?: CellRecords } | undefined;
        if (saved?.configHash === hash && saved.records) {
          merge(saved.records);
          summary.status = "skipped";
          progress.skip(weightedUnits(cell));
          progress.log(`cell ${i + 1}/${cells.length} ${cell.id}: finished earlier, skipped`);
          continue;
        }
      } else {
        await Deno.remove(cellDir, { recursive: true }).catch(() => {});
      }
      if (options.signal?.aborted) break;
      progress.startCell(i + 1, cells.length, cell.id, unitWeight(cell));
      const ctx: CellContext = {
        cell,
        dir: cellDir,
        runtime,
        progress,
        resume: options.resume ?? false,
        signal: options.signal,
        onEvent: options.onEvent,
      };
      try {
        if (cell.config.data.kind === "analytic") {
          const records = await runAnalyticCell(ctx);
          await writeJsonAtomic(resultPath, { configHash: hash, cellId: cell.id, records });
          merge(records);
          summary.status = "done";
          options.onEvent?.({ cell: cell.id, kind: "cell" });
        } else {
          const { records, stopped, resumed } = await runTrainingCell(ctx);
          merge(records);
          if (stopped) {
            summary.status = "partial";
            break;
          }
          await writeJsonAtomic(resultPath, { configHash: hash, cellId: cell.id, records });
          summary.status = resumed ? "resumed" : "done";
          options.onEvent?.({ cell: cell.id, kind: "cell" });
        }
      } catch (e) {
        failed = true;
        summary.status = "failed";
        summary.error = (e as Error).message;
        progress.log(`cell ${i + 1}/${cells.length} ${cell.id}: failed: ${(e as Error).message}`);
      }
      await writeResults(dir, { ...results, status: "interrupted" });
    }
    progress.finish();
    results.meta.backend = runtime.backend; // after any fallback to cpu
    const interrupted = options.signal?.aborted === true &&
      results.cells.some((c) => c.status === "pending" || c.status === "partial");
    results.status = interrupted ? "interrupted" : "complete";
    await writeResults(dir, results);
    if (!interrupted && options.report !== false) {
      await writePipelineReport(dir, results, options.charts ?? true);
    }
    progress.log(
      interrupted
        ? `Interrupted: checkpoints and partial results in ${dir}; continue with --resume`
        : `Results in ${dir}`,
    );
    return { results, dir, exitCode: interrupted ? 130 : failed ? 1 : 0 };
  } finally {
    if (!options.runtime) await runtime.dispose();
  }
}
