/**
 * The GQ adjoint (Norcliffe & Deisenroth 2023): only [z, a] is solved
 * backwards; dL/dθ = Σ_k ∫_{t_{k−1}}^{t_k} aᵀ∂f/∂θ dt and the time term
 * ∫ aᵀ∂f/∂t dt come from Gauss–Legendre quadrature.
 *
 * Per measurement interval one backward solve runs through all its nodes; the
 * state at a node comes from the solver's dense output (or a step clamped onto
 * it). At each node one integrand graph call gives aᵀ∂f/∂θ and aᵀ∂f/∂t.
 *
 * Beyond the paper:
 * - `nodes: "per-step"` puts ⌈(order+1)/2⌉ Gauss nodes in every accepted
 *   backward step, so the quadrature error follows the solver tolerance;
 * - `trajectory: "checkpoint"` re-solves z forward over each interval from the
 *   stored state and solves only a backwards along that trajectory, which
 *   avoids the instability of reconstructing z backwards. The forward solve
 *   keeps a checkpoint every 16 steps and replays one segment at a time
 *   (see `_replay.ts`): about two extra forward solves, little memory.
 *
 * @module
 */
import { gqBackwardGraph, gqIntegrandGraph } from "../autodiff/fused.ts";
import { integrate, type VectorField } from "../solvers/integrate.ts";
import { SegmentedTrajectory } from "./_replay.ts";
import { BoundGraph } from "./_evaluator.ts";
import { mapToInterval, MAX_GAUSS_LEGENDRE_NODES } from "./gauss_legendre.ts";
import type { GqMethod } from "./method.ts";
import {
  axpy,
  type BackwardResult,
  type ForwardResult,
  type GradientContext,
  measurementTimeGradients,
  solveOptions,
  zeroParamGradients,
} from "./ode_gradient.ts";

/** The paper's node count for one interval: clamp(ceil(C·NFE·|Δt|/|T|), 1, 64). */
export function intervalNodeCount(C: number, nfeForward: number, dt: number, span: number): number {
  return Math.min(MAX_GAUSS_LEGENDRE_NODES, Math.max(1, Math.ceil((C * nfeForward * Math.abs(dt)) / Math.abs(span))));
}

/** Backward pass of the GQ adjoint. */
export async function gqBackward(
  ctx: GradientContext,
  fwd: ForwardResult,
  cotangents: readonly (Float64Array | null)[],
  method: GqMethod,
): Promise<BackwardResult> {
  const { n, zDims, dynamics, times } = ctx;
  const checkpoint = method.trajectory === "checkpoint";
  const back = gqBackwardGraph(dynamics);
  const integrand = gqIntegrandGraph(dynamics);
  const backGraph = await BoundGraph.create(ctx.runtime, back.graph, ctx.dtype, ctx.problem.params);
  const integrandGraph = await BoundGraph.create(ctx.runtime, integrand.graph, ctx.dtype, ctx.problem.params);
  const integrandOutputs = [integrand.outputs.dt, ...dynamics.params.map((p) => integrand.outputs.params[p.name]!)];
  const dparams = zeroParamGradients(dynamics);
  let timeIntegral = 0;
  let nodes = 0;
  let forwardReplayNfe = 0;
  let heldDense = 0;

  /** Adds w·[aᵀ∂f/∂θ, aᵀ∂f/∂t] at (τ, z, a). */
  const accumulate = async (tau: number, weight: number, z: Float64Array, a: Float64Array) => {
    const [gt, ...gp] = await integrandGraph.call(tau, {
      z: { data: z, dims: zDims },
      [integrand.inputs.a]: { data: a, dims: zDims },
    }, integrandOutputs);
    timeIntegral += weight * gt![0]!;
    dynamics.params.forEach((p, q) => axpy(dparams[p.name]!, weight, gp[q]!));
    nodes++;
  };

  // Backward vector field: [z, a] normally; a alone along the replayed forward trajectory for "checkpoint".
  let dense: SegmentedTrajectory | undefined;
  const field: VectorField = async (t, y) => {
    if (dense) {
      const z = await dense.at(t);
      const [, da] = await backGraph.call(
        t,
        { z: { data: z, dims: zDims }, [back.inputs.a]: { data: y, dims: zDims } },
        [
          back.outputs.dz,
          back.outputs.da,
        ],
      );
      return da!;
    }
    const [dz, da] = await backGraph.call(t, {
      z: { data: y.subarray(0, n), dims: zDims },
      [back.inputs.a]: { data: y.subarray(n, 2 * n), dims: zDims },
    }, [back.outputs.dz, back.outputs.da]);
    const out = new Float64Array(2 * n);
    out.set(dz!, 0);
    out.set(da!, n);
    return out;
  };
  const split = async (t: number, y: Float64Array): Promise<[Float64Array, Float64Array]> =>
    dense ? [await dense.at(t), y] : [y.subarray(0, n), y.subarray(n, 2 * n)];

  const { dtimes, nfe: timeNfe } = await measurementTimeGradients(ctx, fwd.states, cotangents);
  const K = times.length - 1;
  const span = times[K]! - times[0]!;
  const nodesPerStep = Math.ceil((ctx.backward.solver.order + 1) / 2);
  const a = new Float64Array(n);
  let accepted = 0, rejected = 0, firstStep: number | undefined;
  let replayStep: number | undefined; // checkpoint: the last forward replay's step, to start the next one without selection

  for (let k = K; k >= 1; k--) {
    const tk = times[k]!, tprev = times[k - 1]!;
    const ck = cotangents[k];
    if (ck) axpy(a, 1, ck);
    let y0: Float64Array;
    if (checkpoint) {
      const recorded = await SegmentedTrajectory.record(ctx.vectorField, fwd.states[k - 1]!, tprev, tk, {
        ...solveOptions(ctx.forward),
        ...(replayStep !== undefined ? { firstStep: replayStep } : {}),
      });
      if (ctx.forward.solver.adaptive) replayStep = recorded.lastStep;
      dense = recorded.trajectory;
      y0 = a.slice();
    } else {
      y0 = new Float64Array(2 * n);
      y0.set(fwd.states[k]!, 0);
      y0.set(a, n);
    }
    const common = {
      ...solveOptions(ctx.backward),
      ...(firstStep !== undefined ? { firstStep: Math.abs(firstStep) } : {}),
    };
    let r;
    if (method.nodes === "interval") {
      const count = intervalNodeCount(method.C, fwd.stats.nfe, tk - tprev, span);
      // Nodes ordered in the direction of the backward solve (from t_k towards t_{k−1}).
      const rule = mapToInterval(count, tk, tprev);
      let next = 0;
      r = await integrate(field, y0, tk, tprev, {
        ...common,
        observe: {
          times: Array.from(rule.nodes),
          by: method.observe,
          // Observations arrive in the order of `times`; the rule runs from t_k to t_{k−1}, so its weights
          // carry the opposite sign of ∫_{t_{k−1}}^{t_k}.
          at: async (tau: number, y: Float64Array) => {
            const [z, av] = await split(tau, y);
            await accumulate(tau, -rule.weights[next++]!, z.slice(), av.slice());
          },
        },
      });
      if (next !== count) throw new Error(`GQ expected ${count} node observations on [${tprev}, ${tk}], got ${next}`);
    } else {
      r = await integrate(field, y0, tk, tprev, {
        ...common,
        onStep: async (s) => {
          const rule = mapToInterval(nodesPerStep, s.t0, s.t1);
          for (let i = 0; i < rule.nodes.length; i++) {
            const tau = rule.nodes[i]!;
            const [z, av] = await split(tau, s.interpolate(tau));
            await accumulate(tau, -rule.weights[i]!, z.slice(), av.slice());
          }
        },
      });
    }
    accepted += r.stats.accepted;
    rejected += r.stats.rejected;
    if (ctx.backward.solver.adaptive) firstStep = r.lastStep;
    a.set(checkpoint ? r.y1 : r.y1.subarray(n, 2 * n));
    if (dense) {
      forwardReplayNfe += dense.nfe;
      heldDense = Math.max(heldDense, dense.heldBytes(ctx.forward.solver.tableau.b.length));
      dense = undefined;
    }
  }
  const c0 = cotangents[0];
  if (c0) axpy(a, 1, c0);
  let later = 0;
  for (let k = 1; k <= K; k++) later += dtimes[k]!;
  dtimes[0] = timeIntegral - later;
  return {
    dz0: a,
    dparams,
    dtimes,
    stats: { nfe: backGraph.calls + timeNfe + forwardReplayNfe, accepted, rejected },
    vjpEvals: backGraph.calls + integrandGraph.calls,
    nodes,
    heldBytes: heldDense,
  };
}
