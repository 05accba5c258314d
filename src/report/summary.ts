/**
 * Table models for reports: plain rows and typed columns that
 * {@linkcode renderReport} turns into an HTML table; the paper's summary of
 * speed ratios with the accuracy difference beside each, and whether each
 * difference stands out of the spread over seeds.
 *
 * Why one file: the summary is built from the table model and its cell
 * formats, and read together with them (what a column's format prints).
 *
 * @module
 */
import type { RunRecord } from "../results/records.ts";
import { methodStyles, testMetricTitle } from "./_chart_parts.ts";
import { sweptPanels } from "./_panels.ts";
import { type AxisSpec, sweepAxisOf } from "./_axes.ts";

/** How a numeric cell is written. */
export type CellFormat =
  /** 4 significant digits, exponent notation below 1e-3 or from 1e5. */
  | "auto"
  /** 2 decimals and a "×", e.g. `3.41×`. */
  | "ratio"
  /** Like auto, but with an explicit sign, for differences. */
  | "signed"
  /** Integer with thousands separators. */
  | "int";

/** One column of a {@linkcode ReportTable}. */
export interface TableColumn {
  /** Key of the value in each row. */
  key: string;
  /** Header text. */
  label: string;
  /** Format of numeric cells. @default "auto" */
  format?: CellFormat;
  /** Hover text of the header, explaining the column. */
  description?: string;
}

/** A cell value: missing values (null, undefined, NaN) show as an em dash. */
export type CellValue = string | number | null | undefined;

/** A table as plain data: columns in order, rows keyed by column key. */
export interface ReportTable {
  /** Caption above the table. */
  caption?: string;
  /** Columns, left to right. */
  columns: TableColumn[];
  /** Rows, top to bottom. */
  rows: Record<string, CellValue>[];
  /** A note under the table (how the numbers were computed). */
  note?: string;
}

/**
 * Writes one cell the way a {@linkcode ReportTable} column asks.
 *
 * @example
 * ```ts
 * import { formatCell } from "./summary.ts";
 * if (formatCell(3.4149, "ratio") !== "3.41×") throw new Error();
 * if (formatCell(-2.5e-8, "signed") !== "−2.500e-8") throw new Error(formatCell(-2.5e-8, "signed"));
 * if (formatCell(null, "auto") !== "—") throw new Error();
 * ```
 */
export function formatCell(value: CellValue, format: CellFormat = "auto"): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  if (typeof value !== "number") return String(value); // not a number the table knows how to round
  if (Number.isNaN(value)) return "—";
  if (!Number.isFinite(value)) return value > 0 ? "∞" : "−∞";
  switch (format) {
    case "ratio":
      return `${value.toFixed(2)}×`;
    case "int":
      return Math.round(value).toLocaleString("en-US");
    case "signed": {
      const body = auto(Math.abs(value));
      return value > 0 ? `+${body}` : value < 0 ? `−${body}` : body;
    }
    case "auto":
      return value < 0 ? `−${auto(-value)}` : auto(value);
    default:
      throw new RangeError(`Unknown cell format ${JSON.stringify(format)}`);
  }
}

function auto(v: number): string {
  if (v === 0) return "0";
  if (v < 1e-3 || v >= 1e5) return v.toExponential(3);
  return String(Number(v.toPrecision(4)));
}

/** Options of {@linkcode speedSummary}. */
export interface SpeedSummaryOptions {
  /** The method whose speed is compared. @default "gq" when present, else the first method in legend order */
  method?: string;
  /**
   * Methods to compare against, in column order; those without runs are left out.
   * @default every other method present: adjoint, seminorm, direct, then the rest in legend order
   */
  baselines?: string[];
  /** Name of the test metric (`accuracy`, `mse`, …). @default "metric" */
  metricLabel?: string;
  /** Table caption. @default "Speed of <method> against the baselines" */
  caption?: string;
  /** The swept field, one row per value. @default width, or batch size in a batch-size sweep */
  axis?: AxisSpec;
}

function mean(xs: number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function finite(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** What a cell says of a difference between two methods' seeds. */
export type SpreadVerdict = "within spread" | "beyond spread" | "one seed";

/**
 * Whether two methods' values differ by more than their seeds spread: with
 * at least two seeds each, "within spread" when the min–max ranges overlap
 * (the difference could be seed noise), "beyond spread" when they do not;
 * "one seed" when either has a single value; null when either has none.
 *
 * @example
 * ```ts
 * import { spreadVerdict } from "./summary.ts";
 * if (spreadVerdict([0.90, 0.93], [0.92, 0.95]) !== "within spread") throw new Error();
 * if (spreadVerdict([0.90, 0.91], [0.95, 0.96]) !== "beyond spread") throw new Error();
 * if (spreadVerdict([0.9], [0.95, 0.96]) !== "one seed") throw new Error();
 * ```
 */
export function spreadVerdict(a: readonly number[], b: readonly number[]): SpreadVerdict | null {
  if (a.length === 0 || b.length === 0) return null;
  if (a.length < 2 || b.length < 2) return "one seed";
  const overlap = Math.min(...a) <= Math.max(...b) && Math.min(...b) <= Math.max(...a);
  return overlap ? "within spread" : "beyond spread";
}

/** Which methods a summary compares, by default: gq against every other method present. */
function comparedMethods(runs: readonly RunRecord[], options: SpeedSummaryOptions): [string, string[]] {
  const present = methodStyles(runs.map((r) => r.method)).map(([m]) => m);
  const method = options.method ?? (present.includes("gq") ? "gq" : present[0] ?? "gq");
  const preferred = ["adjoint", "seminorm", "direct"];
  const others = present.filter((m) => m !== method);
  const baselines = options.baselines ??
    [...preferred.filter((m) => others.includes(m)), ...others.filter((m) => !preferred.includes(m))];
  return [method, baselines];
}

/** A copy of `table` without the columns whose every row is missing (null, undefined or NaN). */
export function withoutEmptyColumns(table: ReportTable): ReportTable {
  const filled = (key: string) =>
    table.rows.some((r) => r[key] !== null && r[key] !== undefined && !Number.isNaN(r[key]));
  return { ...table, columns: table.columns.filter((c) => filled(c.key)) };
}

/** A summary row's place: its chart panel (or null) and the x. */
interface Point {
  readonly group: unknown;
  readonly x: number;
}

/**
 * The summary table: per width (or batch size, see `axis`) — and per panel of the charts, where the sweep varies
 * other fields between runs of one method at one width (batch size, learning rate, cosines, other swept values:
 * `sweptPanels`), named in a first column, so those runs are not counted as seeds — the number of seeds, the mean
 * training time (evaluation excluded), evaluation time and test metric of `method`, and
 * for each baseline with runs the speed ratio `method/baseline` = mean
 * t_baseline / mean t_method (above 1: `method` is faster) and the metric
 * difference mean metric_method − mean metric_baseline, each followed by its
 * {@linkcode spreadVerdict} over the seeds. A last row gives the geometric
 * mean of each ratio over the rows where both ran. Runs with a missing
 * time (or metric) are left out of that mean only. Columns with no value in
 * any row are left out; with one seed per run the verdict columns are too,
 * and the note says the differences were not compared with seed noise.
 *
 * @example GQ twice as fast as the adjoint, within the spread in accuracy
 * ```ts
 * import { speedSummary } from "./summary.ts";
 * const table = speedSummary([
 *   { method: "gq", width: 10, seed: 0, trainSeconds: 2, testMetric: 0.90 },
 *   { method: "gq", width: 10, seed: 1, trainSeconds: 2, testMetric: 0.92 },
 *   { method: "adjoint", width: 10, seed: 0, trainSeconds: 4, testMetric: 0.91 },
 *   { method: "adjoint", width: 10, seed: 1, trainSeconds: 4, testMetric: 0.93 },
 * ]);
 * if (table.rows[0]!["speed_adjoint"] !== 2) throw new Error("wrong ratio");
 * if (table.rows[0]!["deltaSpread_adjoint"] !== "within spread") throw new Error("no verdict");
 * ```
 */
export function speedSummary(runs: readonly RunRecord[], options: SpeedSummaryOptions = {}): ReportTable {
  if (!Array.isArray(runs)) throw new TypeError(`speedSummary() expects an array of runs, got ${typeof runs}`);
  runs.forEach((r, i) => {
    if (typeof r.method !== "string" || !finite(r.width)) {
      throw new TypeError(
        `speedSummary(): run ${i} needs a string "method" and a finite "width", got ${JSON.stringify(r)}`,
      );
    }
  });
  const [method, wanted] = comparedMethods(runs, options);
  if (wanted.includes(method)) {
    throw new RangeError(`speedSummary(): baselines must not contain the compared method "${method}"`);
  }
  const metric = testMetricTitle(options.metricLabel ?? "metric");
  const { caption = `Speed of ${method} against the baselines` } = options;
  const axis = options.axis ?? sweepAxisOf(runs);
  // Rows per panel of the charts too (a width × batch-size sweep: per batch size and width).
  const panels = sweptPanels(runs, axis);
  const at = (r: RunRecord) => (r as unknown as Record<string, unknown>)[axis.field];
  const order = new Map((panels.facet?.sort as string[] | undefined ?? []).map((label, i) => [label, i]));
  const groupOf = (r: RunRecord) => (r as { panel?: string }).panel ?? null;
  const key = (m: string, p: Point) => JSON.stringify([m, p.group, p.x]);
  const lists = {
    time: new Map<string, number[]>(),
    metric: new Map<string, number[]>(),
    eval: new Map<string, number[]>(),
  };
  const count = new Map<string, number>();
  const points = new Map<string, Point>();
  const add = (map: Map<string, number[]>, k: string, v: unknown) => {
    if (finite(v)) map.set(k, [...(map.get(k) ?? []), v]);
  };
  for (const r of panels.rows) {
    const x = at(r);
    if (!finite(x)) continue;
    const p = { group: groupOf(r), x };
    points.set(JSON.stringify([p.group, x]), p);
    const k = key(r.method, p);
    count.set(k, (count.get(k) ?? 0) + 1);
    add(lists.time, k, r.trainSeconds);
    add(lists.metric, k, r.testMetric);
    add(lists.eval, k, r.evaluationSeconds);
  }
  const baselines = wanted.filter((b) => [...points.values()].some((p) => count.has(key(b, p))));
  const manySeeds = [...count.values()].some((n) => n > 1);
  const oneSeed = manySeeds ? "" : " (one seed)";
  const columns: TableColumn[] = [
    ...(panels.facet ? [{ key: "panel", label: panels.title }] : []),
    { key: axis.field, label: axis.title, format: "int" },
    {
      key: "seeds",
      label: "seeds",
      format: "int",
      description: `Runs of ${method} at this ${axis.title} (one per seed)`,
    },
    {
      key: "seconds",
      label: `${method} training time (s)`,
      description: `Mean training time of ${method} over seeds: the epochs' gradient steps, test evaluations excluded`,
    },
    {
      key: "evalSeconds",
      label: `${method} evaluation time (s)`,
      description: `Mean time of ${method}'s test evaluations over seeds`,
    },
    { key: "metric", label: `${method} ${metric}`, description: `Mean ${metric} of ${method} over seeds` },
  ];
  for (const b of baselines) {
    columns.push({
      key: `speed_${b}`,
      label: `${method}/${b} speed${oneSeed}`,
      format: "ratio",
      description: `t_${b} / t_${method}: above 1 means ${method} trains faster`,
    });
    if (manySeeds) {
      columns.push({
        key: `speedSpread_${b}`,
        label: "time vs seeds",
        description: `Whether the training times of ${method} and ${b} overlap over seeds (min–max)`,
      });
    }
    columns.push({
      key: `delta_${b}`,
      label: `Δ ${metric} vs ${b}${oneSeed}`,
      format: "signed",
      description: `${metric} of ${method} minus that of ${b}`,
    });
    if (manySeeds) {
      columns.push({
        key: `deltaSpread_${b}`,
        label: `${metric} vs seeds`,
        description: `Whether the ${metric} of ${method} and ${b} overlap over seeds (min–max)`,
      });
    }
  }
  const logSums = new Map<string, { sum: number; n: number }>();
  const byPanel = (a: Point, b: Point) =>
    (order.get(a.group as string) ?? 0) - (order.get(b.group as string) ?? 0) || a.x - b.x;
  const rows: Record<string, CellValue>[] = [...points.values()].sort(byPanel).map((w) => {
    const k = key(method, w);
    const times = lists.time.get(k) ?? [], metrics = lists.metric.get(k) ?? [];
    const t = mean(times), m = mean(metrics);
    const row: Record<string, CellValue> = {
      ...(panels.facet ? { panel: w.group as CellValue } : {}),
      [axis.field]: w.x,
      seeds: count.get(k) ?? null,
      seconds: t,
      evalSeconds: mean(lists.eval.get(k) ?? []),
      metric: m,
    };
    for (const b of baselines) {
      const bTimes = lists.time.get(key(b, w)) ?? [], bMetrics = lists.metric.get(key(b, w)) ?? [];
      const tb = mean(bTimes), mb = mean(bMetrics);
      const ratio = t !== null && tb !== null && t > 0 ? tb / t : null;
      row[`speed_${b}`] = ratio;
      row[`speedSpread_${b}`] = spreadVerdict(times, bTimes);
      row[`delta_${b}`] = m !== null && mb !== null ? m - mb : null;
      row[`deltaSpread_${b}`] = spreadVerdict(metrics, bMetrics);
      if (ratio !== null && ratio > 0) {
        const s = logSums.get(b) ?? { sum: 0, n: 0 };
        logSums.set(b, { sum: s.sum + Math.log(ratio), n: s.n + 1 });
      }
    }
    return row;
  });
  if (rows.length > 1) {
    const geo: Record<string, CellValue> = { [axis.field]: "geometric mean" };
    for (const b of baselines) {
      const s = logSums.get(b);
      geo[`speed_${b}`] = s ? Math.exp(s.sum / s.n) : null;
    }
    rows.push(geo);
  }
  const spread = manySeeds
    ? 'Spread over seeds is the min–max range: "within spread" means the two methods\' ranges overlap, so the ' +
      'difference may be seed noise rather than a method effect; "beyond spread" means they do not overlap; ' +
      '"one seed" means one of them ran once.'
    : "One seed per run: these differences were not compared with the spread over seeds and may be seed noise; " +
      "add seeds: [0, 1, 2] to the pipeline to see it.";
  return withoutEmptyColumns({
    caption,
    columns,
    rows,
    note: `Speed ratio ${method}/baseline = mean baseline training time / mean ${method} training time over seeds ` +
      `(above 1: ${method} is faster); training time excludes the test evaluations. Δ = mean ${metric} of ` +
      `${method} − that of the baseline. ${spread}`,
  });
}
