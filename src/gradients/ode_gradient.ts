/**
 * `odeGradient`: one entry point for all four gradient methods.
 *
 * It validates the problem, runs the forward solve (recording what the method
 * needs), asks the loss for its cotangents, and hands over to the method's
 * backward pass. The methods share the forward pass, the evaluator and the
 * statistics, so they differ only where the mathematics does.
 *
 * @module
 */
import type { Dynamics } from "../models/dynamics.ts";
import { formatShape } from "../onnx/graph.ts";
import { sizeOf } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { type Solver, SOLVERS } from "../solvers/solver.ts";
import type { VectorField } from "../solvers/integrate.ts";
import { BoundGraph, type FloatDType, toFloat64 } from "./_evaluator.ts";
import { directBackward, directForward } from "./direct.ts";
import { adjointBackward } from "./adjoint.ts";
import { gqBackward } from "./gq.ts";
import { methodName } from "./method.ts";
import type {
  DirectionStats,
  GradientResult,
  LossValue,
  OdeGradientOptions,
  OdeGradientProblem,
  SolveSettings,
} from "./problem.ts";
import { odeint } from "../solvers/integrate.ts";

/** Resolved solver settings for one direction. */
export interface ResolvedSolve {
  readonly solver: Solver;
  readonly rtol: number;
  readonly atol: number;
  readonly dt: number | undefined;
  readonly maxSteps: number;
}

/** Everything a backward pass needs, prepared once per call. */
export interface GradientContext {
  readonly runtime: Runtime;
  readonly dynamics: Dynamics;
  readonly problem: OdeGradientProblem;
  readonly dtype: FloatDType;
  /** z's dims `[batch, ...state]`. */
  readonly zDims: readonly number[];
  /** Elements of z. */
  readonly n: number;
  readonly times: readonly number[];
  readonly forward: ResolvedSolve;
  readonly backward: ResolvedSolve;
  /** f bound to the parameters. */
  readonly f: BoundGraph;
  /** f as a solver vector field (counts into `f.calls`). */
  readonly vectorField: VectorField;
}

/** What the forward pass hands to the backward pass. */
export interface ForwardResult {
  readonly states: Float64Array[];
  readonly stats: DirectionStats;
  /** Bytes held for the backward pass beyond the states (direct's step records). */
  readonly extraHeldBytes: number;
  /** Method-specific records (direct: the accepted steps). */
  readonly records?: unknown;
}

/** What a backward pass returns. */
export interface BackwardResult {
  readonly dz0: Float64Array;
  readonly dparams: Record<string, Float64Array>;
  readonly dtimes: Float64Array;
  readonly stats: DirectionStats;
  readonly vjpEvals: number;
  readonly nodes: number;
  readonly heldBytes: number;
}

let sharedRuntime: Runtime | undefined;

/**
 * Solves the ODE forward and returns the loss gradients by the chosen method.
 *
 * @example Gradient of L = z(1)² for dz/dt = a·z
 * ```ts
 * import { GraphBuilder, asDynamics, fromNumbers, odeGradient, gq } from "../../mod.ts";
 * const b = new GraphBuilder("exp");
 * b.input("t", "float64", []);
 * const z = b.input("z", "float64", ["batch", 1]);
 * const a = b.input("a", "float64", [1]);
 * b.output(b.op1("Mul", [z, a]), "dz");
 * const dynamics = asDynamics(b.build());
 * const r = await odeGradient({
 *   dynamics,
 *   params: { a: fromNumbers([0.5], [1], "float64") },
 *   z0: fromNumbers([2], [1, 1], "float64"),
 *   times: [0, 1],
 *   loss: ([, zT]) => ({ value: zT![0]! ** 2, cotangents: [null, Float64Array.of(2 * zT![0]!)] }),
 * }, { method: gq(), rtol: 1e-8, atol: 1e-8 });
 * const exact = 2 * 2 * Math.exp(2 * 0.5); // dL/dz0 = 2·z0·e^{2a}
 * if (Math.abs(r.dz0[0]! - exact) > 1e-5 * exact) throw new Error("wrong gradient");
 * ```
 */
export async function odeGradient(problem: OdeGradientProblem, options: OdeGradientOptions): Promise<GradientResult> {
  const ctx = await prepare(problem, options);
  const fwd = options.method.kind === "direct" ? await directForward(ctx) : await plainForward(ctx);
  const loss = await evaluateLoss(ctx, fwd.states);
  const bwd = options.method.kind === "direct"
    ? await directBackward(ctx, fwd, loss.cotangents)
    : options.method.kind === "adjoint"
    ? await adjointBackward(ctx, fwd, loss.cotangents, options.method)
    : await gqBackward(ctx, fwd, loss.cotangents, options.method);
  return {
    loss: loss.value,
    states: fwd.states,
    dz0: bwd.dz0,
    dparams: bwd.dparams,
    dtimes: bwd.dtimes,
    stats: {
      method: methodName(options.method),
      forward: fwd.stats,
      backward: bwd.stats,
      vjpEvals: bwd.vjpEvals,
      nodes: bwd.nodes,
      heldBytes: fwd.states.length * ctx.n * 8 + fwd.extraHeldBytes + bwd.heldBytes,
    },
  };
}

/** Resolves solver settings, filling defaults and checking values. */
export function resolveSolve(s: SolveSettings, fallback: ResolvedSolve | undefined, where: string): ResolvedSolve {
  const name = s.solver ?? fallback?.solver.name ?? "dopri5";
  // Own keys only: "toString" and the like must not resolve to Object.prototype members.
  const solver = Object.hasOwn(SOLVERS, name) ? SOLVERS[name as keyof typeof SOLVERS] : undefined;
  if (!solver) {
    throw new RangeError(`${where}.solver: unknown solver "${name}"; use one of ${Object.keys(SOLVERS).join(", ")}`);
  }
  const rtol = s.rtol ?? fallback?.rtol ?? 1e-3;
  const atol = s.atol ?? fallback?.atol ?? 1e-3;
  if (!(rtol > 0)) throw new RangeError(`${where}.rtol must be positive, got ${rtol}`);
  if (!(atol > 0)) throw new RangeError(`${where}.atol must be positive, got ${atol}`);
  const dt = s.dt ?? fallback?.dt;
  if (dt !== undefined && !(dt > 0 && Number.isFinite(dt))) {
    throw new RangeError(`${where}.dt must be a positive finite number, got ${dt}`);
  }
  if (!solver.adaptive && dt === undefined) {
    throw new RangeError(`${where}.dt: fixed-step solver ${name} needs a positive step size dt, got ${dt}`);
  }
  const maxSteps = s.maxSteps ?? fallback?.maxSteps ?? 100000;
  return { solver, rtol, atol, dt, maxSteps };
}

/**
 * Integration options for a resolved solve: `dt` is the grid step of a
 * fixed-step solver and only the first step of an adaptive one (which keeps
 * its error control).
 */
export function solveOptions(s: ResolvedSolve) {
  return {
    solver: s.solver,
    rtol: s.rtol,
    atol: s.atol,
    maxSteps: s.maxSteps,
    ...(s.dt !== undefined ? (s.solver.adaptive ? { firstStep: s.dt } : { dt: s.dt }) : {}),
  };
}

async function prepare(problem: OdeGradientProblem, options: OdeGradientOptions): Promise<GradientContext> {
  const { dynamics, params, z0, times } = problem;
  const dtype = dynamics.dtype;
  const zDims = [...z0.dims];
  const stateShape = dynamics.stateShape;
  if (z0.dtype !== dtype) throw new TypeError(`z0 must be ${dtype} like the dynamics, got ${z0.dtype}`);
  if (zDims.length !== stateShape.length + 1 || stateShape.some((d, i) => zDims[i + 1] !== d)) {
    throw new TypeError(`z0 must have shape [batch, ${stateShape.join(", ")}], got ${formatShape(zDims)}`);
  }
  for (const p of dynamics.params) {
    const v = params[p.name];
    if (!v) throw new TypeError(`params: missing parameter "${p.name}" of shape ${formatShape(p.shape)}`);
    if (v.dims.length !== p.shape.length || v.dims.some((d, i) => d !== p.shape[i])) {
      throw new TypeError(`params.${p.name}: expected shape ${formatShape(p.shape)}, got ${formatShape(v.dims)}`);
    }
  }
  checkTimes(times);
  const runtime = options.runtime ?? (sharedRuntime ??= new Runtime());
  const forward = resolveSolve(options, undefined, "options");
  const backward = resolveSolve(options.backward ?? {}, forward, "options.backward");
  const f = await BoundGraph.create(runtime, dynamics.graph, dtype, params);
  const n = sizeOf(zDims);
  const vectorField: VectorField = async (t, y) => (await f.call(t, { z: { data: y, dims: zDims } }, ["dz"]))[0]!;
  return { runtime, dynamics, problem, dtype, zDims, n, times, forward, backward, f, vectorField };
}

/** Checks that measurement times are finite, strictly monotone and at least two. */
export function checkTimes(times: readonly number[]): void {
  if (times.length < 2) {
    throw new RangeError(`times needs at least two entries (t0 and one measurement time), got ${times.length}`);
  }
  times.forEach((t, i) => {
    if (!Number.isFinite(t)) throw new RangeError(`times[${i}] must be finite, got ${t}`);
  });
  const dir = Math.sign(times[1]! - times[0]!);
  for (let i = 1; i < times.length; i++) {
    if (Math.sign(times[i]! - times[i - 1]!) !== dir || dir === 0) {
      throw new RangeError(
        `times must be strictly increasing or strictly decreasing: times[${i}] = ${times[i]} after times[${i - 1}] = ${
          times[i - 1]
        }`,
      );
    }
  }
}

async function plainForward(ctx: GradientContext): Promise<ForwardResult> {
  const z0 = toFloat64(ctx.problem.z0).slice();
  const calls0 = ctx.f.calls;
  const { ys, stats } = await odeint(ctx.vectorField, z0, ctx.times, solveOptions(ctx.forward));
  return {
    states: ys,
    stats: { nfe: ctx.f.calls - calls0, accepted: stats.accepted, rejected: stats.rejected },
    extraHeldBytes: 0,
  };
}

async function evaluateLoss(ctx: GradientContext, states: Float64Array[]): Promise<LossValue> {
  const loss = await ctx.problem.loss(states);
  if (loss.cotangents.length !== states.length) {
    throw new RangeError(`loss returned ${loss.cotangents.length} cotangents for ${states.length} measurement times`);
  }
  loss.cotangents.forEach((c, k) => {
    if (c && c.length !== ctx.n) {
      throw new RangeError(`loss cotangent ${k} has ${c.length} elements, z has ${ctx.n}`);
    }
  });
  return loss;
}

/** One zero-filled dL/dθ buffer per parameter of the dynamics: what unused parameters keep. */
export function zeroParamGradients(dynamics: Dynamics): Record<string, Float64Array> {
  return Object.fromEntries(dynamics.params.map((p) => [p.name, new Float64Array(sizeOf(p.shape))]));
}

/** Elementwise dot product. */
export function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** y += alpha·x, in place. */
export function axpy(y: Float64Array, alpha: number, x: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i]! += alpha * x[i]!;
}

/** dL/dt_k = f(t_k, z_k)·∂L/∂z(t_k) for k ≥ 1 (zero where L ignores z(t_k)); returns them and their f-evaluation count. */
export async function measurementTimeGradients(
  ctx: GradientContext,
  states: readonly Float64Array[],
  cotangents: readonly (Float64Array | null)[],
): Promise<{ dtimes: Float64Array; nfe: number }> {
  const dtimes = new Float64Array(ctx.times.length);
  let nfe = 0;
  for (let k = 1; k < ctx.times.length; k++) {
    const c = cotangents[k];
    if (!c) continue;
    const fk = await ctx.vectorField(ctx.times[k]!, states[k]!);
    nfe++;
    dtimes[k] = dot(fk, c);
  }
  return { dtimes, nfe };
}
