/**
 * What one data kind of the pipeline provides. Each kind is one file in this
 * folder exporting a {@linkcode DataKind}, listed once in `registry.ts`; the
 * schema, the data stage, the task stage and the cost model read every fact
 * about a kind from there, so adding a kind touches its file and the list.
 *
 * @module
 */
import type { z } from "zod";
import type { Batch } from "../../train/neural_ode.ts";
import type { BatchSource } from "../../train/trainer.ts";
import type { PipelineIssue } from "../errors.ts";

/** What a training cell takes from its data. */
export interface TrainingData {
  /** Input size of one sample: the state before augmentation. */
  readonly dataDim: number;
  /** Prediction size at each observed time. */
  readonly outDim: number;
  /** Training samples, drawn in minibatches. */
  readonly train: BatchSource;
  /** The test set, one batch. */
  readonly test: Batch;
}

/** The sizes of a data kind's samples. */
export interface DataSizes {
  /** Input values per sample. */
  readonly dataDim: number;
  /** Prediction size at each observed time. */
  readonly outDim: number;
  /**
   * The shape of one input sample when it is an image, [channels, height,
   * width] (dataDim values in that order); absent for vectors.
   */
  readonly imageShape?: readonly number[];
}

/** The training side of a data kind (absent for data that train no model, such as the analytic problem). */
export interface TrainingSide<Config, Data> {
  /** Input and prediction sizes from the settings alone, so checks run before any data are made. */
  sizes(config: Config): DataSizes;
  /** Samples one epoch passes through the model: the cost model's measure of an epoch. */
  samplesPerEpoch(config: Config): number;
  /** The batch sources over generated data, observed on `span` where the data have no times of their own. */
  task(data: Data, span: [number, number]): TrainingData;
}

/** The `kind` literal of a settings schema. */
export type KindOf<S extends z.ZodType> = z.output<S> extends { kind: infer K extends string } ? K : string;

/** One data kind. */
export interface DataKind<S extends z.ZodType = z.ZodType, Data = unknown> {
  /** The `data.kind` value (the schema's `kind` literal). */
  readonly kind: KindOf<S>;
  /** The settings' schema: an object with `kind` as a literal. */
  readonly schema: S;
  /**
   * Classification data: the accuracy metric and the cross-entropy loss apply.
   * A function when the settings decide (`csv` with `task: classification`);
   * the schema's cross-stage rules call it on settings that may have failed
   * validation, so it reads them defensively.
   */
  readonly classification: boolean | ((config: z.output<S>) => boolean);
  /** A small valid `data` setting (the registry test builds it, and trains on it when the kind trains). */
  readonly example: z.input<S>;
  /** Generates the data from validated settings. */
  generate(config: z.output<S>): Data;
  /** How the data train a neural ODE (absent for the analytic problem and stochastic data). */
  readonly training: TrainingSide<z.output<S>, Data> | undefined;
  /** Samples of a stochastic process: trained as a neural SDE (`model.diffusion`, the noise stage; cells/sde_training_cell.ts). */
  readonly stochastic?: boolean;
  /**
   * Settings fields that name files (dotted paths inside `data`, such as
   * `file` or `test.images`): a pipeline file's relative paths are resolved
   * against its folder before validation (registry.ts `resolveDataFiles`).
   */
  readonly files?: readonly string[];
  /**
   * Problems with the data that the schema cannot see — a file that is
   * missing or does not parse, a column or array that is not there, shapes
   * that do not fit — found before any work starts (paths relative to `data`;
   * the task stage reports them). Empty when the data can be made.
   */
  issues?(config: z.output<S>): PipelineIssue[];
}

/** Declares a data kind with its types checked against its schema. */
export function dataKind<S extends z.ZodType, Data>(kind: DataKind<S, Data>): DataKind<S, Data> {
  return kind;
}
