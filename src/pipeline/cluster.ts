/**
 * The pipeline file's optional `cluster:` section: how
 * `deno task pipeline <file> --emit slurm|k8s` sizes the batch job that runs
 * the sweep's shards (emit.ts). It changes nothing a cell computes, so it is
 * not part of a cell's configuration (nor of its configuration hash).
 *
 * @module
 */
import { z } from "zod";
import { positiveInt } from "./fields.ts";

/** Most shards (array tasks) a sweep may be split into. */
export const MAX_SHARDS = 10_000;

/**
 * Most array tasks Slurm takes by default (MaxArraySize 1001: indices up to
 * 1000), and so the default shard count's cap: a larger sweep shares shards.
 */
export const SLURM_DEFAULT_MAX_ARRAY = 1000;

/** A word a scheduler takes as a name (partition, account, QoS). */
const schedulerName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
  message: "Must be letters, digits, '.', '_' and '-' (a scheduler name)",
});

/** Text that goes into a script line as one quoted word: no line breaks or NUL. */
const oneLine = z.string().min(1).regex(/^[^\n\r\0]+$/, { message: "Must be one line" });

/**
 * Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
 * (The k8s manifest turns it into activeDeadlineSeconds.)
 */
export const SLURM_TIME = /^(?:\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d{1,2}(?::\d{1,2}(?::\d{1,2})?)?)$/;

/** Memory as Slurm's --mem takes it: a number with an optional K, M, G or T suffix (MiB without one). */
export const MEMORY = /^\d+[KMGT]?$/;

/** The `cluster` section. */
export const ClusterSchema = z.object({
  shards: positiveInt.max(MAX_SHARDS).optional().describe(
    "Shards (array tasks, k8s completions) the sweep is split into; --shards overrides. Default: one per cell, " +
      "at most 1000 (Slurm's default MaxArraySize allows indices up to 1000)",
  ),
  time: z.string().regex(SLURM_TIME, { message: "Must be a Slurm time: minutes, HH:MM:SS or D-HH:MM:SS" })
    // Slurm reads 0 as no limit, Kubernetes refuses an activeDeadlineSeconds of 0: leave the field out instead.
    .refine((t) => /[1-9]/.test(t), { message: "Must be longer than 0 (leave time out for no limit)" })
    .optional().describe("Time limit of each shard (Slurm --time; the k8s pods' activeDeadlineSeconds)"),
  cpus: positiveInt.max(1024).optional().describe(
    "CPU cores per shard (--cpus-per-task; the k8s container's cpu request and limit), also its --threads " +
      "unless the command line gives them",
  ),
  memory: z.string().regex(MEMORY, { message: "Must be a number with an optional K, M, G or T suffix, e.g. 8G" })
    .optional().describe("Memory per shard, e.g. 8G (Slurm --mem; the k8s memory request and limit, as 8Gi)"),
  gpus: z.number().int().min(0).max(64).optional()
    .describe("GPUs per shard (Slurm --gres=gpu:N; the k8s nvidia.com/gpu limit)"),
  partition: schedulerName.optional().describe("Slurm partition"),
  account: schedulerName.optional().describe("Slurm account"),
  qos: schedulerName.optional().describe("Slurm quality of service"),
  logs: oneLine.optional().describe(
    "Slurm --output pattern of each array task's log (stdout and stderr), relative to workdir; its folder must " +
      "exist. Default %x-%A_%a.out (job name, array job id, task id) in workdir",
  ),
  sbatch: z.array(oneLine.regex(/^--[a-z]/, { message: "Must be a long sbatch option, e.g. --constraint=a100" }))
    .optional().describe("More sbatch options, one #SBATCH line each, e.g. [--constraint=a100, --requeue]"),
  deno: oneLine.default("deno").describe("The Deno executable on the nodes. Default deno (from PATH)"),
  workdir: oneLine.regex(/^\//, { message: "Must be an absolute path (the nodes' --chdir; a relative one doubles)" })
    .optional().describe(
      "The quadjoint checkout as the nodes see it (a shared filesystem), an absolute path; paths inside this " +
        "checkout are mapped onto it. Default: this checkout's absolute path",
    ),
  k8s: z.object({
    image: oneLine.default("denoland/deno:2.9.6").describe("Container image with Deno. Default denoland/deno:2.9.6"),
    namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { message: "Must be a DNS label" }).optional()
      .describe("Namespace of the Job"),
    volumeClaim: z.string().regex(/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/, { message: "Must be a DNS subdomain" })
      .optional().describe("PersistentVolumeClaim of the shared filesystem, mounted at mountPath"),
    mountPath: oneLine.optional().describe("Where the claim is mounted. Default: workdir"),
  }).strict().default({ image: "denoland/deno:2.9.6" }).describe("Kubernetes settings of --emit k8s"),
}).strict().describe(
  "How --emit slurm and --emit k8s size the batch job that runs the sweep's shards; changes no result",
);

/** A validated `cluster` section. */
export type ClusterConfig = z.infer<typeof ClusterSchema>;
