/**
 * The analytic stage: the paper's exponential problem dz/dt = a·z, z(0) = z0,
 * L = z(T)², whose gradients are known in closed form. For one gradient
 * method it measures the relative error of the loss, dL/dz0, dL/da and dL/dT
 * at every end time T, and the memory the method holds at each tolerance.
 * No training is involved.
 *
 * @module
 */
import type { ExponentialProblem } from "../data/analytic.ts";
import type { GradientMethod } from "../gradients/method.ts";
import { odeGradient } from "../gradients/ode_gradient.ts";
import type { GradientStats, SolveSettings } from "../gradients/problem.ts";
import { exponentialDynamics } from "../models/linear.ts";
import { tensor } from "../onnx/tensor.ts";
import { type PerGradientCosts, perGradientCosts } from "../results/records.ts";
import type { Runtime } from "../runtime/session.ts";

/** The relative errors of one method at one end time. */
export interface AnalyticErrors {
  /** End time. */
  readonly T: number;
  /** Relative error of L = z(T)². */
  readonly loss: number;
  /** Relative error of dL/dz0. */
  readonly dz0: number;
  /** Relative error of dL/da. */
  readonly da: number;
  /** Relative error of dL/dT. */
  readonly dT: number;
  /** Costs of the computation. */
  readonly stats: GradientStats;
}

/** Held memory of one method at one tolerance. */
export interface AnalyticMemory extends PerGradientCosts {
  /** rtol = atol. */
  readonly tolerance: number;
  /** End time used. */
  readonly T: number;
  /** Bytes held between forward and backward pass. */
  readonly heldBytes: number;
}

async function solveAt(
  runtime: Runtime,
  z0: number,
  a: number,
  T: number,
  method: GradientMethod,
  solve: SolveSettings & { backward?: SolveSettings },
) {
  return await odeGradient({
    dynamics: exponentialDynamics("float64"),
    params: { a: tensor(Float64Array.of(a), [1]) },
    z0: tensor(Float64Array.of(z0), [1, 1]),
    times: [0, T],
    loss: ([, zT]) => ({ value: zT![0]! ** 2, cotangents: [null, Float64Array.of(2 * zT![0]!)] }),
  }, { ...solve, method, runtime });
}

const rel = (x: number, exact: number) => Math.abs(x - exact) / Math.abs(exact);

/**
 * Relative errors of one method against the closed forms, at each end time
 * of `problem`. `onPoint` is called after each T (for progress).
 *
 * @example gq at tight tolerances is accurate
 * ```ts
 * import { analyticErrors } from "./analytic_stage.ts";
 * import { exponentialProblem } from "../data/analytic.ts";
 * import { gq } from "../gradients/method.ts";
 * import { Runtime } from "../runtime/session.ts";
 * const problem = exponentialProblem({ T: { min: 2, max: 2, count: 1 } });
 * const [e] = await analyticErrors(new Runtime({ threads: 1 }), problem, gq(), { rtol: 1e-9, atol: 1e-9 });
 * if (!(e!.da < 1e-6 && e!.dT < 1e-6)) throw new Error(`errors ${e!.da} ${e!.dT}`);
 * ```
 */
export async function analyticErrors(
  runtime: Runtime,
  problem: ExponentialProblem,
  method: GradientMethod,
  solve: SolveSettings & { backward?: SolveSettings },
  onPoint?: (done: number, total: number) => void,
): Promise<AnalyticErrors[]> {
  const out: AnalyticErrors[] = [];
  for (let i = 0; i < problem.T.length; i++) {
    const T = problem.T[i]!;
    const r = await solveAt(runtime, problem.z0, problem.a, T, method, solve);
    out.push({
      T,
      loss: rel(r.loss!, problem.loss[i]!),
      dz0: rel(r.dz0[0]!, problem.dLdz0[i]!),
      da: rel(r.dparams["a"]![0]!, problem.dLda[i]!),
      dT: rel(r.dtimes[1]!, problem.dLdT[i]!),
      stats: r.stats,
    });
    onPoint?.(i + 1, problem.T.length);
  }
  return out;
}

/**
 * Memory one method holds at each tolerance (rtol = atol = tolerance) on the
 * exponential problem at end time `T`.
 */
export async function analyticMemory(
  runtime: Runtime,
  problem: ExponentialProblem,
  T: number,
  method: GradientMethod,
  solve: SolveSettings & { backward?: SolveSettings },
  tolerances: readonly number[],
  onPoint?: (done: number, total: number) => void,
): Promise<AnalyticMemory[]> {
  const out: AnalyticMemory[] = [];
  for (const [i, tolerance] of tolerances.entries()) {
    const r = await solveAt(runtime, problem.z0, problem.a, T, method, {
      ...solve,
      rtol: tolerance,
      atol: tolerance,
      ...(solve.backward ? { backward: { ...solve.backward, rtol: tolerance, atol: tolerance } } : {}),
    });
    out.push({
      tolerance,
      T,
      heldBytes: r.stats.heldBytes,
      ...perGradientCosts(r.stats),
    });
    onPoint?.(i + 1, tolerances.length);
  }
  return out;
}
