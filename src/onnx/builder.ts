/**
 * GraphBuilder: adds typed nodes one at a time, checking each with its shape
 * rule, and yields an immutable {@linkcode Graph}.
 *
 * Model builders, float64 lowering and VJP generation all build graphs with it,
 * so every graph quadjoint produces is checked the same way.
 *
 * Why one file: one class, whose name bookkeeping (claimed names, types,
 * constants, shape values) every method shares; the shape rules themselves
 * live in shape_rules.ts.
 *
 * @module
 */
import type { DType } from "./dtype.ts";
import { GraphError } from "./errors.ts";
import {
  attr,
  type Attributes,
  DEFAULT_OPSET,
  defaultOpset,
  type Dim,
  type Graph,
  type Node,
  type OpsetImport,
  type Shape,
  type TensorType,
  type ValueInfo,
} from "./graph.ts";
import { SHAPE_RULES, type ShapeContext, type ShapeResult, ShapeRuleError } from "./shape_rules.ts";
import { type Tensor, toNumbers } from "./tensor.ts";

/** A typed value handle returned by the builder. */
export type Value = ValueInfo;

/** Options for {@linkcode GraphBuilder.op}. */
export interface OpOptions {
  /** Number of outputs. @default 1 */
  outputs?: number;
  /** Node name. @default a unique name from the op type */
  name?: string;
  /** Names for the outputs. @default unique names from the node name */
  outputNames?: readonly string[];
  /** Operator domain. @default "" */
  domain?: string;
}

/**
 * Builds a graph node by node, inferring and checking types as it goes.
 *
 * @example Build y = tanh(x·W)
 * ```ts
 * import { GraphBuilder } from "./builder.ts";
 * import { fromNumbers } from "./tensor.ts";
 * const b = new GraphBuilder("f");
 * const x = b.input("x", "float32", ["batch", 2]);
 * const w = b.initializer("w", fromNumbers([1, 2, 3, 4], [2, 2]));
 * b.output(b.op1("Tanh", [b.op1("MatMul", [x, w])]), "y");
 * const g = b.build();
 * if (g.outputs[0]!.shape[0] !== "batch") throw new Error("batch dim lost");
 * ```
 */
export class GraphBuilder {
  /** Name of the graph being built. */
  readonly name: string;
  #opset: number;
  #inputs: ValueInfo[] = [];
  #outputs: ValueInfo[] = [];
  #initializers = new Map<string, Tensor>();
  #nodes: Node[] = [];
  #types = new Map<string, TensorType>();
  #constants = new Map<string, Tensor>();
  #shapeValues = new Map<string, Dim[]>();
  #used = new Set<string>();
  #nodeNames = new Set<string>();
  #reserved = new Set<string>();
  #counter = 0;
  #freshDims = 0;
  #extraOpsets: OpsetImport[] = [];
  #docString: string | undefined;
  #producer: string | undefined;

  /** Starts an empty graph; `opset` is the default-domain opset (17 unless given). */
  constructor(name: string, options: { opset?: number; docString?: string; producer?: string } = {}) {
    this.name = name;
    this.#opset = options.opset ?? DEFAULT_OPSET;
    this.#docString = options.docString;
    this.#producer = options.producer;
  }

  /**
   * Starts a builder holding all of `graph`: its inputs, initializers and
   * nodes (re-checked), with outputs kept unless `keepOutputs` is false.
   */
  static from(graph: Graph, options: { keepOutputs?: boolean; name?: string } = {}): GraphBuilder {
    const b = new GraphBuilder(options.name ?? graph.name, {
      opset: defaultOpset(graph),
      ...(graph.docString !== undefined ? { docString: graph.docString } : {}),
      ...(graph.producer !== undefined ? { producer: graph.producer } : {}),
    });
    b.#extraOpsets = graph.opsetImports.filter((o) => o.domain !== "" && o.domain !== "ai.onnx");
    for (const [name, t] of graph.initializers) b.initializer(name, t);
    for (const v of graph.inputs) {
      if (!graph.initializers.has(v.name)) b.input(v.name, v.dtype, v.shape);
    }
    for (const node of graph.nodes) b.addNode(node);
    if (options.keepOutputs !== false) {
      for (const o of graph.outputs) {
        const v = b.value(o.name);
        // An output that is an input or initializer itself (valid ONNX, run as such) keeps its name: output()
        // would route it through an Identity under the same name, a second definition.
        if (graph.inputs.some((i) => i.name === o.name) || graph.initializers.has(o.name)) {
          b.#outputs.push({ name: v.name, dtype: v.dtype, shape: v.shape });
        } else {
          b.output(v, o.name);
        }
      }
    }
    return b;
  }

  /** The default-domain opset of the graph being built. */
  get opset(): number {
    return this.#opset;
  }

  /** Declares a graph input. */
  input(name: string, dtype: DType, shape: Shape): Value {
    this.#claim(name);
    const v = { name, dtype, shape: [...shape] };
    this.#inputs.push(v);
    this.#types.set(name, v);
    return v;
  }

  /** Adds a named constant tensor (a weight baked into the graph). */
  initializer(name: string, tensor: Tensor): Value {
    this.#claim(name);
    this.#initializers.set(name, tensor);
    this.#constants.set(name, tensor);
    const type = { dtype: tensor.dtype, shape: [...tensor.dims] };
    this.#types.set(name, type);
    if (tensor.dtype === "int64" && tensor.dims.length <= 1) this.#shapeValues.set(name, toNumbers(tensor));
    return { name, ...type };
  }

  /** Adds a Constant node holding `tensor`. */
  constant(tensor: Tensor, name?: string): Value {
    return this.op1("Constant", [], { value: attr.tensor(tensor) }, name ? { outputNames: [name] } : {});
  }

  /** Adds a node and returns its outputs. An input of `null` is an omitted optional input. */
  op(
    opType: string,
    inputs: readonly (Value | string | null)[],
    attributes: Attributes = {},
    options: OpOptions = {},
  ): Value[] {
    const name = options.name ?? this.uniqueName(opType);
    const count = options.outputNames?.length ?? options.outputs ?? 1;
    const outputs = options.outputNames
      ? [...options.outputNames]
      : Array.from({ length: count }, (_, i) => this.uniqueName(`${name}_out${count > 1 ? i : ""}`));
    const node: Node = {
      name,
      opType,
      domain: options.domain ?? "",
      inputs: inputs.map((v) => (v === null ? "" : typeof v === "string" ? v : v.name)),
      outputs,
      attributes,
    };
    return this.addNode(node);
  }

  /** Adds a single-output node and returns its output. */
  op1(
    opType: string,
    inputs: readonly (Value | string | null)[],
    attributes: Attributes = {},
    options: OpOptions = {},
  ): Value {
    return this.op(opType, inputs, attributes, { ...options, outputs: 1 })[0]!;
  }

  /**
   * Adds a fully specified node (names given), checking it with its shape
   * rule. Returns its outputs in order, without the omitted ones (named ""):
   * for outputs ["y", "", "z"] it returns [y, z].
   */
  addNode(node: Node): Value[] {
    const place = { graph: this.name, nodeName: node.name, opType: node.opType };
    if (node.domain !== "" && node.domain !== "ai.onnx") {
      throw new GraphError(
        `Operator domain "${node.domain}" is not supported; quadjoint runs standard ONNX ops only`,
        place,
      );
    }
    const rule = SHAPE_RULES.get(node.opType);
    if (!rule) throw new GraphError(`Unsupported op ${node.opType}: quadjoint has no shape rule for it`, place);
    const inputs = node.inputs.map((n, i) => {
      if (n === "") return undefined;
      const t = this.#types.get(n);
      if (!t) throw new GraphError(`Input ${i} "${n}" is not defined before this node`, place);
      return t;
    });
    const ctx: ShapeContext = {
      node,
      inputs,
      opset: this.#opset,
      constant: (i) => (node.inputs[i] ? this.#constants.get(node.inputs[i]!) : undefined),
      shapeValue: (i) => (node.inputs[i] ? this.#shapeValues.get(node.inputs[i]!) : undefined),
      fresh: () => `${node.name}_d${this.#freshDims++}`,
    };
    let result: ShapeResult;
    try {
      const r = rule(ctx);
      result = Array.isArray(r) ? { types: r } : r as ShapeResult;
    } catch (e) {
      if (e instanceof ShapeRuleError || e instanceof TypeError || e instanceof RangeError) {
        const shapes = inputs.map((t) => (t ? `${t.dtype}[${t.shape.join(", ")}]` : "none")).join(", ");
        throw new GraphError(`${e.message} (inputs: ${shapes})`, place);
      }
      throw e;
    }
    if (result.types.length < node.outputs.length) {
      throw new GraphError(
        `Node declares ${node.outputs.length} outputs but the op yields ${result.types.length}`,
        place,
      );
    }
    if (this.#nodeNames.has(node.name)) throw new GraphError(`Node name "${node.name}" is used twice`, place);
    const named = node.outputs.filter((o) => o !== "");
    const repeated = named.find((o, i) => named.indexOf(o) !== i);
    if (repeated !== undefined) {
      throw new GraphError(`Value "${repeated}" is defined twice`, { ...place, valueName: repeated });
    }
    for (const out of named) this.#claim(out, place);
    this.#nodeNames.add(node.name);
    this.#used.add(node.name);
    this.#nodes.push(node);
    const values: Value[] = [];
    node.outputs.forEach((out, i) => {
      const type = result.types[i]!;
      if (out === "") return;
      this.#types.set(out, type);
      const sv = result.shapeValues?.[i];
      if (sv) this.#shapeValues.set(out, sv);
      values.push({ name: out, dtype: type.dtype, shape: type.shape });
    });
    if (node.opType === "Constant") {
      const v = node.attributes["value"];
      if (v?.type === "tensor") this.#constants.set(node.outputs[0]!, v.value);
    }
    return values;
  }

  /** Marks a value as a graph output, under `name` (adding an Identity if renamed). */
  output(value: Value | string, name?: string): Value {
    let v = typeof value === "string" ? this.value(value) : value;
    const isInputOrInit = this.#inputs.some((i) => i.name === v.name) || this.#initializers.has(v.name);
    const taken = this.#outputs.some((o) => o.name === v.name);
    if ((name !== undefined && name !== v.name) || isInputOrInit || taken) {
      v = this.op1("Identity", [v], {}, { outputNames: [name ?? this.uniqueName(`${v.name}_out`)] });
    }
    this.#outputs.push({ name: v.name, dtype: v.dtype, shape: v.shape });
    return v;
  }

  /** Looks up a defined value by name. */
  value(name: string): Value {
    const t = this.#types.get(name);
    if (!t) throw new GraphError(`Value "${name}" is not defined`, { graph: this.name, valueName: name });
    return { name, dtype: t.dtype, shape: t.shape };
  }

  /** True if a value with this name exists. */
  has(name: string): boolean {
    return this.#types.has(name);
  }

  /** The constant content of a value, when known at build time. */
  constantOf(name: string): Tensor | undefined {
    return this.#constants.get(name);
  }

  /**
   * The integers a value holds when known at build time: a constant's, or a
   * shape value whose every dim is a number (Slice bounds computed from
   * Shape(x) of concrete dims, say).
   */
  knownInts(name: string): number[] | undefined {
    const c = this.#constants.get(name);
    if (c) return toNumbers(c);
    const sv = this.#shapeValues.get(name);
    return sv && sv.every((d) => typeof d === "number") ? sv as number[] : undefined;
  }

  /** A name not yet used in the graph, starting with `prefix`. */
  uniqueName(prefix: string): string {
    let name = prefix;
    while (this.#used.has(name) || this.#nodeNames.has(name) || this.#reserved.has(name)) {
      name = `${prefix}_${++this.#counter}`;
    }
    this.#used.add(name);
    return name;
  }

  /**
   * Keeps generated names away from `names`, for transforms that will add
   * nodes and values with these names later.
   */
  reserveNames(names: Iterable<string>): void {
    for (const n of names) this.#reserved.add(n);
  }

  /** Freezes the graph. */
  build(): Graph {
    const graphValues = new Set([...this.#inputs.map((v) => v.name), ...this.#initializers.keys()]);
    const valueInfo = new Map<string, TensorType>();
    for (const [name, t] of this.#types) if (!graphValues.has(name)) valueInfo.set(name, t);
    return {
      name: this.name,
      inputs: [...this.#inputs],
      outputs: [...this.#outputs],
      initializers: new Map(this.#initializers),
      nodes: [...this.#nodes],
      valueInfo,
      opsetImports: [{ domain: "", version: this.#opset }, ...this.#extraOpsets],
      ...(this.#docString !== undefined ? { docString: this.#docString } : {}),
      ...(this.#producer !== undefined ? { producer: this.#producer } : {}),
    };
  }

  #claim(name: string, place: ConstructorParameters<typeof GraphError>[1] = { graph: this.name }): void {
    if (this.#types.has(name)) throw new GraphError(`Value "${name}" is defined twice`, { ...place, valueName: name });
    this.#used.add(name);
  }
}
