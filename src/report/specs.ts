/**
 * Vega-Lite chart builders for the paper's views, taking plain arrays of
 * records (what a pipeline writes to its results JSON) and returning plain
 * Vega-Lite specs with the data inlined.
 *
 * Every builder tolerates missing values: a record whose plotted field is
 * `null`, `undefined`, `NaN` or infinite is dropped by a filter transform
 * inside the spec (on a log axis, so is a value ≤ 0), so one failed run does not
 * blank a chart. Means and min–max ranges over seeds are computed by the
 * spec's own aggregate transforms, so pass one record per run, not
 * pre-aggregated rows.
 *
 * Methods keep one style across every chart: `direct`, `adjoint`,
 * `seminorm` and `gq` (and their SDE counterparts) have a fixed colour of the
 * Okabe–Ito palette, marker shape and stroke dash, so methods with identical
 * results stay distinguishable; other method names take spare styles in name
 * order ({@linkcode methodStyles}). Log axes label both their ends; losses and
 * errors on them are written in scientific notation; panels of one chart
 * share their y scale.
 *
 * | builder | view |
 * |---|---|
 * | {@linkcode trainingTimeSpec} | training time (evaluation excluded) vs width, mean and min–max over seeds, log–log |
 * | {@linkcode testMetricSpec} | test metric vs width, mean and min–max over seeds, log-x |
 * | {@linkcode lossCurveSpec} | test loss vs epoch (mean and min–max over seeds) or wall-clock seconds, one panel per width |
 * | {@linkcode gradientErrorSpec} | relative gradient error vs T, log-y, one panel per quantity |
 * | {@linkcode memorySpec} | peak memory of one gradient vs tolerance, log–log |
 * | {@linkcode nfeSpec} | forward / backward NFE per gradient, per method (grouped bars) |
 *
 * Why one file: the builders are the report's one catalogue of views, read side by side to keep them alike.
 *
 * @module
 */
import type { EpochRecord, GradientErrorRecord, MemoryRecord, RunRecord } from "../results/records.ts";
import {
  axisScale,
  type ChartOptions,
  type ChartSpec,
  checkRecords,
  checkSize,
  fieldValues,
  methodChannels,
  methodStyles,
  OKABE_ITO,
  plain,
  SCHEMA,
  sentence,
  spreadSpec,
  testMetricTitle,
  validTest,
} from "./_chart_parts.ts";
import { sweptPanels } from "./_panels.ts";

import { type AxisSpec, sweepAxisOf } from "./_axes.ts";

export type { ChartOptions, ChartSpec, MethodStyle } from "./_chart_parts.ts";
export { type AxisSpec, BATCH_SIZE_AXIS, sweepAxisOf, WIDTH_AXIS } from "./_axes.ts";
export { methodColourScale, methodStyles } from "./_chart_parts.ts";

/** Options of {@linkcode testMetricSpec}. */
export interface TestMetricOptions extends SweepChartOptions {
  /** Name of the metric (`accuracy`, `mse`, …); the axis reads "test accuracy", "test MSE". @default "test metric" */
  metricLabel?: string;
  /** Log scale on the y axis (for MSE-like metrics). @default false */
  logY?: boolean;
}

/** Options of the charts drawn against a sweep: {@linkcode trainingTimeSpec}, {@linkcode testMetricSpec}, {@linkcode lossCurveSpec}. */
export interface SweepChartOptions extends ChartOptions {
  /** The swept field: the x axis, or the loss curves' panels. @default width, or batch size in a batch-size sweep ({@linkcode sweepAxisOf}) */
  axis?: AxisSpec;
}

/** Options of {@linkcode trainingTimeSpec}. */
export interface TrainingTimeOptions extends SweepChartOptions {
  /** Log scale on the y axis. @default true */
  logY?: boolean;
}

/** Options of {@linkcode lossCurveSpec}. */
export interface LossCurveOptions extends SweepChartOptions {
  /** What goes on the x axis: the epoch (mean over seeds) or wall-clock seconds (one line per seed). @default "epoch" */
  x?: "epoch" | "seconds";
  /** Name of the loss on the y axis. @default "test loss" */
  lossLabel?: string;
  /** Log scale on the y axis. @default true */
  logY?: boolean;
  /** Facet columns before wrapping. @default 3 */
  columns?: number;
}

/** Options of {@linkcode nfeSpec}. */
export interface NfeOptions extends ChartOptions {
  /** One panel per width instead of the mean over all widths. @default false */
  byWidth?: boolean;
  /** Log scale on the y axis. @default false */
  logY?: boolean;
}

/** Scientific notation for losses and errors on log axes. */
const SCIENTIFIC = ".2~e";

/**
 * Training time (the epochs' gradient steps, test evaluation excluded)
 * against width, per method: the mean over seeds as a line with markers over
 * a band of the seeds' min–max, log–log axes. The tooltip adds the mean
 * evaluation time.
 *
 * @example Two methods, two seeds each
 * ```ts
 * import { trainingTimeSpec } from "./specs.ts";
 * const spec = trainingTimeSpec([
 *   { method: "gq", width: 10, seed: 0, trainSeconds: 1.0 },
 *   { method: "gq", width: 10, seed: 1, trainSeconds: 1.2 },
 *   { method: "adjoint", width: 10, seed: 0, trainSeconds: 4.0 },
 *   { method: "adjoint", width: 10, seed: 1, trainSeconds: null }, // failed run: dropped
 * ]);
 * if (!("layer" in spec)) throw new Error("expected a layered chart");
 * ```
 */
export function trainingTimeSpec(runs: readonly RunRecord[], options: TrainingTimeOptions = {}): ChartSpec {
  const axis = options.axis ?? sweepAxisOf(runs);
  return spreadSpec({
    fn: "trainingTimeSpec",
    records: runs,
    x: axis,
    y: { field: "trainSeconds", title: "training time (s)", log: options.logY ?? true },
    title: `Training time vs ${axis.title}`,
    options,
    tooltip: [{ field: "evaluationSeconds", title: "mean evaluation time (s)", format: ".4~g" }],
  });
}

/**
 * Final test metric against width, per method: mean and min–max over
 * seeds, log-x. The metric's name is written as it reads in a paper: `mse`
 * becomes "test MSE", `accuracy` "test accuracy".
 *
 * @example Accuracy of two methods
 * ```ts
 * import { testMetricSpec } from "./specs.ts";
 * const spec = testMetricSpec(
 *   [{ method: "gq", width: 20, testMetric: 0.98 }, { method: "direct", width: 20, testMetric: 0.97 }],
 *   { metricLabel: "accuracy" },
 * );
 * if (spec.title !== "Test accuracy vs width") throw new Error(String(spec.title));
 * ```
 */
export function testMetricSpec(runs: readonly RunRecord[], options: TestMetricOptions = {}): ChartSpec {
  const label = testMetricTitle(options.metricLabel ?? "metric");
  const logY = options.logY ?? false;
  const axis = options.axis ?? sweepAxisOf(runs);
  return spreadSpec({
    fn: "testMetricSpec",
    records: runs,
    x: axis,
    y: { field: "testMetric", title: label, log: logY, ...(logY ? { format: SCIENTIFIC } : {}) },
    title: `${sentence(label)} vs ${axis.title}`,
    options,
  });
}

/**
 * Test loss per method against epoch (mean and min–max over seeds) or
 * against wall-clock seconds (one line per seed; evaluation included), one
 * panel per width, every panel on the same y scale.
 *
 * @example Loss against time
 * ```ts
 * import { lossCurveSpec } from "./specs.ts";
 * const spec = lossCurveSpec([
 *   { method: "gq", width: 50, epoch: 1, elapsedSeconds: 0.5, testLoss: 0.3 },
 *   { method: "gq", width: 50, epoch: 2, elapsedSeconds: 1.0, testLoss: 0.1 },
 * ], { x: "seconds" });
 * if (spec.title !== "Test loss vs wall-clock time") throw new Error(String(spec.title));
 * ```
 */
export function lossCurveSpec(records: readonly EpochRecord[], options: LossCurveOptions = {}): ChartSpec {
  const fn = "lossCurveSpec";
  checkRecords(fn, records, { method: "string", width: "number", epoch: "number" });
  const { x = "epoch", lossLabel = "test loss", logY = true, columns = 3 } = options;
  if (x !== "epoch" && x !== "seconds") {
    throw new RangeError(`${fn}(): option "x" must be "epoch" or "seconds", got ${JSON.stringify(x)}`);
  }
  if (!(Number.isInteger(columns) && columns >= 1)) {
    throw new RangeError(`${fn}(): option "columns" must be a positive integer, got ${columns}`);
  }
  checkSize(fn, "width", options.width);
  checkSize(fn, "height", options.height);
  const y = { field: "testLoss", title: lossLabel, log: logY, ...(logY ? { format: SCIENTIFIC } : {}) };
  const axis = options.axis ?? sweepAxisOf(records);
  // A panel per width (or batch size), and per value of any other swept field at one width.
  const { rows, facet, count: panels } = sweptPanels(records, axis, { withX: true, columns });
  if (x === "epoch") {
    return spreadSpec({
      fn,
      records: rows,
      x: { field: "epoch", title: "epoch", log: false, format: "d" },
      y,
      ...(facet ? { facet } : {}),
      title: "Test loss vs epoch",
      options,
    });
  }
  // With time on x, seeds cannot be averaged point by point: one line each.
  const valid = records.filter((r) =>
    typeof r.elapsedSeconds === "number" && Number.isFinite(r.elapsedSeconds) &&
    typeof r.testLoss === "number" && Number.isFinite(r.testLoss) && (!logY || r.testLoss > 0)
  );
  const ys = axisScale(y, fieldValues(valid, "testLoss", logY), 0.06);
  const channels = methodChannels(records);
  const yEnc = { field: "testLoss", type: "quantitative" as const, title: lossLabel, ...ys };
  const layer = [
    {
      mark: { type: "line" as const, strokeWidth: 1.5 },
      encoding: { y: yEnc, color: channels.color, strokeDash: channels.strokeDash, detail: { field: "seed" } },
    },
    {
      mark: { type: "point" as const, filled: false, size: 30, opacity: 1 },
      encoding: {
        y: yEnc,
        color: channels.color,
        shape: channels.shape,
        tooltip: [
          { field: "method", type: "nominal" as const },
          { field: axis.field, type: "quantitative" as const, title: axis.title },
          { field: "seed", type: "nominal" as const },
          { field: "epoch", type: "quantitative" as const },
          { field: "elapsedSeconds", type: "quantitative" as const, title: "seconds", format: ".4~g" },
          { field: "testLoss", type: "quantitative" as const, title: lossLabel, format: ".4~g" },
        ],
      },
    },
  ];
  const xEnc = {
    field: "elapsedSeconds",
    type: "quantitative" as const,
    title: "wall-clock time (s), evaluation included",
  };
  const base = {
    $schema: SCHEMA,
    title: options.title ?? "Test loss vs wall-clock time",
    data: { values: plain(rows) },
    transform: [{ filter: `${validTest("elapsedSeconds", false)} && ${validTest("testLoss", logY)}` }],
  };
  if (!facet) {
    return { ...base, width: options.width ?? 360, height: options.height ?? 240, encoding: { x: xEnc }, layer };
  }
  return {
    ...base,
    facet: { field: facet.field, type: facet.type, title: facet.title, ...(facet.sort ? { sort: facet.sort } : {}) },
    columns: Math.min(columns, panels),
    spec: { width: options.width ?? 220, height: options.height ?? 180, encoding: { x: xEnc }, layer },
    // Widths (batch sizes) train for different times: each panel keeps its own time axis, and they share the loss axis.
    resolve: { scale: { x: "independent", y: "shared" } },
  };
}

/**
 * Relative error of each gradient against T, per method, log-y, one panel
 * per quantity (L, dL/dz0, dL/da, dL/dT, …) on one shared y scale. Exact
 * zeros cannot sit on a log axis and are dropped.
 *
 * @example Errors of two methods for one quantity
 * ```ts
 * import { gradientErrorSpec } from "./specs.ts";
 * const spec = gradientErrorSpec([
 *   { method: "gq", T: 19, quantity: "dL/da", relativeError: 1e-6 },
 *   { method: "adjoint", T: 19, quantity: "dL/da", relativeError: 3e-4 },
 * ]);
 * if (!("layer" in spec)) throw new Error("expected a layered chart");
 * ```
 */
export function gradientErrorSpec(records: readonly GradientErrorRecord[], options: ChartOptions = {}): ChartSpec {
  checkRecords("gradientErrorSpec", records, { method: "string", T: "number", quantity: "string" });
  const quantities = [...new Set(records.map((r) => r.quantity))];
  return spreadSpec({
    fn: "gradientErrorSpec",
    records,
    x: { field: "T", title: "end time T", log: false },
    y: { field: "relativeError", title: "relative error", log: true, format: SCIENTIFIC },
    ...(quantities.length > 1
      ? { facet: { field: "quantity", title: null, type: "nominal" as const, sort: quantities, columns: 4 } }
      : {}),
    title: "Relative gradient error vs T",
    options: { ...options, ...(quantities.length > 1 && options.height === undefined ? { height: 200 } : {}) },
  });
}

/** The unit bytes read best in when the largest is `max`: bytes, KiB or MiB. */
function byteUnit(max: number): [string, number] {
  return max >= 2 ** 20 ? ["MiB", 2 ** 20] : max >= 2 ** 10 ? ["KiB", 2 ** 10] : ["bytes", 1];
}

/**
 * Peak memory of one gradient against solver tolerance, per method, in MiB
 * (KiB or bytes when smaller), log–log (mean and min–max over repeats): the rise of the process's peak
 * resident set over one gradient, forward and backward pass
 * (`peakRssBytes`). Records without that measurement (results of earlier
 * versions, or a platform without it) are drawn by their bookkeeping bytes
 * (`heldBytes`, the states a method keeps between its passes) instead, in
 * bytes, with a title that says so. Tighter tolerances sit to the right.
 *
 * @example Constant-memory adjoint against direct backprop
 * ```ts
 * import { memorySpec } from "./specs.ts";
 * const spec = memorySpec([
 *   { method: "direct", tolerance: 1e-3, heldBytes: 64, peakRssBytes: 33e6 },
 *   { method: "direct", tolerance: 1e-7, heldBytes: 304, peakRssBytes: 36e6 },
 *   { method: "gq", tolerance: 1e-3, heldBytes: 16, peakRssBytes: 35e6 },
 *   { method: "gq", tolerance: 1e-7, heldBytes: 16, peakRssBytes: 35e6 },
 * ]);
 * if (spec.title !== "Peak memory of one gradient vs tolerance") throw new Error(String(spec.title));
 * ```
 */
export function memorySpec(records: readonly MemoryRecord[], options: ChartOptions = {}): ChartSpec {
  checkRecords("memorySpec", records, { method: "string", tolerance: "number" });
  const peaks = fieldValues(records, "peakRssBytes", true);
  const measured = peaks.length > 0;
  const field = measured ? "peakRssBytes" : "heldBytes";
  const [unit, size] = byteUnit(Math.max(0, ...(measured ? peaks : fieldValues(records, "heldBytes", true))));
  const rows = records.map((r) => {
    const v = r[field];
    return { ...r, shown: typeof v === "number" ? v / size : null };
  });
  return spreadSpec({
    fn: "memorySpec",
    records: rows,
    x: {
      field: "tolerance",
      title: "tolerance (rtol = atol)",
      log: true,
      format: ".0e",
      atValues: true,
      reverse: true,
    },
    y: measured
      ? { field: "shown", title: `peak RSS rise over one gradient (${unit})`, log: true }
      : { field: "shown", title: `bookkeeping held between passes (${unit})`, log: true },
    title: measured ? "Peak memory of one gradient vs tolerance" : "Bookkeeping memory vs tolerance",
    options,
    tooltip: [{ field: "heldBytes", title: "bookkeeping (bytes)", format: ".4~g" }],
  });
}

/**
 * Forward and backward function evaluations per gradient (one gradient per
 * batch) and method as grouped bars (mean over runs), optionally one panel
 * per width.
 *
 * @example NFE of two methods
 * ```ts
 * import { nfeSpec } from "./specs.ts";
 * const spec = nfeSpec([
 *   { method: "gq", width: 10, nfeForwardPerBatch: 80, nfeBackwardPerBatch: 95 },
 *   { method: "adjoint", width: 10, nfeForwardPerBatch: 80, nfeBackwardPerBatch: 260 },
 * ]);
 * if (spec.title !== "Function evaluations per gradient") throw new Error(String(spec.title));
 * ```
 */
export function nfeSpec(runs: readonly RunRecord[], options: NfeOptions = {}): ChartSpec {
  const fn = "nfeSpec";
  checkRecords(fn, runs, { method: "string", width: "number" });
  checkSize(fn, "width", options.width);
  checkSize(fn, "height", options.height);
  const { byWidth = false, logY = false } = options;
  const methods = methodStyles(runs.map((r) => r.method)).map(([m]) => m);
  const faceted = byWidth && new Set(runs.map((r) => r.width)).size > 1;
  return {
    $schema: SCHEMA,
    title: options.title ?? "Function evaluations per gradient",
    width: options.width ?? (faceted ? 200 : 360),
    height: options.height ?? (faceted ? 180 : 240),
    data: { values: plain(runs) },
    transform: [
      { fold: ["nfeForwardPerBatch", "nfeBackwardPerBatch"], as: ["pass", "nfe"] },
      { filter: validTest("nfe", logY) },
      { calculate: "datum.pass === 'nfeForwardPerBatch' ? 'forward' : 'backward'", as: "pass" },
    ],
    mark: { type: "bar" },
    encoding: {
      x: { field: "method", type: "nominal", title: "method", sort: methods, axis: { labelAngle: 0 } },
      xOffset: { field: "pass", type: "nominal", sort: ["forward", "backward"] },
      y: {
        aggregate: "mean",
        field: "nfe",
        type: "quantitative",
        title: "NFE: evaluations of f or a VJP per gradient",
        ...(logY ? { scale: { type: "log" as const } } : {}),
      },
      color: {
        field: "pass",
        type: "nominal",
        title: "pass",
        sort: ["forward", "backward"],
        scale: { range: [OKABE_ITO.sky, OKABE_ITO.blue] }, // the palette the methods are drawn in
      },
      ...(faceted ? { facet: { field: "width", type: "ordinal", title: "width", columns: 3 } } : {}),
      tooltip: [
        { field: "method", type: "nominal" },
        { field: "pass", type: "nominal" },
        { aggregate: "mean", field: "nfe", type: "quantitative", title: "mean NFE per gradient", format: ".4~g" },
        {
          aggregate: "mean",
          field: "nodesPerBatch",
          type: "quantitative",
          title: "mean gq nodes per gradient",
          format: ".4~g",
        },
        { aggregate: "count", type: "quantitative", title: "runs" },
      ],
    },
  };
}
