/**
 * Weights out of a graph and into its inputs, so they can be trained.
 *
 * Exporters (torch's `torch.onnx.export` among them) store a model's weights
 * as initializers, which quadjoint — like ONNX Runtime — treats as constants:
 * nothing differentiates or updates them. {@linkcode liftInitializers} turns
 * the float initializers into graph inputs with their values returned as
 * initial parameters, leaving as initializers those the caller freezes and
 * those no gradient can reach from the outputs (a comparison threshold such
 * as the 20 in torch's Softplus export, a shape). {@linkcode castFloats}
 * converts a graph's float values to one float type, for float64 gradient
 * checks of float32 exports.
 *
 * @module
 */
import { GraphBuilder } from "../onnx/builder.ts";
import { type DType, isFloat, ONNX_DATA_TYPE } from "../onnx/dtype.ts";
import { GraphError } from "../onnx/errors.ts";
import { attr, type Attributes, type Graph, type Node, typeOf } from "../onnx/graph.ts";
import { type Tensor, tensor, toNumbers } from "../onnx/tensor.ts";
import { VJP_RULES } from "../autodiff/registry.ts";
import type { Params, ParamSpec } from "./dynamics.ts";
import { checkKeys } from "./_layers.ts";

/** Options of {@linkcode liftInitializers}. */
export interface LiftOptions {
  /**
   * Float initializers to keep as constants: their names, or a test on the
   * name (e.g. `(n) => n.startsWith("encoder.")`). A listed name that is not
   * a float initializer is an error. @default none
   */
  readonly freeze?: readonly string[] | ((name: string) => boolean);
  /**
   * Float type of the result: every float initializer, input, output,
   * Constant and Cast target is converted to it. @default the graph's own
   */
  readonly dtype?: "float32" | "float64";
}

/** A graph with its weights as inputs. */
export interface LiftedGraph {
  /** The graph: the original inputs, then one input per lifted initializer. */
  readonly graph: Graph;
  /** The lifted initializers, in the file's initializer order. */
  readonly params: readonly ParamSpec[];
  /** Their values (in the graph's float type after any conversion), by name. */
  readonly init: Params;
  /** Float initializers kept because `freeze` named them. */
  readonly frozen: readonly string[];
  /** Float initializers kept because no gradient reaches them from a float output (thresholds, shapes). */
  readonly noGradient: readonly string[];
}

const LIFT_KEYS = ["freeze", "dtype"];

/**
 * Lifts a graph's float initializers into graph inputs (trainable
 * parameters), returning their values. Frozen ones, and ones from which no
 * gradient flows to a float output, stay initializers.
 *
 * @throws {GraphError} when `freeze` names a value that is not a float
 * initializer (the message lists those there are).
 *
 * @example Lift the weight of y = x·W
 * ```ts
 * import { GraphBuilder, fromNumbers, liftInitializers } from "../../mod.ts";
 * const b = new GraphBuilder("f");
 * const x = b.input("x", "float32", ["batch", 2]);
 * b.output(b.op1("MatMul", [x, b.initializer("w", fromNumbers([1, 2, 3, 4], [2, 2]))]), "y");
 * const { graph, params, init } = liftInitializers(b.build(), { dtype: "float64" });
 * if (graph.inputs.map((v) => v.name).join() !== "x,w") throw new Error("w should be an input");
 * if (params[0]!.shape.join() !== "2,2" || init.w!.dtype !== "float64") throw new Error("w's value");
 * ```
 */
export function liftInitializers(graph: Graph, options: LiftOptions = {}): LiftedGraph {
  checkKeys(options, LIFT_KEYS, "liftInitializers");
  const { freeze = [], dtype } = options;
  const g = dtype ? castFloats(graph, dtype) : graph;
  const floats = [...g.initializers].filter(([, t]) => isFloat(t.dtype)).map(([name]) => name);
  if (Array.isArray(freeze)) {
    for (const name of freeze) {
      if (!floats.includes(name)) {
        throw new GraphError(
          `Cannot freeze "${name}": it is not a float initializer; the float initializers are ${
            floats.join(", ") || "none"
          }`,
          { graph: graph.name, valueName: name },
        );
      }
    }
  } else if (typeof freeze !== "function") {
    throw new TypeError(`Option freeze must be a list of names or a function of the name, got ${typeof freeze}`);
  }
  const frozenBy = (name: string) =>
    typeof freeze === "function" ? freeze(name) : (freeze as readonly string[]).includes(name);
  const reach = gradientReach(g);
  const frozen = floats.filter(frozenBy);
  const noGradient = floats.filter((n) => !frozenBy(n) && !reach.has(n));
  const lifted = floats.filter((n) => !frozenBy(n) && reach.has(n));
  const init: Record<string, Tensor> = {};
  for (const name of lifted) init[name] = g.initializers.get(name)!;
  const params = lifted.map((name) => ({ name, shape: [...init[name]!.dims] }));
  const out: Graph = {
    ...g,
    inputs: [...g.inputs, ...lifted.map((name) => ({ name, dtype: init[name]!.dtype, shape: init[name]!.dims }))],
    initializers: new Map([...g.initializers].filter(([name]) => !lifted.includes(name))),
  };
  return { graph: out, params, init, frozen, noGradient };
}

/**
 * The values a gradient can flow into from the graph's float outputs: a
 * node's float inputs (other than those its VJP rule declares constant)
 * where one of its float outputs is reached, as vjpGraph propagates.
 */
function gradientReach(graph: Graph): Set<string> {
  const float = (name: string) => {
    const t = typeOf(graph, name);
    return t !== undefined && isFloat(t.dtype);
  };
  const reached = new Set(graph.outputs.filter((o) => isFloat(o.dtype)).map((o) => o.name));
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const node = graph.nodes[k]!;
    if (!node.outputs.some((o) => o !== "" && reached.has(o) && float(o))) continue;
    const constant = VJP_RULES.get(node.opType)?.constantInputs?.(node) ?? [];
    node.inputs.forEach((n, i) => {
      if (n !== "" && !constant.includes(i) && float(n)) reached.add(n);
    });
  }
  return reached;
}

/**
 * The graph with every float value in `dtype`: initializers, inputs and
 * outputs, Constant and ConstantOfShape values and Cast targets of the other
 * float type are converted, and the types re-inferred. Integer and bool
 * values are left alone.
 *
 * @example A float32 graph in float64
 * ```ts
 * import { castFloats } from "./lift.ts";
 * import { GraphBuilder } from "../onnx/builder.ts";
 * import { fromNumbers } from "../onnx/tensor.ts";
 * const b = new GraphBuilder("f");
 * const x = b.input("x", "float32", [2]);
 * b.output(b.op1("Mul", [x, b.initializer("k", fromNumbers([3, 4], [2]))]), "y");
 * const g = castFloats(b.build(), "float64");
 * if (g.outputs[0]!.dtype !== "float64" || g.initializers.get("k")!.dtype !== "float64") throw new Error("not cast");
 * ```
 */
export function castFloats(graph: Graph, dtype: "float32" | "float64"): Graph {
  if (dtype !== "float32" && dtype !== "float64") {
    throw new RangeError(`Option dtype must be "float32" or "float64", got ${JSON.stringify(dtype)}`);
  }
  const from: DType = dtype === "float64" ? "float32" : "float64";
  const cast = (t: Tensor): Tensor =>
    t.dtype !== from
      ? t
      : tensor(dtype === "float64" ? Float64Array.from(toNumbers(t)) : Float32Array.from(toNumbers(t)), t.dims);
  const retype = <T extends { dtype: DType }>(v: T): T => (v.dtype === from ? { ...v, dtype } : v);
  const node = (n: Node): Node => {
    const attributes: Record<string, Attributes[string]> = {};
    for (const [key, a] of Object.entries(n.attributes)) {
      if (a.type === "tensor") attributes[key] = attr.tensor(cast(a.value));
      else if (n.opType === "Cast" && key === "to" && a.type === "int" && a.value === ONNX_DATA_TYPE[from]) {
        attributes[key] = attr.int(ONNX_DATA_TYPE[dtype]);
      } else if (n.opType === "Constant" && dtype === "float64" && key === "value_float" && a.type === "float") {
        attributes["value"] = attr.tensor(tensor(Float64Array.of(a.value), []));
      } else if (n.opType === "Constant" && dtype === "float64" && key === "value_floats" && a.type === "floats") {
        attributes["value"] = attr.tensor(tensor(Float64Array.from(a.value), [a.value.length]));
      } else attributes[key] = a;
    }
    return { ...n, attributes };
  };
  return GraphBuilder.from({
    ...graph,
    inputs: graph.inputs.map(retype),
    outputs: graph.outputs.map(retype),
    initializers: new Map([...graph.initializers].map(([name, t]) => [name, cast(t)])),
    nodes: graph.nodes.map(node),
    valueInfo: new Map(),
  }).build();
}
