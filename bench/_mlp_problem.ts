/**
 * The gradient problem the benchmarks share, so that the within-library and
 * the peer comparisons time the same thing: a time-dependent MLP with two
 * hidden softplus layers of one width (float32, seed 1), z0 uniform in
 * [−1, 1] (seed 2), loss the mean square of z at the last time.
 *
 * @module
 */
import type { OdeGradientProblem } from "../src/gradients/problem.ts";
import type { DynamicsModel } from "../src/models/dynamics.ts";
import { mlpDynamics } from "../src/models/mlp.ts";
import { type Tensor, tensor } from "../src/onnx/tensor.ts";
import { Random } from "../src/util/random.ts";

/** L = mean(z(t_K)²) and its cotangents (the earlier states take none). */
export function meanSquareLoss(states: readonly Float64Array[]) {
  const zT = states.at(-1)!;
  return {
    value: zT.reduce((s, v) => s + v * v, 0) / zT.length,
    cotangents: [...states.slice(0, -1).map(() => null), zT.map((v) => (2 * v) / zT.length)],
  };
}

/** The benchmark MLP of `width` on states [batch, dim], solved over [0, t1]. */
export function benchmarkMlp(
  width: number,
  dim: number,
  batch: number,
  t1 = 1,
): DynamicsModel & { readonly z0: Tensor; readonly problem: OdeGradientProblem } {
  const model = mlpDynamics({ stateDim: dim, hidden: [width, width], activation: "softplus", time: "concat", seed: 1 });
  const z0 = tensor(new Random(2).fillUniform(new Float32Array(batch * dim), -1, 1), [batch, dim]);
  return {
    ...model,
    z0,
    problem: { dynamics: model.dynamics, params: model.init, z0, times: [0, t1], loss: meanSquareLoss },
  };
}
