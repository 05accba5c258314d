/**
 * The data that the file kinds (csv, npy, idx) make, in one shape for the
 * three tasks, and the batch sources over them: classification and
 * regression observed at the end of the time span (one-hot classes or target
 * columns), time series on the union of a batch's times with a mask (the
 * route of the irregular sines; src/data/series.ts).
 *
 * @module
 */
import { seriesBatch, type SeriesSet } from "../../data/series.ts";
import type { Tensor } from "../../onnx/tensor.ts";
import type { BatchSource } from "../../train/trainer.ts";
import { all } from "./_sources.ts";
import type { DataSizes, TrainingData } from "./data_kind.ts";

/** Input rows, read one at a time (so images can stay uint8 until batched). */
export interface Rows {
  /** Number of rows. */
  readonly count: number;
  /** Values per row. */
  readonly dim: number;
  /** The shape of a row when it is an image, [channels, height, width]; absent for vectors. */
  readonly imageShape?: readonly number[];
  /** Writes row `i` into `out` (length `dim`). */
  row(i: number, out: Float64Array): void;
}

/** The rows of a [n, dim] tensor. */
export function tensorRows(t: Tensor<"float64">): Rows {
  const dim = t.dims[1]!;
  return { count: t.dims[0]!, dim, row: (i, out) => out.set(t.data.subarray(i * dim, (i + 1) * dim)) };
}

/** Inputs with class indices. */
export interface LabelledRows {
  /** The inputs. */
  readonly inputs: Rows;
  /** Class index of each row. */
  readonly labels: Int32Array;
}

/** Inputs with target values at the end time. */
export interface TargetRows {
  /** The inputs. */
  readonly inputs: Rows;
  /** Targets, [n, outputs]. */
  readonly targets: Tensor<"float64">;
}

/** What a file kind makes, by task. */
export type FileData =
  | {
    readonly task: "classification";
    /** Class names, by class index (labels as written in the file). */
    readonly classes: readonly string[];
    readonly train: LabelledRows;
    readonly test: LabelledRows;
  }
  | { readonly task: "regression"; readonly train: TargetRows; readonly test: TargetRows }
  | { readonly task: "time-series"; readonly train: SeriesSet; readonly test: SeriesSet };

/** Input and prediction sizes of file data. */
export function fileSizes(d: FileData): DataSizes {
  switch (d.task) {
    case "classification": {
      const { dim, imageShape } = d.train.inputs;
      return { dataDim: dim, outDim: d.classes.length, ...(imageShape ? { imageShape } : {}) };
    }
    case "regression":
      return { dataDim: d.train.inputs.dim, outDim: d.train.targets.dims[1]! };
    case "time-series":
      return { dataDim: d.train.initial.dims[1]!, outDim: d.train.channels };
  }
}

/** Training samples of file data (rows, or series). */
export function fileSamples(d: FileData): number {
  return d.task === "time-series" ? d.train.series.length : d.train.inputs.count;
}

/** Rows observed at the last of two times; `writeTarget(i, row)` fills row i's `outDim` targets. */
function endTimeRows(
  inputs: Rows,
  outDim: number,
  times: [number, number],
  writeTarget: (i: number, row: Float64Array) => void,
): BatchSource {
  return {
    size: inputs.count,
    batch(indices) {
      const b = indices.length, d = inputs.dim;
      const x = new Float64Array(b * d);
      const targets = new Float64Array(2 * b * outDim);
      const mask = new Float64Array(2 * b);
      indices.forEach((i, j) => {
        inputs.row(i, x.subarray(j * d, (j + 1) * d));
        writeTarget(i, targets.subarray((b + j) * outDim, (b + j + 1) * outDim));
        mask[b + j] = 1;
      });
      return { x, size: b, times, targets, mask };
    },
  };
}

/** Series on the union of each batch's times, with the observation mask. */
function seriesSource(set: SeriesSet): BatchSource {
  return {
    size: set.series.length,
    batch(indices) {
      const s = seriesBatch(set, indices);
      return { x: s.initial, size: indices.length, times: Array.from(s.times), targets: s.values, mask: s.mask };
    },
  };
}

/** The batch sources of file data; classification and regression are observed at the end of `span`. */
export function fileTask(d: FileData, span: [number, number]): TrainingData {
  const { dataDim, outDim } = fileSizes(d);
  let train: BatchSource, test: BatchSource;
  switch (d.task) {
    case "classification": {
      const source = (r: LabelledRows) => endTimeRows(r.inputs, outDim, span, (i, row) => (row[r.labels[i]!] = 1));
      [train, test] = [source(d.train), source(d.test)];
      break;
    }
    case "regression": {
      const source = (r: TargetRows) =>
        endTimeRows(r.inputs, outDim, span, (i, row) => row.set(r.targets.data.subarray(i * outDim, (i + 1) * outDim)));
      [train, test] = [source(d.train), source(d.test)];
      break;
    }
    case "time-series":
      [train, test] = [seriesSource(d.train), seriesSource(d.test)];
      break;
  }
  return { dataDim, outDim, train, test: test.batch(all(test.size)) };
}
