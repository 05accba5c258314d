/**
 * The standard report of one experiment: from its plain result records to
 * the sections {@linkcode renderReport} draws, choosing charts by the names
 * a pipeline's `report.charts` lists.
 *
 * @module
 */
import {
  CHART_KINDS,
  type ChartKind,
  type ExperimentResults,
  type ReportHeader,
  type RunRecord,
} from "../results/records.ts";
import type { ReportContent, ReportSection } from "./html.ts";
import {
  type ChartSpec,
  gradientErrorSpec,
  lossCurveSpec,
  memorySpec,
  nfeSpec,
  testMetricSpec,
  trainingTimeSpec,
} from "./specs.ts";
import { cosineSpecs, figureCells, sdeDensitySpec, sdePathSpec } from "./sde_specs.ts";
import { provenanceTable } from "./_provenance_table.ts";
import { sweepAxisOf } from "./_axes.ts";
import { PANEL_PATHS, sweptPanels } from "./_panels.ts";
import { speedSummary } from "./summary.ts";

/**
 * "1 seed" or "up to 3 seeds": the most distinct seeds among runs of one method at one point of one chart panel
 * (`sweptPanels`: runs at three batch sizes with one seed are one seed, not three).
 */
function seedCount(runs: readonly RunRecord[]): string {
  const axis = sweepAxisOf(runs);
  const seeds = new Map<string, Set<unknown>>();
  for (const r of sweptPanels(runs, axis).rows) {
    const o = r as RunRecord & { panel?: string } & Record<string, unknown>;
    const key = JSON.stringify([o.method, o[axis.field], o.panel ?? null]);
    let set = seeds.get(key);
    if (!set) seeds.set(key, set = new Set());
    set.add(r.seed ?? set.size); // a run without a seed counts as its own
  }
  const most = Math.max(0, ...[...seeds.values()].map((s) => s.size));
  return most === 1 ? "1 seed" : `up to ${most} seeds`;
}

/**
 * Swept paths the charts draw by themselves: the method, their x axes (width, channels; batch size is a panel field
 * too), the fields they draw panels for by name (`PANEL_PATHS`: batch size, learning rate, cosines), and seeds
 * (`seed`, and the paths a pipeline's `seeds` sets, which a test keeps equal to the pipeline's SEED_PATHS).
 */
export const DRAWN_PATHS: ReadonlySet<string> = new Set([
  "gradient.method",
  "model.dynamics.width",
  "model.dynamics.channels",
  ...PANEL_PATHS,
  "seed",
  "model.initSeed",
  "train.seed",
  "data.seed",
]);

/**
 * The records with each training record's `variant` set to its cell's other swept values, which the charts would
 * otherwise average as seeds, and each epoch record given its run's learning rate and cosines: a sweep over
 * `gradient.gq.nodes` draws a panel "gradient.gq.nodes adaptive" and one "gradient.gq.nodes interval", each with
 * every method of those cells (`sweptPanels`). The analytic records (gradient errors, memory), drawn against their own
 * swept axes, are left as they are.
 *
 * @example
 * ```ts
 * import { labelVariants } from "./experiment.ts";
 * const r = labelVariants(
 *   { runs: [{ cellId: "a", method: "gq", width: 5 }] } as never,
 *   [{ id: "a", values: { "gradient.method": "gq", "gradient.gq.nodes": "adaptive", seed: 1 } }],
 * );
 * if (r.runs![0]!.variant !== "gradient.gq.nodes adaptive" || r.runs![0]!.method !== "gq") throw new Error();
 * ```
 */
export function labelVariants(
  results: ExperimentResults,
  cells: NonNullable<ReportHeader["cells"]>,
): ExperimentResults {
  const variants = new Map<string, string>();
  for (const c of cells) {
    const parts = Object.entries(c.values).filter(([path]) => !DRAWN_PATHS.has(path))
      .map(([path, v]) => `${path} ${typeof v === "object" ? JSON.stringify(v) : String(v)}`);
    if (parts.length > 0) variants.set(c.id, parts.join(", "));
  }
  const idOf = (r: object) => (r as { cellId?: unknown }).cellId;
  const runOf = new Map((results.runs ?? []).map((r) => [idOf(r), r]));
  const labelled = <T extends object>(r: T): T => {
    const id = idOf(r), variant = typeof id === "string" ? variants.get(id) : undefined;
    return variant === undefined ? r : { ...r, variant };
  };
  return {
    ...results,
    ...(results.runs ? { runs: results.runs.map(labelled) } : {}),
    ...(results.epochs
      ? {
        epochs: results.epochs.map((e) => {
          const run = runOf.get(idOf(e));
          return labelled({
            ...(run?.lr !== undefined ? { lr: run.lr } : {}),
            ...(run?.cosines !== undefined ? { cosines: run.cosines } : {}),
            ...e,
          });
        }),
      }
      : {}),
    ...(results.sdeDensities ? { sdeDensities: results.sdeDensities.map(labelled) } : {}),
    ...(results.sdePaths ? { sdePaths: results.sdePaths.map(labelled) } : {}),
  };
}

/** Options of {@linkcode experimentReport}: a results file's {@linkcode ReportHeader}. */
export type ExperimentReportOptions = ReportHeader;

/** How many of a pipeline's cells finished, in this run or an earlier one. */
export function finishedCells(cells: readonly { readonly status?: unknown }[]): number {
  return cells.filter((c) => c.status === "done" || c.status === "resumed" || c.status === "skipped").length;
}

/** A results file as far as its report's subtitle goes: a pipeline's carries its run status and cells. */
export interface SubtitleSource {
  readonly subtitle?: string | undefined;
  readonly status?: unknown;
  readonly cells?: readonly { readonly status?: unknown }[];
}

/**
 * The report's subtitle: the description, and for an interrupted pipeline run how much of it finished — the same
 * when the pipeline writes the report and when `deno task report` renders it again.
 */
export function reportSubtitle(file: SubtitleSource): string | undefined {
  if (file.status !== "interrupted" || !Array.isArray(file.cells)) return file.subtitle;
  const note = `Interrupted: ${
    finishedCells(file.cells)
  } of ${file.cells.length} cells finished (continue with --resume)`;
  return file.subtitle === undefined ? note : `${file.subtitle}. ${note}`;
}

/**
 * Builds the report content of one experiment: "Speed and accuracy"
 * (training time, test metric, summary table), "Training curves" (test loss
 * against epoch and wall-clock time), "Gradients" (relative error, NFE) and
 * "Memory", and for neural SDEs "Karhunen–Loève cosines" (time and metric
 * against the noise's cosines) and "Neural SDE samples" (each method's
 * widest model's densities and paths against the data's), and last "Provenance" (the pipeline file's hash, the
 * settings, versions, machine and commit) when the results carry it. A section appears when one of its charts is
 * asked for; a chart asked for without records becomes a line of text saying so.
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
export function experimentReport(raw: ExperimentResults, options: ExperimentReportOptions): ReportContent {
  const { title, subtitle, summary = true, metricLabel = "metric", metricLogY = false, meta, provenance } = options;
  const results = labelVariants(raw, options.cells ?? []);
  const { runs = [], epochs = [], gradientErrors = [], memory = [], sdeDensities = [], sdePaths = [] } = results;
  const noisyRuns = runs.filter((r) => typeof r.cosines === "number");
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
          "cosines": new Set(noisyRuns.map((r) => r.cosines)).size > 1 ? 1 : 0,
          "sde-densities": sdeDensities.length,
          "sde-paths": sdePaths.length,
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
    const text = [
      ...(missing.length ? [`No records for: ${missing.join(", ")}.`] : []),
      ...(extra.text !== undefined && s.charts!.length > 0 ? [extra.text] : []),
    ];
    if (text.length) s.text = text.join("\n\n");
    if (extra.table) s.table = extra.table;
    sections.push(s);
  };
  const metric = { metricLabel, logY: metricLogY };
  section("Speed and accuracy", [
    ["training-time", runs.length, () => [trainingTimeSpec(runs)]],
    ["test-metric", runs.length, () => [testMetricSpec(runs, metric)]],
  ], {
    text: `Lines join the means over seeds (${seedCount(runs)}); bands span the seeds' min–max range and have no ` +
      "height with one seed. Training time counts the epochs' gradient steps; the per-epoch test evaluations are " +
      "timed apart (evaluation time, in the table and the tooltips).",
    ...(summary && runs.length > 0 ? { table: speedSummary(runs, { metricLabel }) } : {}),
  });
  section("Training curves", [
    ["loss-curve", epochs.length, () => [lossCurveSpec(epochs), lossCurveSpec(epochs, { x: "seconds" })]],
  ], {});
  section("Gradients", [
    ["gradient-error", gradientErrors.length, () => [gradientErrorSpec(gradientErrors)]],
    ["nfe", runs.length, () => [nfeSpec(runs)]],
  ], {});
  section("Memory", [["memory", memory.length, () => [memorySpec(memory)]]], {
    text: "Peak memory: the rise of the resident set over one gradient (forward and backward pass), measured in a " +
      "fresh process per point, ONNX Runtime's session creation for the method's graphs included. The bookkeeping " +
      "figure — bytes of state a method keeps between its passes, counted rather than measured — is the heldBytes " +
      "column of memory.csv and in the tooltips.",
  });
  section("Karhunen–Loève cosines", [
    ["cosines", noisyRuns.length, () => cosineSpecs(noisyRuns, { metricLabel })],
  ], {});
  // One figure per method, of its widest model.
  const perCell = <T extends { cellId: string }>(records: readonly T[], draw: (r: T[]) => ChartSpec) => () =>
    figureCells(records as readonly (T & { method: string; width: number })[]).map((id) =>
      draw(records.filter((r) => r.cellId === id))
    );
  section("Neural SDE samples", [
    ["sde-densities", sdeDensities.length, perCell(sdeDensities, sdeDensitySpec)],
    ["sde-paths", sdePaths.length, perCell(sdePaths, sdePathSpec)],
  ], {});
  if (provenance !== undefined) sections.push({ title: "Provenance", table: provenanceTable(provenance) });
  return {
    title,
    ...(subtitle !== undefined ? { subtitle } : {}),
    sections,
    ...(meta !== undefined ? { meta } : {}),
  };
}
