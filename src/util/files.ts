/**
 * Atomic file writes, for every file quadjoint writes (models, results,
 * reports, checkpoints, benchmarks): each is written to a temporary sibling
 * and renamed over its target, so a reader (or a run interrupted halfway)
 * never sees half a file. Also small JSON and CSV helpers, and the joining
 * of byte pieces (what {@linkcode writeFileAtomic} also writes unjoined).
 *
 * @module
 */
import { dirname, join } from "node:path";

function tempPath(path: string): string {
  const name = path.split(/[\\/]/).pop() ?? "file";
  return join(dirname(path), `.${name}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`);
}

/**
 * Writes `data` to `path` atomically (temporary file, then rename), creating
 * the parent directory. On failure the temporary file is removed, `path` is
 * left as it was, and the error names `path` (after `options.what`, e.g.
 * "ONNX model"). A list of byte arrays is written one after the other, so
 * large files (checkpoints) need not be joined into one buffer first.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a/b.txt`, "hello");
 * if ((await Deno.readTextFile(`${dir}/a/b.txt`)) !== "hello") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array | readonly Uint8Array[],
  options: { what?: string } = {},
): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = tempPath(path);
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else if (data instanceof Uint8Array) await Deno.writeFile(tmp, data);
    else await writeParts(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    const what = options.what ? `${options.what} ` : "";
    throw new Error(`Cannot write ${what}${path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The pieces joined into one array (an encoder's parts, a stream's chunks).
 *
 * @example
 * ```ts
 * import { concatBytes } from "./files.ts";
 * if (concatBytes([Uint8Array.of(1, 2), Uint8Array.of(), Uint8Array.of(3)]).join() !== "1,2,3") throw new Error("joined wrong");
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function writeParts(path: string, parts: readonly Uint8Array[]): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  for (const part of parts) {
    for (let at = 0; at < part.length;) at += await file.write(part.subarray(at));
  }
}

/** Writes `value` as indented JSON to `path` atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/** Reads the text of `path`; undefined when the file does not exist (other errors are thrown). */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Reads JSON from `path`; undefined when the file does not exist. */
export async function readJsonIfExists(path: string): Promise<unknown> {
  const text = await readTextIfExists(path);
  if (text === undefined) return undefined;
  return JSON.parse(text);
}

/**
 * Replaces directory `path` with the contents `fill` writes into a fresh
 * temporary directory: once the new one is complete the old one is renamed
 * aside, the new one renamed into place, and only then the old one removed —
 * killed at any point, `path` holds the old folder or the new one whole (a
 * leftover aside folder is a stale temporary, removed by the next run).
 */
export async function replaceDirectory(path: string, fill: (dir: string) => Promise<void>): Promise<void> {
  const tmp = tempPath(path);
  await Deno.mkdir(tmp, { recursive: true });
  let aside: string | undefined;
  try {
    await fill(tmp);
    aside = tempPath(path);
    try {
      await Deno.rename(path, aside);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      aside = undefined;
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    if (aside !== undefined) await Deno.rename(aside, path).catch(() => {}); // the old folder back
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  if (aside !== undefined) await Deno.remove(aside, { recursive: true }).catch(() => {}); // else stale, removed later
}

/** Quotes a CSV field when needed (RFC 4180). */
function csvField(v: unknown): string {
  if (v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v))) return "";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Records as CSV: a header with every key that occurs (in first-seen order),
 * then one line per record; missing and non-finite values are empty.
 *
 * @example
 * ```ts
 * import { toCsv } from "./files.ts";
 * const csv = toCsv([{ method: "gq", seconds: 1.5 }, { method: "a,b", note: 'say "hi"' }]);
 * if (csv !== 'method,seconds,note\ngq,1.5,\n"a,b",,"say ""hi"""\n') throw new Error(csv);
 * ```
 */
export function toCsv(records: readonly object[]): string {
  const keys: string[] = [];
  for (const r of records) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
  const lines = [keys.map(csvField).join(",")];
  for (const r of records) lines.push(keys.map((k) => csvField((r as Record<string, unknown>)[k])).join(","));
  return lines.join("\n") + "\n";
}
