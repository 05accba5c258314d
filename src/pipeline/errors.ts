/**
 * Pipeline validation errors: every problem of a file, each with the dotted
 * path of the field at fault.
 *
 * @module
 */
import type { z } from "zod";

/** One problem in a pipeline file. */
export interface PipelineIssue {
  /** Dotted path of the field, e.g. `solve.rtol` or `evaluate.metrics[1]`; `(root)` for the whole file. */
  readonly path: string;
  /** What is wrong, in sentence case, with the current value where known. */
  readonly message: string;
}

/** Most issues a {@linkcode PipelineError}'s message lists; `issues` keeps them all. */
export const MAX_SHOWN_ISSUES = 20;

/**
 * A pipeline file that cannot be run. Its message has one
 * `<file>: <path.to.field>: <message>` line per issue, the first
 * {@linkcode MAX_SHOWN_ISSUES} of them and then a line counting the rest; the
 * CLI prints it and exits with {@linkcode PipelineError.exitCode} (2) before
 * any work starts.
 *
 * @example
 * ```ts
 * import { PipelineError } from "./errors.ts";
 * const e = new PipelineError("a.json", [{ path: "solve.rtol", message: "Too small" }]);
 * if (e.message !== "a.json: solve.rtol: Too small") throw new Error(e.message);
 * ```
 */
export class PipelineError extends Error {
  /** Exit status for a CLI that stops on this error. */
  readonly exitCode = 2;
  /** The file (as named by the caller). */
  readonly file: string;
  /** Every issue found. */
  readonly issues: readonly PipelineIssue[];

  /** An error for `file` listing `issues` (at least one). */
  constructor(file: string, issues: readonly PipelineIssue[]) {
    const shown = issues.slice(0, MAX_SHOWN_ISSUES).map((i) => `${file}: ${i.path}: ${i.message}`);
    const more = issues.length - shown.length;
    if (more > 0) shown.push(`${file}: … and ${more} more issues (fix the ones above first)`);
    super(shown.join("\n"));
    this.name = "PipelineError";
    this.file = file;
    this.issues = issues;
  }
}

/** Formats path segments as `a.b[0].c`; `(root)` when empty. Prefix segments come first. */
export function formatPath(segments: readonly PropertyKey[], prefix = ""): string {
  let out = prefix;
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else out += out === "" ? String(s) : `.${String(s)}`;
  }
  return out === "" ? "(root)" : out;
}

/** A value as JSON, except that NaN and ±Infinity (YAML's `.nan`, `.inf`) are shown as such, not as null. */
function showValue(v: unknown): string {
  let s: string;
  try {
    const nonFinite = (x: unknown) => typeof x === "number" && !Number.isFinite(x);
    s = nonFinite(v) ? String(v) : JSON.stringify(v, (_k, x) => nonFinite(x) ? String(x) : x) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Turns zod issues into {@linkcode PipelineIssue}s: one per unknown key (named
 * by its own path), unions explained branch by branch, the offending value
 * shown when zod reports it (parse with `reportInput: true`; custom rules
 * name their values in the message instead).
 */
export function issuesFromZod(issues: readonly z.core.$ZodIssue[], prefix = ""): PipelineIssue[] {
  const out: PipelineIssue[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        out.push({ path: formatPath([...issue.path, key], prefix), message: `Unknown field "${key}"` });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === "invalid_union" && issue.errors.length > 0 && !("discriminator" in issue)) {
      const branches = issue.errors.map((b) => {
        const first = b[0];
        return first === undefined
          ? ""
          : first.path.length > 0
          ? `${formatPath(first.path)}: ${first.message}`
          : first.message;
      });
      message = `Invalid value: ${branches.filter((b) => b !== "").join("; or ")}`;
    }
    const input = (issue as { input?: unknown }).input;
    if (issue.code === "invalid_type" && typeof input === "number" && !Number.isFinite(input)) {
      // zod's "expected number, received NaN": say what is wanted, and show the value as written.
      message = `Expected a finite number, got ${input}`;
    } else if (issue.code === "invalid_type" && input === undefined) {
      message = issue.path.length === 1 && prefix === "" && issue.expected === "object"
        ? "Missing stage"
        : `Missing required field (expected ${issue.expected})`;
    } else if (input !== undefined && issue.code !== "custom") {
      message += ` (got ${showValue(input)})`;
    }
    out.push({ path: formatPath(issue.path, prefix), message });
  }
  return out;
}
