import type { Tensor } from "../onnx/tensor.ts";
import { fromNumbers, tensor } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { bakeParams } from "./bake.ts";
import type { DynamicsModel, Params } from "./dynamics.ts";
import { type Activation, ACTIVATIONS, augmentedMlpDynamics, augmentGraph, mlpDynamics } from "./mlp.ts";
import { secondOrderDynamics } from "./second_order.ts";

const runtime = new Runtime({ threads: 1 });

// ---- plain float64 reference evaluation ----------------------------------------------------------------------------

const ACT: Readonly<Record<Activation, (x: number) => number>> = {
  softplus: (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))),
  tanh: Math.tanh,
  relu: (x) => Math.max(x, 0),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  elu: (x) => (x > 0 ? x : Math.expm1(x)),
};

type Matrix = number[][];

/** rows of x (each [in]) through layers l0…l{n−1}: y = x Wᵀ + b, activation between layers. */
function referenceMlp(x: Matrix, params: Params, layers: number, act: Activation): Matrix {
  let h = x;
  for (let l = 0; l < layers; l++) {
    const w = params[`l${l}.weight`]!, b = params[`l${l}.bias`]!;
    const [out, inp] = w.dims as [number, number];
    h = h.map((row) => {
      assertEquals(row.length, inp);
      return Array.from({ length: out }, (_, o) => {
        let s = Number(b.data[o]);
        for (let i = 0; i < inp; i++) s += row[i]! * Number(w.data[o * inp + i]);
        return l < layers - 1 ? ACT[act](s) : s;
      });
    });
  }
  return h;
}

function rows(t: Tensor): Matrix {
  const [n, d] = t.dims as [number, number];
  return Array.from({ length: n }, (_, i) => Array.from({ length: d }, (_, j) => Number(t.data[i * d + j])));
}

function randomState(rng: Random, batch: number, dim: number, dtype: "float32" | "float64"): Tensor {
  const data = dtype === "float64" ? new Float64Array(batch * dim) : new Float32Array(batch * dim);
  return tensor(rng.fillNormal(data, 0, 1.5), [batch, dim]);
}

async function runDynamics(model: DynamicsModel, t: number, z: Tensor): Promise<Tensor> {
  const s = await runtime.compile(model.dynamics.graph);
  const out = await s.run({ t: fromNumbers([t], [], model.dynamics.dtype), z, ...model.init });
  return out.dz!;
}

const TOL = { float32: 1e-5, float64: 1e-12 } as const;

// ---- agreement with the reference ----------------------------------------------------------------------------------

for (const dtype of ["float32", "float64"] as const) {
  for (const time of ["none", "concat"] as const) {
    Deno.test(`mlpDynamics() matches a float64 TypeScript MLP for every activation (${dtype}, time ${time})`, async () => {
      const rng = new Random(11);
      for (const activation of ACTIVATIONS) {
        const model = mlpDynamics({ stateDim: 3, hidden: [7, 5, 6], activation, time, dtype, seed: 3 });
        const z = randomState(rng, 4, 3, dtype);
        const t = dtype === "float32" ? Math.fround(0.37) : 0.37;
        const got = await runDynamics(model, t, z);
        assertEquals(got.dims, [4, 3]);
        assertEquals(got.dtype, dtype);
        const input = rows(z).map((r) => (time === "concat" ? [...r, t] : r));
        const want = referenceMlp(input, model.init, 4, activation).flat();
        assertClose(Array.from(got.data as Float64Array), want, TOL[dtype], `${activation} ${dtype}`);
      }
    });
  }
}

Deno.test("mlpDynamics() output depends on t only when time is concat", async () => {
  const z = randomState(new Random(2), 3, 2, "float64");
  const timed = mlpDynamics({ stateDim: 2, hidden: [8], time: "concat", dtype: "float64" });
  const plain = mlpDynamics({ stateDim: 2, hidden: [8], dtype: "float64" });
  const [a, b] = [await runDynamics(timed, 0, z), await runDynamics(timed, 1, z)];
  assert(a.data.some((v, i) => v !== b.data[i]), "time-dependent output must change with t");
  const [c, d] = [await runDynamics(plain, 0, z), await runDynamics(plain, 1, z)];
  assertEquals(Array.from(c.data as Float64Array), Array.from(d.data as Float64Array));
});

Deno.test("mlpDynamics() with no hidden layers is the affine map z Wᵀ + b", async () => {
  const model = mlpDynamics({ stateDim: 2, hidden: [], dtype: "float64", seed: 5 });
  assertEquals(model.dynamics.params.map((p) => p.name), ["l0.weight", "l0.bias"]);
  const z = fromNumbers([1, 0, 0, 1], [2, 2], "float64");
  const got = Array.from((await runDynamics(model, 0, z)).data as Float64Array);
  const w = model.init["l0.weight"]!.data as Float64Array, b = model.init["l0.bias"]!.data as Float64Array;
  // Row e_j gives column j of W plus b.
  assertClose(got, [w[0]! + b[0]!, w[2]! + b[1]!, w[1]! + b[0]!, w[3]! + b[1]!], 1e-15);
});

Deno.test("augmentedMlpDynamics() runs on the encoder's zero-padded state like the reference", async () => {
  for (const dtype of ["float32", "float64"] as const) {
    const model = augmentedMlpDynamics({ dataDim: 2, extra: 3, hidden: [6, 6], time: "concat", dtype, seed: 9 });
    assertEquals(model.dynamics.stateShape, [5]);
    const x = randomState(new Random(4), 3, 2, dtype);
    const z0 = (await (await runtime.compile(model.encoder)).run({ x })).z0!;
    assertEquals(z0.dims, [3, 5]);
    const expectedZ0 = rows(x).map((r) => [...r, 0, 0, 0]);
    assertEquals(rows(z0), expectedZ0);
    const got = await runDynamics(model, 0.5, z0);
    const want = referenceMlp(expectedZ0.map((r) => [...r, 0.5]), model.init, 3, "softplus").flat();
    assertClose(Array.from(got.data as Float64Array), want, TOL[dtype], dtype);
  }
});

Deno.test("augmentGraph() with extra 0 passes x through, and rejects a negative extra naming the field", async () => {
  const g = augmentGraph(3, 0, "float64");
  const x = fromNumbers([1, 2, 3], [1, 3], "float64");
  assertEquals(Array.from((await (await runtime.compile(g)).run({ x })).z0!.data as Float64Array), [1, 2, 3]);
  assertThrows(() => augmentGraph(3, -1), RangeError, /extra must be a non-negative integer, got -1/);
  assertThrows(() => augmentGraph(0, 2), RangeError, /dataDim/);
});

for (const dtype of ["float32", "float64"] as const) {
  Deno.test(`secondOrderDynamics() returns [v, a(x, v, t)] with a matching the reference (${dtype})`, async () => {
    for (const time of ["none", "concat"] as const) {
      const model = secondOrderDynamics({ dim: 2, hidden: [9, 4], activation: "tanh", time, dtype, seed: 1 });
      assertEquals(model.dynamics.stateShape, [4]);
      const z = randomState(new Random(8), 5, 4, dtype);
      const t = 1.25;
      const got = rows(await runDynamics(model, t, z));
      const zr = rows(z);
      const acc = referenceMlp(zr.map((r) => (time === "concat" ? [...r, t] : r)), model.init, 3, "tanh");
      got.forEach((row, i) => {
        assertEquals(row.slice(0, 2), zr[i]!.slice(2), "first half must be v exactly");
        assertClose(row.slice(2), acc[i]!, TOL[dtype], `acceleration row ${i}`);
      });
    }
  });
}

// ---- initialisation ------------------------------------------------------------------------------------------------

Deno.test("mlpDynamics() initialises like nn.Linear: U(±1/√fan_in), spread over the whole range", () => {
  const { init } = mlpDynamics({ stateDim: 4, hidden: [400, 100], time: "concat", seed: 21 });
  const fanIns: Record<string, number> = { l0: 5, l1: 400, l2: 100 };
  for (const [layer, fanIn] of Object.entries(fanIns)) {
    for (const kind of ["weight", "bias"]) {
      const data = Array.from(init[`${layer}.${kind}`]!.data as Float32Array);
      const bound = 1 / Math.sqrt(fanIn);
      const max = Math.max(...data.map(Math.abs));
      assert(max <= bound, `${layer}.${kind}: |θ| ${max} exceeds ${bound}`);
      if (data.length >= 100) {
        assert(max > 0.95 * bound, `${layer}.${kind}: max |θ| ${max} should approach ${bound}`);
        const mean = data.reduce((a, b) => a + b, 0) / data.length;
        const variance = data.reduce((a, b) => a + (b - mean) ** 2, 0) / data.length;
        // U(−c, c) has variance c²/3; n ≥ 100 keeps the sample within ~30 % of it.
        assertClose(variance, bound ** 2 / 3, 0.3, `${layer}.${kind} variance`);
        assert(Math.abs(mean) < 4 * bound / Math.sqrt(3 * data.length), `${layer}.${kind}: mean ${mean}`);
      }
    }
  }
});

Deno.test("mlpDynamics() gives the same θ for the same seed and different θ for different seeds", () => {
  const opts = { stateDim: 3, hidden: [16, 16], dtype: "float64" } as const;
  const a = mlpDynamics({ ...opts, seed: 1 }).init, b = mlpDynamics({ ...opts, seed: 1 }).init;
  const c = mlpDynamics({ ...opts, seed: 2 }).init;
  for (const name of Object.keys(a)) {
    assertEquals(Array.from(a[name]!.data as Float64Array), Array.from(b[name]!.data as Float64Array));
    const differs = (a[name]!.data as Float64Array).some((v, i) => v !== c[name]!.data[i]);
    assert(differs, `${name} should differ between seeds 1 and 2`);
  }
});

// ---- option checks -------------------------------------------------------------------------------------------------

Deno.test("mlpDynamics() rejects bad options with errors naming the field and value", () => {
  const ok = { stateDim: 2, hidden: [4] };
  assertThrows(
    () => mlpDynamics({ ...ok, hidden: [4, 0] }),
    RangeError,
    /hidden\[1\] must be a positive integer, got 0/,
  );
  assertThrows(() => mlpDynamics({ ...ok, stateDim: 0 }), RangeError, /stateDim must be a positive integer, got 0/);
  assertThrows(
    () => mlpDynamics({ ...ok, activation: "gelu" as Activation }),
    RangeError,
    /activation must be one of softplus, tanh, relu, sigmoid, elu, got "gelu"/,
  );
  assertThrows(() => mlpDynamics({ ...ok, time: "add" as "none" }), RangeError, /time must be one of/);
  assertThrows(() => mlpDynamics({ ...ok, dtype: "float16" as "float32" }), RangeError, /dtype must be one of/);
  assertThrows(() => mlpDynamics({ ...ok, seed: 0.5 }), RangeError, /seed must be an integer, got 0.5/);
  assertThrows(() => mlpDynamics({ ...ok, widths: [3] } as never), TypeError, /Unknown option "widths"/);
  assertThrows(() => secondOrderDynamics({ dim: 1, hidden: [2.5] }), RangeError, /hidden\[0\]/);
});

// ---- baking --------------------------------------------------------------------------------------------------------

Deno.test("bakeParams() gives a graph with inputs t, z only that computes the same dz", async () => {
  const model = mlpDynamics({ stateDim: 3, hidden: [10, 10], time: "concat", dtype: "float64", seed: 4 });
  const baked = bakeParams(model.dynamics, model.init);
  assertEquals(baked.inputs.map((v) => v.name), ["t", "z"]);
  const z = randomState(new Random(1), 6, 3, "float64");
  const t = fromNumbers([0.2], [], "float64");
  const fromBaked = (await (await runtime.compile(baked)).run({ t, z })).dz!;
  const fromInputs = await runDynamics(model, 0.2, z);
  assertEquals(Array.from(fromBaked.data as Float64Array), Array.from(fromInputs.data as Float64Array));
});

Deno.test("bakeParams() rejects missing, misshapen and unknown parameters", () => {
  const { dynamics, init } = mlpDynamics({ stateDim: 2, hidden: [3] });
  const { ["l1.bias"]: _, ...missing } = init;
  assertThrows(() => bakeParams(dynamics, missing), TypeError, /"l1.bias".*no value/);
  assertThrows(
    () => bakeParams(dynamics, { ...init, "l0.bias": fromNumbers([1, 2], [2]) }),
    TypeError,
    /"l0.bias".*must be float32\[3\], got float32\[2\]/,
  );
  assertThrows(() => bakeParams(dynamics, { ...init, extra: fromNumbers([1], [1]) }), RangeError, /"extra" is not/);
});
