/**
 * What the data kinds that read users' files (csv, npy, idx) share: the
 * settings fields they have in common, loading with a small cache (the
 * checks, the sizes, the cost model and the cell all ask for the same data),
 * and turning a reader's error into a pipeline issue naming the field.
 *
 * @module
 */
import { z } from "zod";
import { DataFileError } from "../../data/file_error.ts";
import type { PipelineIssue } from "../errors.ts";
import { seed } from "../fields.ts";
import { type FileCache, fileCache } from "../file_cache.ts";

/** A file path field. */
export const filePath = z.string().min(1);

/** The share of rows held out for testing when there is no test file. */
export const testFraction = z.number().gt(0).lt(1).optional()
  .describe("Share of the rows held out for testing (seeded) when no test file is given. Default 0.2");

/** The default of {@linkcode testFraction}. */
export const DEFAULT_TEST_FRACTION = 0.2;

/** The seed of the split (and of any subset). */
export const splitSeed = seed.default(0).describe("Seed of the train/test split and of any subset. Default 0");

/** The three tasks of tabular and array data. */
export const TASKS = ["classification", "regression", "time-series"] as const;

/** One of {@linkcode TASKS}. */
export type FileTask = typeof TASKS[number];

/**
 * A problem with the data at a settings field (dotted, relative to `data`):
 * the error the loaders throw, turned into a {@linkcode PipelineIssue} by
 * {@linkcode issuesOf}.
 */
export class DataFieldError extends Error {
  /** The field at fault, e.g. `label` or `test.images`. */
  readonly field: string;
  /** An error at `field`. */
  constructor(field: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DataFieldError";
    this.field = field;
  }
}

/** Runs `read` (a reader of the file at `field`), turning its {@linkcode DataFileError} into a field's error. */
export function atField<T>(field: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof DataFileError) throw new DataFieldError(field, e.message, { cause: e });
    throw e;
  }
}

/**
 * The issues of loading data: none when `load` succeeds, the field's error
 * otherwise (path "" for the stage as a whole, for an error no field owns).
 */
export function issuesOf(load: () => unknown): PipelineIssue[] {
  try {
    load();
    return [];
  } catch (e) {
    if (e instanceof DataFieldError) return [{ path: e.field, message: e.message }];
    if (e instanceof Error) return [{ path: "", message: e.message }];
    throw e;
  }
}

/**
 * `load()`, or its result from an earlier call with equal settings while
 * none of `files` has changed (a few datasets, since a sweep's cells share
 * theirs; datasets can be large).
 */
export const cachedLoad: FileCache = fileCache(4);
