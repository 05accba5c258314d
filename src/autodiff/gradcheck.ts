/**
 * Test helpers: checks a graph's VJP against float64 central finite
 * differences of ⟨v, y(x)⟩ for random inputs x and random cotangents v.
 * Not `_`-prefixed because tests in higher layers (src/train) use it too:
 * `_` files are private to their own folder (see tests/layers_test.ts).
 *
 * @module
 */
import type { Graph } from "../onnx/graph.ts";
import { isFloat } from "../onnx/dtype.ts";
import { type Tensor, tensor, toNumbers } from "../onnx/tensor.ts";
import type { Runtime } from "../runtime/session.ts";
import { assertClose, assertEquals, relativeError } from "../util/testing.ts";
import { Random } from "../util/random.ts";
import { vjpGraph } from "./vjp.ts";

/** How to draw one input. */
export type Draw = "normal" | "positive" | ((rng: Random, n: number) => number[]);

/** Options for {@linkcode gradCheck}. */
export interface GradCheckOptions {
  /** Inputs to differentiate. @default every float input */
  wrt?: readonly string[];
  /** Fixed input values (others are drawn). */
  values?: Readonly<Record<string, Tensor>>;
  /** How to draw inputs by name. @default "normal" */
  draw?: Readonly<Record<string, Draw>>;
  /** Sizes of symbolic dims. @default 3 each */
  dims?: Readonly<Record<string, number>>;
  /** Seed of the inputs and cotangents. @default 1 */
  seed?: number;
  /** Relative finite-difference step. @default 1e-6 */
  step?: number;
}

/** Largest relative error per wrt input, plus the inputs and gradients used. */
export interface GradCheckResult {
  readonly errors: Record<string, number>;
  readonly feeds: Record<string, Tensor>;
  readonly grads: Record<string, Tensor>;
}

/** Random inputs for every graph input not in `values`. */
export function drawInputs(graph: Graph, options: GradCheckOptions = {}): Record<string, Tensor> {
  const rng = new Random(options.seed ?? 1);
  const feeds: Record<string, Tensor> = { ...options.values };
  for (const input of graph.inputs) {
    if (feeds[input.name]) continue;
    const dims = input.shape.map((d) => (typeof d === "number" ? d : options.dims?.[d] ?? 3));
    const n = dims.reduce((a, d) => a * d, 1);
    const draw = options.draw?.[input.name] ?? "normal";
    const values = typeof draw === "function"
      ? draw(rng, n)
      : Array.from({ length: n }, () => (draw === "positive" ? rng.uniformIn(0.5, 2) : rng.normal()));
    if (input.dtype === "float64") feeds[input.name] = tensor(Float64Array.from(values), dims);
    else if (input.dtype === "float32") feeds[input.name] = tensor(Float32Array.from(values), dims);
    else throw new TypeError(`Input ${input.name} is ${input.dtype}: pass its value in options.values`);
  }
  return feeds;
}

/**
 * Runs the VJP graph of all float outputs with respect to `wrt` and compares
 * each gradient with central differences of L(x) = Σ_o ⟨v_o, y_o(x)⟩.
 */
export async function gradCheck(rt: Runtime, graph: Graph, options: GradCheckOptions = {}): Promise<GradCheckResult> {
  const feeds = drawInputs(graph, options);
  const wrt = options.wrt ?? graph.inputs.filter((v) => isFloat(v.dtype)).map((v) => v.name);
  const of = graph.outputs.filter((v) => isFloat(v.dtype)).map((v) => v.name);
  const fwd = await rt.compile(graph);
  const y0 = await fwd.run(feeds);
  const rng = new Random((options.seed ?? 1) + 1000);
  const cot: Record<string, Tensor> = {};
  for (const o of of) {
    const y = y0[o]!;
    const v = Array.from({ length: y.data.length }, () => rng.normal());
    cot[`grad_${o}`] = tensor(y.dtype === "float64" ? Float64Array.from(v) : Float32Array.from(v), y.dims);
  }
  const vg = await rt.compile(vjpGraph(graph, { of, wrt }));
  const out = await vg.run({ ...feeds, ...cot });
  const loss = async (f: Record<string, Tensor>) => {
    const y = await fwd.run(f, of);
    let s = 0;
    for (const o of of) {
      const a = toNumbers(y[o]!), v = toNumbers(cot[`grad_${o}`]!);
      for (let i = 0; i < a.length; i++) s += a[i]! * v[i]!;
    }
    return s;
  };
  const errors: Record<string, number> = {};
  const grads: Record<string, Tensor> = {};
  const step = options.step ?? 1e-6;
  for (const w of wrt) {
    const x = feeds[w]!;
    const base = toNumbers(x);
    const fd = new Float64Array(base.length);
    for (let j = 0; j < base.length; j++) {
      const h = step * Math.max(1, Math.abs(base[j]!));
      const at = async (v: number) => {
        const data = x.dtype === "float64" ? Float64Array.from(base) : Float32Array.from(base);
        data[j] = v;
        return await loss({ ...feeds, [w]: tensor(data, x.dims) });
      };
      fd[j] = ((await at(base[j]! + h)) - (await at(base[j]! - h))) / (2 * h);
    }
    const g = out[`grad_${w}`]!;
    grads[w] = g;
    errors[w] = relativeError(toNumbers(g), fd, 1e-12);
  }
  return { errors, feeds, grads };
}

/** A graph with a scalar `loss` output and gradient outputs by input name, like {@linkcode LossGraph}. */
export interface LossGraphLike {
  readonly graph: Graph;
  readonly outputs: { readonly loss: string; readonly grads: Readonly<Record<string, string>> };
}

/**
 * Asserts that every gradient output of a loss graph matches float64 central
 * differences of its `loss` output at `feeds` (relative error ≤ `tol`), and
 * returns the graph's outputs there.
 */
export async function checkLossGradients(
  rt: Runtime,
  l: LossGraphLike,
  feeds: Readonly<Record<string, Tensor>>,
  tol = 1e-6,
): Promise<Record<string, Tensor>> {
  const s = await rt.compile(l.graph);
  const out = await s.run(feeds);
  for (const [input, gradName] of Object.entries(l.outputs.grads)) {
    const x = feeds[input]!;
    const base = toNumbers(x);
    const fd = await Promise.all(base.map(async (_, j) => {
      const h = 1e-6 * Math.max(1, Math.abs(base[j]!));
      const at = async (v: number) => {
        const d = Float64Array.from(base);
        d[j] = v;
        return toNumbers(
          (await s.run({ ...feeds, [input]: tensor(d, x.dims) }, [l.outputs.loss]))[l.outputs.loss]!,
        )[0]!;
      };
      return ((await at(base[j]! + h)) - (await at(base[j]! - h))) / (2 * h);
    }));
    assertEquals(out[gradName]!.dims, x.dims, `${gradName} dims`);
    assertClose(toNumbers(out[gradName]!), fd, tol, `${l.graph.name} ${gradName}`);
  }
  return out;
}
