/**
 * `model.dynamics.kind: onnx` — the user's own vector field f(t, z), an ONNX
 * file such as torch's default `torch.onnx.export` writes (weights in a
 * `.onnx.data` file beside it are read too), imported by
 * {@linkcode importDynamicsSync}: inputs `t` (shape `[]` or `[1]`, or none
 * with `time: autonomous`) and `z` `[batch, state]`, output the derivative;
 * every float weight is trained unless listed in `freeze`.
 *
 * `file` is relative to the pipeline file (parse.ts resolves it when the
 * file is read, see `_paths.ts`) or absolute. The model is read when the
 * pipeline is checked, before any work starts: a missing or invalid file, a
 * state size that does not fit the data (plus augmentation) and a model left
 * with no trainable weight are issues at `model.dynamics.file`
 * (`model.dynamics.freeze` when the freeze list is at fault), exit code 2.
 * Files are read once per process and kept while their size and modification
 * time stay the same.
 *
 * Reported width: the largest output size of a MatMul, Gemm or Conv layer with
 * a constant weight (an MLP's widest hidden layer, a conv's most channels), or
 * the parameter count when the model has no such layer. Cost: the
 * multiply-adds of those layers for one sample, from their weight and output
 * shapes.
 *
 * The element type is the model stage's `model.dtype` (the model is converted
 * to it), as for every kind; the form must be first order.
 *
 * @module
 */
import { z } from "zod";
import type { DynamicsModel } from "../../models/dynamics.ts";
import { importDynamicsSync, type ImportedDynamics } from "../../models/imported.ts";
import { GraphBuilder } from "../../onnx/builder.ts";
import { isFloat } from "../../onnx/dtype.ts";
import { formatShape, type Graph, intAttr, type Node, renameValues, typeOf } from "../../onnx/graph.ts";
import { readModelSync } from "../../onnx/proto.ts";
import type { Tensor } from "../../onnx/tensor.ts";
import type { PipelineIssue } from "../errors.ts";
import { fileCache, fileStamp } from "../file_cache.ts";
import type { DynamicsBuildOptions } from "./model_kind.ts";
import { modelKind } from "./model_kind.ts";

/** The committed torch export the kind's example trains (state size 2). */
const EXAMPLE_FILE = new URL("../../../tests/fixtures/torch_dynamics/dynamo_time.onnx", import.meta.url).pathname;

/** ONNX-file dynamics settings. */
export const OnnxDynamicsSchema = z.object({
  kind: z.literal("onnx"),
  file: z.string().min(1).describe(
    "The .onnx file of f(t, z) (a torch export; a .onnx.data file beside it is read too): relative to the pipeline " +
      "file, or absolute",
  ),
  freeze: z.array(z.string().min(1)).default([]).refine((f) => new Set(f).size === f.length, {
    message: "Names in freeze must not repeat",
  }).describe("Weights (float initializer names, e.g. l1.weight) kept constant; the others are trained. Default none"),
  time: z.enum(["input", "autonomous"]).default("input").describe(
    '"input": the graph has a time input t of shape [] or [1]; "autonomous": it has none, f(z). Default input',
  ),
}).strict();

/** Validated ONNX-file dynamics settings. */
export type OnnxDynamicsConfig = z.output<typeof OnnxDynamicsSchema>;

// --- reading files once ------------------------------------------------------------------------

/** Decoded graphs and their imports, read once while their file is unchanged. */
const cached = fileCache(16);

/** Why `file` cannot be used, as an issue message that names it. */
function problem(file: string, e: unknown): string {
  if (e instanceof Error && e.cause instanceof Deno.errors.NotFound && fileStamp(file) === "missing") {
    return `No such file ${file} (give a path relative to the pipeline file, or an absolute one)`;
  }
  const message = (e as Error).message;
  return message.includes(file) ? message : `${file}: ${message}`;
}

/** The decoded graph of `file`, read once while it is unchanged. @throws the reader's error */
function graphOf(file: string): Graph {
  return cached("onnx graph", file, [file], () => readModelSync(file));
}

/** The imported dynamics of these settings, in `dtype`. @throws the import's error */
function importOf(config: OnnxDynamicsConfig, dtype: "float32" | "float64"): ImportedDynamics {
  const { file, time, freeze } = config;
  // No trainable weight is an issue of its own (checkImport), with the pipeline's remedy.
  return cached(
    "onnx dynamics",
    [file, time, freeze, dtype],
    [file],
    () => importDynamicsSync(graphOf(file), { time, freeze, dtype, requireParams: false }),
  );
}

// --- the model's size, from its layers -----------------------------------------------------------

const LAYER_OPS = new Set(["Gemm", "MatMul", "Conv", "ConvTranspose"]);

/** Names of the values computed from initializers and Constant nodes alone (weights, possibly transposed or cast). */
function constantValues(graph: Graph): Set<string> {
  const out = new Set(graph.initializers.keys());
  for (const n of graph.nodes) {
    const inputs = n.inputs.filter((i) => i !== "");
    if (n.opType === "Constant" || (inputs.length > 0 && inputs.every((i) => out.has(i)))) {
      for (const o of n.outputs) out.add(o);
    }
  }
  return out;
}

/** A layer: a MatMul, Gemm or Conv node with a constant weight (its second input). */
interface Layer {
  readonly node: Node;
  readonly weight: readonly number[];
}

function layersOf(graph: Graph): Layer[] {
  const constant = constantValues(graph);
  const layers: Layer[] = [];
  for (const node of graph.nodes) {
    const w = node.inputs[1];
    if (!LAYER_OPS.has(node.opType) || w === undefined || !constant.has(w) || constant.has(node.inputs[0]!)) continue;
    const shape = typeOf(graph, w)?.shape;
    if (shape && shape.every((d) => typeof d === "number")) layers.push({ node, weight: shape as number[] });
  }
  return layers;
}

/** The output size of a layer: a linear layer's features, a conv's channels. */
function layerWidth({ node, weight }: Layer): number {
  if (node.opType === "Gemm") return intAttr(node, "transB", 0) ? weight[0]! : weight[1]!;
  if (node.opType === "MatMul") return weight.at(-1)!;
  if (node.opType === "Conv") return weight[0]!;
  return weight[1]! * intAttr(node, "group", 1); // ConvTranspose: [C, M/group, k…]
}

/** Elements per sample of a value: its numeric dims after the first (the batch). */
function perSample(graph: Graph, name: string): number {
  const shape = typeOf(graph, name)?.shape ?? [];
  return shape.slice(1).reduce<number>((p, d) => p * (typeof d === "number" ? d : 1), 1);
}

/** Multiply-adds of a layer for one sample. */
function layerMacs(graph: Graph, { node, weight }: Layer): number {
  const product = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);
  switch (node.opType) {
    case "Gemm":
      return perSample(graph, node.outputs[0]!) * (intAttr(node, "transB", 0) ? weight[1]! : weight[0]!);
    case "MatMul":
      return perSample(graph, node.outputs[0]!) * (weight.length > 1 ? weight.at(-2)! : weight[0]!);
    case "Conv":
      return perSample(graph, node.outputs[0]!) * product(weight.slice(1));
    default: // ConvTranspose: every input element meets M/group × kernel weights
      return perSample(graph, node.inputs[0]!) * product(weight.slice(1));
  }
}

function floatParamCount(graph: Graph): number {
  let n = 0;
  for (const t of graph.initializers.values()) if (isFloat(t.dtype)) n += t.data.length;
  return n;
}

/**
 * The graph of `file` for the width and cost, which the schema asks for
 * before the checks have run.
 *
 * @throws {RangeError} naming the file when it cannot be read
 */
function sizedGraph(file: string): Graph {
  try {
    return graphOf(file);
  } catch (e) {
    throw new RangeError(problem(file, e), { cause: e });
  }
}

// --- parameters of a diffusion apart from the drift's -------------------------------------------

/** The dynamics with every parameter renamed `<prefix>.<name>`. */
function prefixed(model: DynamicsModel, prefix: string): DynamicsModel {
  const { dynamics, init } = model;
  const names = new Map(dynamics.params.map((p) => [p.name, `${prefix}.${p.name}`]));
  const rename = (n: string) => names.get(n) ?? n;
  const graph = GraphBuilder.from(renameValues(dynamics.graph, names)).build();
  return {
    dynamics: { ...dynamics, graph, params: dynamics.params.map((p) => ({ ...p, name: rename(p.name) })) },
    init: Object.fromEntries(Object.entries(init).map(([n, t]) => [rename(n), t])),
  };
}

function copy(t: Tensor): Tensor {
  return { ...t, data: t.data.slice() } as Tensor;
}

// --- the kind ------------------------------------------------------------------------------------

function checkImport(c: OnnxDynamicsConfig, { stateDim, form, dtype }: DynamicsBuildOptions): PipelineIssue[] {
  if (form === "second-order") {
    return [{
      path: "form",
      message: `Form "second-order" is built around mlp dynamics; export the first-order f(t, [x, v]) = [v, a] ` +
        `to ${c.file} and use "first-order"`,
    }];
  }
  let imported: ImportedDynamics;
  try {
    imported = importOf(c, dtype);
  } catch (e) {
    const message = problem(c.file, e);
    return [{
      path: c.freeze.length > 0 && /Cannot freeze/.test(message) ? "dynamics.freeze" : "dynamics.file",
      message,
    }];
  }
  if (imported.dynamics.params.length === 0) {
    const { frozen, noGradient } = imported;
    if (frozen.length > 0) {
      return [{
        path: "dynamics.freeze",
        message: `${c.file} has no weight left to train: freeze lists every weight (${frozen.join(", ")}), so ` +
          `training would change nothing; leave some out of freeze`,
      }];
    }
    const why = noGradient.length > 0
      ? `no gradient reaches dz from its float initializers (${noGradient.join(", ")})`
      : "it has no float initializers";
    return [{
      path: "dynamics.file",
      message: `${c.file} has no weight to train: ${why}, so training would change nothing; export the model ` +
        `with its weights as initializers (torch.onnx.export does by default)`,
    }];
  }
  const shape = imported.dynamics.stateShape;
  if (shape.length !== 1 || shape[0] !== stateDim) {
    return [{
      path: "dynamics.file",
      message: `${c.file} takes states z of shape ${formatShape(["batch", ...shape])}, but the model stage gives ` +
        `states of shape ${formatShape(["batch", stateDim])} (what model.encoder makes of the data's inputs)`,
    }];
  }
  return [];
}

/** The ONNX-file dynamics kind. */
export const onnxModel = modelKind({
  kind: "onnx",
  schema: OnnxDynamicsSchema,
  example: { kind: "onnx", file: EXAMPLE_FILE },
  exampleStateDim: 2,
  width(c) {
    const graph = sizedGraph(c.file);
    const widths = layersOf(graph).map(layerWidth);
    return widths.length > 0 ? Math.max(...widths) : Math.max(1, floatParamCount(graph));
  },
  macsPerSample(c) {
    const graph = sizedGraph(c.file);
    const layers = layersOf(graph);
    const macs = layers.reduce((s, l) => s + layerMacs(graph, l), 0);
    return Math.max(1, layers.length > 0 ? macs : floatParamCount(graph));
  },
  checks: checkImport,
  build(c, options) {
    const issues = checkImport(c, options);
    if (issues.length > 0) throw new RangeError(issues.map((i) => i.message).join("; "));
    const { dynamics, init } = importOf(c, options.dtype);
    const model = { dynamics, init: Object.fromEntries(Object.entries(init).map(([n, t]) => [n, copy(t)])) };
    return options.paramPrefix !== undefined ? prefixed(model, options.paramPrefix) : model;
  },
});
