/**
 * The layers around the ODE from exported ONNX models — what torch's
 * `torch.onnx.export` writes for an `nn.Module` — made trainable: a readout
 * head (states → predictions) and an encoder (data → initial states).
 *
 * The contract, for both: one input of rows `[rows, …]` (rows dynamic, any
 * name) and one output of rows (any name; with several outputs, the first),
 * the other dims fixed. {@linkcode importHead} renames them `z` [rows, state]
 * and `y` [rows, outputs]; {@linkcode importEncoder} renames them `x`
 * [rows, data] and `z0` [rows, …state]. Both lift the float weights into
 * parameters (lift.ts; `freeze` keeps some constant) named `head.<initializer>`
 * or `encoder.<initializer>`, and read the sizes from the graph's types. The
 * readout (train/readout.ts, head `"graph"`) applies a head to every state at
 * every measurement time by reshaping `[times, batch, state]` to rows and
 * back; a neural ODE (train/neural_ode.ts) runs an encoder on each batch and
 * trains it from dL/dz0.
 *
 * @module
 */
import { pruneGraph } from "../autodiff/vjp.ts";
import { GraphBuilder } from "../onnx/builder.ts";
import { GraphError } from "../onnx/errors.ts";
import { formatShape, type Graph, renameValues } from "../onnx/graph.ts";
import { readModel, readModelSync } from "../onnx/proto.ts";
import { checkKeys } from "./_layers.ts";
import type { Params, ParamSpec } from "./dynamics.ts";
import { liftInitializers } from "./lift.ts";

/** Options of {@linkcode importHead} and {@linkcode importEncoder}. */
export interface LayerImportOptions {
  /** Weights (float initializer names as in the file, e.g. `l1.weight`) kept constant. @default none */
  readonly freeze?: readonly string[];
  /** Float type to convert the head to. @default the model's own */
  readonly dtype?: "float32" | "float64";
  /** Prefix of the parameter names, keeping them apart from the dynamics'. @default "head." or "encoder." */
  readonly prefix?: string;
}

/** What both imported layers have: the graph with the weights as inputs, and the weights. */
export interface ImportedLayer {
  /** The graph: the renamed row input, then one input per parameter; the renamed output. */
  readonly graph: Graph;
  /** The trainable weights (prefixed names), in the file's initializer order. */
  readonly params: readonly ParamSpec[];
  /** Their values from the file, by prefixed name. */
  readonly init: Params;
  /** Weights kept constant because `freeze` named them (file names). */
  readonly frozen: readonly string[];
  /** Float initializers no gradient reaches from the output (file names). */
  readonly noGradient: readonly string[];
}

/** An imported head: its graph `z` [rows, state] → `y` [rows, outputs] with the weights as inputs. */
export interface ImportedHead extends ImportedLayer {
  /** State components a row takes. */
  readonly stateDim: number;
  /** Prediction components a row gives. */
  readonly outDim: number;
}

/** An imported encoder: its graph `x` [rows, data] → `z0` [rows, …stateShape] with the weights as inputs. */
export interface ImportedEncoder extends ImportedLayer {
  /** Data components a row takes. */
  readonly dataDim: number;
  /** The per-row shape of the initial state it gives. */
  readonly stateShape: readonly number[];
}

/** The contract's names of an imported head's state input and prediction output. */
export const HEAD_NAMES = { state: "z", prediction: "y" } as const;

/** The contract's names of an imported encoder's data input and initial-state output. */
export const ENCODER_NAMES = { data: "x", state: "z0" } as const;

const KEYS = ["freeze", "dtype", "prefix"];

/**
 * Imports a head `[rows, state] → [rows, outputs]` from an `.onnx` file (its
 * `.onnx.data` too) or a decoded graph, with its float weights as trainable
 * parameters named `head.<name>`.
 *
 * @throws {GraphError} naming the file when the graph has no or several
 * non-weight inputs, no output, an input or output that is not a matrix of
 * rows with a known number of columns, or a parameter name that is taken;
 * `freeze`'s errors (lift.ts) and {@linkcode readModel}'s.
 *
 * @example A torch export (dynamo exporter): Linear(3, 40) → Tanh → Linear(40, 2)
 * ```ts
 * import { importHead } from "../../mod.ts";
 * const path = new URL("../../tests/fixtures/torch_layers/head.onnx", import.meta.url).pathname;
 * const head = await importHead(path);
 * if (head.stateDim !== 3 || head.outDim !== 2) throw new Error("sizes");
 * if (head.params.map((p) => p.name).join() !== "head.l1.weight,head.l1.bias,head.l2.weight,head.l2.bias") {
 *   throw new Error("weights not lifted");
 * }
 * ```
 */
export async function importHead(source: string | Graph, options: LayerImportOptions = {}): Promise<ImportedHead> {
  checkKeys(options, KEYS, "importHead");
  return asHead(importLayer(typeof source === "string" ? await readModel(source) : source, source, HEAD, options));
}

/**
 * {@linkcode importHead} without awaiting, for checks that run before any
 * work starts (the pipeline's `model.head: { kind: onnx }`).
 *
 * @throws as {@linkcode importHead} does.
 *
 * @example Freeze the first layer
 * ```ts
 * import { importHeadSync } from "../../mod.ts";
 * const path = new URL("../../tests/fixtures/torch_layers/head.onnx", import.meta.url).pathname;
 * const head = importHeadSync(path, { freeze: ["l1.weight", "l1.bias"], dtype: "float64" });
 * if (head.params.length !== 2 || head.init["head.l2.weight"]!.dtype !== "float64") throw new Error("freeze");
 * ```
 */
export function importHeadSync(source: string | Graph, options: LayerImportOptions = {}): ImportedHead {
  checkKeys(options, KEYS, "importHeadSync");
  return asHead(importLayer(typeof source === "string" ? readModelSync(source) : source, source, HEAD, options));
}

/**
 * Imports an encoder `[rows, data] → [rows, …state]` from an `.onnx` file (its
 * `.onnx.data` too) or a decoded graph, with its float weights as trainable
 * parameters named `encoder.<name>`.
 *
 * @throws {GraphError} as {@linkcode importHead} does, for the encoder's input
 * and output.
 *
 * @example A torch export (dynamo exporter): Linear(2, 4) → Tanh
 * ```ts
 * import { importEncoder } from "../../mod.ts";
 * const path = new URL("../../tests/fixtures/torch_layers/encoder.onnx", import.meta.url).pathname;
 * const encoder = await importEncoder(path);
 * if (encoder.dataDim !== 2 || encoder.stateShape.join() !== "4") throw new Error("sizes");
 * if (encoder.params.map((p) => p.name).join() !== "encoder.l1.weight,encoder.l1.bias") throw new Error("weights");
 * ```
 */
export async function importEncoder(
  source: string | Graph,
  options: LayerImportOptions = {},
): Promise<ImportedEncoder> {
  checkKeys(options, KEYS, "importEncoder");
  return asEncoder(
    importLayer(typeof source === "string" ? await readModel(source) : source, source, ENCODER, options),
  );
}

/**
 * {@linkcode importEncoder} without awaiting, for checks that run before any
 * work starts (the pipeline's `model.encoder: { kind: onnx }`).
 *
 * @throws as {@linkcode importEncoder} does.
 */
export function importEncoderSync(source: string | Graph, options: LayerImportOptions = {}): ImportedEncoder {
  checkKeys(options, KEYS, "importEncoderSync");
  return asEncoder(importLayer(typeof source === "string" ? readModelSync(source) : source, source, ENCODER, options));
}

/** What tells a head from an encoder in messages and names. */
interface LayerRole {
  readonly what: "head" | "encoder";
  /** The contract's names of the input and the output. */
  readonly input: string;
  readonly output: string;
  /** The input in words and the shapes, for messages. */
  readonly inputWhat: string;
  readonly inputShape: string;
  readonly outputShape: string;
  readonly prefix: string;
}

const HEAD: LayerRole = {
  what: "head",
  input: HEAD_NAMES.state,
  output: HEAD_NAMES.prediction,
  inputWhat: "the states",
  inputShape: "[rows, state]",
  outputShape: "[rows, outputs]",
  prefix: "head.",
};

const ENCODER: LayerRole = {
  what: "encoder",
  input: ENCODER_NAMES.data,
  output: ENCODER_NAMES.state,
  inputWhat: "the data",
  inputShape: "[rows, data]",
  outputShape: "[rows, …state]",
  prefix: "encoder.",
};

/** `[rows, …dims]` with every dim after the rows known: those dims, else undefined. */
function rowShape(shape: readonly (number | string)[]): number[] | undefined {
  const dims = shape.slice(1);
  return shape.length >= 2 && dims.every((d) => typeof d === "number") ? dims as number[] : undefined;
}

/** A layer with its per-row input and output shapes. */
interface ImportedRows extends ImportedLayer {
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
}

function asHead(layer: ImportedRows): ImportedHead {
  const { inShape, outShape, ...rest } = layer;
  return { ...rest, stateDim: inShape[0]!, outDim: outShape[0]! };
}

function asEncoder(layer: ImportedRows): ImportedEncoder {
  const { inShape, outShape, ...rest } = layer;
  return { ...rest, dataDim: inShape[0]!, stateShape: outShape };
}

function importLayer(graph: Graph, source: string | Graph, role: LayerRole, options: LayerImportOptions): ImportedRows {
  const { freeze = [], dtype, prefix = role.prefix } = options;
  const place = typeof source === "string" ? { graph: graph.name, file: source } : { graph: graph.name };
  const inputs = graph.inputs.filter((v) => !graph.initializers.has(v.name));
  const listed = inputs.map((v) => `${v.name} ${formatShape(v.shape)}`).join(", ") || "none";
  if (inputs.length !== 1) {
    throw new GraphError(
      `A ${role.what} takes one input, ${role.inputWhat} ${role.inputShape}; this graph has ${inputs.length} (${listed}). Export ` +
        `the module with that as its only argument and the weights as initializers`,
      place,
    );
  }
  const input = inputs[0]!;
  const output = graph.outputs[0];
  if (output === undefined) throw new GraphError(`The ${role.what} graph has no output`, place);
  // A head reads a flat state; an encoder takes flat data rows.
  const inShape = rowShape(input.shape);
  if (inShape === undefined || inShape.length !== 1) {
    throw new GraphError(
      `The ${role.what}'s input ${input.name} is ${formatShape(input.shape)}; it must be ${role.inputShape} with ` +
        `the row size fixed (export with a batch of rows, and only the rows dynamic)`,
      { ...place, valueName: input.name },
    );
  }
  const renames = new Map([[input.name, role.input], [output.name, role.output]]);
  const renamed = GraphBuilder.from(pruneGraph(renameValues({ ...graph, outputs: [output] }, renames))).build();
  const lifted = liftInitializers(renamed, { freeze, ...(dtype !== undefined ? { dtype } : {}) });
  const out = lifted.graph.outputs[0]!;
  const outShape = rowShape(out.shape);
  if (outShape === undefined || (role.what === "head" && outShape.length !== 1)) {
    throw new GraphError(
      `The ${role.what}'s output ${output.name} is ${formatShape(out.shape)}; it must be ${role.outputShape} ` +
        `with every size after the rows fixed`,
      { ...place, valueName: output.name },
    );
  }
  const taken = new Set([
    ...lifted.graph.inputs.map((v) => v.name),
    ...lifted.graph.initializers.keys(),
    ...lifted.graph.nodes.flatMap((n) => n.outputs),
  ]);
  const names = new Map(lifted.params.map((p) => [p.name, `${prefix}${p.name}`]));
  for (const [from, to] of names) {
    if (from !== to && taken.has(to)) {
      throw new GraphError(`Cannot name a ${role.what} weight "${to}": the graph has a value of that name`, {
        ...place,
        valueName: to,
      });
    }
  }
  const param = (n: string) => names.get(n) ?? n;
  return {
    graph: GraphBuilder.from(renameValues(lifted.graph, names)).build(),
    params: lifted.params.map((p) => ({ name: param(p.name), shape: p.shape })),
    init: Object.fromEntries(Object.entries(lifted.init).map(([n, t]) => [param(n), t])),
    inShape,
    outShape,
    frozen: lifted.frozen,
    noGradient: lifted.noGradient,
  };
}
