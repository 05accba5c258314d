/**
 * Batch sources the data kinds share.
 *
 * @module
 */
import { gatherRows } from "../../data/batches.ts";
import type { Tensor } from "../../onnx/tensor.ts";
import type { BatchSource } from "../../train/trainer.ts";

/**
 * Samples observed only at the last of two times: `x` is row i of `inputs`,
 * and `writeTarget(i, row)` fills sample i's `outDim` target entries.
 */
export function endTimeSource(
  inputs: Tensor<"float64">,
  outDim: number,
  times: [number, number],
  writeTarget: (i: number, row: Float64Array) => void,
): BatchSource {
  return {
    size: inputs.dims[0]!,
    batch(indices) {
      const b = indices.length;
      const targets = new Float64Array(2 * b * outDim);
      const mask = new Float64Array(2 * b);
      indices.forEach((i, j) => {
        writeTarget(i, targets.subarray((b + j) * outDim, (b + j + 1) * outDim));
        mask[b + j] = 1;
      });
      return { x: gatherRows(inputs, indices).data, size: b, times, targets, mask };
    },
  };
}

/** Indices 0 … n − 1: a whole split as one batch. */
export function all(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}
