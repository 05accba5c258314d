/**
 * The explicit step API every solve runs on (the diffrax shape): a
 * {@linkcode Stepper} evaluates the vector field and takes one Runge–Kutta
 * step with its error ratio, and holds no progress of its own; the loop in
 * `integrate.ts` owns the time, the step size and the controller state.
 *
 * A state is a list of blocks (typed arrays), so that an augmented system
 * such as the adjoint's [z, a, a_θ, a_t] keeps each part as its own tensor,
 * in the model's dtype. Two steppers implement the API:
 * - {@linkcode jsStepper}: a JavaScript vector field over one float64 block,
 *   stepped by {@linkcode rkStep} (the reference implementation);
 * - `onnxStepper` (onnx_stepper.ts): a whole step as one generated ONNX graph,
 *   one session run per step.
 *
 * @module
 */
import type { Tensor } from "../onnx/tensor.ts";
import type { ErrorNorm } from "./norm.ts";
import { rkStep, type VectorField } from "./rk.ts";
import type { DenseOutput as BlockDense, Solver, StepData } from "./solver.ts";

/** One block of a state. */
export type FloatArray = Float32Array | Float64Array;

/** A state: one or more blocks. */
export type State = readonly FloatArray[];

/** The state at any time inside an accepted step: the stepper's dense blocks. */
export type StateDense = (t: number) => State;

/** What one trial step gives. */
export interface TrialStep {
  /** The state at t0 + h. */
  readonly y1: State;
  /** f(t0 + h, y1) when the tableau is FSAL (its last stage). */
  readonly f1: State | undefined;
  /**
   * The error ratio of step control (≤ 1 accepts); 0 for a fixed-step solver.
   * Infinity when the trial state or its error is not finite.
   */
  readonly ratio: number;
  /**
   * Builds the dense output of the step ending at `t1` (t0 + h up to rounding)
   * from f(t1, y1) (FSAL: `f1`); absent when the stepper has no dense blocks.
   */
  readonly dense: ((t1: number, f1: State) => StateDense) | undefined;
  /** The stage derivatives, for steppers that keep them on the host (the JS stepper). */
  readonly stages?: readonly State[];
  /** Further values of the step, by name, when the stepper was asked for them (the ONNX stepper's `extraOutputs`). */
  readonly extras?: Readonly<Record<string, Tensor>>;
}

/** One explicit Runge–Kutta method applied to one vector field, with its tolerances. */
export interface Stepper {
  /** The solver: tableau, order, adaptivity and interpolation. */
  readonly solver: Solver;
  /** Whether its steps give dense output (needed for observations between step ends). */
  readonly dense: boolean;
  /** Number of evaluations of f made so far (each evaluation of the vector field counts once). */
  readonly nfe: number;
  /** f(t, y). */
  evaluate(t: number, y: State): Promise<State>;
  /** One trial step of size h (negative backwards) from (t0, y0) with f0 = f(t0, y0). */
  step(t0: number, h: number, y0: State, f0: State): Promise<TrialStep>;
  /** RMS of v / (atol + rtol·|y|) over the blocks in the error norm (Hairer's initial-step norms). */
  norm(v: State, y: State): number;
  /** y + h·v, blockwise (new arrays). */
  axpy(y: State, h: number, v: State): State;
  /** v − w, blockwise (new arrays). */
  sub(v: State, w: State): State;
  /** Whether every element of every block is finite. */
  finite(y: State): boolean;
}

/** Options of {@linkcode jsStepper}. */
export interface JsStepperOptions {
  /** Relative tolerance. */
  readonly rtol: number;
  /** Absolute tolerance, one number or one per component. */
  readonly atol: number | Float64Array;
  /** The error norm. */
  readonly norm: ErrorNorm;
}

function single(y: State): Float64Array {
  return y[0] as Float64Array;
}

/**
 * A stepper over a JavaScript vector field on one float64 block, stepping by
 * {@linkcode rkStep}. Stage derivatives stay on the host and are reported.
 *
 * @example One Heun–Euler step of y' = −y
 * ```ts
 * import { jsStepper } from "./stepper.ts";
 * import { rmsNorm } from "./norm.ts";
 * import { adaptiveHeun } from "./solver.ts";
 * const s = jsStepper(adaptiveHeun, (_t, y) => Promise.resolve(y.map((v) => -v)), { rtol: 1e-3, atol: 1e-6, norm: rmsNorm });
 * const y0 = [Float64Array.of(1)];
 * const r = await s.step(0, 0.1, y0, await s.evaluate(0, y0));
 * if (Math.abs(r.y1[0]![0]! - 0.905) > 1e-12 || !(r.ratio > 0)) throw new Error("unexpected step");
 * ```
 */
export function jsStepper(solver: Solver, f: VectorField, options: JsStepperOptions): Stepper {
  const { rtol, atol, norm } = options;
  const tableau = solver.tableau;
  let nfe = 0;
  const counted: VectorField = (t, y) => {
    nfe++;
    return f(t, y);
  };
  const allFinite = (v: Float64Array | undefined) => {
    if (v === undefined) return true;
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return false;
    return true;
  };
  return {
    solver,
    dense: true,
    get nfe() {
      return nfe;
    },
    async evaluate(t, y) {
      const out = await counted(t, single(y));
      if (out.length !== y[0]!.length) {
        throw new RangeError(
          `Vector field returned ${out.length} values at t = ${t} but the state has ${y[0]!.length}`,
        );
      }
      return [out];
    },
    async step(t0, h, y0, f0) {
      const y = single(y0);
      const r = await rkStep(tableau, counted, t0, y, h, single(f0));
      const finite = allFinite(r.y1) && allFinite(r.yError);
      let ratio = 0;
      if (!finite) ratio = Infinity;
      else if (solver.adaptive) ratio = norm(r.yError!, y, r.y1, rtol, atol);
      if (Number.isNaN(ratio)) ratio = Infinity;
      const stages = r.stages.map((k) => [k] as State);
      return {
        y1: [r.y1],
        f1: r.f1 === undefined ? undefined : [r.f1],
        ratio,
        stages,
        dense: (t1: number, f1: State) => {
          const data: StepData = { t0, t1, y0: y, y1: r.y1, stages: r.stages, f1: single(f1) };
          let fitted: BlockDense | undefined;
          return (t: number) => [(fitted ??= solver.interpolation.fit(data))(t)];
        },
      };
    },
    norm: (v, y) => norm(single(v), single(y), single(y), rtol, atol),
    axpy(y, h, v) {
      const a = single(y), b = single(v);
      const out = new Float64Array(a.length);
      for (let i = 0; i < a.length; i++) out[i] = a[i]! + h * b[i]!;
      return [out];
    },
    sub(v, w) {
      const a = single(v), b = single(w);
      const out = new Float64Array(a.length);
      for (let i = 0; i < a.length; i++) out[i] = a[i]! - b[i]!;
      return [out];
    },
    finite: (y) => allFinite(single(y)),
  };
}
