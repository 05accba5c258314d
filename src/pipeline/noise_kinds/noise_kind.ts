/**
 * What one noise kind of the pipeline's `noise` stage provides: how a neural
 * SDE's noise enters training when an ODE gradient method trains it. Each
 * kind is one file in this folder exporting a {@linkcode NoiseKind}, listed
 * once in `registry.ts`.
 *
 * @module
 */
import type { z } from "zod";
import type { GradientMethod } from "../../gradients/method.ts";
import type { SolveSettings } from "../../gradients/problem.ts";
import type { SdeTraining } from "../../train/neural_sde.ts";
import type { KindOf } from "../data_kinds/data_kind.ts";

/** One noise kind. */
export interface NoiseKind<S extends z.ZodType = z.ZodType> {
  /** The `noise.kind` value. */
  readonly kind: KindOf<S>;
  /** The settings' schema: an object with `kind` as a literal. */
  readonly schema: S;
  /** A small valid `noise` setting. */
  readonly example: z.input<S>;
  /** The training route of an ODE gradient method through this noise. */
  route(config: z.output<S>, method: GradientMethod, solve: SolveSettings): SdeTraining;
  /** Relative cost of the noise per sample and evaluation, in multiply-adds (for the time estimate). */
  macsPerSample(config: z.output<S>): number;
}

/** Declares a noise kind with its types checked against its schema. */
export function noiseKind<S extends z.ZodType>(kind: NoiseKind<S>): NoiseKind<S> {
  return kind;
}
