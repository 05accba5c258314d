/**
 * Inlining: one graph's nodes copied into another graph under construction,
 * with its inputs bound to values of the host. Generated graphs that apply a
 * dynamics function several times (every stage of a Runge–Kutta step, every
 * quadrature node of a batch) are built this way, so one ONNX Runtime call
 * does the work of many.
 *
 * @module
 */
import type { GraphBuilder, Value } from "./builder.ts";
import { GraphError } from "./errors.ts";
import { defaultOpset, type Graph } from "./graph.ts";
import type { Tensor } from "./tensor.ts";

/** Options of {@linkcode inlineGraph}. */
export interface InlineOptions {
  /** Prefix of the copied nodes' names and intermediate values; must make them unique in the host. */
  readonly prefix: string;
  /**
   * Prefix of the inlined graph's initializers in the host. Copies made with
   * the same `sharedPrefix` share one initializer instead of repeating it.
   * @default the node prefix
   */
  readonly sharedPrefix?: string;
}

/** Ops whose inputs or attributes changed between opsets 7 and 23 (axes, splits, pads, bounds, softmax axis). */
const OPSET_SENSITIVE = new Set([
  "ReduceMean",
  "ReduceMax",
  "ReduceMin",
  "ReduceProd",
  "ReduceSum",
  "ReduceL1",
  "ReduceL2",
  "ReduceLogSum",
  "ReduceLogSumExp",
  "ReduceSumSquare",
  "Squeeze",
  "Unsqueeze",
  "Split",
  "Slice",
  "Pad",
  "Clip",
  "Resize",
  "Upsample",
  "TopK",
  "Dropout",
  "Softmax",
  "LogSoftmax",
  "Hardmax",
]);

/** Whether `a` is `b` or holds the same dtype, dims and data (NaN equal to NaN). */
function sameTensor(a: Tensor | undefined, b: Tensor): boolean {
  if (a === undefined) return false;
  if (a === b) return true;
  return a.dtype === b.dtype && a.dims.join() === b.dims.join() && a.data.length === b.data.length &&
    Array.prototype.every.call(a.data, (v: unknown, i: number) => Object.is(v, b.data[i]));
}

/**
 * Copies every node of `graph` into `b`, feeding each graph input from
 * `bind` (every input must be bound), and returns the host values of the
 * graph's outputs by output name.
 *
 * @throws {GraphError} when an input of `graph` is not bound, a bound value's
 * dtype or rank differs from the input's, the opsets differ and the graph
 * has an op that reads differently across them, or a shared initializer's
 * name holds another tensor in the host.
 *
 * @example Apply y = 2x twice
 * ```ts
 * import { GraphBuilder } from "./builder.ts";
 * import { inlineGraph } from "./inline.ts";
 * const g = new GraphBuilder("double");
 * const x = g.input("x", "float64", [2]);
 * g.output(g.op1("Add", [x, x]), "y");
 * const double = g.build();
 * const b = new GraphBuilder("quadruple");
 * const v = b.input("v", "float64", [2]);
 * const once = inlineGraph(b, double, new Map([["x", v]]), { prefix: "first/" });
 * const twice = inlineGraph(b, double, new Map([["x", once.get("y")!]]), { prefix: "second/" });
 * b.output(twice.get("y")!, "w");
 * if (b.build().nodes.filter((n) => n.opType === "Add").length !== 2) throw new Error("one Add per copy expected");
 * ```
 */
export function inlineGraph(
  b: GraphBuilder,
  graph: Graph,
  bind: ReadonlyMap<string, Value>,
  options: InlineOptions,
): Map<string, Value> {
  const { prefix } = options;
  const shared = options.sharedPrefix ?? prefix;
  const changed = defaultOpset(graph) === b.opset ? undefined : graph.nodes.find((n) => OPSET_SENSITIVE.has(n.opType));
  if (changed !== undefined) {
    // Nodes are re-checked and written under the host's opset, where these ops read their axes (or splits, pads,
    // bounds) from other places: refused rather than silently misread. Others (MatMul, Gemm, activations) mean the same.
    throw new GraphError(
      `Inlining ${graph.name}: its opset ${defaultOpset(graph)} differs from the host graph's ${b.opset}, and its ` +
        `${changed.opType} node ${changed.name} reads differently across opsets`,
      { graph: b.name, nodeName: changed.name, opType: changed.opType },
    );
  }
  const names = new Map<string, string>();
  for (const input of graph.inputs) {
    if (graph.initializers.has(input.name)) continue;
    const v = bind.get(input.name);
    if (!v) {
      throw new GraphError(`Inlining ${graph.name}: input "${input.name}" is not bound`, {
        graph: b.name,
        valueName: input.name,
      });
    }
    if (v.dtype !== input.dtype || v.shape.length !== input.shape.length) {
      throw new GraphError(
        `Inlining ${graph.name}: input "${input.name}" is ${input.dtype} of rank ${input.shape.length}, bound to ${v.dtype} of rank ${v.shape.length}`,
        { graph: b.name, valueName: input.name },
      );
    }
    names.set(input.name, v.name);
  }
  for (const [name, t] of graph.initializers) {
    const hostName = `${shared}${name}`;
    if (!b.has(hostName)) b.initializer(hostName, t);
    else if (!sameTensor(b.constantOf(hostName), t)) {
      // Shared by name only when it is the same tensor: another weight (or a host input) of that name is a clash.
      throw new GraphError(
        `Inlining ${graph.name}: initializer "${name}" would be shared as "${hostName}", which the host holds ` +
          "with other values; give the graphs distinct sharedPrefix values",
        { graph: b.name, valueName: hostName },
      );
    }
    names.set(name, hostName);
  }
  const rename = (n: string) => {
    if (n === "") return "";
    const known = names.get(n);
    if (known !== undefined) return known;
    const fresh = `${prefix}${n}`;
    names.set(n, fresh);
    return fresh;
  };
  for (const node of graph.nodes) {
    b.addNode({
      ...node,
      name: `${prefix}${node.name}`,
      inputs: node.inputs.map(rename),
      outputs: node.outputs.map(rename),
    });
  }
  return new Map(graph.outputs.map((o) => [o.name, b.value(rename(o.name))]));
}
