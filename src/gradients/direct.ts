/**
 * Direct backpropagation through the solver (discretise-then-optimise).
 *
 * The forward pass keeps every accepted step (start state and stages); the
 * backward pass runs reverse mode through each Runge–Kutta step with one
 * stage-VJP graph call per stage, step sizes held fixed. Steps are clamped to
 * land on each measurement time, so no interpolation enters the gradient.
 * dL/dz0 and dL/dθ are exact for the discretised solve; dL/dt_k (k ≥ 1) is
 * f(t_k, z_k)·∂L/∂z_k as for the continuous methods, and dL/dt₀ adds the
 * stages' ∂f/∂t terms (shifting every stage time together). Memory grows
 * with the number of steps.
 *
 * @module
 */
import { stageVjpGraph } from "../autodiff/fused.ts";
import { integrate } from "../solvers/integrate.ts";
import { BoundGraph, toFloat64 } from "./_evaluator.ts";
import {
  axpy,
  type BackwardResult,
  type ForwardResult,
  type GradientContext,
  measurementTimeGradients,
  solveOptions,
  zeroParamGradients,
} from "./ode_gradient.ts";

interface StepRecord {
  readonly t0: number;
  readonly h: number;
  readonly y0: Float64Array;
  readonly stages: readonly Float64Array[];
}

interface DirectRecords {
  readonly steps: StepRecord[];
  /** Index into `steps` of the last step of each interval k (ending at t_k), for k ≥ 1. */
  readonly intervalEnds: number[];
}

/** Forward solve interval by interval, recording every accepted step. */
export async function directForward(ctx: GradientContext): Promise<ForwardResult> {
  const steps: StepRecord[] = [];
  const intervalEnds: number[] = [];
  const states: Float64Array[] = [toFloat64(ctx.problem.z0).slice()];
  let accepted = 0, rejected = 0, firstStep: number | undefined;
  let held = 0;
  const calls0 = ctx.f.calls;
  for (let k = 1; k < ctx.times.length; k++) {
    const r = await integrate(ctx.vectorField, states[k - 1]!, ctx.times[k - 1]!, ctx.times[k]!, {
      ...solveOptions(ctx.forward),
      ...(firstStep !== undefined ? { firstStep } : {}),
      onStep: (s) => {
        steps.push({ t0: s.t0, h: s.t1 - s.t0, y0: s.y0, stages: s.stages });
        held += (1 + s.stages.length) * s.y0.length * 8;
      },
    });
    states.push(r.y1);
    intervalEnds.push(steps.length - 1);
    accepted += r.stats.accepted;
    rejected += r.stats.rejected;
    if (ctx.forward.solver.adaptive) firstStep = r.lastStep;
  }
  const records: DirectRecords = { steps, intervalEnds };
  return { states, stats: { nfe: ctx.f.calls - calls0, accepted, rejected }, extraHeldBytes: held, records };
}

/** Reverse mode through the recorded steps. */
export async function directBackward(
  ctx: GradientContext,
  fwd: ForwardResult,
  cotangents: readonly (Float64Array | null)[],
): Promise<BackwardResult> {
  const { steps, intervalEnds } = fwd.records as DirectRecords;
  const { a, b, c } = ctx.forward.solver.tableau;
  const fused = stageVjpGraph(ctx.dynamics);
  const vjp = await BoundGraph.create(ctx.runtime, fused.graph, ctx.dtype, ctx.problem.params);
  const paramOutputs = ctx.dynamics.params.map((p) => fused.outputs.params[p.name]!);
  const outputs = [fused.outputs.z, fused.outputs.t, ...paramOutputs];
  const dparams = zeroParamGradients(ctx.dynamics);

  const ybar = new Float64Array(ctx.n);
  let tShift = 0; // Σ over stages of aᵀ∂f/∂t: the gradient for shifting every stage time together
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
    const s = step.stages.length;
    const kbar = step.stages.map((_, j) => {
      const v = new Float64Array(ctx.n);
      if (b[j] !== 0) axpy(v, step.h * b[j]!, ybar);
      return v;
    });
    for (let j = s - 1; j >= 0; j--) {
      const kb = kbar[j]!;
      if (!kb.some((x) => x !== 0)) continue;
      // Stage input Y_j = y0 + h Σ_{m<j} a_jm k_m.
      const Y = step.y0.slice();
      const row = a[j] ?? [];
      for (let m = 0; m < j; m++) if (row[m]) axpy(Y, step.h * row[m]!, step.stages[m]!);
      const [zbar, tbar, ...pbar] = await vjp.call(step.t0 + c[j]! * step.h, {
        z: { data: Y, dims: ctx.zDims },
        [fused.inputs.a]: { data: kb, dims: ctx.zDims },
      }, outputs);
      axpy(ybar, 1, zbar!);
      for (let m = 0; m < j; m++) if (row[m]) axpy(kbar[m]!, step.h * row[m]!, zbar!);
      tShift += tbar![0]!;
      ctx.dynamics.params.forEach((p, q) => axpy(dparams[p.name]!, 1, pbar[q]!));
    }
  }
  const c0 = cotangents[0];
  if (c0) axpy(ybar, 1, c0);
  const { dtimes, nfe } = await measurementTimeGradients(ctx, fwd.states, cotangents);
  // Shifting t0 alone = shifting everything, minus shifting each later time.
  let later = 0;
  for (let k = 1; k < dtimes.length; k++) later += dtimes[k]!;
  dtimes[0] = tShift - later;
  return {
    dz0: ybar,
    dparams,
    dtimes,
    stats: { nfe: nfe + vjp.calls, accepted: steps.length, rejected: 0 },
    vjpEvals: vjp.calls,
    nodes: 0,
    heldBytes: 0,
  };
}
