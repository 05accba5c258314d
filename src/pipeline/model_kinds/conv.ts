/**
 * `model.dynamics.kind: conv` — the paper's convolutional dynamics for image
 * states (§5.5): conv 3×3 C → h, activation, conv 3×3 h → h, activation,
 * conv 3×3 h → C, padding 1 (models/conv.ts), on states [batch, C, H, W]
 * that image data give directly or through `model.encoder: { kind: conv }`.
 * Its width is the hidden channels h.
 *
 * @module
 */
import { z } from "zod";
import { convDynamics } from "../../models/conv.ts";
import { ACTIVATIONS } from "../../models/mlp.ts";
import { formatShape } from "../../onnx/graph.ts";
import { positiveInt } from "../fields.ts";
import { modelKind } from "./model_kind.ts";

/** Convolutional dynamics settings. */
export const ConvDynamicsSchema = z.object({
  kind: z.literal("conv"),
  channels: positiveInt.describe("Hidden channels h of the two inner convolutions"),
  activation: z.enum(ACTIVATIONS).default("softplus").describe("Activation. Default softplus"),
  time: z.enum(["concat", "none"]).default("none").describe(
    '"concat": t enters every convolution as one more constant input channel, the last (time-dependent, like ' +
      'torchdiffeq\'s ConcatConv2d, which puts it first); "none": autonomous. Default none',
  ),
}).strict();

/** The convolutional dynamics kind. */
export const convModel = modelKind({
  kind: "conv",
  schema: ConvDynamicsSchema,
  example: { kind: "conv", channels: 3 },
  exampleImageShape: [1, 6, 6], // the committed IDX fixture's images (data kind idx's example)
  width: (c) => c.channels,
  macsPerSample(c, stateDim, imageShape) {
    // Three 3×3 convolutions over every pixel: C(+t) → h → h → C.
    const [channels, height, width] = imageShape ?? [stateDim, 1, 1];
    const t = c.time === "concat" ? 1 : 0;
    const h = c.channels;
    return 9 * height! * width! * ((channels! + t) * h + (h + t) * h + (h + t) * channels!);
  },
  checks(_c, { stateDim, imageShape, form, paramPrefix }) {
    if (imageShape === undefined || imageShape.length !== 3) {
      return [{
        path: "dynamics.kind",
        message: `Dynamics "conv" need image states [batch, channels, height, width], but the model's state is ` +
          `${formatShape(["batch", stateDim])}: use image data (data.kind idx) with model.encoder identity or conv`,
      }];
    }
    if (form === "second-order") {
      return [{ path: "form", message: 'Dynamics "conv" are first order only: use form "first-order"' }];
    }
    if (paramPrefix !== undefined) {
      return [{ path: "dynamics.kind", message: 'Dynamics "conv" do not take one-dimensional SDE states' }];
    }
    return [];
  },
  build(c, { imageShape, dtype, seed }) {
    const [channels, height, width] = imageShape! as [number, number, number];
    return convDynamics({
      channels,
      hidden: c.channels,
      height,
      width,
      activation: c.activation,
      time: c.time,
      dtype,
      seed,
    });
  },
});
