/**
 * The gradient problem every method solves, its options and its result.
 *
 * A neural ODE z(t₀) = z0, dz/dt = f(z, t, θ, c), observed at measurement
 * times t₀, …, t_K, with a scalar loss of the observed states; c are the
 * dynamics' per-sample constants (`Dynamics.constants`), fed to every
 * evaluation of f and its VJPs but never differentiated. Every method returns
 * dL/dz0, dL/dθ per parameter and dL/dt_k, with statistics that make methods
 * comparable.
 *
 * @module
 */
import type { Dynamics, Params } from "../models/dynamics.ts";
import type { Tensor } from "../onnx/tensor.ts";
import type { Runtime } from "../runtime/session.ts";
import type { GradientMethod } from "./method.ts";

/**
 * The loss as a function of the states at the measurement times
 * (`states[k]` is z(t_k) flattened, float64). It returns the loss value (if it
 * has one) and ∂L/∂z(t_k) per time; `null` where L does not depend on z(t_k).
 */
export type LossFunction = (states: readonly Float64Array[]) => Promise<LossValue> | LossValue;

/** A loss value with its cotangents. */
export interface LossValue {
  /** The loss; absent when only cotangents are known. */
  readonly value?: number;
  /** ∂L/∂z(t_k) for each measurement time, or null. */
  readonly cotangents: readonly (Float64Array | null)[];
  /** dL/dφ for the loss's own parameters (a head's weights), in their dtype; absent when it has none. */
  readonly dlossParams?: Readonly<Record<string, Float32Array | Float64Array>>;
}

/**
 * What a {@linkcode DerivedLoss} is bound to: the problem's state shape and
 * dtype, its number of measurement times and the runtime its graph runs on.
 *
 * @example What odeGradient binds a loss to for z0 of shape [8, 2] and three times
 * ```ts
 * import { type LossBinding, Runtime } from "../../mod.ts";
 * const binding: LossBinding = { runtime: new Runtime(), dtype: "float64", zDims: [8, 2], times: 3 };
 * if (binding.zDims[0] !== 8) throw new Error("batch first");
 * ```
 */
export interface LossBinding {
  /** Where the loss graph runs. */
  readonly runtime: Runtime;
  /** The dynamics' dtype: the states' (and the loss graph's) element type. */
  readonly dtype: "float32" | "float64";
  /** z's dims, `[batch, ...stateShape]`. */
  readonly zDims: readonly number[];
  /** Number of measurement times, t₀ included (the length of `states`). */
  readonly times: number;
}

/**
 * A loss given as an ONNX graph, whose cotangents quadjoint derives (see
 * src/gradients/graph_loss.ts: `mseLoss`, `crossEntropyLoss`,
 * `gaussianKlLoss`, `graphLoss`). {@linkcode odeGradient} binds it before the
 * forward solve, so a graph that does not fit the states fails before any
 * work, and every gradient method sees a plain {@linkcode LossFunction}.
 *
 * @example Bound by hand, to evaluate the loss outside odeGradient
 * ```ts
 * import { fromNumbers, mseLoss, Runtime } from "../../mod.ts";
 * const loss = mseLoss({ targets: fromNumbers([1], [1, 1, 1], "float64"), at: [-1] });
 * const fn = await loss.bind({ runtime: new Runtime(), dtype: "float64", zDims: [1, 1], times: 2 });
 * const { value, cotangents } = await fn([Float64Array.of(0), Float64Array.of(3)]);
 * if (value !== 4 || cotangents[0] !== null || cotangents[1]![0] !== 4) throw new Error("(3 − 1)², 2·(3 − 1)");
 * ```
 */
export interface DerivedLoss {
  /** Names the loss in messages: the builder and, for a user graph, the graph. */
  readonly name: string;
  /**
   * Checks the loss against the states' shape and dtype (throwing a
   * `GraphError` or `RangeError` that names the graph, input and shapes),
   * compiles its graph once per runtime, and returns the loss function.
   */
  bind(binding: LossBinding): Promise<LossFunction>;
}

/** The problem: dynamics, parameters, constants, initial state and measurement times. */
export interface OdeGradientProblem {
  /** The dynamics graph f(z, t, θ, c). */
  readonly dynamics: Dynamics;
  /** Parameter values; every parameter of `dynamics` must be present. */
  readonly params: Params;
  /**
   * Values of the dynamics' per-sample constants (`dynamics.constants`), each
   * `[batch, ...]` with z0's batch; every constant must be present. They get no
   * gradient. @default {} (for dynamics without constants)
   */
  readonly constants?: Params;
  /** Initial state, `[batch, ...stateShape]`. */
  readonly z0: Tensor;
  /** Measurement times t₀ < … < t_K, or all decreasing; at least two. */
  readonly times: readonly number[];
  /**
   * The loss on the states at `times`: a function giving its cotangents, or a
   * {@linkcode DerivedLoss} (a loss graph) whose cotangents quadjoint derives.
   */
  readonly loss: LossFunction | DerivedLoss;
}

/** A solver and its tolerances, for one direction of integration. */
export interface SolveSettings {
  /** Solver name, a key of `SOLVERS` in src/solvers. @default "dopri5" */
  readonly solver?: string;
  /** Relative tolerance. @default 1e-3 */
  readonly rtol?: number;
  /** Absolute tolerance. @default 1e-3 */
  readonly atol?: number;
  /** Step size of a fixed-step solver (required there); for an adaptive solver, the size of its first step. */
  readonly dt?: number;
  /** Largest number of steps in one solve. @default 100000 */
  readonly maxSteps?: number;
}

/** Options of {@linkcode odeGradient}. */
export interface OdeGradientOptions extends SolveSettings {
  /** The gradient method. */
  readonly method: GradientMethod;
  /** Settings for the backward solve; defaults to the forward ones. */
  readonly backward?: SolveSettings;
  /** Where graphs run. @default a CPU runtime shared by all calls */
  readonly runtime?: Runtime;
  /**
   * Compute dL/dt_k, the measurement times' gradients: one evaluation of f per later time (t_1 …) the loss reads, as
   * torchdiffeq does only when `t.requires_grad`. Training has no use for them (and time series read many times), so
   * the trainers turn them off. Without them `dtimes` is NaN, and the adjoint's time adjoint a_t leaves its step
   * control, as torchdiffeq's (which stays 0 then) does. @default true
   */
  readonly timeGradients?: boolean;
}

/** Statistics of one solve direction. */
export interface DirectionStats {
  /**
   * Function evaluations: every evaluation of f or of a VJP of f (a fused
   * step of s stages counts s − 1 or s). Backwards this includes the f
   * calls at the measurement times, gq's quadrature integrands (one per
   * node, also counted in {@linkcode GradientStats.nodes}) and its
   * checkpoint replay — the same meaning in every method, so NFE compare.
   */
  nfe: number;
  /** Accepted steps. */
  accepted: number;
  /** Rejected steps. */
  rejected: number;
}

/** What a gradient computation cost. */
export interface GradientStats {
  /** The method's name. */
  readonly method: string;
  /** Forward solve. */
  readonly forward: DirectionStats;
  /** Backward pass (for direct: the stage VJPs and f at the measurement times; for gq: nodes included). */
  readonly backward: DirectionStats;
  /** Evaluations of graphs that compute a vector-Jacobian product (part of the backward NFE). */
  readonly vjpEvals: number;
  /** Quadrature nodes used (gq only; each is one evaluation in the backward NFE). */
  readonly nodes: number;
  /** Bytes of state held between the forward and the backward pass (the float64 states at the times, direct's step records in the model dtype). */
  readonly heldBytes: number;
}

/** The gradients and the forward solution. */
export interface GradientResult {
  /** The loss value, when the loss function gave one. */
  readonly loss: number | undefined;
  /** z(t_k) for each measurement time, flattened float64. */
  readonly states: readonly Float64Array[];
  /** dL/dz0, flattened float64. */
  readonly dz0: Float64Array;
  /** dL/dθ per parameter name (constants have none), flattened, in the model's dtype (`Float32Array` for float32 models). */
  readonly dparams: Readonly<Record<string, Float32Array | Float64Array>>;
  /** dL/dt_k per measurement time; NaN when `timeGradients` was off. */
  readonly dtimes: Float64Array;
  /** dL/dφ for the loss's own parameters (a loss graph's `params`, a head's weights), when it has any. */
  readonly dlossParams?: Readonly<Record<string, Float32Array | Float64Array>>;
  /** Cost statistics. */
  readonly stats: GradientStats;
}
