/**
 * Claiming a pipeline's output folder (`<out>/<name>/`) for one run, so
 * that no run loses another's results:
 *
 * - **A lock**: `.lock` in the folder, created atomically (`createNew`), holds
 *   the run's pid, host and start time. A second run into a locked folder is
 *   refused ({@linkcode OutputError}, exit 2) naming the folder and the
 *   holder's pid; a lock whose pid no longer runs on this host, one of
 *   another host that its run stopped touching ten minutes ago (a held lock
 *   is touched every minute), or one left empty by a run killed as it
 *   created it is taken over with a note. The
 *   lock is removed when the run ends, and at process exit (`Deno.exit`, a
 *   second Ctrl-C) by an `unload` listener.
 * - **Stale temporaries**: the atomic writers' `.<name>.<pid>.<8 hex>.tmp`
 *   files and folders (src/util/files.ts) whose pid no longer runs (a run
 *   killed with `kill -9`) are removed when a run starts.
 * - **Earlier results**: a folder that already holds results is refused
 *   unless the run resumes them (`--resume`) or replaces them
 *   (`--overwrite`: they are moved aside and removed before the first cell
 *   starts, after the pipeline file validated — never a mix of old and new).
 * - **Shards and cells**: the shards of one sweep (`--shard i/N`, shard.ts)
 *   share the folder, so a shard takes `.lock.shard-<i>-of-<N>` instead of
 *   `.lock` (two runs of one shard are refused), and every run takes
 *   `cells/<id>/.lock` of each cell it runs, created the same way, before
 *   its first cell starts: two runs never write one cell. A shard's earlier
 *   results, temporaries and `--overwrite` are those of its own cells and of
 *   `shards/<i>-of-<N>/` only; a whole-folder run is refused while a shard
 *   holds its lock.
 *
 * Why one file: the four are one protocol — taking the locks decides whose
 * temporaries are stale and whether earlier results may be touched.
 *
 * @module
 */
import { join } from "node:path";
import { readTextIfExists } from "../util/files.ts";

/** The lock file's name inside the output folder (and inside each cell's folder). */
export const LOCK_FILE = ".lock";

/** The lock file of shard `name` (`2-of-4`) inside the output folder: `.lock.shard-2-of-4`. */
export function shardLockFile(name: string): string {
  return `${LOCK_FILE}.shard-${name}`;
}

/** The folder of shard `name`'s own files (its results.json) inside the output folder. */
export function shardDir(dir: string, name: string): string {
  return join(dir, "shards", name);
}

/**
 * How long an unreadable lock (empty: its run was killed between creating and
 * writing it) is watched before it is taken over; a live run writes its lock
 * within microseconds of creating it.
 */
const UNREADABLE_LOCK_WAIT_MS = 1_000;

/** How often a held lock's file is touched. */
const LOCK_HEARTBEAT_MS = 60_000;

/** How long another host's lock may go untouched before it counts as left by a dead run: ten missed heartbeats. */
export const LOCK_STALE_MS = 10 * LOCK_HEARTBEAT_MS;

/**
 * Whether the run holding lock file `path` still runs: on this host, its pid; on another host, whose processes
 * cannot be asked, its lock's age — a live run touches it every minute (a shard killed by Slurm after its grace
 * time, a crashed node or an evicted pod leaves one that ages past {@linkcode LOCK_STALE_MS}).
 */
async function holderLive(found: LockHolder, path: string): Promise<boolean> {
  if (found.host === hostname()) return processRunning(found.pid);
  return await lockAgeMs(path) <= LOCK_STALE_MS;
}

/** Milliseconds since the file at `path` was last modified (0 when it cannot be told). */
async function lockAgeMs(path: string): Promise<number> {
  try {
    const mtime = (await Deno.stat(path)).mtime;
    return mtime === null ? 0 : Date.now() - mtime.getTime();
  } catch {
    return 0;
  }
}

/** The name the atomic writers give their temporaries: `.<name>.<pid>.<8 hex>.tmp`. */
const TEMPORARY = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/** An output folder a run cannot use as asked; `exitCode` is 2 and the message says what to do. */
export class OutputError extends Error {
  /** Exit status for a CLI that stops on this error. */
  readonly exitCode = 2;
  /** The output folder. */
  readonly dir: string;

  /** An error about output folder `dir`. */
  constructor(dir: string, message: string) {
    super(message);
    this.name = "OutputError";
    this.dir = dir;
  }
}

/** What a lock file holds. */
export interface LockHolder {
  /** Process id of the run. */
  readonly pid: number;
  /** Host name of its machine. */
  readonly host: string;
  /** When it took the lock (ISO 8601). */
  readonly started: string;
  /** A random token, so a run only ever removes its own lock. */
  readonly token: string;
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/**
 * Whether process `pid` runs on this machine (a zombie does not). This
 * process always runs; where it cannot be told, the answer is yes, so nothing
 * of a live run is ever taken or removed.
 */
export function processRunning(pid: number): boolean {
  if (pid === Deno.pid) return true;
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (Deno.build.os === "linux") {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      // Deno lets only --allow-all read /proc/<pid>: ask kill(1) instead.
      if (!(e instanceof Deno.errors.NotCapable)) return true;
    }
  }
  if (Deno.build.os === "windows") return true;
  try {
    const probe = new Deno.Command("kill", { args: ["-0", String(pid)], stdout: "null", stderr: "piped" }).outputSync();
    // A process of another user answers "Operation not permitted": it runs.
    return probe.success || !/no such process/i.test(new TextDecoder().decode(probe.stderr));
  } catch {
    return true;
  }
}

function describe(holder: LockHolder): string {
  return `pid ${holder.pid} on ${holder.host}, started ${holder.started}`;
}

/** The lock's holder, or why it cannot be read. */
async function readHolder(path: string): Promise<LockHolder | { unreadable: string } | undefined> {
  const text = await readTextIfExists(path);
  if (text === undefined) return undefined;
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (typeof h.pid === "number" && typeof h.host === "string") {
      return { pid: h.pid, host: h.host, started: String(h.started ?? "?"), token: String(h.token ?? "") };
    }
  } catch {
    // reported below
  }
  return { unreadable: text === "" ? "empty" : "not a lock" };
}

/** A held lock on an output folder. */
export class OutputLock {
  /** The lock file. */
  readonly path: string;
  /** What the file holds. */
  readonly holder: LockHolder;
  #released = false;
  readonly #onUnload = () => this.releaseSync();
  /** Touches the lock file every {@linkcode LOCK_HEARTBEAT_MS}: runs on other hosts judge it live by its age. */
  readonly #heartbeat: ReturnType<typeof setInterval>;

  /** The lock at `path`, held by `holder` (made by {@linkcode acquireOutputLock}). */
  constructor(path: string, holder: LockHolder) {
    this.path = path;
    this.holder = holder;
    globalThis.addEventListener("unload", this.#onUnload);
    this.#heartbeat = setInterval(() => {
      const now = new Date();
      Deno.utime(path, now, now).catch(() => {}); // gone or unwritable: the next run judges by pid or age
    }, LOCK_HEARTBEAT_MS);
    Deno.unrefTimer(Number(this.#heartbeat)); // never what keeps the process alive
  }

  /** Removes the lock file if it is still this run's; idempotent. */
  releaseSync(): void {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#heartbeat);
    globalThis.removeEventListener("unload", this.#onUnload);
    try {
      const h = JSON.parse(Deno.readTextFileSync(this.path)) as Partial<LockHolder>;
      if (h.token === this.holder.token) Deno.removeSync(this.path);
    } catch {
      // gone or replaced: not ours to remove
    }
  }

  /** Removes the lock file if it is still this run's; idempotent. */
  release(): Promise<void> {
    this.releaseSync();
    return Promise.resolve();
  }
}

/** Options of {@linkcode acquireOutputLock}. */
export interface AcquireLockOptions {
  /** The lock file's name inside the folder. @default ".lock" */
  file?: string;
  /** What the lock guards, for messages. @default "Output folder <dir>" */
  label?: string;
}

/**
 * Takes the lock of output folder `dir` (which must exist), or with `file`
 * another lock in it (a shard's, a cell's).
 *
 * @returns the lock, and a note when a stale lock was taken over.
 * @throws {OutputError} when a running process holds it (or a process on
 *   another host, which cannot be checked), naming the folder and the holder.
 *
 * @example
 * ```ts
 * import { acquireOutputLock, OutputError } from "./_output_lock.ts";
 * const dir = await Deno.makeTempDir();
 * const { lock } = await acquireOutputLock(dir);
 * let refused = false;
 * try { await acquireOutputLock(dir); } catch (e) { refused = e instanceof OutputError; }
 * await lock.release();
 * if (!refused) throw new Error("a held lock must be refused");
 * (await acquireOutputLock(dir)).lock.releaseSync();
 * await Deno.remove(dir);
 * ```
 */
export async function acquireOutputLock(
  dir: string,
  options: AcquireLockOptions = {},
): Promise<{ lock: OutputLock; notes: string[] }> {
  const path = join(dir, options.file ?? LOCK_FILE);
  const label = options.label ?? `Output folder ${dir}`;
  const holder: LockHolder = {
    pid: Deno.pid,
    host: hostname(),
    started: new Date().toISOString(),
    token: crypto.randomUUID(),
  };
  const notes: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const file = await Deno.open(path, { createNew: true, write: true });
      try {
        await file.write(new TextEncoder().encode(JSON.stringify(holder) + "\n"));
      } finally {
        file.close();
      }
      return { lock: new OutputLock(path, holder), notes };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) {
        throw new OutputError(dir, `Cannot create the lock ${path}: ${(e as Error).message}`);
      }
    }
    let found = await readHolder(path);
    for (let waited = 0; found !== undefined && "unreadable" in found && waited < UNREADABLE_LOCK_WAIT_MS;) {
      await new Promise((r) => setTimeout(r, 100));
      waited += 100;
      found = await readHolder(path);
    }
    if (found === undefined) continue; // released meanwhile
    let stale: string;
    if ("unreadable" in found) {
      stale = `an unreadable lock (${found.unreadable})`;
    } else if (await holderLive(found, path)) {
      throw new OutputError(
        dir,
        `${label} is in use by another run (${describe(found)}); wait for it to finish or choose ` +
          `another --out. If no such run exists, remove ${path}`,
      );
    } else {
      stale = found.host === holder.host
        ? `the lock of ${describe(found)}, which no longer runs`
        : `the lock of ${describe(found)}, untouched for over ${LOCK_STALE_MS / 60_000} minutes`;
    }
    // Move the stale lock aside and check it is the one examined; another run may have taken it over meanwhile.
    const aside = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    try {
      await Deno.rename(path, aside);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    const moved = await readHolder(aside);
    const same = moved !== undefined && JSON.stringify(moved) === JSON.stringify(found) ||
      (moved !== undefined && "unreadable" in moved && "unreadable" in found);
    if (!same) {
      // A live lock taken by mistake: put it back unless yet another run holds the name now.
      await Deno.link(aside, path).catch(() => {});
      await Deno.remove(aside).catch(() => {});
      continue;
    }
    await Deno.remove(aside).catch(() => {});
    notes.push(`${label}: took over ${stale}`);
  }
  throw new OutputError(dir, `Cannot take the lock ${path}: other runs keep claiming it`);
}

/**
 * Removes the temporaries under `dir` (files and folders named
 * `.<name>.<pid>.<8 hex>.tmp`, at any depth) whose pid no longer runs.
 *
 * @returns the paths removed.
 */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const walk = async (d: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(d));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      const m = TEMPORARY.exec(e.name);
      if (m !== null && !processRunning(Number(m[1]))) {
        await Deno.remove(p, { recursive: true }).catch((err) => {
          if (!(err instanceof Deno.errors.NotFound)) throw err;
        });
        removed.push(p);
      } else if (e.isDirectory && m === null) {
        await walk(p);
      }
    }
  };
  await walk(dir);
  return removed;
}

/** Options of {@linkcode claimOutput}. */
export interface ClaimOutputOptions {
  /** The run continues the results in the folder. @default false */
  resume?: boolean;
  /** The run replaces the results in the folder. @default false */
  overwrite?: boolean;
  /**
   * The run is shard `shard` (`2-of-4`) of a sweep: it takes `.lock.shard-2-of-4` rather than `.lock`, and only
   * its own cells and `shards/2-of-4/` count as its earlier results.
   */
  shard?: string;
  /** The ids of the cells the run runs: each `cells/<id>/.lock` is taken until release. @default [] */
  cells?: readonly string[];
}

/** An output folder claimed for one run. */
export interface ClaimedOutput {
  /** Lines to show the user: a stale lock taken over, temporaries removed, earlier results replaced. */
  readonly notes: readonly string[];
  /** Releases the locks; removes the folders the run left empty (its cells', then the output folder). */
  release(): Promise<void>;
}

/** Up to four entries, results.json and report.html first. */
function formatEntries(names: readonly string[]): string {
  const rank = (n: string) => ["results.json", "report.html"].indexOf(n) >>> 0;
  const shown = [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).slice(0, 4).join(", ");
  return names.length > 4 ? `${shown} and ${names.length - 4} more` : shown;
}

/** Entry names of `dir` (folders with a trailing /), none when it does not exist. */
async function entries(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => (e.isDirectory ? `${e.name}/` : e.name)).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** Moves `names` (entries of `dir`) into a temporary aside folder and removes it: each rename is atomic. */
async function removeEntries(dir: string, names: readonly string[]): Promise<void> {
  // A run killed halfway leaves the aside folder, a stale temporary of this pid.
  const aside = join(dir, `.replaced.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  await Deno.mkdir(aside);
  for (const name of names.map((n) => n.replace(/\/$/, ""))) await Deno.rename(join(dir, name), join(aside, name));
  await Deno.remove(aside, { recursive: true });
}

/**
 * The shard locks in `dir` held by a run that may still be running (this host's live pids, or another host's), as
 * `2-of-4 (pid 123 on node7, started …)`.
 */
export async function liveShardLocks(dir: string): Promise<string[]> {
  const held: string[] = [];
  for (const name of await entries(dir)) {
    if (!name.startsWith(`${LOCK_FILE}.shard-`) || TEMPORARY.test(name)) continue;
    const found = await readHolder(join(dir, name));
    if (found === undefined) continue;
    if ("unreadable" in found) held.push(`${name.slice(LOCK_FILE.length + 7)} (an unreadable lock)`);
    else if (await holderLive(found, join(dir, name))) {
      held.push(`${name.slice(LOCK_FILE.length + 7)} (${describe(found)})`);
    }
  }
  return held;
}

/** Takes every cell's lock, or none: on a refusal the ones taken are released. */
async function lockCells(dir: string, ids: readonly string[]): Promise<{ locks: OutputLock[]; notes: string[] }> {
  const locks: OutputLock[] = [];
  const taken: string[] = [];
  try {
    for (const id of ids) {
      const cellDir = join(dir, "cells", id);
      await Deno.mkdir(cellDir, { recursive: true });
      const { lock, notes } = await acquireOutputLock(cellDir, { label: `Cell ${id} of output folder ${dir}` });
      locks.push(lock);
      if (notes.length > 0) taken.push(id);
    }
  } catch (e) {
    await releaseCells(dir, locks);
    throw e;
  }
  const notes = taken.length === 0
    ? []
    : taken.length === 1
    ? [`Output folder ${dir}: took over the lock of cell ${taken[0]}, whose run no longer runs`]
    : [`Output folder ${dir}: took over the locks of ${taken.length} cells whose runs no longer run`];
  return { locks, notes };
}

/** Releases cell locks and removes the cell folders (and cells/) left empty. */
async function releaseCells(dir: string, locks: readonly OutputLock[]): Promise<void> {
  for (const lock of locks) {
    lock.releaseSync();
    await Deno.remove(join(lock.path, "..")).catch(() => {}); // only when empty
  }
  await Deno.remove(join(dir, "cells")).catch(() => {});
}

/**
 * Claims output folder `dir` for a run: creates it, takes its lock
 * ({@linkcode acquireOutputLock}), removes stale temporaries
 * ({@linkcode removeStaleTemporaries}), and when the folder already holds
 * results, refuses the run unless it resumes them or, with `overwrite`,
 * moves them aside and removes them; then takes the lock of each of the
 * run's `cells`. With `shard`, all of this concerns the shard's lock, its
 * own cells and its `shards/<name>/` folder only (see the module doc).
 *
 * @throws {OutputError} when the folder, the shard or a cell is locked by
 *   another run, or holds results and neither `resume` nor `overwrite` is set.
 *
 * @example A second run into a finished output is refused
 * ```ts
 * import { claimOutput, OutputError } from "./_output_lock.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/results.json`, "{}");
 * let message = "";
 * try { await claimOutput(dir); } catch (e) { if (e instanceof OutputError) message = e.message; }
 * if (!message.includes("--resume") || !message.includes("--overwrite")) throw new Error(message);
 * const claim = await claimOutput(dir, { overwrite: true });
 * await claim.release();
 * await Deno.stat(dir).then(() => { throw new Error("an empty folder is removed"); }, () => {});
 * ```
 */
export async function claimOutput(dir: string, options: ClaimOutputOptions = {}): Promise<ClaimedOutput> {
  if (options.resume && options.overwrite) {
    throw new RangeError("Options resume and overwrite cannot be combined: choose one");
  }
  await Deno.mkdir(dir, { recursive: true });
  const shard = options.shard;
  const { lock, notes } = shard === undefined
    ? await acquireOutputLock(dir)
    : await acquireOutputLock(dir, { file: shardLockFile(shard), label: `Shard ${shard} of output folder ${dir}` });
  let cellLocks: OutputLock[] = [];
  const release = async () => {
    await releaseCells(dir, cellLocks);
    await lock.release();
    if (shard !== undefined) await Deno.remove(join(dir, "shards")).catch(() => {});
    await Deno.remove(dir).catch(() => {}); // only when empty
  };
  try {
    const cells = options.cells ?? [];
    if (shard === undefined) {
      const shards = await liveShardLocks(dir);
      if (shards.length > 0) {
        throw new OutputError(
          dir,
          `Output folder ${dir} is in use by shard ${shards.join(", ")}; wait for the shards to finish (merge them ` +
            `with deno task report ${dir}) or choose another --out`,
        );
      }
      const removed = await removeStaleTemporaries(dir);
      if (removed.length > 0) {
        notes.push(`Output folder ${dir}: removed ${removed.length} temporary file(s) of runs that no longer run`);
      }
      const earlier = (await entries(dir)).filter((n) => n !== LOCK_FILE && !n.startsWith(`${LOCK_FILE}.shard-`));
      if (earlier.length > 0 && !options.resume) {
        if (!options.overwrite) {
          const refusal = `Output folder ${dir} already holds results (${formatEntries(earlier)}); rerun with ` +
            "--resume to continue them or with --overwrite to replace them";
          throw new OutputError(dir, [...notes, refusal].join("\n"));
        }
        await removeEntries(dir, earlier);
        notes.push(`Output folder ${dir}: replaced the earlier results (--overwrite)`);
      }
      const claimed = await lockCells(dir, cells);
      cellLocks = claimed.locks;
      notes.push(...claimed.notes);
      return { notes, release };
    }
    // A shard: its cells are locked first, so that their folders are its own to clean, check and replace.
    const claimed = await lockCells(dir, cells);
    cellLocks = claimed.locks;
    notes.push(...claimed.notes);
    const own = shardDir(dir, shard);
    let removed = (await removeStaleTemporaries(own)).length;
    for (const id of cells) removed += (await removeStaleTemporaries(join(dir, "cells", id))).length;
    if (removed > 0) {
      notes.push(
        `Shard ${shard} of output folder ${dir}: removed ${removed} temporary file(s) of runs that no longer run`,
      );
    }
    const earlier: string[] = (await entries(own)).length > 0 ? [`shards/${shard}/`] : [];
    for (const id of cells) {
      if ((await entries(join(dir, "cells", id))).some((n) => n !== LOCK_FILE)) earlier.push(`cells/${id}/`);
    }
    if (earlier.length > 0 && !options.resume) {
      if (!options.overwrite) {
        const refusal = `Shard ${shard} of output folder ${dir} already holds results (${formatEntries(earlier)}); ` +
          "rerun with --resume to continue them or with --overwrite to replace them";
        throw new OutputError(dir, [...notes, refusal].join("\n"));
      }
      await Deno.remove(own, { recursive: true }).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
      for (const id of cells) {
        const cellDir = join(dir, "cells", id);
        await removeEntries(cellDir, (await entries(cellDir)).filter((n) => n !== LOCK_FILE));
      }
      notes.push(`Shard ${shard} of output folder ${dir}: replaced its earlier results (--overwrite)`);
    }
    return { notes, release };
  } catch (e) {
    await release();
    throw e;
  }
}
