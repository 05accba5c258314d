/**
 * The memory check of the engine's validation: a cell whose configuration
 * cannot fit in this machine's memory is refused before any work starts
 * (exit 2), naming the field to lower and the estimate, rather than failing
 * after the run started with "Array buffer allocation failed" or growing
 * until the machine swaps.
 *
 * The estimate is a lower bound, of what a training cell must hold at once:
 *
 * - **parameters** (dynamics, diffusion, head, conv encoder) × their element
 *   size × 4: values, gradient and Adam's two moments. A dense layer has as
 *   many weights as multiply-adds per sample (the cost model's measure,
 *   cost.ts), a convolution those divided by its pixels; weights read from an
 *   ONNX file are not counted (the file was read already);
 * - **data**: the training samples' inputs and targets, 8 bytes a value;
 * - **solver states**: the batch × (the state × (the solver's stages + 3:
 *   solution, error estimate, next state) + the model's width × pixels: one
 *   hidden layer of f).
 *
 * Tapes of the direct method, checkpoints and ONNX Runtime's own buffers come
 * on top, so the check refuses only what cannot fit: a configuration it
 * passes may still not fit. The machine's memory is its RAM plus swap, or
 * the cgroup's limit when lower ({@linkcode machineMemory}); without the
 * `sys` permission there is no check.
 *
 * The field named is found by trying: of the configuration's integer fields
 * above 1 (under `data`, `model` and `train`), the one whose setting to 1
 * shrinks the estimate most.
 *
 * @module
 */
import { SOLVERS } from "../solvers/solver.ts";
import { dataKindOf } from "./data_kinds/registry.ts";
import { formatPath, type PipelineIssue } from "./errors.ts";
import { modelKindOf } from "./model_kinds/registry.ts";
import type { PipelineConfig } from "./schema.ts";
import { setPath, splitPath } from "./sweep.ts";
import { modelStateSize } from "./_model_state.ts";

/** Copies of every parameter training holds: values, gradient, Adam's first and second moments. */
export const PARAMETER_COPIES = 4;

/** Bytes of one value of the data (generated and read data are Float64Array). */
const DATA_BYTES = 8;

/** A lower bound of the memory one cell needs, by part. */
export interface MemoryEstimate {
  /** Trained parameters (not counting weights read from ONNX files). */
  readonly parameters: number;
  /** Bytes of one parameter and one state value (the model's dtype). */
  readonly elementBytes: number;
  /** Bytes of the parameters and their copies ({@linkcode PARAMETER_COPIES}). */
  readonly parameterBytes: number;
  /** Bytes of the training data. */
  readonly dataBytes: number;
  /** Bytes of one step's solver states and one hidden layer, for the whole batch. */
  readonly stateBytes: number;
  /** The sum. */
  readonly total: number;
}

type Model = NonNullable<PipelineConfig["model"]>;
type Dynamics = Model["dynamics"];

/** Weights of dynamics `d` on states of `stateDim` values (an image when `imageShape` is given). */
function dynamicsWeights(d: Dynamics, stateDim: number, imageShape?: readonly number[]): number {
  if (typeof (d as { file?: unknown }).file === "string") return 0; // read from the user's file
  const macs = modelKindOf(d.kind).macsPerSample(d, stateDim, imageShape);
  return macs / pixels(imageShape);
}

function pixels(imageShape?: readonly number[]): number {
  return imageShape?.length === 3 ? imageShape[1]! * imageShape[2]! : 1;
}

/** Weights and biases of dense layers of these sizes. */
function denseWeights(sizes: readonly number[]): number {
  let n = 0;
  for (let i = 1; i < sizes.length; i++) n += (sizes[i - 1]! + 1) * sizes[i]!;
  return n;
}

/** Weights of the head and of a conv encoder. */
function headAndEncoderWeights(model: Model, stateDim: number, outDim: number, dataShape?: readonly number[]): number {
  const head = model.head;
  let n = 0;
  if (head.kind === "linear") n += denseWeights([stateDim, head.outputs ?? outDim]);
  if (head.kind === "mlp") n += denseWeights([stateDim, ...head.hidden, head.outputs ?? outDim]);
  const encoder = model.encoder;
  if (encoder.kind === "conv") {
    const c = dataShape?.[0] ?? 1;
    n += 9 * (c * encoder.channels + encoder.channels * encoder.channels) + 4 * c;
  }
  return n;
}

/**
 * A lower bound of the memory a training cell (neural ODE or SDE) needs;
 * undefined for cells that train no model (the analytic problem) and where
 * the configuration cannot be sized (the task stage reports why).
 *
 * @example A width of 10⁵ needs about 150 GiB for its parameters alone
 * ```ts
 * import { memoryEstimate } from "./memory_check.ts";
 * import { PipelineSchema } from "./schema.ts";
 * const config = PipelineSchema.parse({
 *   name: "wide",
 *   data: { kind: "nested-spheres" },
 *   model: { dynamics: { kind: "mlp", width: 100_000 } },
 *   solve: {},
 *   gradient: { method: "gq" },
 *   train: { epochs: 1 },
 * });
 * const e = memoryEstimate(config)!;
 * if (!(e.parameters > 1e10 && e.parameterBytes > 140 * 2 ** 30)) throw new Error(`${e.parameters}`);
 * ```
 */
export function memoryEstimate(config: PipelineConfig): MemoryEstimate | undefined {
  const model = config.model;
  if (model === undefined) return undefined;
  try {
    const kind = dataKindOf(config.data.kind);
    const elementBytes = model.dtype === "float64" ? 8 : 4;
    const stages = SOLVERS[config.solve.solver].tableau.stages + 3;
    let parameters: number, samples: number, values: number, stateValues: number;
    if (kind.training !== undefined) {
      const sizes = kind.training.sizes(config.data);
      const { stateDim, imageShape } = modelStateSize(config, sizes);
      samples = kind.training.samplesPerEpoch(config.data);
      values = samples * (sizes.dataDim + sizes.outDim);
      parameters = dynamicsWeights(model.dynamics, stateDim, imageShape) +
        headAndEncoderWeights(model, stateDim, sizes.outDim, sizes.imageShape);
      const width = modelKindOf(model.dynamics.kind).width(model.dynamics);
      stateValues = stateDim * stages + width * pixels(imageShape);
    } else if (kind.stochastic === true) {
      // Paths of a one-dimensional process, observed every `every` up to `end` (data_kinds/ornstein_uhlenbeck.ts).
      const d = config.data as { train?: number; test?: number; paths?: number; end?: number; every?: number };
      const paths = d.paths ?? 1;
      samples = d.train ?? 1;
      values = ((d.train ?? 1) + (d.test ?? 0)) * paths * (Math.floor((d.end ?? 1) / (d.every ?? 1)) + 1);
      parameters = dynamicsWeights(model.dynamics, 1) + dynamicsWeights(model.diffusion ?? model.dynamics, 1);
      stateValues = paths * (2 + stages);
    } else {
      return undefined;
    }
    const batch = Math.min(config.train?.batchSize ?? samples, samples);
    const parameterBytes = parameters * elementBytes * PARAMETER_COPIES;
    const dataBytes = values * DATA_BYTES;
    const stateBytes = batch * stateValues * elementBytes;
    return {
      parameters,
      elementBytes,
      parameterBytes,
      dataBytes,
      stateBytes,
      total: parameterBytes + dataBytes + stateBytes,
    };
  } catch {
    return undefined; // a configuration the task stage refuses
  }
}

/**
 * The memory this process can have, in bytes: RAM plus swap, or the cgroup's
 * limit (a container's) when lower; undefined without the `sys` permission.
 */
export function machineMemory(): number | undefined {
  let info: Deno.SystemMemoryInfo;
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "systemMemoryInfo" }).state !== "granted") return undefined;
    info = Deno.systemMemoryInfo();
  } catch {
    return undefined;
  }
  let limit = info.total + info.swapTotal;
  for (const file of ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]) {
    try {
      const cgroup = Number(Deno.readTextFileSync(file).trim()); // "max" when unlimited: NaN
      if (cgroup > 0 && cgroup < limit) limit = cgroup;
    } catch {
      // no such file, or no read permission: no cgroup limit known
    }
  }
  return limit;
}

/** Bytes as `1.5 GiB`; beyond EiB in powers of ten. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let v = bytes, i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (v >= 1024) return `${bytes.toExponential(1).replace("e+", "e")} B`;
  return `${i === 0 ? v : v.toPrecision(3)} ${units[i]}`;
}

function formatCount(n: number): string {
  return n < 1e6 ? String(Math.round(n)) : n.toExponential(1).replace("e+", "e");
}

/** Dotted paths (`a.b.0`) of the integer leaves above 1 under `data`, `model` and `train`. */
function integerFields(config: PipelineConfig): string[] {
  const out: string[] = [];
  // Data read from files are sized by their files (data.subset aside): changing a field would read them again.
  const stages = dataKindOf(config.data.kind).files === undefined ? ["data", "model", "train"] : ["model", "train"];
  const stack: [string, unknown][] = stages.map((s) => [s, (config as Record<string, unknown>)[s]]);
  while (stack.length > 0) {
    const [path, v] = stack.pop()!;
    if (typeof v === "number" && Number.isInteger(v) && v > 1) out.push(path);
    else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v)) stack.push([`${path}.${k}`, x]);
    }
  }
  return out.sort();
}

/** The integer field whose setting to 1 shrinks the estimate most, and its value; undefined when none does. */
function largestField(config: PipelineConfig, total: number): { path: string; value: unknown } | undefined {
  let best: { path: string; value: unknown; total: number } | undefined;
  for (const path of integerFields(config)) {
    const smaller = memoryEstimate(setPath(config, path, 1) as PipelineConfig)?.total;
    if (smaller === undefined || smaller >= total) continue;
    if (best === undefined || smaller < best.total) {
      const value = splitPath(path).reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], config);
      best = { path, value, total: smaller };
    }
  }
  return best;
}

/**
 * The issue of a cell that cannot fit in `limit` bytes (the engine gives
 * this machine's, {@linkcode machineMemory}), at the field to lower, with the
 * estimate by part; empty when it fits, trains no model, or the limit is
 * unknown (undefined).
 *
 * @example A training set of 2·10⁹ points does not fit in 16 GiB
 * ```ts
 * import { memoryIssues } from "./memory_check.ts";
 * import { PipelineSchema } from "./schema.ts";
 * const config = PipelineSchema.parse({
 *   name: "big",
 *   data: { kind: "nested-spheres", trainPerClass: 1e9 },
 *   model: { dynamics: { kind: "mlp", width: 4 } },
 *   solve: {},
 *   gradient: { method: "gq" },
 *   train: { epochs: 1 },
 * });
 * const [issue] = memoryIssues(config, 16 * 2 ** 30);
 * if (issue?.path !== "data.trainPerClass") throw new Error(JSON.stringify(issue));
 * ```
 */
export function memoryIssues(config: PipelineConfig, limit: number | undefined): PipelineIssue[] {
  if (limit === undefined) return [];
  const e = memoryEstimate(config);
  if (e === undefined || e.total <= limit) return [];
  const parts = [
    `parameters ${formatBytes(e.parameterBytes)} (${formatCount(e.parameters)} × ${e.elementBytes} B × ` +
    `${PARAMETER_COPIES}: values, gradient and Adam's moments)`,
    `data ${formatBytes(e.dataBytes)}`,
    `solver states ${formatBytes(e.stateBytes)}`,
  ];
  const field = largestField(config, e.total);
  const largest = Math.max(e.parameterBytes, e.dataBytes, e.stateBytes);
  const part = largest === e.parameterBytes ? "model.dynamics" : largest === e.dataBytes ? "data" : "train.batchSize";
  const path = field ? formatPath(splitPath(field.path)) : part;
  const batchHint = config.train?.batchSize === undefined && e.total - e.stateBytes <= limit
    ? "; or set train.batchSize (the whole training set is one batch now)"
    : "";
  return [{
    path,
    message: `Needs at least ${formatBytes(e.total)} of memory, more than the ${formatBytes(limit)} this machine ` +
      `has: ${parts.join(", ")}; lower ${field ? `this value (got ${field.value})` : "the sizes"}${batchHint}`,
  }];
}
