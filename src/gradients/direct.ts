/**
 * Direct backpropagation through the solver (discretise-then-optimise).
 *
 * The forward pass keeps the start state of every accepted step (fused steps,
 * one graph call each). The backward pass runs reverse mode through each
 * step with ONE call of the VJP of the whole fused step graph (step sizes held
 * fixed), which returns the cotangent of the step's start state and of each
 * stage's derivative; the parameter and time cotangents of all stages are
 * then summed in batches by one graph call per batch (`_param_vjp.ts`), not
 * per stage. Steps are clamped to land on each measurement time, so no
 * interpolation enters the gradient. dL/dz0 and dL/dθ are exact for the
 * discretised solve; dL/dt_k (k ≥ 1) is f(t_k, z_k)·∂L/∂z_k as for the
 * continuous methods, and dL/dt₀ adds the stages' ∂f/∂t terms (shifting every
 * stage time together). Memory grows with the number of steps (one state per
 * step).
 *
 * @module
 */
import { vjpGraph } from "../autodiff/vjp.ts";
import type { Graph } from "../onnx/graph.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { solve } from "../solvers/integrate.ts";
import { cachedStepGraph, STEP_NAMES } from "../solvers/step_graph.ts";
import type { FloatArray } from "../solvers/stepper.ts";
import {
  asFloat64,
  axpy,
  type BackwardResult,
  type ForwardResult,
  forwardStepper,
  forwardSystem,
  type GradientContext,
  type GradientStrategy,
  inDtype,
  loopOptions,
  measurementTimeGradients,
} from "./_context.ts";
import { toFloat64 } from "../runtime/bound_graph.ts";
import { ParamGradientAccumulator } from "./_param_vjp.ts";

/** Discretise-then-optimise: backpropagation through every accepted solver step. */
export interface DirectMethod {
  /** Discriminant. */
  readonly kind: "direct";
}

/**
 * Backpropagation through the solver (discretise-then-optimise).
 *
 * dL/dz0 and dL/dθ are the exact gradients of the discretised solution (step
 * sizes held fixed); dL/dt_k uses the continuous formula f(t_k, z_k)·∂L/∂z_k
 * and the stage-time sensitivities. Memory grows with the number of steps,
 * since every step's start state is kept for the backward pass.
 */
export function direct(): DirectMethod {
  return { kind: "direct" };
}

interface StepRecord {
  readonly t0: number;
  readonly h: number;
  readonly y0: FloatArray;
}

interface DirectRecords {
  readonly steps: StepRecord[];
  /** Index into `steps` of the last step of each interval k (ending at t_k), for k ≥ 1. */
  readonly intervalEnds: number[];
}

/** VJPs of step graphs built so far. */
const stepVjps = new WeakMap<Graph, Graph>();

/** Forward solve interval by interval, recording every accepted step's start. */
async function directForward(ctx: GradientContext): Promise<ForwardResult> {
  const steps: StepRecord[] = [];
  const intervalEnds: number[] = [];
  const stepper = await forwardStepper(ctx, ctx.forward, false);
  const z0 = inDtype(toFloat64(ctx.problem.z0).slice(), ctx.dtype);
  const states: Float64Array[] = [asFloat64(z0).slice()];
  let y = z0;
  let accepted = 0, rejected = 0, nfe = 0, firstStep: number | undefined;
  for (let k = 1; k < ctx.times.length; k++) {
    const r = await solve(stepper, [y], ctx.times[k - 1]!, ctx.times[k]!, {
      ...loopOptions(ctx.forward, firstStep),
      onStep: (s) => void steps.push({ t0: s.t0, h: s.t1 - s.t0, y0: s.y0[0]! }),
    });
    y = r.y1[0]!;
    states.push(asFloat64(y).slice());
    intervalEnds.push(steps.length - 1);
    accepted += r.stats.accepted;
    rejected += r.stats.rejected;
    nfe += r.stats.nfe;
    if (ctx.forward.solver.adaptive) firstStep = r.lastStep;
  }
  const records: DirectRecords = { steps, intervalEnds };
  return {
    states,
    stats: { nfe, accepted, rejected },
    extraHeldBytes: steps.length * ctx.n * (ctx.dtype === "float64" ? 8 : 4),
    records,
  };
}

/** Reverse mode through the recorded steps. */
async function directBackward(
  ctx: GradientContext,
  fwd: ForwardResult,
  cotangents: readonly (Float64Array | null)[],
): Promise<BackwardResult> {
  const { steps, intervalEnds } = fwd.records as DirectRecords;
  const { dtype, zDims } = ctx;
  const tableau = ctx.forward.solver.tableau;
  const s = tableau.stages;
  const taps = cachedStepGraph(forwardSystem(ctx.dynamics, false), tableau, { firstStage: "compute", stageTaps: true });
  let graph = stepVjps.get(taps);
  if (!graph) {
    const wrt = [STEP_NAMES.y0("z"), ...Array.from({ length: s }, (_, i) => STEP_NAMES.delta(i, "z"))];
    stepVjps.set(taps, graph = vjpGraph(taps, { of: [STEP_NAMES.y1("z")], wrt }));
  }
  const vjp = await ctx.runtime.compile(graph);
  const acc = new ParamGradientAccumulator(ctx.runtime, ctx.dynamics, ctx.params, zDims);
  const tensorOf = (data: FloatArray, dims: readonly number[]) => ({ dtype, dims, data }) as Tensor;
  const scalar = (v: number) => tensorOf(dtype === "float64" ? Float64Array.of(v) : Float32Array.of(v), []);
  const zeros = tensorOf(inDtype(new Float64Array(ctx.n), dtype), zDims);
  const fixed: Record<string, Tensor> = { ...ctx.params };
  for (let i = 0; i < s; i++) fixed[STEP_NAMES.delta(i, "z")] = zeros;
  const outputs = [
    `grad_${STEP_NAMES.y0("z")}`,
    ...Array.from({ length: s }, (_, i) => `grad_${STEP_NAMES.delta(i, "z")}`),
    ...Array.from({ length: s }, (_, i) => STEP_NAMES.stageState(i, "z")),
  ];

  const ybar = new Float64Array(ctx.n);
  let stagePoints = 0;
  let next = ctx.times.length - 1;
  for (let i = steps.length - 1; i >= -1; i--) {
    // Add ∂L/∂z(t_k) when passing the end of interval k.
    while (next >= 1 && intervalEnds[next - 1] === i) {
      const ck = cotangents[next];
      if (ck) axpy(ybar, 1, ck);
      next--;
    }
    if (i < 0) break;
    const step = steps[i]!;
    const out = await vjp.run({
      ...fixed,
      [STEP_NAMES.t0]: scalar(step.t0),
      [STEP_NAMES.h]: scalar(step.h),
      [STEP_NAMES.y0("z")]: tensorOf(step.y0, zDims),
      [`grad_${STEP_NAMES.y1("z")}`]: tensorOf(inDtype(ybar, dtype), zDims),
    }, outputs);
    for (let j = 0; j < s; j++) {
      const kbar = out[outputs[1 + j]!]!.data as FloatArray;
      if (!kbar.some((x) => x !== 0)) continue; // a stage y1 does not use (dopri5's FSAL stage)
      stagePoints++;
      const tj = tableau.c[j] === 1 ? step.t0 + step.h : step.t0 + tableau.c[j]! * step.h;
      await acc.add(tj, out[outputs[1 + s + j]!]!.data as FloatArray, kbar, 1);
    }
    ybar.set(out[outputs[0]!]!.data as FloatArray);
  }
  const c0 = cotangents[0];
  if (c0) axpy(ybar, 1, c0);
  const { dparams, dt: tShift } = await acc.finish();
  const { dtimes, nfe } = await measurementTimeGradients(ctx, fwd.states, cotangents);
  // Shifting t0 alone = shifting everything, minus shifting each later time.
  let later = 0;
  for (let k = 1; k < dtimes.length; k++) later += dtimes[k]!;
  dtimes[0] = tShift - later;
  return {
    dz0: ybar,
    dparams,
    dtimes,
    stats: { nfe: nfe + stagePoints, accepted: steps.length, rejected: 0 },
    vjpEvals: stagePoints,
    nodes: 0,
    heldBytes: 0,
  };
}

/** Direct backpropagation's forward and backward passes. */
export const directStrategy: GradientStrategy<DirectMethod> = {
  kind: "direct",
  forward: directForward,
  backward: directBackward,
};
