/**
 * Helpers shared by the benchmark modules: robust statistics, a plain-text
 * table and an atomic JSON report under `reports/bench/`.
 *
 * @module
 */
import { writeResults } from "../src/results/file.ts";
import { type ExperimentResults, RESULTS_FORMAT } from "../src/results/records.ts";
import { machineCpu } from "../src/util/machine.ts";
import { writeJsonAtomic } from "../src/util/files.ts";

/** The median of a non-empty list (mean of the middle two for even lengths). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError("median() needs at least one value, got none");
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Times `fn` `repeats` times after `warmup` untimed calls; returns every
 * duration in milliseconds. With `budgetMs`, stops early once that much time
 * has been spent and at least `minRepeats` samples are in.
 */
export async function timeRepeats(
  fn: () => Promise<unknown>,
  options: { repeats: number; warmup?: number; budgetMs?: number; minRepeats?: number },
): Promise<number[]> {
  const { repeats, warmup = 2, budgetMs = Infinity, minRepeats = 3 } = options;
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
    if (times.length >= minRepeats && performance.now() - start > budgetMs) break;
  }
  return times;
}

function cell(v: unknown): string {
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : v.toPrecision(4);
  }
  return String(v ?? "");
}

/** Formats rows as a right-aligned plain-text table of the given columns, under a title. */
export function formatTable<T extends object>(
  title: string,
  rows: readonly T[],
  columns: readonly (keyof T & string)[],
): string {
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: readonly string[]) => vals.map((v, i) => v.padStart(widths[i]!)).join("  ");
  return [title, line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

/** Prints {@linkcode formatTable}'s table to stdout, followed by a blank line. */
export function printTable<T extends object>(
  title: string,
  rows: readonly T[],
  columns: readonly (keyof T & string)[],
): void {
  console.log(`${formatTable(title, rows, columns)}\n`);
}

/** Where benchmark reports go, relative to the working directory. */
export const REPORT_DIR = "reports/bench";

/** The machine and the time, for a report's header. */
function environment() {
  return {
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    os: Deno.build.os,
    arch: Deno.build.arch,
    cpus: navigator.hardwareConcurrency,
    // Ratios depend on the machine (MLAS against MKL, the vector width): the CPU model says which one ran.
    cpuModel: machineCpu().model,
  };
}

function reportPath(name: string, dir: string): string {
  if (!/^[a-z0-9_-]+$/i.test(name)) throw new RangeError(`Report name must be [A-Za-z0-9_-]+, got "${name}"`);
  return `${dir}/${name}.json`;
}

/** Options of {@linkcode writeBenchResults}. */
export interface BenchResultsOptions {
  /** Folder the file goes to. @default `reports/bench` ({@linkcode REPORT_DIR}) */
  dir?: string;
  /** A line under the report's title. */
  subtitle?: string;
  /** More facts for the header (settings, versions, …), after the machine and the time; flat values only. */
  meta?: Record<string, string | number | boolean | null>;
}

/**
 * Writes benchmark records as a results file (the format of src/results/,
 * what `deno task report` and the pipelines read) to `${dir}/${name}.json`,
 * with the benchmark's name, the machine and the time in its `meta`, then
 * `options.meta`. Returns the path.
 */
export async function writeBenchResults(
  name: string,
  title: string,
  results: ExperimentResults,
  options: BenchResultsOptions = {},
): Promise<string> {
  const path = reportPath(name, options.dir ?? REPORT_DIR);
  await writeResults(path, {
    format: RESULTS_FORMAT,
    title,
    ...(options.subtitle !== undefined ? { subtitle: options.subtitle } : {}),
    meta: { benchmark: name, ...environment(), ...options.meta },
    results,
  });
  return path;
}

/**
 * Writes `data` (plus the time and environment) as JSON to
 * `${dir}/${name}.json` atomically: a temporary file in the same directory,
 * then a rename, so readers never see half a report. Returns the path.
 */
export async function writeJson(name: string, data: object, dir: string = REPORT_DIR): Promise<string> {
  const path = reportPath(name, dir);
  const { date, ...machine } = environment();
  const report = { benchmark: name, date, environment: machine, ...data };
  await writeJsonAtomic(path, report);
  return path;
}
