/**
 * Second-order dynamics x'' = a(x, x', t) written as a first-order system on
 * the state z = [x, v]: f(z, t) = [v, a(x, v, t)], with a an MLP.
 *
 * @module
 */
import { GraphBuilder } from "../onnx/builder.ts";
import { attr } from "../onnx/graph.ts";
import { Random } from "../util/random.ts";
import { asDynamics, DYNAMICS_NAMES, type DynamicsModel } from "./dynamics.ts";
import {
  type Activation,
  checkKeys,
  COMMON_KEYS,
  commonConfig,
  denseStack,
  type FloatDType,
  ints,
  ParamCollector,
  positiveInt,
  timeColumn,
  type TimeDependence,
  widths,
} from "./_layers.ts";

/** Options for {@linkcode secondOrderDynamics}. */
export interface SecondOrderOptions {
  /** Dimension d of the position x (and of the velocity v); the state is `[batch, 2d]`. */
  dim: number;
  /** Hidden layer widths of the acceleration MLP. */
  hidden: readonly number[];
  /** Activation after each hidden layer. @default "softplus" */
  activation?: Activation;
  /** `"concat"` gives the acceleration MLP t as an extra input. @default "none" */
  time?: TimeDependence;
  /** Element type of t, z and θ. @default "float32" */
  dtype?: FloatDType;
  /** Seed of the initial θ. @default 0 */
  seed?: number;
  /** Graph name. @default "second_order_dynamics" */
  name?: string;
}

/**
 * Builds f([x, v], t) = [v, MLP([x, v, t])]. Parameters are named like
 * `mlpDynamics`'s (`l0.weight`, …); the MLP maps 2d (+1) inputs to
 * d accelerations.
 *
 * @example The sines model: 1-D position, acceleration from an MLP
 * ```ts
 * import { secondOrderDynamics } from "./second_order.ts";
 * const { dynamics, init } = secondOrderDynamics({ dim: 1, hidden: [32, 32] });
 * if (dynamics.stateShape[0] !== 2) throw new Error("state is [x, v]");
 * if (init["l2.weight"]!.dims.join() !== "1,32") throw new Error("a has d outputs");
 * ```
 */
export function secondOrderDynamics(options: SecondOrderOptions): DynamicsModel {
  checkKeys(options, ["dim", "hidden", ...COMMON_KEYS], "secondOrderDynamics");
  const d = positiveInt(options.dim, "dim");
  const hidden = widths(options.hidden, "hidden");
  const { activation, time, dtype, seed, name } = commonConfig(options, "second_order_dynamics");
  const timed = time === "concat";
  const b = new GraphBuilder(name, { producer: "quadjoint" });
  const t = b.input(DYNAMICS_NAMES.time, dtype, []);
  const z = b.input(DYNAMICS_NAMES.state, dtype, ["batch", 2 * d]);
  const params = new ParamCollector(b, dtype, new Random(seed));
  const v = b.op1("Slice", [z, ints(b, [d]), ints(b, [2 * d]), ints(b, [1])]);
  const x = timed ? b.op1("Concat", [z, timeColumn(b, t, z, [1])], { axis: attr.int(1) }) : z;
  const a = denseStack(b, x, 2 * d + (timed ? 1 : 0), [...hidden, d], activation, params);
  b.output(b.op1("Concat", [v, a], { axis: attr.int(1) }), DYNAMICS_NAMES.derivative);
  return { dynamics: asDynamics(b.build()), init: params.init };
}
