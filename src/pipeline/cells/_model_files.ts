/**
 * The trained model a training cell leaves in its folder, for use outside
 * quadjoint:
 *
 * | file | what |
 * |---|---|
 * | `model.onnx` | the dynamics dz = f(t, z) with the trained weights baked in: inputs `t` [] and `z` [batch, state], output `dz` |
 * | `encoder.onnx` | the encoder: augmentation (`model.encoder: augment`, zeros appended) or the user's `onnx` encoder with its trained weights: `x` [batch, data] → `z0` [batch, state] |
 * | `head.onnx` | the head (`model.head: linear`, or the user's `onnx` head with its trained weights): `z` [batch, state] → `y` [batch, outputs] |
 * | `drift.onnx`, `diffusion.onnx` | a neural SDE's drift f(t, z) and diffusion g(t, z) (diagonal noise), each like `model.onnx` |
 * | `weights.safetensors` | every trained tensor by its parameter name (dynamics, head and encoder), with metadata |
 *
 * The ONNX files are standard ONNX at the graph's own opset (17 for built
 * models, the export's for imported ones) with the IR version ONNX pairs with
 * it; float64 models have the ops ONNX Runtime's CPU lacks in float64
 * (Softplus, …) written as primitives, as the runtime runs them. Every file is
 * written atomically.
 *
 * @module
 */
import { join } from "node:path";
import { bakeParams } from "../../models/bake.ts";
import { SAFETENSORS_DTYPE, writeSafetensors } from "../../models/safetensors.ts";
import { GraphBuilder } from "../../onnx/builder.ts";
import { lowerForRuntime } from "../../onnx/lower.ts";
import { writeModel } from "../../onnx/proto.ts";
import type { Graph } from "../../onnx/graph.ts";
import { type Tensor, tensor } from "../../onnx/tensor.ts";
import type { Dynamics } from "../../models/dynamics.ts";
import type { NeuralOde } from "../../train/neural_ode.ts";
import { denseHead } from "../../train/readout.ts";

/** The format marker in `weights.safetensors`' metadata. */
export const WEIGHTS_FORMAT = "quadjoint.weights/1";

/** The file names a cell writes its model under. */
export const MODEL_FILES = {
  dynamics: "model.onnx",
  encoder: "encoder.onnx",
  head: "head.onnx",
  drift: "drift.onnx",
  diffusion: "diffusion.onnx",
  weights: "weights.safetensors",
} as const;

function pick(params: Readonly<Record<string, Tensor>>, names: readonly string[]): Record<string, Tensor> {
  return Object.fromEntries(names.map((n) => [n, params[n]!]));
}

/** `x` [batch, dataDim] → `z0` = [x, 0…0] [batch, dataDim + augment], as a MatMul with [I | 0]. */
function encoderGraph(model: NeuralOde): GraphBuilder {
  const { dataDim, augment, dynamics } = model;
  const dtype = dynamics.dtype;
  const state = dataDim + augment;
  const e = dtype === "float64" ? new Float64Array(dataDim * state) : new Float32Array(dataDim * state);
  for (let i = 0; i < dataDim; i++) e[i * state + i] = 1;
  const b = new GraphBuilder("encoder", { docString: `quadjoint encoder: ${augment} zeros appended to the data` });
  const x = b.input("x", dtype, ["batch", dataDim]);
  b.output(b.op1("MatMul", [x, b.initializer("encoder.embed", tensor(e, [dataDim, state]))]), "z0");
  return b;
}

/** `z` [batch, state] → `y`: the readout's linear or MLP head ({@linkcode denseHead}) with the trained weights baked in. */
function headGraph(model: NeuralOde, params: Readonly<Record<string, Tensor>>): GraphBuilder {
  const { stateDim, outDim, head, mlp } = model.readout;
  const what = head === "mlp"
    ? `MLP head (${mlp!.hidden.join(", ")} hidden, ${mlp!.activation})`
    : "linear head: y = z W^T + b";
  const b = new GraphBuilder("head", { docString: `quadjoint ${what}` });
  const z = b.input("z", model.dynamics.dtype, ["batch", stateDim]);
  const sizes = { stateDim, outDim, mlp: head === "mlp" ? mlp : undefined };
  b.output(denseHead(b, z, sizes, (name) => b.initializer(name, params[name]!)), "y");
  return b;
}

/** A layer graph with its weights as inputs (an imported head or encoder) with the trained weights baked in as initializers. */
function bakedLayerGraph(
  layer: { readonly graph: Graph; readonly params: readonly { readonly name: string }[] },
  params: Readonly<Record<string, Tensor>>,
  docString: string,
): Graph {
  const { graph, params: specs } = layer;
  const names = new Set(specs.map((p) => p.name));
  return GraphBuilder.from({
    ...graph,
    inputs: graph.inputs.filter((v) => !names.has(v.name)),
    initializers: new Map([...graph.initializers, ...specs.map((p) => [p.name, params[p.name]!] as const)]),
    docString,
    valueInfo: new Map(),
  }).build();
}

/** Writes trained dynamics to `path` with their weights baked in, in the form the runtime runs. */
async function writeDynamics(
  path: string,
  dynamics: Dynamics,
  params: Readonly<Record<string, Tensor>>,
  what: string,
  meta: { readonly cellId: string; readonly pipeline: string },
): Promise<void> {
  const baked = bakeParams(dynamics, pick(params, dynamics.params.map((p) => p.name)));
  await writeModel(
    path,
    lowerForRuntime({
      ...baked,
      producer: "quadjoint",
      docString: `quadjoint trained ${what} of pipeline ${meta.pipeline}, cell ${meta.cellId}`,
    }),
  );
}

/**
 * Writes the trained neural SDE of a cell into `dir`: `drift.onnx`,
 * `diffusion.onnx` and `weights.safetensors`; returns the names written.
 */
export async function writeTrainedSde(
  dir: string,
  sde: { readonly drift: Dynamics; readonly diffusion: Dynamics },
  params: Readonly<Record<string, Tensor>>,
  meta: { readonly cellId: string; readonly pipeline: string },
): Promise<string[]> {
  await writeDynamics(join(dir, MODEL_FILES.drift), sde.drift, params, "drift f(t, z)", meta);
  await writeDynamics(join(dir, MODEL_FILES.diffusion), sde.diffusion, params, "diffusion g(t, z)", meta);
  const written: string[] = [MODEL_FILES.drift, MODEL_FILES.diffusion];
  const driftNames = sde.drift.params.map((p) => p.name);
  const diffusionNames = sde.diffusion.params.map((p) => p.name);
  await writeSafetensors(join(dir, MODEL_FILES.weights), pick(params, [...driftNames, ...diffusionNames]), {
    format: WEIGHTS_FORMAT,
    pipeline: meta.pipeline,
    cell: meta.cellId,
    dtype: SAFETENSORS_DTYPE[sde.drift.dtype],
    drift: JSON.stringify(driftNames),
    diffusion: JSON.stringify(diffusionNames),
    files: JSON.stringify(written),
  });
  written.push(MODEL_FILES.weights);
  return written;
}

/**
 * Writes the trained model of a cell into `dir`: `model.onnx`, the encoder
 * and head when the model has them, and `weights.safetensors`; returns the
 * names written.
 */
export async function writeTrainedModel(
  dir: string,
  model: NeuralOde,
  params: Readonly<Record<string, Tensor>>,
  meta: { readonly cellId: string; readonly pipeline: string },
): Promise<string[]> {
  const { dynamics, readout } = model;
  const dynamicsNames = dynamics.params.map((p) => p.name);
  const headNames = Object.keys(readout.params);
  await writeDynamics(join(dir, MODEL_FILES.dynamics), dynamics, params, `dynamics dz = f(t, z)`, meta);
  const written: string[] = [MODEL_FILES.dynamics];
  if (model.encoder !== undefined) {
    const encoder = bakedLayerGraph(model.encoder, params, "quadjoint trained encoder");
    await writeModel(join(dir, MODEL_FILES.encoder), lowerForRuntime(encoder));
    written.push(MODEL_FILES.encoder);
  } else if (model.augment > 0) {
    await writeModel(join(dir, MODEL_FILES.encoder), encoderGraph(model).build());
    written.push(MODEL_FILES.encoder);
  }
  if (readout.head === "linear" || readout.head === "mlp") {
    await writeModel(join(dir, MODEL_FILES.head), lowerForRuntime(headGraph(model, params).build()));
    written.push(MODEL_FILES.head);
  } else if (readout.head === "graph") {
    const head = bakedLayerGraph(model.readout.rowHead!, params, "quadjoint trained head (model.head: onnx)");
    await writeModel(join(dir, MODEL_FILES.head), lowerForRuntime(head));
    written.push(MODEL_FILES.head);
  }
  const encoderNames = (model.encoder?.params ?? []).map((p) => p.name);
  const trained = pick(params, [...dynamicsNames, ...headNames, ...encoderNames]);
  await writeSafetensors(join(dir, MODEL_FILES.weights), trained, {
    format: WEIGHTS_FORMAT,
    pipeline: meta.pipeline,
    cell: meta.cellId,
    dtype: SAFETENSORS_DTYPE[dynamics.dtype],
    dynamics: JSON.stringify(dynamicsNames),
    head: JSON.stringify(headNames),
    encoder: JSON.stringify(encoderNames),
    files: JSON.stringify(written),
  });
  written.push(MODEL_FILES.weights);
  return written;
}
