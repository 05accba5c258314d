/**
 * Solving dy/dt = f(t, y) between two times, adaptively or on a fixed grid,
 * with dense output at observation times and a hook on every accepted step.
 *
 * {@linkcode solve} is the one stepping loop: it runs any
 * {@linkcode Stepper} (a JavaScript vector field, or whole steps as ONNX
 * graphs) under any {@linkcode StepController}. {@linkcode integrate} is that
 * loop for a JavaScript vector field on a float64 vector.
 *
 * Step control follows torchdiffeq so step counts are comparable: Hairer's
 * initial step (II.4; two f evaluations), error ratio
 * rms(err / (atol + rtol·max(|y0|, |y1|))), next step
 * h·min(ifactor, max(safety·ratio^(−1/order), dfactor)) with `order` the
 * solver's order (5 for dopri5) and no shrinking after an accepted step, and
 * FSAL reuse. Unlike torchdiffeq the last step is shortened to land exactly on
 * t1 (torchdiffeq steps past and interpolates back), a non-finite trial step
 * is rejected and shrunk instead of failing at once, and failures are
 * {@linkcode SolverError}s rather than asserts.
 *
 * Why one file: the one stepping loop and its two front ends (integrate, odeint) share the observation and statistics code.
 *
 * @module
 */
import { type ControllerState, iController, type StepController } from "./controller.ts";
import { type ErrorNorm, rmsNorm } from "./norm.ts";
import type { VectorField } from "./rk.ts";
import { type DenseOutput, dopri5, type Solver } from "./solver.ts";
import { SolverError } from "./solver_error.ts";
import { jsStepper, type State, type StateDense, type Stepper, type TrialStep } from "./stepper.ts";

export type { VectorField } from "./rk.ts";

/** Counters of one solve. */
export interface IntegrateStats {
  /** Every evaluation of f, initial-step ones included. */
  nfe: number;
  /** Accepted steps. */
  accepted: number;
  /** Rejected steps (always 0 on a fixed grid). */
  rejected: number;
  /** Evaluations spent choosing the first step (2, or 0 when `firstStep` or a fixed grid is used). */
  initialStepNfe: number;
}

/** One accepted step, as handed to `onStep`. Arrays are not modified later by the solver; do not modify them. */
export interface StepInfo {
  /** Start of the step. */
  readonly t0: number;
  /** End of the step; the step size is t1 − t0 (negative backwards). */
  readonly t1: number;
  /** State at t0. */
  readonly y0: Float64Array;
  /** State at t1. */
  readonly y1: Float64Array;
  /** f(t0, y0) (= stages[0]). */
  readonly f0: Float64Array;
  /** f(t1, y1). */
  readonly f1: Float64Array;
  /** Stage derivatives of the step. */
  readonly stages: readonly Float64Array[];
  /** Dense output: the state at any t in the step (stays valid after the callback). */
  readonly interpolate: DenseOutput;
  /** The size step control proposes for the next step (positive; a fixed-step solve: this step's size). */
  readonly nextStep: number;
}

/** One accepted step of {@linkcode solve}, as handed to its `onStep`. */
export interface SolveStepInfo {
  /** Start of the step. */
  readonly t0: number;
  /** End of the step (t1 − t0 is the signed step size). */
  readonly t1: number;
  /** State at t0. */
  readonly y0: State;
  /** State at t1. */
  readonly y1: State;
  /** f(t0, y0). */
  readonly f0: State;
  /** f(t1, y1). */
  readonly f1: State;
  /** Stage derivatives, when the stepper keeps them on the host. */
  readonly stages: readonly State[] | undefined;
  /** The step's further values, when the stepper gives them ({@linkcode TrialStep.extras}). */
  readonly extras: TrialStep["extras"];
  /** The stepper's dense blocks at any t in the step; absent when the stepper has none. */
  readonly interpolate: StateDense | undefined;
  /** The size step control proposes for the next step (positive; a fixed-step solve: this step's size). */
  readonly nextStep: number;
}

/** States wanted at times inside the solve. */
export interface Observe<Y = Float64Array> {
  /** Times in [t0, t1], monotone in the direction of integration. */
  readonly times: readonly number[];
  /**
   * "interpolate": the solver's dense output inside its steps; "clamp": steps
   * shortened to land exactly on each time (more steps, no interpolation error).
   * @default "interpolate"
   */
  readonly by?: "interpolate" | "clamp";
  /** Called once per time, in order, with new arrays (for {@linkcode solve}: the dense blocks, the whole state at a step end). */
  readonly at: (t: number, y: Y) => void | Promise<void>;
}

/** Options of {@linkcode solve}: the loop's own, whatever the stepper. */
export interface SolveOptions {
  /** Step-size controller. @default iController() */
  readonly controller?: StepController;
  /** Size of the first step (positive); skips the initial-step selection. */
  readonly firstStep?: number;
  /** Smallest step size; a rejected step of this size fails with a SolverError. @default 0 */
  readonly minStep?: number;
  /** Largest step size. @default Infinity */
  readonly maxStep?: number;
  /** Most steps (accepted + rejected) before a SolverError. @default 100000 */
  readonly maxSteps?: number;
  /** Fixed step size; solves on a fixed grid (required for fixed-step solvers unless `steps` is given). */
  readonly dt?: number;
  /** Number of equal fixed steps (instead of `dt`). */
  readonly steps?: number;
  /** States wanted inside the solve. */
  readonly observe?: Observe<State>;
  /** Called after each accepted step. */
  readonly onStep?: (step: SolveStepInfo) => void | Promise<void>;
}

/** Options of {@linkcode integrate}. */
export interface IntegrateOptions {
  /** The solver. @default dopri5 */
  readonly solver?: Solver;
  /** Relative tolerance. @default 1e-7 */
  readonly rtol?: number;
  /** Absolute tolerance, one number or one per component. @default 1e-9 */
  readonly atol?: number | Float64Array;
  /** Size of the first step (positive); skips the initial-step selection. */
  readonly firstStep?: number;
  /** Smallest step size; a rejected step of this size fails with a SolverError. @default 0 */
  readonly minStep?: number;
  /** Largest step size. @default Infinity */
  readonly maxStep?: number;
  /** Most steps (accepted + rejected) before a SolverError. @default 100000 */
  readonly maxSteps?: number;
  /** Step-size controller; when given, `safety`, `ifactor` and `dfactor` must not be. @default iController() */
  readonly controller?: StepController;
  /** Safety factor of the default controller. @default 0.9 */
  readonly safety?: number;
  /** Largest growth of the step per step (default controller). @default 10 */
  readonly ifactor?: number;
  /** Smallest shrink factor after a rejection (default controller). @default 0.2 */
  readonly dfactor?: number;
  /** Error norm; pass a seminorm to drop components from step control. @default rmsNorm */
  readonly norm?: ErrorNorm;
  /** Fixed step size; solves on a fixed grid (required for fixed-step solvers unless `steps` is given). */
  readonly dt?: number;
  /** Number of equal fixed steps (instead of `dt`). */
  readonly steps?: number;
  /** States wanted inside the solve. */
  readonly observe?: Observe;
  /** Called after each accepted step. */
  readonly onStep?: (step: StepInfo) => void | Promise<void>;
}

/** What {@linkcode integrate} returns. */
export interface IntegrateResult {
  /** State at t1. */
  readonly y1: Float64Array;
  /** Counters. */
  readonly stats: IntegrateStats;
  /**
   * Proposed size (positive) of the next step, to continue with as `firstStep`
   * (a last step shortened to land on t1 does not shrink it); the grid step on
   * a fixed grid, `firstStep ?? 0` when t0 = t1.
   */
  readonly lastStep: number;
}

/** What {@linkcode solve} returns. */
export interface SolveResult {
  /** State at t1. */
  readonly y1: State;
  /** Counters. */
  readonly stats: IntegrateStats;
  /** As {@linkcode IntegrateResult.lastStep}. */
  readonly lastStep: number;
}

const SOLVE_KEYS = ["controller", "firstStep", "minStep", "maxStep", "maxSteps", "dt", "steps", "observe", "onStep"];
const INTEGRATE_KEYS = new Set([...SOLVE_KEYS, "solver", "rtol", "atol", "safety", "ifactor", "dfactor", "norm"]);

interface Resolved {
  controller: StepController;
  firstStep: number | undefined;
  minStep: number;
  maxStep: number;
  maxSteps: number;
  dt: number | undefined;
  gridSteps: number | undefined;
}

function positive(name: string, v: number | undefined): void {
  if (v !== undefined && !(v > 0 && Number.isFinite(v))) {
    throw new RangeError(`integrate: option ${name} must be a positive finite number, got ${v}`);
  }
}

/** Checks the tolerances of a solve: rtol ≥ 0, atol ≥ 0 (or one per component), not both 0. */
export function checkTolerances(rtol: number, atol: number | Float64Array, n: number): void {
  if (!(rtol >= 0 && Number.isFinite(rtol))) throw new RangeError(`integrate: option rtol must be ≥ 0, got ${rtol}`);
  if (typeof atol === "number") {
    if (!(atol >= 0 && Number.isFinite(atol))) throw new RangeError(`integrate: option atol must be ≥ 0, got ${atol}`);
    if (rtol === 0 && atol === 0) throw new RangeError("integrate: rtol and atol are both 0; make one positive");
  } else {
    if (atol.length !== n) {
      throw new RangeError(`integrate: option atol has ${atol.length} components but the state has ${n}`);
    }
    atol.forEach((v, i) => {
      if (!(v >= 0 && Number.isFinite(v))) throw new RangeError(`integrate: option atol[${i}] must be ≥ 0, got ${v}`);
    });
  }
}

function resolveOptions(options: SolveOptions, solver: Solver, span: number): Resolved {
  const { controller = iController(), firstStep, minStep = 0, maxStep = Infinity, maxSteps = 100000, dt, steps } =
    options;
  positive("firstStep", firstStep);
  positive("dt", dt);
  if (!(minStep >= 0 && Number.isFinite(minStep))) {
    throw new RangeError(`integrate: option minStep must be ≥ 0, got ${minStep}`);
  }
  if (!(maxStep > 0)) throw new RangeError(`integrate: option maxStep must be positive, got ${maxStep}`);
  if (minStep > maxStep) throw new RangeError(`integrate: minStep ${minStep} exceeds maxStep ${maxStep}`);
  if (!(Number.isInteger(maxSteps) && maxSteps > 0)) {
    throw new RangeError(`integrate: option maxSteps must be a positive integer, got ${maxSteps}`);
  }
  if (steps !== undefined && !(Number.isInteger(steps) && steps > 0)) {
    throw new RangeError(`integrate: option steps must be a positive integer, got ${steps}`);
  }
  if (dt !== undefined && steps !== undefined) {
    throw new RangeError(`integrate: give dt (${dt}) or steps (${steps}), not both`);
  }
  let gridDt = dt;
  if (steps !== undefined) gridDt = span / steps;
  if (!solver.adaptive && gridDt === undefined && span > 0) {
    throw new RangeError(`integrate: fixed-step solver ${solver.name} needs option dt or steps, got neither`);
  }
  return { controller, firstStep, minStep, maxStep, maxSteps, dt: gridDt, gridSteps: steps };
}

/** Pending observation times and how they are met. */
class Observer {
  readonly #obs: Observe<State> | undefined;
  readonly #dir: number;
  #next = 0;

  constructor(obs: Observe<State> | undefined, t0: number, t1: number, dir: number) {
    this.#obs = obs;
    this.#dir = dir;
    if (!obs) return;
    if (obs.by !== undefined && obs.by !== "interpolate" && obs.by !== "clamp") {
      throw new RangeError(`integrate: observe.by must be "interpolate" or "clamp", got "${obs.by}"`);
    }
    const lo = Math.min(t0, t1), hi = Math.max(t0, t1);
    obs.times.forEach((t, i) => {
      if (!Number.isFinite(t) || t < lo || t > hi) {
        throw new RangeError(`integrate: observe.times[${i}] = ${t} is not inside [${lo}, ${hi}]`);
      }
      if (i > 0 && (t - obs.times[i - 1]!) * dir < 0) {
        throw new RangeError(
          `integrate: observe.times[${i}] = ${t} goes against the direction of integration after ${obs.times[i - 1]}`,
        );
      }
    });
  }

  get clamp(): boolean {
    return this.#obs?.by === "clamp";
  }

  get count(): number {
    return this.#obs?.times.length ?? 0;
  }

  /** The next pending time, if any. */
  peek(): number | undefined {
    return this.#obs?.times[this.#next];
  }

  /** Whether a pending time lies strictly before `t` (in the direction of integration). */
  needsInterpolation(t: number): boolean {
    const p = this.peek();
    return p !== undefined && (p - t) * this.#dir < 0;
  }

  /** Emits every pending time up to and including `t1`; `y1` exactly at t1, else `dense`. */
  async emit(t1: number, y1: State, dense: StateDense | undefined): Promise<void> {
    const obs = this.#obs;
    if (!obs) return;
    for (let p = this.peek(); p !== undefined && (p - t1) * this.#dir <= 0; p = this.peek()) {
      this.#next++;
      let y: State;
      if (p === t1) y = y1.map((b) => b.slice());
      else if (dense) y = dense(p);
      else throw new Error(`integrate: internal error, no dense output for observation at t = ${p}`);
      await obs.at(p, y);
    }
  }
}

/** Hairer & Wanner II.4 starting step (torchdiffeq's _select_initial_step). Two evaluations: f0 and one more. */
async function initialStep(stepper: Stepper, t0: number, y0: State, f0: State, dir: number): Promise<number> {
  const d0 = stepper.norm(y0, y0);
  const d1 = stepper.norm(f0, y0);
  const h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
  const f1 = await stepper.evaluate(t0 + dir * h0, stepper.axpy(y0, dir * h0, f0));
  const d2 = stepper.norm(stepper.sub(f1, f0), y0) / h0;
  const order = stepper.solver.order;
  const h1 = d1 <= 1e-15 && d2 <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : (0.01 / Math.max(d1, d2)) ** (1 / order);
  const h = Math.min(100 * h0, h1);
  return Number.isFinite(h) && h > 0 ? h : 1e-6;
}

/**
 * The stepping loop: solves from (t0, y0) to t1 (t1 < t0 backwards) with any
 * stepper and controller. Adaptive unless `dt` or `steps` is given; states at
 * `observe.times` come from the stepper's dense output or from steps clamped
 * onto them; `onStep` sees every accepted step.
 *
 * @throws {SolverError} when the state becomes NaN/Inf, the step size
 * underflows after rejections, or `maxSteps` is reached.
 * @throws {RangeError} for invalid options or observation times.
 *
 * @example y' = −y with the JavaScript stepper and a PI controller
 * ```ts
 * import { solve } from "./integrate.ts";
 * import { piController } from "./controller.ts";
 * import { jsStepper } from "./stepper.ts";
 * import { rmsNorm } from "./norm.ts";
 * import { dopri5 } from "./solver.ts";
 * const stepper = jsStepper(dopri5, (_t, y) => Promise.resolve(y.map((v) => -v)), { rtol: 1e-8, atol: 1e-10, norm: rmsNorm });
 * const { y1 } = await solve(stepper, [Float64Array.of(1)], 0, 1, { controller: piController() });
 * if (Math.abs(y1[0]![0]! - Math.exp(-1)) > 1e-7) throw new Error("inaccurate");
 * ```
 */
export async function solve(
  stepper: Stepper,
  y0: State,
  t0: number,
  t1: number,
  options: SolveOptions = {},
): Promise<SolveResult> {
  for (const key of Object.keys(options)) {
    if (!SOLVE_KEYS.includes(key)) {
      throw new TypeError(`solve: unknown option "${key}"; known options are ${SOLVE_KEYS.join(", ")}`);
    }
  }
  if (!Number.isFinite(t0) || !Number.isFinite(t1)) {
    throw new RangeError(`integrate: t0 and t1 must be finite, got t0 = ${t0}, t1 = ${t1}`);
  }
  const solver = stepper.solver;
  const span = Math.abs(t1 - t0);
  const o = resolveOptions(options, solver, span);
  const dir = t1 >= t0 ? 1 : -1;
  const observer = new Observer(options.observe, t0, t1, dir);
  const interior = options.observe?.times.some((t) => t !== t0 && t !== t1) ?? false;
  if (interior && !observer.clamp && !stepper.dense) {
    throw new RangeError(
      'solve: observe.by is "interpolate" but the stepper has no dense output; make it with dense blocks or observe by "clamp"',
    );
  }
  const onStep = options.onStep;
  const nfe0 = stepper.nfe;
  const stats: IntegrateStats = { nfe: 0, accepted: 0, rejected: 0, initialStepNfe: 0 };
  const finish = (y1: State, lastStep: number): SolveResult => {
    stats.nfe = stepper.nfe - nfe0;
    return { y1, stats, lastStep };
  };

  await observer.emit(t0, y0, undefined);
  if (t0 === t1) return finish(y0.map((b) => b.slice()), o.firstStep ?? 0);

  const fixed = o.dt !== undefined;
  let t = t0;
  let y = y0;
  let attempts = 0;
  const fail = (reason: "nonfinite" | "underflow" | "maxSteps", h: number, detail?: string): never => {
    throw new SolverError(reason, { solver: solver.name, t, h, steps: attempts }, detail);
  };

  let f0: State | undefined = await stepper.evaluate(t0, y0);
  if (!stepper.finite(f0)) fail("nonfinite", 0, "f(t0, y0) is not finite");

  // Fixed grid: points t0 + dir·i·dt for i < gridN, then t1.
  let h: number; // magnitude of the next step to try
  let gridN = 0, gridI = 1;
  if (fixed) {
    h = o.dt!;
    gridN = o.gridSteps ?? Math.max(1, Math.ceil(span / h - 1e-10));
    const clampCount = observer.clamp ? observer.count : 0;
    if (gridN > o.maxSteps) {
      fail("maxSteps", dir * h, `the fixed grid needs ${gridN} steps but maxSteps is ${o.maxSteps}`);
    }
    if (gridN + clampCount > o.maxSteps) {
      fail("maxSteps", dir * h, `the fixed grid with clamped observations needs up to ${gridN + clampCount} steps`);
    }
  } else if (o.firstStep !== undefined) {
    h = o.firstStep;
  } else {
    const before = stepper.nfe;
    h = await initialStep(stepper, t0, y0, f0, dir);
    stats.initialStepNfe = stepper.nfe - before + 1; // f(t0, y0) included, as torchdiffeq counts it
  }
  if (!fixed) h = Math.min(Math.max(h, o.minStep), o.maxStep);
  let control: ControllerState = o.controller.init();

  while (t !== t1) {
    // Where this step must not pass: the next clamped observation, else t1.
    let target = t1;
    if (observer.clamp) {
      const p = observer.peek();
      if (p !== undefined && (p - t) * dir > 0) target = p;
    }
    let hTry: number;
    let tNext: number;
    let landed = false;
    if (fixed) {
      const g = gridI < gridN ? t0 + dir * gridI * o.dt! : t1;
      const tiny = 1e-10 * o.dt!;
      if ((target - g) * dir <= tiny) {
        tNext = target;
        if (Math.abs(target - g) <= tiny) gridI++;
      } else {
        tNext = g;
        gridI++;
      }
      hTry = tNext - t;
      landed = true;
    } else {
      hTry = dir * h;
      if ((t + hTry - target) * dir >= 0) {
        hTry = target - t;
        landed = true;
        tNext = target;
      } else {
        tNext = t + hTry;
        if (tNext === t) fail("underflow", hTry, "t + h == t");
      }
    }
    if (attempts >= o.maxSteps) fail("maxSteps", hTry, `maxSteps is ${o.maxSteps}`);
    attempts++;
    const step = await stepper.step(t, hTry, y, f0!);
    const y1 = step.y1;

    if (fixed) {
      if (!Number.isFinite(step.ratio)) fail("nonfinite", hTry);
    } else {
      const ratio = step.ratio;
      const finite = Number.isFinite(ratio);
      const decision = o.controller.decide(ratio, solver.order, control);
      const hAbs = Math.abs(hTry);
      if (!decision.accept) {
        stats.rejected++;
        const reason = finite ? "underflow" : "nonfinite";
        if (o.minStep > 0 && hAbs <= o.minStep) fail(reason, hTry, `rejected at minStep ${o.minStep}`);
        const hNew = Math.min(Math.max(hAbs * decision.factor, o.minStep), o.maxStep);
        // Below one ulp of |t| or of the span (at t = 0 the step would otherwise shrink to exactly 0 first; a
        // floor of 1e-14 of a 1e8 span refused steps a fast pulse near 0 needs).
        const floor = Number.EPSILON * Math.max(Math.abs(t), Math.abs(t1 - t0));
        if (hNew < floor || t + dir * hNew === t || hNew === 0) {
          fail(reason, dir * hNew, finite ? `error ratio ${ratio.toPrecision(3)}` : "trial steps are not finite");
        }
        h = hNew;
        control = decision.state;
        continue;
      }
      control = decision.state;
      let hNext = hAbs * decision.factor;
      // A step shortened onto an observation or onto t1 says little about the step size: keep the earlier
      // proposal (after t1 it is `lastStep`, which a continuing solve starts from).
      if (landed) hNext = Math.max(hNext, h);
      h = Math.min(Math.max(hNext, o.minStep), o.maxStep);
    }
    stats.accepted++;

    const last = tNext === t1;
    let f1 = step.f1;
    if (f1 === undefined && (!last || onStep !== undefined || observer.needsInterpolation(tNext))) {
      f1 = await stepper.evaluate(tNext, y1);
    }
    let dense: StateDense | undefined;
    if (f1 !== undefined && step.dense) {
      const fit = step.dense;
      const end = tNext, f1End = f1;
      let fitted: StateDense | undefined;
      dense = (tau: number) => (fitted ??= fit(end, f1End))(tau);
    }
    if (onStep) {
      const nextStep = fixed ? Math.abs(tNext - t) : h;
      await onStep({
        t0: t,
        t1: tNext,
        y0: y,
        y1,
        f0: f0!,
        f1: f1!,
        stages: step.stages,
        extras: step.extras,
        interpolate: dense,
        nextStep,
      });
    }
    await observer.emit(tNext, y1, dense);
    t = tNext;
    y = y1;
    f0 = f1;
  }
  return finish(y === y0 ? y0.map((b) => b.slice()) : y, h);
}

/**
 * Solves dy/dt = f(t, y) from t0 to t1 (t1 < t0 integrates backwards) for a
 * JavaScript vector field on a float64 vector: {@linkcode solve} with
 * {@linkcode jsStepper}.
 *
 * Adaptive unless `dt` or `steps` is given (a fixed grid of size dt, its last
 * step shortened to land on t1; fixed-step solvers need one of them). States at
 * `observe.times` come from the dense output or from steps clamped onto them;
 * `onStep` sees every accepted step with its dense output.
 *
 * Cost: an adaptive FSAL solve makes 2 + (stages − 1)·(accepted + rejected)
 * evaluations; a non-FSAL one also evaluates f(t1, y1) after each accepted step
 * but the last (which it only evaluates when `onStep` or an observation inside
 * the last step needs it).
 *
 * @throws {SolverError} when the state becomes NaN/Inf, the step size
 * underflows after rejections, or `maxSteps` is reached.
 * @throws {RangeError} for invalid options, y0 or observation times.
 *
 * @example Backwards in time, with observations
 * ```ts
 * import { integrate } from "./integrate.ts";
 * const seen: number[] = [];
 * const { y1, stats } = await integrate((_t, y) => Promise.resolve(y.map((v) => 2 * v)), new Float64Array([1]), 1, 0, {
 *   observe: { times: [0.5], at: (_t, y) => void seen.push(y[0]!) },
 * });
 * if (Math.abs(y1[0]! - Math.exp(-2)) > 1e-7 || Math.abs(seen[0]! - Math.exp(-1)) > 1e-7) throw new Error("inaccurate");
 * if (stats.nfe !== 2 + 6 * (stats.accepted + stats.rejected)) throw new Error("unexpected count");
 * ```
 */
export async function integrate(
  f: VectorField,
  y0: Float64Array,
  t0: number,
  t1: number,
  options: IntegrateOptions = {},
): Promise<IntegrateResult> {
  for (const key of Object.keys(options)) {
    if (!INTEGRATE_KEYS.has(key)) {
      throw new TypeError(`integrate: unknown option "${key}"; known options are ${[...INTEGRATE_KEYS].join(", ")}`);
    }
  }
  y0.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new RangeError(`integrate: y0[${i}] must be finite, got ${v}`);
  });
  const {
    solver = dopri5,
    rtol = 1e-7,
    atol = 1e-9,
    norm = rmsNorm,
    safety,
    ifactor,
    dfactor,
    controller,
    observe,
    onStep,
    ...loop
  } = options;
  checkTolerances(rtol, atol, y0.length);
  if (controller !== undefined && (safety ?? ifactor ?? dfactor) !== undefined) {
    throw new RangeError("integrate: give a controller or safety/ifactor/dfactor for the default one, not both");
  }
  const stepper = jsStepper(solver, f, { rtol, atol, norm });
  const solveOptions: SolveOptions = {
    ...loop,
    controller: controller ??
      iController({
        ...(safety !== undefined ? { safety } : {}),
        ...(ifactor !== undefined ? { ifactor } : {}),
        ...(dfactor !== undefined ? { dfactor } : {}),
      }),
    ...(observe
      ? {
        observe: {
          times: observe.times,
          ...(observe.by !== undefined ? { by: observe.by } : {}),
          at: (t: number, y: State) => observe.at(t, y[0] as Float64Array),
        },
      }
      : {}),
    ...(onStep
      ? {
        onStep: (s: SolveStepInfo) => {
          const one = (v: State) => v[0] as Float64Array;
          const dense = s.interpolate!;
          return onStep({
            t0: s.t0,
            t1: s.t1,
            y0: one(s.y0),
            y1: one(s.y1),
            f0: one(s.f0),
            f1: one(s.f1),
            stages: s.stages!.map(one),
            interpolate: (t: number) => one(dense(t)),
            nextStep: s.nextStep,
          });
        },
      }
      : {}),
  };
  const r = await solve(stepper, [y0], t0, t1, solveOptions);
  return { y1: r.y1[0] as Float64Array, stats: r.stats, lastStep: r.lastStep };
}

/** Options of {@linkcode odeint}: those of {@linkcode integrate} except `observe`. */
export interface OdeintOptions extends Omit<IntegrateOptions, "observe"> {
  /** How states between the first and last time are obtained (see {@linkcode Observe}). @default "interpolate" */
  readonly by?: "interpolate" | "clamp";
}

/** What {@linkcode odeint} returns. */
export interface OdeintResult {
  /** One state per time; ys[0] is a copy of y0. */
  readonly ys: Float64Array[];
  /** Counters of the whole solve. */
  readonly stats: IntegrateStats;
  /** Proposed size of the next step. */
  readonly lastStep: number;
}

/**
 * Solves through all `times` in ONE continued solve (no restart at a time):
 * the states in between come from dense output (`by: "interpolate"`) or from
 * steps clamped onto them (`by: "clamp"`); the last one is the solve's end.
 *
 * @throws {RangeError} when times is empty, not finite, or not strictly
 * increasing or decreasing (naming the index and value).
 *
 * @example States of y' = −y at three times
 * ```ts
 * import { odeint } from "./integrate.ts";
 * const { ys } = await odeint((_t, y) => Promise.resolve(y.map((v) => -v)), new Float64Array([1]), [0, 1, 2]);
 * if (ys.some((y, k) => Math.abs(y[0]! - Math.exp(-k)) > 1e-7)) throw new Error("inaccurate");
 * ```
 */
export async function odeint(
  f: VectorField,
  y0: Float64Array,
  times: readonly number[],
  options: OdeintOptions = {},
): Promise<OdeintResult> {
  if (times.length === 0) throw new RangeError("odeint: times is empty; give at least the initial time");
  times.forEach((t, i) => {
    if (!Number.isFinite(t)) throw new RangeError(`odeint: times[${i}] must be finite, got ${t}`);
  });
  const dir = times.length > 1 && times[1]! < times[0]! ? -1 : 1;
  for (let i = 1; i < times.length; i++) {
    if (!((times[i]! - times[i - 1]!) * dir > 0)) {
      throw new RangeError(
        `odeint: times[${i}] = ${times[i]} does not continue the strictly ${
          dir > 0 ? "increasing" : "decreasing"
        } order after times[${i - 1}] = ${times[i - 1]}`,
      );
    }
  }
  const { by, ...rest } = options;
  const ys: Float64Array[] = [y0.slice()];
  if (times.length === 1) {
    return {
      ys,
      stats: { nfe: 0, accepted: 0, rejected: 0, initialStepNfe: 0 },
      lastStep: options.firstStep ?? 0,
    };
  }
  const inner = times.slice(1, -1);
  const r = await integrate(f, y0, times[0]!, times[times.length - 1]!, {
    ...rest,
    ...(inner.length > 0 ? { observe: { times: inner, by: by ?? "interpolate", at: (_t, y) => void ys.push(y) } } : {}),
  });
  ys.push(r.y1);
  return { ys, stats: r.stats, lastStep: r.lastStep };
}
