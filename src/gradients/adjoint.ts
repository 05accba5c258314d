/**
 * The continuous adjoint and its seminorm variant.
 *
 * Backwards from t_K, the augmented state [z, a, a_θ, a_t] follows
 * dz/dt = f, da/dt = −aᵀ∂f/∂z, da_θ/dt = −aᵀ∂f/∂θ, da_t/dt = −aᵀ∂f/∂t. Each
 * part is a block of its own (a_θ one per parameter, in the model dtype), and
 * each step is one fused step graph call, so the θ-sized stage arithmetic runs
 * in ONNX Runtime. At each measurement time z is reset to the stored forward
 * state and a jumps by ∂L/∂z(t_k). With the seminorm, only [z, a] enter the
 * error norm (Kidger, Chen & Lyons 2021): a_θ and a_t feed nothing back.
 *
 * Step control (`stepControl`):
 * - `"quadjoint"` (default): one RMS norm over the blocks in the norm, every
 *   element weighing the same (so θ-sized a_θ dominates the full norm); each
 *   interval's solve starts with the step the previous one ended with.
 * - `"torchdiffeq"`: as `odeint_adjoint`: the norm is the largest of the
 *   per-tensor RMS norms — |a_t|, z, a and each parameter's a_θ (seminorm:
 *   |a_t|, z, a) — and every interval selects its first step afresh (Hairer's
 *   rule, in that norm). For like-for-like comparisons; step counts then
 *   equal torchdiffeq's (tests/fixtures/torchdiffeq_steps.json). One
 *   difference stays: torchdiffeq steps past each measurement time and
 *   interpolates back, quadjoint shortens the last step to land on it (the
 *   same number of steps, a different last step).
 *
 * @module
 */
import { adjointDynamicsGraph } from "./fused_graphs.ts";
import { DYNAMICS_NAMES } from "../models/dynamics.ts";
import { sizeOf } from "../onnx/tensor.ts";
import { solve } from "../solvers/integrate.ts";
import { onnxStepper } from "../solvers/onnx_stepper.ts";
import type { StepBlock, StepSystem } from "../solvers/step_graph.ts";
import type { FloatArray } from "../solvers/stepper.ts";
import {
  asFloat64,
  axpy,
  type BackwardResult,
  type GradientContext,
  type GradientStrategy,
  inDtype,
  loopOptions,
  measurementTimeGradients,
  solveForward,
} from "./_context.ts";

/** The continuous adjoint: the augmented system [z, a, a_θ, a_t] solved backwards. */
export interface AdjointMethod {
  /** Discriminant. */
  readonly kind: "adjoint";
  /** Error norm over all of the augmented state (`"full"`), or without a_θ (and, quadjoint's way, a_t) (`"seminorm"`). */
  readonly norm: "full" | "seminorm";
  /** Backward step control: quadjoint's own, or torchdiffeq's `odeint_adjoint` (see the module doc). */
  readonly stepControl: StepControl;
}

/** Backward step control of the adjoint methods. */
export type StepControl = typeof STEP_CONTROLS[number];

/** The step controls, as the pipeline spells them. */
export const STEP_CONTROLS = ["quadjoint", "torchdiffeq"] as const;

/** Options of {@linkcode adjoint} and {@linkcode seminorm}. */
export interface AdjointOptions {
  /** Backward step control. @default "quadjoint" */
  readonly stepControl?: StepControl;
}

/** `stepControl` checked (default "quadjoint"); `method` names the method in the error (adjoint's, gq's). */
export function checkedStepControl(stepControl: StepControl = "quadjoint", method = "adjoint"): StepControl {
  if (!STEP_CONTROLS.includes(stepControl)) {
    throw new RangeError(
      `${method} option stepControl must be one of ${
        STEP_CONTROLS.map((x) => `"${x}"`).join(", ")
      }, got "${stepControl}"`,
    );
  }
  return stepControl;
}

/**
 * The standard continuous adjoint (Chen et al. 2018), restarted at each
 * measurement time with the stored state and the jump in a.
 *
 * @example Step control as torchdiffeq's odeint_adjoint
 * ```ts
 * import { adjoint } from "./adjoint.ts";
 * if (adjoint({ stepControl: "torchdiffeq" }).stepControl !== "torchdiffeq") throw new Error("option lost");
 * ```
 */
export function adjoint(options: AdjointOptions = {}): AdjointMethod {
  return { kind: "adjoint", norm: "full", stepControl: checkedStepControl(options.stepControl) };
}

/**
 * The adjoint with a seminorm (Kidger, Chen & Lyons 2021): a_θ and a_t do not
 * take part in step-size control, so the backward pass takes fewer steps.
 */
export function seminorm(options: AdjointOptions = {}): AdjointMethod {
  return { kind: "adjoint", norm: "seminorm", stepControl: checkedStepControl(options.stepControl) };
}

/** The augmented system as step blocks: z, a, then a_θ per parameter and a_t, which only integrate. */
function augmentedSystem(ctx: GradientContext, method: AdjointMethod): StepSystem {
  const fused = adjointDynamicsGraph(ctx.dynamics);
  const full = method.norm === "full";
  const torchdiffeq = method.stepControl === "torchdiffeq";
  const hasTime = ctx.dynamics.graph.inputs.some((i) => i.name === DYNAMICS_NAMES.time);
  const blocks: StepBlock[] = [
    { name: "z", input: DYNAMICS_NAMES.state, output: fused.outputs.dz, inNorm: true, dense: false },
    { name: "a", input: fused.inputs.a, output: fused.outputs.da, inNorm: true, dense: false },
    ...ctx.dynamics.params.map((p, i) => ({
      name: `p${i}`,
      output: fused.outputs.params[p.name]!,
      inNorm: full,
      dense: false,
    })),
    // torchdiffeq keeps the time adjoint in its seminorm too — when t requires grad; otherwise its a_t stays 0, so
    // without time gradients a_t leaves the norm (it still integrates, unused).
    { name: "t", output: fused.outputs.dt, inNorm: (full || torchdiffeq) && ctx.timeGradients, dense: false },
  ];
  return {
    graph: fused.graph,
    ...(hasTime ? { time: DYNAMICS_NAMES.time } : {}),
    blocks,
    norm: torchdiffeq ? "mixed" : "rms",
  };
}

/** The adjoint's (and seminorm's) forward and backward passes. */
export const adjointStrategy: GradientStrategy<AdjointMethod> = {
  kind: "adjoint",
  async forward(ctx) {
    return { ...(await solveForward(ctx)), extraHeldBytes: 0 };
  },
  async backward(ctx, fwd, cotangents, method): Promise<BackwardResult> {
    const { n, zDims, dynamics, dtype } = ctx;
    const paramDims = dynamics.params.map((p) => p.shape);
    const stepper = await onnxStepper({
      runtime: ctx.runtime,
      system: augmentedSystem(ctx, method),
      solver: ctx.backward.solver,
      params: ctx.fixedInputs,
      dims: [zDims, zDims, ...paramDims, []],
      rtol: ctx.backward.rtol,
      atol: ctx.backward.atol,
    });
    const { dtimes, nfe: timeNfe } = await measurementTimeGradients(ctx, fwd.states, cotangents);
    const make = (size: number): FloatArray => (dtype === "float64" ? new Float64Array(size) : new Float32Array(size));
    const K = ctx.times.length - 1;
    const a = new Float64Array(n);
    let grads: FloatArray[] = paramDims.map((d) => make(sizeOf(d)));
    let at = 0;
    let accepted = 0, rejected = 0, nfe = 0, firstStep: number | undefined;
    for (let k = K; k >= 1; k--) {
      const ck = cotangents[k];
      if (ck) axpy(a, 1, ck);
      at -= dtimes[k]!;
      const y0 = [inDtype(fwd.states[k]!.slice(), dtype), inDtype(a.slice(), dtype), ...grads, make(1).fill(at)];
      const r = await solve(stepper, y0, ctx.times[k]!, ctx.times[k - 1]!, loopOptions(ctx.backward, firstStep));
      a.set(r.y1[1]!);
      grads = r.y1.slice(2, 2 + grads.length);
      at = r.y1[2 + grads.length]![0]!;
      accepted += r.stats.accepted;
      rejected += r.stats.rejected;
      nfe += r.stats.nfe;
      // torchdiffeq selects each interval's first step afresh.
      if (ctx.backward.solver.adaptive && method.stepControl === "quadjoint") firstStep = r.lastStep;
    }
    const c0 = cotangents[0];
    if (c0) axpy(a, 1, c0);
    dtimes[0] = at;
    return {
      dz0: asFloat64(a),
      dparams: Object.fromEntries(dynamics.params.map((p, i) => [p.name, grads[i]!])),
      dtimes,
      stats: { nfe: nfe + timeNfe, accepted, rejected },
      vjpEvals: nfe,
      nodes: 0,
      heldBytes: 0,
    };
  },
};
