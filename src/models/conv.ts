/**
 * Convolutional dynamics for image-shaped states (the paper's image
 * experiment): conv3×3 C→h, activation, conv3×3 h→h, activation,
 * conv3×3 h→C, all with padding 1 and bias.
 *
 * @module
 */
import { GraphBuilder, type Value } from "../onnx/builder.ts";
import { attr } from "../onnx/graph.ts";
import { Random } from "../util/random.ts";
import { asDynamics, DYNAMICS_NAMES, type DynamicsModel } from "./dynamics.ts";
import {
  activate,
  type Activation,
  checkKeys,
  COMMON_KEYS,
  commonConfig,
  type FloatDType,
  ParamCollector,
  positiveInt,
  timeColumn,
  type TimeDependence,
} from "./_layers.ts";

/** Options for {@linkcode convDynamics}. */
export interface ConvOptions {
  /** Channels C of the state `[batch, C, height, width]`. */
  channels: number;
  /** Hidden channels h. */
  hidden: number;
  /** Image height. */
  height: number;
  /** Image width. */
  width: number;
  /** Activation between the convolutions. @default "softplus" */
  activation?: Activation;
  /** `"concat"` feeds t as an extra constant channel into every convolution. @default "none" */
  time?: TimeDependence;
  /** Element type of t, z and θ. @default "float32" */
  dtype?: FloatDType;
  /** Seed of the initial θ. @default 0 */
  seed?: number;
  /** Graph name. @default "conv_dynamics" */
  name?: string;
}

/**
 * Builds the three-layer 3×3 convolutional dynamics. Parameters are
 * `conv0.weight` `[h, C(+1), 3, 3]`, `conv0.bias` `[h]`, `conv1.*`, `conv2.*`,
 * initialised like PyTorch's nn.Conv2d (U(±1/√(in·3·3))). With time, each
 * convolution sees t as one more input channel, the last (torchdiffeq's and
 * ANODE's ConcatConv2d put it first: weights moved from there need
 * `weight[:, 0]` moved to `weight[:, C]`).
 *
 * @example A 10-channel 7×7 state with 32 hidden channels
 * ```ts
 * import { convDynamics } from "./conv.ts";
 * const { dynamics, init } = convDynamics({ channels: 10, hidden: 32, height: 7, width: 7 });
 * if (dynamics.stateShape.join() !== "10,7,7") throw new Error("wrong state shape");
 * if (init["conv2.weight"]!.dims.join() !== "10,32,3,3") throw new Error("wrong weight shape");
 * ```
 */
export function convDynamics(options: ConvOptions): DynamicsModel {
  checkKeys(options, ["channels", "hidden", "height", "width", ...COMMON_KEYS], "convDynamics");
  const c = positiveInt(options.channels, "channels");
  const h = positiveInt(options.hidden, "hidden");
  const height = positiveInt(options.height, "height");
  const width = positiveInt(options.width, "width");
  const { activation, time, dtype, seed, name } = commonConfig(options, "conv_dynamics");
  const timed = time === "concat";
  const b = new GraphBuilder(name, { producer: "quadjoint" });
  const t = b.input(DYNAMICS_NAMES.time, dtype, []);
  const z = b.input(DYNAMICS_NAMES.state, dtype, ["batch", c, height, width]);
  const params = new ParamCollector(b, dtype, new Random(seed));
  const tChannel = timed ? timeColumn(b, t, z, [1, height, width]) : undefined;
  const conv = (x: Value, cin: number, cout: number, i: number): Value => {
    const input = tChannel ? b.op1("Concat", [x, tChannel], { axis: attr.int(1) }) : x;
    const fin = cin + (tChannel ? 1 : 0);
    const w = params.add(`conv${i}.weight`, [cout, fin, 3, 3], fin * 9);
    const bias = params.add(`conv${i}.bias`, [cout], fin * 9);
    return b.op1("Conv", [input, w, bias], {
      kernel_shape: attr.ints([3, 3]),
      pads: attr.ints([1, 1, 1, 1]),
    }, { name: `conv${i}` });
  };
  const h1 = activate(b, conv(z, c, h, 0), activation);
  const h2 = activate(b, conv(h1, h, h, 1), activation);
  b.output(conv(h2, h, c, 2), DYNAMICS_NAMES.derivative);
  return { dynamics: asDynamics(b.build()), init: params.init };
}
