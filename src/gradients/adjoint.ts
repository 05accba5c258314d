/**
 * The continuous adjoint and its seminorm variant.
 *
 * Backwards from t_K, the augmented state [z, a, a_θ, a_t] follows
 * dz/dt = f, da/dt = −aᵀ∂f/∂z, da_θ/dt = −aᵀ∂f/∂θ, da_t/dt = −aᵀ∂f/∂t, one
 * fused graph call per evaluation. At each measurement time z is reset to the
 * stored forward state and a jumps by ∂L/∂z(t_k). With the seminorm, only
 * [z, a] enter the error norm.
 *
 * @module
 */
import { adjointDynamicsGraph } from "../autodiff/fused.ts";
import { integrate, type VectorField } from "../solvers/integrate.ts";
import { sizeOf } from "../onnx/tensor.ts";
import { BoundGraph } from "./_evaluator.ts";
import { seminormOver } from "./_norms.ts";
import type { AdjointMethod } from "./method.ts";
import {
  axpy,
  type BackwardResult,
  type ForwardResult,
  type GradientContext,
  measurementTimeGradients,
  solveOptions,
} from "./ode_gradient.ts";

/** Backward pass of the (seminorm) adjoint. */
export async function adjointBackward(
  ctx: GradientContext,
  fwd: ForwardResult,
  cotangents: readonly (Float64Array | null)[],
  method: AdjointMethod,
): Promise<BackwardResult> {
  const { n, zDims, dynamics } = ctx;
  const fused = adjointDynamicsGraph(dynamics);
  const aug = await BoundGraph.create(ctx.runtime, fused.graph, ctx.dtype, ctx.problem.params);
  const sizes = dynamics.params.map((p) => sizeOf(p.shape));
  const P = sizes.reduce((x, y) => x + y, 0);
  const outputs = [
    fused.outputs.dz,
    fused.outputs.da,
    fused.outputs.dt,
    ...dynamics.params.map((p) => fused.outputs.params[p.name]!),
  ];
  // Layout of the augmented state: [z (n) | a (n) | a_θ (P) | a_t (1)].
  const field: VectorField = async (t, y) => {
    const [dz, da, dt, ...dp] = await aug.call(t, {
      z: { data: y.subarray(0, n), dims: zDims },
      [fused.inputs.a]: { data: y.subarray(n, 2 * n), dims: zDims },
    }, outputs);
    const out = new Float64Array(y.length);
    out.set(dz!, 0);
    out.set(da!, n);
    let off = 2 * n;
    for (const g of dp) {
      out.set(g, off);
      off += g.length;
    }
    out[off] = dt![0]!;
    return out;
  };
  const norm = method.norm === "seminorm" ? seminormOver(2 * n) : undefined;

  const { dtimes, nfe: timeNfe } = await measurementTimeGradients(ctx, fwd.states, cotangents);
  const K = ctx.times.length - 1;
  const y = new Float64Array(2 * n + P + 1);
  let accepted = 0, rejected = 0, firstStep: number | undefined;
  for (let k = K; k >= 1; k--) {
    y.set(fwd.states[k]!, 0);
    const ck = cotangents[k];
    if (ck) axpy(y.subarray(n, 2 * n), 1, ck);
    y[2 * n + P]! -= dtimes[k]!;
    const r = await integrate(field, y.slice(), ctx.times[k]!, ctx.times[k - 1]!, {
      ...solveOptions(ctx.backward),
      ...(norm ? { norm } : {}),
      ...(firstStep !== undefined ? { firstStep: Math.abs(firstStep) } : {}),
    });
    y.set(r.y1);
    accepted += r.stats.accepted;
    rejected += r.stats.rejected;
    if (ctx.backward.solver.adaptive) firstStep = r.lastStep;
  }
  const dz0 = y.slice(n, 2 * n);
  const c0 = cotangents[0];
  if (c0) axpy(dz0, 1, c0);
  const dparams: Record<string, Float64Array> = {};
  let off = 2 * n;
  dynamics.params.forEach((p, i) => {
    dparams[p.name] = y.slice(off, off + sizes[i]!);
    off += sizes[i]!;
  });
  dtimes[0] = y[2 * n + P]!;
  return {
    dz0,
    dparams,
    dtimes,
    stats: { nfe: aug.calls + timeNfe, accepted, rejected },
    vjpEvals: aug.calls,
    nodes: 0,
    heldBytes: 0,
  };
}
