/**
 * Pieces shared by the model builders: option checks, PyTorch-style
 * parameter initialisation, dense layers and the time column.
 *
 * @module
 */
import { attr } from "../onnx/graph.ts";
import type { GraphBuilder, Value } from "../onnx/builder.ts";
import { int64, type Tensor, tensor } from "../onnx/tensor.ts";
import type { Random } from "../util/random.ts";
import type { ParamSpec } from "./dynamics.ts";
import { activate, type Activation, ACTIVATIONS } from "./activations.ts";

export { activate, type Activation, ACTIVATIONS } from "./activations.ts";

/** Float element types a model can use. */
export type FloatDType = "float32" | "float64";

/** How a model sees the time `t`. */
export type TimeDependence = "concat" | "none";

/** Throws TypeError for keys of `options` not in `allowed`. */
export function checkKeys(options: object, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new TypeError(`Unknown option "${key}" for ${what}; known options are ${allowed.join(", ")}`);
    }
  }
}

/** A positive integer option, else RangeError naming the field. */
export function positiveInt(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`${field} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** A non-negative integer option, else RangeError naming the field. */
export function nonNegativeInt(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new RangeError(`${field} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

/** A list of layer widths, each a positive integer. */
export function widths(value: unknown, field: string): number[] {
  if (!Array.isArray(value)) throw new RangeError(`${field} must be an array of widths, got ${String(value)}`);
  return value.map((w, i) => positiveInt(w, `${field}[${i}]`));
}

/** One of the allowed strings, else RangeError naming the field and the choices. */
export function oneOf<T extends string>(value: unknown, choices: readonly T[], field: string): T {
  if (typeof value !== "string" || !(choices as readonly string[]).includes(value)) {
    throw new RangeError(`${field} must be one of ${choices.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/** The seed option: an integer. */
export function seedOf(value: unknown, field = "seed"): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new RangeError(`${field} must be an integer, got ${String(value)}`);
  }
  return value;
}

/** Options every model builder takes besides its sizes. */
export interface CommonOptions {
  /** Activation between layers. @default "softplus" */
  activation?: Activation;
  /** How the model sees t. @default "none" */
  time?: TimeDependence;
  /** Element type of t, z and θ. @default "float32" */
  dtype?: FloatDType;
  /** Seed of the initial θ. @default 0 */
  seed?: number;
  /** Graph name. */
  name?: string;
}

/** Keys of {@linkcode CommonOptions}, for {@linkcode checkKeys}. */
export const COMMON_KEYS = ["activation", "time", "dtype", "seed", "name"] as const;

/** {@linkcode CommonOptions} checked and defaulted; RangeError names a bad field. */
export function commonConfig(options: CommonOptions, defaultName: string): Required<CommonOptions> {
  return {
    activation: oneOf(options.activation ?? "softplus", ACTIVATIONS, "activation"),
    time: oneOf(options.time ?? "none", ["concat", "none"] as const, "time"),
    dtype: oneOf(options.dtype ?? "float32", ["float32", "float64"] as const, "dtype"),
    seed: seedOf(options.seed ?? 0),
    name: options.name ?? defaultName,
  };
}

/** A scalar constant of `dtype`. */
export function scalarOf(b: GraphBuilder, dtype: FloatDType, v: number): Value {
  return b.constant(tensor(dtype === "float64" ? new Float64Array([v]) : new Float32Array([v]), []));
}

/** An int64 vector constant (shapes, axes, slice bounds). */
export function ints(b: GraphBuilder, values: readonly number[]): Value {
  return b.constant(int64(values));
}

/**
 * Collects parameters as graph inputs with PyTorch's default initial values:
 * U(−1/√fanIn, 1/√fanIn) for weights and biases alike (what
 * `kaiming_uniform_(a=√5)` and nn.Linear / nn.Conv2d's bias init give).
 * Values are drawn in declaration order from one seeded generator.
 */
export class ParamCollector {
  readonly params: ParamSpec[] = [];
  readonly init: Record<string, Tensor> = {};
  readonly #b: GraphBuilder;
  readonly #dtype: FloatDType;
  readonly #rng: Random;

  constructor(b: GraphBuilder, dtype: FloatDType, rng: Random) {
    this.#b = b;
    this.#dtype = dtype;
    this.#rng = rng;
  }

  /** Declares parameter `name` of shape `dims` and draws its initial value. */
  add(name: string, dims: readonly number[], fanIn: number): Value {
    const v = this.#b.input(name, this.#dtype, dims);
    const n = dims.reduce((a, d) => a * d, 1);
    const bound = 1 / Math.sqrt(fanIn);
    const data = this.#dtype === "float64" ? new Float64Array(n) : new Float32Array(n);
    this.#rng.fillUniform(data, -bound, bound);
    this.params.push({ name, shape: [...dims] });
    this.init[name] = tensor(data, dims);
    return v;
  }
}

/**
 * `t` broadcast to `[batch, ...trailing]`, with batch read from `z` at run
 * time: Expand(Reshape(t, [1, …]), Concat(Shape(z)[0:1], trailing)).
 */
export function timeColumn(b: GraphBuilder, t: Value, z: Value, trailing: readonly number[]): Value {
  const t1 = b.op1("Reshape", [t, ints(b, [1, ...trailing.map(() => 1)])]);
  const batch = b.op1("Shape", [z], { start: attr.int(0), end: attr.int(1) });
  return b.op1("Expand", [t1, b.op1("Concat", [batch, ints(b, trailing)], { axis: attr.int(0) })]);
}

/**
 * Dense layers `x → Gemm(x, W, b, transB=1)` with weights `[out, in]`
 * named `${prefix}${i}.weight` / `.bias`, activation between layers and none
 * after the last.
 */
export function denseStack(
  b: GraphBuilder,
  x: Value,
  inDim: number,
  sizes: readonly number[],
  activation: Activation,
  params: ParamCollector,
  prefix = "l",
): Value {
  let h = x, fanIn = inDim;
  sizes.forEach((out, i) => {
    const w = params.add(`${prefix}${i}.weight`, [out, fanIn], fanIn);
    const bias = params.add(`${prefix}${i}.bias`, [out], fanIn);
    h = b.op1("Gemm", [h, w, bias], { transB: attr.int(1) }, { name: `${prefix}${i}` });
    if (i < sizes.length - 1) h = activate(b, h, activation);
    fanIn = out;
  });
  return h;
}
