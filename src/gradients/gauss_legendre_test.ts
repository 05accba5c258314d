import assert from "node:assert/strict";
import { gaussLegendre, mapToInterval } from "./gauss_legendre.ts";

const fixture = new URL("../../tests/fixtures/gauss_legendre_1_64.json", import.meta.url);
const reference: Record<string, { nodes: number[]; weights: number[] }> = JSON.parse(
  Deno.readTextFileSync(fixture),
).rules;

Deno.test("gaussLegendre() matches numpy's leggauss to 1e-14 for n = 1…64", () => {
  for (let n = 1; n <= 64; n++) {
    const { nodes, weights } = gaussLegendre(n);
    const ref = reference[String(n)]!;
    assert.equal(nodes.length, n);
    for (let i = 0; i < n; i++) {
      assert.ok(
        Math.abs(nodes[i]! - ref.nodes[i]!) <= 1e-14,
        `n = ${n}: node ${i} is ${nodes[i]}, numpy ${ref.nodes[i]}`,
      );
      assert.ok(
        Math.abs(weights[i]! - ref.weights[i]!) <= 1e-14,
        `n = ${n}: weight ${i} is ${weights[i]}, numpy ${ref.weights[i]}`,
      );
    }
  }
});

Deno.test("gaussLegendre() integrates polynomials of degree 2n − 1 exactly and not 2n", () => {
  for (let n = 1; n <= 64; n++) {
    const { nodes, weights } = gaussLegendre(n);
    // Legendre-weighted monomials grow badly at high degree; test ∫ x^d and ∫ P-like sums via (1+x)^d/2^d.
    for (const d of [2 * n - 2, 2 * n - 1]) {
      const q = nodes.reduce((s, x, i) => s + weights[i]! * ((1 + x) / 2) ** d, 0);
      const exact = 2 / (d + 1); // ∫₋₁¹ ((1+x)/2)^d dx
      assert.ok(Math.abs(q - exact) <= 1e-13 * exact + 1e-15, `n = ${n}, degree ${d}: ${q} vs ${exact}`);
    }
    // Degree 2n is not exact: ∫ x^(2n) differs from the rule (the error is ∝ the leading coefficient of P_n²).
    if (n <= 10) {
      const d = 2 * n;
      const q = nodes.reduce((s, x, i) => s + weights[i]! * x ** d, 0);
      assert.ok(Math.abs(q - 2 / (d + 1)) > 1e-6, `n = ${n}: degree ${d} should not be exact`);
    }
  }
});

Deno.test("gaussLegendre() rejects n outside 1…64 with a RangeError naming n", () => {
  for (const n of [0, 65, 2.5, NaN]) {
    assert.throws(() => gaussLegendre(n), (e: unknown) => e instanceof RangeError && e.message.includes(`got ${n}`));
  }
});

Deno.test("gaussLegendre() returns copies that do not corrupt the cache", () => {
  const a = gaussLegendre(5);
  a.nodes[0] = 123;
  assert.notEqual(gaussLegendre(5).nodes[0], 123);
});

Deno.test("mapToInterval() integrates over [a, b] in either direction with nodes ordered from a to b", () => {
  const g = (t: number) => Math.exp(t) * Math.cos(3 * t);
  const G = (t: number) => Math.exp(t) * (Math.cos(3 * t) + 3 * Math.sin(3 * t)) / 10;
  for (const [a, b] of [[0.5, 2], [2, 0.5], [-3, -1]] as const) {
    const { nodes, weights } = mapToInterval(20, a, b);
    const q = nodes.reduce((s, t, i) => s + weights[i]! * g(t), 0);
    assert.ok(Math.abs(q - (G(b) - G(a))) < 1e-13, `[${a}, ${b}]: ${q} vs ${G(b) - G(a)}`);
    for (let i = 1; i < nodes.length; i++) {
      assert.ok((nodes[i]! - nodes[i - 1]!) * (b - a) > 0, "nodes run from a to b");
    }
    assert.ok(nodes.every((t) => t > Math.min(a, b) && t < Math.max(a, b)));
    const sum = weights.reduce((s, w) => s + w, 0);
    assert.ok(Math.abs(sum - (b - a)) < 1e-14, `weights sum to b − a, got ${sum}`);
  }
  assert.throws(() => mapToInterval(3, 0, Infinity), RangeError);
});
