/**
 * Gradient methods as strategy objects: `direct()`, `adjoint()`, `seminorm()`
 * and `gq()` make plain, validated data; each kind's passes are one
 * {@linkcode GradientStrategy} in its own file, listed once in
 * {@linkcode GRADIENT_STRATEGIES} below. Adding a method is one file and one
 * entry here (its data type in the union, its strategy and its names). The
 * pipeline maps its strings to methods through {@linkcode METHOD_NAMES} and
 * {@linkcode methodByName}.
 *
 * | method   | backward pass                                  | memory            | exact for |
 * |----------|------------------------------------------------|-------------------|-----------|
 * | direct   | reverse mode through every accepted step       | grows with steps  | the discretised forward solve |
 * | adjoint  | [z, a, a_θ, a_t] backwards, all in the norm    | constant          | the ODE, to solver tolerance |
 * | seminorm | as adjoint, a_θ and a_t left out of the norm   | constant          | the ODE, to solver tolerance |
 * | gq       | [z, a] backwards, dL/dθ by Gauss–Legendre      | constant          | the ODE, to solver tolerance (adaptive nodes; the paper's rule: to its quadrature) |
 *
 * @module
 */
import type { GradientStrategy } from "./_context.ts";
import {
  adjoint,
  type AdjointMethod,
  type AdjointOptions,
  adjointStrategy,
  seminorm,
  STEP_CONTROLS,
  type StepControl,
} from "./adjoint.ts";
import {
  direct,
  DIRECT_ACTIVATIONS,
  type DirectActivations,
  type DirectMethod,
  type DirectOptions,
  directStrategy,
} from "./direct.ts";
import { gq, GQ_NODES, type GqMethod, type GqNodes, type GqOptions, gqStrategy } from "./gq.ts";

export { adjoint, direct, DIRECT_ACTIVATIONS, gq, GQ_NODES, seminorm, STEP_CONTROLS };
export type {
  AdjointMethod,
  AdjointOptions,
  DirectActivations,
  DirectMethod,
  DirectOptions,
  GqMethod,
  GqNodes,
  GqOptions,
  StepControl,
};

/** Options of {@linkcode methodByName}: each applies to its own methods only. */
export interface MethodOptions {
  /** GQ's options (`gq`). */
  readonly gq?: GqOptions;
  /** Backward step control (`adjoint`, `seminorm`, `gq`; a `gq.stepControl` takes precedence for gq). */
  readonly stepControl?: StepControl;
  /** What each step keeps for the backward pass (`direct`). */
  readonly activations?: DirectActivations;
}

/** Any gradient method. */
export type GradientMethod = DirectMethod | AdjointMethod | GqMethod;

/** Each method kind's passes: the one table `odeGradient` dispatches through. */
export const GRADIENT_STRATEGIES: {
  readonly [K in GradientMethod["kind"]]: GradientStrategy<Extract<GradientMethod, { kind: K }>>;
} = Object.freeze({ direct: directStrategy, adjoint: adjointStrategy, gq: gqStrategy });

/** The method names, as the pipeline spells them. */
export const METHOD_NAMES = ["direct", "adjoint", "seminorm", "gq"] as const;

/** A method name. */
export type MethodName = typeof METHOD_NAMES[number];

const BY_NAME: Readonly<Record<MethodName, (options: MethodOptions) => GradientMethod>> = {
  direct: (o) => direct(o.activations !== undefined ? { activations: o.activations } : {}),
  adjoint: (o) => adjoint(o.stepControl !== undefined ? { stepControl: o.stepControl } : {}),
  seminorm: (o) => seminorm(o.stepControl !== undefined ? { stepControl: o.stepControl } : {}),
  gq: (o) => gq({ ...(o.stepControl !== undefined ? { stepControl: o.stepControl } : {}), ...o.gq }),
};

/**
 * The method for a pipeline name (each option applies to its own methods only).
 *
 * @example
 * ```ts
 * import { methodByName } from "./method.ts";
 * if (methodByName("seminorm").kind !== "adjoint") throw new Error("seminorm is the adjoint with another norm");
 * ```
 */
export function methodByName(name: MethodName, options: MethodOptions = {}): GradientMethod {
  const make = Object.hasOwn(BY_NAME, name) ? BY_NAME[name] : undefined;
  if (!make) throw new RangeError(`Unknown gradient method "${name}": use one of ${METHOD_NAMES.join(", ")}`);
  return make(options);
}

/** The display name of a method: "direct", "adjoint", "seminorm" or "gq". */
export function methodName(m: GradientMethod): MethodName {
  return m.kind === "adjoint" ? (m.norm === "seminorm" ? "seminorm" : "adjoint") : m.kind;
}
