/**
 * Table models for reports: plain rows and typed columns that
 * {@linkcode renderReport} turns into an HTML table, plus the paper's
 * summary of speed ratios with the accuracy difference beside each.
 *
 * @module
 */
import type { RunRecord } from "../results/records.ts";

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
  /** The method whose speed is compared. @default "gq" */
  method?: string;
  /** Methods to compare against, in column order; missing ones show as dashes. @default ["adjoint", "seminorm", "direct"] */
  baselines?: string[];
  /** Name of the test metric. @default "test metric" */
  metricLabel?: string;
  /** Table caption. @default "Speed of gq against the baselines" */
  caption?: string;
}

function mean(xs: number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function finite(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/**
 * The summary table: per width, the mean training time of `method` and, for
 * each baseline, the speed ratio `method/baseline` = mean t_baseline / mean
 * t_method (above 1: `method` is faster) with the accuracy difference
 * mean metric_method − mean metric_baseline beside it. A last row gives the
 * geometric mean of each ratio over the widths where both ran. Runs with a
 * missing time (or metric) are left out of that mean only.
 *
 * @example GQ twice as fast as the adjoint, equally accurate
 * ```ts
 * import { speedSummary } from "./summary.ts";
 * const table = speedSummary([
 *   { method: "gq", width: 10, trainSeconds: 2, testMetric: 0.9 },
 *   { method: "adjoint", width: 10, trainSeconds: 4, testMetric: 0.9 },
 * ]);
 * if (table.rows[0]!["speed_adjoint"] !== 2) throw new Error("wrong ratio");
 * if (table.rows[0]!["delta_adjoint"] !== 0) throw new Error("wrong difference");
 * ```
 */
export function speedSummary(runs: readonly RunRecord[], options: SpeedSummaryOptions = {}): ReportTable {
  const {
    method = "gq",
    baselines = ["adjoint", "seminorm", "direct"],
    metricLabel = "test metric",
    caption = `Speed of ${method} against the baselines`,
  } = options;
  if (!Array.isArray(runs)) throw new TypeError(`speedSummary() expects an array of runs, got ${typeof runs}`);
  if (baselines.includes(method)) {
    throw new RangeError(`speedSummary(): baselines must not contain the compared method "${method}"`);
  }
  const key = (m: string, w: number) => `${m}\u0000${w}`;
  const times = new Map<string, number[]>(), metrics = new Map<string, number[]>();
  const widths = new Set<number>();
  runs.forEach((r, i) => {
    if (typeof r.method !== "string" || !finite(r.width)) {
      throw new TypeError(
        `speedSummary(): run ${i} needs a string "method" and a finite "width", got ${JSON.stringify(r)}`,
      );
    }
    widths.add(r.width);
    const k = key(r.method, r.width);
    if (finite(r.trainSeconds)) times.set(k, [...(times.get(k) ?? []), r.trainSeconds]);
    if (finite(r.testMetric)) metrics.set(k, [...(metrics.get(k) ?? []), r.testMetric]);
  });
  const columns: TableColumn[] = [
    { key: "width", label: "width", format: "int" },
    { key: "seconds", label: `${method} time (s)`, description: `Mean training time of ${method} over seeds` },
    { key: "metric", label: `${method} ${metricLabel}`, description: `Mean ${metricLabel} of ${method} over seeds` },
  ];
  for (const b of baselines) {
    columns.push(
      {
        key: `speed_${b}`,
        label: `${method}/${b} speed`,
        format: "ratio",
        description: `t_${b} / t_${method}: above 1 means ${method} trains faster`,
      },
      {
        key: `delta_${b}`,
        label: `Δ ${metricLabel}`,
        format: "signed",
        description: `${metricLabel} of ${method} minus that of ${b}`,
      },
    );
  }
  const logSums = new Map<string, { sum: number; n: number }>();
  const rows: Record<string, CellValue>[] = [...widths].sort((a, b) => a - b).map((w) => {
    const t = mean(times.get(key(method, w)) ?? []);
    const m = mean(metrics.get(key(method, w)) ?? []);
    const row: Record<string, CellValue> = { width: w, seconds: t, metric: m };
    for (const b of baselines) {
      const tb = mean(times.get(key(b, w)) ?? []);
      const mb = mean(metrics.get(key(b, w)) ?? []);
      const ratio = t !== null && tb !== null && t > 0 ? tb / t : null;
      row[`speed_${b}`] = ratio;
      row[`delta_${b}`] = m !== null && mb !== null ? m - mb : null;
      if (ratio !== null && ratio > 0) {
        const s = logSums.get(b) ?? { sum: 0, n: 0 };
        logSums.set(b, { sum: s.sum + Math.log(ratio), n: s.n + 1 });
      }
    }
    return row;
  });
  if (rows.length > 1) {
    const geo: Record<string, CellValue> = { width: "geometric mean" };
    for (const b of baselines) {
      const s = logSums.get(b);
      geo[`speed_${b}`] = s ? Math.exp(s.sum / s.n) : null;
    }
    rows.push(geo);
  }
  return {
    caption,
    columns,
    rows,
    note: `Speed ratio ${method}/baseline = mean baseline time / mean ${method} time over seeds (above 1: ${method} ` +
      `is faster). Δ = mean ${metricLabel} of ${method} − that of the baseline.`,
  };
}
