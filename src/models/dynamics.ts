/**
 * The contract every dynamics function f(z, t, θ) satisfies, whether built by
 * quadjoint or imported from an `.onnx` file.
 *
 * Graph inputs, by name: `t` — the time, a scalar (shape `[]`) of the model's
 * dtype; `z` — the state, `[batch, ...stateShape]`; then one input per
 * parameter, in `params` order. One output `dz`, shaped like `z`. Parameters
 * are graph inputs, not initializers, so training updates them without a new
 * session; every solver, VJP generator and gradient method relies on these
 * names.
 *
 * @module
 */
import { GraphError } from "../onnx/errors.ts";
import { formatShape, type Graph } from "../onnx/graph.ts";
import type { Tensor } from "../onnx/tensor.ts";

/** Graph value names shared by all dynamics graphs. */
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

/** Parameter values by name. */
export type Params = Readonly<Record<string, Tensor>>;

/** A dynamics function as an ONNX graph, with what callers need to know about it. */
export interface Dynamics {
  /** The graph: inputs `t`, `z`, params; output `dz`. */
  readonly graph: Graph;
  /** Element type of time, state and parameters. */
  readonly dtype: "float32" | "float64";
  /** Per-sample state shape (without the batch dim). */
  readonly stateShape: readonly number[];
  /** Trainable parameters, in graph-input order. */
  readonly params: readonly ParamSpec[];
}

/**
 * Checks that a graph follows the dynamics contract and describes it.
 * Every graph input other than `t` and `z` becomes a parameter.
 */
export function asDynamics(graph: Graph): Dynamics {
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
    throw new GraphError(`Time "t" must be a ${z.dtype} scalar, got ${t.dtype}${formatShape(t.shape)}`, {
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
  const params = graph.inputs.filter((v) => v !== t && v !== z).map((v) => {
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
  return { graph, dtype: z.dtype, stateShape: stateShape as number[], params };
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
