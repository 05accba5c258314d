/**
 * Static chart files: a Vega-Lite spec rendered to SVG headless in Deno
 * (vega-lite compiles it, a vega View with `renderer: "none"` lays it out and
 * `view.toSVG()` writes it), and SVG rasterised to PNG by resvg (no canvas,
 * no browser).
 *
 * Vega writes text as `font-family="sans-serif"`; resvg maps that family to
 * the first font found among DejaVu Sans, Liberation Sans, Noto Sans and
 * FreeSans under `/usr/share/fonts` (Debian: `fonts-dejavu-core`); only
 * without any of them does it scan the system fonts (10 ms a chart), and then
 * text may not render.
 *
 * @module
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { renderAsync, Resvg, type ResvgRenderOptions } from "@resvg/resvg-js";
import * as vega from "vega";
import { compile } from "vega-lite";
import type { ReportContent } from "./html.ts";
import type { ChartSpec } from "./specs.ts";

/** Options of {@linkcode renderSvg}. */
export interface RenderSvgOptions {
  /** Scale factor of the SVG's width and height. @default 1 */
  scale?: number;
  /** Called with each Vega-Lite or Vega warning; by default warnings are dropped. */
  onWarning?: (message: string) => void;
}

/** Options of {@linkcode renderPng}. */
export interface RenderPngOptions {
  /** Output width in pixels; the height follows the aspect ratio. @default twice the SVG width */
  width?: number;
  /** Background colour behind transparent areas. @default "white" */
  background?: string;
}

/** The warnings of one render, as vega-lite's and vega's logger interface wants them. */
function collectingLogger(onWarning: ((message: string) => void) | undefined) {
  let level = 2;
  const text = (args: unknown[]) => args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ");
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error(...args: unknown[]): never {
      throw new Error(text(args));
    },
    warn(...args: unknown[]) {
      onWarning?.(text(args));
      return logger;
    },
    info() {
      return logger;
    },
    debug() {
      return logger;
    },
  };
  return logger;
}

/**
 * Renders a Vega-Lite spec to an SVG string, headless. Throws when the spec
 * does not compile or its dataflow fails.
 *
 * @example
 * ```ts
 * import { renderSvg } from "./static.ts";
 * import { memorySpec } from "./specs.ts";
 * const svg = await renderSvg(memorySpec([{ method: "gq", tolerance: 1e-3, peakRssBytes: 3.5e7 }]));
 * if (!svg.startsWith("<svg") || !svg.includes("peak RSS rise over one gradient (MiB)")) throw new Error("no axis title");
 * ```
 */
export async function renderSvg(spec: ChartSpec, options: RenderSvgOptions = {}): Promise<string> {
  const { scale = 1, onWarning } = options;
  if (!(Number.isFinite(scale) && scale > 0)) {
    throw new RangeError(`renderSvg(): option "scale" must be a positive number, got ${scale}`);
  }
  if (typeof spec !== "object" || spec === null) {
    throw new TypeError(`renderSvg(): spec must be a Vega-Lite spec object, got ${spec}`);
  }
  const logger = collectingLogger(onWarning);
  let compiled;
  try {
    compiled = compile(spec, { logger }).spec;
  } catch (e) {
    throw new TypeError(`renderSvg(): the Vega-Lite spec does not compile: ${(e as Error).message}`, { cause: e });
  }
  const view = new vega.View(vega.parse(compiled), { renderer: "none", logger, logLevel: vega.Warn });
  try {
    await view.runAsync();
    return await view.toSVG(scale);
  } finally {
    view.finalize();
  }
}

const FONT_CANDIDATES: ReadonlyArray<readonly [string, string]> = [
  ["DejaVuSans.ttf", "DejaVu Sans"],
  ["LiberationSans-Regular.ttf", "Liberation Sans"],
  ["NotoSans-Regular.ttf", "Noto Sans"],
  ["FreeSans.ttf", "FreeSans"],
];

let fontCache: { files: string[]; family: string | undefined } | undefined;

/** Finds the first candidate sans-serif font under /usr/share/fonts (searched once). */
function systemFont(): { files: string[]; family: string | undefined } {
  if (fontCache) return fontCache;
  const found = new Map<string, string>();
  const walk = (dir: string, depth: number) => {
    if (depth > 4 || !existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (FONT_CANDIDATES.some(([f]) => f === e.name) && !found.has(e.name)) found.set(e.name, p);
    }
  };
  try {
    walk("/usr/share/fonts", 0);
  } catch { /* unreadable font directory: fall back to resvg's own system scan */ }
  const first = FONT_CANDIDATES.find(([f]) => found.has(f));
  fontCache = { files: first ? [found.get(first[0])!] : [], family: first?.[1] };
  return fontCache;
}

/** A rasterised image: `width × height` RGBA pixels, row by row. */
export interface RgbaImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 4 bytes (R, G, B, A) per pixel. */
  pixels: Uint8Array;
}

/** resvg's options for {@linkcode renderPng} and its kin, after checking the arguments (`fn` names the caller). */
function resvgOptions(fn: string, svg: string, options: RenderPngOptions): ResvgRenderOptions {
  const { width, background = "white" } = options;
  if (width !== undefined && !(Number.isInteger(width) && width > 0 && width <= 16384)) {
    throw new RangeError(`${fn}(): option "width" must be an integer in [1, 16384], got ${width}`);
  }
  if (typeof svg !== "string" || !svg.includes("<svg")) {
    throw new TypeError(`${fn}(): expected an SVG string, got ${String(svg).slice(0, 40)}`);
  }
  const font = systemFont();
  return {
    background,
    fitTo: width === undefined ? { mode: "zoom", value: 2 } : { mode: "width", value: width },
    font: {
      loadSystemFonts: font.files.length === 0,
      fontFiles: font.files,
      ...(font.family ? { defaultFontFamily: font.family, sansSerifFamily: font.family } : {}),
    },
  };
}

function rasterise(fn: string, svg: string, options: RenderPngOptions) {
  return new Resvg(svg, resvgOptions(fn, svg, options)).render();
}

/**
 * {@linkcode renderPng} on a native worker thread: the main thread goes on (rendering the next chart's SVG) while
 * resvg rasterises.
 */
export async function renderPngAsync(svg: string, options: RenderPngOptions = {}): Promise<Uint8Array> {
  return (await renderAsync(svg, resvgOptions("renderPngAsync", svg, options))).asPng();
}

/**
 * Rasterises an SVG string to PNG bytes with resvg.
 *
 * @example
 * ```ts
 * import { renderPng } from "./static.ts";
 * const png = renderPng('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="5"/></svg>');
 * if (png[1] !== 0x50 || png[2] !== 0x4e || png[3] !== 0x47) throw new Error("not a PNG");
 * ```
 */
export function renderPng(svg: string, options: RenderPngOptions = {}): Uint8Array {
  return rasterise("renderPng", svg, options).asPng();
}

/**
 * Rasterises an SVG string to raw RGBA pixels, with the same fonts and
 * sizing as {@linkcode renderPng} (for checks on what was drawn).
 *
 * @example A black square on white
 * ```ts
 * import { renderRgba } from "./static.ts";
 * const img = renderRgba('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="2" height="2"/></svg>', { width: 4 });
 * if (img.pixels[0] !== 0 || img.pixels[4 * 15] !== 255) throw new Error("wrong pixels");
 * ```
 */
export function renderRgba(svg: string, options: RenderPngOptions = {}): RgbaImage {
  const img = rasterise("renderRgba", svg, options);
  return { width: img.width, height: img.height, pixels: new Uint8Array(img.pixels) };
}

/**
 * Renders `spec` and writes `<dir>/<name>.svg` and `<dir>/<name>.png`
 * (creating `dir`); returns both paths.
 *
 * @example
 * ```ts
 * import { writeChartFiles } from "./static.ts";
 * import { nfeSpec } from "./specs.ts";
 * const dir = await Deno.makeTempDir();
 * const { png } = await writeChartFiles(dir, "nfe", nfeSpec([{ method: "gq", width: 5, nfeForwardPerBatch: 40, nfeBackwardPerBatch: 44 }]));
 * if ((await Deno.stat(png)).size < 1000) throw new Error("PNG too small");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeChartFiles(
  dir: string,
  name: string,
  spec: ChartSpec,
  options: RenderPngOptions = {},
): Promise<{ svg: string; png: string }> {
  if (!/^[\w][\w.-]*$/.test(name)) {
    throw new RangeError(`writeChartFiles(): name must be a plain file name (letters, digits, _ . -), got "${name}"`);
  }
  const svg = await renderSvg(spec);
  return await writeSvgAndPng(dir, name, svg, renderPngAsync(svg, options));
}

/** Writes `<dir>/<name>.svg` and, once rasterised, `<name>.png`. */
async function writeSvgAndPng(dir: string, name: string, svg: string, png: Promise<Uint8Array>) {
  png.catch(() => {}); // handled now, thrown by the await below
  await Deno.mkdir(dir, { recursive: true });
  const paths = { svg: join(dir, `${name}.svg`), png: join(dir, `${name}.png`) };
  await Deno.writeTextFile(paths.svg, svg);
  await Deno.writeFile(paths.png, await png);
  return paths;
}

/** The file name (without extension) of the `index`-th chart of a report: `01-training-time-vs-width`. */
export function chartFileName(index: number, title: unknown): string {
  const text = typeof title === "string"
    ? title
    : typeof title === "object" && title !== null && "text" in title
    ? String((title as { text: unknown }).text)
    : "chart";
  const slug = text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  return `${String(index).padStart(2, "0")}-${slug || "chart"}`;
}

/**
 * Writes every chart of a report's sections, in order, as SVG and PNG into
 * `dir` (see {@linkcode chartFileName}); returns the paths written.
 *
 * @example
 * ```ts
 * import { writeReportCharts } from "./static.ts";
 * import { memorySpec } from "./specs.ts";
 * const dir = await Deno.makeTempDir();
 * const spec = memorySpec([{ method: "gq", tolerance: 1e-3, peakRssBytes: 3.5e7 }]);
 * const [first] = await writeReportCharts(dir, { sections: [{ title: "Memory", charts: [spec] }] });
 * if (!first!.svg.endsWith("01-peak-memory-of-one-gradient-vs-tolerance.svg")) throw new Error(first!.svg);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeReportCharts(
  dir: string,
  content: Pick<ReportContent, "sections">,
): Promise<{ svg: string; png: string }[]> {
  // Each chart's PNG rasterises on a worker thread while the next chart's SVG renders here. Every write is marked
  // handled at once (a failure is thrown by the Promise.all at the end, or after a later chart's own failure).
  const pending: Promise<{ svg: string; png: string }>[] = [];
  try {
    for (const section of content.sections) {
      for (const spec of section.charts ?? []) {
        const name = chartFileName(pending.length + 1, spec.title);
        const svg = await renderSvg(spec);
        const write = writeSvgAndPng(dir, name, svg, renderPngAsync(svg));
        write.catch(() => {});
        pending.push(write);
      }
    }
  } catch (e) {
    await Promise.allSettled(pending);
    throw e;
  }
  // Every write ends before a failure is thrown: the caller may remove the folder they write into.
  const settled = await Promise.allSettled(pending);
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<{ svg: string; png: string }>).value);
}
