/**
 * Vega-Lite chart builders for neural SDEs, in the style of specs.ts:
 *
 * | builder | view |
 * |---|---|
 * | {@linkcode cosineSpecs} | training time and test metric vs Karhunen–Loève cosines (the paper's Table 6) |
 * | {@linkcode sdeDensitySpec} | one model's densities against the data's, per time and initial value (Figure 15) |
 * | {@linkcode sdePathSpec} | one model's sample paths against the data's, per initial value (Figure 15) |
 *
 * {@linkcode figureCells} picks which model each method is drawn by.
 *
 * @module
 */
import type { RunRecord, SdeDensityRecord, SdePathRecord } from "../results/records.ts";
import {
  type ChartOptions,
  type ChartSpec,
  checkRecords,
  checkSize,
  methodColourScale,
  plain,
  SCHEMA,
  sentence,
  sweepSpec,
  testMetricTitle,
} from "./_chart_parts.ts";

/** Colour of the data's curves and paths (grey), beside the method's own colour for the model's. */
const DATA_COLOUR = "#999999";

/** Options of {@linkcode cosineSpecs}. */
export interface CosineOptions extends ChartOptions {
  /** Name of the metric (`kl` reads "test KL"). @default "kl" */
  metricLabel?: string;
}

/**
 * Training time (log) and the test metric (log, scientific notation) against
 * the cosines of the Karhunen–Loève noise, per method, mean and min–max over
 * seeds. Runs without a `cosines` number (not trained through the noise) are
 * left out.
 *
 * @example
 * ```ts
 * import { cosineSpecs } from "./sde_specs.ts";
 * const [time, kl] = cosineSpecs([
 *   { method: "gq", width: 20, cosines: 0, trainSeconds: 1, testMetric: 0.5 },
 *   { method: "gq", width: 20, cosines: 10, trainSeconds: 3, testMetric: 0.05 },
 * ]);
 * if (time!.title !== "Training time vs cosines" || kl!.title !== "Test KL vs cosines") throw new Error();
 * ```
 */
export function cosineSpecs(
  runs: readonly RunRecord[],
  options: CosineOptions = {},
): ChartSpec[] {
  const label = testMetricTitle(options.metricLabel ?? "kl");
  const noisy = runs.filter((r) => typeof r.cosines === "number");
  const axis = { field: "cosines", title: "Karhunen–Loève cosines", log: false, format: "d" };
  const { title: _title, ...sizes } = options;
  return [
    sweepSpec("cosineSpecs", noisy, "trainSeconds", "training time (s)", true, sizes, "Training time vs cosines", axis),
    sweepSpec(
      "cosineSpecs",
      noisy,
      "testMetric",
      label,
      true,
      sizes,
      `${sentence(label)} vs cosines`,
      axis,
      ".2~e",
    ),
  ];
}

/**
 * The cell each method is drawn by in the figures: its widest width's first
 * cell (records keep the engine's cell order).
 */
export function figureCells(records: readonly Pick<SdeDensityRecord, "cellId" | "method" | "width">[]): string[] {
  const best = new Map<string, { cellId: string; width: number }>();
  for (const r of records) {
    const b = best.get(r.method);
    if (b === undefined || r.width > b.width) best.set(r.method, { cellId: r.cellId, width: r.width });
  }
  return [...best.values()].map((b) => b.cellId);
}

function sourceColour(method: string) {
  const model = methodColourScale([method]).range[0]!;
  return {
    field: "source",
    type: "nominal" as const,
    title: "samples",
    scale: { domain: ["model", "data"], range: [model, DATA_COLOUR] },
  };
}

/** The records of one cell, checked to be one model's. */
function oneModel<T extends { cellId: string; method: string; width: number }>(fn: string, records: readonly T[]) {
  const cells = new Set(records.map((r) => r.cellId));
  if (cells.size !== 1) {
    throw new RangeError(`${fn}(): expects the records of one cell, got ${cells.size} (${[...cells].join(", ")})`);
  }
  return records[0]!;
}

/**
 * One trained model's densities against the data's: a panel per time
 * (columns) and initial value (rows), the model's curve in its method's
 * colour over the data's in grey.
 *
 * @example
 * ```ts
 * import { sdeDensitySpec } from "./sde_specs.ts";
 * const at = (source: "model" | "data", x: number, density: number) =>
 *   ({ cellId: "c", method: "gq", width: 20, x0: 1, t: 5, x, density, source });
 * const spec = sdeDensitySpec([at("model", 0, 0.3), at("model", 1, 0.2), at("data", 0, 0.25), at("data", 1, 0.25)]);
 * if (spec.title !== "Densities of gq (width 20) against the data") throw new Error(String(spec.title));
 * ```
 */
export function sdeDensitySpec(records: readonly SdeDensityRecord[], options: ChartOptions = {}): ChartSpec {
  const fn = "sdeDensitySpec";
  checkRecords(fn, records, { method: "string", width: "number", x0: "number", t: "number", x: "number" });
  checkSize(fn, "width", options.width);
  checkSize(fn, "height", options.height);
  const { method, width } = oneModel(fn, records);
  return {
    $schema: SCHEMA,
    title: options.title ?? `Densities of ${method} (width ${width}) against the data`,
    data: { values: plain(records) },
    facet: {
      row: { field: "x0", type: "ordinal", title: "x0", header: { format: ".2f" } },
      column: { field: "t", type: "ordinal", title: "t" },
    },
    spec: {
      width: options.width ?? 180,
      height: options.height ?? 110,
      mark: { type: "line" },
      encoding: {
        x: { field: "x", type: "quantitative", title: "x", scale: { zero: false } },
        y: { field: "density", type: "quantitative", title: "density" },
        color: sourceColour(method),
      },
    },
    resolve: { scale: { x: "independent", y: "independent" } },
  };
}

/**
 * One trained model's sample paths against the data's, a panel per initial
 * value.
 *
 * @example
 * ```ts
 * import { sdePathSpec } from "./sde_specs.ts";
 * const p = (source: "model" | "data", t: number, value: number) =>
 *   ({ cellId: "c", method: "sde-adjoint", width: 5, x0: 0, path: 0, t, value, source });
 * const spec = sdePathSpec([p("model", 0, 0), p("model", 1, 0.4), p("data", 0, 0), p("data", 1, 0.1)]);
 * if (!("facet" in spec)) throw new Error("expected a faceted chart");
 * ```
 */
export function sdePathSpec(records: readonly SdePathRecord[], options: ChartOptions = {}): ChartSpec {
  const fn = "sdePathSpec";
  checkRecords(fn, records, { method: "string", width: "number", x0: "number", t: "number", path: "number" });
  checkSize(fn, "width", options.width);
  checkSize(fn, "height", options.height);
  const { method, width } = oneModel(fn, records);
  return {
    $schema: SCHEMA,
    title: options.title ?? `Sample paths of ${method} (width ${width}) and of the data`,
    data: { values: plain(records) },
    transform: [{ calculate: "datum.source + ' ' + datum.path", as: "line" }],
    facet: { column: { field: "x0", type: "ordinal", title: "x0", header: { format: ".2f" } } },
    spec: {
      width: options.width ?? 220,
      height: options.height ?? 160,
      mark: { type: "line", strokeWidth: 1 },
      encoding: {
        x: { field: "t", type: "quantitative", title: "t" },
        y: { field: "value", type: "quantitative", title: "x(t)" },
        color: sourceColour(method),
        detail: { field: "line", type: "nominal" },
      },
    },
  };
}
