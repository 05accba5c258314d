/**
 * Reading pipeline files: JSON or YAML text → a validated configuration, or a
 * {@linkcode PipelineError} listing every problem by field path.
 *
 * @module
 */
import { parseDocument } from "yaml";
import { resolveDataFiles } from "./data_kinds/registry.ts";
import { issuesFromZod, PipelineError, type PipelineIssue } from "./errors.ts";
import { resolveModelFiles } from "./model_kinds/_paths.ts";
import { type PipelineConfig, PipelineSchema } from "./schema.ts";
import { applyQuick, quickIssues, sweepIssues } from "./sweep.ts";

/** Options for {@linkcode parsePipeline}. */
export interface ParsePipelineOptions {
  /** Return the configuration with its `quick` overrides applied. @default false */
  quick?: boolean;
}

function parseText(text: string, file: string): unknown {
  if (/\.json$/i.test(file)) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new PipelineError(file, [{ path: "(root)", message: `Invalid JSON: ${(e as Error).message}` }]);
    }
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PipelineError(
      file,
      doc.errors.map((e) => ({
        path: "(root)",
        message: `Invalid YAML: ${e.message.split("\n")[0]?.replace(/:$/, "")}`,
      })),
    );
  }
  return doc.toJS();
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
  const raw = parseText(text, file);
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
 * Reads and validates a pipeline file; see {@linkcode parsePipeline}. A file
 * that cannot be read is a {@linkcode PipelineError} too.
 */
export async function readPipeline(file: string, options: ParsePipelineOptions = {}): Promise<PipelineConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new PipelineError(file, [{ path: "(root)", message: `Cannot read the file: ${(e as Error).message}` }]);
  }
  return parsePipeline(text, file, options);
}
