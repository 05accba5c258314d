/**
 * The report of a pipeline's results: `report.html` and, with `charts`,
 * `charts/NN-<title>.svg` and `.png`, from the results file's content alone
 * (what `deno task report <dir>` does too); and the lines a run ends with.
 *
 * @module
 */
import { join } from "node:path";
import { experimentReport, finishedCells, labelVariants, reportSubtitle } from "../report/experiment.ts";
import { renderReport } from "../report/html.ts";
import { writeReportCharts } from "../report/static.ts";
import type { PipelineResults } from "../results/records.ts";
import { formatDuration } from "./progress.ts";
import { replaceDirectory, writeFileAtomic } from "../util/files.ts";

/**
 * Renders report.html (and with `charts`, the charts folder, replaced as a
 * whole) into `dir`; returns the path of report.html.
 */
export async function writePipelineReport(dir: string, results: PipelineResults, charts = true): Promise<string> {
  const subtitle = reportSubtitle(results);
  const content = experimentReport(results.results, {
    title: results.title,
    ...(subtitle !== undefined ? { subtitle } : {}),
    ...(results.charts !== undefined ? { charts: results.charts } : {}),
    summary: results.summary,
    metricLabel: results.metricLabel,
    metricLogY: results.metricLogY,
    meta: results.meta,
    ...(results.provenance !== undefined ? { provenance: results.provenance } : {}),
    cells: results.cells,
  });
  const path = join(dir, "report.html");
  await writeFileAtomic(path, renderReport(content));
  if (charts) await replaceDirectory(join(dir, "charts"), async (tmp) => void await writeReportCharts(tmp, content));
  return path;
}

function short(v: number): string {
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? String(Number(v.toPrecision(4))) : v.toExponential(2);
}

/** `label: gq 0.97, adjoint 0.96` from one value per method, or "" without values. */
function perMethod(
  label: string,
  records: readonly { method: string; variant?: string }[],
  value: (r: never) => unknown,
  pick: "mean" | "max",
) {
  const by = new Map<string, number[]>();
  for (const r of records) {
    const v = value(r as never), name = r.variant === undefined ? r.method : `${r.method} (${r.variant})`;
    if (typeof v === "number" && Number.isFinite(v)) by.set(name, [...(by.get(name) ?? []), v]);
  }
  if (by.size === 0 || by.size > 6) return "";
  const parts = [...by].map(([m, vs]) =>
    `${m} ${short(pick === "max" ? Math.max(...vs) : vs.reduce((a, b) => a + b, 0) / vs.length)}`
  );
  return `${label}: ${parts.join(", ")}`;
}

/**
 * The lines a finished run ends with: where the results are, a one-line
 * summary (cells done and failed, time, each method's mean test metric,
 * worst gradient error or largest peak memory), and last the path of
 * report.html when one was written.
 *
 * @example
 * ```ts
 * import { runSummary } from "./write_report.ts";
 * const lines = runSummary({
 *   pipeline: "demo", metricLabel: "accuracy", cells: [{ id: "a", values: {}, status: "done" }],
 *   results: { runs: [{ method: "gq", testMetric: 0.9 }], gradientErrors: [], memory: [] },
 * } as never, "out/demo", "out/demo/report.html", 12);
 * if (lines.at(-1) !== "Report: out/demo/report.html") throw new Error(lines.join("\n"));
 * if (!lines[1]!.includes("1 of 1 cells done") || !lines[1]!.includes("gq 0.9")) throw new Error(lines[1]);
 * ```
 */
export function runSummary(
  results: PipelineResults,
  dir: string,
  reportPath: string | undefined,
  elapsedSeconds: number,
): string[] {
  const cells = results.cells;
  const done = finishedCells(results.cells);
  const failed = cells.filter((c) => c.status === "failed").length;
  const metric = `test ${results.metricLabel}`.replace(/\b(mse|kl)\b/g, (m) => m.toUpperCase());
  // Methods with the other swept values of their cells, as the report's panels tell them apart.
  const r = labelVariants(results.results, results.cells) as typeof results.results;
  const facts = [
    `${results.pipeline}: ${done} of ${cells.length} cells done${failed ? `, ${failed} failed` : ""} in ` +
    formatDuration(elapsedSeconds),
    perMethod(`mean ${metric}`, r.runs, (x: { testMetric?: unknown }) => x.testMetric, "mean"),
    perMethod("worst relative error", r.gradientErrors, (x: { relativeError?: unknown }) => x.relativeError, "max"),
    perMethod(
      "peak memory (MiB)",
      r.memory,
      (x: { peakRssBytes?: unknown }) => typeof x.peakRssBytes === "number" ? x.peakRssBytes / 2 ** 20 : null,
      "max",
    ),
  ].filter((f) => f !== "");
  return [`Results in ${dir}`, facts.join("; "), ...(reportPath !== undefined ? [`Report: ${reportPath}`] : [])];
}
