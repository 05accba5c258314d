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
 * | {@linkcode stageVjpGraph} | aᵀ∂f/∂z, aᵀ∂f/∂t, aᵀ∂f/∂θ |
 *
 * θ and t gradients are summed over the batch (they are graph inputs without
 * a batch axis), z gradients are per sample.
 *
 * @module
 */
import { GraphBuilder } from "../onnx/builder.ts";
import type { Graph } from "../onnx/graph.ts";
import { typeOf } from "../onnx/graph.ts";
import { writeModel } from "../onnx/proto.ts";
import { type Dynamics, DYNAMICS_NAMES } from "../models/dynamics.ts";
import { finishVjp } from "./vjp.ts";

/** A fused graph and the output names of its roles. */
export interface FusedGraph<Roles> {
  /** The graph: inputs `t`, `z`, the parameters and the adjoint. */
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

/** Output names of the stage VJP used by direct backpropagation. */
export interface StageVjpRoles {
  /** +aᵀ∂f/∂z. */
  readonly z: string;
  /** +aᵀ∂f/∂t. */
  readonly t: string;
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
 * import { adjointDynamicsGraph } from "./fused.ts";
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
 * import { gqBackwardGraph } from "./fused.ts";
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
 * import { gqIntegrandGraph } from "./fused.ts";
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

/**
 * The stage VJP of direct backpropagation: given the cotangent `a` of one
 * evaluation f(z, t, θ), returns aᵀ∂f/∂z, aᵀ∂f/∂t and aᵀ∂f/∂θ.
 *
 * @example
 * ```ts
 * import { mlpDynamics } from "../models/mlp.ts";
 * import { stageVjpGraph } from "./fused.ts";
 * const { dynamics } = mlpDynamics({ stateDim: 2, hidden: [8] });
 * const { outputs } = stageVjpGraph(dynamics);
 * if (outputs.z !== "grad_z" || outputs.t !== "grad_t") throw new Error("names");
 * ```
 */
export function stageVjpGraph(dyn: Dynamics): FusedGraph<StageVjpRoles> {
  return memoized(dyn, "stageVjpGraph", () => {
    const wrt = new Map([[DYNAMICS_NAMES.state, "grad_z"], [DYNAMICS_NAMES.time, "grad_t"], ...paramNames(dyn)]);
    const { graph, a, names } = fuse(dyn, { name: `${dyn.graph.name}_stage_vjp`, keepF: false, sign: 1, wrt });
    return {
      graph,
      inputs: { a },
      outputs: {
        z: names.get(DYNAMICS_NAMES.state)!,
        t: names.get(DYNAMICS_NAMES.time)!,
        params: paramRoles(dyn, names),
      },
    };
  });
}

/**
 * Writes f and its four fused graphs as `.onnx` files under `dir` (created if
 * needed), for inspection with tools such as Netron. Returns the paths.
 */
export async function writeFusedGraphs(dyn: Dynamics, dir = "models"): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const graphs: [string, Graph][] = [
    ["f", dyn.graph],
    ["adjoint_dynamics", adjointDynamicsGraph(dyn).graph],
    ["gq_backward", gqBackwardGraph(dyn).graph],
    ["gq_integrand", gqIntegrandGraph(dyn).graph],
    ["stage_vjp", stageVjpGraph(dyn).graph],
  ];
  const paths: string[] = [];
  for (const [key, graph] of graphs) {
    const path = `${dir.replace(/\/$/, "")}/${dyn.graph.name}.${key}.onnx`;
    await writeModel(path, graph);
    paths.push(path);
  }
  return paths;
}
