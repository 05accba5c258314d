/**
 * What one dynamics kind of the pipeline's model stage (`model.dynamics.kind`)
 * provides. Each kind is one file in this folder exporting a
 * {@linkcode ModelKind}, listed once in `registry.ts`; the schema, the task
 * stage, the learning-rate table and the cost model read every fact about a
 * kind from there, so adding a kind touches its file and the list.
 *
 * The model stage's `form` (first or second order) is an option a kind
 * builds, or refuses in its `checks`.
 *
 * @module
 */
import type { z } from "zod";
import type { DynamicsModel } from "../../models/dynamics.ts";
import type { PipelineIssue } from "../errors.ts";
import type { KindOf } from "../data_kinds/data_kind.ts";

/** What the model stage asks a dynamics kind to build. */
export interface DynamicsBuildOptions {
  /** Size of the ODE state: what the encoder makes of the data (the inputs, augmented or encoded). */
  readonly stateDim: number;
  /**
   * The state's shape when it is an image, [channels, height, width] (stateDim
   * values in that order): image data with no encoder or a convolutional one.
   * Absent for vector states.
   */
  readonly imageShape?: readonly number[];
  /** First order (f gives dz/dt) or second order (the state is (x, v) and f gives the acceleration). */
  readonly form: "first-order" | "second-order";
  /** Element type of the model. */
  readonly dtype: "float32" | "float64";
  /** Seed of the weight initialisation. */
  readonly seed: number;
  /** Prefix of parameter names, to keep a diffusion's apart from a drift's. @default the kind's own */
  readonly paramPrefix?: string;
}

/** One dynamics kind. */
export interface ModelKind<S extends z.ZodType = z.ZodType> {
  /** The `model.dynamics.kind` value (the schema's `kind` literal). */
  readonly kind: KindOf<S>;
  /** The settings' schema: an object with `kind` as a literal. */
  readonly schema: S;
  /** A small valid `model.dynamics` setting (the registry test builds and trains it). */
  readonly example: z.input<S>;
  /** The state size `example` is for (a kind that reads a file fits that file's model). @default 4 */
  readonly exampleStateDim?: number;
  /** A kind for image states: the image shape `example` is for (its state size is the product). */
  readonly exampleImageShape?: readonly number[];
  /** The model's width, for reports and learning-rate tables by width. */
  width(config: z.output<S>): number;
  /** Multiply-adds of one evaluation of f for one sample: the cost model's measure of the model. */
  macsPerSample(config: z.output<S>, stateDim: number, imageShape?: readonly number[]): number;
  /** Problems with these settings that the schema cannot see (paths relative to `model`); empty when it builds. */
  checks(config: z.output<S>, options: DynamicsBuildOptions): PipelineIssue[];
  /** The dynamics graph and its initial parameters. */
  build(config: z.output<S>, options: DynamicsBuildOptions): DynamicsModel;
}

/** Declares a dynamics kind with its types checked against its schema. */
export function modelKind<S extends z.ZodType>(kind: ModelKind<S>): ModelKind<S> {
  return kind;
}
