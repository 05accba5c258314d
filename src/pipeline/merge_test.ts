import { main as report } from "./report_cli.ts";
import type { PipelineResults } from "../results/records.ts";
import { assert, assertEquals, comparableResults } from "../util/testing.ts";
import { main } from "./cli.ts";
import { hasShards, mergeShards } from "./merge.ts";
import { OutputError } from "./_output_lock.ts";
import { readPipeline } from "./parse.ts";
import { assignShards, parseShard, shardCells } from "./shard.ts";
import { expandSweep } from "./sweep.ts";

const sweep = new URL("../../tests/fixtures/pipelines/cluster/sweep.yaml", import.meta.url).pathname;
const quiet = { progress: { tty: false, write: () => {} }, charts: false };

/** Runs the pipeline CLI on the sweep fixture under --quick into `out` with `flags`; returns the exit code. */
async function run(out: string, ...flags: string[]): Promise<{ code: number; errors: string }> {
  const errors: string[] = [];
  const code = await main([sweep, "--quick", "--out", out, "--threads", "1", ...flags], {
    ...quiet,
    error: (m) => errors.push(m),
  });
  return { code, errors: errors.join("\n") };
}

/** results.json without what differs between runs (see comparableResults) and the shards a merge names. */
const comparable = (results: unknown) => comparableResults(results, ["shards"]);

const read = async (path: string) => JSON.parse(await Deno.readTextFile(path));

Deno.test("assignShards() splits a sweep into disjoint, balanced shards that do not depend on the cells' order", async () => {
  const config = await readPipeline(sweep);
  const cells = expandSweep(config); // 3 widths × 2 methods
  for (const n of [1, 2, 3, 4, 6, 8]) {
    const shards = assignShards(cells, n);
    assertEquals(shards.length, n);
    const ids = shards.flat().map((c) => c.id).sort();
    assertEquals(ids, cells.map((c) => c.id).sort(), `${n} shards: every cell once`);
    const reversed = assignShards([...cells].reverse(), n).map((s) => s.map((c) => c.id).sort());
    assertEquals(reversed, shards.map((s) => s.map((c) => c.id).sort()), `${n} shards: same cell, same shard`);
    for (const [k, s] of shards.entries()) assertEquals(shardCells(cells, { index: k + 1, count: n }), s);
  }
  // Weights 4, 3, 3, 2, 2, 1 into two shards: 4+2+1+... greedy gives 8 and 7.
  const weights: Record<string, number> = { a: 4, b: 3, c: 3, d: 2, e: 2, f: 1 };
  const fake = Object.keys(weights).map((id) => ({ id, values: {}, config: {} as never }));
  const split = assignShards(fake, 2, (c) => weights[c.id]!).map((s) => s.map((c) => c.id).join(""));
  assertEquals(split, ["ade", "bcf"]);
});

Deno.test("parseShard() takes 1-based i/N and names what is wrong otherwise", () => {
  assertEquals(parseShard("3/4"), { index: 3, count: 4 });
  for (const [text, message] of [["0/4", "shard 0 is out of 1 … 4"], ["5/4", "shard 5 is out of"], ["1", "i/N"]]) {
    let got = "";
    try {
      parseShard(text!);
    } catch (e) {
      got = (e as Error).message;
    }
    assert(got.includes(message!), `${text}: ${got}`);
  }
});

Deno.test("two shards of a sweep, merged by deno task report, equal the unsharded run's results", async () => {
  const out = await Deno.makeTempDir();
  try {
    assertEquals((await run(`${out}/whole`)).code, 0);
    for (const shard of ["1/2", "2/2"]) assertEquals((await run(`${out}/sharded`, "--shard", shard)).code, 0);
    const dir = `${out}/sharded/cluster-sweep-quick`;
    assert(await hasShards(dir));
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(names, ["cells", "shards"], "shards write no results.json or report of the folder");
    const one = (await read(`${dir}/shards/1-of-2/results.json`)) as PipelineResults & { sweep: unknown[] };
    assertEquals([one.cells.length, one.sweep.length], [2, 4]);
    assertEquals(await report([dir]), 0);
    const whole = await read(`${out}/whole/cluster-sweep-quick/results.json`);
    const merged = await read(`${dir}/results.json`);
    assertEquals(merged.status, "complete");
    assertEquals(merged.meta.shards, "1-of-2, 2-of-2");
    assertEquals(comparable(merged), comparable(whole));
    for (const f of ["results.csv", "epochs.csv", "report.html", "charts"]) await Deno.stat(`${dir}/${f}`);
    // A shard rerun without --resume is refused; with --resume it skips its finished cells.
    const again = await run(`${out}/sharded`, "--shard", "1/2");
    assertEquals(again.code, 2);
    assert(again.errors.includes(`Shard 1-of-2 of output folder ${dir} already holds results`), again.errors);
    assertEquals((await run(`${out}/sharded`, "--shard", "1/2", "--resume")).code, 0);
    const resumed = await read(`${dir}/shards/1-of-2/results.json`);
    assertEquals(resumed.cells.map((c: { status: string }) => c.status), ["skipped", "skipped"]);
    const leftovers = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith(".lock"));
    assertEquals(leftovers, [], "no lock is left");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("mergeShards() lists missing cells and exits 1, and refuses shards of different configurations", async () => {
  const out = await Deno.makeTempDir();
  try {
    assertEquals((await run(out, "--shard", "1/2")).code, 0);
    const dir = `${out}/cluster-sweep-quick`;
    const partial = await mergeShards(dir, { report: false });
    assertEquals(partial.exitCode, 1);
    assertEquals(partial.missing.length, 2);
    assertEquals(partial.results.status, "interrupted");
    assert(partial.notes[1]!.startsWith("Missing 2 cell(s), not finished: "), partial.notes.join("\n"));
    assertEquals(partial.results.cells.filter((c) => c.status === "pending").map((c) => c.id), partial.missing);
    // Shard 2 of an edited file (more epochs) ran another configuration of the sweep.
    const edited = `${out}/edited.yaml`;
    await Deno.writeTextFile(edited, (await Deno.readTextFile(sweep)).replace("epochs: 3", "epochs: 2"));
    const code = await main([edited, "--quick", "--out", out, "--threads", "1", "--shard", "2/2"], quiet);
    assertEquals(code, 0);
    let refusal = "";
    try {
      await mergeShards(dir, { report: false });
    } catch (e) {
      if (!(e instanceof OutputError)) throw e;
      refusal = e.message;
    }
    assert(refusal.startsWith(`Shards 1-of-2 and 2-of-2 in ${dir} ran different configurations`), refusal);
    assertEquals(await report([dir]), 2);
    // Without the stale shard's file, the cells computed with another configuration are refused.
    await Deno.remove(`${dir}/shards/2-of-2`, { recursive: true });
    const first = (await read(`${dir}/shards/1-of-2/results.json`)).cells[0].id as string;
    const cell = await read(`${dir}/cells/${first}/result.json`);
    await Deno.writeTextFile(`${dir}/cells/${first}/result.json`, JSON.stringify({ ...cell, configHash: "0" }));
    refusal = "";
    try {
      await mergeShards(dir, { report: false });
    } catch (e) {
      if (!(e instanceof OutputError)) throw e;
      refusal = e.message;
    }
    // Shard 2's two cells (of the edited file) and the edited one: three.
    assert(refusal.includes("3 cell(s) hold results of another configuration than the shards' sweep"), refusal);
    assert(refusal.includes(`${first} (hash 0, the sweep's `), refusal);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("main() --shard refuses a shard another run holds, and a whole-folder run while a shard runs", async () => {
  const out = await Deno.makeTempDir();
  const holder = new Deno.Command("sleep", { args: ["60"], stdout: "null", stderr: "null" }).spawn();
  try {
    const dir = `${out}/cluster-sweep-quick`;
    await Deno.mkdir(dir, { recursive: true });
    const lock = JSON.stringify({ pid: holder.pid, host: Deno.hostname(), started: new Date().toISOString() });
    await Deno.writeTextFile(`${dir}/.lock.shard-1-of-2`, lock);
    const same = await run(out, "--shard", "1/2", "--resume");
    assertEquals(same.code, 2);
    assert(same.errors.startsWith(`Shard 1-of-2 of output folder ${dir} is in use by another run (pid ${holder.pid}`));
    const whole = await run(out, "--resume");
    assertEquals(whole.code, 2);
    assert(whole.errors.startsWith(`Output folder ${dir} is in use by shard 1-of-2 (pid ${holder.pid}`), whole.errors);
    // The other shard runs meanwhile, except on a cell another run holds.
    const cells = shardCells(expandSweep(await readPipeline(sweep, { quick: true })), parseShard("2/2"));
    await Deno.mkdir(`${dir}/cells/${cells[0]!.id}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/cells/${cells[0]!.id}/.lock`, lock);
    const busy = await run(out, "--shard", "2/2");
    assertEquals(busy.code, 2);
    assert(
      busy.errors.startsWith(`Cell ${cells[0]!.id} of output folder ${dir} is in use by another run`),
      busy.errors,
    );
    await Deno.remove(`${dir}/cells/${cells[0]!.id}/.lock`);
    assertEquals((await run(out, "--shard", "2/2")).code, 0);
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
    await Deno.remove(out, { recursive: true });
  }
});
