/**
 * The data kinds, listed once: the pipeline schema's `data` union, the data
 * stage, the task stage and the cost model all read them from here.
 *
 * @module
 */
import { dirname, isAbsolute, resolve } from "node:path";
import type { PipelineIssue } from "../errors.ts";
import { analyticData } from "./analytic.ts";
import { crossingTrajectoriesData } from "./crossing_trajectories.ts";
import { csvData } from "./csv.ts";
import type { DataKind, KindOf } from "./data_kind.ts";
import { idxData } from "./idx.ts";
import { nestedSpheresData } from "./nested_spheres.ts";
import { npyData } from "./npy.ts";
import { ornsteinUhlenbeckData } from "./ornstein_uhlenbeck.ts";
import { sinesData } from "./sines.ts";

/** Every data kind, in the order the schema lists them. */
export const DATA_KINDS = [
  analyticData,
  crossingTrajectoriesData,
  csvData,
  idxData,
  nestedSpheresData,
  npyData,
  ornsteinUhlenbeckData,
  sinesData,
] as const;

/** The setting schema of each kind of a tuple of kinds, as a tuple (what `z.discriminatedUnion` takes). */
type SchemasOf<T extends readonly unknown[]> = {
  -readonly [I in keyof T]: T[I] extends { schema: infer S } ? S : never;
};

/** The kinds' setting schemas, in order. */
export type DataSchemas = SchemasOf<typeof DATA_KINDS>;

/** The schemas of {@linkcode DATA_KINDS}, in order. */
export const DATA_SCHEMAS = DATA_KINDS.map((k) => k.schema) as unknown as DataSchemas;

/** Each kind of a tuple of kinds as `{ kind, data }`, a union discriminated by `kind`. */
type DatasetOf<T extends readonly unknown[]> = {
  [I in keyof T]: T[I] extends DataKind<infer S, infer D> ? { readonly kind: KindOf<S>; readonly data: D } : never;
}[number];

/** Generated data of any kind, tagged with the kind. */
export type Dataset = DatasetOf<typeof DATA_KINDS>;

/**
 * The data kind named `kind`.
 *
 * @throws {RangeError} naming the known kinds when there is none of that name.
 */
export function dataKindOf(kind: string): DataKind {
  const found = DATA_KINDS.find((k) => k.kind === kind);
  if (!found) {
    throw new RangeError(`Unknown data kind "${kind}": use one of ${DATA_KINDS.map((k) => k.kind).join(", ")}`);
  }
  return found as unknown as DataKind;
}

/** The data kinds whose task is always classification (see {@linkcode isClassificationData} for kinds whose settings decide). */
export const CLASSIFICATION_DATA: readonly string[] = DATA_KINDS.filter((k) => k.classification === true).map((k) =>
  k.kind
);

/**
 * Whether `data` settings (validated or not: the schema's cross-stage rules
 * ask before every field has parsed) describe classification data.
 */
export function isClassificationData(data: unknown): boolean {
  const kind = (data as { kind?: unknown } | null)?.kind;
  const found = DATA_KINDS.find((k) => k.kind === kind) as DataKind | undefined;
  if (found === undefined) return false;
  const c = found.classification;
  return typeof c === "function" ? c(data as never) : c;
}

/**
 * Problems with validated `data` settings' files and their contents, by
 * the kind's `issues` (paths under `data`); empty for generated data.
 */
export function dataIssues(data: { readonly kind: string }): PipelineIssue[] {
  const kind = dataKindOf(data.kind);
  return (kind.issues?.(data) ?? []).map((i) => ({ ...i, path: i.path === "" ? "data" : `data.${i.path}` }));
}

/** `path` resolved against `dir` (absolute), unless it is absolute already. */
function under(dir: string, path: unknown): unknown {
  return typeof path === "string" && path !== "" && !isAbsolute(path) ? resolve(dir, path) : path;
}

/** A copy of `obj` with the strings at dotted `paths` resolved against `dir`. */
function resolvePaths(obj: unknown, paths: readonly string[], dir: string): unknown {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return obj;
  const out: Record<string, unknown> = { ...obj };
  for (const path of paths) {
    const [head, ...rest] = path.split(".");
    if (!(head! in out)) continue;
    out[head!] = rest.length === 0 ? under(dir, out[head!]) : resolvePaths(out[head!], [rest.join(".")], dir);
  }
  return out;
}

/**
 * A pipeline file's contents (before validation) with the relative file paths
 * of its data stage made absolute against the folder of `pipelineFile`: the
 * fields each kind lists in `files`, in `data`, in `quick.data` and in sweep
 * values of `data.<field>`. Absolute paths and everything else are left as
 * they are, and so is anything not shaped as expected (validation reports it).
 *
 * @example
 * ```ts
 * import { resolveDataFiles } from "./registry.ts";
 * const raw = { data: { kind: "csv", file: "data/a.csv", test: "/abs/b.csv" } };
 * const out = resolveDataFiles(raw, "/work/p/run.yaml") as { data: { file: string; test: string } };
 * if (out.data.file !== "/work/p/data/a.csv" || out.data.test !== "/abs/b.csv") throw new Error(out.data.file);
 * ```
 */
export function resolveDataFiles(raw: unknown, pipelineFile: string): unknown {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return raw;
  const dir = resolve(dirname(pipelineFile));
  const r = raw as Record<string, unknown>;
  const filesOf = (data: unknown): readonly string[] => {
    const kind = (data as { kind?: unknown } | null)?.kind;
    return (DATA_KINDS.find((k) => k.kind === kind) as DataKind | undefined)?.files ?? [];
  };
  const files = filesOf(r.data);
  const out: Record<string, unknown> = { ...r, data: resolvePaths(r.data, files, dir) };
  const quick = r.quick as Record<string, unknown> | undefined;
  if (typeof quick === "object" && quick !== null && "data" in quick) {
    const quickData = quick.data as { kind?: unknown } | undefined;
    const quickFiles = filesOf({ kind: quickData?.kind ?? (r.data as { kind?: unknown } | undefined)?.kind });
    out.quick = { ...quick, data: resolvePaths(quick.data, quickFiles, dir) };
  }
  const sweep = r.sweep;
  if (typeof sweep === "object" && sweep !== null && !Array.isArray(sweep)) {
    /** A sweep value for `data.<field>` (or the whole `data` when field is ""), resolved. */
    const resolveValue = (field: string, v: unknown): unknown => {
      if (field === "") return resolvePaths(v, filesOf(v), dir);
      const inside = files.filter((f) => f.startsWith(`${field}.`)).map((f) => f.slice(field.length + 1));
      const resolved = files.includes(field) ? under(dir, v) : v;
      return inside.length > 0 ? resolvePaths(resolved, inside, dir) : resolved;
    };
    out.sweep = Object.fromEntries(
      Object.entries(sweep).map(([key, values]) => {
        const field = key === "data" ? "" : key.startsWith("data.") ? key.slice(5) : undefined;
        if (field === undefined || !Array.isArray(values)) return [key, values];
        return [key, values.map((v) => resolveValue(field, v))];
      }),
    );
  }
  return out;
}

/** The data kinds of stochastic processes (trained as neural SDEs). */
export const STOCHASTIC_DATA: readonly string[] = DATA_KINDS.filter((k) => "stochastic" in k && k.stochastic).map((k) =>
  k.kind
);
