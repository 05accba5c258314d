/**
 * Wong–Zakai training through a smooth noise path (the paper's §4): the
 * Stratonovich SDE dz = f dt + g ∘ dW is replaced by the random ODE
 * dz/dt = f(z, t) + g(z, t) ⊙ ξ(t), where ξ is the derivative of the
 * Karhunen–Loève expansion of Brownian motion on [t0, t1] cut at m terms:
 *
 *   ξ(t) = sqrt(2/c) Σ_{i=1..m} Z_i cos(ω_i (t − t0)),  ω_i = (i − ½)π/c,  c = t1 − t0,  Z_i ~ N(0, I).
 *
 * Its integral W_m(t) = sqrt(2/c) Σ Z_i sin(ω_i (t − t0))/ω_i has covariance
 * Σ (2/c) sin(ω_i s) sin(ω_i t)/ω_i², which tends to min(s, t) − t0 as m grows
 * (Wong–Zakai: the ODE's solutions tend to the Stratonovich SDE's).
 *
 * The coefficients Z, one set per sample, are an input of the ODE's
 * dynamics graph, `kl_coefficients`, of shape [batch, m, ...stateShape]: a
 * per-sample constant (see `asDynamics`'s `constants`), drawn anew for each
 * batch from a seeded generator and fed unchanged to the forward and the
 * backward pass, so every ODE gradient method trains through it.
 *
 * @module
 */
import { type Dynamics, DYNAMICS_NAMES } from "../models/dynamics.ts";
import { GraphBuilder, type Value } from "../onnx/builder.ts";
import { inlineGraph } from "../onnx/inline.ts";
import { attr, defaultOpset, type Graph } from "../onnx/graph.ts";
import { int64, tensor } from "../onnx/tensor.ts";
import type { Random } from "../util/random.ts";
import { checkSameState } from "./terms.ts";

/** Name of the coefficient input of a Wong–Zakai dynamics graph. */
export const KL_COEFFICIENTS = "kl_coefficients";

/** The span and truncation of a Karhunen–Loève noise path. */
export interface KarhunenLoeveOptions {
  /** Start of the span. */
  readonly t0: number;
  /** End of the span (the last observation time). */
  readonly t1: number;
  /** Number of cosines m (0: no noise). */
  readonly cosines: number;
}

function check({ t0, t1, cosines }: KarhunenLoeveOptions): number {
  if (!(t1 > t0)) throw new RangeError(`Karhunen–Loève noise needs t0 < t1, got ${t0} and ${t1}`);
  if (!(Number.isInteger(cosines) && cosines >= 0)) {
    throw new RangeError(`Karhunen–Loève noise: cosines must be a non-negative integer, got ${cosines}`);
  }
  return t1 - t0;
}

/** The frequencies ω_i = (i − ½)π/c, i = 1…m. */
export function klFrequencies(options: KarhunenLoeveOptions): Float64Array {
  const c = check(options);
  return Float64Array.from({ length: options.cosines }, (_, i) => ((i + 0.5) * Math.PI) / c);
}

/** Standard normal coefficients for `samples` samples of `stateSize` entries: [samples, m, stateSize], row-major. */
export function sampleKlCoefficients(
  random: Random,
  cosines: number,
  samples: number,
  stateSize: number,
): Float64Array {
  return random.fillNormal(new Float64Array(samples * cosines * stateSize));
}

/** Sums sqrt(2/c) Σ_i w_i Z[s, i, :] for weights w per cosine, over every sample. */
function weighted(coefficients: Float64Array, weights: Float64Array, stateSize: number, c: number): Float64Array {
  const m = weights.length;
  const samples = m === 0 ? coefficients.length : coefficients.length / (m * stateSize);
  const out = new Float64Array(samples * stateSize);
  const scale = Math.sqrt(2 / c);
  for (let s = 0; s < samples; s++) {
    for (let i = 0; i < m; i++) {
      const w = scale * weights[i]!, row = (s * m + i) * stateSize;
      for (let k = 0; k < stateSize; k++) out[s * stateSize + k]! += w * coefficients[row + k]!;
    }
  }
  return out;
}

/** ξ(t) for the coefficients of {@linkcode sampleKlCoefficients}: [samples, stateSize]. */
export function klNoise(
  t: number,
  coefficients: Float64Array,
  stateSize: number,
  options: KarhunenLoeveOptions,
): Float64Array {
  const c = check(options), omega = klFrequencies(options);
  return weighted(coefficients, omega.map((w) => Math.cos(w * (t - options.t0))), stateSize, c);
}

/** W_m(t) = ∫_{t0}^t ξ: the smooth path the noise is the derivative of, [samples, stateSize]. */
export function klPath(
  t: number,
  coefficients: Float64Array,
  stateSize: number,
  options: KarhunenLoeveOptions,
): Float64Array {
  const c = check(options), omega = klFrequencies(options);
  return weighted(coefficients, omega.map((w) => Math.sin(w * (t - options.t0)) / w), stateSize, c);
}

/** Cov(W_m(s), W_m(t)) per entry, in closed form (tends to min(s, t) − t0 as m grows). */
export function klCovariance(s: number, t: number, options: KarhunenLoeveOptions): number {
  const c = check(options);
  let sum = 0;
  for (const w of klFrequencies(options)) {
    sum += (2 / c) * Math.sin(w * (s - options.t0)) * Math.sin(w * (t - options.t0)) / (w * w);
  }
  return sum;
}

/** Options of {@linkcode wongZakaiGraph}. */
export interface WongZakaiOptions extends KarhunenLoeveOptions {
  /** The drift f(z, t, θ_f). */
  readonly drift: Dynamics;
  /** The diffusion g(z, t, θ_g): diagonal noise, same state shape and dtype as the drift. */
  readonly diffusion: Dynamics;
}

/**
 * The Wong–Zakai ODE's dynamics graph dz/dt = f + g ⊙ ξ(t): inputs `t`, `z`,
 * the parameters of f and g (a name both use is one shared input) and, for
 * m > 0, {@linkcode KL_COEFFICIENTS} [batch, m, ...stateShape]; output `dz`.
 * With m = 0 it is the drift alone (and has only the drift's parameters). Wrap it with
 * `asDynamics(graph, { constants: [KL_COEFFICIENTS] })`.
 *
 * @throws {TypeError} when f and g differ in state shape or dtype, or share a parameter name with different shapes.
 */
export function wongZakaiGraph(options: WongZakaiOptions): Graph {
  const { drift, diffusion } = options;
  const c = check(options);
  checkSameState(drift, diffusion, "wongZakaiGraph");
  const dtype = drift.dtype, shape = drift.stateShape;
  // At the drift's opset, which the inlined drift (and diffusion) are checked under.
  const b = new GraphBuilder("wong_zakai", { opset: defaultOpset(drift.graph) });
  const t = b.input(DYNAMICS_NAMES.time, dtype, []);
  const z = b.input(DYNAMICS_NAMES.state, dtype, ["batch", ...shape]);
  const inputs = new Map<string, Value>([[DYNAMICS_NAMES.time, t], [DYNAMICS_NAMES.state, z]]);
  // With no cosines the diffusion drops out, and so do its parameters.
  for (const p of options.cosines === 0 ? drift.params : [...drift.params, ...diffusion.params]) {
    const seen = inputs.get(p.name);
    if (seen && seen.shape.join() !== p.shape.join()) {
      throw new TypeError(
        `Drift and diffusion both have a parameter "${p.name}", of shapes [${seen.shape}] and [${p.shape}]`,
      );
    }
    if (!seen) inputs.set(p.name, b.input(p.name, dtype, p.shape));
  }
  const f = inlineGraph(b, drift.graph, inputs, { prefix: "drift/" }).get(DYNAMICS_NAMES.derivative)!;
  if (options.cosines === 0) {
    b.output(b.op1("Identity", [f]), DYNAMICS_NAMES.derivative);
    return b.build();
  }
  const g = inlineGraph(b, diffusion.graph, inputs, { prefix: "diffusion/" }).get(DYNAMICS_NAMES.derivative)!;
  const m = options.cosines;
  const coefficients = b.input(KL_COEFFICIENTS, dtype, ["batch", m, ...shape]);
  const typed = (values: Float64Array, dims: number[]) =>
    b.constant(tensor(dtype === "float64" ? values : Float32Array.from(values), dims));
  // cos(ω (t − t0)) · sqrt(2/c), shaped [1, m, 1, …] to weight the coefficients.
  const phase = b.op1("Mul", [
    b.op1("Sub", [t, typed(Float64Array.of(options.t0), [])]),
    typed(klFrequencies(options), [m]),
  ]);
  const weights = b.op1("Mul", [b.op1("Cos", [phase]), typed(Float64Array.of(Math.sqrt(2 / c)), [])]);
  const column = b.op1("Reshape", [weights, b.constant(int64([1, m, ...shape.map(() => 1)]))]);
  const xi = b.op1("ReduceSum", [b.op1("Mul", [coefficients, column]), b.constant(int64([1]))], {
    keepdims: attr.int(0),
  });
  b.output(b.op1("Add", [f, b.op1("Mul", [g, xi])]), DYNAMICS_NAMES.derivative);
  return b.build();
}
