/**
 * Step-size controllers as strategy objects: from a trial step's error ratio
 * to accept-or-reject and the next step size.
 *
 * A controller holds no mutable fields; what it remembers between steps (the
 * PI controller's previous error) is an explicit state it returns and is
 * handed back, so one controller object serves any number of solves.
 *
 * | controller | next step | reference |
 * |---|---|---|
 * | {@linkcode iController} (default) | h·clip(safety·r^(−1/k)) | torchdiffeq, Hairer I (II.4) |
 * | {@linkcode piController} | h·clip(safety·r^(−(β₁+β₂)/k)·r_prev^(β₂/k)) | Gustafsson 1991; diffrax `PIDController` |
 *
 * r is the error ratio (≤ 1 accepts), k the solver's order, clip limits the
 * factor to [dfactor, ifactor] and to ≥ 1 after an accepted step (no shrinking
 * an accepted step, as torchdiffeq).
 *
 * @module
 */

/** What a controller remembers between steps (opaque to the solver). */
export type ControllerState = Readonly<Record<string, number>>;

/** The decision on one trial step. */
export interface StepDecision {
  /** Whether the step is accepted. */
  readonly accept: boolean;
  /** Factor for the next step size (after acceptance) or the retry (after rejection). */
  readonly factor: number;
  /** The controller's state after this step. */
  readonly state: ControllerState;
}

/** A step-size controller. */
export interface StepController {
  /** Short name. */
  readonly name: string;
  /** State at the start of a solve. */
  init(): ControllerState;
  /** Decides on a trial step with error ratio `ratio` (non-finite rejects) for a solver of order `order`. */
  decide(ratio: number, order: number, state: ControllerState): StepDecision;
}

/** Limits shared by the controllers. */
export interface ControllerOptions {
  /** Safety factor. @default 0.9 */
  readonly safety?: number;
  /** Largest growth of the step per step. @default 10 */
  readonly ifactor?: number;
  /** Smallest shrink factor after a rejection. @default 0.2 */
  readonly dfactor?: number;
}

function limits(options: ControllerOptions, where: string) {
  const { safety = 0.9, ifactor = 10, dfactor = 0.2 } = options;
  if (!(safety > 0 && Number.isFinite(safety))) {
    throw new RangeError(`${where}: option safety must be a positive finite number, got ${safety}`);
  }
  if (!(ifactor >= 1)) throw new RangeError(`${where}: option ifactor must be ≥ 1, got ${ifactor}`);
  if (!(dfactor > 0 && dfactor <= 1)) {
    throw new RangeError(`${where}: option dfactor must be in (0, 1], got ${dfactor}`);
  }
  return { safety, ifactor, dfactor };
}

function clip(raw: number, accept: boolean, ifactor: number, dfactor: number): number {
  return Math.min(ifactor, Math.max(raw, accept ? 1 : dfactor));
}

/**
 * The integral (I) controller of torchdiffeq: factor
 * min(ifactor, max(safety·ratio^(−1/order), accepted ? 1 : dfactor)), and
 * ifactor when the error is exactly zero.
 *
 * @example The factor after an accepted step with ratio 0.5 for order 5
 * ```ts
 * import { iController } from "./controller.ts";
 * const c = iController();
 * const d = c.decide(0.5, 5, c.init());
 * if (!d.accept || Math.abs(d.factor - 0.9 * 0.5 ** -0.2) > 1e-15) throw new Error("unexpected");
 * ```
 */
export function iController(options: ControllerOptions = {}): StepController {
  const { safety, ifactor, dfactor } = limits(options, "iController");
  return Object.freeze({
    name: "i",
    init: () => ({}),
    decide(ratio: number, order: number, state: ControllerState): StepDecision {
      if (!(ratio <= 1)) {
        const raw = Number.isFinite(ratio) ? safety * ratio ** (-1 / order) : dfactor;
        return { accept: false, factor: clip(raw, false, ifactor, dfactor), state };
      }
      const factor = ratio === 0 ? ifactor : clip(safety * ratio ** (-1 / order), true, ifactor, dfactor);
      return { accept: true, factor, state };
    },
  });
}

/** Options of {@linkcode piController}. */
export interface PiControllerOptions extends ControllerOptions {
  /** Proportional coefficient β₂ (times the order). @default 0.4 */
  readonly pcoeff?: number;
  /** Integral coefficient β₁ (times the order). @default 0.3 */
  readonly icoeff?: number;
}

/**
 * A proportional–integral controller (Gustafsson 1991; diffrax's
 * `PIDController` with `pcoeff`, `icoeff`): factor
 * safety·r^(−(icoeff+pcoeff)/k)·r_prev^(pcoeff/k), where r_prev is the ratio
 * of the last accepted step (1 at the start). Smoother step sequences than
 * the I controller on problems where the step size oscillates; the defaults
 * are diffrax's suggestion for non-stiff problems.
 *
 * @example Remembers the previous ratio
 * ```ts
 * import { piController } from "./controller.ts";
 * const c = piController();
 * const first = c.decide(0.5, 5, c.init());
 * if (first.state.previous !== 0.5) throw new Error("state not kept");
 * ```
 */
export function piController(options: PiControllerOptions = {}): StepController {
  const { safety, ifactor, dfactor } = limits(options, "piController");
  const { pcoeff = 0.4, icoeff = 0.3 } = options;
  for (const [name, v] of [["pcoeff", pcoeff], ["icoeff", icoeff]] as const) {
    if (!(v >= 0 && Number.isFinite(v))) {
      throw new RangeError(`piController: option ${name} must be a non-negative number, got ${v}`);
    }
  }
  if (pcoeff + icoeff === 0) throw new RangeError("piController: pcoeff and icoeff are both 0; make one positive");
  return Object.freeze({
    name: "pi",
    init: () => ({ previous: 1 }),
    decide(ratio: number, order: number, state: ControllerState): StepDecision {
      const previous = state["previous"] ?? 1;
      if (!(ratio <= 1)) {
        const raw = Number.isFinite(ratio) ? safety * ratio ** (-(icoeff + pcoeff) / order) : dfactor;
        return { accept: false, factor: clip(raw, false, ifactor, dfactor), state };
      }
      // A zero error would make the factor infinite; the floor keeps the growth finite (ifactor clips it).
      const r = Math.max(ratio, 1e-10);
      const raw = safety * r ** (-(icoeff + pcoeff) / order) * previous ** (pcoeff / order);
      return { accept: true, factor: clip(raw, true, ifactor, dfactor), state: { previous: r } };
    },
  });
}
