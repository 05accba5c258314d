/**
 * `odeGradient`: one entry point for every gradient method.
 *
 * It validates the problem, runs the method's forward solve (recording what
 * its backward pass needs), asks the loss for its cotangents, and hands over
 * to the method's backward pass, both looked up in the strategy table of
 * method.ts. The methods share the context, the fused-step forward solve and
 * the statistics (`_context.ts`), so they differ only where the mathematics
 * does.
 *
 * @module
 */
import { Runtime } from "../runtime/session.ts";
import { type GradientStrategy, prepareContext, resolveSolve, solveForward } from "./_context.ts";
import { GRADIENT_STRATEGIES, type GradientMethod, methodName } from "./method.ts";
import type {
  DirectionStats,
  GradientResult,
  LossFunction,
  LossValue,
  OdeGradientOptions,
  OdeGradientProblem,
  SolveSettings,
} from "./problem.ts";

let sharedRuntime: Runtime | undefined;

/**
 * Solves the ODE forward and returns the loss gradients by the chosen method.
 *
 * dL/dθ comes back in the model's dtype (float32 models: `Float32Array`);
 * dL/dz0, dL/dt_k and the states are float64. The loss is a function giving
 * its cotangents, or a loss graph (`mseLoss`, `crossEntropyLoss`,
 * `gaussianKlLoss`, `graphLoss`) whose cotangents quadjoint derives; a graph is
 * checked against the states before the forward solve.
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
  checkTimes(problem.times);
  const forward = resolveSolve(options, undefined, "options");
  const backward = resolveSolve(options.backward ?? {}, forward, "options.backward");
  const strategy = GRADIENT_STRATEGIES[options.method.kind] as GradientStrategy<GradientMethod> | undefined;
  if (!strategy) throw new RangeError(`Unknown gradient method kind "${options.method.kind}"`);
  const runtime = options.runtime ?? (sharedRuntime ??= new Runtime());
  const timeGradients = options.timeGradients ?? true;
  const ctx = await prepareContext(problem, runtime, forward, backward, timeGradients);
  // A loss graph is bound (checked against the states, compiled) before any solving.
  const lossFn = typeof problem.loss === "function"
    ? problem.loss
    : await problem.loss.bind({ runtime, dtype: ctx.dtype, zDims: ctx.zDims, times: problem.times.length });
  const fwd = await strategy.forward(ctx, options.method);
  const loss = await evaluateLoss(fwd.states, ctx.n, lossFn);
  const bwd = await strategy.backward(ctx, fwd, loss.cotangents, options.method);
  return {
    loss: loss.value,
    states: fwd.states,
    dz0: bwd.dz0,
    dparams: bwd.dparams,
    dtimes: timeGradients ? bwd.dtimes : new Float64Array(problem.times.length).fill(NaN),
    ...(loss.dlossParams ? { dlossParams: loss.dlossParams } : {}),
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

/** Options of {@linkcode odeSolve}. */
export interface OdeSolveOptions extends SolveSettings {
  /** Where graphs run. @default a CPU runtime shared by all calls */
  readonly runtime?: Runtime;
}

/**
 * The forward solve alone: z(t_k) at every measurement time (float64), by
 * the same fused steps as the gradient methods' forward pass.
 *
 * @example dz/dt = −z at two times
 * ```ts
 * import { GraphBuilder, asDynamics, fromNumbers, odeSolve } from "../../mod.ts";
 * const b = new GraphBuilder("decay");
 * b.input("t", "float64", []);
 * const z = b.input("z", "float64", ["batch", 1]);
 * b.output(b.op1("Neg", [z]), "dz");
 * const { states } = await odeSolve({
 *   dynamics: asDynamics(b.build()),
 *   params: {},
 *   z0: fromNumbers([1], [1, 1], "float64"),
 *   times: [0, 1, 2],
 * }, { rtol: 1e-8, atol: 1e-8 });
 * if (Math.abs(states[2]![0]! - Math.exp(-2)) > 1e-6) throw new Error("inaccurate");
 * ```
 */
export async function odeSolve(
  problem: Omit<OdeGradientProblem, "loss">,
  options: OdeSolveOptions = {},
): Promise<{ states: Float64Array[]; stats: DirectionStats }> {
  checkTimes(problem.times);
  const { runtime: given, ...settings } = options;
  const forward = resolveSolve(settings, undefined, "options");
  const runtime = given ?? (sharedRuntime ??= new Runtime());
  const ctx = await prepareContext(problem, runtime, forward, forward);
  return await solveForward(ctx);
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

async function evaluateLoss(states: Float64Array[], n: number, lossFn: LossFunction): Promise<LossValue> {
  const loss = await lossFn(states);
  if (loss.cotangents.length !== states.length) {
    throw new RangeError(`loss returned ${loss.cotangents.length} cotangents for ${states.length} measurement times`);
  }
  loss.cotangents.forEach((c, k) => {
    if (c && c.length !== n) {
      throw new RangeError(`loss cotangent ${k} has ${c.length} elements, z has ${n}`);
    }
  });
  return loss;
}
