import assert from "node:assert/strict";
import { type ButcherTableau, defineTableau, DOPRI5_TABLEAU } from "./tableau.ts";
import { SOLVERS } from "./solver.ts";

// Rooted trees up to order 9, each as the sorted ids of its children; trees[id], ordersOf[id].
const trees: number[][] = [];
const orderOf: number[] = [];
const byOrder: number[][] = [[], []];
trees.push([]);
orderOf.push(1);
byOrder[1]!.push(0);
for (let n = 2; n <= 9; n++) {
  byOrder.push([]);
  // Multisets of child ids (non-decreasing) whose orders sum to n − 1.
  const build = (rest: number, minId: number, acc: number[]) => {
    if (rest === 0) {
      trees.push([...acc]);
      orderOf.push(n);
      byOrder[n]!.push(trees.length - 1);
      return;
    }
    for (let id = minId; id < trees.length && orderOf[id]! < n; id++) {
      if (orderOf[id]! <= rest) build(rest - orderOf[id]!, id, [...acc, id]);
    }
  };
  const before = trees.length;
  build(n - 1, 0, []);
  assert.ok(trees.length > before);
}

function gamma(id: number): number {
  return orderOf[id]! * trees[id]!.reduce((p, c) => p * gamma(c), 1);
}

/** Residuals Σ b_i Φ_i(t) − 1/γ(t) for every tree of the given order. */
function residuals(tab: ButcherTableau, b: readonly number[], order: number): number[] {
  const s = tab.stages;
  const memo = new Map<number, Float64Array>();
  const phi = (id: number): Float64Array => {
    const hit = memo.get(id);
    if (hit) return hit;
    const out = new Float64Array(s).fill(1);
    for (const child of trees[id]!) {
      const pc = phi(child);
      for (let i = 0; i < s; i++) {
        let acc = 0;
        tab.a[i]!.forEach((aij, j) => (acc += aij * pc[j]!));
        out[i]! *= acc;
      }
    }
    memo.set(id, out);
    return out;
  };
  return byOrder[order]!.map((id) => b.reduce((acc, bi, i) => acc + bi * phi(id)[i]!, 0) - 1 / gamma(id));
}

Deno.test("rooted trees enumerate 1, 1, 2, 4, 9, 20, 48, 115, 286 trees of orders 1…9", () => {
  assert.deepEqual(byOrder.slice(1).map((l) => l.length), [1, 1, 2, 4, 9, 20, 48, 115, 286]);
});

for (const solver of Object.values(SOLVERS)) {
  const tab = solver.tableau;
  Deno.test(`${tab.name} tableau satisfies every order condition up to its declared order ${tab.order}, not all of the next`, () => {
    for (let q = 1; q <= tab.order; q++) {
      const worst = Math.max(...residuals(tab, tab.b, q).map(Math.abs));
      assert.ok(worst < 1e-12, `${tab.name}: order-${q} conditions violated by ${worst}`);
    }
    const next = Math.max(...residuals(tab, tab.b, tab.order + 1).map(Math.abs));
    assert.ok(
      next > 1e-6,
      `${tab.name}: order ${tab.order + 1} conditions hold too (${next}); the declared order is low`,
    );
  });
  if (tab.bError !== undefined) {
    Deno.test(`${tab.name} embedded method b − bError has order ${tab.errorOrder}, exactly`, () => {
      const bHat = tab.b.map((v, i) => v - tab.bError![i]!);
      for (let q = 1; q <= tab.errorOrder!; q++) {
        const worst = Math.max(...residuals(tab, bHat, q).map(Math.abs));
        assert.ok(worst < 1e-12, `${tab.name} embedded: order-${q} conditions violated by ${worst}`);
      }
      const next = Math.max(...residuals(tab, bHat, tab.errorOrder! + 1).map(Math.abs));
      assert.ok(next > 1e-6, `${tab.name} embedded: order ${tab.errorOrder! + 1} conditions hold too (${next})`);
    });
  }
}

Deno.test("defineTableau() derives fsal and stages for the built-in tableaux", () => {
  const fsal = Object.fromEntries(Object.values(SOLVERS).map((s) => [s.name, [s.tableau.fsal, s.tableau.stages]]));
  assert.deepEqual(fsal, {
    dopri5: [true, 7],
    tsit5: [true, 7],
    bosh3: [true, 4],
    adaptive_heun: [false, 2],
    dopri8: [true, 14],
    euler: [false, 1],
    midpoint: [false, 2],
    rk4: [false, 4],
  });
});

Deno.test("defineTableau() rejects a broken tableau, naming the field and value", () => {
  const good = { name: "heun", c: [0, 1], a: [[], [1]], b: [0.5, 0.5], bError: [-0.5, 0.5], order: 2 };
  assert.equal(defineTableau(good).errorOrder, 1);
  const cases: [string, object, RegExp][] = [
    ["row sum", { a: [[], [0.9]] }, /row a\[1\] sums to 0\.9 but c\[1\] = 1/],
    ["Σb", { b: [0.5, 0.6] }, /weights b sum to 1\.1/],
    ["ΣbError", { bError: [-0.5, 0.25] }, /bError sum to -0\.25/],
    ["implicit", { a: [[0.1], [1]] }, /a\[0\]\[0\] = 0\.1 is on or above the diagonal/],
    ["c[0]", { c: [0.1, 1], a: [[], [1]] }, /c\[0\] must be 0/],
    ["lengths", { b: [1] }, /b has 1 weights but c has 2 stages/],
    ["order", { order: 0 }, /order must be a positive integer, got 0/],
    ["NaN", { c: [0, NaN] }, /c\[1\] must be finite, got NaN/],
  ];
  for (const [what, patch, message] of cases) {
    assert.throws(() => defineTableau({ ...good, ...patch }), (e: unknown) => {
      assert.ok(e instanceof RangeError, what);
      assert.match(e.message, message, what);
      assert.match(e.message, /Tableau "heun"/, what);
      return true;
    });
  }
});

Deno.test("defineTableau() freezes the tableau", () => {
  assert.ok(Object.isFrozen(DOPRI5_TABLEAU) && Object.isFrozen(DOPRI5_TABLEAU.a[3]));
});
