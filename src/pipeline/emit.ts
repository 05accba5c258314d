/**
 * `deno task pipeline <file> --emit slurm|k8s`: the batch job that runs a
 * sweep's shards on a cluster, one task per shard, each the same
 * container-free command line, `deno run … src/pipeline/cli.ts <file> --out
 * <out> --resume --shard i/N` (the permissions of deno.json's `pipeline`
 * task), in the quadjoint checkout on a filesystem every node shares.
 *
 * - **slurm**: an sbatch script with `--array=1-N`; task i runs
 *   `--shard $SLURM_ARRAY_TASK_ID/N`. `exec` makes Deno the job's process,
 *   so the SIGTERM Slurm sends at the time limit (or `scancel`) checkpoints
 *   the cell in flight.
 * - **k8s**: a batch/v1 Job with `completionMode: Indexed` and
 *   completions = parallelism = N; pod k (0-based `JOB_COMPLETION_INDEX`)
 *   runs `--shard $((JOB_COMPLETION_INDEX + 1))/N`.
 *
 * Resources, time limit, logs, partition and account come from the pipeline
 * file's `cluster` section (cluster.ts). Paths are made absolute, and those
 * inside this checkout are mapped onto `cluster.workdir` when it is given.
 * `--resume` makes a task that is run again (requeued, retried, resubmitted)
 * continue where it stopped.
 *
 * @module
 */
import { isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import type { Backend } from "../runtime/session.ts";
import { type ClusterConfig, ClusterSchema, SLURM_DEFAULT_MAX_ARRAY } from "./cluster.ts";
import type { PipelineConfig } from "./schema.ts";
import type { SweepCell } from "./sweep.ts";

/** What to emit and the run's command-line options that the shards repeat. */
export interface EmitOptions {
  /** An sbatch array script or a Kubernetes Indexed Job manifest. */
  kind: "slurm" | "k8s";
  /** The pipeline file, as given. */
  file: string;
  /** Whether the file's quick overrides apply (`config` has them applied already). @default false */
  quick?: boolean;
  /** The output root. @default "reports" */
  out?: string;
  /** The backend the shards ask for. @default "cpu" */
  backend?: Backend;
  /** ONNX Runtime threads per shard. @default the cluster section's cpus, else the runtime's choice */
  threads?: number;
  /** How many shards. @default the cluster section's shards, else one per cell */
  shards?: number;
  /** The permissions and entry point of a shard's command, from deno.json's `pipeline` task. @default read from deno.json */
  task?: string;
}

/** This quadjoint checkout (where deno.json is). */
const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

/** A word for sh: as is when it is plain, else in single quotes. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The `pipeline` task of deno.json: `deno run --allow-… src/pipeline/cli.ts`. */
async function pipelineTask(): Promise<string> {
  const json = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))) as { tasks?: Record<string, string> };
  const task = json.tasks?.pipeline;
  if (typeof task !== "string") throw new Error(`No pipeline task in ${join(ROOT, "deno.json")}`);
  return task;
}

/** Slurm's time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) in seconds. */
export function slurmSeconds(time: string): number {
  const dash = time.indexOf("-");
  const parts = time.slice(dash + 1).split(":").map(Number);
  if (dash >= 0) {
    const [h = 0, m = 0, s = 0] = parts;
    return ((Number(time.slice(0, dash)) * 24 + h) * 60 + m) * 60 + s;
  }
  const [x = 0, y = 0, z = 0] = parts;
  return parts.length === 1 ? x * 60 : parts.length === 2 ? x * 60 + y : (x * 60 + y) * 60 + z;
}

/** Slurm memory (`8G`, `512M`, `100` MiB) as a Kubernetes quantity (`8Gi`, `512Mi`, `100Mi`). */
export function kubernetesMemory(memory: string): string {
  const m = /^(\d+)([KMGT]?)$/.exec(memory);
  if (m === null) throw new RangeError(`Memory must be a number with an optional K, M, G or T suffix, got ${memory}`);
  return `${m[1]}${m[2] === "" ? "M" : m[2]}i`;
}

/** A DNS label for the job: the pipeline's name (`-quick` under --quick), `_` as `-`, at most 63 characters. */
function jobName(config: PipelineConfig, quick: boolean): string {
  return `${config.name}${quick ? "-quick" : ""}`.replace(/_/g, "-").slice(0, 63).replace(/-+$/, "");
}

/** What every shard runs, less the shard: the pieces both emitters need. */
interface Plan {
  cluster: ClusterConfig;
  workdir: string;
  count: number;
  name: string;
  /** The command line with `{SHARD}` where the shard's `i/N` goes. */
  command: (shard: string) => string;
  /** The output folder the shards share, as the nodes see it. */
  dir: string;
}

async function plan(config: PipelineConfig, cells: readonly SweepCell[], options: EmitOptions): Promise<Plan> {
  const cluster = config.cluster ?? ClusterSchema.parse({});
  const workdir = cluster.workdir ?? ROOT;
  // Paths inside this checkout are mapped onto the checkout the nodes see; others are taken as shared already.
  const onNodes = (path: string) => {
    const abs = resolve(path);
    const rel = relative(ROOT, abs);
    return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? join(workdir, rel) : abs === ROOT ? workdir : abs;
  };
  const count = options.shards ?? cluster.shards ?? Math.min(cells.length, SLURM_DEFAULT_MAX_ARRAY);
  if (count > cells.length) {
    throw new RangeError(
      `${count} shards for a sweep of ${cells.length} cells: ${count - cells.length} tasks would have nothing to ` +
        `run; give --shards (or cluster.shards) at most ${cells.length}`,
    );
  }
  const [deno, ...task] = (options.task ?? await pipelineTask()).trim().split(/\s+/);
  if (deno !== "deno") throw new Error(`deno.json's pipeline task must start with deno, got ${deno}`);
  const out = onNodes(options.out ?? "reports");
  const threads = options.threads ?? cluster.cpus;
  const args = [
    cluster.deno,
    ...task,
    onNodes(options.file),
    "--out",
    out,
    ...(options.quick ? ["--quick"] : []),
    // Whenever given, cpu included: it overrides the file's runtime.backend on the nodes as it does here.
    ...(options.backend !== undefined ? ["--backend", options.backend] : []),
    ...(threads !== undefined ? ["--threads", String(threads)] : []),
    "--resume",
    "--shard",
  ];
  const name = jobName(config, options.quick ?? false);
  const dir = join(out, options.quick ? `${config.name}-quick` : config.name);
  return { cluster, workdir, count, name, dir, command: (shard) => [...args.map(shellQuote), shard].join(" ") };
}

/**
 * An `#SBATCH` value as sbatch reads it (no shell): double-quoted when it holds whitespace, quotes, `\` or `#`
 * (outside quotes `#` starts a comment there and quotes pair up), with `\` and `"` escaped inside; a line break
 * cannot be written.
 */
function sbatchValue(option: string, value: string): string {
  if (/[\n\r]/.test(value)) {
    throw new RangeError(`${option} must not contain a line break (an #SBATCH line), got "${value}"`);
  }
  return /[\s"'#\\]/.test(value) ? `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"` : value;
}

/**
 * Seconds before a `time` limit at which a task is told to stop (`--signal=B:TERM@…`): two minutes, a tenth of a
 * limit under 20 minutes, none under 10 (Slurm may send it up to a minute early: it would stop the task at start).
 */
function signalMargin(time: string): number | undefined {
  const limit = slurmSeconds(time);
  const margin = Math.min(120, Math.floor(limit / 10));
  return limit >= 600 ? margin : undefined;
}

/** A whole `#SBATCH` option from cluster.sbatch: one token (`--mem=4G`, not `--mem 4G`), written as given. */
function sbatchOption(option: string): string {
  if (/\s/.test(option)) {
    throw new RangeError(`cluster.sbatch options must be one token each (--mem=4G, not --mem 4G), got "${option}"`);
  }
  return option;
}

function slurmScript(config: PipelineConfig, cells: readonly SweepCell[], p: Plan, options: EmitOptions): string {
  const c = p.cluster;
  const quick = options.quick ? " --quick" : "";
  const margin = c.time === undefined ? undefined : signalMargin(c.time);
  const lines = [
    "#!/bin/bash",
    `# quadjoint sweep ${config.name}${quick}: ${cells.length} cells in ${p.count} shards, one array task each.`,
    `# Written by: deno task pipeline ${options.file}${quick} --emit slurm. Submit with: sbatch <this file>`,
    `# Task i runs shard i/${p.count} into ${p.dir} with --resume, so a task run again continues where it stopped.`,
    `# When every task has ended, merge the shards into one results.json and report: deno task report ${p.dir}`,
    ...(p.count > SLURM_DEFAULT_MAX_ARRAY
      ? [
        `# ${p.count} array tasks: above Slurm's default MaxArraySize (1001, indices up to 1000), where sbatch refuses ` +
        "the array; check `scontrol show config | grep MaxArraySize`, or emit with --shards 1000 or fewer.",
      ]
      : []),
    `#SBATCH --job-name=${p.name}`,
    `#SBATCH --array=1-${p.count}`,
    `#SBATCH --chdir=${sbatchValue("cluster.workdir", p.workdir)}`,
    `#SBATCH --output=${sbatchValue("cluster.logs", c.logs ?? "%x-%A_%a.out")}`,
    "#SBATCH --ntasks=1",
    ...(c.cpus !== undefined ? [`#SBATCH --cpus-per-task=${c.cpus}`] : []),
    ...(c.memory !== undefined ? [`#SBATCH --mem=${c.memory}`] : []),
    ...(c.time !== undefined ? [`#SBATCH --time=${c.time}`] : []),
    // SIGTERM before the limit (the task's own shell is the CLI, by exec): time to finish the batch in flight and
    // checkpoint, where Slurm's own SIGTERM at the limit leaves KillWait (30 s by default) before SIGKILL.
    ...(margin !== undefined ? [`#SBATCH --signal=B:TERM@${margin}`] : []),
    ...(c.gpus !== undefined && c.gpus > 0 ? [`#SBATCH --gres=gpu:${c.gpus}`] : []),
    ...(c.partition !== undefined ? [`#SBATCH --partition=${c.partition}`] : []),
    ...(c.account !== undefined ? [`#SBATCH --account=${c.account}`] : []),
    ...(c.qos !== undefined ? [`#SBATCH --qos=${c.qos}`] : []),
    ...(c.sbatch ?? []).map((o) => `#SBATCH ${sbatchOption(o)}`),
    "set -euo pipefail",
    `exec ${p.command(`"\${SLURM_ARRAY_TASK_ID}/${p.count}"`)}`,
  ];
  return lines.join("\n") + "\n";
}

function k8sManifest(config: PipelineConfig, p: Plan, options: EmitOptions): string {
  const c = p.cluster;
  const labels = { "app.kubernetes.io/name": "quadjoint", "quadjoint/pipeline": config.name };
  const quantities: Record<string, string | number> = {
    ...(c.cpus !== undefined ? { cpu: String(c.cpus) } : {}),
    ...(c.memory !== undefined ? { memory: kubernetesMemory(c.memory) } : {}),
  };
  const limits = { ...quantities, ...(c.gpus !== undefined && c.gpus > 0 ? { "nvidia.com/gpu": c.gpus } : {}) };
  const mountPath = c.k8s.mountPath ?? p.workdir;
  const job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: p.name, ...(c.k8s.namespace !== undefined ? { namespace: c.k8s.namespace } : {}), labels },
    spec: {
      completionMode: "Indexed",
      completions: p.count,
      parallelism: p.count,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          ...(c.time !== undefined ? { activeDeadlineSeconds: slurmSeconds(c.time) } : {}),
          containers: [{
            name: "shard",
            image: c.k8s.image,
            workingDir: p.workdir,
            // JOB_COMPLETION_INDEX is 0-based; shards are 1-based.
            command: ["/bin/sh", "-c", `exec ${p.command(`"$((JOB_COMPLETION_INDEX + 1))/${p.count}"`)}`],
            ...(Object.keys(limits).length > 0
              ? { resources: { ...(Object.keys(quantities).length > 0 ? { requests: quantities } : {}), limits } }
              : {}),
            ...(c.k8s.volumeClaim !== undefined ? { volumeMounts: [{ name: "shared", mountPath }] } : {}),
          }],
          ...(c.k8s.volumeClaim !== undefined
            ? { volumes: [{ name: "shared", persistentVolumeClaim: { claimName: c.k8s.volumeClaim } }] }
            : {}),
        },
      },
    },
  };
  const head = [
    `# quadjoint sweep ${config.name}${options.quick ? " --quick" : ""}: ${p.count} shards as a Kubernetes Indexed ` +
    "Job; apply with: kubectl apply -f <this file>",
    `# Pod k runs shard k+1/${p.count} into ${p.dir}; merge when all completed: deno task report ${p.dir}`,
  ];
  return `${head.join("\n")}\n${stringify(job, { lineWidth: 0, aliasDuplicateObjects: false })}`;
}

/**
 * The batch job of a validated configuration (quick overrides applied) and
 * its cells: an sbatch array script or a Kubernetes Indexed Job manifest (YAML).
 *
 * @throws {RangeError} with more shards than cells, or a path with whitespace in an `#SBATCH` line.
 *
 * @example Two array tasks for a sweep of two cells
 * ```ts
 * import { emitJob } from "./emit.ts";
 * import { PipelineSchema } from "./schema.ts";
 * import { expandSweep } from "./sweep.ts";
 * const config = PipelineSchema.parse({
 *   name: "tiny",
 *   data: { kind: "analytic", T: { min: 1, max: 2, count: 2 } },
 *   solve: { rtol: 1e-8, atol: 1e-8 },
 *   gradient: { method: "gq" },
 *   evaluate: { metrics: ["gradient-error"] },
 *   sweep: { "gradient.method": ["gq", "adjoint"] },
 *   cluster: { time: "00:10:00", cpus: 2 },
 * });
 * const script = await emitJob(config, expandSweep(config), { kind: "slurm", file: "tiny.yaml" });
 * if (!script.includes("#SBATCH --array=1-2") || !script.includes('--shard "${SLURM_ARRAY_TASK_ID}/2"')) {
 *   throw new Error(script);
 * }
 * ```
 */
export async function emitJob(
  config: PipelineConfig,
  cells: readonly SweepCell[],
  options: EmitOptions,
): Promise<string> {
  const p = await plan(config, cells, options);
  return options.kind === "slurm" ? slurmScript(config, cells, p, options) : k8sManifest(config, p, options);
}
