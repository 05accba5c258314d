/**
 * Sweeps and quick overrides: dotted-path edits of a pipeline configuration,
 * each result re-validated as a whole.
 *
 * A sweep `{ "model.dynamics.width": [5, 50], "gradient.method": ["direct", "gq"] }`
 * expands to the Cartesian product (4 cells; the first key varies slowest),
 * each with a stable id derived only from its values, so a resumed run finds
 * the cells it already finished.
 *
 * With `seeds: [0, 1, 2]` (or `seeds: 3`) every cell of the product runs once
 * per seed, the seed varying fastest: the seed replaces `model.initSeed`,
 * `train.seed` and the data's `seed`, and joins the cell's values as `seed`.
 *
 * Why one file: sweeps, seeds and quick overrides are the same dotted-path
 * edit followed by the same whole-configuration validation.
 *
 * @module
 */
import { z } from "zod";
import { issuesFromZod, PipelineError, type PipelineIssue } from "./errors.ts";
import { type PipelineConfig, PipelineSchema } from "./schema.ts";

/** One configuration of a sweep. */
export interface SweepCell {
  /** Stable identifier, e.g. `method-gq_width-50_1a2b3c4d`; `base` when there is no sweep. */
  readonly id: string;
  /** The swept values of this cell, by dotted path, in the sweep's key order; then `seed` with `seeds`. */
  readonly values: Readonly<Record<string, unknown>>;
  /** The validated configuration of this cell, without `sweep`, `quick`, `seeds` and `cluster`. */
  readonly config: PipelineConfig;
}

/** Splits a dotted path; all-digit segments become array indices. */
export function splitPath(path: string): (string | number)[] {
  return path.split(".").map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A copy of `target` with `value` at `path`; missing objects on the way are created. */
export function setPath(target: unknown, path: string, value: unknown): unknown {
  const root = structuredClone(target) as Record<string, unknown>;
  const segs = splitPath(path);
  let node: Record<string | number, unknown> = root;
  segs.forEach((seg, i) => {
    if (i === segs.length - 1) {
      node[seg] = structuredClone(value);
      return;
    }
    const next = node[seg];
    if (typeof next !== "object" || next === null) node[seg] = {};
    node = node[seg] as Record<string | number, unknown>;
  });
  return root;
}

/**
 * `override` merged into `base`: plain objects merge key by key, recursively;
 * arrays and other values in `override` replace those in `base`.
 *
 * @example
 * ```ts
 * import { deepMerge } from "./sweep.ts";
 * const m = deepMerge({ train: { epochs: 100, seed: 1 } }, { train: { epochs: 2 } }) as { train: object };
 * if (JSON.stringify(m.train) !== '{"epochs":2,"seed":1}') throw new Error("bad merge");
 * ```
 */
export function deepMerge(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return structuredClone(override);
  const out: Record<string, unknown> = structuredClone(base);
  for (const [k, v] of Object.entries(override)) out[k] = k in out ? deepMerge(out[k], v) : structuredClone(v);
  return out;
}

// --- path existence, checked against the JSON Schema of the input --------------------------------

type JsonSchema = {
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema | boolean;
  prefixItems?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
};

let inputJsonSchema: JsonSchema | undefined;

function resolve(node: JsonSchema, root: JsonSchema): JsonSchema {
  const ref = node.$ref;
  if (ref?.startsWith("#/$defs/")) return root.$defs?.[ref.slice(8)] ?? {};
  return node;
}

function hasPath(node: JsonSchema, segs: readonly (string | number)[], root: JsonSchema): boolean {
  node = resolve(node, root);
  if (segs.length === 0) return true;
  const branches = [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])];
  if (branches.some((b) => hasPath(b, segs, root))) return true;
  const [head, ...rest] = segs as [string | number, ...(string | number)[]];
  if (typeof head === "number") {
    const item = node.prefixItems?.[head] ?? node.items;
    return typeof item === "object" && hasPath(item, rest, root);
  }
  const prop = node.properties?.[head];
  if (prop !== undefined) return hasPath(prop, rest, root);
  const extra = node.additionalProperties;
  return typeof extra === "object" && hasPath(extra, rest, root);
}

/** Whether a dotted path names a field of the pipeline schema (under any variant of a union). */
export function isSchemaPath(path: string): boolean {
  inputJsonSchema ??= z.toJSONSchema(PipelineSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  return hasPath(inputJsonSchema, splitPath(path), inputJsonSchema);
}

// --- validation and expansion ---------------------------------------------------------------------

/**
 * What a cell's configuration leaves out of the pipeline's: the sweep itself, the quick overrides, the seeds (each
 * cell has its one) and `cluster` (how a batch job is sized changes no result, nor the cell's configuration hash).
 */
const CELL_EXCLUDED = ["sweep", "quick", "seeds", "cluster"] as const;

/** Most cells a sweep may expand to. */
export const MAX_SWEEP_CELLS = 10_000;

/** The fields a pipeline's `seeds` sets in each cell (those the configuration has). */
export const SEED_PATHS = ["model.initSeed", "train.seed", "data.seed"] as const;

/** The seeds of a configuration's `seeds` (a count n is 0 … n − 1); undefined without it. */
export function seedList(config: Pick<PipelineConfig, "seeds">): number[] | undefined {
  const s = config.seeds;
  if (s === undefined) return undefined;
  return typeof s === "number" ? Array.from({ length: s }, (_, i) => i) : [...s];
}

/** The configuration with `seed` in each of {@linkcode SEED_PATHS} it has. */
function withSeed(config: unknown, seed: number): unknown {
  let edited = config;
  for (const path of SEED_PATHS) {
    const [stage] = path.split(".") as [string];
    const node = (config as Record<string, unknown>)[stage];
    // data.seed only where the data kind has one (every kind that draws or splits does; defaults fill it in).
    if (typeof node !== "object" || node === null || (stage === "data" && !("seed" in node))) continue;
    edited = setPath(edited, path, seed);
  }
  return edited;
}

function withoutKeys(config: unknown, keys: readonly string[]): Record<string, unknown> {
  const out = structuredClone(config) as Record<string, unknown>;
  for (const k of keys) delete out[k];
  return out;
}

/** The product of the sweep lists, first key slowest. */
function product(sweep: Readonly<Record<string, readonly unknown[]>>): Record<string, unknown>[] {
  let cells: Record<string, unknown>[] = [{}];
  for (const [path, values] of Object.entries(sweep)) {
    cells = cells.flatMap((cell) => values.map((v) => ({ ...cell, [path]: v })));
  }
  return cells;
}

function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (isPlainObject(v)) {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/**
 * The stable id of a cell: `<last path segment>-<value>` pairs sorted by path,
 * then an 8-hex-digit hash of all paths and values (so distinct cells never
 * share an id, whatever their values look like as text).
 */
export function cellId(values: Readonly<Record<string, unknown>>): string {
  const paths = Object.keys(values).sort();
  if (paths.length === 0) return "base";
  const slug = paths.map((p) => {
    const last = p.split(".").pop() ?? p;
    const v = values[p];
    const text = typeof v === "object" && v !== null ? "obj" : String(v);
    return `${last}-${text}`.replace(/[^A-Za-z0-9.+-]+/g, "_").slice(0, 40);
  }).join("_");
  return `${slug}_${fnv1a(canonical(paths.map((p) => [p, values[p]])))}`;
}

/**
 * A value listed twice under one sweep path: the two cells would have one id
 * and write into one folder, the second replacing the first.
 */
function repeatedValueIssues(sweep: Readonly<Record<string, readonly unknown[]>>, paths: readonly string[]) {
  const issues: PipelineIssue[] = [];
  for (const path of paths) {
    const first = new Map<string, number>();
    (sweep[path] ?? []).forEach((value, i) => {
      const key = canonical(value);
      const j = first.get(key);
      if (j === undefined) {
        first.set(key, i);
        return;
      }
      const shown = key.length > 60 ? `${key.slice(0, 57)}...` : key;
      issues.push({
        path: `sweep.${path}[${i}]`,
        message: `Value ${shown} repeats sweep.${path}[${j}]: each value makes one cell, and two cells with the ` +
          "same values would write into one folder; list each value once",
      });
    });
  }
  return issues;
}

/**
 * Problems with a parsed configuration's sweep: unknown paths, forbidden
 * paths, a value listed twice under one path, too many cells, and every cell
 * that does not validate (reported against the sweep value(s) that made it
 * invalid). Empty when all is well.
 */
export function sweepIssues(config: PipelineConfig): PipelineIssue[] {
  const sweep = config.sweep;
  if (sweep === undefined) return [];
  const issues: PipelineIssue[] = [];
  const paths: string[] = [];
  for (const path of Object.keys(sweep)) {
    const head = path.split(".")[0];
    if (head === "sweep" || head === "quick" || head === "$schema" || head === "cluster" || head === "runtime") {
      // runtime: one Runtime serves every cell, so its settings cannot differ between cells.
      issues.push({ path: `sweep.${path}`, message: `Cannot sweep over "${head}"` });
    } else if (!isSchemaPath(path)) {
      issues.push({ path: `sweep.${path}`, message: `No field "${path}" in the pipeline schema` });
    } else {
      paths.push(path);
    }
  }
  issues.push(...repeatedValueIssues(sweep, paths));
  for (const inner of paths) {
    const outer = paths.find((p) => inner.startsWith(`${p}.`));
    if (outer !== undefined) {
      issues.push({
        path: `sweep.${inner}`,
        message: `sweep.${inner} lies inside sweep.${outer}, whose values replace it whole: sweep one of the two`,
      });
    }
  }
  const seeds = seedList(config);
  if (seeds !== undefined) {
    for (const path of paths.filter((p) => (SEED_PATHS as readonly string[]).includes(p))) {
      issues.push({
        path: `sweep.${path}`,
        message: `The pipeline's seeds set ${path} in every cell: list the values in seeds instead, or remove seeds`,
      });
    }
  }
  const count = paths.reduce((n, p) => n * (sweep[p]?.length ?? 1), 1) * (seeds?.length ?? 1);
  if (count > MAX_SWEEP_CELLS) {
    issues.push({ path: "sweep", message: `Sweep expands to ${count} cells; at most ${MAX_SWEEP_CELLS} are allowed` });
  }
  // Each value alone first: its issues are reported against the value itself.
  const base = withoutKeys(config, CELL_EXCLUDED);
  for (const path of paths) {
    (sweep[path] ?? []).forEach((value, i) => {
      const r = PipelineSchema.safeParse(setPath(base, path, value), { reportInput: true });
      if (!r.success) {
        for (const issue of issuesFromZod(r.error.issues)) {
          const where = issue.path === path ? "" : `${issue.path}: `;
          issues.push({ path: `sweep.${path}[${i}]`, message: `${where}${issue.message}` });
        }
      }
    });
  }
  if (issues.length > 0) return issues;
  // Then combinations, for rules that span fields.
  const seen = new Set<string>();
  for (const cell of product(sweep)) {
    let edited: unknown = base;
    for (const [p, v] of Object.entries(cell)) edited = setPath(edited, p, v);
    const r = PipelineSchema.safeParse(edited, { reportInput: true });
    if (r.success) continue;
    for (const issue of issuesFromZod(r.error.issues)) {
      const key = `${issue.path}: ${issue.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      issues.push({ path: "sweep", message: `In cell ${canonical(cell)}: ${key}` });
    }
  }
  return issues;
}

/**
 * Expands a validated configuration's sweep into cells, each re-validated
 * (defaults applied) and without `sweep`, `quick`, `seeds` and `cluster`. No sweep gives one cell
 * with id `base`.
 *
 * @example Width × method
 * ```ts
 * import { PipelineSchema } from "./schema.ts";
 * import { expandSweep } from "./sweep.ts";
 * const config = PipelineSchema.parse({
 *   name: "demo",
 *   data: { kind: "crossing-trajectories" },
 *   model: { dynamics: { kind: "mlp", width: 5 } },
 *   solve: {},
 *   gradient: { method: "gq" },
 *   train: { epochs: 1 },
 *   sweep: { "model.dynamics.width": [5, 50], "gradient.method": ["direct", "gq"] },
 * });
 * const cells = expandSweep(config);
 * if (cells.length !== 4 || cells[1]!.config.gradient.method !== "gq") throw new Error("bad expansion");
 * ```
 */
export function expandSweep(config: PipelineConfig, file = "(pipeline)"): SweepCell[] {
  const issues = sweepIssues(config);
  if (issues.length > 0) throw new PipelineError(file, issues);
  const base = withoutKeys(config, CELL_EXCLUDED);
  const seeds = seedList(config);
  const cells = product(config.sweep ?? {}).flatMap((swept) => {
    let edited: unknown = base;
    for (const [p, v] of Object.entries(swept)) edited = setPath(edited, p, v);
    const parsed = PipelineSchema.parse(edited);
    if (seeds === undefined) return [{ id: cellId(swept), values: swept, config: parsed }];
    return seeds.map((seed) => {
      const values = { ...swept, seed };
      return { id: cellId(values), values, config: PipelineSchema.parse(withSeed(parsed, seed)) };
    });
  });
  return distinctIds(cells);
}

/**
 * The cells with every id distinct: a later cell whose id an earlier one has (object values share their slug, so
 * only the 32-bit hash parts them: rare, but two cells in one folder would overwrite each other) gets `_2`, `_3`, …
 * in sweep order, the same on every expansion of the same sweep.
 */
export function distinctIds(cells: readonly SweepCell[]): SweepCell[] {
  const seen = new Map<string, number>();
  return cells.map((c) => {
    const n = (seen.get(c.id) ?? 0) + 1;
    seen.set(c.id, n);
    return n === 1 ? c : { ...c, id: `${c.id}_${n}` };
  });
}

/**
 * The configuration with its `quick` overrides merged in (see
 * {@linkcode deepMerge}) and re-validated; `quick` itself is dropped. A
 * configuration without `quick` comes back unchanged apart from that.
 */
export function applyQuick(config: PipelineConfig, file = "(pipeline)"): PipelineConfig {
  const issues = quickIssues(config);
  if (issues.length > 0) throw new PipelineError(file, issues);
  const base = withoutKeys(config, ["quick"]);
  return PipelineSchema.parse(config.quick === undefined ? base : deepMerge(base, config.quick));
}

/** Problems with a configuration's `quick` overrides, as paths under `quick`. Empty when all is well. */
export function quickIssues(config: PipelineConfig): PipelineIssue[] {
  if (config.quick === undefined) return [];
  if ("quick" in config.quick) return [{ path: "quick.quick", message: "Quick overrides cannot contain quick" }];
  const merged = deepMerge(withoutKeys(config, ["quick"]), config.quick);
  const r = PipelineSchema.safeParse(merged, { reportInput: true });
  const issues = r.success ? sweepIssues(r.data) : issuesFromZod(r.error.issues);
  return issues.map((i) => ({ path: `quick.${i.path}`, message: i.message }));
}
