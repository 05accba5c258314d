/**
 * The graph IR: a plain-data mirror of an ONNX model's main graph.
 *
 * Graphs are immutable values built by {@linkcode GraphBuilder}, decoded from
 * `.onnx` bytes, or produced by transforms (float64 lowering, VJP generation).
 * Every value in a well-formed graph has a known dtype and shape; dims are
 * numbers or symbolic names such as `"batch"`.
 *
 * @module
 */
import type { DType } from "./dtype.ts";
import type { Tensor } from "./tensor.ts";

/** The ONNX default-domain opset that graphs built here declare. */
export const DEFAULT_OPSET = 17;

/** One dimension: a concrete size or a symbolic name shared across values. */
export type Dim = number | string;

/** A shape with possibly symbolic dims. */
export type Shape = readonly Dim[];

/** Element type and shape of a value. */
export interface TensorType {
  /** Element type. */
  readonly dtype: DType;
  /** Dimensions, concrete or symbolic. */
  readonly shape: Shape;
}

/** A named, typed value: graph input, output or intermediate. */
export interface ValueInfo extends TensorType {
  /** Unique value name in its graph. */
  readonly name: string;
}

/** A node attribute, tagged with its ONNX attribute type. */
export type Attribute =
  | { readonly type: "int"; readonly value: number }
  | { readonly type: "float"; readonly value: number }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "tensor"; readonly value: Tensor }
  | { readonly type: "ints"; readonly value: readonly number[] }
  | { readonly type: "floats"; readonly value: readonly number[] }
  | { readonly type: "strings"; readonly value: readonly string[] };

/** Attributes of a node by name. */
export type Attributes = Readonly<Record<string, Attribute>>;

/** One operator application. An empty input name is an omitted optional input. */
export interface Node {
  /** Unique node name. */
  readonly name: string;
  /** ONNX operator type, e.g. "Gemm". */
  readonly opType: string;
  /** Operator domain; `""` is the ONNX default domain. */
  readonly domain: string;
  /** Input value names, in the op's order. */
  readonly inputs: readonly string[];
  /** Output value names, in the op's order. */
  readonly outputs: readonly string[];
  /** Attributes by name. */
  readonly attributes: Attributes;
}

/** An opset a graph imports. */
export interface OpsetImport {
  /** Operator domain; "" is ONNX's default. */
  readonly domain: string;
  /** Opset version. */
  readonly version: number;
}

/** A whole model: one graph with its inputs, outputs, weights and nodes in topological order. */
export interface Graph {
  /** Graph name. */
  readonly name: string;
  /** Runtime inputs (initializers are not listed). */
  readonly inputs: readonly ValueInfo[];
  /** Outputs. */
  readonly outputs: readonly ValueInfo[];
  /** Constant tensors by name (weights baked into the graph). */
  readonly initializers: ReadonlyMap<string, Tensor>;
  /** Nodes in a valid execution order. */
  readonly nodes: readonly Node[];
  /** Types of intermediate values, as inferred when the graph was built or decoded. */
  readonly valueInfo: ReadonlyMap<string, TensorType>;
  /** Opsets the graph imports. */
  readonly opsetImports: readonly OpsetImport[];
  /** Free text carried into the model's doc string. */
  readonly docString?: string;
  /** Producer name written into the model. */
  readonly producer?: string;
}

/** Attribute constructors, so callers state ONNX's int/float distinction explicitly. */
export const attr = {
  int: (value: number): Attribute => ({ type: "int", value }),
  float: (value: number): Attribute => ({ type: "float", value }),
  string: (value: string): Attribute => ({ type: "string", value }),
  tensor: (value: Tensor): Attribute => ({ type: "tensor", value }),
  ints: (value: readonly number[]): Attribute => ({ type: "ints", value: [...value] }),
  floats: (value: readonly number[]): Attribute => ({ type: "floats", value: [...value] }),
  strings: (value: readonly string[]): Attribute => ({ type: "strings", value: [...value] }),
} as const;

/** Reads an int attribute, or `fallback` when absent. */
export function intAttr(node: Node, name: string, fallback: number): number;
/** Reads an int attribute, or undefined when absent. */
export function intAttr(node: Node, name: string): number | undefined;
export function intAttr(node: Node, name: string, fallback?: number): number | undefined {
  const a = node.attributes[name];
  if (a === undefined) return fallback;
  if (a.type !== "int") throw new TypeError(`Attribute ${name} of node ${node.name} (${node.opType}) must be an int`);
  return a.value;
}

/** Reads a float attribute, or `fallback` when absent. */
export function floatAttr(node: Node, name: string, fallback: number): number {
  const a = node.attributes[name];
  if (a === undefined) return fallback;
  if (a.type !== "float" && a.type !== "int") {
    throw new TypeError(`Attribute ${name} of node ${node.name} (${node.opType}) must be a float`);
  }
  return a.value;
}

/** Reads an ints attribute, or `fallback` when absent. */
export function intsAttr(node: Node, name: string, fallback: readonly number[]): readonly number[];
/** Reads an ints attribute, or undefined when absent. */
export function intsAttr(node: Node, name: string): readonly number[] | undefined;
export function intsAttr(node: Node, name: string, fallback?: readonly number[]): readonly number[] | undefined {
  const a = node.attributes[name];
  if (a === undefined) return fallback;
  if (a.type !== "ints") throw new TypeError(`Attribute ${name} of node ${node.name} (${node.opType}) must be ints`);
  return a.value;
}

/** Reads a string attribute, or `fallback` when absent. */
export function stringAttr(node: Node, name: string, fallback: string): string {
  const a = node.attributes[name];
  if (a === undefined) return fallback;
  if (a.type !== "string") {
    throw new TypeError(`Attribute ${name} of node ${node.name} (${node.opType}) must be a string`);
  }
  return a.value;
}

/** The version of the default ONNX domain a graph imports. */
export function defaultOpset(graph: Pick<Graph, "opsetImports">): number {
  return graph.opsetImports.find((o) => o.domain === "" || o.domain === "ai.onnx")?.version ?? DEFAULT_OPSET;
}

/** Formats a shape for messages: `[batch, 5]`. */
export function formatShape(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

/**
 * The graph with values renamed wherever they appear (inputs, outputs, node
 * inputs and outputs, initializers); names not in `renames` stay. Inferred
 * intermediate types are dropped (rebuild the graph to infer them again).
 * Callers check that a new name does not collide with a value they keep.
 *
 * @example
 * ```ts
 * import { GraphBuilder } from "./builder.ts";
 * import { renameValues } from "./graph.ts";
 * const b = new GraphBuilder("g");
 * b.output(b.op1("Neg", [b.input("x", "float32", [2])]), "y");
 * const g = renameValues(b.build(), new Map([["x", "z"]]));
 * if (g.inputs[0]!.name !== "z" || g.nodes[0]!.inputs[0] !== "z") throw new Error();
 * ```
 */
export function renameValues(graph: Graph, renames: ReadonlyMap<string, string>): Graph {
  const rename = (n: string) => renames.get(n) ?? n;
  return {
    ...graph,
    inputs: graph.inputs.map((v) => ({ ...v, name: rename(v.name) })),
    outputs: graph.outputs.map((v) => ({ ...v, name: rename(v.name) })),
    nodes: graph.nodes.map((n) => ({ ...n, inputs: n.inputs.map(rename), outputs: n.outputs.map(rename) })),
    initializers: new Map([...graph.initializers].map(([n, t]) => [rename(n), t])),
    valueInfo: new Map(),
  };
}

/** The type of any named value of a graph: input, initializer or intermediate. */
export function typeOf(graph: Graph, name: string): TensorType | undefined {
  const input = graph.inputs.find((v) => v.name === name);
  if (input) return input;
  const init = graph.initializers.get(name);
  if (init) return { dtype: init.dtype, shape: init.dims };
  return graph.valueInfo.get(name) ?? graph.outputs.find((v) => v.name === name);
}
