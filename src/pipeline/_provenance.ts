/**
 * The provenance of a pipeline run ({@linkcode Provenance}): the pipeline
 * file's SHA-256, the settings of its cells that shape speed and accuracy,
 * the versions of quadjoint, Deno, V8 and ONNX Runtime, the machine, and
 * quadjoint's git commit. Each fact that cannot be found is null: finding
 * them never fails a run (no git, no `--allow-run`, no `--allow-sys`, a
 * configuration that came from no file).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import type { Provenance, SettingValue } from "../results/records.ts";
import { machineCpu } from "../util/machine.ts";
import type { PipelineConfig } from "./schema.ts";
import { seedList } from "./sweep.ts";

/** What {@linkcode collectProvenance} starts from. */
export interface ProvenanceInput {
  /** The pipeline configuration as run (its `seeds`). */
  readonly config: PipelineConfig;
  /** The cells' configurations, in order. */
  readonly cells: readonly PipelineConfig[];
  /** The pipeline file, when there is one. */
  readonly file?: string | undefined;
  /** Whether `--quick` was applied. */
  readonly quick: boolean;
  /** ONNX Runtime threads asked for (0: its default). */
  readonly threads: number;
  /** Backend asked for. */
  readonly backendRequested: string;
  /** Backend the sessions run on. */
  readonly backend: string;
  /** Whether the runtime flushes subnormal floats to zero. */
  readonly flushDenormals: boolean;
}

/** One value when every cell agrees, else the distinct values in cell order. */
function setting(values: readonly (string | number | boolean | null)[]): SettingValue {
  const distinct = [...new Set(values)];
  return distinct.length === 1 ? distinct[0]! : distinct;
}

function backwardText(c: PipelineConfig): string {
  const b = c.solve.backward;
  if (b === undefined || (b.solver === undefined && b.rtol === undefined && b.atol === undefined)) return "as forward";
  return `${b.solver ?? c.solve.solver}, rtol ${b.rtol ?? c.solve.rtol}, atol ${b.atol ?? c.solve.atol}`;
}

async function fileSha256(file: string | undefined): Promise<string | null> {
  if (file === undefined) return null;
  try {
    return createHash("sha256").update(await Deno.readFile(file)).digest("hex");
  } catch {
    return null;
  }
}

/** Runs git in quadjoint's own folder; null on any failure (no git, not a checkout, no --allow-run). */
async function git(args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command("git", {
      args,
      cwd: dirname(fileURLToPath(import.meta.url)),
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(10_000),
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

async function quadjointVersion(): Promise<string | null> {
  try {
    const text = await Deno.readTextFile(new URL("../../deno.json", import.meta.url));
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return typeof version === "string" ? version : null;
  } catch {
    return null;
  }
}

/**
 * Collects the provenance of a run. Every lookup that fails gives null.
 *
 * @example
 * ```ts
 * import { collectProvenance } from "./_provenance.ts";
 * import { PipelineSchema } from "./schema.ts";
 * const config = PipelineSchema.parse({
 *   name: "p", data: { kind: "analytic" }, solve: {}, gradient: { method: "gq" }, seeds: 2,
 * });
 * const p = await collectProvenance({
 *   config, cells: [config], quick: false, threads: 1, backend: "cpu", backendRequested: "cpu", flushDenormals: true,
 * });
 * if (p.solver !== "dopri5" || p.seeds?.join() !== "0,1" || p.batchSize !== null) throw new Error(JSON.stringify(p));
 * ```
 */
export async function collectProvenance(input: ProvenanceInput): Promise<Provenance> {
  const { cells } = input;
  const [sha, version, commit, status] = await Promise.all([
    fileSha256(input.file),
    quadjointVersion(),
    git(["rev-parse", "HEAD"]),
    git(["status", "--porcelain", "--untracked-files=no"]),
  ]);
  const machine = machineCpu();
  const trained = cells.filter((c) => c.train !== undefined);
  return {
    pipelineFile: input.file ?? null,
    pipelineSha256: sha,
    quick: input.quick,
    seeds: seedList(input.config) ?? null,
    solver: setting(cells.map((c) => c.solve.solver)),
    rtol: setting(cells.map((c) => c.solve.rtol)),
    atol: setting(cells.map((c) => c.solve.atol)),
    backwardSolve: setting(cells.map(backwardText)),
    batchSize: trained.length === 0 ? null : setting(trained.map((c) => c.train!.batchSize ?? "full")),
    epochs: trained.length === 0 ? null : setting(trained.map((c) => c.train!.epochs)),
    backend: input.backend,
    backendRequested: input.backendRequested,
    threads: input.threads,
    flushDenormals: input.flushDenormals,
    cpuModel: machine.model,
    cpuCores: machine.cores,
    os: `${Deno.build.os}-${Deno.build.arch}`,
    quadjointVersion: version,
    denoVersion: Deno.version.deno,
    v8Version: Deno.version.v8,
    onnxruntimeVersion: ort.env.versions.node ?? ort.env.versions.common ?? null,
    gitCommit: commit === "" ? null : commit,
    gitDirty: commit === null || status === null ? null : status !== "",
  };
}
