/**
 * The contract every dynamics function f(z, t, θ) satisfies, whether built by
 * quadjoint or imported from an `.onnx` file.
 *
 * Graph inputs, by name: `t` — the time, a scalar (shape `[]`) of the model's
 * dtype; `z` — the state, `[batch, ...stateShape]`; then one input per
 * parameter, in `params` order, and one per constant (see below). One output
 * `dz`, shaped like `z`. Parameters are graph inputs, not initializers, so
 * training updates them without a new session; every solver, VJP generator
 * and gradient method relies on these names.
 *
 * Constants are the inputs `asDynamics` is told about by name
 * (`{ constants: ["xi"] }`): per-sample values such as a neural SDE's random
 * Wong–Zakai coefficients, shaped `[batch, ...concrete dims]` with the same
 * batch dim as `z`. They are fed on every evaluation of f — forward,
 * backward, in every fused graph and step graph, under their own names — but
 * never differentiated and never trained: no gradient method returns a
 * cotangent for them. Every other input is a parameter: a concrete shape
 * without a batch axis, its gradient summed over the batch.
 *
 * Graphs from elsewhere are brought to this contract by `asDynamics`: a time
 * input of shape `[1]` (what torch exports) is fed from a Reshape of the
 * scalar `t`, and autonomous dynamics, declared with `{ time: "autonomous" }`,
 * get an unused `t`. `importDynamics` (imported.ts) does the rest for an
 * exported model: names, weights lifted into parameters, dtype.
 *
 * @module
 */
import { GraphBuilder } from "../onnx/builder.ts";
import { GraphError } from "../onnx/errors.ts";
import { formatShape, type Graph, type Shape } from "../onnx/graph.ts";
import { int64, type Tensor } from "../onnx/tensor.ts";

/**
 * Graph value names shared by all dynamics graphs. Parameters and constants
 * are inputs under their own names (listed in `Dynamics.params` and
 * `Dynamics.constants`).
 */
export const DYNAMICS_NAMES = {
  /** Scalar time input. */
  time: "t",
  /** State input, `[batch, ...stateShape]`. */
  state: "z",
  /** Output: dz/dt, shaped like the state. */
  derivative: "dz",
} as const;

/** One trainable parameter: a named graph input with a concrete shape. */
export interface ParamSpec {
  /** Graph input name. */
  readonly name: string;
  /** Concrete shape. */
  readonly shape: readonly number[];
}

/** One per-sample constant: a named graph input `[batch, ...concrete dims]`, fed but never differentiated. */
export interface ConstantSpec {
  /** Graph input name. */
  readonly name: string;
  /** Its shape in the graph: z's batch dim first (a name or a number), then concrete dims. */
  readonly shape: Shape;
}

/** Parameter values by name. */
export type Params = Readonly<Record<string, Tensor>>;

/** A dynamics function as an ONNX graph, with what callers need to know about it. */
export interface Dynamics {
  /** The graph: inputs `t`, `z`, params, constants; output `dz`. */
  readonly graph: Graph;
  /** Element type of time, state and parameters. */
  readonly dtype: "float32" | "float64";
  /** Per-sample state shape (without the batch dim). */
  readonly stateShape: readonly number[];
  /** Trainable parameters, in graph-input order. */
  readonly params: readonly ParamSpec[];
  /** Per-sample constants (fed, never differentiated), in graph-input order; empty unless named. */
  readonly constants: readonly ConstantSpec[];
}

/** Options of {@linkcode asDynamics}. */
export interface DynamicsOptions {
  /** Graph inputs that are per-sample constants, not parameters. @default [] */
  readonly constants?: readonly string[];
  /**
   * Whether f depends on time. `"input"`: the graph has a time input `t`,
   * of shape `[]` or `[1]` (torch exports `[1]`; a Reshape of the scalar `t`
   * is then put in front of the graph). `"autonomous"`: the graph has no
   * time input, and an unused scalar `t` is added so the graph keeps the
   * contract. @default "input"
   */
  readonly time?: "input" | "autonomous";
}

const DYNAMICS_OPTION_KEYS = ["constants", "time"];

/**
 * Checks that a graph follows the dynamics contract and describes it.
 * Every graph input other than `t`, `z` and the constants named in
 * `options.constants` becomes a parameter. A time input of shape `[1]`, or
 * none with `{ time: "autonomous" }`, is adapted (see
 * {@linkcode DynamicsOptions.time}); the returned graph always has a scalar `t`.
 *
 * @throws {GraphError} (a `TypeError`) when the graph breaks the contract: a
 * missing `t` (naming the inputs there are), `z` or `dz`, a `t` on dynamics
 * declared autonomous, a wrong dtype, a parameter without a concrete shape,
 * or a constant that is not an input or whose first dim is not z's batch dim.
 *
 * @example A per-sample constant c: dz/dt = θ·z + c
 * ```ts
 * import { asDynamics } from "./dynamics.ts";
 * import { GraphBuilder } from "../onnx/builder.ts";
 * const b = new GraphBuilder("forced");
 * b.input("t", "float64", []);
 * const z = b.input("z", "float64", ["batch", 2]);
 * const theta = b.input("theta", "float64", [1]);
 * const c = b.input("c", "float64", ["batch", 2]);
 * b.output(b.op1("Add", [b.op1("Mul", [z, theta]), c]), "dz");
 * const dynamics = asDynamics(b.build(), { constants: ["c"] });
 * if (dynamics.params.map((p) => p.name).join() !== "theta") throw new Error("params");
 * if (dynamics.constants.map((k) => k.name).join() !== "c") throw new Error("constants");
 * ```
 */
export function asDynamics(source: Graph, options: DynamicsOptions = {}): Dynamics {
  for (const key of Object.keys(options)) {
    if (!DYNAMICS_OPTION_KEYS.includes(key)) {
      throw new TypeError(
        `Unknown option "${key}" for asDynamics; known options are ${DYNAMICS_OPTION_KEYS.join(", ")}`,
      );
    }
  }
  const graph = withScalarTime(source, options.time ?? "input");
  const place = { graph: graph.name };
  const t = graph.inputs.find((v) => v.name === DYNAMICS_NAMES.time);
  const z = graph.inputs.find((v) => v.name === DYNAMICS_NAMES.state);
  const dz = graph.outputs.find((v) => v.name === DYNAMICS_NAMES.derivative);
  if (!z) throw new GraphError(`A dynamics graph needs a state input "z" of shape [batch, ...]`, place);
  if (!t) throw new GraphError(`A dynamics graph needs a scalar time input "t" (shape [])`, place);
  if (!dz) throw new GraphError(`A dynamics graph needs an output "dz" shaped like "z"`, place);
  if (z.dtype !== "float32" && z.dtype !== "float64") {
    throw new GraphError(`State "z" must be float32 or float64, got ${z.dtype}`, { ...place, valueName: "z" });
  }
  if (t.shape.length !== 0 || t.dtype !== z.dtype) {
    throw new GraphError(`Time "t" must be ${z.dtype} of shape [] or [1], got ${t.dtype}${formatShape(t.shape)}`, {
      ...place,
      valueName: "t",
    });
  }
  const stateShape = z.shape.slice(1);
  if (z.shape.length < 2 || stateShape.some((d) => typeof d !== "number")) {
    throw new GraphError(`State "z" must be [batch, ...concrete dims], got ${formatShape(z.shape)}`, {
      ...place,
      valueName: "z",
    });
  }
  if (
    dz.dtype !== z.dtype || dz.shape.length !== z.shape.length || dz.shape.slice(1).some((d, i) => d !== stateShape[i])
  ) {
    throw new GraphError(
      `Output "dz" must match "z" ${formatShape(z.shape)}, got ${dz.dtype}${formatShape(dz.shape)}`,
      {
        ...place,
        valueName: "dz",
      },
    );
  }
  const constantNames = options.constants ?? [];
  constantNames.forEach((name, i) => {
    if (constantNames.indexOf(name) !== i) {
      throw new GraphError(`Constant "${name}" is named twice`, { ...place, valueName: name });
    }
    if (name === DYNAMICS_NAMES.time || name === DYNAMICS_NAMES.state) {
      throw new GraphError(`Constant "${name}" cannot be the time or state input`, { ...place, valueName: name });
    }
    if (!graph.inputs.some((v) => v.name === name)) {
      throw new GraphError(
        `Constant "${name}" is not an input of the graph; inputs are ${graph.inputs.map((v) => v.name).join(", ")}`,
        { ...place, valueName: name },
      );
    }
  });
  const constants = graph.inputs.filter((v) => constantNames.includes(v.name)).map((v) => {
    const batch = z.shape[0]!;
    if (v.shape.length < 1 || v.shape[0] !== batch || v.shape.slice(1).some((d) => typeof d !== "number")) {
      throw new GraphError(
        `Constant "${v.name}" must be [${batch}, ...concrete dims] (z's batch dim first), got ${formatShape(v.shape)}`,
        { ...place, valueName: v.name },
      );
    }
    if (v.dtype !== z.dtype) {
      throw new GraphError(`Constant "${v.name}" must be ${z.dtype}, got ${v.dtype}`, { ...place, valueName: v.name });
    }
    return { name: v.name, shape: v.shape };
  });
  const params = graph.inputs.filter((v) => v !== t && v !== z && !constantNames.includes(v.name)).map((v) => {
    if (v.shape.some((d) => typeof d !== "number")) {
      throw new GraphError(`Parameter "${v.name}" must have a concrete shape, got ${formatShape(v.shape)}`, {
        ...place,
        valueName: v.name,
      });
    }
    if (v.dtype !== z.dtype) {
      throw new GraphError(`Parameter "${v.name}" must be ${z.dtype}, got ${v.dtype}`, { ...place, valueName: v.name });
    }
    return { name: v.name, shape: v.shape as number[] };
  });
  return { graph, dtype: z.dtype, stateShape: stateShape as number[], params, constants };
}

/**
 * The graph with a scalar time input `t`: unchanged when `t` is already a
 * scalar; a `[1]` input fed from a Reshape of a new scalar `t`; for
 * autonomous dynamics, an unused scalar `t` added in front of the inputs.
 * Other shapes of `t` are left for asDynamics to refuse.
 */
function withScalarTime(graph: Graph, mode: "input" | "autonomous"): Graph {
  const place = { graph: graph.name };
  if (mode !== "input" && mode !== "autonomous") {
    throw new RangeError(`Option time must be "input" or "autonomous", got ${JSON.stringify(mode)}`);
  }
  const t = graph.inputs.find((v) => v.name === DYNAMICS_NAMES.time);
  const z = graph.inputs.find((v) => v.name === DYNAMICS_NAMES.state);
  if (mode === "autonomous") {
    if (t) {
      throw new GraphError(
        `The graph has a time input "t" ${
          formatShape(t.shape)
        } but the dynamics were declared autonomous; drop { time: "autonomous" } to use it`,
        { ...place, valueName: DYNAMICS_NAMES.time },
      );
    }
    if (!z) return graph;
    const scalar = { name: DYNAMICS_NAMES.time, dtype: z.dtype, shape: [] };
    return GraphBuilder.from({ ...graph, inputs: [scalar, ...graph.inputs] }).build();
  }
  if (!t) {
    const inputs = graph.inputs.map((v) => `${v.name} ${formatShape(v.shape)}`).join(", ") || "none";
    throw new GraphError(
      `A dynamics graph needs a time input "t" of shape [] or [1]; its inputs are ${inputs}. Pass { time: "autonomous" } for dynamics that do not depend on time`,
      place,
    );
  }
  if (t.shape.length !== 1 || t.shape[0] !== 1) return graph;
  const taken = new Set([
    ...graph.inputs.map((v) => v.name),
    ...graph.initializers.keys(),
    ...graph.nodes.flatMap((n) => [n.name, ...n.outputs]),
  ]);
  const fresh = (base: string) => {
    let name = base;
    for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
    taken.add(name);
    return name;
  };
  const shapeName = fresh("t_shape"), vector = fresh("t_vector");
  const rename = (n: string) => (n === DYNAMICS_NAMES.time ? vector : n);
  const reshape = {
    name: fresh("t_reshape"),
    opType: "Reshape",
    domain: "",
    inputs: [DYNAMICS_NAMES.time, shapeName],
    outputs: [vector],
    attributes: {},
  };
  return GraphBuilder.from({
    ...graph,
    inputs: graph.inputs.map((v) => (v === t ? { ...t, shape: [] } : v)),
    initializers: new Map([...graph.initializers, [shapeName, int64([1])]]),
    nodes: [reshape, ...graph.nodes.map((n) => ({ ...n, inputs: n.inputs.map(rename) }))],
  }).build();
}

/**
 * What every model builder returns: the dynamics graph and initial parameter
 * values for it, keyed by parameter name (same order as `dynamics.params`).
 */
export interface DynamicsModel {
  /** The dynamics graph and its description. */
  readonly dynamics: Dynamics;
  /** Initial θ, one tensor per parameter. */
  readonly init: Params;
}
