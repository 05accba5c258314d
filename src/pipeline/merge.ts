/**
 * Merging a sharded sweep (`--shard i/N`, shard.ts): `deno task report <dir>`
 * on an output folder with `shards/` gathers the finished cells of every
 * shard into the folder's `results.json`, its CSVs, `report.html` and
 * `charts/`, as one unsharded run would have written them (cells and records
 * in sweep order).
 *
 * - The shards' results files (`shards/<i>-of-<N>/results.json`) must all
 *   describe the same sweep: the same cells with the same configuration
 *   hashes (settings.ts). Shards of another configuration (an edited file,
 *   another `--quick`) are refused, naming the shards, before anything is
 *   written; so is a cell whose `cells/<id>/result.json` was computed with
 *   another configuration than the sweep's.
 * - A cell is finished when its `cells/<id>/result.json` is of the sweep's
 *   configuration, whichever run wrote it (shards of another N, an unsharded
 *   `--resume`). The others are listed as missing (not run yet, or a shard
 *   still running, named by its lock) or failed (with the shard's error);
 *   their cells are `pending` or `failed` in results.json, the results are
 *   `interrupted` when any is pending, and the merge exits 1. Exit 0 means
 *   every cell of the sweep is in.
 * - Header fields (title, charts, metric, provenance) come from the first
 *   shard's file, by shard count then index; `meta.date` is the earliest
 *   shard's, and `meta.shards` names the shards merged.
 *
 * The merge holds the folder's `.lock` while it writes, so it never races an
 * unsharded run; shards may go on running meanwhile (they write only their
 * own files).
 *
 * @module
 */
import { join } from "node:path";
import { parseResults, writePipelineResults } from "../results/file.ts";
import { appendCellRecords, type CellRecords, emptyCellRecords, type PipelineResults } from "../results/records.ts";
import { readJsonIfExists } from "../util/files.ts";
import { acquireOutputLock, liveShardLocks, OutputError } from "./_output_lock.ts";
import { shardName, type ShardResults, type SweepEntry } from "./shard.ts";
import { writePipelineReport } from "./write_report.ts";

/** Options of {@linkcode mergeShards}. */
export interface MergeOptions {
  /** Write report.html. @default true */
  report?: boolean;
  /** Write charts/*.svg and *.png. @default true */
  charts?: boolean;
}

/** What {@linkcode mergeShards} did. */
export interface MergeOutcome {
  /** The merged results, as written to `<dir>/results.json`. */
  results: PipelineResults;
  /** Lines for the user: what was merged, what is missing or failed. */
  notes: string[];
  /** Cells with no finished result: not run yet, interrupted, or in a shard still running. */
  missing: string[];
  /** Cells whose shard failed them, with the error. */
  failed: { id: string; error: string }[];
  /** The report written, when one was. */
  report?: string;
  /** 0 when every cell of the sweep is in, 1 when some are missing or failed. */
  exitCode: 0 | 1;
}

/** Whether `dir` holds shards' results (`shards/*\/results.json`). */
export async function hasShards(dir: string): Promise<boolean> {
  return (await shardFiles(dir)).length > 0;
}

async function shardFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(join(dir, "shards")))).filter((e) => e.isDirectory).map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return [];
    throw e;
  }
  const files: string[] = [];
  for (const name of names) {
    const file = join(dir, "shards", name, "results.json");
    if (await Deno.stat(file).then((s) => s.isFile, () => false)) files.push(file);
  }
  return files;
}

/** A shard's results file, checked. */
async function readShard(file: string, dir: string): Promise<ShardResults> {
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new OutputError(dir, `Cannot read shard results ${file}: ${(e as Error).message}`);
  }
  let parsed: ShardResults;
  try {
    parsed = parseResults(json, file) as unknown as ShardResults;
  } catch (e) {
    throw new OutputError(dir, (e as Error).message);
  }
  const s = parsed.shard, sweep = parsed.sweep;
  const entryOk = (e: SweepEntry) => typeof e?.id === "string" && typeof e?.configHash === "string";
  if (
    typeof s !== "object" || s === null || !Number.isInteger(s.index) || !Number.isInteger(s.count) ||
    !Array.isArray(sweep) || !sweep.every(entryOk) || !Array.isArray(parsed.cells)
  ) {
    throw new OutputError(dir, `Shard results ${file} lack the shard, sweep or cells fields a shard run writes`);
  }
  return parsed;
}

/** Why two shards' sweeps differ, or undefined when they agree. */
function sweepDifference(a: readonly SweepEntry[], b: readonly SweepEntry[]): string | undefined {
  const hashes = new Map(b.map((e) => [e.id, e.configHash]));
  for (const e of a) {
    const other = hashes.get(e.id);
    if (other === undefined) return `cell ${e.id} is in one sweep only`;
    if (other !== e.configHash) {
      return `cell ${e.id} has configuration hash ${e.configHash} in one, ${other} in the other`;
    }
  }
  return a.length === b.length ? undefined : `${a.length} cells against ${b.length}`;
}

/** A cell's saved records and the hash they were computed with; undefined when it has none. */
async function savedCell(path: string): Promise<{ hash: unknown; records: CellRecords } | undefined> {
  let saved: unknown;
  try {
    saved = await readJsonIfExists(path);
  } catch {
    return undefined; // unreadable (a corrupt file): the cell runs again on --resume, so it is missing here
  }
  const s = saved as { configHash?: unknown; records?: Partial<Record<keyof CellRecords, unknown>> } | undefined;
  const lists = ["runs", "epochs", "gradientErrors", "memory"] as const;
  if (typeof s !== "object" || s === null || typeof s.records !== "object" || s.records === null) return undefined;
  if (lists.some((k) => !Array.isArray(s.records![k]))) return undefined;
  return { hash: s.configHash, records: s.records as CellRecords };
}

/** Up to `n` items, then how many more. */
function some(items: readonly string[], n = 8): string {
  return items.length > n ? `${items.slice(0, n).join(", ")} and ${items.length - n} more` : items.join(", ");
}

/**
 * Merges the shards' finished cells in output folder `dir` into its
 * results.json, CSVs and report (see the module doc).
 *
 * @throws {OutputError} (exit 2, nothing written) when `dir` has no shard
 *   results, a shard file cannot be read, the shards ran different sweeps, a
 *   cell holds results of another configuration, or an unsharded run holds
 *   the folder.
 */
export async function mergeShards(dir: string, options: MergeOptions = {}): Promise<MergeOutcome> {
  const files = await shardFiles(dir);
  if (files.length === 0) throw new OutputError(dir, `No shard results in ${join(dir, "shards")} to merge`);
  const shards = await Promise.all(files.map((f) => readShard(f, dir)));
  shards.sort((a, b) => a.shard.count - b.shard.count || a.shard.index - b.shard.index);
  const base = shards[0]!;
  const names = shards.map((s) => shardName(s.shard));
  for (const [k, s] of shards.entries()) {
    const why = sweepDifference(base.sweep, s.sweep) ?? (s.pipeline !== base.pipeline ? "another pipeline" : undefined);
    if (why !== undefined) {
      throw new OutputError(
        dir,
        `Shards ${names[0]} and ${names[k]} in ${dir} ran different configurations of the sweep (${why}): ` +
          `rerun the stale shards with --resume under the current file, or remove their ${
            join(dir, "shards")
          }/<i-of-N>/`,
      );
    }
  }
  const { lock } = await acquireOutputLock(dir);
  try {
    const records = emptyCellRecords();
    const cells: PipelineResults["cells"] = [];
    const missing: string[] = [], failed: { id: string; error: string }[] = [], foreign: string[] = [];
    const byId = new Map<string, PipelineResults["cells"]>();
    for (const c of shards.flatMap((s) => s.cells)) byId.set(c.id, [...(byId.get(c.id) ?? []), c]);
    for (const entry of base.sweep) {
      const saved = await savedCell(join(dir, "cells", entry.id, "result.json"));
      const reported = byId.get(entry.id) ?? [];
      if (saved !== undefined && saved.hash !== entry.configHash) {
        foreign.push(`${entry.id} (hash ${String(saved.hash)}, the sweep's ${entry.configHash})`);
        continue;
      }
      if (saved !== undefined) {
        appendCellRecords(records, saved.records);
        const done = reported.find((c) => c.status === "done" || c.status === "resumed")?.status ?? "skipped";
        cells.push({ id: entry.id, values: entry.values, status: done });
        continue;
      }
      const failure = reported.find((c) => c.status === "failed");
      if (failure !== undefined) {
        failed.push({ id: entry.id, error: failure.error ?? "failed" });
        cells.push({ id: entry.id, values: entry.values, status: "failed", error: failure.error ?? "failed" });
      } else {
        missing.push(entry.id);
        cells.push({ id: entry.id, values: entry.values, status: "pending" });
      }
    }
    if (foreign.length > 0) {
      throw new OutputError(
        dir,
        `Cannot merge ${dir}: ${foreign.length} cell(s) hold results of another configuration than the shards' ` +
          `sweep: ${some(foreign, 4)}; rerun their shards with --resume (which recomputes them)`,
      );
    }
    const dates = shards.map((s) => String(s.meta.date ?? "")).filter((d) => d !== "").sort();
    const merged: PipelineResults = {
      format: base.format,
      pipeline: base.pipeline,
      status: missing.length > 0 ? "interrupted" : "complete",
      title: base.title,
      ...(base.subtitle !== undefined ? { subtitle: base.subtitle } : {}),
      ...(base.charts !== undefined ? { charts: [...base.charts] } : {}),
      summary: base.summary,
      metricLabel: base.metricLabel,
      metricLogY: base.metricLogY,
      meta: { ...base.meta, ...(dates[0] !== undefined ? { date: dates[0] } : {}), shards: names.join(", ") },
      ...(base.provenance !== undefined ? { provenance: base.provenance } : {}),
      cells,
      results: records,
    };
    await writePipelineResults(dir, merged);
    const report = options.report !== false
      ? await writePipelineReport(dir, merged, options.charts ?? true)
      : undefined;
    const finished = cells.length - missing.length - failed.length;
    const notes = [`Merged ${shards.length} shard(s) (${names.join(", ")}): ${finished} of ${cells.length} cells`];
    if (missing.length > 0) {
      const running = await liveShardLocks(dir);
      notes.push(
        `Missing ${missing.length} cell(s), not finished: ${some(missing)}` +
          (running.length > 0 ? `; still running: shard ${running.join(", ")}` : "; run their shards with --resume"),
      );
    }
    if (failed.length > 0) {
      notes.push(`Failed ${failed.length} cell(s): ${some(failed.map((f) => `${f.id} (${f.error})`), 4)}`);
    }
    return {
      results: merged,
      notes,
      missing,
      failed,
      ...(report !== undefined ? { report } : {}),
      exitCode: missing.length > 0 || failed.length > 0 ? 1 : 0,
    };
  } finally {
    await lock.release();
  }
}
