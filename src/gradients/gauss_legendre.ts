/**
 * Gauss–Legendre quadrature rules for the GQ gradient method.
 *
 * The n-point rule integrates polynomials of degree ≤ 2n − 1 exactly. Nodes
 * are the roots of the Legendre polynomial P_n, found by Newton's method from
 * Tricomi's asymptotic guesses (three-term recurrence for P_n and P_n′, run in
 * float64; converges to a few ulps for n ≤ 64); weights are
 * 2 / ((1 − x²) P_n′(x)²). Each rule is computed once and cached.
 *
 * @module
 */

/** Nodes and weights of a quadrature rule. */
export interface QuadratureRule {
  /** Nodes (on [−1, 1] ascending for {@linkcode gaussLegendre}; ordered from a to b for {@linkcode mapToInterval}). */
  readonly nodes: Float64Array;
  /** Weights, one per node. */
  readonly weights: Float64Array;
}

/** The largest supported number of nodes. */
export const MAX_GAUSS_LEGENDRE_NODES = 64;

const cache = new Map<number, QuadratureRule>();

/** P_n(x) and P_n′(x) by the three-term recurrence. */
function legendre(n: number, x: number): [number, number] {
  let p0 = 1, p1 = x;
  for (let k = 2; k <= n; k++) {
    const p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
    p0 = p1;
    p1 = p2;
  }
  // P_n′(x) = n (x P_n − P_{n−1}) / (x² − 1)
  return [p1, (n * (x * p1 - p0)) / (x * x - 1)];
}

function compute(n: number): QuadratureRule {
  const nodes = new Float64Array(n), weights = new Float64Array(n);
  const half = Math.floor(n / 2);
  for (let i = 0; i < half; i++) {
    // Tricomi: i-th largest root ≈ (1 − (n − 1)/(8n³)) cos(π(i + 3/4)/(n + 1/2)).
    let x = (1 - (n - 1) / (8 * n * n * n)) * Math.cos(Math.PI * (i + 0.75) / (n + 0.5));
    for (let iter = 0; iter < 100; iter++) {
      const [p, d] = legendre(n, x);
      const dx = p / d;
      x -= dx;
      if (Math.abs(dx) <= 1e-16) break;
    }
    const dp = legendre(n, x)[1];
    const w = 2 / ((1 - x * x) * dp * dp);
    nodes[n - 1 - i] = x;
    nodes[i] = -x;
    weights[n - 1 - i] = w;
    weights[i] = w;
  }
  if (n % 2 === 1) {
    const [, d] = legendre(n, 0);
    nodes[half] = 0;
    weights[half] = 2 / (d * d);
  }
  return { nodes, weights };
}

/**
 * The n-point Gauss–Legendre rule on [−1, 1], nodes ascending, for 1 ≤ n ≤ 64.
 * Returns new arrays (the cached rule is not exposed to modification).
 *
 * @throws {RangeError} when n is not an integer in [1, 64].
 *
 * @example ∫₋₁¹ x⁴ dx = 2/5 with three nodes
 * ```ts
 * import { gaussLegendre } from "./gauss_legendre.ts";
 * const { nodes, weights } = gaussLegendre(3);
 * const q = nodes.reduce((s, x, i) => s + weights[i]! * x ** 4, 0);
 * if (Math.abs(q - 0.4) > 1e-15) throw new Error(`got ${q}`);
 * ```
 */
export function gaussLegendre(n: number): QuadratureRule {
  if (!Number.isInteger(n) || n < 1 || n > MAX_GAUSS_LEGENDRE_NODES) {
    throw new RangeError(`gaussLegendre: n must be an integer in [1, ${MAX_GAUSS_LEGENDRE_NODES}], got ${n}`);
  }
  let rule = cache.get(n);
  if (!rule) {
    rule = compute(n);
    cache.set(n, rule);
  }
  return { nodes: rule.nodes.slice(), weights: rule.weights.slice() };
}

/**
 * The n-point rule for ∫_a^b: nodes τ = (b − a)/2·x + (a + b)/2 ordered from
 * a towards b, weights (b − a)/2·w. When b < a the nodes descend and the
 * weights are negative, so Σ wᵢ g(τᵢ) ≈ ∫_a^b g = −∫_b^a g.
 *
 * @throws {RangeError} when n is out of range or a, b are not finite.
 *
 * @example ∫₀² t dt = 2, and backwards
 * ```ts
 * import { mapToInterval } from "./gauss_legendre.ts";
 * const fwd = mapToInterval(2, 0, 2), bwd = mapToInterval(2, 2, 0);
 * const q = (r: typeof fwd) => r.nodes.reduce((s, t, i) => s + r.weights[i]! * t, 0);
 * if (Math.abs(q(fwd) - 2) > 1e-14 || Math.abs(q(bwd) + 2) > 1e-14) throw new Error("wrong");
 * if (!(bwd.nodes[0]! > bwd.nodes[1]!)) throw new Error("nodes should run from 2 towards 0");
 * ```
 */
export function mapToInterval(n: number, a: number, b: number): QuadratureRule {
  if (!Number.isFinite(a) || !Number.isFinite(b)) {
    throw new RangeError(`mapToInterval: interval ends must be finite, got a = ${a}, b = ${b}`);
  }
  const { nodes, weights } = gaussLegendre(n);
  const half = (b - a) / 2, mid = (a + b) / 2;
  for (let i = 0; i < n; i++) {
    nodes[i] = half * nodes[i]! + mid;
    weights[i] = half * weights[i]!;
  }
  return { nodes, weights };
}
