/**
 * Vega-Lite chart builders for the paper's views, taking plain arrays of
 * records (what a pipeline writes to its results JSON) and returning plain
 * Vega-Lite specs with the data inlined.
 *
 * Every builder tolerates missing values: a record whose plotted field is
 * `null`, `undefined`, `NaN` or infinite is dropped by a filter transform
 * inside the spec (on a log axis, so is a value ≤ 0), so one failed run does not
 * blank a chart. Means and standard deviations over seeds are computed by
 * the spec's own aggregate transforms, so pass one record per run, not
 * pre-aggregated rows.
 *
 * Methods keep one colour across every chart: `direct`, `adjoint`,
 * `seminorm` and `gq` (and their SDE counterparts) have fixed colours; other
 * method names take the next free colour in name order.
 *
 * | builder | view |
 * |---|---|
 * | {@linkcode trainingTimeSpec} | training time vs width, mean ± std over seeds, log–log |
 * | {@linkcode testMetricSpec} | test metric vs width, mean ± std over seeds, log-x |
 * | {@linkcode lossCurveSpec} | test loss vs epoch or wall-clock seconds, one panel per width |
 * | {@linkcode gradientErrorSpec} | relative gradient error vs T, log-y, one panel per quantity |
 * | {@linkcode memorySpec} | held memory vs tolerance, log–log |
 * | {@linkcode nfeSpec} | forward / backward NFE per batch, per method (grouped bars) |
 *
 * Why one file: the builders are the report's one catalogue of views, read side by side to keep them alike.
 *
 * @module
 */
import type { EpochRecord, GradientErrorRecord, MemoryRecord, RunRecord } from "../results/records.ts";
import {
  type ChartOptions,
  type ChartSpec,
  checkRecords,
  checkSize,
  methodColour,
  methodColourScale,
  plain,
  SCHEMA,
  sweepSpec,
  validTest,
} from "./_chart_parts.ts";

export type { ChartOptions, ChartSpec } from "./_chart_parts.ts";
export { methodColourScale } from "./_chart_parts.ts";

/** Options of {@linkcode testMetricSpec}. */
export interface TestMetricOptions extends ChartOptions {
  /** Name of the metric on the y axis. @default "test metric" */
  metricLabel?: string;
  /** Log scale on the y axis (for MSE-like metrics). @default false */
  logY?: boolean;
}

/** Options of {@linkcode trainingTimeSpec}. */
export interface TrainingTimeOptions extends ChartOptions {
  /** Log scale on the y axis. @default true */
  logY?: boolean;
}

/** Options of {@linkcode lossCurveSpec}. */
export interface LossCurveOptions extends ChartOptions {
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

/**
 * Training time against width, per method: mean ± std over seeds as a line
 * over a band, log–log axes.
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
  return sweepSpec(
    "trainingTimeSpec",
    runs,
    "trainSeconds",
    "training time (s)",
    options.logY ?? true,
    options,
    "Training time vs width",
  );
}

/**
 * Final test metric against width, per method: mean ± std over seeds, log-x.
 *
 * @example Accuracy of two methods
 * ```ts
 * import { testMetricSpec } from "./specs.ts";
 * const spec = testMetricSpec(
 *   [{ method: "gq", width: 20, testMetric: 0.98 }, { method: "direct", width: 20, testMetric: 0.97 }],
 *   { metricLabel: "test accuracy" },
 * );
 * if (spec.title !== "Test accuracy vs width") throw new Error(String(spec.title));
 * ```
 */
export function testMetricSpec(runs: readonly RunRecord[], options: TestMetricOptions = {}): ChartSpec {
  const label = options.metricLabel ?? "test metric";
  return sweepSpec(
    "testMetricSpec",
    runs,
    "testMetric",
    label,
    options.logY ?? false,
    options,
    `${label[0]!.toUpperCase()}${label.slice(1)} vs width`,
  );
}

/**
 * Test loss per method against epoch (mean over seeds) or against wall-clock
 * seconds (one line per seed), one panel per width.
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
  const byTime = x === "seconds";
  const widths = new Set(records.map((r) => r.width));
  const yScale = logY ? { type: "log" as const } : { zero: false };
  const encoding = {
    x: byTime
      ? { field: "elapsedSeconds", type: "quantitative" as const, title: "wall-clock time (s)" }
      : { field: "epoch", type: "quantitative" as const, title: "epoch" },
    y: byTime ? { field: "testLoss", type: "quantitative" as const, title: lossLabel, scale: yScale } : {
      aggregate: "mean" as const,
      field: "testLoss",
      type: "quantitative" as const,
      title: lossLabel,
      scale: yScale,
    },
    color: methodColour(records),
    // With time on x, seeds cannot be averaged point by point: draw one line each.
    ...(byTime ? { detail: { field: "seed", type: "nominal" as const } } : {}),
    ...(widths.size > 1
      ? {
        facet: {
          field: "width",
          type: "ordinal" as const,
          title: "width",
          columns: Math.min(columns, widths.size),
          sort: "ascending" as const,
        },
      }
      : {}),
  };
  const faceted = widths.size > 1;
  return {
    $schema: SCHEMA,
    title: options.title ?? (byTime ? "Test loss vs wall-clock time" : "Test loss vs epoch"),
    width: options.width ?? (faceted ? 220 : 360),
    height: options.height ?? (faceted ? 180 : 240),
    data: { values: plain(records) },
    transform: [{
      filter: `${validTest(byTime ? "elapsedSeconds" : "epoch", false)} && ${validTest("testLoss", logY)}`,
    }],
    mark: { type: "line", point: !byTime },
    encoding,
    ...(faceted ? { resolve: { scale: { x: "independent" as const, y: "independent" as const } } } : {}),
  };
}

/**
 * Relative error of each gradient against T, per method, log-y, one panel
 * per quantity (dL/dz0, dL/da, dL/dT, …). Exact zeros cannot sit on a log
 * axis and are dropped.
 *
 * @example Errors of two methods for one quantity
 * ```ts
 * import { gradientErrorSpec } from "./specs.ts";
 * const spec = gradientErrorSpec([
 *   { method: "gq", T: 19, quantity: "dL/da", relativeError: 1e-6 },
 *   { method: "adjoint", T: 19, quantity: "dL/da", relativeError: 3e-4 },
 * ]);
 * if (!("mark" in spec)) throw new Error("expected a single-mark chart");
 * ```
 */
export function gradientErrorSpec(records: readonly GradientErrorRecord[], options: ChartOptions = {}): ChartSpec {
  const fn = "gradientErrorSpec";
  checkRecords(fn, records, { method: "string", T: "number", quantity: "string" });
  checkSize(fn, "width", options.width);
  checkSize(fn, "height", options.height);
  const quantities = [...new Set(records.map((r) => r.quantity))];
  const faceted = quantities.length > 1;
  return {
    $schema: SCHEMA,
    title: options.title ?? "Relative gradient error vs T",
    width: options.width ?? (faceted ? 220 : 360),
    height: options.height ?? (faceted ? 200 : 240),
    data: { values: plain(records) },
    transform: [{ filter: `${validTest("T", false)} && ${validTest("relativeError", true)}` }],
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "T", type: "quantitative", title: "T", scale: { zero: false } },
      y: {
        aggregate: "mean",
        field: "relativeError",
        type: "quantitative",
        title: "relative error",
        scale: { type: "log" },
        axis: { format: ".0e" },
      },
      color: methodColour(records),
      ...(faceted ? { facet: { field: "quantity", type: "nominal", title: null, columns: 3, sort: quantities } } : {}),
      tooltip: [
        { field: "method", type: "nominal" },
        { field: "quantity", type: "nominal" },
        { field: "T", type: "quantitative" },
        { aggregate: "mean", field: "relativeError", type: "quantitative", title: "relative error", format: ".3e" },
      ],
    },
  };
}

/**
 * Memory held by each method against solver tolerance, log–log, in MiB
 * (mean over repeats). Tighter tolerances sit to the right.
 *
 * @example Constant-memory adjoint against direct backprop
 * ```ts
 * import { memorySpec } from "./specs.ts";
 * const spec = memorySpec([
 *   { method: "direct", tolerance: 1e-3, heldBytes: 2e6 },
 *   { method: "direct", tolerance: 1e-7, heldBytes: 9e7 },
 *   { method: "gq", tolerance: 1e-3, heldBytes: 1e5 },
 *   { method: "gq", tolerance: 1e-7, heldBytes: 1e5 },
 * ]);
 * if (spec.title !== "Held memory vs tolerance") throw new Error(String(spec.title));
 * ```
 */
export function memorySpec(records: readonly MemoryRecord[], options: ChartOptions = {}): ChartSpec {
  const fn = "memorySpec";
  checkRecords(fn, records, { method: "string", tolerance: "number" });
  checkSize(fn, "width", options.width);
  checkSize(fn, "height", options.height);
  return {
    $schema: SCHEMA,
    title: options.title ?? "Held memory vs tolerance",
    width: options.width ?? 360,
    height: options.height ?? 240,
    data: { values: plain(records) },
    transform: [
      { filter: `${validTest("tolerance", true)} && ${validTest("heldBytes", true)}` },
      { calculate: "datum.heldBytes / 1048576", as: "mib" },
    ],
    mark: { type: "line", point: true },
    encoding: {
      x: {
        field: "tolerance",
        type: "quantitative",
        title: "tolerance (rtol = atol)",
        scale: { type: "log", reverse: true },
        axis: { format: ".0e" },
      },
      y: { aggregate: "mean", field: "mib", type: "quantitative", title: "held memory (MiB)", scale: { type: "log" } },
      color: methodColour(records),
      tooltip: [
        { field: "method", type: "nominal" },
        { field: "tolerance", type: "quantitative", format: ".0e" },
        { aggregate: "mean", field: "mib", type: "quantitative", title: "MiB", format: ".4~g" },
      ],
    },
  };
}

/**
 * Forward and backward function evaluations per method as grouped bars
 * (mean over runs), optionally one panel per width.
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
  const methods = methodColourScale(runs.map((r) => r.method)).domain;
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
        title: "NFE per batch (backward: f and VJPs, gq nodes included)",
        ...(logY ? { scale: { type: "log" as const } } : {}),
      },
      color: {
        field: "pass",
        type: "nominal",
        title: "pass",
        sort: ["forward", "backward"],
        scale: { range: ["#9ecae9", "#3182bd"] },
      },
      ...(faceted ? { facet: { field: "width", type: "ordinal", title: "width", columns: 3 } } : {}),
      tooltip: [
        { field: "method", type: "nominal" },
        { field: "pass", type: "nominal" },
        { aggregate: "mean", field: "nfe", type: "quantitative", title: "mean NFE per batch", format: ".4~g" },
        {
          aggregate: "mean",
          field: "nodesPerBatch",
          type: "quantitative",
          title: "mean gq nodes per batch",
          format: ".4~g",
        },
        { aggregate: "count", type: "quantitative", title: "runs" },
      ],
    },
  };
}
