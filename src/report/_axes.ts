/**
 * Axes that label their ends: the tick values of a log axis from the data's
 * extent, and the scale and axis of a chart's x or y.
 *
 * @module
 */

/** The finite values of `field` (positive ones only on a log axis). */
export function fieldValues(records: readonly object[], field: string, positive: boolean): number[] {
  return records.map((r) => (r as Record<string, unknown>)[field])
    .filter((v): v is number => typeof v === "number" && Number.isFinite(v) && (!positive || v > 0));
}

/**
 * Tick values of a log axis over [lo, hi]: both ends, labelled, and between
 * them the decades (or 1-2-5 steps, every integer mantissa, or evenly
 * spaced round values, when a span holds too few decades) that keep clear of
 * the ends. `gap` is the least
 * distance between ticks as a fraction of the span in decades.
 *
 * @example
 * ```ts
 * import { logTicks } from "./_axes.ts";
 * if (logTicks(0.003, 47).join() !== "0.003,0.01,0.1,1,10,47") throw new Error(logTicks(0.003, 47).join());
 * if (logTicks(1.3, 3.4).join() !== "1.3,2,3,3.4") throw new Error(logTicks(1.3, 3.4).join());
 * if (logTicks(33.1, 37.2).join() !== "33.1,34,36,37.2") throw new Error(logTicks(33.1, 37.2).join());
 * ```
 */
export function logTicks(lo: number, hi: number, gap = 0.08): number[] {
  if (!(lo > 0 && hi >= lo)) throw new RangeError(`logTicks(): needs 0 < lo ≤ hi, got ${lo}, ${hi}`);
  if (lo === hi) return [lo];
  const a = Math.log10(lo), b = Math.log10(hi), span = b - a;
  const inner = (mantissas: readonly number[]) => {
    const out: number[] = [];
    for (let k = Math.floor(a); k <= Math.ceil(b); k++) {
      for (const m of mantissas) {
        // Round to the digits the mantissa has, so 3 × 10⁻⁴ is 0.0003 and not 0.00030000000000000003.
        const v = Number((m * 10 ** k).toPrecision(12));
        const l = Math.log10(v);
        if (l - a >= gap * span && b - l >= gap * span) out.push(v);
      }
    }
    return out;
  };
  let ticks = inner([1]);
  if (ticks.length < 2) ticks = inner([1, 2, 5]);
  if (ticks.length < 2) ticks = inner([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  if (ticks.length < 2) {
    // Less than a factor 2 end to end: evenly spaced round values, as on a linear axis.
    const raw = (hi - lo) / 4, unit = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * unit).find((x) => x >= raw)!;
    ticks = [];
    for (let v = Math.ceil(lo / step) * step; v < hi; v += step) {
      const t = Number(v.toPrecision(12)), l = Math.log10(t);
      if (l - a >= gap * span && b - l >= gap * span) ticks.push(t);
    }
  }
  // Thin long runs of decades so labels do not crowd.
  while (ticks.length > 8) ticks = ticks.filter((_, i) => i % 2 === 1);
  return [lo, ...ticks, hi];
}

/** One axis of a chart: the record field, its title and how it is scaled and labelled. */
export interface AxisSpec {
  /** The record field. */
  readonly field: string;
  /** Axis title, with its unit. */
  readonly title: string;
  /** Log scale (values ≤ 0 are dropped). */
  readonly log: boolean;
  /** d3 format of the tick labels. @default ".3~g" (linear: Vega's own) */
  readonly format?: string;
  /** Tick at every distinct value (at most 12; swept values such as widths or tolerances). @default false */
  readonly atValues?: boolean;
  /** Larger values to the left or bottom. @default false */
  readonly reverse?: boolean;
}

/**
 * The scale and axis of `axis` over `values` (the values the chart will
 * draw): a log axis gets a domain from the data's ends and ticks at both
 * ends ({@linkcode logTicks}) or at every distinct value; a linear one starts
 * where the data start, not at 0.
 */
export function axisScale(axis: AxisSpec, values: readonly number[], gap?: number) {
  const distinct = [...new Set(values)].sort((p, q) => p - q);
  const reverse = axis.reverse ? { reverse: true } : {};
  if (!axis.log || distinct.length === 0) {
    return {
      scale: { ...(axis.log ? { type: "log" as const } : { zero: false }), ...reverse },
      axis: { grid: true, ...(axis.format ? { format: axis.format } : {}) },
    };
  }
  let lo = distinct[0]!, hi = distinct.at(-1)!;
  let ticks: number[];
  if (axis.atValues && distinct.length <= 12) {
    ticks = distinct;
    if (lo === hi) [lo, hi] = [lo / 2, hi * 2];
  } else {
    if (lo === hi) [lo, hi] = [lo / 2, hi * 2];
    ticks = logTicks(lo, hi, gap);
  }
  return {
    // A few pixels beyond the data, so markers at the ends clear the axis lines.
    scale: { type: "log" as const, domain: [lo, hi], nice: false, padding: 8, ...reverse },
    axis: { grid: true, values: ticks, format: axis.format ?? ".3~g", labelOverlap: false },
  };
}

/** Width on a log axis, ticked at each swept width: the x of most sweeps. */
export const WIDTH_AXIS: AxisSpec = { field: "width", title: "width", log: true, format: "d", atValues: true };

/** Batch size on a log axis, ticked at each swept size: the x of a batch-size sweep. */
export const BATCH_SIZE_AXIS: AxisSpec = {
  field: "batchSize",
  title: "batch size",
  log: true,
  format: "d",
  atValues: true,
};

/**
 * The field a sweep of runs varies, for the x of its charts and the rows of
 * its summary: the batch size when every run has one width and the runs
 * differ in batch size (a batch-size ablation), else the width.
 */
export function sweepAxisOf(records: readonly { width: number; batchSize?: number }[]): AxisSpec {
  const widths = new Set(records.map((r) => r.width));
  const sizes = new Set(records.map((r) => r.batchSize).filter((b) => typeof b === "number"));
  return widths.size === 1 && sizes.size > 1 ? BATCH_SIZE_AXIS : WIDTH_AXIS;
}
