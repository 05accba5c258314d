/**
 * The convolutional encoder of the paper's image experiment (§5.5, appendix
 * E): images → the ODE's initial state, BatchNorm, ReLU, conv 3×3 → C, max-pool
 * 2, ReLU, conv 3×3 C → C (padding 1), so a [1, 28, 28] image becomes a
 * [C, 14, 14] state.
 *
 * The BatchNorm is ONNX's BatchNormalization in its inference form, with the
 * training set's per-channel mean and variance as its statistics (what
 * torch's running statistics converge to on the data, computed once instead
 * of averaged over batches) and a trained scale and shift; so training and
 * evaluation normalise alike, and the exported encoder runs as it trained.
 *
 * @module
 */
import { GraphBuilder, type Value } from "../onnx/builder.ts";
import { attr } from "../onnx/graph.ts";
import { tensor } from "../onnx/tensor.ts";
import { Random } from "../util/random.ts";
import type { Graph } from "../onnx/graph.ts";
import type { Params, ParamSpec } from "./dynamics.ts";
import { checkKeys, type FloatDType, ints, ParamCollector, positiveInt } from "./_layers.ts";

/** Options of {@linkcode convEncoder}. */
export interface ConvEncoderOptions {
  /** The image shape [channels, height, width] of one sample. */
  readonly imageShape: readonly number[];
  /** Channels of the state it gives. @default 10 */
  readonly channels?: number;
  /** Per-channel mean and variance of the training images (the BatchNorm's statistics). @default 0 and 1 */
  readonly statistics?: { readonly mean: readonly number[]; readonly variance: readonly number[] };
  /** Element type. @default "float32" */
  readonly dtype?: FloatDType;
  /** Seed of the initial weights. @default 0 */
  readonly seed?: number;
}

/** A built encoder: `x` [batch, C·H·W] → `z0` [batch, channels, ⌊H/2⌋, ⌊W/2⌋], weights as inputs. */
export interface ConvEncoder {
  /** The graph: inputs `x` and the parameters, output `z0`. */
  readonly graph: Graph;
  /** The parameters (`encoder.bn.*`, `encoder.conv0.*`, `encoder.conv1.*`), in graph-input order. */
  readonly params: readonly ParamSpec[];
  /** Their initial values: BatchNorm scale 1 and shift 0, convolutions like nn.Conv2d. */
  readonly init: Params;
  /** The state shape it gives, [channels, ⌊H/2⌋, ⌊W/2⌋]. */
  readonly stateShape: readonly number[];
}

const KEYS = ["imageShape", "channels", "statistics", "dtype", "seed"];

/**
 * Builds the paper's image encoder. Its input is the flat image rows a batch
 * holds (C·H·W values each, channel-major), reshaped to images inside the graph.
 *
 * @example Fashion-MNIST's 28×28 images to a [10, 14, 14] state
 * ```ts
 * import { convEncoder } from "./conv_encoder.ts";
 * const e = convEncoder({ imageShape: [1, 28, 28] });
 * if (e.stateShape.join() !== "10,14,14") throw new Error("state shape");
 * if (e.init["encoder.conv0.weight"]!.dims.join() !== "10,1,3,3") throw new Error("conv0");
 * ```
 */
export function convEncoder(options: ConvEncoderOptions): ConvEncoder {
  checkKeys(options, KEYS, "convEncoder");
  const shape = options.imageShape;
  if (!Array.isArray(shape) || shape.length !== 3) {
    throw new RangeError(`convEncoder: imageShape must be [channels, height, width], got ${JSON.stringify(shape)}`);
  }
  const [cin, height, width] = shape.map((d, i) => positiveInt(d, `imageShape[${i}]`)) as [number, number, number];
  if (height < 2 || width < 2) throw new RangeError(`convEncoder: images of ${height}×${width} cannot be pooled by 2`);
  const channels = positiveInt(options.channels ?? 10, "channels");
  const dtype = options.dtype ?? "float32";
  const mean = options.statistics?.mean ?? Array(cin).fill(0);
  const variance = options.statistics?.variance ?? Array(cin).fill(1);
  if (mean.length !== cin || variance.length !== cin) {
    throw new RangeError(`convEncoder: statistics need ${cin} means and variances, one per channel`);
  }
  const floats = (v: readonly number[]) => dtype === "float64" ? Float64Array.from(v) : Float32Array.from(v);
  const b = new GraphBuilder("conv_encoder", { producer: "quadjoint" });
  const x = b.input("x", dtype, ["batch", cin * height * width]);
  const params = new ParamCollector(b, dtype, new Random(options.seed ?? 0));
  const scale = params.add("encoder.bn.weight", [cin], 1);
  const shift = params.add("encoder.bn.bias", [cin], 1);
  (params.init["encoder.bn.weight"]!.data as Float32Array | Float64Array).fill(1);
  (params.init["encoder.bn.bias"]!.data as Float32Array | Float64Array).fill(0);
  const images = b.op1("Reshape", [x, ints(b, [-1, cin, height, width])]);
  const normalised = b.op1("BatchNormalization", [
    images,
    scale,
    shift,
    b.initializer("encoder.bn.mean", tensor(floats(mean), [cin])),
    b.initializer("encoder.bn.variance", tensor(floats(variance), [cin])),
  ], { epsilon: attr.float(1e-5) });
  const conv = (input: Value, from: number, i: number): Value => {
    const w = params.add(`encoder.conv${i}.weight`, [channels, from, 3, 3], from * 9);
    const bias = params.add(`encoder.conv${i}.bias`, [channels], from * 9);
    return b.op1("Conv", [input, w, bias], { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) });
  };
  const c0 = conv(b.op1("Relu", [normalised]), cin, 0);
  const pooled = b.op1("MaxPool", [c0], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) });
  b.output(conv(b.op1("Relu", [pooled]), channels, 1), "z0");
  const stateShape = [channels, Math.floor(height / 2), Math.floor(width / 2)];
  return { graph: b.build(), params: params.params, init: params.init, stateShape };
}

/**
 * Per-channel mean and (population) variance of image rows, each C·H·W
 * values channel-major: the BatchNorm statistics of {@linkcode convEncoder}.
 */
export function channelStatistics(
  rows: Iterable<Float64Array>,
  imageShape: readonly number[],
): { mean: number[]; variance: number[] } {
  const [channels, height, width] = imageShape as [number, number, number];
  const plane = height * width;
  const sum = new Float64Array(channels), sq = new Float64Array(channels);
  let n = 0;
  for (const row of rows) {
    for (let c = 0; c < channels; c++) {
      for (let k = c * plane; k < (c + 1) * plane; k++) {
        sum[c]! += row[k]!;
        sq[c]! += row[k]! * row[k]!;
      }
    }
    n += plane;
  }
  const mean = Array.from(sum, (s) => s / n);
  return { mean, variance: Array.from(sq, (s, c) => Math.max(0, s / n - mean[c]! ** 2)) };
}
