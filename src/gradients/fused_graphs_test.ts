/**
 * The fused graphs: dot-product tests against finite differences, agreement
 * with single-purpose VJP graphs, float32 against float64, exact zeros for
 * unused parameters.
 */
import { GraphBuilder } from "../onnx/builder.ts";
import { asDynamics, type Dynamics, DYNAMICS_NAMES } from "../models/dynamics.ts";
import { mlpDynamics } from "../models/mlp.ts";
import { secondOrderDynamics } from "../models/second_order.ts";
import { type Tensor, tensor, toNumbers } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assert, assertClose, assertEquals } from "../util/testing.ts";
import {
  adjointDynamicsGraph,
  gqBackwardGraph,
  gqIntegrandGraph,
  paramVjpBatchGraph,
  writeFusedGraphs,
} from "./fused_graphs.ts";
import { vjpGraph } from "../autodiff/vjp.ts";

const rt = new Runtime({ threads: 1 });
const BATCH = 4;
/** The dynamics contract's graph names: the built models' time and state inputs and their output. */
const { time: T, state: Z, derivative: DZ } = DYNAMICS_NAMES;

/** A time-dependent MLP with one extra parameter that f does not use. */
function withUnused(dyn: Dynamics): Dynamics {
  const b = GraphBuilder.from(dyn.graph);
  b.input("unused", dyn.dtype, [2, 3]);
  return asDynamics(b.build());
}

function models(dtype: "float32" | "float64"): [string, Dynamics][] {
  return [
    [
      "time-dependent softplus MLP",
      withUnused(mlpDynamics({ stateDim: 3, hidden: [6, 5], time: "concat", dtype, seed: 3 }).dynamics),
    ],
    [
      "second-order tanh MLP",
      secondOrderDynamics({ dim: 2, hidden: [5], activation: "tanh", time: "concat", dtype, seed: 4 }).dynamics,
    ],
  ];
}

function random(dtype: "float32" | "float64", dims: readonly number[], rng: Random): Tensor {
  const n = dims.reduce((a, d) => a * d, 1);
  const v = Float64Array.from({ length: n }, () => rng.normal());
  return tensor(dtype === "float64" ? v : Float32Array.from(v), dims);
}

/** Inputs t, z, params and a of a dynamics, drawn from `seed`. */
function feedsOf(dyn: Dynamics, seed: number, dtype = dyn.dtype): Record<string, Tensor> {
  const rng = new Random(seed);
  const zDims = [BATCH, ...dyn.stateShape];
  const feeds: Record<string, Tensor> = {
    [T]: random(dtype, [], rng),
    [Z]: random(dtype, zDims, rng),
    a: random(dtype, zDims, rng),
  };
  for (const p of dyn.params) feeds[p.name] = random(dtype, p.shape, rng);
  return feeds;
}

const dot = (x: Tensor, y: Tensor) => toNumbers(x).reduce((s, v, i) => s + v * toNumbers(y)[i]!, 0);

/** ⟨c, J u⟩ by central differences of f along u (all of z, t, θ moved together where `u` has them). */
async function directional(dyn: Dynamics, feeds: Record<string, Tensor>, u: Record<string, Tensor>, c: Tensor) {
  const f = await rt.compile(dyn.graph);
  const h = 1e-6;
  const at = async (s: number) => {
    const moved: Record<string, Tensor> = {};
    for (const input of dyn.graph.inputs) {
      const x = feeds[input.name]!;
      const d = u[input.name];
      moved[input.name] = d
        ? tensor(Float64Array.from(toNumbers(x), (v, i) => v + s * h * toNumbers(d)[i]!), x.dims)
        : x;
    }
    return dot((await f.run(moved))[DZ]!, c);
  };
  return ((await at(1)) - (await at(-1))) / (2 * h);
}

/** The feeds of f itself. */
function fInputs(dyn: Dynamics, feeds: Record<string, Tensor>) {
  const out: Record<string, Tensor> = {};
  for (const i of dyn.graph.inputs) out[i.name] = feeds[i.name]!;
  return out;
}

/** The feeds of a fused graph: f's and the adjoint. */
function inputsOf(dyn: Dynamics, feeds: Record<string, Tensor>) {
  return { ...fInputs(dyn, feeds), a: feeds.a! };
}

for (const [label, dyn] of models("float64")) {
  const feeds = feedsOf(dyn, 11);
  const u = feedsOf(dyn, 12);
  const negA = tensor(Float64Array.from(toNumbers(feeds.a!), (v) => -v), feeds.a!.dims);
  const paramDot = (out: Record<string, Tensor>, names: Readonly<Record<string, string>>) =>
    dyn.params.reduce((s, p) => s + dot(out[names[p.name]!]!, u[p.name]!), 0);

  Deno.test(`adjointDynamicsGraph() passes the dot-product test on the ${label}`, async () => {
    const fused = adjointDynamicsGraph(dyn);
    const out = await (await rt.compile(fused.graph)).run(inputsOf(dyn, feeds));
    const f = await (await rt.compile(dyn.graph)).run(fInputs(dyn, feeds));
    assertClose(toNumbers(out[fused.outputs.dz]!), toNumbers(f[DZ]!), 1e-14, "dz");
    const lhs = await directional(dyn, feeds, u, negA);
    const rhs = dot(out[fused.outputs.da]!, u[Z]!) + dot(out[fused.outputs.dt]!, u[T]!) +
      paramDot(out, fused.outputs.params);
    assertClose(rhs, lhs, 1e-7, "⟨−a, J u⟩");
  });

  Deno.test(`gqBackwardGraph() passes the dot-product test on the ${label}`, async () => {
    const fused = gqBackwardGraph(dyn);
    const out = await (await rt.compile(fused.graph)).run(inputsOf(dyn, feeds));
    const lhs = await directional(dyn, feeds, { [Z]: u[Z]! }, negA);
    assertClose(dot(out[fused.outputs.da]!, u[Z]!), lhs, 1e-7, "⟨−a, J_z u⟩");
  });

  Deno.test(`gqIntegrandGraph() passes the dot-product test on the ${label}`, async () => {
    const fused = gqIntegrandGraph(dyn);
    const out = await (await rt.compile(fused.graph)).run(inputsOf(dyn, feeds));
    const { [Z]: _z, ...uNoZ } = u;
    const lhs = await directional(dyn, feeds, uNoZ, feeds.a!);
    const rhs = dot(out[fused.outputs.dt]!, u[T]!) + paramDot(out, fused.outputs.params);
    assertClose(rhs, lhs, 1e-7, "⟨a, J_(t,θ) u⟩");
  });

  Deno.test(`paramVjpBatchGraph() sums the integrand over its points and adds the accumulator on the ${label}`, async () => {
    const integrand = gqIntegrandGraph(dyn);
    const single = await rt.compile(integrand.graph);
    const count = 3;
    const points = Array.from({ length: count }, (_, i) => feedsOf(dyn, 40 + i));
    const hasTime = dyn.graph.inputs.some((v) => v.name === T);
    const expected: Record<string, number[]> = {};
    let expectedT = 0.25; // the accumulator's time entry
    for (const point of points) {
      const out = await single.run(
        inputsOf(dyn, { ...feeds, [Z]: point[Z]!, a: point.a!, ...(hasTime ? { [T]: point[T]! } : {}) }),
      );
      for (const p of dyn.params) {
        const g = toNumbers(out[integrand.outputs.params[p.name]!]!);
        expected[p.name] = (expected[p.name] ?? g.map((_, i) => i * 0.01)).map((v, i) => v + g[i]!);
      }
      if (hasTime) expectedT += toNumbers(out[integrand.outputs.dt]!)[0]!;
    }
    const { graph, names } = paramVjpBatchGraph(dyn, count, true);
    const stack = (key: string) => {
      const parts = points.map((p) => p[key]!);
      return tensor(Float64Array.from(parts.flatMap((t) => toNumbers(t))), [count, ...parts[0]!.dims]);
    };
    const batchFeeds: Record<string, Tensor> = { [names.z]: stack(Z), [names.a]: stack("a") };
    if (names.t) batchFeeds[names.t] = tensor(Float64Array.from(points.map((p) => toNumbers(p[T]!)[0]!)), [count]);
    for (const p of dyn.params) {
      batchFeeds[p.name] = feeds[p.name]!;
      const size = feeds[p.name]!.data.length;
      batchFeeds[names.accumulators!.params[p.name]!] = tensor(
        Float64Array.from({ length: size }, (_, i) => i * 0.01),
        feeds[p.name]!.dims,
      );
    }
    batchFeeds[names.accumulators!.t] = tensor(Float64Array.of(0.25), []);
    const out = await (await rt.compile(graph)).run(batchFeeds);
    for (const p of dyn.params) {
      assertClose(toNumbers(out[names.outputs.params[p.name]!]!), expected[p.name]!, 1e-13, p.name);
    }
    if (hasTime) assertClose(toNumbers(out[names.outputs.t]!)[0]!, expectedT, 1e-13, "t");
  });

  Deno.test(`fused graphs equal f plus single-purpose VJP graphs on the ${label}`, async () => {
    const f = (await (await rt.compile(dyn.graph)).run(fInputs(dyn, feeds)))[DZ]!;
    // One VJP graph per input, without f's output, cotangent a.
    const single: Record<string, number[]> = {};
    for (const input of dyn.graph.inputs) {
      const g = vjpGraph(dyn.graph, { of: [DZ], wrt: [input.name], keepOutputs: false });
      const rest = fInputs(dyn, feeds);
      single[input.name] = toNumbers(
        (await (await rt.compile(g)).run({ ...rest, [`grad_${DZ}`]: feeds.a! }))[`grad_${input.name}`]!,
      );
    }
    const neg = (xs: number[]) => xs.map((v) => -v);
    const adj = adjointDynamicsGraph(dyn),
      gqb = gqBackwardGraph(dyn),
      gqi = gqIntegrandGraph(dyn);
    const run = async (g: typeof adj.graph) => await (await rt.compile(g)).run(inputsOf(dyn, feeds));
    const [oa, ob, oi] = [await run(adj.graph), await run(gqb.graph), await run(gqi.graph)];
    const same = (x: Tensor, y: number[], what: string) => assertClose(toNumbers(x), y, 1e-13, what);
    same(oa[adj.outputs.dz]!, toNumbers(f), "adjoint dz");
    same(ob[gqb.outputs.dz]!, toNumbers(f), "gq backward dz");
    same(oa[adj.outputs.da]!, neg(single[Z]!), "adjoint da");
    same(ob[gqb.outputs.da]!, neg(single[Z]!), "gq backward da");
    same(oa[adj.outputs.dt]!, neg(single[T]!), "adjoint dt");
    same(oi[gqi.outputs.dt]!, single[T]!, "gq integrand dt");
    for (const p of dyn.params) {
      same(oa[adj.outputs.params[p.name]!]!, neg(single[p.name]!), `adjoint ${p.name}`);
      same(oi[gqi.outputs.params[p.name]!]!, single[p.name]!, `gq integrand ${p.name}`);
    }
  });
}

Deno.test("fused graphs give an unused parameter exact zeros", async () => {
  const [, dyn] = models("float64")[0]!;
  const feeds = feedsOf(dyn, 5);
  for (const fused of [adjointDynamicsGraph(dyn), gqIntegrandGraph(dyn)]) {
    const out = await (await rt.compile(fused.graph)).run(inputsOf(dyn, feeds));
    const g = out[fused.outputs.params["unused"]!]!;
    assertEquals(g.dims, [2, 3]);
    assert(toNumbers(g).every((v) => Object.is(v, 0)), `${fused.graph.name}: ${toNumbers(g)}`);
    // A used parameter is not zero.
    assert(toNumbers(out[fused.outputs.params["l0.weight"]!]!).some((v) => v !== 0));
  }
});

Deno.test("gqBackwardGraph() has no θ-cotangent work: fewer nodes than the adjoint graph, no parameter-shaped values", () => {
  const [, dyn] = models("float64")[0]!;
  const gq = gqBackwardGraph(dyn).graph, adj = adjointDynamicsGraph(dyn).graph;
  assert(gq.nodes.length < adj.nodes.length, `${gq.nodes.length} vs ${adj.nodes.length}`);
  // The weight cotangents are [out, in] matrices; the backward-only graph computes none.
  const weightShapes = dyn.params.filter((p) => p.shape.length === 2).map((p) => p.shape.join());
  const produced = gq.nodes.flatMap((n) => n.outputs).map((o) => gq.valueInfo.get(o)?.shape.join());
  assertEquals(produced.filter((s) => s !== undefined && weightShapes.includes(s)), []);
});

Deno.test("fused graphs in float32 agree with float64 to 1e-4", async () => {
  const m32 = models("float32"), m64 = models("float64");
  for (let k = 0; k < m32.length; k++) {
    const [label, d32] = m32[k]!, d64 = m64[k]![1];
    const f64 = feedsOf(d64, 21);
    const f32: Record<string, Tensor> = {};
    for (const [n, t] of Object.entries(f64)) f32[n] = tensor(Float32Array.from(t.data as Float64Array), t.dims);
    const builders = [adjointDynamicsGraph, gqBackwardGraph, gqIntegrandGraph] as const;
    for (const build of builders) {
      const g32 = build(d32), g64 = build(d64);
      const o32 = await (await rt.compile(g32.graph)).run(inputsOf(d32, f32));
      const o64 = await (await rt.compile(g64.graph)).run(inputsOf(d64, f64));
      for (const o of g64.graph.outputs) {
        assertClose(toNumbers(o32[o.name]!), toNumbers(o64[o.name]!), 1e-4, `${label} ${g64.graph.name} ${o.name}`);
      }
    }
  }
});

Deno.test("fused graphs rename the adjoint input when the dynamics has a parameter called a", async () => {
  const b = new GraphBuilder("linear");
  const t = b.input("t", "float64", []);
  const z = b.input("z", "float64", ["batch", 1]);
  const a = b.input("a", "float64", [1]);
  b.output(b.op1("Mul", [b.op1("Mul", [z, a]), t]), "dz");
  const dyn = asDynamics(b.build());
  const fused = adjointDynamicsGraph(dyn);
  assertEquals(fused.inputs.a, "a_1");
  const out = await (await rt.compile(fused.graph)).run({
    t: tensor(Float64Array.of(2), []),
    z: tensor(Float64Array.of(3, 5), [2, 1]),
    a: tensor(Float64Array.of(0.5), [1]),
    a_1: tensor(Float64Array.of(1, 10), [2, 1]),
  });
  // f = a·z·t: −adjᵀ∂f/∂a = −Σ adj·z·t = −(3 + 50)·2; ∂/∂t = −Σ adj·a·z = −(1.5 + 25).
  assertEquals(toNumbers(out[fused.outputs.params["a"]!]!), [-106]);
  assertEquals(toNumbers(out[fused.outputs.dt]!), [-26.5]);
  assertEquals(toNumbers(out[fused.outputs.da]!), [-1, -10]);
});

Deno.test("writeFusedGraphs() writes f and the three fused graphs", async () => {
  const dir = await Deno.makeTempDir();
  const [, dyn] = models("float64")[0]!;
  const paths = await writeFusedGraphs(dyn, dir);
  assertEquals(paths.length, 4);
  for (const p of paths) assert((await Deno.stat(p)).size > 100, p);
  await Deno.remove(dir, { recursive: true });
});
