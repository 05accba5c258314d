import { assert, assertEquals } from "../util/testing.ts";
import {
  acquireOutputLock,
  claimOutput,
  LOCK_FILE,
  LOCK_STALE_MS,
  OutputError,
  processRunning,
  removeStaleTemporaries,
} from "./_output_lock.ts";

/** A process that runs until killed, and one that has ended (and been reaped). */
async function processes() {
  const live = new Deno.Command("sleep", { args: ["60"], stdout: "null", stderr: "null" }).spawn();
  const ended = new Deno.Command("true").spawn();
  await ended.status;
  return { live, deadPid: ended.pid };
}

function writeLock(dir: string, pid: number, host = Deno.hostname()) {
  return Deno.writeTextFile(`${dir}/${LOCK_FILE}`, JSON.stringify({ pid, host, started: "2026-01-01T00:00:00Z" }));
}

async function refusal(run: () => Promise<unknown>): Promise<OutputError> {
  try {
    await run();
  } catch (e) {
    if (e instanceof OutputError) return e;
    throw e;
  }
  throw new Error("expected an OutputError");
}

Deno.test("processRunning() tells a running process from one that has ended", async () => {
  const { live, deadPid } = await processes();
  try {
    assert(processRunning(Deno.pid));
    assert(processRunning(live.pid));
    assert(!processRunning(deadPid));
  } finally {
    live.kill("SIGKILL");
    await live.status;
  }
  assert(!processRunning(live.pid), "a killed and reaped process no longer runs");
});

Deno.test("acquireOutputLock() refuses a folder locked by a running process, naming the folder and its pid", async () => {
  const dir = await Deno.makeTempDir();
  const { live } = await processes();
  try {
    await writeLock(dir, live.pid);
    const e = await refusal(() => acquireOutputLock(dir));
    assertEquals(e.exitCode, 2);
    assert(e.message.includes(`Output folder ${dir} is in use`) && e.message.includes(`pid ${live.pid}`), e.message);
    // A lock from another host cannot be checked, so it is held too while its run keeps touching it.
    await writeLock(dir, 1, "another-host");
    assert((await refusal(() => acquireOutputLock(dir))).message.includes("pid 1 on another-host"));
    // Untouched for longer than LOCK_STALE_MS (a killed shard, a crashed node): taken over, with a note.
    const old = new Date(Date.now() - LOCK_STALE_MS - 60_000);
    await Deno.utime(`${dir}/${LOCK_FILE}`, old, old);
    const { lock, notes } = await acquireOutputLock(dir);
    assert(notes.some((n) => n.includes("untouched for over 10 minutes")), notes.join("\n"));
    await lock.release();
  } finally {
    live.kill("SIGKILL");
    await live.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("acquireOutputLock() takes over the lock of a process that no longer runs or an empty one, with a note", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { live, deadPid } = await processes();
    live.kill("SIGKILL");
    await live.status;
    await writeLock(dir, deadPid);
    const { lock, notes } = await acquireOutputLock(dir);
    assertEquals(notes.length, 1);
    assert(notes[0]!.includes(`took over the lock of pid ${deadPid}`), notes[0]);
    const held = JSON.parse(await Deno.readTextFile(`${dir}/${LOCK_FILE}`));
    assertEquals([held.pid, held.host], [Deno.pid, Deno.hostname()]);
    assert(typeof held.started === "string");
    await lock.release();
    assertEquals([...Deno.readDirSync(dir)], [], "the lock is removed and nothing is left");
    // An empty lock (its run killed between creating and writing it) is taken over after a second's wait.
    await Deno.writeTextFile(`${dir}/${LOCK_FILE}`, "");
    const taken = await acquireOutputLock(dir);
    assertEquals(taken.notes, [`Output folder ${dir}: took over an unreadable lock (empty)`]);
    taken.lock.releaseSync();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("removeStaleTemporaries() removes the temporary files and folders of ended processes only", async () => {
  const dir = await Deno.makeTempDir();
  const { live, deadPid } = await processes();
  try {
    const stale = [
      `${dir}/.results.csv.${deadPid}.0a1b2c3d.tmp`,
      `${dir}/cells/a/.checkpoint.json.${deadPid}.deadbeef.tmp`,
    ];
    for (const f of stale) {
      await Deno.mkdir(f.slice(0, f.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(f, "half");
    }
    await Deno.mkdir(`${dir}/.charts.${deadPid}.12345678.tmp`);
    await Deno.writeTextFile(`${dir}/.charts.${deadPid}.12345678.tmp/01-a.svg`, "<svg");
    const kept = [`${dir}/.results.json.${live.pid}.0a1b2c3d.tmp`, `${dir}/cells/a/checkpoint.json`, `${dir}/x.tmp`];
    for (const f of kept) await Deno.writeTextFile(f, "{}");
    const removed = await removeStaleTemporaries(dir);
    assertEquals(removed.sort(), [...stale, `${dir}/.charts.${deadPid}.12345678.tmp`].sort());
    for (const f of kept) await Deno.stat(f);
  } finally {
    live.kill("SIGKILL");
    await live.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("claimOutput() refuses a folder with results, resumes or overwrites it as asked, and never leaves a lock", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/cells/base`, { recursive: true });
    await Deno.writeTextFile(`${dir}/results.json`, "{}");
    await Deno.writeTextFile(`${dir}/cells/base/result.json`, "{}");
    const e = await refusal(() => claimOutput(dir));
    assertEquals(
      e.message,
      `Output folder ${dir} already holds results (results.json, cells/); rerun with --resume to continue them ` +
        "or with --overwrite to replace them",
    );
    const resumed = await claimOutput(dir, { resume: true });
    assertEquals(resumed.notes, []);
    assert(await Deno.stat(`${dir}/${LOCK_FILE}`), "locked while claimed");
    await refusal(() => claimOutput(dir, { resume: true }));
    await resumed.release();
    assertEquals(await Deno.readTextFile(`${dir}/cells/base/result.json`), "{}", "resume keeps the results");
    const replaced = await claimOutput(dir, { overwrite: true });
    assertEquals([...Deno.readDirSync(dir)].map((d) => d.name), [LOCK_FILE], "overwrite starts from an empty folder");
    await replaced.release();
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("OutputLock is released when its process exits with Deno.exit (a second Ctrl-C)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const module = new URL("./_output_lock.ts", import.meta.url).href;
    const code = `import { acquireOutputLock } from "${module}";
await acquireOutputLock(${JSON.stringify(dir)});
console.log(Deno.readDirSync(${JSON.stringify(dir)}).next().value?.name);
Deno.exit(130);`;
    const out = await new Deno.Command(Deno.execPath(), { args: ["eval", code], stderr: "piped" }).output();
    assertEquals(out.code, 130, new TextDecoder().decode(out.stderr));
    assertEquals(new TextDecoder().decode(out.stdout).trim(), LOCK_FILE, "held while running");
    assertEquals([...Deno.readDirSync(dir)], [], "released at exit");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("claimOutput() with shard takes the shard's lock and its cells' locks, and checks only its own results", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Another shard's finished cell and the folder's merged results are not this shard's.
    await Deno.mkdir(`${dir}/cells/b`, { recursive: true });
    await Deno.writeTextFile(`${dir}/cells/b/result.json`, "{}");
    await Deno.writeTextFile(`${dir}/results.json`, "{}");
    const one = await claimOutput(dir, { shard: "1-of-2", cells: ["a"] });
    assertEquals(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      [`${LOCK_FILE}.shard-1-of-2`, "cells", "results.json"],
    );
    assert(await Deno.stat(`${dir}/cells/a/${LOCK_FILE}`), "the cell is locked");
    assert((await refusal(() => claimOutput(dir, { shard: "1-of-2", cells: ["a"], resume: true }))).message
      .startsWith(`Shard 1-of-2 of output folder ${dir} is in use by another run (pid ${Deno.pid}`));
    // Another N's shard that would run the same cell is refused by the cell's lock, and takes no lock itself.
    const e = await refusal(() => claimOutput(dir, { shard: "1-of-3", cells: ["c", "a"] }));
    assert(e.message.startsWith(`Cell a of output folder ${dir} is in use by another run`), e.message);
    assertEquals([...Deno.readDirSync(`${dir}/cells`)].map((d) => d.name).sort(), ["a", "b"]);
    // A whole-folder run is refused while a shard holds its lock.
    const whole = await refusal(() => claimOutput(dir, { resume: true }));
    assert(whole.message.startsWith(`Output folder ${dir} is in use by shard 1-of-2 (pid ${Deno.pid}`), whole.message);
    await Deno.writeTextFile(`${dir}/cells/a/result.json`, "{}");
    await one.release();
    assertEquals(await Deno.readTextFile(`${dir}/cells/a/result.json`), "{}");
    assert(!(await Array.fromAsync(Deno.readDir(`${dir}/cells/a`))).some((d) => d.name === LOCK_FILE), "released");
    // Its own finished cell makes a rerun need --resume; --overwrite replaces only its own cells.
    const again = await refusal(() => claimOutput(dir, { shard: "1-of-2", cells: ["a"] }));
    assert(again.message.includes("already holds results (cells/a/)"), again.message);
    const replaced = await claimOutput(dir, { shard: "1-of-2", cells: ["a"], overwrite: true });
    assertEquals([...Deno.readDirSync(`${dir}/cells/a`)].map((d) => d.name), [LOCK_FILE]);
    assertEquals(await Deno.readTextFile(`${dir}/cells/b/result.json`), "{}", "another shard's cell is kept");
    await replaced.release();
    assertEquals([...Deno.readDirSync(`${dir}/cells`)].map((d) => d.name), ["b"], "an empty cell folder is removed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("claimOutput() takes over the cell locks of a killed run with one note", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { live, deadPid } = await processes();
    live.kill("SIGKILL");
    await live.status;
    for (const id of ["a", "b"]) {
      await Deno.mkdir(`${dir}/cells/${id}`, { recursive: true });
      await writeLock(`${dir}/cells/${id}`, deadPid);
    }
    const claim = await claimOutput(dir, { resume: true, cells: ["a", "b"] });
    assertEquals(claim.notes, [`Output folder ${dir}: took over the locks of 2 cells whose runs no longer run`]);
    await claim.release();
    assert(!(await Deno.stat(dir).then(() => true, () => false)), "the folder, left empty, is removed");
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
