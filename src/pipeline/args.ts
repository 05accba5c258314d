/**
 * Command-line arguments of `deno task pipeline`:
 *
 * ```
 * deno task pipeline <file> [--quick] [--backend cpu|cuda|webgpu] [--out DIR] [--resume | --overwrite] [--threads N]
 *                            [--shard i/N | --emit slurm|k8s [--shards N]]
 * ```
 *
 * Mistakes are {@linkcode UsageError}s, which the CLI prints with the usage
 * text and turns into exit code 2 before any work starts.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Backend, BACKENDS } from "../runtime/session.ts";
import { MAX_SHARDS } from "./cluster.ts";
import { parseShard, type ShardSpec } from "./shard.ts";

/** What `--emit` writes: an sbatch array script or a Kubernetes Indexed Job manifest. */
export const EMIT_KINDS = ["slurm", "k8s"] as const;

/** One of {@linkcode EMIT_KINDS}. */
export type EmitKind = typeof EMIT_KINDS[number];

/** The usage text. */
export const USAGE = `Usage: deno task pipeline <file> [options]

Runs the pipeline described by <file> (JSON or YAML).

Options:
  --quick             apply the file's quick overrides (seconds to minutes on 2 CPU cores);
                      results go to DIR/<pipeline name>-quick/, apart from a full run's
  --backend NAME      cpu, cuda or webgpu (default: the file's runtime.backend, else cpu; falls back
                      to cpu with a warning)
  --out DIR           output root; results go to DIR/<pipeline name>/ (default reports)
  --resume            skip sweep cells already finished in the output folder and continue
                      an unfinished one from its last epoch checkpoint
  --overwrite         replace the results already in the output folder (removed once the file
                      has validated); without --resume or --overwrite such a folder is refused
  --threads N         ONNX Runtime intra-op threads (default: runtime's choice)
  --shard i/N         run only the i-th of N shards of the sweep's cells (1-based: 1/N … N/N),
                      into the shared output folder; its results go to DIR/<name>/shards/i-of-N/,
                      and deno task report DIR/<name> merges the shards
  --emit slurm|k8s    print an sbatch array script (slurm) or a Kubernetes Indexed Job manifest
                      (k8s) that runs every shard, sized by the file's cluster section; runs nothing
  --shards N          shards of --emit (default: the file's cluster.shards, else one per cell)
  -h, --help          show this text`;

/**
 * Most intra-op threads `--threads` takes: ONNX Runtime starts one OS thread
 * each, and more threads than cores only slow a run down.
 */
export const MAX_THREADS = 1024;

/** Parsed command-line arguments. */
export interface PipelineArgs {
  /** The pipeline file. Empty when `help` is set and no file was given. */
  readonly file: string;
  /** Apply the file's `quick` overrides. */
  readonly quick: boolean;
  /** Requested backend, when given (else the file's `runtime.backend`, else cpu). */
  readonly backend?: Backend;
  /** Output folder, when given. */
  readonly out?: string;
  /** Skip sweep cells already finished; continue unfinished ones from their checkpoint. */
  readonly resume: boolean;
  /** Replace the results already in the output folder. */
  readonly overwrite: boolean;
  /** Intra-op threads, when given. */
  readonly threads?: number;
  /** Run only this shard of the sweep, when given. */
  readonly shard?: ShardSpec;
  /** Print a batch job for the sweep's shards instead of running, when given. */
  readonly emit?: EmitKind;
  /** Shards of `emit`, when given. */
  readonly shards?: number;
  /** Print the usage text and exit 0. */
  readonly help: boolean;
}

/** Bad command-line arguments; `exitCode` is 2 and the message says what to change. */
export class UsageError extends Error {
  /** Exit status for a CLI that stops on this error. */
  readonly exitCode = 2;

  /** An error with `message`; the CLI appends {@linkcode USAGE}. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Parses the pipeline CLI's arguments (without the program name).
 *
 * @throws {UsageError} on an unknown flag, a missing or extra file, a bad
 *   backend, a thread count that is not an integer in 1 … {@linkcode MAX_THREADS}, `--resume`
 *   with `--overwrite`, a `--shard` that is not `i/N` with 1 ≤ i ≤ N, an unknown `--emit` kind, `--shards`
 *   without `--emit`, or `--emit` with `--shard`, `--resume` or `--overwrite`.
 *
 * @example
 * ```ts
 * import { parsePipelineArgs } from "./args.ts";
 * const a = parsePipelineArgs(["pipelines/spheres.yaml", "--quick", "--backend", "webgpu"]);
 * if (!a.quick || a.backend !== "webgpu" || a.file !== "pipelines/spheres.yaml") throw new Error("bad parse");
 * ```
 */
export function parsePipelineArgs(argv: readonly string[]): PipelineArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        quick: { type: "boolean", default: false },
        backend: { type: "string" },
        out: { type: "string" },
        resume: { type: "boolean", default: false },
        overwrite: { type: "boolean", default: false },
        threads: { type: "string" },
        shard: { type: "string" },
        emit: { type: "string" },
        shards: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    // node:util names the flag in its message, e.g. "Unknown option '--fast'".
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ""));
  }
  const { values, positionals } = parsed;
  const help = values.help === true;
  if (positionals.length > 1) {
    throw new UsageError(`Expected one pipeline file, got ${positionals.length}: ${positionals.join(" ")}`);
  }
  const file = positionals[0] ?? "";
  if (file === "" && !help) throw new UsageError("Missing the pipeline file");
  const backend = values.backend;
  if (backend !== undefined && !(BACKENDS as readonly string[]).includes(backend)) {
    throw new UsageError(`Option --backend must be one of ${BACKENDS.join(", ")}, got "${backend}"`);
  }
  let threads: number | undefined;
  if (values.threads !== undefined) {
    threads = Number(values.threads);
    if (!/^\d+$/.test(values.threads) || !(threads >= 1)) {
      throw new UsageError(`Option --threads must be a positive integer, got "${values.threads}"`);
    }
    if (threads > MAX_THREADS) {
      const cores = navigator.hardwareConcurrency;
      throw new UsageError(
        `Option --threads must be at most ${MAX_THREADS} (this machine has ${cores} cores), got "${values.threads}"`,
      );
    }
  }
  if (values.resume === true && values.overwrite === true) {
    throw new UsageError(
      "Options --resume and --overwrite cannot be combined: --resume continues the results in the output folder, " +
        "--overwrite replaces them",
    );
  }
  if (values.out === "") throw new UsageError("Option --out must name a folder, got an empty string");
  let shard: ShardSpec | undefined;
  if (values.shard !== undefined) {
    try {
      shard = parseShard(values.shard);
    } catch (e) {
      throw new UsageError(`Option --shard: ${(e as Error).message}`);
    }
  }
  const emit = values.emit;
  if (emit !== undefined && !(EMIT_KINDS as readonly string[]).includes(emit)) {
    throw new UsageError(`Option --emit must be one of ${EMIT_KINDS.join(", ")}, got "${emit}"`);
  }
  let shards: number | undefined;
  if (values.shards !== undefined) {
    shards = Number(values.shards);
    if (!/^\d+$/.test(values.shards) || !(shards >= 1 && shards <= MAX_SHARDS)) {
      throw new UsageError(`Option --shards must be an integer in 1 … ${MAX_SHARDS}, got "${values.shards}"`);
    }
    if (emit === undefined) {
      throw new UsageError("Option --shards sizes --emit's batch job; to run one shard use --shard i/N");
    }
  }
  if (emit !== undefined) {
    const clash = [shard && "--shard", values.resume && "--resume", values.overwrite && "--overwrite"].filter(Boolean);
    if (clash.length > 0) {
      throw new UsageError(
        `Option --emit prints a batch job and runs nothing, so it cannot be combined with ${clash.join(", ")} ` +
          "(the job's shards run with --shard i/N --resume)",
      );
    }
  }
  return {
    file,
    quick: values.quick === true,
    ...(backend !== undefined ? { backend: backend as Backend } : {}),
    ...(values.out !== undefined ? { out: values.out } : {}),
    resume: values.resume === true,
    overwrite: values.overwrite === true,
    ...(threads !== undefined ? { threads } : {}),
    ...(shard !== undefined ? { shard } : {}),
    ...(emit !== undefined ? { emit: emit as EmitKind } : {}),
    ...(shards !== undefined ? { shards } : {}),
    help,
  };
}
