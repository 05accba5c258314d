/**
 * Self-contained HTML reports.
 *
 * A report is one HTML file that opens offline in any browser:
 *
 * - a header with the title, an optional subtitle and a table of run facts
 *   (`meta`: commit, date, machine, pipeline file, …);
 * - a contents list, then one `<section>` per report section with its text
 *   (paragraphs split at blank lines), its charts and its tables;
 * - every chart is a `<figure class="chart" data-chart="i">` filled by
 *   vega-embed (SVG renderer) from the i-th spec of a
 *   `<script type="application/json" id="quadjoint-specs">` block, so the
 *   specs can also be read back out of a report;
 * - the vega, vega-lite and vega-embed browser bundles are inlined
 *   (~850 KB), read from `node_modules` when the report is rendered.
 *
 * A chart that fails to render shows its error in place of the chart, logs it
 * with `console.error` and sets `data-chart-state="error"`; a drawn one sets
 * `data-chart-state="drawn"`. All text is HTML-escaped.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { MetaValue } from "../results/records.ts";
import { writeFileAtomic } from "../util/files.ts";
import type { ChartSpec } from "./specs.ts";
import { type CellValue, formatCell, type ReportTable } from "./summary.ts";

/** One section of a report. */
export interface ReportSection {
  /** Section heading. */
  title: string;
  /** Plain text under the heading; blank lines separate paragraphs. */
  text?: string;
  /** Vega-Lite specs, drawn in order. */
  charts?: ChartSpec[];
  /** A table (or several) under the charts. */
  table?: ReportTable | ReportTable[];
}

/** What {@linkcode renderReport} renders. */
export interface ReportContent {
  /** Page title and top heading. */
  title: string;
  /** A line under the title. */
  subtitle?: string;
  /** Sections, in order. */
  sections: ReportSection[];
  /** Facts about the run (commit, date, machine, pipeline file, …), shown under the title in insertion order. */
  meta?: Record<string, MetaValue>;
}

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that is safe inside a `<script>` element: no `<`, `>`, `&` or line separators left raw. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Inlined JavaScript must not close its own `<script>` element early. */
function scriptSource(code: string): string {
  return code.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

const BUNDLES = [
  { pkg: "vega", file: "build/vega.min.js" },
  { pkg: "vega-lite", file: "build/vega-lite.min.js" },
  { pkg: "vega-embed", file: "build/vega-embed.min.js" },
] as const;

let bundleCache: string[] | undefined;

/** Finds `<pkg>/<file>` by resolving the package's entry point and walking up to its package.json. */
function bundlePath(pkg: string, file: string): string {
  let entry: string;
  try {
    entry = import.meta.resolve(pkg);
  } catch (e) {
    throw new Error(`Cannot resolve package ${pkg} for the report bundles: ${(e as Error).message}`);
  }
  if (!entry.startsWith("file:")) {
    throw new Error(
      `Package ${pkg} resolved to ${entry}, not a file: run with a node_modules directory ("nodeModulesDir": "auto")`,
    );
  }
  let dir = dirname(fileURLToPath(entry));
  for (;;) {
    try {
      const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string };
      if (meta.name === pkg) return join(dir, file);
    } catch { /* no package.json here: keep walking up */ }
    const up = dirname(dir);
    if (up === dir) throw new Error(`Cannot find the package directory of ${pkg} above ${entry}`);
    dir = up;
  }
}

/** The three browser bundles, read once per process. */
function bundles(): string[] {
  bundleCache ??= BUNDLES.map(({ pkg, file }) => {
    const path = bundlePath(pkg, file);
    try {
      return readFileSync(path, "utf8");
    } catch (e) {
      throw new Error(`Cannot read the ${pkg} browser bundle ${path}: ${(e as Error).message}`);
    }
  });
  return bundleCache;
}

function paragraphs(text: string): string {
  return text.split(/\n\s*\n/).map((p) => p.trim()).filter((p) => p !== "").map((p) => `<p>${escapeHtml(p)}</p>`)
    .join("\n");
}

function renderTable(table: ReportTable, where: string): string {
  if (!Array.isArray(table.columns) || !Array.isArray(table.rows)) {
    throw new TypeError(`${where}: a table needs "columns" and "rows" arrays`);
  }
  const head = table.columns.map((c) =>
    `<th scope="col"${c.description ? ` title="${escapeHtml(c.description)}"` : ""}>${escapeHtml(c.label)}</th>`
  ).join("");
  const body = table.rows.map((row) => {
    const cells = table.columns.map((c) => {
      const v: CellValue = row[c.key];
      const numeric = typeof v === "number";
      return `<td${numeric ? ` class="num"` : ""}>${escapeHtml(formatCell(v, c.format ?? "auto"))}</td>`;
    });
    return `<tr>${cells.join("")}</tr>`;
  }).join("\n");
  return `<div class="table-wrap"><table>` +
    (table.caption ? `<caption>${escapeHtml(table.caption)}</caption>` : "") +
    `<thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>` +
    (table.note ? `<p class="note">${escapeHtml(table.note)}</p>` : "") + `</div>`;
}

function metaValue(v: MetaValue): string {
  return v === null || v === undefined ? "—" : String(v);
}

function validate(content: ReportContent): void {
  if (typeof content !== "object" || content === null) {
    throw new TypeError(`renderReport() expects an object, got ${content}`);
  }
  const allowed = new Set(["title", "subtitle", "sections", "meta"]);
  for (const k of Object.keys(content)) {
    if (!allowed.has(k)) throw new TypeError(`renderReport(): unknown field "${k}"`);
  }
  if (typeof content.title !== "string") {
    throw new TypeError(`renderReport(): "title" must be a string, got ${JSON.stringify(content.title)}`);
  }
  if (!Array.isArray(content.sections)) {
    throw new TypeError(`renderReport(): "sections" must be an array, got ${JSON.stringify(content.sections)}`);
  }
  content.sections.forEach((s, i) => {
    if (typeof s?.title !== "string") {
      throw new TypeError(`renderReport(): sections[${i}].title must be a string, got ${JSON.stringify(s?.title)}`);
    }
    if (s.charts !== undefined && !Array.isArray(s.charts)) {
      throw new TypeError(`renderReport(): sections[${i}].charts must be an array, got ${typeof s.charts}`);
    }
    s.charts?.forEach((c, j) => {
      if (typeof c !== "object" || c === null) {
        throw new TypeError(`renderReport(): sections[${i}].charts[${j}] must be a Vega-Lite spec object, got ${c}`);
      }
    });
  });
}

const STYLE = `
:root { color-scheme: light; --fg: #1d1d1f; --muted: #5f6368; --rule: #dadce0; --accent: #e45756; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--fg); }
main, header.top { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
header.top { padding-top: 28px; padding-bottom: 8px; border-bottom: 1px solid var(--rule); }
h1 { margin: 0 0 4px; font-size: 26px; }
.subtitle { margin: 0 0 12px; color: var(--muted); font-size: 16px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0 12px; font-size: 13px; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
nav.toc { margin: 16px 0; font-size: 14px; } nav.toc ol { margin: 4px 0; padding-left: 22px; }
section { padding: 8px 0 20px; border-bottom: 1px solid var(--rule); }
h2 { font-size: 20px; margin: 16px 0 8px; }
section > p { max-width: 80ch; }
.charts { display: flex; flex-wrap: wrap; gap: 20px; align-items: flex-start; }
figure.chart { margin: 0; min-height: 60px; min-width: 120px; }
figure.chart[data-chart-state="error"] { color: #b00020; border: 1px solid #b00020; padding: 8px; font-size: 13px; }
.table-wrap { overflow-x: auto; margin: 16px 0; }
table { border-collapse: collapse; font-size: 14px; }
caption { text-align: left; font-weight: 600; padding-bottom: 6px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--rule); text-align: left; }
th { border-bottom: 2px solid var(--fg); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:last-child td { border-bottom: 2px solid var(--fg); }
p.note { color: var(--muted); font-size: 13px; margin: 6px 0 0; }
footer { max-width: 1200px; margin: 0 auto; padding: 16px 24px 32px; color: var(--muted); font-size: 12px; }
`;

/** Draws every chart; a failure is shown in place, logged and marked on the figure. */
const BOOT = `
(function () {
  var specs = JSON.parse(document.getElementById("quadjoint-specs").textContent);
  document.querySelectorAll("figure.chart[data-chart]").forEach(function (el) {
    var i = Number(el.getAttribute("data-chart"));
    var fail = function (e) {
      el.setAttribute("data-chart-state", "error");
      el.textContent = "Chart " + (i + 1) + " failed: " + (e && e.message ? e.message : e);
      console.error("quadjoint report: chart " + (i + 1) + " failed:", e);
    };
    try {
      vegaEmbed(el, specs[i], { actions: false, renderer: "svg" }).then(function () {
        el.setAttribute("data-chart-state", "drawn");
      }, fail);
    } catch (e) { fail(e); }
  });
})();
`;

/**
 * Renders a report to one self-contained HTML string (vega, vega-lite and
 * vega-embed inlined, so it opens offline). See the module doc for the layout.
 *
 * @example A one-chart report
 * ```ts
 * import { renderReport } from "./html.ts";
 * import { trainingTimeSpec } from "./specs.ts";
 * const html = renderReport({
 *   title: "Nested spheres <width sweep>",
 *   sections: [{ title: "Speed", charts: [trainingTimeSpec([{ method: "gq", width: 5, trainSeconds: 1 }])] }],
 *   meta: { commit: "abc123" },
 * });
 * if (!html.includes("Nested spheres &#60;width sweep&#62;")) throw new Error("title not escaped");
 * if (!html.includes('data-chart="0"')) throw new Error("chart missing");
 * ```
 */
export function renderReport(content: ReportContent): string {
  validate(content);
  const { title, subtitle, sections, meta = {} } = content;
  const specs: ChartSpec[] = [];
  const body = sections.map((s, i) => {
    const id = `section-${i + 1}`;
    const charts = (s.charts ?? []).map((spec) => {
      specs.push(spec);
      const n = specs.length - 1;
      return `<figure class="chart" data-chart="${n}" id="chart-${n}"></figure>`;
    });
    const tables = s.table === undefined ? [] : Array.isArray(s.table) ? s.table : [s.table];
    return `<section id="${id}">\n<h2>${escapeHtml(s.title)}</h2>\n` +
      (s.text ? `${paragraphs(s.text)}\n` : "") +
      (charts.length ? `<div class="charts">\n${charts.join("\n")}\n</div>\n` : "") +
      tables.map((t, j) => renderTable(t, `sections[${i}].table${tables.length > 1 ? `[${j}]` : ""}`)).join("\n") +
      `</section>`;
  }).join("\n");
  const metaRows = Object.entries(meta).map(([k, v]) =>
    `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(metaValue(v))}</dd>`
  );
  const toc = sections.length > 1
    ? `<nav class="toc"><strong>Contents</strong><ol>${
      sections.map((s, i) => `<li><a href="#section-${i + 1}">${escapeHtml(s.title)}</a></li>`).join("")
    }</ol></nav>`
    : "";
  const scripts = bundles().map((code, i) => `<script>/* ${BUNDLES[i]!.pkg} */\n${scriptSource(code)}\n</script>`);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="quadjoint">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
${scripts.join("\n")}
</head>
<body>
<header class="top">
<h1>${escapeHtml(title)}</h1>
${subtitle ? `<p class="subtitle">${escapeHtml(subtitle)}</p>\n` : ""}${
    metaRows.length ? `<dl class="meta">${metaRows.join("")}</dl>\n` : ""
  }${toc}
</header>
<main>
${body}
</main>
<footer>Generated by quadjoint: ${specs.length} Vega-Lite chart${
    specs.length === 1 ? "" : "s"
  } (specs in the <code>#quadjoint-specs</code> block of this file).</footer>
<script type="application/json" id="quadjoint-specs">${scriptJson(specs)}</script>
<script>${BOOT}</script>
</body>
</html>
`;
}

/**
 * Writes `html` to `path` atomically: to a temporary file in the same
 * directory, then renamed over `path`, so a reader never sees half a
 * report. Creates the parent directory.
 *
 * @example
 * ```ts
 * import { writeReport } from "./html.ts";
 * const dir = await Deno.makeTempDir();
 * await writeReport(`${dir}/out/report.html`, "<!DOCTYPE html><title>x</title>");
 * if (!(await Deno.readTextFile(`${dir}/out/report.html`)).includes("<title>x")) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeReport(path: string, html: string): Promise<void> {
  if (typeof path !== "string" || path === "") throw new TypeError(`writeReport(): path must be a non-empty string`);
  await writeFileAtomic(path, html, { what: "report" });
}
