/**
 * Panels for the fields a sweep varies besides a chart's x axis: where runs of
 * one method at one x differ in batch size, learning rate, cosines or other
 * swept values, each combination gets a panel of its own (and a row of the
 * summary table), so that those runs are never drawn as one point's seeds.
 *
 * @module
 */
import type { AxisSpec } from "./_axes.ts";
import type { SpreadFacet } from "./_chart_parts.ts";

/**
 * Fields besides the x axis that a sweep may vary between runs of one method at one x, with the pipeline path each
 * comes from; `variant` holds a cell's other swept values (`labelVariants` in experiment.ts).
 */
const SWEPT_FIELDS: readonly { field: string; title: string; path?: string }[] = [
  { field: "batchSize", title: "batch size", path: "train.batchSize" },
  { field: "lr", title: "learning rate", path: "train.optimizer.lr" },
  { field: "cosines", title: "KL cosines", path: "noise.cosines" },
  { field: "variant", title: "" },
];

/** The pipeline paths of the fields {@linkcode sweptPanels} draws panels for by name. */
export const PANEL_PATHS: readonly string[] = SWEPT_FIELDS.flatMap((f) => (f.path ? [f.path] : []));

/** What {@linkcode sweptPanels} gives: the records, each with its `panel` label when there are panels. */
export interface SweptPanels<T> {
  readonly rows: readonly T[];
  /** Faceting by `panel`, in sweep order; undefined for one panel. */
  readonly facet: SpreadFacet | undefined;
  /** Panels drawn. */
  readonly count: number;
  /** What the panels tell apart ("batch size · learning rate"), for a table's column. */
  readonly title: string;
}

/**
 * Panels for every field besides `x` whose value differs between runs of one
 * method at one x — a width × batch-size sweep gets a panel per batch size, a
 * batch size × learning rate one a panel per pair — so that those runs are
 * not drawn as one point's seeds. Each record gets `panel`, "batch size 8 ·
 * learning rate 0.001", and the panels follow each field's values in turn
 * (numbers ascending, other values in the records' order — the sweep's). With `withX` the label starts with x itself and each
 * x value is a panel too (the loss curves: a panel per width, their own x
 * axis being the epoch).
 */
export function sweptPanels<T extends object>(
  records: readonly T[],
  x: AxisSpec,
  options: { withX?: boolean; columns?: number } = {},
): SweptPanels<T> {
  const value = (r: T, field: string) => (r as Record<string, unknown>)[field] ?? null;
  const varying = SWEPT_FIELDS.filter(({ field }) => {
    if (field === x.field) return false;
    const seen = new Map<string, unknown>();
    return records.some((r) => {
      const key = JSON.stringify([value(r, "method"), value(r, x.field)]), v = value(r, field);
      if (!seen.has(key)) seen.set(key, v);
      return seen.get(key) !== v;
    });
  });
  const fields = [...(options.withX ? [{ field: x.field, title: x.title }] : []), ...varying];
  const label = (r: T) => fields.map(({ field, title }) => `${title}${title ? " " : ""}${value(r, field)}`).join(" · ");
  const first = new Map<string, T>();
  for (const r of records) if (!first.has(label(r))) first.set(label(r), r);
  // Numbers ascending; anything else in the order it first appears (the records', i.e. the sweep's, order).
  const seen = new Map<unknown, number>();
  for (const r of records) {
    for (const { field } of fields) if (!seen.has(value(r, field))) seen.set(value(r, field), seen.size);
  }
  const compare = (a: unknown, b: unknown) =>
    typeof a === "number" && typeof b === "number" ? a - b : seen.get(a)! - seen.get(b)!;
  const order = [...first].sort(([, a], [, b]) => {
    for (const { field } of fields) {
      const c = compare(value(a, field), value(b, field));
      if (c !== 0) return c;
    }
    return 0;
  }).map(([l]) => l);
  const title = varying.map((f) => f.title || "swept values").join(" · ");
  if (fields.length === 0 || order.length < 2) return { rows: records, facet: undefined, count: 1, title };
  return {
    rows: records.map((r) => ({ ...r, panel: label(r) })),
    facet: {
      field: "panel",
      title: null,
      type: "nominal",
      sort: order,
      fields: fields.map((f) => f.field),
      ...(options.columns ? { columns: options.columns } : {}),
    },
    count: order.length,
    title,
  };
}
