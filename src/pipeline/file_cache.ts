/**
 * What the pipeline reads from users' files, read once: the checks, the
 * sizes, the cost model and the cells all ask for the same dataset or model,
 * so each {@linkcode FileCache} keeps the last few results, keyed by the
 * settings and by each file's size and modification time, so a changed file
 * is read again. Errors are not kept: a fixed file is read again too.
 *
 * @module
 */

/** What tells whether a file changed: its modification time and size, or that it is missing. */
export function fileStamp(path: string): string {
  try {
    const s = Deno.statSync(path);
    return `${s.mtime?.getTime()}:${s.size}`;
  } catch {
    return "missing";
  }
}

/** `load()`, or its result from an earlier call with the same kind and settings while none of `files` changed. */
export type FileCache = <T>(kind: string, settings: unknown, files: readonly string[], load: () => T) => T;

/**
 * A cache of the `size` most recently used results.
 *
 * @example
 * ```ts
 * import { fileCache } from "./file_cache.ts";
 * const cached = fileCache(2);
 * let reads = 0;
 * const read = () => cached("demo", { a: 1 }, ["deno.json"], () => ++reads);
 * read();
 * read();
 * if (reads !== 1) throw new Error(`read ${reads} times`);
 * ```
 */
export function fileCache(size: number): FileCache {
  const loaded = new Map<string, unknown>();
  return <T>(kind: string, settings: unknown, files: readonly string[], load: () => T): T => {
    const key = `${kind} ${JSON.stringify(settings)} ${files.map(fileStamp).join(" ")}`;
    if (loaded.has(key)) {
      const hit = loaded.get(key) as T;
      loaded.delete(key);
      loaded.set(key, hit);
      return hit;
    }
    const value = load();
    loaded.set(key, value);
    if (loaded.size > size) loaded.delete(loaded.keys().next().value!);
    return value;
  };
}
