/**
 * The pipeline engine: a validated pipeline → trained models, results and a
 * report under `<out>/<pipeline name>/`:
 *
 * | file | what |
 * |---|---|
 * | `results.json` | every record (the `deno task report` input format, src/results/) and the cells' status |
 * | `results.csv`, `epochs.csv`, `gradient_errors.csv`, `memory.csv`, `sde_*.csv` | the same records for spreadsheets |
 * | `report.html` | the self-contained report |
 * | `charts/NN-<title>.svg`, `.png` | each chart, for READMEs |
 * | `cells/<cellId>/checkpoint.json` | an unfinished training cell's last saved epoch (removed once the cell finishes) |
 * | `cells/<cellId>/result.json` | a finished cell's records (what `--resume` skips) |
 * | `cells/<cellId>/model.onnx`, `encoder.onnx`, `head.onnx` | a finished training cell's trained model, weights baked in |
 * | `cells/<cellId>/weights.safetensors` | its trained weights |
 *
 * `--quick` runs write to `<out>/<pipeline name>-quick/` instead. A run claims
 * its folder first (`_output_lock.ts`): a `.lock` file keeps a second run out,
 * `cells/<id>/.lock` a second writer of each cell, temporaries of killed runs
 * are removed, and a folder that already holds results is refused unless the
 * run resumes them (`resume`) or replaces them (`overwrite`); nothing earlier
 * is deleted otherwise.
 *
 * With `shard` (`--shard i/N`, shard.ts) a run takes only the shard's cells,
 * its lock is `.lock.shard-<i>-of-<N>`, and it writes
 * `shards/<i>-of-<N>/results.json` instead of the folder's results, CSVs and
 * report, which `deno task report <dir>` merges from all shards (merge.ts).
 *
 * Every file is written atomically. The sweep's cells run in order, each by
 * the cell kind that takes it (cells/registry.ts: training, SDE training or analytic).
 * The pieces: settings.ts maps names to library objects, cost.ts sizes the
 * time estimate, cells/ runs cells, src/results/ owns the records and their
 * files, write_report.ts renders the report.
 *
 * Why one file: a run is one sequence — claim the folder, run or skip each
 * cell, save its records, write the results and the report — and its error
 * handling (Ctrl-C, failed cells, the lock) spans all of it.
 *
 * @module
 */
import { join } from "node:path";
import { writePipelineResults } from "../results/file.ts";
import {
  appendCellRecords,
  type CellRecords,
  emptyCellRecords,
  type PipelineResults,
  RESULTS_FORMAT,
} from "../results/records.ts";
import { type Backend, Runtime } from "../runtime/session.ts";
import { readJsonIfExists, writeJsonAtomic } from "../util/files.ts";
import type { CellContext, CellEvent, CellKind } from "./cells/cell_kind.ts";
import { cellKindOf } from "./cells/registry.ts";
import { PipelineError, type PipelineIssue } from "./errors.ts";
import { Progress, type ProgressOptions } from "./progress.ts";
import { machineMemory, memoryIssues } from "./memory_check.ts";
import { claimOutput, shardDir } from "./_output_lock.ts";
import { collectProvenance } from "./_provenance.ts";
import { readPipeline } from "./parse.ts";
import type { PipelineConfig } from "./schema.ts";
import { configHash } from "./settings.ts";
import { cellWeight, shardCells, shardName, type ShardResults, writeShardResults } from "./shard.ts";
import { expandSweep, type SweepCell } from "./sweep.ts";
import { taskIssues } from "./task_stage.ts";
import { runSummary, writePipelineReport } from "./write_report.ts";

export { OutputError } from "./_output_lock.ts";

/** Options of {@linkcode runPipeline}. */
export interface RunPipelineOptions {
  /**
   * Output root; results go to `<out>/<pipeline name>/` (`<out>/<pipeline name>-quick/` with `quick`).
   * @default "reports"
   */
  out?: string;
  /** Skip finished cells and continue unfinished ones from their last epoch checkpoint. @default false */
  resume?: boolean;
  /**
   * Replace the results already in the output folder: they are removed once the pipeline has validated,
   * before the first cell starts. Without it (or `resume`) a folder that holds results is refused. @default false
   */
  overwrite?: boolean;
  /** Backend (falls back to CPU with a warning). @default the file's `runtime.backend`, else "cpu" */
  backend?: Backend;
  /** ONNX Runtime intra-op threads; 0 lets it choose. @default the file's `runtime.threads`, else 0 */
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
  /**
   * Whether --quick was applied (for the report header; results go to `<pipeline name>-quick/`, apart from a
   * full run's); {@linkcode runPipelineFile} applies it.
   */
  quick?: boolean;
  /** Called after every completed epoch or analytic cell (for tests: abort at a chosen point). */
  onEvent?: (event: CellEvent) => void;
  /**
   * Run only this shard of the sweep's cells (`--shard i/N`, 1-based; shard.ts), into the shared output folder,
   * writing `shards/<i>-of-<N>/results.json` instead of the folder's results and report. `index` is 1 … `count`.
   */
  shard?: { readonly index: number; readonly count: number };
}

/** What {@linkcode runPipeline} returns. */
export interface PipelineRun {
  /** The results written (of the shard's cells only, with `shard`). */
  results: PipelineResults;
  /** The output folder (shared by all shards). */
  dir: string;
  /** 0 complete, 1 a cell failed, 130 interrupted. */
  exitCode: number;
}

/**
 * Problems the engine has with a validated configuration (every cell is
 * checked): what the schema allows but the engine cannot build yet, and a
 * cell that cannot fit in this machine's memory (memory_check.ts). Throws
 * nothing; {@linkcode checkPipeline} turns them into a {@linkcode PipelineError}.
 */
export function engineIssues(cells: readonly SweepCell[]): PipelineIssue[] {
  const seen = new Set<string>();
  const out: PipelineIssue[] = [];
  const memory = machineMemory();
  for (const cell of cells) {
    const task = taskIssues(cell.config);
    for (const issue of task.length > 0 ? task : memoryIssues(cell.config, memory)) {
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

/**
 * Runs a validated pipeline: every sweep cell in order, checkpoints after
 * each epoch, results after each cell, the report at the end.
 *
 * @throws {PipelineError} when a cell cannot be built (before anything is written).
 * @throws {OutputError} when another run holds the output folder, or it holds
 *   results and neither `resume` nor `overwrite` is set (nothing is written).
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
  const sweep = checkPipeline(config, options.file);
  const cells = options.shard ? shardCells(sweep, options.shard) : sweep;
  const dir = outputDir(config, options);
  const output = await claimOutput(dir, {
    resume: options.resume ?? false,
    overwrite: options.overwrite ?? false,
    ...(options.shard ? { shard: shardName(options.shard) } : {}),
    cells: cells.map((c) => c.id),
  });
  try {
    return await runCells(config, sweep, cells, dir, output.notes, options);
  } finally {
    await output.release();
  }
}

/**
 * The output folder of a run: `<out>/<name>/`, and `<out>/<name>-quick/`
 * under `--quick`, so a quick check never touches a full run's results (a
 * sibling rather than a subfolder: neither run's lock or `--overwrite` reaches
 * into the other's folder).
 */
export function outputDir(config: PipelineConfig, options: Pick<RunPipelineOptions, "out" | "quick"> = {}): string {
  return join(options.out ?? "reports", options.quick ? `${config.name}-quick` : config.name);
}

/**
 * A finished cell's tidy-up ({@linkcode CellKind.finished}: a training cell's checkpoint goes). Its results are
 * written already, so a failure here is a warning, not a failed cell.
 */
async function tidyFinishedCell(kind: CellKind, dir: string, warn: (message: string) => void): Promise<void> {
  try {
    await kind.finished?.(dir);
  } catch (e) {
    warn(`could not tidy its folder after finishing (${(e as Error).message}); its results stand`);
  }
}

/** A cell's earlier result.json when it is of `hash`; a file that cannot be read is reported and ignored. */
async function savedCellRecords(
  path: string,
  hash: string,
  warn: (message: string) => void,
): Promise<CellRecords | undefined> {
  let saved: unknown;
  try {
    saved = await readJsonIfExists(path);
  } catch (e) {
    warn(`cannot read ${path} (${(e as Error).message}); running the cell again`);
    return undefined;
  }
  if (saved === undefined) return undefined;
  const s = saved as { configHash?: unknown; records?: Partial<Record<keyof CellRecords, unknown>> } | null;
  if (typeof s !== "object" || s === null || Array.isArray(s)) {
    warn(`${path} does not hold a cell result; running the cell again`);
    return undefined;
  }
  if (s.configHash !== hash) return undefined; // another configuration's result: the cell runs again
  const r = s.records;
  const lists = ["runs", "epochs", "gradientErrors", "memory"] as const;
  if (typeof r !== "object" || r === null || lists.some((k) => !Array.isArray(r[k]))) {
    warn(`${path} has no records (${lists.join(", ")}); running the cell again`);
    return undefined;
  }
  return r as CellRecords;
}

async function runCells(
  config: PipelineConfig,
  sweep: readonly SweepCell[],
  cells: readonly SweepCell[],
  dir: string,
  notes: readonly string[],
  options: RunPipelineOptions,
): Promise<PipelineRun> {
  const runtime = options.runtime ??
    new Runtime({
      ...config.runtime,
      backend: options.backend ?? config.runtime?.backend ?? "cpu",
      threads: options.threads ?? config.runtime?.threads ?? 0,
    });
  const progress = new Progress(cells.reduce((s, c) => s + cellWeight(c), 0), options.progress ?? {});
  for (const note of notes) progress.log(note);
  const shard = options.shard;
  if (shard) {
    progress.log(`Shard ${shardName(shard)}: ${cells.length} of the sweep's ${sweep.length} cells`);
  }
  const first = sweep[0]!.config;
  const metricLabel = cellKindOf(first).metricLabel(first);
  const results: PipelineResults = {
    format: RESULTS_FORMAT,
    pipeline: config.name,
    status: "complete",
    title: config.report?.title ?? config.name,
    ...(config.description !== undefined ? { subtitle: config.description } : {}),
    ...(config.report?.charts !== undefined ? { charts: [...config.report.charts] } : {}),
    summary: config.report?.summary ?? true,
    metricLabel,
    metricLogY: metricLabel === "mse",
    meta: metaOf(config, options, runtime),
    provenance: await collectProvenance({
      config,
      cells: sweep.map((c) => c.config),
      file: options.file,
      quick: options.quick ?? false,
      threads: options.threads ?? config.runtime?.threads ?? 0,
      backendRequested: runtime.requested,
      backend: runtime.backend,
      flushDenormals: runtime.flushDenormals,
    }),
    cells: cells.map((c) => ({ id: c.id, values: { ...c.values }, status: "pending" })),
    results: emptyCellRecords(),
  };
  const merge = (r: CellRecords) => appendCellRecords(results.results, r);
  // A shard writes its own results file, never the folder's results.json, CSVs or report (which the merge writes).
  const entries = shard
    ? sweep.map((c) => ({ id: c.id, values: { ...c.values }, configHash: configHash(c.config) }))
    : [];
  const save = async (r: PipelineResults) => {
    if (!shard) return void await writePipelineResults(dir, r);
    const file: ShardResults = { ...r, shard: { index: shard.index, count: shard.count }, sweep: entries };
    await writeShardResults(dir, file);
  };
  let failed = false;
  try {
    for (const [i, cell] of cells.entries()) {
      const summary = results.cells[i]!;
      const cellDir = join(dir, "cells", cell.id);
      const resultPath = join(cellDir, "result.json");
      const hash = configHash(cell.config);
      // Without resume the folder started empty (claimOutput): nothing earlier is ever deleted here.
      if (options.resume) {
        const warn = (m: string) => progress.log(`cell ${i + 1}/${cells.length} ${cell.id}: ${m}`);
        const saved = await savedCellRecords(resultPath, hash, warn);
        if (saved) {
          merge(saved);
          summary.status = "skipped";
          progress.skip(cellWeight(cell));
          progress.log(`cell ${i + 1}/${cells.length} ${cell.id}: finished earlier, skipped`);
          // A run killed between result.json and the tidy-up left the cell's checkpoint: it goes now.
          await tidyFinishedCell(cellKindOf(cell.config), cellDir, warn);
          continue;
        }
      }
      if (options.signal?.aborted) break;
      const kind = cellKindOf(cell.config);
      progress.startCell(i + 1, cells.length, cell.id, kind.unitCost(cell.config), kind.units(cell.config));
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
        const { records, stopped, resumed } = await kind.run(ctx);
        merge(records);
        if (stopped) {
          summary.status = "partial";
          break;
        }
        await writeJsonAtomic(resultPath, { configHash: hash, cellId: cell.id, records });
        await tidyFinishedCell(kind, cellDir, (m) => progress.log(`cell ${i + 1}/${cells.length} ${cell.id}: ${m}`));
        summary.status = resumed ? "resumed" : "done";
        options.onEvent?.({ cell: cell.id, kind: "cell" });
      } catch (e) {
        failed = true;
        summary.status = "failed";
        summary.error = (e as Error).message;
        progress.log(`cell ${i + 1}/${cells.length} ${cell.id}: failed: ${(e as Error).message}`);
      }
      progress.endCell();
      await save({ ...results, status: "interrupted" });
    }
    progress.finish();
    results.meta.runSeconds = progress.elapsed; // the run's wall-clock, report writing aside
    results.meta.backend = runtime.backend; // after any fallback to cpu
    if (runtime.deviceName !== undefined) results.meta.device = runtime.deviceName;
    if (results.provenance) results.provenance.backend = runtime.backend;
    const interrupted = options.signal?.aborted === true &&
      results.cells.some((c) => c.status === "pending" || c.status === "partial");
    results.status = interrupted ? "interrupted" : "complete";
    await save(results);
    // An interrupted run reports what it finished too (the report says it is partial); a shard leaves the report
    // to the merge.
    const report = !shard && options.report !== false
      ? await writePipelineReport(dir, results, options.charts ?? true)
      : undefined;
    const resultsDir = shard ? shardDir(dir, shardName(shard)) : dir;
    if (interrupted) {
      const again = shard ? ` --shard ${shard.index}/${shard.count}` : "";
      progress.log(`Interrupted: checkpoints and partial results in ${resultsDir}; continue with --resume${again}`);
      if (report) progress.log(`Report of the finished cells: ${report}`);
    } else {
      for (const line of runSummary(results, resultsDir, report, progress.elapsed)) progress.log(line);
      if (shard) progress.log(`Merge the shards into one results.json and report with: deno task report ${dir}`);
    }
    return { results, dir, exitCode: interrupted ? 130 : failed ? 1 : 0 };
  } finally {
    if (!options.runtime) await runtime.dispose();
  }
}

/**
 * Reads, validates and runs a pipeline file (YAML or JSON): what
 * `deno task pipeline <file>` does. With `quick`, the file's `quick`
 * overrides are applied first.
 *
 * @throws {PipelineError} listing every issue of the file, before anything is written.
 * @throws {OutputError} when the output folder is locked or holds results (see {@linkcode runPipeline}).
 *
 * @example
 * ```ts
 * import { runPipelineFile } from "./engine.ts";
 * const dir = await Deno.makeTempDir();
 * const file = `${dir}/tiny.yaml`;
 * await Deno.writeTextFile(file, [
 *   "name: tiny",
 *   "data: { kind: analytic, T: { min: 1, max: 2, count: 2 } }",
 *   "solve: { rtol: 1.0e-8, atol: 1.0e-8 }",
 *   "gradient: { method: gq }",
 *   "evaluate: { metrics: [gradient-error] }",
 * ].join("\n"));
 * const run = await runPipelineFile(file, { out: dir, threads: 1, report: false, progress: { write: () => {} } });
 * if (run.exitCode !== 0 || run.results.results.gradientErrors.length !== 8) throw new Error("2 T × 4 quantities");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function runPipelineFile(file: string, options: RunPipelineOptions = {}): Promise<PipelineRun> {
  const config = await readPipeline(file, { quick: options.quick ?? false });
  return await runPipeline(config, { ...options, file });
}
