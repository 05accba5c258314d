/**
 * Test helper: open an HTML file in headless Chromium and check that its
 * charts drew.
 *
 * Uses Debian's `chromium` (install with `apt-get install -y chromium`)
 * driven by playwright-core over a pipe, so no network permission is needed.
 * The executable is `/usr/bin/chromium` unless `QUADJOINT_CHROMIUM` or the
 * `executablePath` option says otherwise.
 *
 * A chart counts as drawn when its container holds an `<svg>` with at least
 * one item in a Vega data mark (`.role-mark`, so axes, legends and titles do
 * not count), or a `<canvas>` with some non-background pixels. The wait ends
 * early for a container marked `data-chart-state="error"` (as quadjoint
 * reports mark a chart that failed); it counts as not drawn. For each chart
 * it also reports its data marks by type (`area`, `line`, `symbol`, …): how
 * many items each draws and the most pixels one item fills, so a test can
 * tell a band that spans seeds from one of no height.
 *
 * @module
 */
import fs from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

type Playwright = typeof import("playwright-core");
let playwright: Promise<Playwright> | undefined;

/**
 * Imports playwright-core. At load it probes `/proc/sys/fs/binfmt_misc/WSLInterop`
 * with `fs.existsSync`, which Deno refuses (NotCapable) without `--allow-all`;
 * during the import only, such a refusal reads as "does not exist", so the
 * project's test permissions suffice.
 */
function loadPlaywright(): Promise<Playwright> {
  playwright ??= (async () => {
    const existsSync = fs.existsSync;
    fs.existsSync = ((path: fs.PathLike) => {
      try {
        return existsSync(path);
      } catch (e) {
        if ((e as Error).name === "NotCapable") return false;
        throw e;
      }
    }) as typeof fs.existsSync;
    try {
      return await import("playwright-core");
    } finally {
      fs.existsSync = existsSync;
    }
  })();
  return playwright;
}

/** Flags for a quiet, offline, sandbox-free headless Chromium. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];

/** Options of {@linkcode checkPage}. */
export interface CheckPageOptions {
  /** CSS selector of the chart containers. @default "[data-chart]" */
  chartSelector?: string;
  /** How long to wait for every chart to draw, in ms. @default 15000 */
  timeoutMs?: number;
  /** Where to write a full-page PNG screenshot, after the wait. */
  screenshotPath?: string;
  /** Viewport size. @default { width: 1280, height: 900 } */
  viewport?: { width: number; height: number };
  /** Chromium executable. @default QUADJOINT_CHROMIUM or "/usr/bin/chromium" */
  executablePath?: string;
}

/** What {@linkcode checkPage} saw. */
export interface CheckPageResult {
  /** Console errors and uncaught page errors, in order. */
  errors: string[];
  /** Console warnings (Vega reports data problems as warnings). */
  warnings: string[];
  /** Chart containers that hold a rendered chart with marks. */
  chartsDrawn: number;
  /** Chart containers on the page. */
  chartsExpected: number;
  /** Indices (in document order) of the containers that did not draw. */
  undrawn: number[];
  /** Per container, in document order: its data marks by Vega mark type. */
  marks: Record<string, MarkSummary>[];
  /** The screenshot written, when one was asked for. */
  screenshotPath?: string;
}

/** What one type of data mark draws in a chart. */
export interface MarkSummary {
  /** Drawn items (a line or an area is one item per series). */
  items: number;
  /** Pixels the largest item fills (its SVG path filled on a canvas): about 0 for a band of no height. */
  maxFill: number;
}

/** The few DOM shapes {@linkcode chartStates} touches (Deno's type check has no DOM lib). */
interface PageElement {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
  getAttribute(name: string): string | null;
  getBBox?(): { x: number; y: number; width: number; height: number };
  width?: number;
  height?: number;
  getContext?(kind: "2d"): {
    getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
  } | null;
}

/** Per container: drawn (has marks), failed (marked `data-chart-state="error"`) or pending; runs in the page. */
function chartStates(selector: string): ("drawn" | "failed" | "pending")[] {
  const doc = (globalThis as unknown as { document: PageElement }).document;
  const blank = (c: PageElement): boolean => {
    const w = c.width ?? 0, h = c.height ?? 0;
    if (w === 0 || h === 0) return true;
    const ctx = c.getContext?.("2d");
    if (!ctx) return false; // a WebGL canvas: trust that it drew
    const d = ctx.getImageData(0, 0, w, h).data;
    for (let i = 0; i < d.length; i += 4) {
      // Any pixel that is neither transparent nor white.
      if (d[i + 3]! > 0 && (d[i]! < 250 || d[i + 1]! < 250 || d[i + 2]! < 250)) return false;
    }
    return true;
  };
  return Array.from(doc.querySelectorAll(selector)).map((el) => {
    const svg = el.querySelector("svg");
    const canvas = el.querySelector("canvas");
    if (svg ? svg.querySelectorAll(".role-mark > *").length > 0 : canvas ? !blank(canvas) : false) return "drawn";
    return el.getAttribute("data-chart-state") === "error" ? "failed" : "pending";
  });
}

/** Per container: its SVG data marks by type (from the `mark-<type> role-mark` groups Vega draws); runs in the page. */
function chartMarks(selector: string): Record<string, MarkSummary>[] {
  type Canvas = {
    width: number;
    height: number;
    getContext(kind: "2d"): {
      translate(x: number, y: number): void;
      fill(path: unknown): void;
      getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
    };
  };
  const page = globalThis as unknown as {
    document: PageElement & { createElement(tag: "canvas"): Canvas };
    Path2D: new (d: string) => unknown;
  };
  const doc = page.document;
  /** Pixels an SVG path fills, drawn on a canvas the size of its bounding box. */
  const filled = (item: PageElement): number => {
    const d = item.getAttribute("d"), box = item.getBBox?.();
    if (!d || !box || box.width < 1 || box.height < 1) return 0;
    const canvas = doc.createElement("canvas");
    canvas.width = Math.ceil(box.width) + 2;
    canvas.height = Math.ceil(box.height) + 2;
    const ctx = canvas.getContext("2d");
    ctx.translate(1 - box.x, 1 - box.y);
    ctx.fill(new page.Path2D(d));
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i]! > 127) n++;
    return n;
  };
  return Array.from(doc.querySelectorAll(selector)).map((el) => {
    const out: Record<string, MarkSummary> = {};
    for (const g of Array.from(el.querySelectorAll("g.role-mark"))) {
      const type = (g.getAttribute("class") ?? "").split(/\s+/).find((c) => c.startsWith("mark-"))?.slice(5);
      if (!type) continue;
      const items = Array.from(g.querySelectorAll(":scope > *"));
      const summary = out[type] ?? { items: 0, maxFill: 0 };
      summary.items += items.length;
      for (const item of items) summary.maxFill = Math.max(summary.maxFill, filled(item));
      out[type] = summary;
    }
    return out;
  });
}

/**
 * Opens `file` (a path or a file:// URL) in headless Chromium, collects
 * console errors and page errors, waits until every chart container has
 * drawn (or `timeoutMs` passes), and reports what it saw. It does not throw
 * when charts fail: the test decides.
 *
 * @example
 * ```ts ignore
 * const r = await checkPage("reports/run/report.html", { screenshotPath: "/tmp/report.png" });
 * assertEquals(r.errors, []);
 * assertEquals(r.chartsDrawn, r.chartsExpected);
 * ```
 */
export async function checkPage(file: string | URL, options: CheckPageOptions = {}): Promise<CheckPageResult> {
  const {
    chartSelector = "[data-chart]",
    timeoutMs = 15_000,
    screenshotPath,
    viewport = { width: 1280, height: 900 },
    executablePath = Deno.env.get("QUADJOINT_CHROMIUM") ?? "/usr/bin/chromium",
  } = options;
  if (!fs.existsSync(executablePath)) {
    throw new Error(
      `Chromium not found at ${executablePath}: install it with "apt-get install -y chromium" ` +
        `or set QUADJOINT_CHROMIUM`,
    );
  }
  const url = file instanceof URL ? file.href : /^file:/.test(file) ? file : pathToFileURL(resolve(file)).href;
  const { chromium } = await loadPlaywright();
  const browser = await chromium.launch({ executablePath, args: [...CHROMIUM_ARGS] });
  try {
    const page = await browser.newPage({ viewport });
    const errors: string[] = [], warnings: string[] = [];
    page.on("console", (msg) => {
      if (msg.type() === "error") errors.push(msg.text());
      else if (msg.type() === "warning") warnings.push(msg.text());
    });
    page.on("pageerror", (e) => errors.push(`${e.name}: ${e.message}`));
    await page.goto(url, { waitUntil: "load" });
    const deadline = Date.now() + timeoutMs;
    let states = await page.evaluate(chartStates, chartSelector);
    while (states.includes("pending") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      states = await page.evaluate(chartStates, chartSelector);
    }
    const result: CheckPageResult = {
      errors,
      warnings,
      chartsDrawn: states.filter((s) => s === "drawn").length,
      chartsExpected: states.length,
      undrawn: states.flatMap((s, i) => (s === "drawn" ? [] : [i])),
      marks: await page.evaluate(chartMarks, chartSelector),
    };
    if (screenshotPath) {
      await page.screenshot({ path: screenshotPath, fullPage: true });
      result.screenshotPath = screenshotPath;
    }
    return result;
  } finally {
    await browser.close();
  }
}
