/**
 * What every chart builder shares: the spec type and size options, the
 * schema, the fixed method colours, the record and size checks, the
 * missing-value filters, and the mean ± std sweep chart that the width and
 * cosine views draw.
 *
 * @module
 */
import type { TopLevelSpec } from "vega-lite";
import type { RunRecord } from "../results/records.ts";

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

/** Fixed colours of the well-known methods (Tableau 10), so a method looks the same in every chart. */
const METHOD_COLOURS: ReadonlyArray<readonly [string, string]> = [
  ["direct", "#4c78a8"],
  ["adjoint", "#f58518"],
  ["seminorm", "#54a24b"],
  ["gq", "#e45756"],
  ["gq-step", "#b279a2"],
  ["sde-direct", "#72b7b2"],
  ["sde-adjoint", "#eeca3b"],
];
const SPARE_COLOURS = ["#9d755d", "#bab0ac", "#ff9da6", "#79706e", "#17becf", "#bcbd22", "#1f77b4", "#8c564b"];

/**
 * The colour scale for the methods present in `methods`: known methods first
 * in the order direct, adjoint, seminorm, gq, …, then the others by name.
 *
 * @example Colours stay fixed whatever else is present
 * ```ts
 * import { methodColourScale } from "./specs.ts";
 * const s = methodColourScale(["gq", "mine", "adjoint"]);
 * if (s.domain.join() !== "adjoint,gq,mine") throw new Error(s.domain.join());
 * if (s.range[1] !== "#e45756") throw new Error("gq is not red");
 * ```
 */
export function methodColourScale(methods: Iterable<string>): { domain: string[]; range: string[] } {
  const present = new Set(methods);
  const domain: string[] = [], range: string[] = [];
  for (const [m, c] of METHOD_COLOURS) {
    if (present.has(m)) {
      domain.push(m);
      range.push(c);
      present.delete(m);
    }
  }
  [...present].sort().forEach((m, i) => {
    domain.push(m);
    range.push(SPARE_COLOURS[i % SPARE_COLOURS.length]!);
  });
  return { domain, range };
}

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

/** The colour channel of the method field, with {@linkcode methodColourScale}. */
export function methodColour(records: readonly { method: string }[]) {
  return {
    field: "method",
    type: "nominal" as const,
    title: "method",
    scale: methodColourScale(records.map((r) => r.method)),
  };
}

/** The swept run field a {@linkcode sweepSpec} puts on x. */
export interface SweepAxis {
  /** The run field. */
  readonly field: string;
  /** Axis title. */
  readonly title: string;
  /** Log scale (values ≤ 0 are dropped). */
  readonly log: boolean;
}

/** Width on a log axis: the x of most sweeps. */
export const WIDTH_AXIS: SweepAxis = { field: "width", title: "width", log: true };

/**
 * Mean ± standard deviation of one run field against a swept field, per
 * method: a band (± std over seeds; absent when there is one seed) under a
 * line with points at the means.
 */
export function sweepSpec(
  fn: string,
  runs: readonly RunRecord[],
  field: "trainSeconds" | "testMetric",
  yTitle: string,
  logY: boolean,
  options: ChartOptions,
  defaultTitle: string,
  axis: SweepAxis = WIDTH_AXIS,
): ChartSpec {
  checkRecords(fn, runs, { method: "string", [axis.field]: "number" });
  checkSize(fn, "width", options.width);
  checkSize(fn, "height", options.height);
  // On a log axis the band's lower edge mean − std can reach ≤ 0; it is
  // clamped to mean / 10 there (the band then reads "at least a decade").
  const lo = logY ? "max(datum.mean - datum.std, datum.mean / 10)" : "datum.mean - datum.std";
  const x = {
    field: axis.field,
    type: "quantitative" as const,
    title: axis.title,
    // Not "nice": widths 16…128 should fill the axis rather than sit inside 10…1000.
    scale: axis.log ? { type: "log" as const, nice: false } : { nice: false },
    axis: { grid: true },
  };
  const yScale = logY ? { type: "log" as const } : { zero: false };
  return {
    $schema: SCHEMA,
    title: options.title ?? defaultTitle,
    width: options.width ?? 360,
    height: options.height ?? 240,
    data: { values: plain(runs) },
    transform: [
      { filter: `${validTest(axis.field, axis.log)} && ${validTest(field, logY)}` },
      {
        aggregate: [
          { op: "mean", field, as: "mean" },
          { op: "stdev", field, as: "std" },
          { op: "count", as: "runs" },
        ],
        groupby: ["method", axis.field],
      },
      { calculate: "isValid(datum.std) && isFinite(datum.std) ? datum.std : 0", as: "std" },
      { calculate: lo, as: "lo" },
      { calculate: "datum.mean + datum.std", as: "hi" },
    ],
    // The band's opacity would fade the legend symbols: keep them solid.
    encoding: { x, color: { ...methodColour(runs), legend: { symbolOpacity: 1 } } },
    layer: [
      {
        mark: { type: "area", opacity: 0.2 },
        encoding: {
          y: { field: "lo", type: "quantitative", title: yTitle, scale: yScale },
          y2: { field: "hi" },
        },
      },
      {
        mark: { type: "line", point: true },
        encoding: {
          y: { field: "mean", type: "quantitative", title: yTitle, scale: yScale },
          tooltip: [
            { field: "method", type: "nominal" },
            { field: axis.field, type: "quantitative", title: axis.title },
            { field: "mean", type: "quantitative", title: `mean ${yTitle}`, format: ".4~g" },
            { field: "std", type: "quantitative", title: "std", format: ".3~g" },
            { field: "runs", type: "quantitative", title: "seeds" },
          ],
        },
      },
    ],
  };
}
