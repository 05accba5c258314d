/**
 * Test helpers for chart specs: compile with vega-lite with every warning
 * collected, and run a spec headless to read back the data of its marks.
 *
 * @module
 */
import * as vega from "vega";
import { compile } from "vega-lite";
import { assertEquals } from "../util/testing.ts";
import type { ChartSpec } from "./_chart_parts.ts";

/** Compiles with vega-lite, collecting every warning; an error throws. */
export function compileStrict(spec: ChartSpec): { vg: vega.Spec; warnings: string[] } {
  const warnings: string[] = [];
  const logger = {
    level: () => logger,
    error: (...a: unknown[]): never => {
      throw new Error(a.join(" "));
    },
    warn: (...a: unknown[]) => (warnings.push(a.join(" ")), logger),
    info: () => logger,
    debug: () => logger,
  };
  return { vg: compile(spec, { logger: logger as never }).spec, warnings };
}

/** A mark item's datum. */
export type Datum = Record<string, unknown>;
interface SceneNode {
  marktype?: string;
  role?: string;
  items?: SceneNode[];
  datum?: Datum;
  shape?: unknown;
  stroke?: unknown;
  strokeDash?: unknown;
}

/** A drawn item: its datum (with any facet fields) and how it looks. */
export interface MarkItem {
  /** The item's datum, with the facet cell's fields. */
  readonly datum: Datum;
  /** Marker shape (symbols). */
  readonly shape: unknown;
  /** Stroke colour. */
  readonly stroke: unknown;
  /** Stroke dash (lines). */
  readonly strokeDash: unknown;
}

/**
 * Runs the spec headless and returns the data of the items of every data mark
 * of type `marktype` (for a line or area: one item per point).
 */
export async function markData(spec: ChartSpec, marktype: string): Promise<Datum[]> {
  return (await markItems(spec, marktype)).map((i) => i.datum);
}

/** Like {@linkcode markData}, with each item's shape, stroke and dash. */
export async function markItems(spec: ChartSpec, marktype: string): Promise<MarkItem[]> {
  const { vg, warnings } = compileStrict(spec);
  const dataWarnings: string[] = [];
  const view = new vega.View(vega.parse(vg), {
    renderer: "none",
    logger: {
      level: () => 2,
      error: (e: unknown) => {
        throw e;
      },
      warn: (...a: unknown[]) => dataWarnings.push(a.join(" ")),
      info: () => {},
      debug: () => {},
    } as never,
  });
  await view.runAsync();
  const out: MarkItem[] = [];
  // Facet cells are groups whose datum holds the facet field (e.g. width): merge it into their items' data.
  const walk = (node: SceneNode, context: Datum) => {
    const isMark = node.marktype === marktype && node.role === "mark";
    for (const item of node.items ?? []) {
      if (isMark && item.datum) {
        out.push({
          datum: { ...context, ...item.datum },
          shape: item.shape,
          stroke: item.stroke,
          strokeDash: item.strokeDash,
        });
      }
      walk(item, node.marktype === "group" && item.datum ? { ...context, ...item.datum } : context);
    }
  };
  walk((view.scenegraph() as unknown as { root: SceneNode }).root, {});
  view.finalize();
  assertEquals([...warnings, ...dataWarnings], [], "compile and dataflow warnings");
  return out;
}
