/**
 * The result records every part of quadjoint writes and reads: the pipeline
 * engine writes them to `results.json`, `deno task report` draws them, the
 * benchmarks write their measurements in the same file format. One type per
 * record; every field that carries a unit says it in its name
 * (`elapsedSeconds`, `epochSeconds`, `nfeForwardPerBatch`, `heldBytes`, …).
 *
 * Each record has a core the report needs (method, width, the measured value)
 * and optional fields the engine adds; {@linkcode TrainingRunRecord} and the
 * other `Training…`/`Analytic…` types are the engine's complete records.
 * The `Peer…` records are the peer benchmark's (bench/peers_bench.ts):
 * quadjoint set against the PyTorch code a user would otherwise run.
 *
 * Why one file: the records are one vocabulary, and a field's name (and its
 * unit) is chosen against its neighbours'; splitting them would hide the
 * names that must agree.
 *
 * @module
 */
import type { GradientStats } from "../gradients/problem.ts";

/** The results format this version writes. */
export const RESULTS_FORMAT = "quadjoint.results/3";

/** A number that may be missing (a failed or skipped measurement; JSON writes NaN and ±Infinity as null). */
export type MaybeNumber = number | null | undefined;

/** One training run: one method at one width with one seed. */
export interface RunRecord {
  /** Gradient method: `direct`, `adjoint`, `seminorm`, `gq`, or any other name. */
  method: string;
  /** Hidden width (or channel count) of the dynamics network. */
  width: number;
  /** Seed of the run; runs with the same method and width are averaged. */
  seed?: number;
  /** Minibatch size of the training steps (the x of a batch-size sweep). */
  batchSize?: number;
  /** Learning rate (runs that differ in it are drawn in panels of their own, not as seeds). */
  lr?: number;
  /** The cell's other swept values, as the report labels them (set by the report, not stored). */
  variant?: string;
  /** Wall-clock training time in seconds: every epoch's gradient steps, the test evaluations excluded. */
  trainSeconds?: MaybeNumber;
  /** Wall-clock seconds of the run's test evaluations (after epochs), apart from {@linkcode RunRecord.trainSeconds}. */
  evaluationSeconds?: MaybeNumber;
  /** Final test metric (accuracy, MSE, KL, …). */
  testMetric?: MaybeNumber;
  /** Mean forward NFE of one gradient (per batch). */
  nfeForwardPerBatch?: MaybeNumber;
  /** Mean backward NFE of one gradient (per batch): every evaluation of f or of a VJP of f, gq's nodes included. */
  nfeBackwardPerBatch?: MaybeNumber;
  /** Mean quadrature nodes of one gq gradient (per batch; counted in the backward NFE too). */
  nodesPerBatch?: MaybeNumber;
  /** Cosines of the Karhunen–Loève noise a neural SDE trained through; absent or null otherwise. */
  cosines?: MaybeNumber;
}

/** A finished training run as the pipeline engine writes it: a {@linkcode RunRecord} with every field. */
export interface TrainingRunRecord extends RunRecord {
  /** The sweep cell. */
  cellId: string;
  /** Seed of the run. */
  seed: number;
  /** Minibatch size of the training steps. */
  batchSize: number;
  /** Trainable scalars. */
  params: number;
  /** Completed epochs. */
  epochs: number;
  /** Learning rate used. */
  lr: number;
  /** Wall-clock training time in seconds, the test evaluations excluded. */
  trainSeconds: number | null;
  /** Wall-clock seconds of the test evaluations; null when a resumed checkpoint did not time them. */
  evaluationSeconds: number | null;
  /** Final test metric. */
  testMetric: number | null;
  /** Training loss of the last epoch. */
  trainLoss: number | null;
  /** Test loss after the last evaluation. */
  testLoss: number | null;
  /** Name of the test metric. */
  metric: string;
  /** Mean forward NFE per batch. */
  nfeForwardPerBatch: number | null;
  /** Mean backward NFE per batch. */
  nfeBackwardPerBatch: number | null;
  /** Mean gq nodes per batch. */
  nodesPerBatch: number | null;
  /** Mean wall-clock seconds of one epoch. */
  epochSeconds: number | null;
  /**
   * Wall-clock seconds spent writing checkpoints, over the run (apart from the epochs' times); null when a resumed
   * checkpoint did not time them.
   */
  checkpointSeconds: number | null;
  /**
   * Wall-clock seconds of the whole cell: data, model, epochs, checkpoints and the trained model's files. A resumed
   * run adds each earlier session's time up to its last checkpoint; null when a resumed checkpoint did not keep it.
   */
  wallSeconds: number | null;
  /** Bookkeeping: the most bytes of state one batch's gradient kept between its passes (counted, not measured). */
  heldBytes: number | null;
  /** Cosines of the Karhunen–Loève noise a neural SDE trained through; null for every other run. */
  cosines: number | null;
}

/** Test loss of one run after one epoch. */
export interface EpochRecord {
  /** Gradient method. */
  method: string;
  /** Hidden width of the dynamics network. */
  width: number;
  /** Minibatch size of the run's training steps. */
  batchSize?: number;
  /** Learning rate of the run (reports take it from the run of the same cell when absent). */
  lr?: number;
  /** Cosines of a neural SDE's noise (likewise). */
  cosines?: MaybeNumber;
  /** The cell's other swept values, as the report labels them (set by the report, not stored). */
  variant?: string;
  /** Seed of the run. */
  seed?: number;
  /** Epoch number, counting from 1. */
  epoch: number;
  /** Wall-clock seconds since the run started, at the end of this epoch (test evaluations included). */
  elapsedSeconds?: MaybeNumber;
  /** Test loss after this epoch. */
  testLoss?: MaybeNumber;
}

/** One epoch of one run as the pipeline engine writes it. */
export interface TrainingEpochRecord extends EpochRecord {
  /** The sweep cell. */
  cellId: string;
  /** Seed of the run. */
  seed: number;
  /** Minibatch size of the run's training steps. */
  batchSize: number;
  /** Wall-clock seconds since the run started. */
  elapsedSeconds: number;
  /** Test loss, when evaluated. */
  testLoss: number | null;
  /** Training loss of the epoch. */
  trainLoss: number;
  /** Test metric, when evaluated. */
  testMetric: number | null;
  /** Wall-clock seconds of this epoch alone (its test evaluation included). */
  epochSeconds: number;
  /** Wall-clock seconds of this epoch's test evaluation (part of epochSeconds; 0 when it evaluated nothing). */
  evaluationSeconds: number | null;
  /** Wall-clock seconds of the checkpoint written after this epoch (not part of epochSeconds; 0 when none was). */
  checkpointSeconds: number | null;
  /** Forward NFE summed over the epoch's batches. */
  nfeForwardPerEpoch: number;
  /** Backward NFE summed over the epoch's batches (every evaluation of f or of a VJP of f, gq's nodes included). */
  nfeBackwardPerEpoch: number;
  /** gq's quadrature nodes summed over the epoch's batches. */
  nodesPerEpoch: number;
}

/** Relative error of one gradient entry against its analytic value. */
export interface GradientErrorRecord {
  /** Gradient method. */
  method: string;
  /** End time of the integration. */
  T: number;
  /** Which gradient, e.g. `dL/dz0`, `dL/da`, `dL/dT`. */
  quantity: string;
  /** |computed − exact| / |exact|. */
  relativeError?: MaybeNumber;
}

/** Memory of one gradient computation at one solver tolerance. */
export interface MemoryRecord {
  /** Gradient method. */
  method: string;
  /** Solver tolerance (rtol = atol). */
  tolerance: number;
  /** Seed (repeat) of the measurement. */
  seed?: number;
  /**
   * Measured: the rise of the process's peak resident set size (getrusage's
   * ru_maxrss) over one gradient, forward and backward pass, in a fresh
   * process — ONNX Runtime's session creation for the method's graphs included.
   */
  peakRssBytes?: MaybeNumber;
  /** Bookkeeping: bytes of state the method keeps between its forward and backward pass (counted, not measured). */
  heldBytes?: MaybeNumber;
}

/** What one gradient of the analytic problem cost. */
export interface PerGradientCosts {
  /** Forward NFE. */
  nfeForwardPerGradient: number;
  /** Backward NFE (every evaluation of f or of a VJP of f, gq's nodes included). */
  nfeBackwardPerGradient: number;
  /** gq's quadrature nodes. */
  nodesPerGradient: number;
}

/** A gradient's statistics as {@linkcode PerGradientCosts}. */
export function perGradientCosts(stats: GradientStats): PerGradientCosts {
  return {
    nfeForwardPerGradient: stats.forward.nfe,
    nfeBackwardPerGradient: stats.backward.nfe,
    nodesPerGradient: stats.nodes,
  };
}

/** A gradient error of an analytic cell as the engine writes it. */
export interface AnalyticGradientErrorRecord extends GradientErrorRecord, PerGradientCosts {
  /** The sweep cell. */
  cellId: string;
}

/** A memory point of an analytic cell as the engine writes it. */
export interface AnalyticMemoryRecord extends MemoryRecord, PerGradientCosts {
  /** The sweep cell. */
  cellId: string;
  /** Seed of the cell (a repeat: the analytic problem itself is deterministic). */
  seed: number;
  /** End time of the integration. */
  T: number;
  /** The measured peak; null where the platform cannot measure it (see {@linkcode AnalyticMemoryRecord.peakRssError}). */
  peakRssBytes: number | null;
  /** Bookkeeping bytes. */
  heldBytes: number;
  /** Why peakRssBytes is null. */
  peakRssError?: string;
}

/** Whose samples a neural-SDE figure record describes: the trained model's, or the process that made the data. */
export type SdeSampleSource = "model" | "data";

/**
 * A point of a density curve at one time from one initial value, of a
 * trained neural SDE's samples or the data process's (the paper's Figure 15).
 */
export interface SdeDensityRecord {
  /** The sweep cell. */
  cellId: string;
  /** Gradient method the model trained with. */
  method: string;
  /** Hidden width of drift and diffusion. */
  width: number;
  /** The initial value. */
  x0: number;
  /** The time. */
  t: number;
  /** The state value. */
  x: number;
  /** Gaussian kernel density of the samples at x. */
  density: number;
  /** Whose samples. */
  source: SdeSampleSource;
}

/** A point of one sample path from one initial value (the paper's Figure 15). */
export interface SdePathRecord {
  /** The sweep cell. */
  cellId: string;
  /** Gradient method the model trained with. */
  method: string;
  /** Hidden width of drift and diffusion. */
  width: number;
  /** The initial value. */
  x0: number;
  /** Which path of that initial value, counting from 0. */
  path: number;
  /** The time. */
  t: number;
  /** The state. */
  value: number;
  /** Whose path. */
  source: SdeSampleSource;
}

/** One timed training epoch of a neural SDE (the SDE benchmark). */
export interface SdeEpochTimingRecord {
  /**
   * Method: `gq` (through Karhunen–Loève noise), `sde-direct` or
   * `sde-adjoint`, or the peer `torchsde sdeint_adjoint`.
   */
  method: string;
  /** Hidden width of drift and diffusion. */
  width: number;
  /** Training initial values. */
  initialValues: number;
  /** Sample paths per initial value. */
  paths: number;
  /** Initial values per batch. */
  batchSize: number;
  /** Median wall-clock seconds of one epoch. */
  epochSeconds: number;
  /** Forward evaluations of the epoch. */
  nfeForwardPerEpoch: number;
  /** Backward evaluations of the epoch. */
  nfeBackwardPerEpoch: number;
  /** epochSeconds ÷ torchsde sdeint_adjoint's at the same width, measured in the same run; absent without torchsde. */
  ratioToTorchsde?: number;
}

/** One timed gradient of the gradient benchmark (the median of its repeats). */
export interface GradientTimingRecord extends PerGradientCosts {
  /** Method label (`gq`, `gq paper`, `adjoint`, …). */
  method: string;
  /** Solver name. */
  solver: string;
  /** Hidden width of the MLP (0 for the analytic problem). */
  width: number;
  /** Batch size. */
  batch: number;
  /** State size. */
  dim: number;
  /** End of the time span [0, t1]. */
  t1: number;
  /** Trainable scalars. */
  params: number;
  /** Solver tolerance (rtol = atol). */
  tolerance: number;
  /** Median wall-clock seconds of one gradient. */
  gradientSeconds: number;
  /** Calls of a VJP graph per gradient. */
  vjpCallsPerGradient: number;
  /** Bookkeeping: bytes of state the method keeps between its passes (counted, not measured). */
  heldBytes: number;
  /**
   * Measured: the rise of the peak resident set over one gradient in a fresh
   * process, ONNX Runtime's session creation for the method's graphs
   * included; null where it was not measured (a variant, a --quick point, no
   * `--allow-run`: see {@linkcode GradientTimingRecord.peakRssError}).
   * Absent in files written before it was measured.
   */
  peakRssBytes?: number | null;
  /** Why peakRssBytes is null, when it was tried. */
  peakRssError?: string;
}

/**
 * One gradient method at one regime and width of the peer benchmark, in
 * quadjoint and in its PyTorch peer on the same θ, z0 and time grid (medians
 * of interleaved repeats). A `peer…` field is null when the peer did not run
 * (see {@linkcode PeerGradientRecord.peerError}).
 */
export interface PeerGradientRecord {
  /** Regime label: state size, batch and time span (`dim 4, batch 2`, `dim 5, batch 200, t ∈ [0, 10]`, …). */
  regime: string;
  /** State size. */
  dim: number;
  /** Batch size. */
  batch: number;
  /** End of the time span [0, t1]. */
  t1: number;
  /** Hidden width of the MLP (each of its hidden layers). */
  width: number;
  /** Trainable scalars. */
  params: number;
  /** quadjoint's gradient method (`direct`, `adjoint`, `seminorm`, `gq`). */
  method: string;
  /** The PyTorch peer it is set against (`torchdiffeq odeint`, `authors' GQ (gtol 0.1)`, …). */
  peer: string;
  /** Timed repeats of each library. */
  repeats: number;
  /** Median wall-clock seconds of one quadjoint gradient. */
  quadjointSeconds: number;
  /** Median wall-clock seconds of one peer gradient. */
  peerSeconds: number | null;
  /** quadjointSeconds / peerSeconds: below 1 quadjoint is faster. */
  ratio: number | null;
  /** quadjoint's forward NFE of one gradient. */
  quadjointNfeForwardPerGradient: number;
  /** The peer's forward NFE of one gradient. */
  peerNfeForwardPerGradient: number | null;
  /** quadjoint's backward NFE of one gradient (every evaluation of f or of a VJP of f, gq's nodes included). */
  quadjointNfeBackwardPerGradient: number;
  /** The peer's backward NFE of one gradient: calls of the torch module during backward() (0 for odeint). */
  peerNfeBackwardPerGradient: number | null;
  /** quadjoint's calls of a VJP graph per gradient. */
  vjpCallsPerGradient: number;
  /** quadjoint's gq quadrature nodes per gradient (0 for the other methods). */
  nodesPerGradient: number;
  /** ‖dL/dθ_quadjoint − dL/dθ_peer‖ / ‖dL/dθ_peer‖ over all parameters. */
  dthetaRelativeError: number | null;
  /** ‖dL/dz0_quadjoint − dL/dz0_peer‖ / ‖dL/dz0_peer‖. */
  dz0RelativeError: number | null;
  /** |L_quadjoint − L_peer| / |L_peer|. */
  lossRelativeDifference: number | null;
  /** Wall-clock seconds of each timed quadjoint gradient, in order. */
  quadjointTimesSeconds: number[];
  /** Wall-clock seconds of each timed peer gradient, in order (as the peer measured them). */
  peerTimesSeconds: number[];
  /** Why the peer has no time: its error, or that it was skipped. */
  peerError?: string;
}

/**
 * One method's full-batch training loop at one width of the peer benchmark
 * (the crossing-trajectories pipeline's model), in quadjoint and in its
 * PyTorch peer from the same start. A `peer…` field is null when the peer did
 * not run.
 */
export interface PeerTrainingRecord {
  /** Hidden width of the dynamics network. */
  width: number;
  /** quadjoint's gradient method. */
  method: string;
  /** The PyTorch peer it is set against. */
  peer: string;
  /** Epochs trained by each library, interleaved in rounds of one epoch each whose order alternates. */
  epochs: number;
  /** Median wall-clock seconds of one quadjoint epoch after the first (the first compiles graphs). */
  quadjointEpochSeconds: number;
  /** The same for the peer. */
  peerEpochSeconds: number | null;
  /** quadjointEpochSeconds / peerEpochSeconds: below 1 quadjoint is faster. */
  ratio: number | null;
  /** Wall-clock seconds of quadjoint's first epoch. */
  quadjointFirstEpochSeconds: number;
  /** Wall-clock seconds of the peer's first epoch. */
  peerFirstEpochSeconds: number | null;
  /** quadjoint's training loss of the first epoch. */
  quadjointFirstLoss: number;
  /** The peer's training loss of the first epoch. */
  peerFirstLoss: number | null;
  /** quadjoint's training loss of the last epoch. */
  quadjointLastLoss: number;
  /** The peer's training loss of the last epoch. */
  peerLastLoss: number | null;
  /** quadjoint's forward NFE of the last epoch. */
  quadjointNfeForwardPerEpoch: number;
  /** The peer's forward NFE of the last epoch. */
  peerNfeForwardPerEpoch: number | null;
  /** quadjoint's backward NFE of the last epoch (absent in files before it was recorded). */
  quadjointNfeBackwardPerEpoch?: number;
  /** The peer's backward NFE of the last epoch (0 for odeint, which backpropagates through its graph). */
  peerNfeBackwardPerEpoch?: number | null;
  /** Why the peer has no times: its error, or that it was skipped. */
  peerError?: string;
}

/**
 * What one of quadjoint's gradients in the peer benchmark reaches of a
 * machine limit: its work (bench/_peer_costs.ts's model) over its time, set
 * against the MatMul rate (wide batch) or the copy bandwidth (small state).
 */
export interface PeerLimitRecord {
  /** Regime label, as in {@linkcode PeerGradientRecord.regime}. */
  regime: string;
  /** Hidden width of the MLP. */
  width: number;
  /** Batch size. */
  batch: number;
  /** quadjoint's gradient method. */
  method: string;
  /** Work of one gradient in units of one forward evaluation of f. */
  workUnits: number;
  /** Median wall-clock seconds of one quadjoint gradient (its {@linkcode PeerGradientRecord.quadjointSeconds}). */
  gradientSeconds: number;
  /** Achieved rate, in {@linkcode PeerLimitRecord.rateUnit}. */
  achievedRate: number;
  /** Unit of the rates: `GFLOP/s` (MatMul rate) or `GB/s` (copy bandwidth). */
  rateUnit: string;
  /** The machine's limit, in {@linkcode PeerLimitRecord.rateUnit}. */
  limitRate: number;
  /** achievedRate / limitRate. */
  fraction: number;
  /** The same work over the peer's median seconds, as a fraction of the limit. */
  peerFraction: number | null;
}

/** Chart names, as a pipeline's `report.charts` and a results file's `charts` spell them. */
export const CHART_KINDS = [
  "training-time",
  "test-metric",
  "loss-curve",
  "nfe",
  "gradient-error",
  "memory",
  "cosines",
  "sde-densities",
  "sde-paths",
] as const;

/** One chart name of {@linkcode CHART_KINDS}. */
export type ChartKind = typeof CHART_KINDS[number];

/** A fact about the run shown in the report header; null shows as an em dash. */
export type MetaValue = string | number | boolean | null | undefined;

/** A setting as provenance records it: one value, or the distinct values of the cells when they differ. */
export type SettingValue = string | number | boolean | null | (string | number | boolean | null)[];

/**
 * Where a pipeline's results came from: the pipeline file, the code and
 * runtime versions, the machine and the settings that shape speed and
 * accuracy. Every field that could not be found is null; finding them never
 * fails a run.
 */
export interface Provenance {
  /** The pipeline file as given on the command line; null when the configuration did not come from a file. */
  pipelineFile: string | null;
  /** SHA-256 of the pipeline file's bytes, hex. */
  pipelineSha256: string | null;
  /** Whether the file's `quick` overrides were applied. */
  quick: boolean;
  /** The seeds every cell ran with (the pipeline's `seeds`); null without them. */
  seeds: number[] | null;
  /** ODE solver of the forward solve. */
  solver: SettingValue;
  /** Relative tolerance. */
  rtol: SettingValue;
  /** Absolute tolerance. */
  atol: SettingValue;
  /** Settings of the backward solve, or "as forward". */
  backwardSolve: SettingValue;
  /** Minibatch size; "full" for full-batch training, null without training. */
  batchSize: SettingValue;
  /** Epochs; null without training. */
  epochs: SettingValue;
  /** Backend the sessions ran on (after any fallback). */
  backend: string;
  /** Backend asked for. */
  backendRequested: string;
  /** ONNX Runtime intra-op threads asked for; 0 lets ONNX Runtime choose (one per physical core). */
  threads: number;
  /** Whether subnormal floats were flushed to zero (`RuntimeOptions.flushDenormals`); absent in files written before it was recorded. */
  flushDenormals?: boolean;
  /** CPU model name. */
  cpuModel: string | null;
  /** Logical CPU cores. */
  cpuCores: number | null;
  /** Operating system and architecture. */
  os: string;
  /** quadjoint's version (deno.json). */
  quadjointVersion: string | null;
  /** Deno's version. */
  denoVersion: string;
  /** V8's version. */
  v8Version: string;
  /** ONNX Runtime's version (onnxruntime-node). */
  onnxruntimeVersion: string | null;
  /** The git commit of quadjoint's checkout; null outside a git checkout or without git. */
  gitCommit: string | null;
  /** Whether tracked files differ from that commit; null when unknown. */
  gitDirty: boolean | null;
}

/** How a results file wants to be shown: what `deno task report` reads besides the records. */
export interface ReportHeader {
  /** Report title. */
  title: string;
  /** A line under the title. */
  subtitle?: string;
  /** Charts to draw, in any order (the report keeps its own order). @default every chart with data */
  charts?: readonly ChartKind[];
  /** Include the speed summary table (needs runs). @default true */
  summary?: boolean;
  /** Name of the runs' test metric (accuracy, MSE, …). @default "test metric" */
  metricLabel?: string;
  /** Log scale for the test metric (for MSE-like metrics). @default false */
  metricLogY?: boolean;
  /** Facts about the run (commit, date, machine, pipeline file, …). */
  meta?: Record<string, MetaValue>;
  /** Where the results came from (pipelines write it); drawn as the report's last section. */
  provenance?: Provenance;
  /**
   * A pipeline's cells and their swept values: the report names each training record by its method and its cell's
   * other swept values (those it does not draw as an axis, a panel or seeds).
   */
  cells?: readonly {
    readonly id: string;
    readonly values: Readonly<Record<string, unknown>>;
    /** The cell's outcome (pipelines: `done`, `failed`, …). */
    readonly status?: unknown;
  }[];
}

/** Everything an experiment measured, as plain records (each list optional). */
export interface ExperimentResults {
  /** One record per training run (method × width × seed). */
  runs?: RunRecord[];
  /** Test loss per run and epoch. */
  epochs?: EpochRecord[];
  /** Relative gradient errors of the analytic problem. */
  gradientErrors?: GradientErrorRecord[];
  /** Peak and bookkeeping memory per method and tolerance. */
  memory?: MemoryRecord[];
  /** Density curves of neural SDEs' samples against the data's. */
  sdeDensities?: SdeDensityRecord[];
  /** Sample paths of neural SDEs and of the data. */
  sdePaths?: SdePathRecord[];
  /** Timed gradients of the gradient benchmark. */
  gradientTimings?: GradientTimingRecord[];
  /** Timed epochs of the SDE benchmark. */
  sdeEpochTimings?: SdeEpochTimingRecord[];
  /** Gradients of the peer benchmark, quadjoint against PyTorch. */
  peerGradients?: PeerGradientRecord[];
  /** Training loops of the peer benchmark, quadjoint against PyTorch. */
  peerTraining?: PeerTrainingRecord[];
  /** quadjoint's gradients of the peer benchmark against the machine's limits. */
  peerLimits?: PeerLimitRecord[];
}

/** A results file: the format marker, the report header and the records. */
export interface ResultsFile extends Omit<ReportHeader, "title"> {
  /** Report title. @default the file's name */
  title?: string;
  /** Format marker, {@linkcode RESULTS_FORMAT}. */
  format: typeof RESULTS_FORMAT;
  /** The records. */
  results: ExperimentResults;
}

/** The records of one pipeline cell, or of a whole pipeline. */
export interface CellRecords {
  /** One record per finished training run. */
  runs: TrainingRunRecord[];
  /** One record per completed epoch. */
  epochs: TrainingEpochRecord[];
  /** Relative errors of the analytic problem, per T and quantity. */
  gradientErrors: AnalyticGradientErrorRecord[];
  /** Peak and bookkeeping memory per tolerance. */
  memory: AnalyticMemoryRecord[];
  /** A neural SDE's density curves against the data's, at three times from three initial values. */
  sdeDensities: SdeDensityRecord[];
  /** A neural SDE's sample paths and the data's, from the same initial values. */
  sdePaths: SdePathRecord[];
}

/** No records yet. */
export function emptyCellRecords(): CellRecords {
  return { runs: [], epochs: [], gradientErrors: [], memory: [], sdeDensities: [], sdePaths: [] };
}

/** Appends every record of `from` to `to`. */
export function appendCellRecords(to: CellRecords, from: CellRecords): void {
  to.runs.push(...from.runs);
  to.epochs.push(...from.epochs);
  to.gradientErrors.push(...from.gradientErrors);
  to.memory.push(...from.memory);
  // Cell results written before the SDE figures existed lack their lists.
  to.sdeDensities.push(...(from.sdeDensities ?? []));
  to.sdePaths.push(...(from.sdePaths ?? []));
}

/** What happened to a pipeline cell. */
export type CellStatus = "done" | "resumed" | "skipped" | "partial" | "failed" | "pending";

/** A cell's entry in a pipeline's results file. */
export interface CellSummary {
  /** Stable cell id. */
  id: string;
  /** Swept values. */
  values: Record<string, unknown>;
  /** Outcome. */
  status: CellStatus;
  /** The error, for failed cells. */
  error?: string;
}

/** A pipeline's results.json: a {@linkcode ResultsFile} with the pipeline's cells and complete records. */
export interface PipelineResults extends ResultsFile {
  /** Report title. */
  title: string;
  /** Pipeline name. */
  pipeline: string;
  /** "complete", or "interrupted" (checkpoints are kept for `--resume`). */
  status: "complete" | "interrupted";
  /** Include the speed summary. */
  summary: boolean;
  /** Name of the test metric. */
  metricLabel: string;
  /** Log scale for the test metric. */
  metricLogY: boolean;
  /** Facts about the run. */
  meta: Record<string, string | number | boolean | null>;
  /** Where the results came from (every run of this version writes it; files of earlier versions lack it). */
  provenance?: Provenance;
  /** Per-cell status. */
  cells: CellSummary[];
  /** The records. */
  results: CellRecords;
}
