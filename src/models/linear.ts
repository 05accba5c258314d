/**
 * Linear dynamics with closed-form solutions: the paper's analytic problem
 * dz/dt = a·z, and dz/dt = A z. Their gradients are known exactly (by
 * exponentials and the matrix exponential), which makes them the reference
 * problems of the tests, benchmarks and the analytic-gradients pipeline.
 *
 * @module
 */
import { GraphBuilder } from "../onnx/builder.ts";
import { asDynamics, type Dynamics } from "./dynamics.ts";

const built = new Map<string, Dynamics>();

function once(key: string, build: () => Dynamics): Dynamics {
  let d = built.get(key);
  if (!d) built.set(key, d = build());
  return d;
}

/**
 * dz/dt = a·z for a state [batch, 1] and a parameter `a` of shape [1].
 * Built once per dtype, so its fused graphs and sessions are reused.
 *
 * @example
 * ```ts
 * import { exponentialDynamics } from "./linear.ts";
 * const d = exponentialDynamics("float64");
 * if (d.params[0]!.name !== "a") throw new Error("parameter name");
 * ```
 */
export function exponentialDynamics(dtype: "float32" | "float64" = "float64"): Dynamics {
  return once(`exp-${dtype}`, () => {
    const b = new GraphBuilder("exponential");
    b.input("t", dtype, []);
    const z = b.input("z", dtype, ["batch", 1]);
    const a = b.input("a", dtype, [1]);
    b.output(b.op1("Mul", [z, a]), "dz");
    return asDynamics(b.build());
  });
}

/** dz/dt = A z for row-vector states z [batch, d] and a parameter `A` of shape [d, d], float64. */
export function linearDynamics(d: number): Dynamics {
  if (!Number.isInteger(d) || d < 1) throw new RangeError(`linearDynamics: d must be a positive integer, got ${d}`);
  return once(`linear-${d}`, () => {
    const b = new GraphBuilder("linear");
    b.input("t", "float64", []);
    const z = b.input("z", "float64", ["batch", d]);
    const A = b.input("A", "float64", [d, d]);
    b.output(b.op1("MatMul", [z, b.op1("Transpose", [A])]), "dz");
    return asDynamics(b.build());
  });
}
