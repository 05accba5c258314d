/**
 * A VJP graph split at its residuals: the forward values its backward nodes
 * read (a layer's input for its weight cotangent, a pre-activation for the
 * activation's derivative). A forward pass that computed those values
 * already can return them ({@linkcode withOutputs}), and the backward graph
 * then takes them as inputs instead of computing the forward pass again —
 * reverse mode as torch runs it, activations kept, for the graphs
 * quadjoint generates (direct backpropagation's step VJP).
 *
 * @module
 */
import { GraphBuilder } from "../onnx/builder.ts";
import { GraphError } from "../onnx/errors.ts";
import type { Graph, ValueInfo } from "../onnx/graph.ts";
import { pruneGraph } from "./vjp.ts";

/** {@linkcode splitAtResiduals}'s result. */
export interface ResidualSplit {
  /** The forward values `backward` takes as inputs, in the VJP graph's node order. */
  readonly residuals: readonly ValueInfo[];
  /**
   * The VJP graph with the residuals as inputs. It keeps the forward nodes
   * whose values the backward nodes need and no residual gives (cheap ones,
   * typically, or those the forward pass never computed), and drops the rest.
   */
  readonly backward: Graph;
}

/**
 * Splits `vjp` at the forward values its backward nodes read that
 * `available` says a forward pass can hand over, going further up the forward
 * pass where they are not (a Sigmoid of a pre-activation that only the
 * backward pass needs is computed again from the pre-activation). Backward
 * nodes are those that depend on a `seeds` input (the cotangents fed in);
 * every other node is forward. Only single-output nodes give residuals.
 *
 * @throws {GraphError} when a seed is not an input of `vjp`, or a residual has no recorded type.
 */
export function splitAtResiduals(
  vjp: Graph,
  seeds: readonly string[],
  available: (name: string) => boolean,
): ResidualSplit {
  for (const s of seeds) {
    if (!vjp.inputs.some((i) => i.name === s)) {
      throw new GraphError(`splitAtResiduals: "${s}" is not an input of the VJP graph`, { graph: vjp.name });
    }
  }
  const dependsOnSeeds = dependentValues(vjp, seeds);
  const backwardNodes = new Set<number>();
  vjp.nodes.forEach((node, k) => {
    if (node.inputs.some((i) => dependsOnSeeds.has(i))) backwardNodes.add(k);
  });
  // Walking the forward nodes from the last: a value some kept node reads is a residual when the forward pass can
  // give it, or else its node is kept (computed again), and that node's inputs are read in turn.
  const read = new Set<string>();
  for (const k of backwardNodes) for (const i of vjp.nodes[k]!.inputs) read.add(i);
  const residualNodes = new Set<number>();
  const residuals: ValueInfo[] = [];
  for (let k = vjp.nodes.length - 1; k >= 0; k--) {
    const node = vjp.nodes[k]!;
    if (backwardNodes.has(k) || !node.outputs.some((o) => read.has(o))) continue;
    const name = node.outputs[0]!;
    if (node.outputs.length === 1 && available(name)) {
      const type = vjp.valueInfo.get(name);
      if (!type) throw new GraphError(`splitAtResiduals: residual "${name}" has no type`, { graph: vjp.name });
      residualNodes.add(k);
      residuals.unshift({ name, ...type });
    } else {
      for (const i of node.inputs) read.add(i);
    }
  }
  const b = GraphBuilder.from({ ...vjp, nodes: [], outputs: [] }, { name: `${vjp.name}_from_residuals` });
  for (const v of residuals) b.input(v.name, v.dtype, v.shape);
  vjp.nodes.forEach((node, k) => {
    if (!residualNodes.has(k)) b.addNode(node);
  });
  for (const o of vjp.outputs) b.output(b.value(o.name), o.name);
  return { residuals, backward: pruneGraph(b.build()) };
}

/** The values of `graph` computed from any of `roots`, the roots included (its nodes are in topological order). */
export function dependentValues(graph: Graph, roots: Iterable<string>): Set<string> {
  const found = new Set(roots);
  for (const node of graph.nodes) {
    if (node.inputs.some((i) => found.has(i))) { for (const o of node.outputs) found.add(o); }
  }
  return found;
}

/** `graph` with the named values as outputs too (under their own names), after its own outputs. */
export function withOutputs(graph: Graph, names: readonly string[]): Graph {
  const b = GraphBuilder.from(graph);
  const outputs = new Set(graph.outputs.map((o) => o.name));
  for (const name of names) if (!outputs.has(name)) b.output(b.value(name), name);
  return b.build();
}
