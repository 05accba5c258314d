/**
 * Crossing trajectories: two 1-D points that must swap places,
 * [[+1], [−1]] → [[−1], [+1]]. A first-order ODE in one dimension cannot do
 * this (trajectories cannot cross), so the problem shows what augmentation buys.
 *
 * @module
 */
import { type Tensor, tensor } from "../onnx/tensor.ts";

/** Inputs and targets, both [2, 1] float64. */
export interface CrossingTrajectories {
  /** Starting points [[+1], [−1]]. */
  readonly inputs: Tensor<"float64">;
  /** Targets [[−1], [+1]]. */
  readonly targets: Tensor<"float64">;
}

/**
 * The crossing-trajectories data (fixed; no seed needed).
 *
 * @example
 * ```ts
 * import { crossingTrajectories } from "./crossing.ts";
 * const { inputs, targets } = crossingTrajectories();
 * if (inputs.data[0] !== 1 || targets.data[0] !== -1) throw new Error("wrong data");
 * ```
 */
export function crossingTrajectories(): CrossingTrajectories {
  return {
    inputs: tensor(new Float64Array([1, -1]), [2, 1]),
    targets: tensor(new Float64Array([-1, 1]), [2, 1]),
  };
}
