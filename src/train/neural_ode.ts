/**
 * A neural ODE model for supervised tasks: data x → z0 (x with zeros
 * appended, or a trainable encoder graph), dz/dt = f(z, t, θ_f) over the
 * measurement times, then a readout (head + loss) on the states.
 * `lossAndGradients` gives the loss and the gradient of every parameter for
 * one batch, by any gradient method; an encoder's weights get theirs from the
 * method's dL/dz0 through the encoder's VJP graph.
 *
 * @module
 */
import { vjpOfModel } from "../autodiff/losses.ts";
import { BoundGraph, toTensor } from "../runtime/bound_graph.ts";
import type { GradientMethod } from "../gradients/method.ts";
import { odeGradient, odeSolve } from "../gradients/ode_gradient.ts";
import type { GradientStats, SolveSettings } from "../gradients/problem.ts";
import type { Dynamics, ParamSpec } from "../models/dynamics.ts";
import type { Graph } from "../onnx/graph.ts";
import type { Tensor } from "../onnx/tensor.ts";
import type { Runtime } from "../runtime/session.ts";
import type { Readout } from "./readout.ts";

/** A neural ODE with its readout. */
export interface NeuralOde {
  /** The vector field f(z, t, θ_f). */
  readonly dynamics: Dynamics;
  /** Head and loss on the states at the measurement times. */
  readonly readout: Readout;
  /** Data dimension before augmentation. */
  readonly dataDim: number;
  /** Zeros appended to the data to form z0 (0 with an encoder). */
  readonly augment: number;
  /** A trainable encoder forming z0 from the data instead of the zeros. */
  readonly encoder?: GraphEncoder;
}

/**
 * A trainable encoder: the graph `x` [batch, dataDim] → `z0`
 * [batch, …stateShape] with its weights as inputs (e.g. `importEncoder`,
 * models/imported_layer.ts).
 */
export interface GraphEncoder {
  /** The graph: inputs `x` and the parameters, output `z0`. */
  readonly graph: Graph;
  /** Its parameters: inputs of `graph`, with their shapes. */
  readonly params: readonly ParamSpec[];
  /** The per-sample shape of `z0` (the dynamics may see it flattened). */
  readonly stateShape: readonly number[];
}

/** One batch: inputs and targets at the measurement times. */
export interface Batch {
  /** Inputs, [batch, dataDim], float64. */
  readonly x: Float64Array;
  /** Samples in the batch. */
  readonly size: number;
  /** Measurement times t₀ … t_K of this batch. */
  readonly times: readonly number[];
  /** Targets, [times, batch, outDim], float64. */
  readonly targets: Float64Array;
  /** Observed entries, [times, batch], 1 or 0. */
  readonly mask: Float64Array;
}

/** Settings for gradient computation in training. */
export interface TrainGradientSettings extends SolveSettings {
  /** The gradient method. */
  readonly method: GradientMethod;
  /** Settings of the backward solve; the forward ones by default. */
  readonly backward?: SolveSettings;
}

/** Loss, gradients and costs of one batch. */
export interface BatchGradients {
  /** The batch loss. */
  readonly loss: number;
  /** dL/dθ for every parameter (dynamics and head), flattened (the dynamics' in the model dtype). */
  readonly grads: Record<string, Float32Array | Float64Array>;
  /** Predictions, [times, batch, outDim]. */
  readonly pred: Float64Array;
  /** Costs of the gradient computation. */
  readonly stats: GradientStats;
}

/** z0 = [x, 0…0]: the data with `augment` zeros appended per sample. */
export function augmentData(x: Float64Array, size: number, dataDim: number, augment: number): Float64Array {
  const d = dataDim + augment;
  const z0 = new Float64Array(size * d);
  for (let i = 0; i < size; i++) z0.set(x.subarray(i * dataDim, (i + 1) * dataDim), i * d);
  return z0;
}

function stack(states: readonly Float64Array[]): Float64Array {
  const n = states[0]!.length;
  const out = new Float64Array(states.length * n);
  states.forEach((s, k) => out.set(s, k * n));
  return out;
}

/** Splits parameters into the dynamics', the readout's and the encoder's. */
function partition(model: NeuralOde, params: Readonly<Record<string, Tensor>>) {
  const f: Record<string, Tensor> = {};
  const head: Record<string, Tensor> = {};
  const encoder: Record<string, Tensor> = {};
  for (const p of model.dynamics.params) f[p.name] = params[p.name]!;
  for (const name of Object.keys(model.readout.params)) head[name] = params[name]!;
  for (const p of model.encoder?.params ?? []) encoder[p.name] = params[p.name]!;
  return { f, head, encoder };
}

/**
 * Values per sample of the ODE state: the product of the dynamics' state
 * shape. The readout sees the states flattened to this size (an image state
 * [C, H, W] reaches the head as C·H·W values, the layout torch's flatten gives).
 */
export function stateSize(model: NeuralOde): number {
  return model.dynamics.stateShape.reduce((a, b) => a * b, 1);
}

/** The encoder's VJP graphs, built once per encoder graph. */
const encoderVjps = new WeakMap<Graph, ReturnType<typeof vjpOfModel>>();

/**
 * z0 of a batch: the augmented data, or the encoder's output; with an
 * encoder, also the map from dL/dz0 to the encoder's weight gradients.
 */
async function initialState(
  runtime: Runtime,
  model: NeuralOde,
  weights: Readonly<Record<string, Tensor>>,
  batch: Batch,
): Promise<{ z0: Float64Array; backward: (dz0: Float64Array) => Promise<Record<string, Float64Array>> }> {
  const encoder = model.encoder;
  if (encoder === undefined) {
    return { z0: augmentData(batch.x, batch.size, model.dataDim, model.augment), backward: () => Promise.resolve({}) };
  }
  const dtype = model.dynamics.dtype;
  const x = { data: batch.x, dims: [batch.size, model.dataDim] };
  const forward = await BoundGraph.create(runtime, encoder.graph, dtype, weights);
  const [z0] = await forward.call(0, { x }, ["z0"]);
  return {
    z0: z0!,
    backward: async (dz0) => {
      let vjp = encoderVjps.get(encoder.graph);
      if (vjp === undefined) {
        vjp = vjpOfModel(encoder.graph, { of: ["z0"], wrt: encoder.params.map((p) => p.name) });
        encoderVjps.set(encoder.graph, vjp);
      }
      const names = encoder.params.map((p) => vjp.grads[p.name]!);
      const bound = await BoundGraph.create(runtime, vjp.graph, dtype, weights);
      const grads = await bound.call(0, {
        x,
        [vjp.cotangents["z0"]!]: { data: dz0, dims: [batch.size, ...encoder.stateShape] },
      }, names);
      return Object.fromEntries(encoder.params.map((p, i) => [p.name, grads[i]!]));
    },
  };
}

/** Loss and gradients of all parameters for one batch. */
export async function lossAndGradients(
  runtime: Runtime,
  model: NeuralOde,
  params: Readonly<Record<string, Tensor>>,
  batch: Batch,
  settings: TrainGradientSettings,
): Promise<BatchGradients> {
  const dtype = model.dynamics.dtype;
  const D = stateSize(model);
  const { f, head, encoder } = partition(model, params);
  const readout = await BoundGraph.create(runtime, model.readout.graph, dtype, head);
  const { outputs } = model.readout;
  const headNames = Object.keys(model.readout.params);
  const T = batch.times.length;
  const zDims = [batch.size, ...model.dynamics.stateShape];
  let lossValue = 0;
  let pred: Float64Array = new Float64Array(0);
  const headGrads: Record<string, Float64Array> = {};
  const { z0, backward } = await initialState(runtime, model, encoder, batch);
  const r = await odeGradient({
    dynamics: model.dynamics,
    params: f,
    z0: toTensor(z0, zDims, dtype),
    times: batch.times,
    loss: async (states) => {
      const outs = await readout.call(0, {
        zs: { data: stack(states), dims: [T, batch.size, D] },
        target: { data: batch.targets, dims: [T, batch.size, model.readout.outDim] },
        mask: { data: batch.mask, dims: [T, batch.size] },
      }, [outputs.loss, outputs.pred!, outputs.grads.zs!, ...headNames.map((n) => outputs.grads[n]!)]);
      const [loss, p, gzs, ...gh] = outs;
      lossValue = loss![0]!;
      pred = p!;
      headNames.forEach((n, i) => (headGrads[n] = gh[i]!));
      const n = batch.size * D;
      return {
        value: lossValue,
        cotangents: states.map((_, k) => gzs!.slice(k * n, (k + 1) * n)),
      };
    },
  }, { ...settings, runtime, timeGradients: false });
  const encoderGrads = await backward(r.dz0);
  return { loss: lossValue, grads: { ...r.dparams, ...headGrads, ...encoderGrads }, pred, stats: r.stats };
}

/** Forward-only evaluation: loss and predictions, with the forward NFE. */
export async function evaluate(
  runtime: Runtime,
  model: NeuralOde,
  params: Readonly<Record<string, Tensor>>,
  batch: Batch,
  settings: SolveSettings,
): Promise<{ loss: number; pred: Float64Array; nfe: number }> {
  const dtype = model.dynamics.dtype;
  const { f: fParams, head, encoder } = partition(model, params);
  const readout = await BoundGraph.create(runtime, model.readout.graph, dtype, head);
  const zDims = [batch.size, ...model.dynamics.stateShape];
  const { z0 } = await initialState(runtime, model, encoder, batch);
  const { states: ys, stats } = await odeSolve({
    dynamics: model.dynamics,
    params: fParams,
    z0: toTensor(z0, zDims, dtype),
    times: batch.times,
  }, { ...settings, runtime });
  const T = batch.times.length;
  const [loss, pred] = await readout.call(0, {
    zs: { data: stack(ys), dims: [T, batch.size, stateSize(model)] },
    target: { data: batch.targets, dims: [T, batch.size, model.readout.outDim] },
    mask: { data: batch.mask, dims: [T, batch.size] },
  }, [model.readout.outputs.loss, model.readout.outputs.pred!]);
  return { loss: loss![0]!, pred: pred!, nfe: stats.nfe };
}
