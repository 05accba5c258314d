/**
 * A readout head from an exported ONNX model — what torch's
 * `torch.onnx.export` writes for an `nn.Module` mapping states to
 * predictions — made trainable.
 *
 * The contract: one input, the states `[rows, state]` (rows dynamic, any
 * name), and one output, the predictions `[rows, outputs]` (any name; with
 * several outputs, the first). {@linkcode importHead} renames them `z` and
 * `y`, lifts the float weights into parameters named `head.<initializer>`
 * (lift.ts; `freeze` keeps some constant) and reads the two sizes from the
 * graph's types. The readout (train/readout.ts, head `"graph"`) applies it
 * to every state at every measurement time by reshaping
 * `[times, batch, state]` to rows and back.
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

/** Options of {@linkcode importHead}. */
export interface HeadImportOptions {
  /** Weights (float initializer names as in the file, e.g. `l1.weight`) kept constant. @default none */
  readonly freeze?: readonly string[];
  /** Float type to convert the head to. @default the model's own */
  readonly dtype?: "float32" | "float64";
  /** Prefix of the parameter names, keeping them apart from the dynamics'. @default "head." */
  readonly prefix?: string;
}

/** An imported head: its graph `z` [rows, state] → `y` [rows, outputs] with the weights as inputs. */
export interface ImportedHead {
  /** The graph: input `z`, then one input per parameter; output `y`. */
  readonly graph: Graph;
  /** The trainable weights (prefixed names), in the file's initializer order. */
  readonly params: readonly ParamSpec[];
  /** Their values from the file, by prefixed name. */
  readonly init: Params;
  /** State components a row takes. */
  readonly stateDim: number;
  /** Prediction components a row gives. */
  readonly outDim: number;
  /** Weights kept constant because `freeze` named them (file names). */
  readonly frozen: readonly string[];
  /** Float initializers no gradient reaches from `y` (file names). */
  readonly noGradient: readonly string[];
}

/** The contract's names of an imported head's state input and prediction output. */
export const HEAD_NAMES = { state: "z", prediction: "y" } as const;

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
 * const path = new URL("../../tests/fixtures/torch_head/head.onnx", import.meta.url).pathname;
 * const head = await importHead(path);
 * if (head.stateDim !== 3 || head.outDim !== 2) throw new Error("sizes");
 * if (head.params.map((p) => p.name).join() !== "head.l1.weight,head.l1.bias,head.l2.weight,head.l2.bias") {
 *   throw new Error("weights not lifted");
 * }
 * ```
 */
export async function importHead(source: string | Graph, options: HeadImportOptions = {}): Promise<ImportedHead> {
  checkKeys(options, KEYS, "importHead");
  return importHeadGraph(typeof source === "string" ? await readModel(source) : source, source, options);
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
 * const path = new URL("../../tests/fixtures/torch_head/head.onnx", import.meta.url).pathname;
 * const head = importHeadSync(path, { freeze: ["l1.weight", "l1.bias"], dtype: "float64" });
 * if (head.params.length !== 2 || head.init["head.l2.weight"]!.dtype !== "float64") throw new Error("freeze");
 * ```
 */
export function importHeadSync(source: string | Graph, options: HeadImportOptions = {}): ImportedHead {
  checkKeys(options, KEYS, "importHeadSync");
  return importHeadGraph(typeof source === "string" ? readModelSync(source) : source, source, options);
}

/** `[rows, n]` with n known: n, else undefined. */
function columns(shape: readonly (number | string)[]): number | undefined {
  return shape.length === 2 && typeof shape[1] === "number" ? shape[1] : undefined;
}

function importHeadGraph(graph: Graph, source: string | Graph, options: HeadImportOptions): ImportedHead {
  const { freeze = [], dtype, prefix = "head." } = options;
  const place = typeof source === "string" ? { graph: graph.name, file: source } : { graph: graph.name };
  const inputs = graph.inputs.filter((v) => !graph.initializers.has(v.name));
  const listed = inputs.map((v) => `${v.name} ${formatShape(v.shape)}`).join(", ") || "none";
  if (inputs.length !== 1) {
    throw new GraphError(
      `A head takes one input, the states [rows, state]; this graph has ${inputs.length} (${listed}). Export ` +
        `the module with the states as its only argument and the weights as initializers`,
      place,
    );
  }
  const input = inputs[0]!;
  const output = graph.outputs[0];
  if (output === undefined) throw new GraphError("The head graph has no output", place);
  const stateDim = columns(input.shape);
  if (stateDim === undefined) {
    throw new GraphError(
      `The head's input ${input.name} is ${formatShape(input.shape)}; it must be [rows, state] with the state ` +
        `size fixed (export with a batch of rows, and only the rows dynamic)`,
      { ...place, valueName: input.name },
    );
  }
  const renames = new Map([[input.name, HEAD_NAMES.state], [output.name, HEAD_NAMES.prediction]]);
  const renamed = GraphBuilder.from(pruneGraph(renameValues({ ...graph, outputs: [output] }, renames))).build();
  const lifted = liftInitializers(renamed, { freeze, ...(dtype !== undefined ? { dtype } : {}) });
  const y = lifted.graph.outputs[0]!;
  const outDim = columns(y.shape);
  if (outDim === undefined) {
    throw new GraphError(
      `The head's output ${output.name} is ${formatShape(y.shape)}; it must be [rows, outputs] with the ` +
        `output size fixed`,
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
      throw new GraphError(`Cannot name a head weight "${to}": the graph has a value of that name`, {
        ...place,
        valueName: to,
      });
    }
  }
  const param = (n: string) => names.get(n) ?? n;
  const out = GraphBuilder.from(renameValues(lifted.graph, names)).build();
  return {
    graph: out,
    params: lifted.params.map((p) => ({ name: param(p.name), shape: p.shape })),
    init: Object.fromEntries(Object.entries(lifted.init).map(([n, t]) => [param(n), t])),
    stateDim,
    outDim,
    frozen: lifted.frozen,
    noGradient: lifted.noGradient,
  };
}
