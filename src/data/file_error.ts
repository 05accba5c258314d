/**
 * The error of every reader of users' data files (CSV, .npy/.npz, IDX): a
 * file that cannot be read, does not parse, or holds what the reader did not
 * expect. Its message starts with the file and says what was expected.
 *
 * @module
 */

/** What went wrong with a data file. */
export type DataFileProblem = "unreadable" | "syntax" | "content";

/**
 * A data file that cannot be used: `problem` says whether it could not be
 * read (missing, no permission), did not parse (`syntax`), or parsed but holds
 * the wrong thing (`content`: a missing column, a shape, a dtype).
 *
 * @example
 * ```ts
 * import { DataFileError } from "./file_error.ts";
 * const e = new DataFileError("a.csv", "content", 'no column "y" (columns: x, z)');
 * if (e.message !== 'a.csv: no column "y" (columns: x, z)' || e.file !== "a.csv") throw new Error(e.message);
 * ```
 */
export class DataFileError extends Error {
  /** The file, as the caller named it. */
  readonly file: string;
  /** The kind of problem. */
  readonly problem: DataFileProblem;
  /** What is wrong, without the file name. */
  readonly detail: string;

  /** An error about `file`: `detail` in sentence case, no final period. */
  constructor(file: string, problem: DataFileProblem, detail: string, options?: ErrorOptions) {
    super(`${file}: ${detail}`, options);
    this.name = "DataFileError";
    this.file = file;
    this.problem = problem;
    this.detail = detail;
  }
}

/**
 * The bytes of a file, or a {@linkcode DataFileError} (`unreadable`) that
 * names it and says why it could not be read.
 */
export function readDataFile(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "file not found"
      : e instanceof Deno.errors.IsADirectory
      ? "is a folder, not a file"
      : `cannot read the file (${(e as Error).message})`;
    throw new DataFileError(path, "unreadable", why, { cause: e });
  }
}
