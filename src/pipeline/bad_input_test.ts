/**
 * Bad input through the CLI's `main`, as a user meets it (issue #13): each
 * file of tests/fixtures/pipelines/invalid/bad_input/ (alias bombs, duplicate
 * keys, byte-order marks, UTF-16, NaN, names too long, tolerances too tight,
 * sizes that cannot fit in memory), the huge files generated here, and bad
 * `--out` and `--threads` options all exit 2 within seconds with messages
 * naming the file and the field (or the option), no stack trace, and nothing
 * under the output folder created or changed.
 */
import { assert, assertEquals, snapshotFiles } from "../util/testing.ts";
import { main } from "./cli.ts";
import { machineMemory, memoryEstimate } from "./memory_check.ts";
import { readPipeline } from "./parse.ts";
import { expandSweep } from "./sweep.ts";

const corpus = new URL("../../tests/fixtures/pipelines/invalid/bad_input/", import.meta.url);

/** An output root holding an earlier run's results under the given pipeline names. */
async function outputWithResults(names: readonly string[]): Promise<string> {
  const out = await Deno.makeTempDir();
  for (const name of names) {
    await Deno.mkdir(`${out}/${name}/cells/base`, { recursive: true });
    await Deno.writeTextFile(`${out}/${name}/results.json`, `{"old": "${name}"}`);
    await Deno.writeTextFile(`${out}/${name}/cells/base/checkpoint.json`, "{}");
  }
  return out;
}

/** What `main` gave for `args`: exit code, messages, seconds. */
async function run(args: string[]): Promise<{ code: number; text: string; seconds: number }> {
  const messages: string[] = [];
  const t0 = performance.now();
  const code = await main(args, { error: (m) => messages.push(m), progress: { tty: false, write: () => {} } });
  return { code, text: messages.join("\n"), seconds: (performance.now() - t0) / 1000 };
}

/** The checks every refusal passes: exit 2, no stack frame, in time. */
function assertRefused(r: { code: number; text: string; seconds: number }, what: string, seconds = 10): void {
  assertEquals(r.code, 2, `${what}: exit code\n${r.text}`);
  assert(!/^\s+at /m.test(r.text), `${what}: a stack trace\n${r.text}`);
  assert(r.seconds < seconds, `${what}: ${r.seconds.toFixed(1)} s`);
}

Deno.test("main() refuses every file of the bad-input corpus with exit 2, naming the file and field, writing nothing", async () => {
  const expected = JSON.parse(await Deno.readTextFile(new URL("expected.json", corpus))) as Record<
    string,
    { paths: string[]; says: string[] }
  >;
  const files = [...Deno.readDirSync(corpus)].map((e) => e.name).filter((n) => n !== "expected.json").sort();
  assertEquals(files, Object.keys(expected).sort(), "every fixture has expectations, and vice versa");
  const limit = machineMemory();
  const out = await outputWithResults(["huge-width", "wide-model", "tiny-rtol", "x"]);
  try {
    const before = await snapshotFiles(out);
    for (const [name, { paths, says }] of Object.entries(expected)) {
      const path = new URL(name, corpus).pathname;
      if (name.startsWith("huge") || name.startsWith("wide")) {
        // Sized so that no machine holds them; were one to, the run would start for real.
        const cells = expandSweep(await readPipeline(path));
        const need = Math.max(...cells.map((c) => memoryEstimate(c.config)?.total ?? 0));
        assert(limit !== undefined && need > limit, `${name} fits in this machine`);
      }
      const r = await run([path, "--out", out, "--threads", "1"]);
      assertRefused(r, name);
      for (const p of paths) assert(r.text.includes(`${path}: ${p}`), `${name}: no issue at ${p} in:\n${r.text}`);
      for (const s of says) assert(r.text.includes(s), `${name}: "${s}" not said in:\n${r.text}`);
      for (const line of r.text.split("\n")) assert(line.startsWith(`${path}: `), `${name}: line without the file`);
    }
    assertEquals(await snapshotFiles(out), before, "the output folder is untouched");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("main() refuses huge generated files within seconds: 40 000 keys, a duplicate among them, over 1 MiB", async () => {
  const dir = await Deno.makeTempDir();
  const out = await outputWithResults(["x"]);
  try {
    const before = await snapshotFiles(out);
    // The yaml package's uniqueKeys check took 120 s on 40 000 distinct keys.
    const keys = Array.from({ length: 40_000 }, (_, i) => `k${i}: ${i}`);
    await Deno.writeTextFile(`${dir}/keys.yaml`, ["name: x", ...keys].join("\n"));
    let r = await run([`${dir}/keys.yaml`, "--out", out]);
    assertRefused(r, "40 000 keys");
    assert(r.text.includes(`${dir}/keys.yaml: k0: Unknown field "k0"`), r.text.slice(0, 500));
    assert(r.text.split("\n").length <= 21, "at most 20 issues and a count are printed");
    assert(r.text.endsWith("more issues (fix the ones above first)"), r.text.slice(-200));

    await Deno.writeTextFile(`${dir}/dup.yaml`, ["name: x", ...keys, "k0: again"].join("\n"));
    r = await run([`${dir}/dup.yaml`, "--out", out]);
    assertRefused(r, "a duplicate among 40 000 keys");
    assertEquals(r.text, `${dir}/dup.yaml: k0: Invalid YAML: duplicate key "k0" at line 40002 (first at line 2)`);

    // 50 MB of unknown keys printed 2.3 million lines; anything over 1 MiB is refused unread.
    const big = JSON.stringify(Object.fromEntries(Array.from({ length: 120_000 }, (_, i) => [`key${i}`, i])));
    await Deno.writeTextFile(`${dir}/big.json`, big);
    r = await run([`${dir}/big.json`, "--out", out]);
    assertRefused(r, "over 1 MiB", 2);
    assert(r.text.startsWith(`${dir}/big.json: (root): The file is 2.0 MiB, more than the 1 MiB`), r.text);

    if (Deno.build.os === "linux") {
      r = await run(["/dev/zero", "--out", out]);
      assertRefused(r, "/dev/zero", 2);
      assert(r.text.startsWith("/dev/zero: (root): The file is too large"), r.text);
    }
    assertEquals(await snapshotFiles(out), before, "the output folder is untouched");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("main() refuses --out naming a file or an unwritable folder and --threads beyond 1024, before any work", async () => {
  const dir = await Deno.makeTempDir();
  const file = new URL("../../tests/fixtures/pipelines/valid/analytic.json", import.meta.url).pathname;
  try {
    await Deno.writeTextFile(`${dir}/a-file`, "not a folder");
    let r = await run([file, "--out", `${dir}/a-file`]);
    assertRefused(r, "--out a file");
    assertEquals(r.text, `Option --out: ${dir}/a-file is a file, not a folder`);
    r = await run([file, "--out", `${dir}/a-file/below`]);
    assertRefused(r, "--out below a file");
    assert(r.text.startsWith(`Option --out: ${dir}/a-file is a file, so the output folder`), r.text);

    r = await run([file, "--out", `${dir}/out`, "--threads", "99999999999"]);
    assertRefused(r, "--threads");
    assert(r.text.startsWith("Option --threads must be at most 1024 (this machine has "), r.text);

    // Root writes in read-only folders: the check there is only that the folder is tried.
    if (Deno.build.os !== "windows" && Deno.uid() !== 0) {
      await Deno.mkdir(`${dir}/read-only`, { mode: 0o555 });
      r = await run([file, "--out", `${dir}/read-only`]);
      assertRefused(r, "--out read-only");
      assert(r.text.startsWith(`Option --out: cannot write in ${dir}/read-only (`), r.text);
      await Deno.chmod(`${dir}/read-only`, 0o755);
      assertEquals([...Deno.readDirSync(`${dir}/read-only`)], [], "nothing written");
    }
    assert(!(await Deno.stat(`${dir}/out`).then(() => true, () => false)), "no output folder made");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
