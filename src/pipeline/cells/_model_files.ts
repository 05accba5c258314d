/**
 * The trained model a training cell leaves in its folder, for use outside
 * quadjoint:
 *
 * | file | what |
 * |---|---|
 * | `model.onnx` | the dynamics dz = f(t, z) with the trained weights baked in: inputs `t` [] and `z` [batch, state], output `dz` |
 * | `encoder.onnx` | augmentation (`model.encoder: augment`): `x` [batch, data] → `z0` [batch, state], zeros appended |
 * | `head.onnx` | the head (`model.head: linear`, or the user's `onnx` head with its trained weights): `z` [batch, state] → `y` [batch, outputs] |
 * | `weights.safetensors` | every trained tensor by its parameter name (dynamics and head), with metadata |
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
import type { NeuralOde } from "../../train/neural_ode.ts";

/** The format marker in `weights.safetensors`' metadata. */
export const WEIGHTS_FORMAT = "quadjoint.weights/1";

/** The file names a cell writes its model under. */
export const MODEL_FILES = {
  dynamics: "model.onnx",
  encoder: "encoder.onnx",
  head: "head.onnx",
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

/** `z` [batch, state] → `y` = z Wᵀ + b. */
function headGraph(model: NeuralOde, params: Readonly<Record<string, Tensor>>): GraphBuilder {
  const { stateDim } = model.readout;
  const b = new GraphBuilder("head", { docString: "quadjoint linear head: y = z W^T + b" });
  const z = b.input("z", model.dynamics.dtype, ["batch", stateDim]);
  const w = b.initializer("head.weight", params["head.weight"]!);
  const bias = b.initializer("head.bias", params["head.bias"]!);
  b.output(b.op1("Gemm", [z, w, bias], { transB: { type: "int", value: 1 } }), "y");
  return b;
}

/** The user's head (`model.head: onnx`) with its trained weights as initializers, under their parameter names. */
function importedHeadGraph(model: NeuralOde, params: Readonly<Record<string, Tensor>>): Graph {
  const { graph, params: specs } = model.readout.rowHead!;
  const names = new Set(specs.map((p) => p.name));
  return GraphBuilder.from({
    ...graph,
    inputs: graph.inputs.filter((v) => !names.has(v.name)),
    initializers: new Map([...graph.initializers, ...specs.map((p) => [p.name, params[p.name]!] as const)]),
    docString: "quadjoint trained head (model.head: onnx)",
    valueInfo: new Map(),
  }).build();
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
  const baked = bakeParams(dynamics, pick(params, dynamicsNames));
  const graph = lowerForRuntime({
    ...baked,
    producer: "quadjoint",
    docString: `quadjoint trained dynamics dz = f(t, z) of pipeline ${meta.pipeline}, cell ${meta.cellId}`,
  });
  const written: string[] = [MODEL_FILES.dynamics];
  await writeModel(join(dir, MODEL_FILES.dynamics), graph);
  if (model.augment > 0) {
    await writeModel(join(dir, MODEL_FILES.encoder), encoderGraph(model).build());
    written.push(MODEL_FILES.encoder);
  }
  if (readout.head === "linear") {
    await writeModel(join(dir, MODEL_FILES.head), lowerForRuntime(headGraph(model, params).build()));
    written.push(MODEL_FILES.head);
  } else if (readout.head === "graph") {
    await writeModel(join(dir, MODEL_FILES.head), lowerForRuntime(importedHeadGraph(model, params)));
    written.push(MODEL_FILES.head);
  }
  const trained = pick(params, [...dynamicsNames, ...headNames]);
  await writeSafetensors(join(dir, MODEL_FILES.weights), trained, {
    format: WEIGHTS_FORMAT,
    pipeline: meta.pipeline,
    cell: meta.cellId,
    dtype: SAFETENSORS_DTYPE[dynamics.dtype],
    dynamics: JSON.stringify(dynamicsNames),
    head: JSON.stringify(headNames),
    files: JSON.stringify(written),
  });
  written.push(MODEL_FILES.weights);
  return written;
}
