/**
 * Reading pipeline files: JSON or YAML text → a validated configuration, or a
 * {@linkcode PipelineError} listing every problem by field path.
 *
 * Hostile or broken files fail fast with one message naming the file, never
 * a crash or a hang: files over {@linkcode MAX_PIPELINE_BYTES}, UTF-16 or
 * binary files, YAML whose aliases expand exponentially (a "billion laughs"
 * file; at most {@linkcode MAX_ALIAS_COUNT} copies), values nested deeper
 * than {@linkcode MAX_DEPTH} levels. A UTF-8 byte-order mark is skipped.
 * Duplicate keys (YAML, and JSON, whose parser keeps the last) are found here in linear time (the yaml package's
 * `uniqueKeys` check compares every pair of keys of a map: 40 000 keys took
 * two minutes).
 *
 * @module
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { resolveDataFiles } from "./data_kinds/registry.ts";
import { formatPath, issuesFromZod, PipelineError, type PipelineIssue } from "./errors.ts";
import { resolveModelFiles } from "./model_kinds/_paths.ts";
import { type PipelineConfig, PipelineSchema } from "./schema.ts";
import { applyQuick, quickIssues, sweepIssues } from "./sweep.ts";

/**
 * Largest pipeline file read, in bytes (1 MiB). The committed pipelines are a
 * few kB; YAML parses at about 0.6 MB/s on 2 cores, so this keeps a mistaken
 * file (a data file, a generated one) to about two seconds.
 */
export const MAX_PIPELINE_BYTES = 1024 * 1024;

/** Most copies a YAML alias may expand to (the yaml package's `maxAliasCount`). */
export const MAX_ALIAS_COUNT = 100;

/** Deepest nesting of objects and lists in a pipeline file (real ones use about 5 levels). */
export const MAX_DEPTH = 64;

/** Options for {@linkcode parsePipeline}. */
export interface ParsePipelineOptions {
  /** Return the configuration with its `quick` overrides applied. @default false */
  quick?: boolean;
}

/** A file-level problem, at `(root)`. */
function fileError(file: string, message: string): PipelineError {
  return new PipelineError(file, [{ path: "(root)", message }]);
}

function tooLarge(file: string, size: string): PipelineError {
  return fileError(
    file,
    `The file is ${size}, more than the ${MAX_PIPELINE_BYTES / 1024 / 1024} MiB a pipeline file may have: ` +
      "pipeline files describe runs; data belong in data files (data.kind csv, npy or idx)",
  );
}

/**
 * Duplicate keys of the YAML document's maps (or a JSON file's objects, read
 * as YAML), one issue each at the key's own path, with both lines. One Set per map: linear in the document's size.
 * Aliases are not followed (their anchors are walked where they stand).
 */
function duplicateKeys(contents: unknown, lines: LineCounter, format: "JSON" | "YAML"): PipelineIssue[] {
  const found: { at: number; issue: PipelineIssue }[] = [];
  const pos = (node: unknown) => {
    const start = (node as { range?: [number, number, number] } | null)?.range?.[0];
    return start === undefined ? { line: 0, col: 0 } : lines.linePos(start);
  };
  /** "line 7 (first at line 5)", with columns when both are on one line. */
  const where = (key: unknown, first: unknown) => {
    const [a, b] = [pos(key), pos(first)];
    return a.line === b.line
      ? `at line ${a.line}, column ${a.col} (first at column ${b.col})`
      : `at line ${a.line} (first at line ${b.line})`;
  };
  const stack: { node: unknown; path: (string | number)[] }[] = [{ node: contents, path: [] }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    if (isAlias(node) || path.length > MAX_DEPTH) continue; // too deep: reported after toJS
    if (isMap(node)) {
      const seen = new Map<string, unknown>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const first = seen.get(key);
        if (first !== undefined) {
          const at = (pair.key as { range?: [number, number, number] } | null)?.range?.[0] ?? 0;
          const message = `Invalid ${format}: duplicate key "${key}" ${where(pair.key, first)}`;
          found.push({ at, issue: { path: formatPath([...path, key]), message } });
        } else {
          seen.set(key, pair.key);
        }
        stack.push({ node: pair.value, path: [...path, key] });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => stack.push({ node: item, path: [...path, i] }));
    }
  }
  return found.sort((a, b) => a.at - b.at).map((f) => f.issue); // in the file's order
}

/** The path of a value nested more than {@linkcode MAX_DEPTH} levels deep, if any (iterative: no stack overflow). */
function tooDeep(value: unknown): (string | number)[] | undefined {
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: value, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (path.length >= MAX_DEPTH) return path;
    if (Array.isArray(v)) v.forEach((x, i) => stack.push({ v: x, path: [...path, i] }));
    else for (const [k, x] of Object.entries(v)) stack.push({ v: x, path: [...path, k] });
  }
  return undefined;
}

function parseText(text: string, file: string): unknown {
  if (/\.json$/i.test(file)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw fileError(file, `Invalid JSON: ${(e as Error).message}`);
    }
    // JSON.parse keeps the last of duplicate keys silently; JSON is YAML 1.2, whose parser sees them all. Should
    // it refuse a valid JSON file, the check is skipped rather than the file refused.
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { uniqueKeys: false, lineCounter });
    const duplicates = doc.errors.length === 0 ? duplicateKeys(doc.contents, lineCounter, "JSON") : [];
    if (duplicates.length > 0) throw new PipelineError(file, duplicates);
    return value;
  }
  const lineCounter = new LineCounter();
  let doc;
  try {
    doc = parseDocument(text, { prettyErrors: true, uniqueKeys: false, lineCounter });
  } catch (e) {
    throw fileError(file, `Invalid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (doc.errors.length > 0) {
    throw new PipelineError(
      file,
      doc.errors.map((e) => ({
        path: "(root)",
        message: `Invalid YAML: ${e.message.split("\n")[0]?.replace(/:$/, "")}`,
      })),
    );
  }
  const duplicates = duplicateKeys(doc.contents, lineCounter, "YAML");
  if (duplicates.length > 0) throw new PipelineError(file, duplicates);
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    // The yaml package throws a ReferenceError when aliases expand past maxAliasCount.
    const message = e instanceof ReferenceError && /alias/i.test(e.message)
      ? `its aliases (*name) expand to too many copies (more than ${MAX_ALIAS_COUNT}), as in a "billion laughs" ` +
        "file: write the values out instead"
      : (e as Error).message;
    throw fileError(file, `Invalid YAML: ${message}`);
  }
}

/**
 * Parses and validates a pipeline file's text. JSON when `file` ends in
 * `.json`, YAML otherwise. Besides the schema itself, the `sweep` (every path
 * exists, every value and every cell is valid) and the `quick` overrides
 * (the merged configuration is valid) are checked, so a run cannot fail on its
 * configuration halfway through.
 *
 * @param text The file's contents.
 * @param file The file name, used to choose the format, in messages, and as the folder that relative model files
 *   (`model.dynamics.file`) are resolved against.
 * @throws {PipelineError} listing every issue as `<file>: <path>: <message>`.
 *
 * @example A typo is reported with its path
 * ```ts
 * import { parsePipeline } from "./parse.ts";
 * import { PipelineError } from "./errors.ts";
 * const yaml = `
 * name: demo
 * data: { kind: crossing-trajectories }
 * model: { dynamics: { kind: mlp, width: 20 } }
 * solve: { rtol: -1 }
 * gradient: { method: gq }
 * train: { epochs: 10 }
 * `;
 * try {
 *   parsePipeline(yaml, "demo.yaml");
 *   throw new Error("accepted");
 * } catch (e) {
 *   if (!(e instanceof PipelineError) || !e.message.startsWith("demo.yaml: solve.rtol: ")) throw e;
 * }
 * ```
 */
export function parsePipeline(text: string, file: string, options: ParsePipelineOptions = {}): PipelineConfig {
  if (text.length > MAX_PIPELINE_BYTES) throw tooLarge(file, `${text.length} characters`);
  const raw = parseText(text.startsWith("\uFEFF") ? text.slice(1) : text, file);
  const deep = tooDeep(raw);
  if (deep !== undefined) {
    throw new PipelineError(file, [{
      path: formatPath(deep),
      message: `Nested more than ${MAX_DEPTH} levels deep: a pipeline file needs a few`,
    }]);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    const got = raw === null ? "null" : Array.isArray(raw) ? "a list" : typeof raw;
    throw new PipelineError(file, [{ path: "(root)", message: `Expected an object of stages, got ${got}` }]);
  }
  // Model files (model.dynamics.file, …) and data files (data.file, …) are relative to the pipeline file.
  const r = PipelineSchema.safeParse(resolveDataFiles(resolveModelFiles(raw, file), file), { reportInput: true });
  if (!r.success) throw new PipelineError(file, issuesFromZod(r.error.issues));
  const issues: PipelineIssue[] = [...sweepIssues(r.data), ...quickIssues(r.data)];
  if (issues.length > 0) throw new PipelineError(file, issues);
  return options.quick ? applyQuick(r.data, file) : r.data;
}

/**
 * The file's bytes, reading at most one byte past {@linkcode MAX_PIPELINE_BYTES}
 * (so `/dev/zero` or a huge file cannot hang or fill memory).
 */
async function readCapped(file: string): Promise<Uint8Array> {
  using f = await Deno.open(file, { read: true });
  const out = new Uint8Array(MAX_PIPELINE_BYTES + 1);
  let n = 0;
  while (n < out.length) {
    const got = await f.read(out.subarray(n));
    if (got === null) break;
    n += got;
  }
  return out.subarray(0, n);
}

/** The file's text: UTF-8, its byte-order mark skipped; UTF-16 and other encodings are refused. */
function decode(bytes: Uint8Array, file: string): string {
  if ((bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe)) {
    const order = bytes[0] === 0xfe ? "FE FF" : "FF FE";
    throw fileError(file, `The file is UTF-16 (it starts with the byte-order mark ${order}): save it as UTF-8`);
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    throw fileError(file, `The file holds a NUL byte at offset ${nul}: it is not UTF-8 text (UTF-16? binary?)`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes); // skips a UTF-8 byte-order mark
  } catch {
    throw fileError(file, "The file is not valid UTF-8 text: save it as UTF-8");
  }
}

/**
 * Reads and validates a pipeline file; see {@linkcode parsePipeline}. A file
 * that cannot be read, is larger than {@linkcode MAX_PIPELINE_BYTES} or is
 * not UTF-8 text is a {@linkcode PipelineError} too.
 */
export async function readPipeline(file: string, options: ParsePipelineOptions = {}): Promise<PipelineConfig> {
  let bytes: Uint8Array;
  try {
    bytes = await readCapped(file);
  } catch (e) {
    throw fileError(file, `Cannot read the file: ${(e as Error).message}`);
  }
  if (bytes.length > MAX_PIPELINE_BYTES) {
    const size = await Deno.stat(file).then((s) => s.isFile ? s.size : undefined, () => undefined);
    throw tooLarge(file, size === undefined ? "too large" : `${(size / 1024 / 1024).toFixed(1)} MiB`);
  }
  return parsePipeline(decode(bytes, file), file, options);
}
