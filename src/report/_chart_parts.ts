/**
 * What every chart builder shares: the spec type and size options, the
 * schema, the record and size checks, the missing-value filters, metric
 * titles, and the one line chart with a seed spread that the width, epoch,
 * tolerance, T and cosine views draw. Method styles are in
 * `_method_styles.ts` and axes in `_axes.ts`; both are re-exported here.
 *
 * Spread over seeds is the min–max range: a pipeline affords few seeds (2–5),
 * where a standard deviation is a poor estimate and the range shows every
 * seed's extreme with no assumption about their distribution.
 *
 * @module
 */
import type { TopLevelSpec } from "vega-lite";
import type { RunRecord } from "../results/records.ts";
import { axisScale, type AxisSpec, fieldValues, WIDTH_AXIS } from "./_axes.ts";
import { methodChannels } from "./_method_styles.ts";
import { sweptPanels } from "./_panels.ts";

export * from "./_axes.ts";
export * from "./_method_styles.ts";

/** A Vega-Lite specification, as the builders here return it. */
export type ChartSpec = TopLevelSpec;

/** Options shared by every builder. */
export interface ChartOptions {
  /** Chart title. @default a title naming the view */
  title?: string;
  /** Width of one plot panel in pixels. @default 360 (220 per panel when faceted) */
  width?: number;
  /** Height of one plot panel in pixels. @default 240 (180 per panel when faceted) */
  height?: number;
}

/** The Vega-Lite schema every spec names. */
export const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** A Vega expression that is true when `datum[field]` is a usable number (and > 0 on a log axis). */
export function validTest(field: string, positive: boolean): string {
  const f = `datum[${JSON.stringify(field)}]`;
  return `isValid(${f}) && isFinite(${f})${positive ? ` && ${f} > 0` : ""}`;
}

/** Throws a TypeError naming `fn`, the record and the field when a record lacks a required field. */
export function checkRecords(fn: string, records: unknown, required: Record<string, "string" | "number">): void {
  if (!Array.isArray(records)) {
    throw new TypeError(`${fn}() expects an array of records, got ${typeof records}`);
  }
  records.forEach((r: unknown, i) => {
    if (typeof r !== "object" || r === null) {
      throw new TypeError(`${fn}(): record ${i} must be an object, got ${JSON.stringify(r)}`);
    }
    for (const [key, type] of Object.entries(required)) {
      const v = (r as Record<string, unknown>)[key];
      if (typeof v !== type || (type === "number" && !Number.isFinite(v))) {
        throw new TypeError(`${fn}(): record ${i} field "${key}" must be a finite ${type}, got ${JSON.stringify(v)}`);
      }
    }
  });
}

/** Throws a RangeError naming `fn` and the option when a size is not a positive number. */
export function checkSize(fn: string, name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isFinite(v) && v > 0)) {
    throw new RangeError(`${fn}(): option "${name}" must be a positive number, got ${v}`);
  }
}

/** Copies records to plain JSON-safe objects (NaN and ±Infinity become null, undefined fields vanish). */
export function plain<T extends object>(records: readonly T[]): Record<string, unknown>[] {
  return records.map((r) => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) {
      if (v === undefined) continue;
      o[k] = typeof v === "number" && !Number.isFinite(v) ? null : v;
    }
    return o;
  });
}
/** How a metric's name reads in titles: `mse` → `MSE`, `kl` → `KL`, others as given. */
export function metricName(label: string): string {
  return label.replace(/\b(mse|kl|nfe|rmse|mae)\b/gi, (m) => m.toUpperCase());
}

/** A test metric's axis title: `mse` → `test MSE`; a label that already says `test` is kept. */
export function testMetricTitle(label: string): string {
  const name = metricName(label);
  return /^test\b/i.test(name) ? name : `test ${name}`;
}

/** Sentence case: the first letter upper case. */
export function sentence(text: string): string {
  return text === "" ? text : `${text[0]!.toUpperCase()}${text.slice(1)}`;
}
/** A facet of {@linkcode spreadSpec}: one panel per value of a field, sharing the y scale. */
export interface SpreadFacet {
  /** The record field. */
  readonly field: string;
  /** Header title, or null for none. */
  readonly title: string | null;
  /** Ordinal (numbers in order) or nominal. */
  readonly type: "ordinal" | "nominal";
  /** Panel order. */
  readonly sort?: "ascending" | string[];
  /** Panels per row. @default 3 */
  readonly columns?: number;
  /** The record fields the panel's label is made of, kept beside it in the aggregates (tooltips, data). */
  readonly fields?: readonly string[];
}

/** What {@linkcode spreadSpec} draws. */
export interface SpreadChart {
  /** The builder's name, for messages. */
  readonly fn: string;
  /** One record per run (seed) and x. */
  readonly records: readonly { method: string }[];
  /** The x axis. */
  readonly x: AxisSpec;
  /** The y axis: the field whose mean and min–max over seeds are drawn. */
  readonly y: AxisSpec;
  /** Panels. */
  readonly facet?: SpreadFacet;
  /** Default title. */
  readonly title: string;
  /** Size options. */
  readonly options: ChartOptions;
  /** Extra fields in the tooltip: record fields averaged like y. */
  readonly tooltip?: readonly { field: string; title: string; format: string }[];
}

/**
 * One line per method through the mean over seeds of `y` at each `x`, with
 * a band over the min–max range of the seeds (no height with one seed),
 * markers and dashes in each method's style; optionally one panel per value
 * of a facet field, all sharing the y scale so panels compare — by default
 * ({@linkcode sweptPanels}) one per value of the other swept fields.
 */
export function spreadSpec(chart: SpreadChart): ChartSpec {
  const { fn, x, y, options } = chart;
  const swept = chart.facet ? undefined : sweptPanels(chart.records, x);
  const records = swept?.rows ?? chart.records;
  const facet = chart.facet ?? swept?.facet;
  checkRecords(fn, records, { method: "string", [x.field]: "number" });
  checkSize(fn, "width", options.width);
  checkSize(fn, "height", options.height);
  const valid = records.filter((r) => {
    const o = r as Record<string, unknown>;
    const ok = (a: AxisSpec) => {
      const v = o[a.field];
      return typeof v === "number" && Number.isFinite(v) && (!a.log || v > 0);
    };
    return ok(x) && ok(y);
  });
  const xs = axisScale(x, fieldValues(valid, x.field, x.log));
  const ys = axisScale(y, fieldValues(valid, y.field, y.log), 0.06);
  const channels = methodChannels(records);
  const groupby = [
    ...new Set(["method", x.field, ...(facet ? [facet.field, ...(facet.fields ?? [])] : [])]),
  ];
  const extra = chart.tooltip ?? [];
  const yEnc = (field: string) => ({ field, type: "quantitative" as const, title: y.title, ...ys });
  const layer = [
    {
      mark: { type: "area" as const, opacity: 0.15 },
      encoding: { y: yEnc("min"), y2: { field: "max" }, color: channels.color },
    },
    {
      mark: { type: "line" as const, strokeWidth: 1.75 },
      encoding: { y: yEnc("mean"), color: channels.color, strokeDash: channels.strokeDash },
    },
    {
      mark: { type: "point" as const, filled: false, size: 45, strokeWidth: 1.5, opacity: 1 },
      encoding: {
        y: yEnc("mean"),
        color: channels.color,
        shape: channels.shape,
        tooltip: [
          { field: "method", type: "nominal" as const },
          ...(facet ? [{ field: facet.field, type: facet.type, ...(facet.title ? { title: facet.title } : {}) }] : []),
          { field: x.field, type: "quantitative" as const, title: x.title },
          { field: "mean", type: "quantitative" as const, title: `mean ${y.title}`, format: ".4~g" },
          { field: "min", type: "quantitative" as const, title: "min over seeds", format: ".4~g" },
          { field: "max", type: "quantitative" as const, title: "max over seeds", format: ".4~g" },
          { field: "seeds", type: "quantitative" as const, title: "seeds" },
          ...extra.map((t) => ({ field: t.field, type: "quantitative" as const, title: t.title, format: t.format })),
        ],
      },
    },
  ];
  const transform = [
    { filter: `${validTest(x.field, x.log)} && ${validTest(y.field, y.log)}` },
    {
      aggregate: [
        { op: "mean" as const, field: y.field, as: "mean" },
        { op: "min" as const, field: y.field, as: "min" },
        { op: "max" as const, field: y.field, as: "max" },
        { op: "count" as const, as: "seeds" },
        ...extra.map((t) => ({ op: "mean" as const, field: t.field, as: t.field })),
      ],
      groupby,
    },
  ];
  const xEnc = { field: x.field, type: "quantitative" as const, title: x.title, ...xs };
  const title = options.title ?? chart.title;
  if (facet) {
    const panels = new Set(valid.map((r) => (r as Record<string, unknown>)[facet.field])).size;
    return {
      $schema: SCHEMA,
      title,
      data: { values: plain(records) },
      transform,
      facet: {
        field: facet.field,
        type: facet.type,
        title: facet.title,
        ...(facet.sort ? { sort: facet.sort } : {}),
      },
      columns: Math.max(1, Math.min(facet.columns ?? 3, panels)),
      spec: {
        width: options.width ?? 220,
        height: options.height ?? 180,
        encoding: { x: xEnc },
        layer,
      },
      resolve: { scale: { y: "shared" } },
    };
  }
  return {
    $schema: SCHEMA,
    title,
    width: options.width ?? 360,
    height: options.height ?? 240,
    data: { values: plain(records) },
    transform,
    encoding: { x: xEnc },
    layer,
  };
}

/**
 * Mean and min–max over seeds of one run field against a swept field, per
 * method (see {@linkcode spreadSpec}).
 */
export function sweepSpec(
  fn: string,
  runs: readonly RunRecord[],
  field: "trainSeconds" | "testMetric" | "evaluationSeconds",
  yTitle: string,
  logY: boolean,
  options: ChartOptions,
  defaultTitle: string,
  axis: AxisSpec = WIDTH_AXIS,
  yFormat?: string,
): ChartSpec {
  return spreadSpec({
    fn,
    records: runs,
    x: axis,
    y: { field, title: yTitle, log: logY, ...(yFormat ? { format: yFormat } : {}) },
    title: defaultTitle,
    options,
  });
}
