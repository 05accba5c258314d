/**
 * The pipeline file schema (zod 4): stages `data`, `model`, `solve`,
 * `gradient`, `train`, `evaluate`, `memory`, `sweep`, `quick` and `report`, and `cluster` (cluster.ts: how
 * `--emit slurm|k8s` sizes a sweep's batch job).
 *
 * Every object is `.strict()`, so a misspelt key is an error rather than a
 * silently ignored setting. Defaults are applied by parsing and are listed in
 * each field's description (they also appear in `pipelines/schema.json`,
 * generated from this file by `src/pipeline/write_schema.ts`).
 *
 * Cross-field rules checked here (beyond per-field types and ranges):
 * - fixed-step solvers (euler, midpoint, rk4) need `solve.dt`;
 * - `model` and `train` are required unless `data.kind` is `"analytic"`, and
 *   refused when it is (the analytic problem has its own model, dz/dt = a·z);
 * - MLP dynamics give either `hidden` or `width` (+ `depth`), not both (model_kinds/mlp.ts);
 * - a learning-rate table has increasing `maxWidth` rows and covers the model's width;
 * - `accuracy` needs classification data, `gradient-error` the analytic problem;
 * - the `memory` stage measures the analytic problem only, and `peak-memory` needs it;
 * - nested spheres need r1 < r2 < r3;
 * - relative tolerances are no smaller than the model's element type can meet ({@linkcode MIN_RTOL}).
 *
 * Sweep paths and `quick` overrides are checked by re-validating whole
 * configurations; see `parse.ts` and `sweep.ts`.
 *
 * Why one file: one schema per stage, so the file format reads top to bottom; data and dynamics kinds have their own folders.
 *
 * @module
 */
import { z } from "zod";
import { CHART_KINDS } from "../results/records.ts";
import { DIRECT_ACTIVATIONS, GQ_NODES, METHOD_NAMES, STEP_CONTROLS } from "../gradients/method.ts";
import { ACTIVATIONS } from "../models/mlp.ts";
import { FIXED_STEP_SOLVER_NAMES, SOLVER_NAMES } from "../solvers/solver.ts";
import { DATA_SCHEMAS, isClassificationData, STOCHASTIC_DATA } from "./data_kinds/registry.ts";
import { DYNAMICS_SCHEMAS, dynamicsWidth } from "./model_kinds/registry.ts";
import { NOISE_SCHEMAS } from "./noise_kinds/registry.ts";
import { SDE_METHOD_NAMES } from "../sde/method_names.ts";
import { positive, positiveInt, seed } from "./fields.ts";
import { ClusterSchema } from "./cluster.ts";
import type { Backend } from "../runtime/session.ts";

// ---------------------------------------------------------------------------
// data: one schema per data kind, each in its own file under data_kinds/

/** The data stage: one of the generated datasets, chosen by `kind` (see data_kinds/registry.ts). */
export const DataSchema = z.discriminatedUnion("kind", DATA_SCHEMAS).describe("Dataset, generated from a seed");

// ---------------------------------------------------------------------------
// model

/** A layer from the user's ONNX file (`model.encoder` or `model.head` of kind onnx), trained from its weights. */
function onnxLayer(what: "encoder" | "head", shapes: string) {
  return z.object({
    kind: z.literal("onnx"),
    file: z.string().min(1).describe(
      `The .onnx file of the ${what}, ${shapes} (a torch export; a .onnx.data file beside it is ` +
        "read too), trained from its weights: relative to the pipeline file, or absolute",
    ),
    freeze: z.array(z.string().min(1)).default([]).refine((f) => new Set(f).size === f.length, {
      message: "Names in freeze must not repeat",
    }).describe(
      "Weights (float initializer names, e.g. l1.weight) kept constant; the others are trained. Default none",
    ),
  }).strict();
}

const EncoderSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("identity") }).strict(),
  z.object({
    kind: z.literal("augment"),
    dims: positiveInt.describe("Number of zero dimensions appended to the state (ANODE augmentation)"),
  }).strict(),
  z.object({
    kind: z.literal("conv"),
    channels: positiveInt.default(10).describe("Channels of the state it gives. Default 10 (the paper's)"),
  }).strict().describe(
    "The paper's image encoder (image data): BatchNorm (the training set's channel statistics, trained scale and " +
      "shift), ReLU, conv 3×3 → channels, max-pool 2, ReLU, conv 3×3; [C, H, W] images become [channels, H/2, W/2]",
  ),
  onnxLayer("encoder", "[rows, data] → [rows, …state]"),
]).describe('How inputs become the initial state. Default { kind: "identity" }');

const HeadSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("none") }).strict(),
  z.object({
    kind: z.literal("linear"),
    outputs: positiveInt.optional().describe("Output size. Default: the data's classes or output size"),
  }).strict(),
  z.object({
    kind: z.literal("mlp"),
    hidden: z.array(positiveInt).min(1).describe("Hidden layer widths"),
    activation: z.enum(ACTIVATIONS).default("relu").describe("Activation. Default relu"),
    outputs: positiveInt.optional().describe("Output size. Default: the data's classes or output size"),
  }).strict(),
  onnxLayer("head", "[rows, state] → [rows, outputs]"),
]).describe('Map from the final state to predictions. Default { kind: "none" }');

/** The model stage: encoder → ODE dynamics (first or second order) → head. */
export const ModelSchema = z.object({
  encoder: EncoderSchema.default({ kind: "identity" }),
  dynamics: z.discriminatedUnion("kind", DYNAMICS_SCHEMAS).describe("The vector field f(z, t, θ) (see model_kinds/)"),
  diffusion: z.discriminatedUnion("kind", DYNAMICS_SCHEMAS).optional()
    .describe("Diffusion g(z, t, θ_g) of a neural SDE (stochastic data only; diagonal noise). Default: like dynamics"),
  form: z.enum(["first-order", "second-order"]).default("first-order")
    .describe('"second-order": the state is (x, v) and f gives the acceleration. Default first-order'),
  head: HeadSchema.default({ kind: "none" }),
  dtype: z.enum(["float32", "float64"]).default("float32").describe("Element type of the model. Default float32"),
  initSeed: seed.default(0).describe("Seed of the weight initialisation. Default 0"),
}).strict();

// ---------------------------------------------------------------------------
// solve

/** The solve stage: solver, tolerances and time span. */
export const SolveSchema = z.object({
  solver: z.enum(SOLVER_NAMES).default("dopri5").describe("ODE solver. Default dopri5"),
  rtol: positive.default(1e-3).describe(
    "Relative tolerance: at least 1e-6 for a float32 model, 1e-14 for float64 (what the arithmetic can meet). " +
      "Default 1e-3",
  ),
  atol: positive.default(1e-3).describe("Absolute tolerance. Default 1e-3"),
  dt: positive.optional().describe("Step size: required by fixed-step solvers, initial step for adaptive ones"),
  maxSteps: positiveInt.default(100_000).describe("Step limit per solve. Default 100000"),
  times: z.object({
    start: z.number().default(0).describe("Start time. Default 0"),
    end: z.number().default(1).describe("End time. Default 1"),
  }).strict().optional().describe("Time span for data without their own times. Default 0…1"),
  backward: z.object({
    solver: z.enum(SOLVER_NAMES).optional().describe("Backward solver. Default: the forward one"),
    rtol: positive.optional().describe("Backward relative tolerance (same floor as rtol). Default: the forward one"),
    atol: positive.optional().describe("Backward absolute tolerance. Default: the forward one"),
  }).strict().optional().describe("Settings of the backward solve (adjoint, seminorm, gq)"),
}).strict().superRefine((s, ctx) => {
  const fixed = (name: string) => (FIXED_STEP_SOLVER_NAMES as readonly string[]).includes(name);
  if (fixed(s.solver) && s.dt === undefined) {
    ctx.addIssue({ code: "custom", path: ["dt"], message: `Solver "${s.solver}" has a fixed step and needs dt` });
  }
  if (s.backward?.solver !== undefined && fixed(s.backward.solver) && s.dt === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["backward", "solver"],
      message: `Backward solver "${s.backward.solver}" has a fixed step and needs solve.dt`,
    });
  }
  if (s.times !== undefined && s.times.start === s.times.end) {
    ctx.addIssue({
      code: "custom",
      path: ["times", "end"],
      message: `times.end must differ from start (${s.times.start})`,
    });
  }
});

// ---------------------------------------------------------------------------
// gradient

/** The gradient stage: which method computes dL/dθ. */
export const GradientSchema = z.object({
  method: z.enum([...METHOD_NAMES, ...SDE_METHOD_NAMES]).describe(
    "Gradient method: an ODE method (direct, adjoint, seminorm, gq), or for neural SDEs sde-direct / sde-adjoint " +
      "(reversible Heun); ODE methods train an SDE through the noise stage",
  ),
  stepControl: z.enum(STEP_CONTROLS).default("quadjoint").describe(
    'Backward step control of adjoint, seminorm and gq: "quadjoint" (one RMS norm, steps carried across ' +
      "intervals) or \"torchdiffeq\" (odeint_adjoint's and the GQ authors': largest per-tensor RMS, first step " +
      "chosen per interval). Default quadjoint",
  ),
  activations: z.enum(DIRECT_ACTIVATIONS).optional().describe(
    'What direct keeps of each solver step for its backward pass: "keep", the activations its VJP reads (fastest, ' +
      'memory grows with steps × batch × width, as in torch), or "recompute", the step\'s start state only. Default keep',
  ),
  gq: z.object({
    C: positive.default(0.1).describe(
      "Node-count factor of the paper's rule (nodes: interval): n_k = clamp(ceil(C·NFE·Δt_k/T), 1, 64). Default 0.1",
    ),
    nodes: z.enum(GQ_NODES).default("adaptive")
      .describe(
        '"adaptive": a rule of the solver\'s order on each run of backward steps step control allows, accurate to the ' +
          'tolerance; "interval": the paper\'s n_k per measurement interval; "per-step": one rule per backward step. ' +
          "Default adaptive",
      ),
    trajectory: z.enum(["backward", "checkpoint"]).default("backward")
      .describe("Where z in the integrand comes from. Default backward"),
    observe: z.enum(["interpolate", "clamp"]).default("interpolate")
      .describe("How states at nodes are read. Default interpolate"),
  }).strict().default({ C: 0.1, nodes: "adaptive", trajectory: "backward", observe: "interpolate" })
    .describe("Options of the gq method (kept, but unused, for other methods so sweeps over method work)"),
}).strict();

// ---------------------------------------------------------------------------
// train

/** One row of a learning-rate table: `lr` for widths up to `maxWidth` (a row without it matches any width). */
export const LearningRateRowSchema = z.object({
  maxWidth: positiveInt.optional().describe("Largest width this row applies to; omit in a last, catch-all row"),
  lr: positive.describe("Learning rate"),
}).strict();

/** A learning rate, or a table of rows by model width (as in the paper's appendix). */
export const LearningRateSchema = z.union([
  positive,
  z.array(LearningRateRowSchema).min(1).superRefine((rows, ctx) => {
    let last = 0;
    rows.forEach((row, i) => {
      if (row.maxWidth === undefined) {
        if (i !== rows.length - 1) {
          ctx.addIssue({ code: "custom", path: [i, "maxWidth"], message: "Only the last row may omit maxWidth" });
        }
      } else if (row.maxWidth <= last) {
        ctx.addIssue({
          code: "custom",
          path: [i, "maxWidth"],
          message: `maxWidth must increase down the table: ${row.maxWidth} after ${last}`,
        });
      } else {
        last = row.maxWidth;
      }
    });
  }),
]);

/**
 * When a training cell writes its checkpoint: after every `everyEpochs`-th
 * epoch, or once `everySeconds` have passed since the last one, whichever
 * comes first; without either, whenever the time since the last checkpoint
 * (or since training started) is at least 50 times what a save costs — the
 * last one's time, or the state's bytes at 500 MB/s where that is more. A
 * checkpoint does not depend on it: `--resume` continues from one written
 * under another schedule.
 */
export const CheckpointScheduleSchema = z.object({
  everyEpochs: positiveInt.optional().describe("Write a checkpoint after every this many epochs"),
  everySeconds: positive.optional().describe("Write a checkpoint once this many seconds have passed since the last"),
}).strict();

/** The train stage: Adam, epochs, batch size, seed and checkpoint schedule. */
export const TrainSchema = z.object({
  optimizer: z.object({
    kind: z.literal("adam").default("adam").describe('Optimiser. Only "adam". Default adam'),
    lr: LearningRateSchema.default(1e-3)
      .describe("Learning rate, or rows [{ maxWidth, lr }] chosen by the model's width. Default 1e-3"),
    betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.999])
      .describe("Moment decay rates. Default [0.9, 0.999]"),
    eps: positive.default(1e-8).describe("Denominator guard. Default 1e-8"),
    weightDecay: z.number().min(0).default(0).describe("L2 penalty added to the gradient (PyTorch Adam). Default 0"),
  }).strict().default({ kind: "adam", lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }),
  epochs: positiveInt.describe("Passes over the training data"),
  batchSize: positiveInt.optional().describe("Minibatch size. Default: the whole training set"),
  seed: seed.default(0).describe("Seed of the minibatch shuffles. Default 0"),
  loss: z.enum(["mse", "cross-entropy"]).optional()
    .describe("Loss. Default: cross-entropy for classification data, mse otherwise"),
  checkpoint: CheckpointScheduleSchema.optional().describe(
    "When to write the checkpoint --resume continues from. Default: whenever the time since the last one (or " +
      "since training started) is at least 50 times what a save costs: the last one's time, or the state's bytes " +
      "at 500 MB/s where that is more (checkpoints about 2% of the run). Always on Ctrl-C and when training fails",
  ),
}).strict();

// ---------------------------------------------------------------------------
// evaluate, memory, report

/** Metrics an evaluate stage may ask for. */
export const METRICS = ["accuracy", "mse", "kl", "loss", "nfe", "time", "gradient-error", "peak-memory"] as const;

/** The evaluate stage: metrics on the test data (or, for the analytic problem, against exact gradients). */
export const EvaluateSchema = z.object({
  metrics: z.array(z.enum(METRICS)).min(1).default(["loss", "nfe"]).refine(
    (m) => new Set(m).size === m.length,
    { message: "Metrics must not repeat" },
  ).describe(
    "Metrics: accuracy or mse picks the test metric (default: accuracy for classification, mse otherwise); " +
      "gradient-error and peak-memory select the analytic experiments. Loss, NFE and time are always recorded. " +
      "Default [loss, nfe]",
  ),
  every: positiveInt.default(1).describe("Evaluate every this many epochs. Default 1"),
}).strict();

/** The memory experiment: peak memory of each method at each tolerance (rtol = atol). */
export const MemorySchema = z.object({
  tolerances: z.array(positive).min(1).default([1e-3, 1e-4, 1e-5, 1e-6, 1e-7])
    .describe("Tolerances to measure at, each used as rtol = atol. Default 1e-3…1e-7"),
}).strict();

/** The report stage. */
export const ReportSchema = z.object({
  title: z.string().min(1).describe("Report title"),
  charts: z.array(z.enum(CHART_KINDS)).default(["training-time", "test-metric", "loss-curve"])
    .describe("Charts to draw. Default [training-time, test-metric, loss-curve]"),
  summary: z.boolean().default(true).describe("Include the summary table. Default true"),
}).strict();

/** The backends a pipeline may name (session.ts's `BACKENDS`, without loading ONNX Runtime here). */
const BACKEND_NAMES = ["cpu", "cuda", "webgpu"] as const satisfies readonly Backend[];

/** Where the graphs run; the command line's `--backend` and `--threads` win over these. */
export const RuntimeSchema = z.object({
  backend: z.enum(BACKEND_NAMES).default("cpu")
    .describe(
      "cpu, cuda or webgpu; a GPU backend that cannot start falls back to cpu with one warning line (cuda needs " +
        "`deno task setup-gpu` once). --backend wins. Default cpu",
    ),
  device: z.number().int().min(0).default(0).describe("CUDA device index. Default 0"),
  threads: z.number().int().min(0).default(0)
    .describe("ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose. --threads wins. Default 0"),
  strict: z.boolean().default(false)
    .describe("Fail instead of falling back to cpu when the backend cannot start. Default false"),
  // No default filled in: files without the field keep their cells' config hashes.
  flushDenormals: z.boolean().optional()
    .describe(
      "Flush subnormal floats to zero (x86 FTZ/DAZ) in ONNX Runtime's kernels, as JAX and TensorFlow do on the CPU: " +
        "arithmetic on them is tens of times slower, and saturated activations and long solves make them. " +
        "Process-wide, JavaScript's arithmetic included. Default true",
    ),
  tf32: z.boolean().optional()
    .describe(
      "cuda only: let cuBLAS and cuDNN run float32 products on TF32 tensor cores (10-bit mantissa; ONNX Runtime's " +
        "default). Off, float32 stays float32 (NVIDIA_TF32_OVERRIDE=0, process-wide). Default false",
    ),
}).strict();

// ---------------------------------------------------------------------------
// the whole file

/** Sweep: dotted field paths → lists of values; the run is the Cartesian product of all lists. */
export const SweepSchema = z.record(
  z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*(\.([A-Za-z][A-Za-z0-9_-]*|\d+))*$/, {
    message: 'Sweep keys are dotted field paths such as "model.dynamics.width"',
  }),
  z.array(z.unknown()).min(1),
).describe(
  'Dotted field paths → lists of values, e.g. { "model.dynamics.width": [5, 50], "gradient.method": ["direct", "gq"] }',
);

/** Most seeds a pipeline may list (or count). */
export const MAX_SEEDS = 100;

/** Seeds: every cell runs once per seed, as a list of seeds or a count (n means seeds 0 … n − 1). */
export const SeedsSchema = z.union([
  positiveInt.max(MAX_SEEDS),
  z.array(seed).min(1).max(MAX_SEEDS).refine((s) => new Set(s).size === s.length, {
    message: "Seeds must not repeat",
  }),
]).describe(
  "Run every cell once per seed: a list such as [0, 1, 2], or a count n for seeds 0 … n − 1. The seed replaces " +
    "model.initSeed, train.seed and the data's seed (generated data and file splits), and the report shows the " +
    "mean and min–max spread over seeds. Default: one run per cell with the seeds the file sets",
);

/** Overrides merged into the pipeline under `--quick` (objects merge recursively; lists and values replace). */
export const QuickSchema = z.record(z.string(), z.unknown())
  .describe("Overrides applied under --quick, in the shape of the pipeline itself, e.g. { train: { epochs: 2 } }");

/** Longest pipeline name: it names the output folder (`<name>-quick` under --quick), well within file-name limits. */
export const MAX_NAME_LENGTH = 100;

const BaseSchema = z.object({
  $schema: z.string().optional().describe("Path or URL of the JSON Schema, for editors"),
  name: z.string().max(MAX_NAME_LENGTH, { message: `Name must be at most ${MAX_NAME_LENGTH} characters` })
    .regex(/^[a-z0-9][a-z0-9_-]*$/, { message: "Name must be lowercase letters, digits, - and _" })
    .describe(`Pipeline name (used in output paths): lowercase letters, digits, - and _, at most ${MAX_NAME_LENGTH}`),
  description: z.string().optional(),
  data: DataSchema,
  model: ModelSchema.optional().describe("Required unless data.kind is analytic"),
  solve: SolveSchema,
  gradient: GradientSchema,
  train: TrainSchema.optional().describe("Required unless data.kind is analytic"),
  evaluate: EvaluateSchema.default({ metrics: ["loss", "nfe"], every: 1 }),
  memory: MemorySchema.optional(),
  noise: z.discriminatedUnion("kind", NOISE_SCHEMAS).optional()
    .describe("How an ODE gradient method sees a neural SDE's noise (stochastic data only; see noise_kinds/)"),
  sweep: SweepSchema.optional(),
  seeds: SeedsSchema.optional(),
  quick: QuickSchema.optional(),
  report: ReportSchema.optional(),
  runtime: RuntimeSchema.optional().describe("Backend, device, threads, strictness and subnormal mode of ONNX Runtime"),
  cluster: ClusterSchema.optional(),
}).strict();

/**
 * The pipeline schema. Parse with `PipelineSchema.safeParse`, or better with
 * `parsePipeline` (parse.ts), which also checks sweeps and quick overrides and
 * formats every issue with its path.
 *
 * @example Defaults are filled in
 * ```ts
 * import { PipelineSchema } from "./schema.ts";
 * const c = PipelineSchema.parse({
 *   name: "demo",
 *   data: { kind: "crossing-trajectories" },
 *   model: { dynamics: { kind: "mlp", width: 20 } },
 *   solve: {},
 *   gradient: { method: "gq" },
 *   train: { epochs: 10 },
 * });
 * if (c.solve.solver !== "dopri5" || c.gradient.gq.C !== 0.1) throw new Error("bad defaults");
 * ```
 */
export const PipelineSchema = BaseSchema.superRefine((c, ctx) => crossStageChecks(c, ctx), { when: () => true });

/** Reads `obj[k0][k1]…`, or undefined where anything on the way is not an object. */
function field(obj: unknown, ...keys: string[]): unknown {
  let v = obj;
  for (const k of keys) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/**
 * Rules that span stages. They run even when some fields failed to parse (so a
 * file's every problem is listed at once), hence the defensive reads.
 */
function crossStageChecks(c: unknown, ctx: z.core.$RefinementCtx<unknown>): void {
  const kind = field(c, "data", "kind");
  if (typeof kind !== "string") return;
  const analytic = kind === "analytic";
  for (const stage of ["model", "train"] as const) {
    const present = field(c, stage) !== undefined;
    if (analytic && present) {
      ctx.addIssue({
        code: "custom",
        path: [stage],
        message: `Stage "${stage}" is not used with data.kind "analytic" (its model is dz/dt = a·z); remove it`,
      });
    } else if (!analytic && !present) {
      ctx.addIssue({
        code: "custom",
        path: [stage],
        message: `Missing stage "${stage}" (needed for data.kind "${kind}")`,
      });
    }
  }
  const classification = isClassificationData(field(c, "data"));
  toleranceChecks(c, analytic, ctx);
  sdeChecks(c, kind, ctx);
  const metrics = field(c, "evaluate", "metrics");
  (Array.isArray(metrics) ? metrics : []).forEach((m, i) => {
    if (m === "accuracy" && !classification) {
      ctx.addIssue({
        code: "custom",
        path: ["evaluate", "metrics", i],
        message: `Metric "accuracy" needs classification data, not data.kind "${kind}"`,
      });
    }
    if (m === "gradient-error" && !analytic) {
      ctx.addIssue({
        code: "custom",
        path: ["evaluate", "metrics", i],
        message: `Metric "gradient-error" needs exact gradients: data.kind "analytic", not "${kind}"`,
      });
    }
  });
  const memory = field(c, "memory") !== undefined;
  if (memory && !analytic) {
    ctx.addIssue({
      code: "custom",
      path: ["memory"],
      message: `Stage "memory" measures the analytic problem, not data.kind "${kind}"; remove it`,
    });
  }
  if (Array.isArray(metrics) && metrics.includes("peak-memory") && !memory) {
    ctx.addIssue({
      code: "custom",
      path: ["evaluate", "metrics", metrics.indexOf("peak-memory")],
      message: 'Metric "peak-memory" needs a "memory" stage (memory: {} measures at tolerances 1e-3…1e-7)',
    });
  }
  if (field(c, "train", "loss") === "cross-entropy" && !classification) {
    ctx.addIssue({
      code: "custom",
      path: ["train", "loss"],
      message: `Loss "cross-entropy" needs classification data, not data.kind "${kind}"`,
    });
  }
  const lr = field(c, "train", "optimizer", "lr");
  const w = dynamicsWidth(field(c, "model", "dynamics"));
  if (Array.isArray(lr) && w !== undefined) {
    const maxWidths = lr.map((row) => field(row, "maxWidth"));
    if (maxWidths.every((m) => typeof m === "number" && m < w)) {
      ctx.addIssue({
        code: "custom",
        path: ["train", "optimizer", "lr"],
        message: `No learning-rate row covers the model width ${w}: add a row without maxWidth or with maxWidth ≥ ${w}`,
      });
    }
  }
}

/**
 * Smallest relative tolerance per element type, as powers of ten: 1e-6 for
 * float32 (8 units of roundoff, eps = 1.2e-7) and 1e-14 for float64 (45 eps,
 * eps = 2.2e-16; rounding builds up over the many steps so tight a tolerance
 * takes). Below them a step's error estimate is rounding noise, the step
 * size shrinks until `solve.maxSteps` stops the solve, and a run spends
 * minutes doing so (rtol = 1e-300 ran 99 s).
 */
export const MIN_RTOL = { float32: 1e-6, float64: 1e-14 } as const;

/**
 * Relative tolerances the model's element type can meet (see
 * {@linkcode MIN_RTOL}): `solve.rtol`, `solve.backward.rtol` and the memory
 * stage's tolerances (used as rtol; the analytic problem runs in float64).
 */
function toleranceChecks(c: unknown, analytic: boolean, ctx: z.core.$RefinementCtx<unknown>): void {
  const model = analytic || field(c, "model", "dtype") === "float64" ? "float64" : "float32";
  const exp = (v: number) => v.toExponential().replace("e+", "e");
  const check = (path: (string | number)[], value: unknown, dtype: "float32" | "float64", why: string) => {
    const floor = MIN_RTOL[dtype];
    if (typeof value === "number" && value > 0 && value < floor) {
      ctx.addIssue({
        code: "custom",
        path,
        message: `Tolerance ${exp(value)} is below what ${dtype} arithmetic can meet (${why}): use at least ` +
          exp(floor) + (dtype === "float32" ? `, or model.dtype float64 (at least ${exp(MIN_RTOL.float64)})` : ""),
      });
    }
  };
  const why = analytic ? "the analytic problem runs in float64" : `the model is ${model}`;
  check(["solve", "rtol"], field(c, "solve", "rtol"), model, why);
  check(["solve", "backward", "rtol"], field(c, "solve", "backward", "rtol"), model, why);
  const tolerances = field(c, "memory", "tolerances");
  (Array.isArray(tolerances) ? tolerances : []).forEach((t, i) =>
    check(["memory", "tolerances", i], t, "float64", "the memory stage runs the analytic problem, in float64")
  );
}

/** The rules of neural SDEs: stochastic data, the noise stage, the SDE methods and the solver step they need. */
/** Charts of neural SDEs only. */
const SDE_CHARTS: readonly unknown[] = ["cosines", "sde-densities", "sde-paths"];

function sdeChecks(c: unknown, kind: string, ctx: z.core.$RefinementCtx<unknown>): void {
  const stochastic = STOCHASTIC_DATA.includes(kind);
  const method = field(c, "gradient", "method");
  const sdeMethod = (SDE_METHOD_NAMES as readonly unknown[]).includes(method);
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  if (!stochastic) {
    if (sdeMethod) {
      issue(["gradient", "method"], `Method "${method}" trains neural SDEs: it needs stochastic data, not "${kind}"`);
    }
    if (field(c, "noise") !== undefined) {
      issue(["noise"], `Stage "noise" is for stochastic data, not data.kind "${kind}"; remove it`);
    }
    if (field(c, "model", "diffusion") !== undefined) {
      issue(["model", "diffusion"], `A diffusion is for stochastic data, not data.kind "${kind}"; remove it`);
    }
    const metrics = field(c, "evaluate", "metrics");
    if (Array.isArray(metrics) && metrics.includes("kl")) {
      issue(
        ["evaluate", "metrics", metrics.indexOf("kl")],
        `Metric "kl" needs stochastic data, not data.kind "${kind}"`,
      );
    }
    const charts = field(c, "report", "charts");
    (Array.isArray(charts) ? charts : []).forEach((chart, i) => {
      if (SDE_CHARTS.includes(chart)) {
        issue(["report", "charts", i], `Chart "${chart}" draws neural SDEs: it needs stochastic data, not "${kind}"`);
      }
    });
    return;
  }
  if (!sdeMethod && typeof method === "string" && field(c, "noise") === undefined) {
    issue(
      ["noise"],
      `Method "${method}" trains a neural SDE through noise: add noise: { kind: karhunen-loeve, cosines: 10 }`,
    );
  }
  if (field(c, "solve", "dt") === undefined) {
    issue(
      ["solve", "dt"],
      `Stochastic data need solve.dt: the step of the SDE solver (reversible Heun) that evaluates, and trains sde-* methods`,
    );
  }
}

/** A validated pipeline configuration, defaults filled in. */
export type PipelineConfig = z.infer<typeof PipelineSchema>;
/** The pipeline as written in a file (defaults optional). */
export type PipelineInput = z.input<typeof PipelineSchema>;
/** The data stage. */
export type DataConfig = z.infer<typeof DataSchema>;
/** The model stage. */
export type ModelConfig = z.infer<typeof ModelSchema>;
/** The solve stage. */
export type SolveConfig = z.infer<typeof SolveSchema>;
/** The gradient stage. */
export type GradientConfig = z.infer<typeof GradientSchema>;
/** The train stage. */
export type TrainConfig = z.infer<typeof TrainSchema>;
/** When a training cell writes its checkpoint. */
export type CheckpointSchedule = z.infer<typeof CheckpointScheduleSchema>;
/** A learning rate or a table by width. */
export type LearningRate = z.infer<typeof LearningRateSchema>;
/** The evaluate stage. */
export type EvaluateConfig = z.infer<typeof EvaluateSchema>;
/** The report stage. */
export type ReportConfig = z.infer<typeof ReportSchema>;

/**
 * The learning rate for a model width: a number is returned as is; in a table
 * the first row whose `maxWidth` is at least `width` (or has none) wins.
 *
 * @example Nested spheres' table from the paper
 * ```ts
 * import { learningRateFor } from "./schema.ts";
 * const table = [{ maxWidth: 20, lr: 5e-3 }, { maxWidth: 500, lr: 1e-3 }, { maxWidth: 1500, lr: 2e-4 }, { lr: 1e-4 }];
 * if (learningRateFor(table, 100) !== 1e-3 || learningRateFor(table, 3000) !== 1e-4) throw new Error("wrong row");
 * ```
 */
export function learningRateFor(lr: LearningRate, width: number): number {
  if (typeof lr === "number") return lr;
  for (const row of lr) {
    if (row.maxWidth === undefined || width <= row.maxWidth) return row.lr;
  }
  const widest = lr[lr.length - 1]?.maxWidth;
  throw new RangeError(`No learning-rate row covers width ${width}: the table stops at maxWidth ${widest}`);
}
