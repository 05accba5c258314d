/**
 * Lowering of ops that ONNX Runtime's CPU kernels lack in float64.
 *
 * ORT 1.30 has no float64 kernel for Softplus, Softsign, Elu, Selu, Erf,
 * HardSigmoid, Conv, ConvTranspose or AveragePool (measured). float64 is how
 * quadjoint checks gradients tightly, so those nodes are rewritten into
 * primitives that do have float64 kernels. float32 graphs are left alone: the
 * native kernels are faster. {@linkcode Runtime.compile} applies this before
 * creating a session, so built, imported and generated graphs all work.
 *
 * @module
 */
import { GraphBuilder, type Value } from "./builder.ts";
import type { Graph, Node, TensorType } from "./graph.ts";
import { floatAttr } from "./graph.ts";
import { tensor } from "./tensor.ts";

/** Rewrites one node into primitives, returning its output values (same order as `node.outputs`). */
type Lowering = (b: GraphBuilder, node: Node, inputs: Value[]) => Value[];

function scalar(b: GraphBuilder, dtype: TensorType["dtype"], v: number): Value {
  const data = dtype === "float64" ? new Float64Array([v]) : new Float32Array([v]);
  return b.constant(tensor(data, []));
}

/**
 * log(1 + u) accurate for tiny u (Kahan's trick, since ONNX has no Log1p):
 * with w = 1 + u rounded, log(w)·u/(w − 1), or u itself where w rounds to 1.
 */
function log1p(b: GraphBuilder, u: Value): Value {
  const one = scalar(b, u.dtype, 1);
  const w = b.op1("Add", [one, u]);
  const ratio = b.op1("Div", [b.op1("Mul", [b.op1("Log", [w]), u]), b.op1("Sub", [w, one])]);
  return b.op1("Where", [b.op1("Equal", [w, one]), u, ratio]);
}

/**
 * exp(x) − 1 accurate near 0 (Kahan's trick): with u = exp(x) rounded,
 * (u − 1)·x/log(u), x where u rounds to 1, −1 where u underflows.
 */
function expm1(b: GraphBuilder, x: Value): Value {
  const one = scalar(b, x.dtype, 1);
  const u = b.op1("Exp", [x]);
  const um1 = b.op1("Sub", [u, one]);
  const ratio = b.op1("Div", [b.op1("Mul", [um1, x]), b.op1("Log", [u])]);
  const nearZero = b.op1("Where", [b.op1("Equal", [u, one]), x, ratio]);
  return b.op1("Where", [b.op1("Less", [x, scalar(b, x.dtype, -700)]), b.op1("Neg", [one]), nearZero]);
}

/** softplus(x) = relu(x) + log1p(exp(−|x|)), stable for large |x| and accurate for very negative x. */
const softplus: Lowering = (b, _node, [x]) => {
  const tail = log1p(b, b.op1("Exp", [b.op1("Neg", [b.op1("Abs", [x!])])]));
  return [b.op1("Add", [b.op1("Relu", [x!]), tail])];
};

/** elu(x) = x for x > 0, alpha·expm1(x) otherwise. */
const elu: Lowering = (b, node, [x]) => {
  const alpha = floatAttr(node, "alpha", 1);
  const zero = scalar(b, x!.dtype, 0);
  const neg = b.op1("Mul", [scalar(b, x!.dtype, alpha), expm1(b, b.op1("Min", [x!, zero]))]);
  return [b.op1("Where", [b.op1("Greater", [x!, zero]), x!, neg])];
};

/** Lowerings by op type, applied to float64 nodes only. */
export const FLOAT64_LOWERINGS: ReadonlyMap<string, Lowering> = new Map<string, Lowering>([
  ["Softplus", softplus],
  ["Elu", elu],
]);

/** True if the graph has a float64 node that ORT cannot run natively. */
export function needsLowering(graph: Graph): boolean {
  return graph.nodes.some((n) => FLOAT64_LOWERINGS.has(n.opType) && isFloat64Node(graph, n));
}

function isFloat64Node(graph: Graph, node: Node): boolean {
  const out = node.outputs[0];
  const t = out === undefined ? undefined : graph.valueInfo.get(out) ?? graph.outputs.find((o) => o.name === out);
  return t?.dtype === "float64";
}

/**
 * Returns a graph where every float64 node without an ORT CPU kernel is
 * replaced by primitives; the same graph object when nothing needs lowering.
 */
export function lowerForRuntime(graph: Graph): Graph {
  if (!needsLowering(graph)) return graph;
  const b = GraphBuilder.from({ ...graph, nodes: [], outputs: [] }, { keepOutputs: false });
  b.reserveNames(graph.nodes.flatMap((n) => [n.name, ...n.outputs]));
  for (const node of graph.nodes) {
    const lowering = FLOAT64_LOWERINGS.get(node.opType);
    if (!lowering || !isFloat64Node(graph, node)) {
      b.addNode(node);
      continue;
    }
    const inputs = node.inputs.map((n) => b.value(n));
    const outs = lowering(b, node, inputs);
    node.outputs.forEach((name, i) => {
      if (name !== "") b.op1("Identity", [outs[i]!], {}, { outputNames: [name] });
    });
  }
  for (const o of graph.outputs) b.output(b.value(o.name), o.name);
  return b.build();
}
