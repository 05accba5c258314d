/**
 * The fused graphs the gradient methods run: one ONNX graph per solver
 * evaluation, each computing f and the vector-Jacobian products it needs with
 * the forward pass shared.
 *
 * All take a {@linkcode Dynamics} f(z, t, θ) and add one input, the adjoint
 * `a` (shape and dtype of `z`; renamed only if the graph already has a value
 * called `a`, see `inputs.a`). Parameters f does not use get exact zeros.
 *
 * | graph | outputs |
 * |---|---|
 * | {@linkcode adjointDynamicsGraph} | f, −aᵀ∂f/∂z, −aᵀ∂f/∂t, −aᵀ∂f/∂θ |
 * | {@linkcode gqBackwardGraph} | f, −aᵀ∂f/∂z (no θ work at all) |
 * | {@linkcode gqIntegrandGraph} | aᵀ∂f/∂t, aᵀ∂f/∂θ |
 * | {@linkcode paramVjpBatchGraph} | Σᵢ aᵢᵀ∂f/∂θ(zᵢ, tᵢ) and Σᵢ aᵢᵀ∂f/∂t over a batch of points, plus an accumulator |
 *
 * θ and t gradients are summed over the batch (they are graph inputs without
 * a batch axis), z gradients are per sample. The dynamics' per-sample
 * constants (`Dynamics.constants`) stay inputs of every fused graph under
 * their own names, fed like the parameters, and are never differentiated.
 *
 * @module
 */
import { GraphBuilder, type Value } from "../onnx/builder.ts";
import type { Graph } from "../onnx/graph.ts";
import { defaultOpset, typeOf } from "../onnx/graph.ts";
import { GraphError } from "../onnx/errors.ts";
import { inlineGraph } from "../onnx/inline.ts";
import { tensor } from "../onnx/tensor.ts";
import { writeModel } from "../onnx/proto.ts";
import { type Dynamics, DYNAMICS_NAMES } from "../models/dynamics.ts";
import { finishVjp } from "../autodiff/vjp.ts";

/** A fused graph and the output names of its roles. */
export interface FusedGraph<Roles> {
  /** The graph: inputs `t`, `z`, the parameters, the constants and the adjoint. */
  readonly graph: Graph;
  /** Name of the adjoint input (`"a"` unless the dynamics graph already uses that name). */
  readonly inputs: { readonly a: string };
  /** Output name of each role. */
  readonly outputs: Roles;
}

/** Output names of the standard adjoint's augmented dynamics. */
export interface AdjointRoles {
  /** f(z, t, θ). */
  readonly dz: string;
  /** −aᵀ∂f/∂z, shaped like z. */
  readonly da: string;
  /** −aᵀ∂f/∂t, a scalar. */
  readonly dt: string;
  /** −aᵀ∂f/∂θ per parameter, shaped like it. */
  readonly params: Readonly<Record<string, string>>;
}

/** Output names of the GQ backward dynamics. */
export interface GqBackwardRoles {
  /** f(z, t, θ). */
  readonly dz: string;
  /** −aᵀ∂f/∂z. */
  readonly da: string;
}

/** Output names of the GQ node integrand. */
export interface GqIntegrandRoles {
  /** +aᵀ∂f/∂t. */
  readonly dt: string;
  /** +aᵀ∂f/∂θ per parameter. */
  readonly params: Readonly<Record<string, string>>;
}

interface Spec {
  name: string;
  /** Keep f's output `dz`. */
  keepF: boolean;
  /** Cotangent sign: −1 for the adjoint ODEs, +1 for plain VJPs. */
  sign: -1 | 1;
  /** Output name wanted per differentiated input (z, t, params). */
  wrt: ReadonlyMap<string, string>;
}

/** Builds one fused graph; returns it, the adjoint input name and the actual output names. */
function fuse(dyn: Dynamics, spec: Spec): { graph: Graph; a: string; names: Map<string, string> } {
  const g = dyn.graph;
  const taken = (n: string) => typeOf(g, n) !== undefined || g.nodes.some((node) => node.name === n);
  const free = (n: string) => {
    let name = n, k = 1;
    while (taken(name)) name = `${n}_${k++}`;
    return name;
  };
  const a = free("a");
  const names = new Map<string, string>();
  for (const [input, out] of spec.wrt) names.set(input, free(out));
  const b = GraphBuilder.from(g, { name: spec.name, keepOutputs: false });
  b.reserveNames([a, ...names.values()]);
  const z = g.inputs.find((v) => v.name === DYNAMICS_NAMES.state)!;
  const av = b.input(a, z.dtype, z.shape);
  if (spec.keepF) b.output(b.value(DYNAMICS_NAMES.derivative));
  const seed = spec.sign < 0 ? b.op1("Neg", [av]) : av;
  return { graph: finishVjp(b, g, new Map([[DYNAMICS_NAMES.derivative, seed]]), names), a, names };
}

function paramNames(dyn: Dynamics): Map<string, string> {
  return new Map(dyn.params.map((p) => [p.name, `grad_${p.name}`]));
}

function paramRoles(dyn: Dynamics, names: Map<string, string>): Record<string, string> {
  return Object.fromEntries(dyn.params.map((p) => [p.name, names.get(p.name)!]));
}

/** Fused graphs built so far, per dynamics object: building one walks the whole graph, so do it once. */
const built = new WeakMap<Dynamics, Map<string, unknown>>();

function memoized<R>(dyn: Dynamics, kind: string, build: () => R): R {
  let perDynamics = built.get(dyn);
  if (!perDynamics) built.set(dyn, perDynamics = new Map());
  if (!perDynamics.has(kind)) perDynamics.set(kind, build());
  return perDynamics.get(kind) as R;
}

/**
 * The standard adjoint's augmented dynamics in one graph: f, −aᵀ∂f/∂z,
 * −aᵀ∂f/∂t and −aᵀ∂f/∂θ.
 *
 * @example Roles of an MLP's augmented dynamics
 * ```ts
 * import { mlpDynamics } from "../models/mlp.ts";
 * import { adjointDynamicsGraph } from "./fused_graphs.ts";
 * const { dynamics } = mlpDynamics({ stateDim: 2, hidden: [8], dtype: "float64" });
 * const { graph, outputs } = adjointDynamicsGraph(dynamics);
 * if (outputs.da !== "da" || outputs.params["l0.weight"] !== "grad_l0.weight") throw new Error("names");
 * if (!graph.inputs.some((v) => v.name === "a")) throw new Error("adjoint input");
 * ```
 */
export function adjointDynamicsGraph(dyn: Dynamics): FusedGraph<AdjointRoles> {
  return memoized(dyn, "adjointDynamicsGraph", () => {
    const wrt = new Map([[DYNAMICS_NAMES.state, "da"], [DYNAMICS_NAMES.time, "dt"], ...paramNames(dyn)]);
    const { graph, a, names } = fuse(dyn, { name: `${dyn.graph.name}_adjoint`, keepF: true, sign: -1, wrt });
    return {
      graph,
      inputs: { a },
      outputs: {
        dz: DYNAMICS_NAMES.derivative,
        da: names.get(DYNAMICS_NAMES.state)!,
        dt: names.get(DYNAMICS_NAMES.time)!,
        params: paramRoles(dyn, names),
      },
    };
  });
}

/**
 * The GQ adjoint's backward dynamics: f and −aᵀ∂f/∂z only. No node computes
 * anything about θ's cotangent, which is why it is cheaper than
 * {@linkcode adjointDynamicsGraph}.
 *
 * @example
 * ```ts
 * import { mlpDynamics } from "../models/mlp.ts";
 * import { gqBackwardGraph } from "./fused_graphs.ts";
 * const { dynamics } = mlpDynamics({ stateDim: 2, hidden: [8] });
 * const { graph, outputs } = gqBackwardGraph(dynamics);
 * if (graph.outputs.map((o) => o.name).join() !== `${outputs.dz},${outputs.da}`) throw new Error("outputs");
 * ```
 */
export function gqBackwardGraph(dyn: Dynamics): FusedGraph<GqBackwardRoles> {
  return memoized(dyn, "gqBackwardGraph", () => {
    const wrt = new Map([[DYNAMICS_NAMES.state, "da"]]);
    const { graph, a, names } = fuse(dyn, { name: `${dyn.graph.name}_gq_backward`, keepF: true, sign: -1, wrt });
    return { graph, inputs: { a }, outputs: { dz: DYNAMICS_NAMES.derivative, da: names.get(DYNAMICS_NAMES.state)! } };
  });
}

/**
 * The GQ node integrand: +aᵀ∂f/∂t and +aᵀ∂f/∂θ (f itself is not an output).
 *
 * @example
 * ```ts
 * import { mlpDynamics } from "../models/mlp.ts";
 * import { gqIntegrandGraph } from "./fused_graphs.ts";
 * const { dynamics } = mlpDynamics({ stateDim: 2, hidden: [8] });
 * const { outputs } = gqIntegrandGraph(dynamics);
 * if (outputs.dt !== "grad_t") throw new Error("names");
 * ```
 */
export function gqIntegrandGraph(dyn: Dynamics): FusedGraph<GqIntegrandRoles> {
  return memoized(dyn, "gqIntegrandGraph", () => {
    const wrt = new Map([[DYNAMICS_NAMES.time, "grad_t"], ...paramNames(dyn)]);
    const { graph, a, names } = fuse(dyn, { name: `${dyn.graph.name}_gq_integrand`, keepF: false, sign: 1, wrt });
    return { graph, inputs: { a }, outputs: { dt: names.get(DYNAMICS_NAMES.time)!, params: paramRoles(dyn, names) } };
  });
}

/** The prefix of the names {@linkcode paramVjpBatchGraph} adds; parameters and constants must not start with it. */
export const PARAM_VJP_PREFIX = "pvjp.";

/** Input and output names of {@linkcode paramVjpBatchGraph}. */
export interface ParamVjpBatchNames {
  /** States of the points, `[count, ...z dims]`. */
  readonly z: string;
  /** Cotangents (weights folded in), `[count, ...z dims]`. */
  readonly a: string;
  /** Times of the points, `[count]` (absent for autonomous dynamics). */
  readonly t: string | undefined;
  /** Accumulator inputs per parameter and for time (when built with `accumulate`). */
  readonly accumulators: { readonly params: Readonly<Record<string, string>>; readonly t: string } | undefined;
  /** Sums per parameter and for time. */
  readonly outputs: { readonly params: Readonly<Record<string, string>>; readonly t: string };
}

/**
 * One graph for the parameter cotangent of a whole batch of points:
 * Σᵢ aᵢᵀ∂f/∂θ(zᵢ, tᵢ) per parameter and Σᵢ aᵢᵀ∂f/∂t, for `count` points fed
 * stacked — GQ's quadrature nodes, their weights folded into aᵢ. With `accumulate`, earlier sums are fed
 * back in and added, so any number of points costs one θ-sized output per
 * call instead of one per point, and no θ-sized arithmetic on the host.
 *
 * Each point is the whole batch at one time, so the per-sample constants are
 * the same for every point: each is one input under its own name, shape as in
 * the dynamics (not stacked), bound to every point's copy of the integrand.
 *
 * @example Two points of an MLP
 * ```ts
 * import { mlpDynamics } from "../models/mlp.ts";
 * import { paramVjpBatchGraph } from "./fused_graphs.ts";
 * const { dynamics } = mlpDynamics({ stateDim: 2, hidden: [8], time: "concat" });
 * const { graph, names } = paramVjpBatchGraph(dynamics, 2, true);
 * if (!graph.inputs.some((v) => v.name === names.accumulators!.params["l0.weight"])) throw new Error("accumulator");
 * ```
 */
export function paramVjpBatchGraph(
  dyn: Dynamics,
  count: number,
  accumulate: boolean,
): { graph: Graph; names: ParamVjpBatchNames } {
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`paramVjpBatchGraph: count must be a positive integer, got ${count}`);
  }
  return memoized(dyn, `paramVjpBatchGraph/${count}/${accumulate}`, () => {
    const integrand = gqIntegrandGraph(dyn);
    const g = integrand.graph;
    const z = g.inputs.find((v) => v.name === DYNAMICS_NAMES.state)!;
    const hasTime = g.inputs.some((v) => v.name === DYNAMICS_NAMES.time);
    const b = new GraphBuilder(`${dyn.graph.name}_param_vjp_${count}`, {
      opset: defaultOpset(dyn.graph),
      producer: "quadjoint",
    });
    const own = (name: string) => `${PARAM_VJP_PREFIX}${name}`;
    const clash = [...dyn.params, ...dyn.constants].find((p) => p.name.startsWith(PARAM_VJP_PREFIX));
    if (clash) {
      const what = dyn.params.some((p) => p.name === clash.name) ? "Parameter" : "Constant";
      throw new GraphError(`${what} "${clash.name}" starts with "${PARAM_VJP_PREFIX}", which batch graphs reserve`, {
        graph: dyn.graph.name,
        valueName: clash.name,
      });
    }
    const Z = b.input(own("z"), z.dtype, [count, ...z.shape]);
    const A = b.input(own("a"), z.dtype, [count, ...z.shape]);
    const T = hasTime ? b.input(own("t"), z.dtype, [count]) : undefined;
    const params = dyn.params.map((p) => b.input(p.name, dyn.dtype, p.shape));
    const constants = dyn.constants.map((c) => b.input(c.name, dyn.dtype, c.shape));
    const accParams = accumulate ? dyn.params.map((p) => b.input(own(`acc.${p.name}`), dyn.dtype, p.shape)) : [];
    const accT = accumulate ? b.input(own("acc.t"), dyn.dtype, []) : undefined;
    const sums: Value[][] = dyn.params.map((_, q) => (accumulate ? [accParams[q]!] : []));
    const timeSum: Value[] = accT ? [accT] : [];
    for (let i = 0; i < count; i++) {
      const index = b.constant(tensor(BigInt64Array.of(BigInt(i)), []));
      const bind = new Map<string, Value>([
        [DYNAMICS_NAMES.state, b.op1("Gather", [Z, index])],
        [integrand.inputs.a, b.op1("Gather", [A, index])],
      ]);
      if (T) bind.set(DYNAMICS_NAMES.time, b.op1("Gather", [T, index]));
      dyn.params.forEach((p, q) => bind.set(p.name, params[q]!));
      dyn.constants.forEach((c, q) => bind.set(c.name, constants[q]!));
      const out = inlineGraph(b, g, bind, { prefix: `point${i}/`, sharedPrefix: "integrand/" });
      dyn.params.forEach((p, q) => sums[q]!.push(out.get(integrand.outputs.params[p.name]!)!));
      timeSum.push(out.get(integrand.outputs.dt)!);
    }
    const total = (xs: Value[]) => (xs.length === 1 ? b.op1("Identity", xs) : b.op1("Sum", xs));
    const outputs = {
      params: Object.fromEntries(
        dyn.params.map((p, q) => [p.name, b.output(total(sums[q]!), own(`sum.${p.name}`)).name]),
      ),
      t: b.output(total(timeSum), own("sum.t")).name,
    };
    return {
      graph: b.build(),
      names: {
        z: Z.name,
        a: A.name,
        t: T?.name,
        accumulators: accumulate
          ? { params: Object.fromEntries(dyn.params.map((p, q) => [p.name, accParams[q]!.name])), t: accT!.name }
          : undefined,
        outputs,
      },
    };
  });
}

/**
 * Writes f and its three fused graphs as `.onnx` files under `dir` (created if
 * needed), for inspection with tools such as Netron. Returns the paths.
 */
export async function writeFusedGraphs(dyn: Dynamics, dir = "models"): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const graphs: [string, Graph][] = [
    ["f", dyn.graph],
    ["adjoint_dynamics", adjointDynamicsGraph(dyn).graph],
    ["gq_backward", gqBackwardGraph(dyn).graph],
    ["gq_integrand", gqIntegrandGraph(dyn).graph],
  ];
  const paths: string[] = [];
  for (const [key, graph] of graphs) {
    const path = `${dir.replace(/\/$/, "")}/${dyn.graph.name}.${key}.onnx`;
    await writeModel(path, graph);
    paths.push(path);
  }
  return paths;
}
