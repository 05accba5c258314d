/**
 * Cost of the fused VJP graphs relative to f alone, for MLP dynamics
 * (two hidden softplus layers, time-dependent, float32) of widths 100–2000
 * at batch 200 and state 5 — the nested-spheres regime.
 *
 * The GQ backward dynamics (f, −aᵀ∂f/∂z) skips every ∂f/∂θ product, so it
 * should cost clearly less than the adjoint's augmented dynamics (f and all
 * of −aᵀ∂f/∂[z, t, θ]); the table's last column is that ratio. One ORT
 * thread, so the numbers do not depend on what else the machine runs.
 * Results go to reports/bench/vjp.json.
 *
 * @module
 */
import { adjointDynamicsGraph, gqBackwardGraph, gqIntegrandGraph } from "../src/gradients/fused_graphs.ts";
import { mlpDynamics } from "../src/models/mlp.ts";
import type { Graph } from "../src/onnx/graph.ts";
import { type Tensor, tensor } from "../src/onnx/tensor.ts";
import { Runtime } from "../src/runtime/session.ts";
import { Random } from "../src/util/random.ts";
import { median, printTable, timeRepeats, writeJson } from "./_report.ts";

/** One width's timings: milliseconds per call and ratios to f. */
export interface VjpRecord {
  width: number;
  batch: number;
  state: number;
  params: number;
  f_ms: number;
  adjoint_x: number;
  gq_backward_x: number;
  gq_integrand_x: number;
  gq_backward_vs_adjoint: number;
}

async function measure(rt: Runtime, width: number, batch: number, state: number, quick: boolean): Promise<VjpRecord> {
  const { dynamics, init } = mlpDynamics({ stateDim: state, hidden: [width, width], time: "concat", seed: 1 });
  const rng = new Random(3);
  const vec = (n: number, dims: number[]) => tensor(rng.fillNormal(new Float32Array(n)), dims);
  const feeds: Record<string, Tensor> = { ...init, t: vec(1, []), z: vec(batch * state, [batch, state]) };
  const a = vec(batch * state, [batch, state]);
  const time = async (graph: Graph, withA: boolean) => {
    const s = await rt.compile(graph);
    const f = withA ? { ...feeds, a } : feeds;
    const ms = await timeRepeats(() => s.run(f), { repeats: quick ? 10 : 50, warmup: 3, budgetMs: quick ? 300 : 3000 });
    return median(ms);
  };
  const f = await time(dynamics.graph, false);
  const adjoint = await time(adjointDynamicsGraph(dynamics).graph, true);
  const gqb = await time(gqBackwardGraph(dynamics).graph, true);
  const gqi = await time(gqIntegrandGraph(dynamics).graph, true);
  return {
    width,
    batch,
    state,
    params: Object.values(init).reduce((s, t) => s + t.data.length, 0),
    f_ms: f,
    adjoint_x: adjoint / f,
    gq_backward_x: gqb / f,
    gq_integrand_x: gqi / f,
    gq_backward_vs_adjoint: gqb / adjoint,
  };
}

/** Runs the benchmark, prints its table and writes reports/bench/vjp.json. */
export async function run(options: { quick?: boolean } = {}): Promise<void> {
  const quick = options.quick ?? false;
  const widths = quick ? [100, 500] : [100, 500, 1000, 2000];
  const rt = new Runtime({ threads: 1 });
  const rows: VjpRecord[] = [];
  try {
    for (const w of widths) rows.push(await measure(rt, w, 200, 5, quick));
  } finally {
    await rt.dispose();
  }
  printTable(
    "Fused VJP graphs: time per call relative to f (MLP 2×width softplus, batch 200, state 5, float32)",
    rows,
    [
      "width",
      "params",
      "f_ms",
      "adjoint_x",
      "gq_backward_x",
      "gq_integrand_x",
      "gq_backward_vs_adjoint",
    ],
  );
  const path = await writeJson("vjp", { quick, threads: 1, rows });
  console.log(`wrote ${path}`);
}

if (import.meta.main) await run({ quick: Deno.args.includes("--quick") });
