/**
 * Gradient methods as strategy objects: `direct()`, `adjoint()`, `seminorm()`
 * and `gq()`. Each is plain, validated data; {@linkcode odeGradient} dispatches
 * on `kind`. The pipeline maps its strings to these in one table.
 *
 * | method   | backward pass                                  | memory            | exact for |
 * |----------|------------------------------------------------|-------------------|-----------|
 * | direct   | reverse mode through every accepted step       | grows with steps  | the discretised forward solve |
 * | adjoint  | [z, a, a_θ, a_t] backwards, all in the norm    | constant          | the ODE, to solver tolerance |
 * | seminorm | as adjoint, a_θ and a_t left out of the norm   | constant          | the ODE, to solver tolerance |
 * | gq       | [z, a] backwards, dL/dθ by Gauss–Legendre      | constant          | the ODE, to tolerance and quadrature |
 *
 * @module
 */

/** Discretise-then-optimise: backpropagation through every accepted solver step. */
export interface DirectMethod {
  /** Discriminant. */
  readonly kind: "direct";
}

/** The continuous adjoint: the augmented system [z, a, a_θ, a_t] solved backwards. */
export interface AdjointMethod {
  /** Discriminant. */
  readonly kind: "adjoint";
  /** Error norm over all of the augmented state (`"full"`), or without a_θ and a_t (`"seminorm"`). */
  readonly norm: "full" | "seminorm";
}

/** The GQ adjoint: [z, a] backwards; dL/dθ and dL/dt₀ by Gauss–Legendre quadrature. */
export interface GqMethod {
  /** Discriminant. */
  readonly kind: "gq";
  /** Node-count factor: n_k = clamp(ceil(C·NFE_fwd·Δt_k/T), 1, 64). */
  readonly C: number;
  /** `"interval"`: the paper's n_k nodes per measurement interval; `"per-step"`: (order+1)/2 nodes in every accepted backward step. */
  readonly nodes: "interval" | "per-step";
  /** Where z in the integrand comes from: the backward solve, or a forward re-solve from the stored states (a alone is then solved backwards). */
  readonly trajectory: "backward" | "checkpoint";
  /** How node states are read: the solver's dense output, or steps clamped to land on each node. */
  readonly observe: "interpolate" | "clamp";
}

/** Any gradient method. */
export type GradientMethod = DirectMethod | AdjointMethod | GqMethod;

/** The method names, as the pipeline spells them. */
export const METHOD_NAMES = ["direct", "adjoint", "seminorm", "gq"] as const;

/** A method name. */
export type MethodName = typeof METHOD_NAMES[number];

/**
 * Backpropagation through the solver (discretise-then-optimise).
 *
 * dL/dz0 and dL/dθ are the exact gradients of the discretised solution (step
 * sizes held fixed); dL/dt_k uses the continuous formula f(t_k, z_k)·∂L/∂z_k
 * and the stage-time sensitivities. Memory grows with the number of steps,
 * since every stage input is kept for the backward pass.
 */
export function direct(): DirectMethod {
  return { kind: "direct" };
}

/**
 * The standard continuous adjoint (Chen et al. 2018), restarted at each
 * measurement time with the stored state and the jump in a.
 */
export function adjoint(): AdjointMethod {
  return { kind: "adjoint", norm: "full" };
}

/**
 * The adjoint with a seminorm (Kidger, Chen & Lyons 2021): a_θ and a_t do not
 * take part in step-size control, so the backward pass takes fewer steps.
 */
export function seminorm(): AdjointMethod {
  return { kind: "adjoint", norm: "seminorm" };
}

/** Options for {@linkcode gq}. */
export interface GqOptions {
  /** Node-count factor. @default 0.1 */
  C?: number;
  /** Node placement. @default "interval" */
  nodes?: "interval" | "per-step";
  /** Source of z in the integrand. @default "backward" */
  trajectory?: "backward" | "checkpoint";
  /** How node states are read. @default "interpolate" */
  observe?: "interpolate" | "clamp";
}

/**
 * The GQ adjoint: only [z, a] is solved backwards; dL/dθ = Σ_k ∫ aᵀ∂f/∂θ dt
 * by Gauss–Legendre quadrature. Fastest when the state is small and the model
 * large. Not for very stiff problems, where the backward reconstruction of z
 * drifts: use `trajectory: "checkpoint"` there.
 *
 * @example
 * ```ts
 * import { gq } from "./method.ts";
 * const m = gq({ C: 0.2, nodes: "per-step" });
 * if (m.C !== 0.2 || m.trajectory !== "backward") throw new Error("bad defaults");
 * ```
 */
export function gq(options: GqOptions = {}): GqMethod {
  const { C = 0.1, nodes = "interval", trajectory = "backward", observe = "interpolate" } = options;
  if (!(C > 0) || !Number.isFinite(C)) throw new RangeError(`gq option C must be a positive number, got ${C}`);
  if (nodes !== "interval" && nodes !== "per-step") {
    throw new RangeError(`gq option nodes must be "interval" or "per-step", got "${nodes}"`);
  }
  if (trajectory !== "backward" && trajectory !== "checkpoint") {
    throw new RangeError(`gq option trajectory must be "backward" or "checkpoint", got "${trajectory}"`);
  }
  if (observe !== "interpolate" && observe !== "clamp") {
    throw new RangeError(`gq option observe must be "interpolate" or "clamp", got "${observe}"`);
  }
  return { kind: "gq", C, nodes, trajectory, observe };
}

/** The method for a pipeline name. */
export function methodByName(name: MethodName, options: GqOptions = {}): GradientMethod {
  switch (name) {
    case "direct":
      return direct();
    case "adjoint":
      return adjoint();
    case "seminorm":
      return seminorm();
    case "gq":
      return gq(options);
  }
  throw new RangeError(`Unknown gradient method "${name}": use one of ${METHOD_NAMES.join(", ")}`);
}

/** The display name of a method: "direct", "adjoint", "seminorm" or "gq". */
export function methodName(m: GradientMethod): MethodName {
  return m.kind === "adjoint" ? (m.norm === "seminorm" ? "seminorm" : "adjoint") : m.kind;
}
