/**
 * The GQ adjoint (Norcliffe & Deisenroth 2023): only [z, a] is solved
 * backwards; dL/dθ = Σ_k ∫_{t_{k−1}}^{t_k} aᵀ∂f/∂θ dt and the time term
 * ∫ aᵀ∂f/∂t dt come from Gauss–Legendre quadrature.
 *
 * Per measurement interval one backward solve runs through all its nodes, one
 * fused step graph call per step; the state at a node comes from the solver's
 * dense output (or a step clamped onto it). The nodes' (z, w·a) are buffered
 * and their integrands computed in batches by one graph call each (see
 * `_param_vjp.ts`), which also keeps the running sums, so no θ-sized array is
 * touched on the host until the end.
 *
 * Where the nodes go (`nodes`):
 * - `"adaptive"` (the default, beyond the paper): the quadrature follows the
 *   backward solve's error control. Accepted backward steps are grouped into
 *   panels, each no longer than the step the controller proposes next, and
 *   every panel gets a Gauss–Legendre rule of the solver's order
 *   (⌈(order+1)/2⌉ nodes: 3 for dopri5, exact to degree 5). Why that is
 *   error control: the integrand aᵀ∂f/∂θ depends on t only through z(t),
 *   a(t) and t, which the controller has just judged to be one polynomial of
 *   the solver's order to within rtol/atol over that length; a rule exact to
 *   that degree then errs by the same order as the step itself (O(h^{order+1})
 *   per panel), so the quadrature error shrinks with the tolerance as the
 *   solve's does — the way the seminorm adjoint's a_θ, integrated by the
 *   same steps, is accurate without being in the norm. Steps much shorter
 *   than the controller then allows (the first steps, a step landing on a
 *   measurement time) share a panel with a neighbour; in steady stepping a
 *   panel is one step. There is no a-posteriori estimate: the error control
 *   is the step controller's. Measured on MLPs against a tight-tolerance reference, its
 *   dL/dθ error equals the adjoint's at rtol 1e-3, 1e-6 and 1e-9 (one node
 *   fewer per step, two, measured 6–15× worse). Memory: the dense
 *   outputs of at most {@linkcode MAX_PANEL_STEPS} steps ([z, a]-sized).
 * - `"interval"`: the paper's rule, n_k = clamp(⌈C·NFE·Δt_k/T⌉, 1, 64) nodes
 *   per measurement interval from the forward NFE. Cheapest, but blind to
 *   the tolerance: with C = 0.1 and ~20 forward evaluations it is one or two
 *   nodes per interval, and dL/dθ errors of 1e-4–7e-4 at
 *   any rtol. Kept for
 *   reproducing the paper (its pipelines name it).
 * - `"per-step"`: the adaptive rule without panels, one rule per step.
 *
 * The step rules' error control assumes a dense output of at least the solver's order − 1. dopri8's is 4th order,
 * so with dopri8 they err 100–1000× more than the adjoint; there the interval rule with `observe: "clamp"` (node
 * states at step ends) is accurate.
 *
 * Beyond the paper as well:
 * - `trajectory: "checkpoint"` re-solves z forward over each interval from the
 *   stored state and solves only a backwards along that trajectory, which
 *   avoids the instability of reconstructing z backwards. The forward solve
 *   keeps a checkpoint every 16 steps and replays one segment at a time
 *   (see `_replay.ts`): about two extra forward solves, little memory. This
 *   variant steps on the host in float64 (z comes from the replay, not from
 *   the backward state), and its panels are single steps (the replay runs
 *   forward through time once).
 *
 * Why one file: the method, its node rules and its panels are one algorithm, read together to check the quadrature.
 *
 * @module
 */
import { checkedStepControl, type StepControl } from "./adjoint.ts";
import { gqBackwardGraph } from "./fused_graphs.ts";
import { DYNAMICS_NAMES } from "../models/dynamics.ts";
import { integrate, solve, type SolveOptions, type VectorField } from "../solvers/integrate.ts";
import { onnxStepper } from "../solvers/onnx_stepper.ts";
import type { StepSystem } from "../solvers/step_graph.ts";
import {
  asFloat64,
  axpy,
  type BackwardResult,
  type ForwardResult,
  type GradientContext,
  type GradientStrategy,
  inDtype,
  loopOptions,
  measurementTimeGradients,
  solveForward,
  solveOptions,
} from "./_context.ts";
import { BoundGraph } from "../runtime/bound_graph.ts";
import { ParamGradientAccumulator } from "./_param_vjp.ts";
import { SegmentedTrajectory } from "./_replay.ts";
import { mapToInterval, MAX_GAUSS_LEGENDRE_NODES } from "./gauss_legendre.ts";

/** The GQ adjoint: [z, a] backwards; dL/dθ and dL/dt₀ by Gauss–Legendre quadrature. */
export interface GqMethod {
  /** Discriminant. */
  readonly kind: "gq";
  /** Node-count factor: n_k = clamp(ceil(C·NFE_fwd·Δt_k/T), 1, 64). */
  readonly C: number;
  /**
   * `"adaptive"`: a rule of the solver's order on each panel of backward steps
   * no longer than step control allows (see the module doc); `"interval"`: the
   * paper's n_k nodes per measurement interval; `"per-step"`: ⌈(order+1)/2⌉
   * nodes in every accepted backward step.
   */
  readonly nodes: GqNodes;
  /** Where z in the integrand comes from: the backward solve, or a forward re-solve from the stored states (a alone is then solved backwards). */
  readonly trajectory: "backward" | "checkpoint";
  /** How the interval rule's node states are read: the solver's dense output, or steps clamped to land on each node (the step rules read the dense output). */
  readonly observe: "interpolate" | "clamp";
  /**
   * The backward solve's step control: `"quadjoint"`, one RMS norm over [z, a] and each interval starting with the
   * step the last one ended on; `"torchdiffeq"`, as the authors' code (torchdiffeq's adjoint): the larger of the RMS
   * norms of z and of a (never looser), and Hairer's initial step selected afresh in every interval.
   */
  readonly stepControl: StepControl;
}

/** Where GQ puts its quadrature nodes. */
export type GqNodes = typeof GQ_NODES[number];

/** The node placements, as the pipeline spells them. */
export const GQ_NODES = ["adaptive", "interval", "per-step"] as const;

/** Options for {@linkcode gq}. */
export interface GqOptions {
  /** Node-count factor of the paper's rule (`nodes: "interval"`). @default 0.1 */
  C?: number;
  /** Node placement. @default "adaptive" */
  nodes?: GqNodes;
  /** Source of z in the integrand. @default "backward" */
  trajectory?: "backward" | "checkpoint";
  /** How the interval rule's node states are read. @default "interpolate" */
  observe?: "interpolate" | "clamp";
  /** The backward solve's step control (see {@linkcode GqMethod.stepControl}). @default "quadjoint" */
  stepControl?: StepControl;
}

/**
 * The GQ adjoint: only [z, a] is solved backwards; dL/dθ = Σ_k ∫ aᵀ∂f/∂θ dt
 * by Gauss–Legendre quadrature. Fastest when the state is small and the model
 * large. Not for very stiff problems, where the backward reconstruction of z
 * drifts: use `trajectory: "checkpoint"` there.
 *
 * @example
 * ```ts
 * import { gq } from "./method.ts";
 * const m = gq({ C: 0.2, nodes: "per-step" });
 * if (m.C !== 0.2 || m.trajectory !== "backward") throw new Error("bad defaults");
 * ```
 */
export function gq(options: GqOptions = {}): GqMethod {
  const { C = 0.1, nodes = "adaptive", trajectory = "backward", observe = "interpolate" } = options;
  if (!(C > 0) || !Number.isFinite(C)) throw new RangeError(`gq option C must be a positive number, got ${C}`);
  if (!GQ_NODES.includes(nodes)) {
    throw new RangeError(`gq option nodes must be one of ${GQ_NODES.map((x) => `"${x}"`).join(", ")}, got "${nodes}"`);
  }
  if (trajectory !== "backward" && trajectory !== "checkpoint") {
    throw new RangeError(`gq option trajectory must be "backward" or "checkpoint", got "${trajectory}"`);
  }
  if (observe !== "interpolate" && observe !== "clamp") {
    throw new RangeError(`gq option observe must be "interpolate" or "clamp", got "${observe}"`);
  }
  return { kind: "gq", C, nodes, trajectory, observe, stepControl: checkedStepControl(options.stepControl, "gq") };
}

/** The paper's node count for one interval: clamp(ceil(C·NFE·|Δt|/|T|), 1, 64). */
export function intervalNodeCount(C: number, nfeForward: number, dt: number, span: number): number {
  return Math.min(MAX_GAUSS_LEGENDRE_NODES, Math.max(1, Math.ceil((C * nfeForward * Math.abs(dt)) / Math.abs(span))));
}

/** The backward system [z, a] → [f, −aᵀ∂f/∂z] as step blocks. */
function backwardSystem(ctx: GradientContext, method: GqMethod): StepSystem {
  const back = gqBackwardGraph(ctx.dynamics);
  const hasTime = ctx.dynamics.graph.inputs.some((i) => i.name === DYNAMICS_NAMES.time);
  return {
    graph: back.graph,
    ...(hasTime ? { time: DYNAMICS_NAMES.time } : {}),
    blocks: [
      { name: "z", input: DYNAMICS_NAMES.state, output: back.outputs.dz, inNorm: true, dense: true },
      { name: "a", input: back.inputs.a, output: back.outputs.da, inNorm: true, dense: true },
    ],
    norm: method.stepControl === "torchdiffeq" ? "mixed" : "rms",
  };
}

/** The GQ adjoint's forward and backward passes. */
export const gqStrategy: GradientStrategy<GqMethod> = {
  kind: "gq",
  async forward(ctx) {
    return { ...(await solveForward(ctx)), extraHeldBytes: 0 };
  },
  backward: gqBackward,
};

async function gqBackward(
  ctx: GradientContext,
  fwd: ForwardResult,
  cotangents: readonly (Float64Array | null)[],
  method: GqMethod,
): Promise<BackwardResult> {
  const { n, zDims, times } = ctx;
  const checkpoint = method.trajectory === "checkpoint";
  const acc = new ParamGradientAccumulator(ctx.runtime, ctx.dynamics, ctx.params, zDims, ctx.constants);
  const stepper = checkpoint ? undefined : await onnxStepper({
    runtime: ctx.runtime,
    system: backwardSystem(ctx, method),
    solver: ctx.backward.solver,
    params: ctx.fixedInputs,
    dims: [zDims, zDims],
    rtol: ctx.backward.rtol,
    atol: ctx.backward.atol,
  });
  const { dtimes, nfe: timeNfe } = await measurementTimeGradients(ctx, fwd.states, cotangents);
  const K = times.length - 1;
  const span = times[K]! - times[0]!;
  const panels = new StepPanels(
    acc,
    Math.ceil((ctx.backward.solver.order + 1) / 2),
    method.nodes === "adaptive" && !checkpoint && ctx.backward.solver.adaptive,
  );
  const a = new Float64Array(n);
  let accepted = 0, rejected = 0, backwardNfe = 0, firstStep: number | undefined;
  let forwardReplayNfe = 0, heldDense = 0;
  let replayStep: number | undefined; // checkpoint: the last forward replay's step, to start the next one without selection
  const backGraph = checkpoint ? await hostBackwardField(ctx) : undefined;

  for (let k = K; k >= 1; k--) {
    const tk = times[k]!, tprev = times[k - 1]!;
    const ck = cotangents[k];
    if (ck) axpy(a, 1, ck);
    // Nodes: the paper's n_k per interval, ordered from t_k towards t_{k−1}; or a rule per accepted step.
    // Either way the rule runs against the direction of ∫_{t_{k−1}}^{t_k}, so its weights change sign.
    const rule = method.nodes === "interval"
      ? mapToInterval(intervalNodeCount(method.C, fwd.stats.nfe, tk - tprev, span), tk, tprev)
      : undefined;
    let next = 0;
    const atNode = (tau: number, z: ArrayLike<number>, av: ArrayLike<number>) =>
      acc.add(tau, z, av, -rule!.weights[next++]!);
    let aEnd: ArrayLike<number>;
    let stats: { nfe: number; accepted: number; rejected: number };
    let lastStep: number;
    if (stepper) {
      const options: SolveOptions = {
        ...loopOptions(ctx.backward, firstStep),
        ...(rule
          ? {
            observe: { times: Array.from(rule.nodes), by: method.observe, at: (tau, y) => atNode(tau, y[0]!, y[1]!) },
          }
          : {
            onStep: (s) =>
              panels.add(
                s.t0,
                s.t1,
                (tau) => {
                  const y = s.interpolate!(tau);
                  return Promise.resolve([y[0]!, y[1]!]);
                },
                s.nextStep,
                tprev,
              ),
          }),
      };
      const r = await solve(
        stepper,
        [inDtype(fwd.states[k]!.slice(), ctx.dtype), inDtype(a.slice(), ctx.dtype)],
        tk,
        tprev,
        options,
      );
      aEnd = r.y1[1]!;
      stats = r.stats;
      lastStep = r.lastStep;
    } else {
      // Checkpoint: a alone is solved backwards, along z replayed forward from the interval's stored state.
      const recorded = await SegmentedTrajectory.record(ctx.vectorField, fwd.states[k - 1]!, tprev, tk, {
        ...solveOptions(ctx.forward),
        ...(replayStep !== undefined ? { firstStep: replayStep } : {}),
      });
      if (ctx.forward.solver.adaptive) replayStep = recorded.lastStep;
      const dense = recorded.trajectory;
      const field: VectorField = async (t, y) => backGraph!(t, await dense.at(t), y);
      const r = await integrate(field, a.slice(), tk, tprev, {
        ...solveOptions(ctx.backward),
        ...(firstStep !== undefined ? { firstStep: Math.abs(firstStep) } : {}),
        ...(rule
          ? {
            observe: {
              times: Array.from(rule.nodes),
              by: method.observe,
              at: async (tau: number, y: Float64Array) => atNode(tau, await dense.at(tau), y),
            },
          }
          : {
            onStep: (s) =>
              panels.add(s.t0, s.t1, async (tau) => [await dense.at(tau), s.interpolate(tau)], s.nextStep, tprev),
          }),
      });
      aEnd = r.y1;
      stats = r.stats;
      lastStep = r.lastStep;
      forwardReplayNfe += dense.nfe;
      heldDense = Math.max(heldDense, dense.heldBytes(ctx.forward.solver.tableau.b.length));
    }
    if (rule && next !== rule.nodes.length) {
      throw new Error(`GQ expected ${rule.nodes.length} node observations on [${tprev}, ${tk}], got ${next}`);
    }
    accepted += stats.accepted;
    rejected += stats.rejected;
    backwardNfe += stats.nfe;
    if (ctx.backward.solver.adaptive && method.stepControl === "quadjoint") firstStep = lastStep;
    a.set(aEnd);
  }
  const c0 = cotangents[0];
  if (c0) axpy(a, 1, c0);
  const { dparams, dt: timeIntegral } = await acc.finish();
  let later = 0;
  for (let k = 1; k <= K; k++) later += dtimes[k]!;
  dtimes[0] = timeIntegral - later;
  return {
    dz0: asFloat64(a),
    dparams,
    dtimes,
    // Every evaluation of f or of a VJP of f counts, the quadrature nodes' integrands included.
    stats: { nfe: backwardNfe + timeNfe + forwardReplayNfe + acc.points, accepted, rejected },
    vjpEvals: backwardNfe + acc.points,
    nodes: acc.points,
    heldBytes: heldDense,
  };
}

/** Reads [z, a] at a time inside one accepted backward step. */
type NodeReader = (tau: number) => Promise<[ArrayLike<number>, ArrayLike<number>]>;

/** Most accepted steps one adaptive panel spans (their dense outputs are held until it closes). */
export const MAX_PANEL_STEPS = 8;

/**
 * Per-step quadrature: a Gauss–Legendre rule of the backward solver's order
 * (⌈(order+1)/2⌉ nodes, exact to degree ≥ order) on each panel of accepted
 * backward steps. With `merge`, a step joins the open panel while the panel
 * stays no longer than the step the controller proposes after it — the length
 * over which the controller judges one polynomial of the solver's order good
 * to tolerance — so steps much shorter than the controller now allows (the
 * first steps after the initial-step guess, a step landing on a measurement
 * time) share a rule; in steady stepping each step is its own panel. Without
 * `merge` (fixed steps, the checkpoint variant) a panel is one step.
 */
class StepPanels {
  readonly #acc: ParamGradientAccumulator;
  readonly #count: number;
  readonly #merge: boolean;
  #steps: { t0: number; t1: number; at: NodeReader }[] = [];

  constructor(acc: ParamGradientAccumulator, count: number, merge: boolean) {
    this.#acc = acc;
    this.#count = count;
    this.#merge = merge;
  }

  /**
   * Adds an accepted step running towards `end` (the interval's end). The open
   * panel first closes (without it) when taking it in would make the panel
   * longer than `nextStep`, the step control's proposal after this step; the
   * panel it ends up in closes at `end`.
   */
  async add(t0: number, t1: number, at: NodeReader, nextStep: number, end: number): Promise<void> {
    const open = this.#steps.length;
    if (open > 0 && (open >= MAX_PANEL_STEPS || Math.abs(t1 - this.#steps[0]!.t0) > nextStep)) await this.#flush();
    this.#steps.push({ t0, t1, at });
    // Unmerged panels are single steps: summed at once, while the step's trajectory is at hand (the checkpoint
    // variant's replay would otherwise have moved on a segment and replay the previous one again).
    if (!this.#merge || t1 === end) await this.#flush();
  }

  /** Sums the rule of the open panel (its nodes from the steps that hold them) and empties it. */
  async #flush(): Promise<void> {
    const steps = this.#steps;
    this.#steps = [];
    const start = steps[0]!.t0, end = steps.at(-1)!.t1, dir = Math.sign(end - start);
    const rule = mapToInterval(this.#count, start, end);
    let j = 0;
    for (let i = 0; i < rule.nodes.length; i++) {
      const tau = rule.nodes[i]!;
      while (j < steps.length - 1 && (tau - steps[j]!.t1) * dir > 0) j++;
      const [z, a] = await steps[j]!.at(tau);
      // The rule runs backwards (against ∫_{t_{k−1}}^{t_k}), hence −w.
      await this.#acc.add(tau, z, a, -rule.weights[i]!);
    }
  }
}

/** −aᵀ∂f/∂z at a given z, as a float64 host function (the checkpoint variant's backward field). */
async function hostBackwardField(
  ctx: GradientContext,
): Promise<(t: number, z: Float64Array, a: Float64Array) => Promise<Float64Array>> {
  const back = gqBackwardGraph(ctx.dynamics);
  const graph = await BoundGraph.create(ctx.runtime, back.graph, ctx.dtype, ctx.fixedInputs);
  const dims = ctx.zDims;
  return async (t, z, a) =>
    (await graph.call(t, { [DYNAMICS_NAMES.state]: { data: z, dims }, [back.inputs.a]: { data: a, dims } }, [
      back.outputs.da,
    ]))[0]!;
}
