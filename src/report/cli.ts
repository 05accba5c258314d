/**
 * `deno task report <results.json> [--out report.html] [--charts <dir>]`:
 * renders the self-contained HTML report of a results file, and with
 * `--charts` also every chart as SVG and PNG (`01-training-time-vs-width.svg`, …).
 *
 * Given a pipeline's results folder instead (`deno task report reports/quickstart`),
 * it reads `<dir>/results.json` and writes `<dir>/report.html` and `<dir>/charts/`
 * unless `--out` or `--charts` say otherwise.
 *
 * The results file is JSON: `{ "format": "quadjoint.results/3", "title": …,
 * "subtitle"?: …, "meta"?: {…}, "charts"?: [chart names], "summary"?: bool,
 * "metricLabel"?: …, "metricLogY"?: bool, "results": { "runs"?: […],
 * "epochs"?: […], "gradientErrors"?: […], "memory"?: […] } }`; the records
 * and the reader are in `src/results/`. A file of an unknown format is
 * refused. Exit codes: 0 done, 1 failure, 2 bad arguments or input.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { readResults } from "../results/file.ts";
import type { ResultsFile } from "../results/records.ts";
import { experimentReport, reportSubtitle } from "./experiment.ts";
import { renderReport, writeReport } from "./html.ts";
import { writeReportCharts } from "./static.ts";

const USAGE = "Usage: deno task report <results.json | results dir> [--out report.html] [--charts <dir>]";

/**
 * Runs the CLI with `args`; returns the exit code (messages go to stderr,
 * written paths to stdout).
 */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { out: { type: "string", short: "o" }, charts: { type: "string" }, help: { type: "boolean" } },
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    console.error(`Expected one results file, got ${parsed.positionals.length}\n${USAGE}`);
    return 2;
  }
  let input = parsed.positionals[0]!;
  const isDir = await Deno.stat(input).then((s) => s.isDirectory, () => false);
  if (isDir) {
    const dir = input;
    input = join(dir, "results.json");
    parsed.values.out ??= join(dir, "report.html");
    parsed.values.charts ??= join(dir, "charts");
  }
  let file: ResultsFile;
  try {
    file = await readResults(input);
  } catch (e) {
    console.error(`Cannot read results file ${input}: ${(e as Error).message}`);
    return 2;
  }
  const { results, ...options } = file;
  const out = parsed.values.out ?? join(dirname(input), `${basename(input).replace(/\.json$/i, "")}.html`);
  try {
    const subtitle = reportSubtitle(file);
    const content = experimentReport(results, {
      ...options,
      title: options.title ?? basename(input),
      ...(subtitle !== undefined ? { subtitle } : {}),
    });
    await writeReport(out, renderReport(content));
    console.log(out);
    if (parsed.values.charts) {
      for (const { svg, png } of await writeReportCharts(parsed.values.charts, content)) {
        console.log(svg);
        console.log(png);
      }
    }
  } catch (e) {
    console.error(`Cannot render report of ${input}: ${(e as Error).message}`);
    return e instanceof TypeError || e instanceof RangeError ? 2 : 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
