/**
 * The standard report of one experiment: from its plain result records to
 * the sections {@linkcode renderReport} draws, choosing charts by the names
 * a pipeline's `report.charts` lists.
 *
 * @module
 */
import type { ReportContent, ReportSection } from "./html.ts";
import {
  type ChartSpec,
  type EpochRecord,
  type GradientErrorRecord,
  gradientErrorSpec,
  lossCurveSpec,
  type MemoryRecord,
  memorySpec,
  nfeSpec,
  type RunRecord,
  testMetricSpec,
  trainingTimeSpec,
} from "./specs.ts";
import { speedSummary } from "./summary.ts";

/** Chart names, as a pipeline's `report.charts` spells them. */
export const CHART_KINDS = ["training-time", "test-metric", "loss-curve", "nfe", "gradient-error", "memory"] as const;

/** One chart name of {@linkcode CHART_KINDS}. */
export type ChartKind = typeof CHART_KINDS[number];

/** Everything an experiment measured, as plain records (each list optional). */
export interface ExperimentResults {
  /** One record per training run (method × width × seed). */
  runs?: RunRecord[];
  /** Test loss per run and epoch. */
  epochs?: EpochRecord[];
  /** Relative gradient errors of the analytic problem. */
  gradientErrors?: GradientErrorRecord[];
  /** Held memory per method and tolerance. */
  memory?: MemoryRecord[];
}

/** Options of {@linkcode experimentReport}. */
export interface ExperimentReportOptions {
  /** Report title. */
  title: string;
  /** A line under the title. */
  subtitle?: string;
  /** Charts to draw, in any order (the report keeps its own order). @default every chart with data */
  charts?: readonly ChartKind[];
  /** Include the speed summary table (needs runs). @default true */
  summary?: boolean;
  /** Name of the runs' test metric (accuracy, MSE, …). @default "test metric" */
  metricLabel?: string;
  /** Log scale for the test metric (for MSE-like metrics). @default false */
  metricLogY?: boolean;
  /** Facts about the run for the report header. */
  meta?: ReportContent["meta"];
}

/**
 * Builds the report content of one experiment: "Speed and accuracy"
 * (training time, test metric, summary table), "Training curves" (test loss
 * against epoch and wall-clock time), "Gradients" (relative error, NFE) and
 * "Memory". A section appears when one of its charts is asked for; a chart
 * asked for without records becomes a line of text saying so.
 *
 * @example
 * ```ts
 * import { experimentReport } from "./experiment.ts";
 * const content = experimentReport(
 *   { runs: [{ method: "gq", width: 5, trainSeconds: 1, testMetric: 0.9 }] },
 *   { title: "Nested spheres", charts: ["training-time", "memory"] },
 * );
 * if (content.sections.map((s) => s.title).join() !== "Speed and accuracy,Memory") throw new Error();
 * ```
 */
export function experimentReport(results: ExperimentResults, options: ExperimentReportOptions): ReportContent {
  const { title, subtitle, summary = true, metricLabel = "test metric", metricLogY = false, meta } = options;
  const { runs = [], epochs = [], gradientErrors = [], memory = [] } = results;
  const charts = new Set<ChartKind>(
    options.charts ??
      CHART_KINDS.filter((k) =>
        ({
          "training-time": runs.length,
          "test-metric": runs.length,
          "nfe": runs.length,
          "loss-curve": epochs.length,
          "gradient-error": gradientErrors.length,
          "memory": memory.length,
        })[k] > 0
      ),
  );
  for (const c of charts) {
    if (!(CHART_KINDS as readonly string[]).includes(c)) {
      throw new RangeError(`experimentReport(): unknown chart "${c}"; expected one of ${CHART_KINDS.join(", ")}`);
    }
  }
  const sections: ReportSection[] = [];
  const section = (name: string, parts: [ChartKind, number, () => ChartSpec[]][], extra: Partial<ReportSection>) => {
    const wanted = parts.filter(([k]) => charts.has(k));
    if (wanted.length === 0 && extra.table === undefined) return;
    const missing = wanted.filter(([, n]) => n === 0).map(([k]) => k);
    const s: ReportSection = { title: name, charts: wanted.filter(([, n]) => n > 0).flatMap(([, , f]) => f()) };
    if (missing.length) s.text = `No records for: ${missing.join(", ")}.`;
    if (extra.table) s.table = extra.table;
    sections.push(s);
  };
  const metric = { metricLabel, logY: metricLogY };
  section("Speed and accuracy", [
    ["training-time", runs.length, () => [trainingTimeSpec(runs)]],
    ["test-metric", runs.length, () => [testMetricSpec(runs, metric)]],
  ], summary && runs.length > 0 ? { table: speedSummary(runs, { metricLabel }) } : {});
  section("Training curves", [
    ["loss-curve", epochs.length, () => [lossCurveSpec(epochs), lossCurveSpec(epochs, { x: "seconds" })]],
  ], {});
  section("Gradients", [
    ["gradient-error", gradientErrors.length, () => [gradientErrorSpec(gradientErrors)]],
    ["nfe", runs.length, () => [nfeSpec(runs)]],
  ], {});
  section("Memory", [["memory", memory.length, () => [memorySpec(memory)]]], {});
  return {
    title,
    ...(subtitle !== undefined ? { subtitle } : {}),
    sections,
    ...(meta !== undefined ? { meta } : {}),
  };
}
