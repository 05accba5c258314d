/**
 * `model.dynamics.kind: mlp` — a multilayer perceptron f(z[, t]) with
 * `hidden` layer widths (or `depth` layers of `width`), first or second
 * order.
 *
 * @module
 */
import { z } from "zod";
import { ACTIVATIONS, mlpDynamics } from "../../models/mlp.ts";
import { secondOrderDynamics } from "../../models/second_order.ts";
import { positiveInt } from "../fields.ts";
import { modelKind } from "./model_kind.ts";

/** MLP dynamics settings. */
export const MlpDynamicsSchema = z.object({
  kind: z.literal("mlp"),
  hidden: z.array(positiveInt).min(1).optional().describe("Hidden layer widths (give this or width)"),
  width: positiveInt.optional().describe("Width of every hidden layer (give this or hidden)"),
  depth: positiveInt.optional().describe("Number of hidden layers when width is given. Default 2"),
  activation: z.enum(ACTIVATIONS).default("softplus").describe("Activation. Default softplus"),
  time: z.enum(["concat", "none"]).default("none")
    .describe('"concat": t is appended to the MLP input (time-dependent); "none": autonomous. Default none'),
}).strict().superRefine((m, ctx) => {
  if (m.hidden !== undefined && m.width !== undefined) {
    ctx.addIssue({ code: "custom", path: ["width"], message: "Give either hidden or width, not both" });
  }
  if (m.hidden === undefined && m.width === undefined) {
    ctx.addIssue({ code: "custom", path: ["width"], message: "Give hidden (a list of widths) or width (+ depth)" });
  }
  if (m.hidden !== undefined && m.depth !== undefined) {
    ctx.addIssue({ code: "custom", path: ["depth"], message: "depth goes with width; hidden already sets the depth" });
  }
});

/** Validated MLP dynamics settings. */
export type MlpDynamicsConfig = z.output<typeof MlpDynamicsSchema>;

/** The hidden layer widths: `hidden`, or `depth` (default 2) layers of `width`. */
export function hiddenWidths(config: MlpDynamicsConfig): number[] {
  return config.hidden ?? Array.from({ length: config.depth ?? 2 }, () => config.width!);
}

/** The MLP dynamics kind. */
export const mlpModel = modelKind({
  kind: "mlp",
  schema: MlpDynamicsSchema,
  example: { kind: "mlp", width: 4 },
  width: (c) => Math.max(...hiddenWidths(c)),
  macsPerSample(c, stateDim) {
    const layers = [stateDim + (c.time === "concat" ? 1 : 0), ...hiddenWidths(c), stateDim];
    let macs = 0;
    for (let i = 1; i < layers.length; i++) macs += layers[i - 1]! * layers[i]!;
    return macs;
  },
  checks(_c, { stateDim, form, paramPrefix }) {
    if (form === "second-order" && stateDim % 2 !== 0) {
      return [{ path: "form", message: `Form "second-order" needs an even state size (x, v), got ${stateDim}` }];
    }
    if (form === "second-order" && paramPrefix !== undefined) {
      return [{ path: "form", message: 'Form "second-order" has no diffusion: use "first-order" for a neural SDE' }];
    }
    return [];
  },
  build(c, { stateDim, form, dtype, seed, paramPrefix }) {
    const common = { hidden: hiddenWidths(c), activation: c.activation, time: c.time, dtype, seed };
    return form === "second-order"
      ? secondOrderDynamics({ dim: stateDim / 2, ...common })
      : mlpDynamics({ stateDim, ...common, ...(paramPrefix !== undefined ? { paramPrefix } : {}) });
  },
});
