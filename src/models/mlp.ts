/**
 * Multilayer-perceptron dynamics f(z, t, θ) and the augmented-state encoder.
 *
 * Layers are `Gemm(x, W, b, transB=1)` with `W` stored `[out, in]` like
 * PyTorch's nn.Linear, so weights move between the two without transposing.
 * Parameters are graph inputs named `l0.weight`, `l0.bias`, `l1.weight`, …
 * and start from PyTorch's default initialisation drawn from a seeded
 * {@linkcode Random}: the same seed gives the same θ.
 *
 * @module
 */
import { GraphBuilder } from "../onnx/builder.ts";
import type { Graph } from "../onnx/graph.ts";
import { attr } from "../onnx/graph.ts";
import { tensor } from "../onnx/tensor.ts";
import { Random } from "../util/random.ts";
import { asDynamics, DYNAMICS_NAMES, type DynamicsModel } from "./dynamics.ts";
import {
  type Activation,
  ACTIVATIONS,
  checkKeys,
  COMMON_KEYS,
  commonConfig,
  denseStack,
  type FloatDType,
  ints,
  nonNegativeInt,
  oneOf,
  ParamCollector,
  positiveInt,
  timeColumn,
  type TimeDependence,
  widths,
} from "./_layers.ts";

export { ACTIVATIONS };
export type { Activation, FloatDType, TimeDependence };

/** Options for {@linkcode mlpDynamics}. */
export interface MlpOptions {
  /** State dimension d: z is `[batch, d]`, and so is dz. */
  stateDim: number;
  /** Hidden layer widths, any number of layers (none gives a linear map). */
  hidden: readonly number[];
  /** Activation after each hidden layer. @default "softplus" */
  activation?: Activation;
  /** `"concat"` appends t as an extra input column of the first layer. @default "none" */
  time?: TimeDependence;
  /** Element type of t, z and θ. @default "float32" */
  dtype?: FloatDType;
  /** Seed of the initial θ. @default 0 */
  seed?: number;
  /** Graph name. @default "mlp_dynamics" */
  name?: string;
  /** Prefix of the parameter names `${prefix}0.weight`, … (to tell a drift's from a diffusion's). @default "l" */
  paramPrefix?: string;
}

const MLP_KEYS = ["stateDim", "hidden", "paramPrefix", ...COMMON_KEYS] as const;

/**
 * Builds dz/dt = MLP([z, t]) (or MLP(z) without time) as a dynamics graph.
 *
 * @example A time-dependent softplus MLP with two hidden layers
 * ```ts
 * import { mlpDynamics } from "./mlp.ts";
 * const { dynamics, init } = mlpDynamics({ stateDim: 2, hidden: [16, 16], time: "concat", seed: 1 });
 * if (dynamics.params[0]!.name !== "l0.weight") throw new Error("unexpected name");
 * if (init["l0.weight"]!.dims.join() !== "16,3") throw new Error("t should add an input column");
 * ```
 */
export function mlpDynamics(options: MlpOptions): DynamicsModel {
  checkKeys(options, MLP_KEYS, "mlpDynamics");
  const c = {
    stateDim: positiveInt(options.stateDim, "stateDim"),
    hidden: widths(options.hidden, "hidden"),
    ...commonConfig(options, "mlp_dynamics"),
  };
  const b = new GraphBuilder(c.name, { producer: "quadjoint" });
  const t = b.input(DYNAMICS_NAMES.time, c.dtype, []);
  const z = b.input(DYNAMICS_NAMES.state, c.dtype, ["batch", c.stateDim]);
  const params = new ParamCollector(b, c.dtype, new Random(c.seed));
  const timed = c.time === "concat";
  const x = timed ? b.op1("Concat", [z, timeColumn(b, t, z, [1])], { axis: attr.int(1) }) : z;
  const prefix = options.paramPrefix ?? "l";
  if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(prefix)) {
    throw new RangeError(`mlpDynamics(): paramPrefix must be letters, digits, _ and ., got ${JSON.stringify(prefix)}`);
  }
  const dz = denseStack(b, x, c.stateDim + (timed ? 1 : 0), [...c.hidden, c.stateDim], c.activation, params, prefix);
  b.output(dz, DYNAMICS_NAMES.derivative);
  return { dynamics: asDynamics(b.build()), init: params.init };
}

/**
 * The encoder side of an augmented neural ODE: x `[batch, dataDim]` →
 * z0 `[batch, dataDim + extra]`, the data followed by `extra` zeros
 * (Dupont et al. 2019). A plain graph (input `x`, output `z0`), so it can be
 * composed and differentiated like any other.
 *
 * @example Append three zeros
 * ```ts
 * import { augmentGraph } from "./mlp.ts";
 * const g = augmentGraph(1, 3);
 * if (g.outputs[0]!.shape.join() !== "batch,4") throw new Error("wrong shape");
 * ```
 */
export function augmentGraph(dataDim: number, extra: number, dtype: FloatDType = "float32"): Graph {
  positiveInt(dataDim, "dataDim");
  nonNegativeInt(extra, "extra");
  oneOf(dtype, ["float32", "float64"] as const, "dtype");
  const b = new GraphBuilder("augment", { producer: "quadjoint" });
  const x = b.input("x", dtype, ["batch", dataDim]);
  if (extra === 0) {
    b.output(x, "z0");
    return b.build();
  }
  const batch = b.op1("Shape", [x], { start: attr.int(0), end: attr.int(1) });
  const shape = b.op1("Concat", [batch, ints(b, [extra])], { axis: attr.int(0) });
  const zero = tensor(dtype === "float64" ? new Float64Array(1) : new Float32Array(1), [1]);
  const zeros = b.op1("ConstantOfShape", [shape], { value: attr.tensor(zero) });
  b.output(b.op1("Concat", [x, zeros], { axis: attr.int(1) }), "z0");
  return b.build();
}

/** Options for {@linkcode augmentedMlpDynamics}. */
export interface AugmentedMlpOptions extends Omit<MlpOptions, "stateDim"> {
  /** Dimension of the data x. */
  dataDim: number;
  /** Number of zero dimensions appended to x. */
  extra: number;
}

/**
 * An augmented MLP model: dynamics on the full state `[batch, dataDim + extra]`
 * plus the {@linkcode augmentGraph} encoder that builds z0 from x.
 *
 * @example The crossing-trajectories model: 1 data dim, 3 augmented
 * ```ts
 * import { augmentedMlpDynamics } from "./mlp.ts";
 * const m = augmentedMlpDynamics({ dataDim: 1, extra: 3, hidden: [5, 5] });
 * if (m.dynamics.stateShape[0] !== 4) throw new Error("dynamics must see the augmented state");
 * ```
 */
export function augmentedMlpDynamics(options: AugmentedMlpOptions): DynamicsModel & { readonly encoder: Graph } {
  const { dataDim, extra, ...rest } = options;
  checkKeys(options, ["dataDim", "extra", ...MLP_KEYS.filter((k) => k !== "stateDim")], "augmentedMlpDynamics");
  const d = positiveInt(dataDim, "dataDim") + nonNegativeInt(extra, "extra");
  const model = mlpDynamics({ name: "augmented_mlp_dynamics", ...rest, stateDim: d });
  return { ...model, encoder: augmentGraph(dataDim, extra, model.dynamics.dtype) };
}
