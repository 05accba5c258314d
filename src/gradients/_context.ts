/**
 * What every gradient method shares: the prepared problem (the context), the
 * strategy interface a method implements, the forward solve by fused steps,
 * measurement-time gradients and small vector helpers. Methods import this
 * module, never `ode_gradient.ts`, so there is no import cycle between the
 * entry point and the methods.
 *
 * @module
 */
import { type Dynamics, DYNAMICS_NAMES, type Params } from "../models/dynamics.ts";
import { formatShape } from "../onnx/graph.ts";
import { sizeOf, type Tensor } from "../onnx/tensor.ts";
import type { CompiledGraph, Runtime } from "../runtime/session.ts";
import { iController } from "../solvers/controller.ts";
import { solve, type SolveOptions, type SolveStepInfo, type VectorField } from "../solvers/integrate.ts";
import { onnxStepper } from "../solvers/onnx_stepper.ts";
import { type Solver, SOLVERS } from "../solvers/solver.ts";
import type { StepSystem } from "../solvers/step_graph.ts";
import type { FloatArray } from "../solvers/stepper.ts";
import { BoundGraph, type FloatDType, toFloat64 } from "../runtime/bound_graph.ts";
import type { DirectionStats, OdeGradientProblem, SolveSettings } from "./problem.ts";

/** Resolved solver settings for one direction. */
export interface ResolvedSolve {
  readonly solver: Solver;
  readonly rtol: number;
  readonly atol: number;
  readonly dt: number | undefined;
  readonly maxSteps: number;
}

/** Everything a method needs, prepared once per call. */
export interface GradientContext {
  readonly runtime: Runtime;
  readonly dynamics: Dynamics;
  readonly problem: Pick<OdeGradientProblem, "dynamics" | "params" | "constants" | "z0" | "times">;
  readonly dtype: FloatDType;
  /** Parameters in the model dtype (converted once). */
  readonly params: Params;
  /** Per-sample constants in the model dtype (converted once); never differentiated. */
  readonly constants: Params;
  /** Parameters and constants together: every input of f besides t and z, fed as they are to every graph. */
  readonly fixedInputs: Params;
  /** z's dims `[batch, ...state]`. */
  readonly zDims: readonly number[];
  /** Elements of z. */
  readonly n: number;
  readonly times: readonly number[];
  readonly forward: ResolvedSolve;
  readonly backward: ResolvedSolve;
  /** Whether dL/dt_k is wanted (`OdeGradientOptions.timeGradients`); without it the measurement times cost nothing. */
  readonly timeGradients: boolean;
  /** f(t, z) in the model dtype, one graph call. */
  readonly evaluate: (t: number, z: FloatArray) => Promise<FloatArray>;
  /** f as a float64 JavaScript vector field, for the solves that stay on the host (gq's checkpoint replay). */
  readonly vectorField: VectorField;
}

/** What the forward pass hands to the backward pass. */
export interface ForwardResult {
  /** z(t_k), float64. */
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
  readonly dparams: Record<string, FloatArray>;
  readonly dtimes: Float64Array;
  readonly stats: DirectionStats;
  readonly vjpEvals: number;
  readonly nodes: number;
  readonly heldBytes: number;
}

/**
 * A gradient method's passes: one strategy object per method kind, listed
 * once in method.ts's registry.
 */
export interface GradientStrategy<M extends { readonly kind: string }> {
  /** The method kind this strategy runs. */
  readonly kind: M["kind"];
  /** The forward solve, recording what the backward pass needs. */
  forward(ctx: GradientContext, method: M): Promise<ForwardResult>;
  /** The backward pass from ∂L/∂z(t_k). */
  backward(
    ctx: GradientContext,
    fwd: ForwardResult,
    cotangents: readonly (Float64Array | null)[],
    method: M,
  ): Promise<BackwardResult>;
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

/** The stepping-loop options of a resolved solve (the stepper holds solver and tolerances), with a first step. */
export function loopOptions(s: ResolvedSolve, firstStep?: number): SolveOptions {
  const first = s.solver.adaptive ? firstStep ?? s.dt : undefined;
  return {
    controller: iController(),
    maxSteps: s.maxSteps,
    ...(!s.solver.adaptive ? { dt: s.dt! } : {}),
    ...(first !== undefined ? { firstStep: Math.abs(first) } : {}),
  };
}

/** Converts float64 values to the model dtype (no copy for float64). */
export function inDtype(data: Float64Array, dtype: FloatDType): FloatArray {
  return dtype === "float64" ? data : Float32Array.from(data);
}

/** Reads a state block as float64 (a copy for float32, the same array for float64). */
export function asFloat64(data: FloatArray): Float64Array {
  return data instanceof Float64Array ? data : Float64Array.from(data);
}

/** The dynamics as a one-block step system: z → dz. */
export function forwardSystem(dynamics: Dynamics, dense: boolean): StepSystem {
  const hasTime = dynamics.graph.inputs.some((i) => i.name === DYNAMICS_NAMES.time);
  return {
    graph: dynamics.graph,
    ...(hasTime ? { time: DYNAMICS_NAMES.time } : {}),
    blocks: [{
      name: "z",
      input: DYNAMICS_NAMES.state,
      output: DYNAMICS_NAMES.derivative,
      inNorm: true,
      dense,
    }],
  };
}

/** A stepper for the forward dynamics, returning `extraOutputs` of its step graph with each step. */
export function forwardStepper(ctx: GradientContext, s: ResolvedSolve, dense: boolean, extraOutputs: string[] = []) {
  const { runtime, fixedInputs: params, zDims } = ctx;
  const system = forwardSystem(ctx.dynamics, dense);
  return onnxStepper({
    runtime,
    system,
    solver: s.solver,
    params,
    dims: [zDims],
    rtol: s.rtol,
    atol: s.atol,
    extraOutputs,
  });
}

/** Validates the problem against the dynamics and prepares the context. */
export async function prepareContext(
  problem: Pick<OdeGradientProblem, "dynamics" | "params" | "constants" | "z0" | "times">,
  runtime: Runtime,
  forward: ResolvedSolve,
  backward: ResolvedSolve,
  timeGradients = true,
): Promise<GradientContext> {
  const { dynamics, params, z0, times } = problem;
  const dtype = dynamics.dtype;
  const zDims = [...z0.dims];
  const stateShape = dynamics.stateShape;
  if (z0.dtype !== dtype) throw new TypeError(`z0 must be ${dtype} like the dynamics, got ${z0.dtype}`);
  if (zDims.length !== stateShape.length + 1 || stateShape.some((d, i) => zDims[i + 1] !== d)) {
    throw new TypeError(`z0 must have shape [batch, ${stateShape.join(", ")}], got ${formatShape(zDims)}`);
  }
  const converted: Record<string, Tensor> = {};
  for (const p of dynamics.params) {
    const v = params[p.name];
    if (!v) throw new TypeError(`params: missing parameter "${p.name}" of shape ${formatShape(p.shape)}`);
    if (v.dims.length !== p.shape.length || v.dims.some((d, i) => d !== p.shape[i])) {
      throw new TypeError(`params.${p.name}: expected shape ${formatShape(p.shape)}, got ${formatShape(v.dims)}`);
    }
    converted[p.name] = v.dtype === dtype
      ? v
      : { dtype, dims: v.dims, data: inDtype(toFloat64(v, `parameter "${p.name}"`), dtype) };
  }
  const given = problem.constants ?? {};
  const constants: Record<string, Tensor> = {};
  for (const c of dynamics.constants) {
    const shape = [zDims[0]!, ...c.shape.slice(1) as number[]];
    const v = given[c.name];
    if (!v) {
      throw new TypeError(`constants: missing constant "${c.name}" of shape ${formatShape(shape)} (z0's batch first)`);
    }
    if (v.dims.length !== shape.length || v.dims.some((d, i) => d !== shape[i])) {
      throw new TypeError(`constants.${c.name}: expected shape ${formatShape(shape)}, got ${formatShape(v.dims)}`);
    }
    constants[c.name] = v.dtype === dtype
      ? v
      : { dtype, dims: v.dims, data: inDtype(toFloat64(v, `constant "${c.name}"`), dtype) };
  }
  const fixedInputs: Params = { ...converted, ...constants };
  const bound = await BoundGraph.create(runtime, dynamics.graph, dtype, fixedInputs);
  const compiled: CompiledGraph = await runtime.compile(dynamics.graph);
  const hasTime = dynamics.graph.inputs.some((i) => i.name === DYNAMICS_NAMES.time);
  const n = sizeOf(zDims);
  const evaluate = async (t: number, z: FloatArray) => {
    const feeds: Record<string, Tensor> = { ...fixedInputs, [DYNAMICS_NAMES.state]: { dtype, dims: zDims, data: z } };
    if (hasTime) {
      feeds[DYNAMICS_NAMES.time] = {
        dtype,
        dims: [],
        data: dtype === "float64" ? Float64Array.of(t) : Float32Array.of(t),
      };
    }
    return (await compiled.run(feeds, [DYNAMICS_NAMES.derivative]))[DYNAMICS_NAMES.derivative]!.data as FloatArray;
  };
  const vectorField: VectorField = async (t, y) =>
    (await bound.call(t, { [DYNAMICS_NAMES.state]: { data: y, dims: zDims } }, [DYNAMICS_NAMES.derivative]))[0]!;
  return {
    runtime,
    dynamics,
    problem,
    dtype,
    params: converted,
    constants,
    fixedInputs,
    zDims,
    n,
    times,
    forward,
    backward,
    timeGradients,
    evaluate,
    vectorField,
  };
}

/**
 * The forward solve through all measurement times in one continued solve
 * (dense output between them), by fused steps in the model dtype.
 */
export async function solveForward(
  ctx: GradientContext,
  onStep?: (step: SolveStepInfo) => void,
): Promise<{ states: Float64Array[]; stats: DirectionStats }> {
  const { times } = ctx;
  const inner = times.slice(1, -1);
  const stepper = await forwardStepper(ctx, ctx.forward, inner.length > 0);
  const z0 = inDtype(toFloat64(ctx.problem.z0).slice(), ctx.dtype);
  const states: Float64Array[] = [asFloat64(z0).slice()];
  const r = await solve(stepper, [z0], times[0]!, times[times.length - 1]!, {
    ...loopOptions(ctx.forward),
    ...(inner.length > 0 ? { observe: { times: inner, at: (_t, y) => void states.push(asFloat64(y[0]!)) } } : {}),
    ...(onStep ? { onStep } : {}),
  });
  states.push(asFloat64(r.y1[0]!).slice());
  return { states, stats: { nfe: r.stats.nfe, accepted: r.stats.accepted, rejected: r.stats.rejected } };
}

/** One zero-filled dL/dθ buffer per parameter of the dynamics, in the model dtype: what unused parameters keep. */
export function zeroParamGradients(dynamics: Dynamics): Record<string, FloatArray> {
  return Object.fromEntries(
    dynamics.params.map((p) => {
      const n = sizeOf(p.shape);
      return [p.name, dynamics.dtype === "float64" ? new Float64Array(n) : new Float32Array(n)];
    }),
  );
}

/** Elementwise dot product. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** y += alpha·x, in place. */
export function axpy(y: FloatArray, alpha: number, x: ArrayLike<number>): void {
  for (let i = 0; i < y.length; i++) y[i]! += alpha * x[i]!;
}

/** dL/dt_k = f(t_k, z_k)·∂L/∂z(t_k), k ≥ 1 (0 where L ignores z(t_k) or without `timeGradients`), and the f count. */
export async function measurementTimeGradients(
  ctx: GradientContext,
  states: readonly Float64Array[],
  cotangents: readonly (Float64Array | null)[],
): Promise<{ dtimes: Float64Array; nfe: number }> {
  const dtimes = new Float64Array(ctx.times.length);
  if (!ctx.timeGradients) return { dtimes, nfe: 0 };
  let nfe = 0;
  for (let k = 1; k < ctx.times.length; k++) {
    const c = cotangents[k];
    if (!c) continue;
    dtimes[k] = dot(await ctx.evaluate(ctx.times[k]!, inDtype(states[k]!, ctx.dtype)), c);
    nfe++;
  }
  return { dtimes, nfe };
}
