/**
 * `deno task report <results.json | results dir> [--out report.html] [--charts <dir>]`:
 * the report CLI (src/report/cli.ts) with the pipeline's shards merged first.
 *
 * A folder that holds shards' results (`shards/<i>-of-<N>/results.json`,
 * written by `deno task pipeline <file> --shard i/N`) is merged
 * (`merge.ts`): the finished cells of every shard go into
 * `<dir>/results.json`, its CSVs, `report.html` and `charts/`; missing and
 * failed cells are listed on stderr and make the exit code 1 (the files are
 * written all the same); shards of different configurations are refused
 * with exit code 2, writing nothing. To re-render a merged folder without
 * merging again, give its results.json instead of the folder. Anything else
 * goes to the report CLI as it is. The merge lives here, not in src/report/,
 * because it reads the pipeline's locks and configurations.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { main as reportMain } from "../report/cli.ts";
import { mergeShards } from "./merge.ts";
import { OutputError } from "./_output_lock.ts";

const USAGE = "Usage: deno task report <results.json | results dir> [--out report.html] [--charts <dir>]\n" +
  "A results dir with shards/ (deno task pipeline --shard i/N) is merged into its results.json, CSVs and report.";

/**
 * Runs the CLI with `args`; returns the exit code: 0 done, 1 a failure or a
 * merge with cells missing or failed, 2 bad arguments or input.
 */
export async function main(args: string[]): Promise<number> {
  // The report CLI's own options; mistakes are left for it to report.
  const { values, positionals } = parseArgs({
    args,
    options: { out: { type: "string" }, charts: { type: "string" }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
    strict: false,
  });
  const input = positionals.length === 1 && values.help !== true ? positionals[0]! : undefined;
  const isDir = input !== undefined && await Deno.stat(input).then((s) => s.isDirectory, () => false);
  if (!isDir || !await Deno.stat(join(input, "shards")).then((s) => s.isDirectory, () => false)) {
    return await reportMain(args);
  }
  if (values.out !== undefined || values.charts !== undefined) {
    console.error(`Merging the shards of ${input} writes into it: --out and --charts are not taken\n${USAGE}`);
    return 2;
  }
  try {
    const merged = await mergeShards(input);
    for (const note of merged.notes) console.error(note);
    console.log(join(input, "results.json"));
    if (merged.report !== undefined) console.log(merged.report);
    return merged.exitCode;
  } catch (e) {
    console.error(
      e instanceof OutputError ? e.message : `Cannot merge the shards of ${input}: ${(e as Error).message}`,
    );
    return e instanceof OutputError ? 2 : 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
