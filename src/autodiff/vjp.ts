/**
 * Reverse-mode differentiation of ONNX graphs into ONNX graphs.
 *
 * {@linkcode vjpGraph} returns ONE graph computing a graph's outputs and the
 * vector-Jacobian products of chosen outputs with respect to chosen inputs,
 * sharing the forward computation. Only standard ONNX ops are emitted, so the
 * result runs on any backend (ONNX Runtime registers neither the Gradient op
 * nor the training *Grad ops).
 *
 * How it works: values that depend on a `wrt` input are "active"; nodes on a
 * path from an active value to an `of` output are walked in reverse order and
 * their op's rule (see {@linkcode VJP_RULES}) emits the backward nodes.
 * Cotangents of a value used by several nodes are added; cotangents a rule
 * returns with a broadcast shape are summed back over the broadcast axes; integer
 * and bool values, Shape and Constant carry none. A final pass prunes nodes
 * no output needs, so forward nodes only the backward pass needs are kept and
 * nothing else.
 *
 * Why one file: the one graph transform (targets, reverse sweep, pruning); the per-op rules live in rules/.
 *
 * @module
 */
import { GraphBuilder, type Value } from "../onnx/builder.ts";
import { isFloat } from "../onnx/dtype.ts";
import { GraphError } from "../onnx/errors.ts";
import { formatShape, type Graph, type Node, type Shape, type TensorType, typeOf } from "../onnx/graph.ts";
import { VJP_RULES } from "./registry.ts";
import { reduceSum, squeeze, type VjpContext, type VjpRule, zerosLike } from "./rule.ts";

/** Options for {@linkcode vjpGraph}. */
export interface VjpOptions {
  /** Outputs that receive cotangents; each gets a graph input `grad_<output>` shaped like it. */
  readonly of: readonly string[];
  /** Inputs (or initializers) to differentiate with respect to; each gets an output `grad_<input>`. */
  readonly wrt: readonly string[];
  /** Keep the graph's own outputs, ahead of the gradients. @default true */
  readonly keepOutputs?: boolean;
  /** Name of the new graph. @default `${graph.name}_vjp` */
  readonly name?: string;
}

const OPTION_KEYS = ["of", "wrt", "keepOutputs", "name"];

/**
 * Builds the VJP graph of `graph`: inputs are the graph's inputs plus one
 * cotangent `grad_<o>` per `of` output; outputs are the graph's outputs (if
 * kept) plus `grad_<x>` per `wrt` input, in the given orders. A `wrt` input
 * that no `of` output depends on gets exact zeros.
 *
 * @example Gradient of y = sum(x²)
 * ```ts
 * import { GraphBuilder } from "../onnx/builder.ts";
 * import { fromNumbers } from "../onnx/tensor.ts";
 * import { Runtime } from "../runtime/session.ts";
 * import { vjpGraph } from "./vjp.ts";
 * const b = new GraphBuilder("f");
 * const x = b.input("x", "float64", [3]);
 * b.output(b.op1("ReduceSum", [b.op1("Mul", [x, x])], { keepdims: { type: "int", value: 0 } }), "y");
 * const g = vjpGraph(b.build(), { of: ["y"], wrt: ["x"] });
 * const rt = new Runtime();
 * const out = await (await rt.compile(g)).run({
 *   x: fromNumbers([1, 2, 3], [3], "float64"),
 *   grad_y: fromNumbers([1], [], "float64"),
 * });
 * if (out.grad_x!.data[2] !== 6) throw new Error("d(x²)/dx should be 2x");
 * await rt.dispose();
 * ```
 */
export function vjpGraph(graph: Graph, options: VjpOptions): Graph {
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) {
      throw new TypeError(`Unknown option "${key}" for vjpGraph; known options are ${OPTION_KEYS.join(", ")}`);
    }
  }
  const { of, wrt } = options;
  checkTargets(graph, of, wrt);
  const names = [...of.map((o) => `grad_${o}`), ...wrt.map((w) => `grad_${w}`)];
  for (const n of names) {
    if (typeOf(graph, n) || graph.nodes.some((node) => node.name === n)) {
      throw new GraphError(`Cannot add "${n}": the graph already has a value or node with that name`, {
        graph: graph.name,
        valueName: n,
      });
    }
  }
  const b = GraphBuilder.from(graph, {
    name: options.name ?? `${graph.name}_vjp`,
    keepOutputs: options.keepOutputs ?? true,
  });
  b.reserveNames(names);
  const seeds = new Map<string, Value>();
  for (const o of of) {
    const t = typeOf(graph, o)!;
    seeds.set(o, b.input(`grad_${o}`, t.dtype, t.shape));
  }
  return finishVjp(b, graph, seeds, new Map(wrt.map((w) => [w, `grad_${w}`])));
}

/**
 * Appends the backward pass of `graph` to `b` (see {@linkcode appendVjp}),
 * outputs each gradient under the name `outputs` maps its input to, and
 * returns the built graph pruned by {@linkcode pruneGraph}, with every
 * gradient output declared with its input's shape.
 */
export function finishVjp(
  b: GraphBuilder,
  graph: Graph,
  seeds: ReadonlyMap<string, Value>,
  outputs: ReadonlyMap<string, string>,
): Graph {
  const grads = appendVjp(b, graph, seeds, [...outputs.keys()]);
  for (const [w, out] of outputs) b.output(grads.get(w)!, out);
  const shapes = new Map([...outputs].map(([w, out]) => [out, typeOf(graph, w)!.shape]));
  return withShapes(pruneGraph(b.build()), shapes);
}

/** Throws unless `of` are float outputs and `wrt` float inputs or initializers, without repeats. */
export function checkTargets(graph: Graph, of: readonly string[], wrt: readonly string[]): void {
  const place = { graph: graph.name };
  if (!Array.isArray(of) || of.length === 0) {
    throw new RangeError(`"of" must list at least one output of graph ${graph.name}, got ${JSON.stringify(of)}`);
  }
  if (!Array.isArray(wrt) || wrt.length === 0) {
    throw new RangeError(`"wrt" must list at least one input of graph ${graph.name}, got ${JSON.stringify(wrt)}`);
  }
  const repeated = (xs: readonly string[]) => xs.find((x, i) => xs.indexOf(x) !== i);
  for (const [list, what] of [[of, "of"], [wrt, "wrt"]] as const) {
    const r = repeated(list);
    if (r !== undefined) throw new RangeError(`"${what}" lists "${r}" twice`);
  }
  for (const o of of) {
    const out = graph.outputs.find((v) => v.name === o);
    if (!out) {
      throw new GraphError(
        `"${o}" is not an output; outputs are ${graph.outputs.map((v) => v.name).join(", ")}`,
        { ...place, valueName: o },
      );
    }
    if (!isFloat(out.dtype)) {
      throw new GraphError(`Output "${o}" is ${out.dtype}; only float outputs take cotangents`, {
        ...place,
        valueName: o,
      });
    }
  }
  for (const w of wrt) {
    const input = graph.inputs.find((v) => v.name === w);
    const init = graph.initializers.get(w);
    const dtype = input?.dtype ?? init?.dtype;
    if (!dtype) {
      throw new GraphError(
        `"${w}" is neither an input nor an initializer; inputs are ${graph.inputs.map((v) => v.name).join(", ")}`,
        { ...place, valueName: w },
      );
    }
    if (!isFloat(dtype)) {
      throw new GraphError(`Input "${w}" is ${dtype}; only float inputs have gradients`, { ...place, valueName: w });
    }
  }
}

/**
 * Appends the backward pass of `graph` to `b`, which must already hold the
 * graph's nodes (e.g. `GraphBuilder.from(graph)`). `seeds` maps outputs to
 * their cotangent values. Returns each `wrt` value's cotangent, exact zeros
 * where none flows. Nodes not leading to a result are left for
 * {@linkcode pruneGraph}.
 */
export function appendVjp(
  b: GraphBuilder,
  graph: Graph,
  seeds: ReadonlyMap<string, Value>,
  wrt: readonly string[],
  rules: ReadonlyMap<string, VjpRule> = VJP_RULES,
): Map<string, Value> {
  const place = (node: Node) => ({ graph: graph.name, nodeName: node.name, opType: node.opType });
  const floatValue = (name: string) => {
    const t = b.has(name) ? b.value(name) : undefined;
    return t !== undefined && isFloat(t.dtype);
  };

  // Forward: which values depend on a wrt input, and through which inputs of each node.
  const active = new Set(wrt);
  const activeInputs = new Map<Node, number[]>();
  for (const node of graph.nodes) {
    const constant = rules.get(node.opType)?.constantInputs?.(node) ?? [];
    const idx = node.inputs.flatMap((n, i) => (n !== "" && active.has(n) && !constant.includes(i) ? [i] : []));
    if (idx.length === 0) continue;
    activeInputs.set(node, idx);
    for (const o of node.outputs) if (o !== "" && floatValue(o)) active.add(o);
  }

  // Backward: which active values lead to a seeded output.
  const useful = new Set([...seeds.keys()].filter((s) => active.has(s)));
  const path: Node[] = [];
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const node = graph.nodes[k]!;
    const idx = activeInputs.get(node);
    if (!idx || !node.outputs.some((o) => useful.has(o))) continue;
    path.push(node);
    for (const i of idx) useful.add(node.inputs[i]!);
  }

  const contributions = new Map<string, Value[]>();
  const add = (name: string, v: Value) => {
    const list = contributions.get(name);
    if (list) list.push(v);
    else contributions.set(name, [v]);
  };
  for (const [name, v] of seeds) if (useful.has(name)) add(name, v);
  const total = (name: string): Value | null => {
    const list = contributions.get(name);
    if (!list || list.length === 0) return null;
    const sum = list.reduce((acc, v) => b.op1("Add", [acc, v]));
    contributions.set(name, [sum]);
    return sum;
  };

  for (const node of path) {
    const rule = rules.get(node.opType);
    if (!rule) {
      throw new GraphError(
        `Cannot differentiate op ${node.opType}: quadjoint has no VJP rule for it (it lies between the requested outputs and inputs)`,
        place(node),
      );
    }
    const idx = activeInputs.get(node)!;
    const wanted = idx.filter((i) => useful.has(node.inputs[i]!));
    const dy = node.outputs.map((o) => (o !== "" && useful.has(o) ? total(o) : null));
    if (dy.every((g) => g === null)) continue;
    const ctx: VjpContext = {
      b,
      node,
      inputs: node.inputs.map((n) => (n === "" ? undefined : b.value(n))),
      outputs: node.outputs.map((n) => (n === "" ? undefined : b.value(n))),
      dy,
      wants: (i) => wanted.includes(i),
      viaLowering: (lower, only) => {
        // A value feeding several inputs gets one Identity copy per extra input, made outside the lowered
        // subgraph, so that each input's cotangent covers only its own uses (the engine adds them up).
        const slots = ctx.inputs.map((v, i) =>
          v && node.inputs.indexOf(node.inputs[i]!) !== i ? b.op1("Identity", [v]) : v
        );
        const before = b.build().nodes.length;
        const outs = lower(b, node, slots.map((v) => v!));
        const sub: Graph = {
          name: `${graph.name}/${node.name}`,
          inputs: [],
          outputs: [],
          initializers: new Map(),
          nodes: b.build().nodes.slice(before),
          valueInfo: new Map(),
          opsetImports: [],
        };
        const subSeeds = new Map<string, Value>();
        outs.forEach((v, i) => {
          const g = dy[i];
          if (g) subSeeds.set(v.name, g);
        });
        const want = wanted.filter((i) => !only || only.includes(i));
        const grads = appendVjp(b, sub, subSeeds, want.map((i) => slots[i]!.name), rules);
        return slots.map((v, i) => (want.includes(i) ? grads.get(v!.name)! : null));
      },
    };
    let result: readonly (Value | null)[];
    try {
      result = rule.vjp(ctx);
    } catch (e) {
      if (e instanceof GraphError && e.place.nodeName === node.name) throw e;
      if (e instanceof GraphError || e instanceof TypeError || e instanceof RangeError) {
        throw new GraphError(`VJP rule failed: ${e.message}`, place(node));
      }
      throw e;
    }
    if (!Array.isArray(result) || result.length !== node.inputs.length) {
      throw new GraphError(
        `VJP rule returned ${
          Array.isArray(result) ? result.length : typeof result
        } cotangents for ${node.inputs.length} inputs`,
        place(node),
      );
    }
    for (const i of wanted) {
      const name = node.inputs[i]!;
      const g = result[i];
      const x = ctx.inputs[i]!;
      if (!g) throw new GraphError(`VJP rule returned no cotangent for input ${i} "${name}"`, place(node));
      if (g.dtype !== x.dtype) {
        throw new GraphError(
          `VJP rule returned a ${g.dtype} cotangent for ${x.dtype} input ${i} "${name}"`,
          place(node),
        );
      }
      add(name, unbroadcast(b, g, x, node, i));
    }
  }

  const out = new Map<string, Value>();
  for (const w of wrt) out.set(w, total(w) ?? zerosLike(b, b.value(w)));
  return out;
}

/**
 * Sums a cotangent shaped like a broadcast result back to the shape of the
 * input it belongs to.
 */
function unbroadcast(b: GraphBuilder, g: Value, x: TensorType, node: Node, input: number): Value {
  const gs = g.shape, xs = x.shape;
  const bad = () =>
    new GraphError(
      `VJP rule returned a cotangent of shape ${formatShape(gs)} for input ${input} "${node.inputs[input]}" of shape ${
        formatShape(xs)
      }`,
      { nodeName: node.name, opType: node.opType },
    );
  const lead = gs.length - xs.length;
  if (lead < 0) throw bad();
  const axes: number[] = [...Array(lead).keys()];
  xs.forEach((d, k) => {
    const e = gs[k + lead]!;
    if (d === 1 && e !== 1) axes.push(k + lead);
    else if (typeof d === "number" && typeof e === "number" && d !== e) throw bad();
  });
  if (axes.length === 0) return g;
  const summed = reduceSum(b, g, axes, true);
  return lead > 0 ? squeeze(b, summed, [...Array(lead).keys()]) : summed;
}

/**
 * Removes nodes whose outputs no graph output needs, and initializers and
 * value types nothing uses. Graph inputs are kept, used or not.
 */
export function pruneGraph(graph: Graph): Graph {
  const needed = new Set(graph.outputs.map((o) => o.name));
  const kept: Node[] = [];
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const node = graph.nodes[k]!;
    if (!node.outputs.some((o) => needed.has(o))) continue;
    kept.push(node);
    for (const i of node.inputs) if (i !== "") needed.add(i);
  }
  kept.reverse();
  const produced = new Set(kept.flatMap((n) => n.outputs));
  return {
    ...graph,
    nodes: kept,
    initializers: new Map([...graph.initializers].filter(([n]) => needed.has(n))),
    valueInfo: new Map([...graph.valueInfo].filter(([n]) => produced.has(n))),
  };
}

/** Declares the given outputs with the given shapes (the shapes of the values they are gradients of). */
function withShapes(graph: Graph, shapes: ReadonlyMap<string, Shape>): Graph {
  const fix = <T extends { shape: Shape }>(name: string, t: T): T => {
    const s = shapes.get(name);
    return s && s.length === t.shape.length ? { ...t, shape: s } : t;
  };
  return {
    ...graph,
    outputs: graph.outputs.map((o) => fix(o.name, o)),
    valueInfo: new Map([...graph.valueInfo].map(([n, t]) => [n, fix(n, t)])),
  };
}
