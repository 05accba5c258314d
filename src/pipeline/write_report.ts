/**
 * The report of a pipeline's results: `report.html` and, with `charts`,
 * `charts/NN-<title>.svg` and `.png`, from the results file's content alone
 * (what `deno task report <dir>` does too).
 *
 * @module
 */
import { join } from "node:path";
import { experimentReport } from "../report/experiment.ts";
import { renderReport } from "../report/html.ts";
import { writeReportCharts } from "../report/static.ts";
import type { PipelineResults } from "../results/records.ts";
import { replaceDirectory, writeFileAtomic } from "../util/files.ts";

/** Renders report.html (and with `charts`, the charts folder, replaced as a whole) into `dir`. */
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
