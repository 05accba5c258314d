/**
 * Gradients of a loss on a neural SDE's solution, through the reversible
 * Heun solver on a fixed Brownian path: the paper's two SDE baselines.
 *
 * - `"direct"` ("SDE direct"): the forward pass keeps every step's (y, ŷ)
 *   and the backward pass differentiates each step in turn — O(steps) memory.
 * - `"adjoint"` ("SDE adjoint", Kidger et al. 2021): the forward pass keeps
 *   only the observations; the backward pass rebuilds each step's state from
 *   the one after with reversible Heun's exact inverse, so the gradient equals
 *   the direct one up to round-off with O(1) memory in the number of steps.
 *
 * Both walk the same recurrence backwards. A step from n to n + 1 is
 *
 *   ŷₙ₊₁ = 2yₙ − ŷₙ + fₙ·dt + gₙ·dWₙ,  yₙ₊₁ = yₙ + ½(fₙ + fₙ₊₁)·dt + ½(gₙ + gₙ₊₁)·dWₙ,
 *
 * with fₙ = f(tₙ, ŷₙ), gₙ = g(tₙ, ŷₙ) (diagonal noise). At each point ŷₖ,
 * one call of the drift's and one of the diffusion's fused graph give f, g
 * and their vector-Jacobian products with the cotangents of fₖ and gₖ —
 * which the recurrence knows before the call — so the backward pass costs
 * one drift and one diffusion evaluation per step, as the forward does.
 *
 * @module
 */
import { adjointDynamicsGraph } from "../gradients/fused_graphs.ts";
import type { LossFunction } from "../gradients/problem.ts";
import { type Dynamics, DYNAMICS_NAMES, type Params } from "../models/dynamics.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { BoundGraph, toFloat64 } from "../runtime/bound_graph.ts";
import type { Runtime } from "../runtime/session.ts";
import type { BrownianPath } from "./brownian.ts";
import { wholeSteps } from "./sdeint.ts";
import { reversibleHeun, type ReversibleHeunState } from "./solvers.ts";
import { addNoise, checkSameState, noisePerEntry, onnxSdeTerms } from "./terms.ts";

/** A neural SDE, its initial state, observation times, loss and Brownian path. */
export interface SdeGradientProblem {
  /** Drift f(z, t, θ_f). */
  readonly drift: Dynamics;
  /** Diffusion g(z, t, θ_g), diagonal noise. */
  readonly diffusion: Dynamics;
  /** Parameters of both graphs by name (a name both graphs have is one parameter). */
  readonly params: Params;
  /** Initial state [batch, ...stateShape]. */
  readonly y0: Tensor;
  /** Observation times, increasing, each a whole number of steps after the first. */
  readonly times: readonly number[];
  /** The loss on the states at `times`. */
  readonly loss: LossFunction;
  /** The Brownian path (one component per state entry); its step must divide dt. */
  readonly brownian: BrownianPath;
  /** Solver step. */
  readonly dt: number;
}

/** The two SDE gradient methods. */
export type SdeGradientMethod = "direct" | "adjoint";

/** Options of {@linkcode sdeGradient}. */
export interface SdeGradientOptions {
  /** How the backward pass gets each step's state. */
  readonly method: SdeGradientMethod;
  /** Where the graphs run. */
  readonly runtime: Runtime;
}

/** What {@linkcode sdeGradient} returns. */
export interface SdeGradientResult {
  /** The loss, when the loss function gives it. */
  readonly loss: number | undefined;
  /** The solution at each observation time. */
  readonly states: Float64Array[];
  /** dL/dθ per parameter. */
  readonly dparams: Record<string, Float64Array>;
  /** dL/dy0. */
  readonly dy0: Float64Array;
  /** Costs. */
  readonly stats: {
    /** Solver steps. */
    readonly steps: number;
    /** Drift and diffusion evaluations of the forward pass. */
    readonly forwardCalls: number;
    /** Fused drift and diffusion calls of the backward pass. */
    readonly backwardCalls: number;
    /** Bytes of solver state kept from the forward for the backward pass. */
    readonly heldBytes: number;
  };
}

/** A fused graph (f and −aᵀ∂f/∂(z, θ)) bound to its parameters. */
interface AdjointCall {
  readonly graph: BoundGraph;
  readonly dynamics: Dynamics;
  readonly a: string;
  readonly outputs: readonly string[];
  readonly params: readonly string[];
}

async function adjointCall(runtime: Runtime, dynamics: Dynamics, params: Params): Promise<AdjointCall> {
  const fused = adjointDynamicsGraph(dynamics);
  const graph = await BoundGraph.create(runtime, fused.graph, dynamics.dtype, params);
  const names = dynamics.params.map((p) => p.name);
  const outputs = [fused.outputs.dz, fused.outputs.da, ...names.map((n) => fused.outputs.params[n]!)];
  return { graph, dynamics, a: fused.inputs.a, outputs, params: names };
}

/** One point of the backward pass: f (or g), −aᵀ∂/∂z and −aᵀ∂/∂θ at (t, ŷ). */
async function evaluate(call: AdjointCall, t: number, yHat: Float64Array, a: Float64Array, batchDims: number[]) {
  const [value, dz, ...dparams] = await call.graph.call(t, {
    [DYNAMICS_NAMES.state]: { data: yHat, dims: batchDims },
    [call.a]: { data: a, dims: batchDims },
  }, call.outputs);
  return { value: value!, dz: dz!, dparams: dparams as Float64Array[] };
}

/**
 * The loss and its gradients with respect to the parameters and the initial
 * state, for a neural SDE solved by reversible Heun on a fixed Brownian path.
 *
 * @throws {RangeError} when the times or dt do not fit the Brownian path's grid.
 * @throws {TypeError} when drift and diffusion differ in state shape or dtype.
 */
export async function sdeGradient(
  problem: SdeGradientProblem,
  options: SdeGradientOptions,
): Promise<SdeGradientResult> {
  const { drift, diffusion, params, y0, times, brownian, dt } = problem;
  const { runtime, method } = options;
  checkSameState(drift, diffusion, "sdeGradient");
  if (times.length < 2) throw new RangeError(`sdeGradient needs at least two times, got ${times.length}`);
  wholeSteps(0, dt, brownian.h, "sdeGradient: dt against the Brownian path's step");
  const t0 = times[0]!;
  brownian.index(t0);
  const observedAt = [0];
  for (let k = 1; k < times.length; k++) {
    observedAt.push(
      observedAt[k - 1]! + wholeSteps(times[k - 1]!, times[k]!, dt, `sdeGradient: times[${k - 1}] → times[${k}]`),
    );
  }
  const steps = observedAt.at(-1)!;
  const dims = [...y0.dims];
  const size = dims.reduce((a, b) => a * b, 1);
  const timeOf = (n: number) => t0 + n * dt;
  // One value per state entry: the backward recurrence reads dW entry by entry (scalar noise is spread per sample).
  const dW = (n: number) => noisePerEntry(brownian.increment(timeOf(n), timeOf(n + 1)), size);

  const f = await adjointCall(runtime, drift, params);
  const g = await adjointCall(runtime, diffusion, params);
  const terms = await onnxSdeTerms({ runtime, drift, diffusion, params });
  let backwardCalls = 0;

  // Forward: reversible Heun from ŷ₀ = y₀, as sdeint steps it.
  let state = await reversibleHeun.init(terms, t0, toFloat64(y0, "y0"));
  const states = [state.y.slice()];
  const stored: ReversibleHeunState[] = method === "direct" ? [state] : [];
  const observed = new Set(observedAt);
  for (let n = 0; n < steps; n++) {
    state = await reversibleHeun.step(terms, state, timeOf(n), dt, dW(n));
    if (method === "direct") stored.push(state);
    if (observed.has(n + 1)) states.push(state.y.slice());
  }
  const { y, yHat } = state;
  const forwardCalls = 2 * (steps + 1);
  const { value, cotangents } = await problem.loss(states);
  const cotangentAt = new Map<number, Float64Array>();
  cotangents.forEach((c, k) => {
    if (c) cotangentAt.set(observedAt[k]!, c);
  });

  // Backward over the points k = N … 0 (see the module doc for the recurrence).
  const dparams: Record<string, Float64Array> = {};
  const addParams = (call: AdjointCall, grads: readonly Float64Array[]) => {
    call.params.forEach((name, q) => {
      const acc = dparams[name] ??= new Float64Array(grads[q]!.length);
      // The fused graph gives −aᵀ∂f/∂θ.
      for (let i = 0; i < acc.length; i++) acc[i]! -= grads[q]![i]!;
    });
  };
  let yBar = cotangentAt.get(steps)?.slice() ?? new Float64Array(size);
  let hatBar = new Float64Array(size), fBar = new Float64Array(size), gBar = new Float64Array(size);
  // The adjoint knows y_k only after f_k is evaluated; `partial` is y_k without its −½(f_k dt + g_k dW) terms.
  let pointHat: Float64Array = yHat, pointY: Float64Array = y, partial: Float64Array | undefined;
  for (let k = steps; k >= 0; k--) {
    // Cotangents of f_k and g_k: from step k (fBar, gBar) and from y_k's own formula in step k − 1.
    const wBefore = k > 0 ? dW(k - 1) : undefined;
    const aF = fBar.slice(), aG = gBar.slice();
    if (wBefore) {
      for (let i = 0; i < size; i++) {
        aF[i]! += (dt / 2) * yBar[i]!;
        aG[i]! += 0.5 * wBefore[i]! * yBar[i]!;
      }
    }
    if (method === "direct") [pointY, pointHat] = [stored[k]!.y, stored[k]!.yHat];
    const ef = await evaluate(f, timeOf(k), pointHat, aF, dims);
    const eg = await evaluate(g, timeOf(k), pointHat, aG, dims);
    backwardCalls += 2;
    addParams(f, ef.dparams);
    addParams(g, eg.dparams);
    if (method === "adjoint" && partial) {
      pointY = partial;
      for (let i = 0; i < size; i++) pointY[i]! -= (dt / 2) * ef.value[i]!;
      addNoise(pointY, eg.value, dW(k), -0.5);
    }
    const hatTotal = new Float64Array(size);
    for (let i = 0; i < size; i++) hatTotal[i] = hatBar[i]! - ef.dz[i]! - eg.dz[i]!;
    if (k === 0) {
      const dy0 = yBar.map((v, i) => v + hatTotal[i]!);
      return {
        loss: value,
        states,
        dparams,
        dy0,
        stats: {
          steps,
          forwardCalls,
          backwardCalls,
          heldBytes: method === "direct" ? stored.length * 2 * size * 8 : 4 * size * 8,
        },
      };
    }
    // Step k − 1 → k: y_k = y_{k−1} + ½(f_{k−1} + f_k)dt + …, ŷ_k = 2y_{k−1} − ŷ_{k−1} + f_{k−1}dt + g_{k−1}dW.
    const w = wBefore!;
    const nextYBar = new Float64Array(size);
    fBar = new Float64Array(size);
    gBar = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      nextYBar[i] = yBar[i]! + 2 * hatTotal[i]!;
      fBar[i] = (dt / 2) * yBar[i]! + dt * hatTotal[i]!;
      gBar[i] = w[i]! * (0.5 * yBar[i]! + hatTotal[i]!);
    }
    hatBar = hatTotal.map((v) => -v);
    const observed = cotangentAt.get(k - 1);
    if (observed) { for (let i = 0; i < size; i++) nextYBar[i]! += observed[i]!; }
    yBar = nextYBar;
    if (method === "adjoint") {
      // Reversible Heun's inverse: ŷ_{k−1} from (y_k, ŷ_k, f_k, g_k); y_{k−1} once f_{k−1} and g_{k−1} are known.
      const prevHat = new Float64Array(size), prevPartial = new Float64Array(size);
      for (let i = 0; i < size; i++) {
        prevHat[i] = 2 * pointY[i]! - pointHat[i]! - dt * ef.value[i]!;
        prevPartial[i] = pointY[i]! - (dt / 2) * ef.value[i]!;
      }
      addNoise(prevHat, eg.value, w, -1);
      addNoise(prevPartial, eg.value, w, -0.5);
      pointHat = prevHat;
      partial = prevPartial;
    }
  }
  throw new Error("unreachable");
}
