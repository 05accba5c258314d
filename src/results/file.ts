/**
 * Reading and writing results files ({@linkcode ResultsFile}): one reader for
 * the report CLI, the engine's `--resume` and the tests, one writer for the
 * engine and the benchmarks.
 *
 * The reader refuses a file whose `format` it does not know, naming the
 * format it found and the one it reads; files of the previous format,
 * `quadjoint.results/2`, are read with their two renamed fields mapped
 * (an epoch's `seconds` is now `elapsedSeconds`, a memory point's `bytes`
 * is now `heldBytes`). Records are checked for the fields the report needs;
 * a bad one is named by its path (`results.runs[3].width`).
 *
 * @module
 */
import { join } from "node:path";
import { z } from "zod";
import { toCsv, writeFileAtomic, writeJsonAtomic } from "../util/files.ts";
import {
  CHART_KINDS,
  type ExperimentResults,
  type PipelineResults,
  RESULTS_FORMAT,
  type ResultsFile,
} from "./records.ts";

/** The previous format, read by mapping its renamed fields. */
const PREVIOUS_FORMAT = "quadjoint.results/2";

const maybeNumber = z.number().nullable().optional();
const method = z.string().min(1);

// Loose objects: the engine's records carry more fields than the report needs, and those pass through unchanged.
const ResultsFileSchema = z.looseObject({
  format: z.literal(RESULTS_FORMAT),
  title: z.string().optional(),
  subtitle: z.string().optional(),
  charts: z.array(z.enum(CHART_KINDS)).optional(),
  summary: z.boolean().optional(),
  metricLabel: z.string().optional(),
  metricLogY: z.boolean().optional(),
  meta: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  results: z.looseObject({
    runs: z.array(z.looseObject({
      method,
      width: z.number(),
      seed: z.number().optional(),
      trainSeconds: maybeNumber,
      testMetric: maybeNumber,
      nfeForwardPerBatch: maybeNumber,
      nfeBackwardPerBatch: maybeNumber,
      nodesPerBatch: maybeNumber,
      cosines: maybeNumber,
    })).optional(),
    epochs: z.array(z.looseObject({
      method,
      width: z.number(),
      seed: z.number().optional(),
      epoch: z.number().int(),
      elapsedSeconds: maybeNumber,
      testLoss: maybeNumber,
    })).optional(),
    gradientErrors: z.array(z.looseObject({ method, T: z.number(), quantity: z.string(), relativeError: maybeNumber }))
      .optional(),
    memory: z.array(z.looseObject({ method, tolerance: z.number(), heldBytes: maybeNumber })).optional(),
    sdeDensities: z.array(z.looseObject({
      cellId: z.string(),
      method,
      width: z.number(),
      x0: z.number(),
      t: z.number(),
      x: z.number(),
      density: z.number(),
      source: z.enum(["model", "data"]),
    })).optional(),
    sdePaths: z.array(z.looseObject({
      cellId: z.string(),
      method,
      width: z.number(),
      x0: z.number(),
      path: z.number().int(),
      t: z.number(),
      value: maybeNumber,
      source: z.enum(["model", "data"]),
    })).optional(),
    sdeEpochTimings: z.array(z.looseObject({ method, width: z.number(), epochSeconds: z.number() })).optional(),
    gradientTimings: z.array(z.looseObject({
      method,
      width: z.number(),
      gradientSeconds: z.number(),
      nfeForwardPerGradient: z.number(),
      nfeBackwardPerGradient: z.number(),
    })).optional(),
    peerGradients: z.array(z.looseObject({
      regime: z.string(),
      method,
      width: z.number(),
      quadjointSeconds: z.number(),
      peerSeconds: maybeNumber,
      ratio: maybeNumber,
    })).optional(),
    peerTraining: z.array(z.looseObject({
      method,
      width: z.number(),
      quadjointEpochSeconds: z.number(),
      peerEpochSeconds: maybeNumber,
      ratio: maybeNumber,
    })).optional(),
    peerLimits: z.array(z.looseObject({
      regime: z.string(),
      method,
      width: z.number(),
      gradientSeconds: z.number(),
      fraction: maybeNumber,
    })).optional(),
  }),
});

function renameField(rows: unknown, from: string, to: string): void {
  if (!Array.isArray(rows)) return;
  for (const row of rows) {
    if (typeof row === "object" && row !== null && from in row && !(to in row)) {
      const r = row as Record<string, unknown>;
      r[to] = r[from];
      delete r[from];
    }
  }
}

/** A /2 file as a /3 one: the two fields that gained their unit. */
function fromPreviousFormat(file: Record<string, unknown>): void {
  const results = file.results as Record<string, unknown> | undefined;
  if (typeof results === "object" && results !== null) {
    renameField(results.epochs, "seconds", "elapsedSeconds");
    renameField(results.memory, "bytes", "heldBytes");
  }
  file.format = RESULTS_FORMAT;
}

function issuePath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`).join("");
}

/**
 * Checks parsed JSON as a results file and returns it.
 *
 * @throws {RangeError} when `format` is missing or unknown, naming what was found and what this version reads.
 * @throws {TypeError} when a record lacks a field the report needs, naming its path.
 *
 * @example
 * ```ts
 * import { parseResults } from "./file.ts";
 * const file = parseResults({
 *   format: "quadjoint.results/3",
 *   title: "demo",
 *   results: { runs: [{ method: "gq", width: 8, trainSeconds: 1.5 }] },
 * }, "demo.json");
 * if (file.results.runs?.[0]?.width !== 8) throw new Error();
 * let refused = false;
 * try { parseResults({ format: "quadjoint.results/9", results: {} }, "new.json"); } catch { refused = true; }
 * if (!refused) throw new Error("an unknown format must be refused");
 * ```
 */
export function parseResults(json: unknown, source: string): ResultsFile {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new TypeError(
      `Results file ${source} must hold a JSON object, got ${Array.isArray(json) ? "an array" : typeof json}`,
    );
  }
  const file = structuredClone(json) as Record<string, unknown>;
  if (file.format === PREVIOUS_FORMAT) fromPreviousFormat(file);
  if (file.format !== RESULTS_FORMAT) {
    const found = file.format === undefined ? "no format field" : `format ${JSON.stringify(file.format)}`;
    throw new RangeError(
      `Results file ${source} has ${found}; this quadjoint reads "${RESULTS_FORMAT}" (and "${PREVIOUS_FORMAT}"). ` +
        "Rerun the pipeline or benchmark that wrote it",
    );
  }
  const parsed = ResultsFileSchema.safeParse(file);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${issuePath(i.path)}: ${i.message}`);
    throw new TypeError(`Results file ${source} is not valid: ${issues.join("; ")}`);
  }
  return parsed.data as unknown as ResultsFile;
}

/**
 * Reads and checks a results file.
 *
 * @throws {SyntaxError} when the file is not JSON; see {@linkcode parseResults} for the rest.
 */
export async function readResults(path: string): Promise<ResultsFile> {
  const text = await Deno.readTextFile(path);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`Results file ${path} is not JSON: ${(e as Error).message}`);
  }
  return parseResults(json, path);
}

/** Writes a results file atomically (a temporary file, then a rename): readers never see half a file. */
export async function writeResults(path: string, file: ResultsFile): Promise<void> {
  await writeJsonAtomic(path, file);
}

/** The records of a results file, any list absent counted as empty. */
function recordsOf(results: ExperimentResults) {
  return {
    runs: results.runs ?? [],
    epochs: results.epochs ?? [],
    gradientErrors: results.gradientErrors ?? [],
    memory: results.memory ?? [],
    sdeDensities: results.sdeDensities ?? [],
    sdePaths: results.sdePaths ?? [],
  };
}

/**
 * A pipeline's results folder: `results.json` and the same records as CSV
 * for spreadsheets (`results.csv` holds the runs, or the analytic records when
 * there are none; `epochs.csv`, `gradient_errors.csv`, `memory.csv`,
 * `sde_densities.csv`, `sde_paths.csv` when they have rows). Every file is written atomically.
 */
export async function writePipelineResults(dir: string, results: PipelineResults): Promise<void> {
  await writeResults(join(dir, "results.json"), results);
  const r = recordsOf(results.results);
  const primary = r.runs.length > 0 ? r.runs : r.gradientErrors.length > 0 ? r.gradientErrors : r.memory;
  await writeFileAtomic(join(dir, "results.csv"), toCsv(primary));
  const tables: [string, readonly object[]][] = [
    ["epochs.csv", r.epochs],
    ["gradient_errors.csv", r.gradientErrors],
    ["memory.csv", r.memory],
    ["sde_densities.csv", r.sdeDensities],
    ["sde_paths.csv", r.sdePaths],
  ];
  for (const [name, rows] of tables) {
    if (rows.length > 0) await writeFileAtomic(join(dir, name), toCsv(rows));
  }
}
