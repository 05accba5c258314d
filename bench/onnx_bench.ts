/**
 * What one evaluation of MLP dynamics costs in ONNX Runtime, and what a
 * training step would pay for baking θ into the graph.
 *
 * For widths 5, 100, 1000, 2000 (2 hidden layers, batch 200, state 5,
 * float32): the median `session.run` time with θ fed as graph inputs; the
 * median run time with θ baked in as initializers (ONNX Runtime may prepack
 * them); and the median time to build that baked session (bake, encode,
 * create), which a training step would pay after every θ update; and one
 * Softplus of the hidden layer's size [200, width], through ORT's own kernel
 * and as the runtime runs it on the CPU (lowered into faster kernels, see
 * `lowerForCpuSpeed`). Achieved GFLOP/s are set against a plain 1024³ MatMul
 * measured in the same run.
 * Read the ratios, not the absolute times. Results go to
 * reports/bench/onnx.json.
 *
 * @module
 */
import { bakeParams } from "../src/models/bake.ts";
import { mlpDynamics } from "../src/models/mlp.ts";
import { GraphBuilder } from "../src/onnx/builder.ts";
import { tensor } from "../src/onnx/tensor.ts";
import { Runtime } from "../src/runtime/session.ts";
import { Random } from "../src/util/random.ts";
import * as ort from "onnxruntime-node";
import { encodeModel } from "../src/onnx/proto.ts";
import { median, printTable, timeRepeats, writeJson } from "./_report.ts";

/** One width's measurements (times in milliseconds). */
export interface OnnxRecord {
  width: number;
  params: number;
  /** Multiply-adds ×2 of one forward evaluation. */
  flops: number;
  run_inputs_ms: number;
  run_baked_ms: number;
  create_baked_ms: number;
  /** run_baked_ms / run_inputs_ms: below 1 when prepacked weights help. */
  baked_over_inputs: number;
  /** (create_baked_ms + run_baked_ms) / run_inputs_ms: a baked training step's cost per evaluation with inputs. */
  step_baked_over_inputs: number;
  gflops_inputs: number;
  gflops_baked: number;
  /** gflops_inputs / MatMul GFLOP/s. */
  efficiency_inputs: number;
  /** gflops_baked / MatMul GFLOP/s. */
  efficiency_baked: number;
  /** One float32 Softplus of [batch, width] by ORT's kernel. */
  softplus_native_ms: number;
  /** The same as the runtime runs it (`lowerForCpuSpeed`). */
  softplus_lowered_ms: number;
}

const STATE = 5, BATCH = 200;

/** Forward FLOPs of a dense MLP: 2·batch·Σ in·out. */
function mlpFlops(sizes: readonly number[], batch: number): number {
  let f = 0;
  for (let i = 1; i < sizes.length; i++) f += 2 * batch * sizes[i - 1]! * sizes[i]!;
  return f;
}

async function matmulGflops(runtime: Runtime, n: number, budgetMs: number): Promise<{ ms: number; gflops: number }> {
  const b = new GraphBuilder("matmul");
  const x = b.input("a", "float32", [n, n]);
  b.output(b.op1("MatMul", [x, b.input("b", "float32", [n, n])]), "c");
  const s = await runtime.compile(b.build());
  const rng = new Random(3);
  const feeds = {
    a: tensor(rng.fillUniform(new Float32Array(n * n), -1, 1), [n, n]),
    b: tensor(rng.fillUniform(new Float32Array(n * n), -1, 1), [n, n]),
  };
  const ms = median(await timeRepeats(() => s.run(feeds), { repeats: 30, budgetMs }));
  return { ms, gflops: (2 * n ** 3) / (ms * 1e6) };
}

/** One Softplus of [BATCH, width]: ORT's kernel in a session of its own, and the runtime's lowered form. */
async function softplusMs(runtime: Runtime, width: number, repeats: number, budgetMs: number) {
  const b = new GraphBuilder("softplus");
  b.output(b.op1("Softplus", [b.input("x", "float32", [BATCH, width])]), "y");
  const graph = b.build();
  const x = tensor(new Random(4).fillUniform(new Float32Array(BATCH * width), -10, 10), [BATCH, width]);
  const native = await ort.InferenceSession.create(encodeModel(graph), {
    intraOpNumThreads: 0,
    logSeverityLevel: 3,
    // Subnormals flushed, as the runtime's sessions (RuntimeOptions.flushDenormals).
    extra: { session: { intra_op: { allow_spinning: "0" }, set_denormal_as_zero: "1" } },
  });
  const ortX = new ort.Tensor("float32", x.data as Float32Array, [BATCH, width]);
  const nativeMs = median(await timeRepeats(() => native.run({ x: ortX }), { repeats, budgetMs }));
  await native.release();
  const lowered = await runtime.compile(graph);
  const loweredMs = median(await timeRepeats(() => lowered.run({ x }), { repeats, budgetMs }));
  return { softplus_native_ms: nativeMs, softplus_lowered_ms: loweredMs };
}

async function measureWidth(
  runtime: Runtime,
  width: number,
  quick: boolean,
): Promise<Omit<OnnxRecord, `efficiency_${string}`>> {
  const { dynamics, init } = mlpDynamics({ stateDim: STATE, hidden: [width, width], seed: 1 });
  const rng = new Random(2);
  const z = tensor(rng.fillUniform(new Float32Array(BATCH * STATE), -1, 1), [BATCH, STATE]);
  const t = tensor(new Float32Array([0.5]), []);
  const budgetMs = quick ? 200 : 2000;
  const repeats = quick ? 10 : 200;

  const withInputs = await runtime.compile(dynamics.graph);
  const feeds = { t, z, ...init };
  const runInputs = median(await timeRepeats(() => withInputs.run(feeds), { repeats, budgetMs }));

  // A baked session per θ update: a fresh runtime each time, so nothing is reused from a cache.
  let perturb = 0;
  const createTimes: number[] = [];
  let lastBaked: Runtime | undefined;
  const creations = quick ? 2 : width >= 1000 ? 5 : 10;
  for (let i = 0; i < creations + 1; i++) {
    const theta = { ...init, "l0.bias": tensor(Float32Array.from(init["l0.bias"]!.data as Float32Array), [width]) };
    (theta["l0.bias"]!.data as Float32Array)[0]! += ++perturb * 1e-3;
    const rt = new Runtime();
    const t0 = performance.now();
    await rt.compile(bakeParams(dynamics, theta));
    if (i > 0) createTimes.push(performance.now() - t0); // the first creation warms code paths up
    await lastBaked?.dispose();
    lastBaked = rt;
  }
  const baked = await lastBaked!.compile(bakeParams(dynamics, init));
  const runBaked = median(await timeRepeats(() => baked.run({ t, z }), { repeats, budgetMs }));
  await lastBaked!.dispose();

  const createBaked = median(createTimes);
  const flops = mlpFlops([STATE, width, width, STATE], BATCH);
  const params = Object.values(init).reduce((s, p) => s + p.data.length, 0);
  return {
    width,
    params,
    flops,
    run_inputs_ms: runInputs,
    run_baked_ms: runBaked,
    create_baked_ms: createBaked,
    baked_over_inputs: runBaked / runInputs,
    step_baked_over_inputs: (createBaked + runBaked) / runInputs,
    gflops_inputs: flops / (runInputs * 1e6),
    gflops_baked: flops / (runBaked * 1e6),
    ...await softplusMs(runtime, width, repeats, budgetMs),
  };
}

/** Runs the ONNX benchmark; `quick` shortens repeats for a smoke run. */
export async function run(options: { quick?: boolean } = {}): Promise<void> {
  const quick = options.quick ?? false;
  const runtime = new Runtime();
  const matmul = await matmulGflops(runtime, 1024, quick ? 300 : 3000);
  const records: OnnxRecord[] = [];
  for (const width of [5, 100, 1000, 2000]) {
    const r = await measureWidth(runtime, width, quick);
    records.push({
      ...r,
      efficiency_inputs: r.gflops_inputs / matmul.gflops,
      efficiency_baked: r.gflops_baked / matmul.gflops,
    });
  }
  await runtime.dispose();
  console.log(
    `MatMul 1024×1024×1024 float32: median ${matmul.ms.toFixed(2)} ms, ${matmul.gflops.toFixed(1)} GFLOP/s\n`,
  );
  printTable(`MLP dynamics, 2 hidden layers, batch ${BATCH}, state ${STATE}, float32 (medians, ms)`, records, [
    "width",
    "params",
    "run_inputs_ms",
    "run_baked_ms",
    "create_baked_ms",
    "baked_over_inputs",
    "step_baked_over_inputs",
    "gflops_inputs",
    "gflops_baked",
    "efficiency_inputs",
    "efficiency_baked",
    "softplus_native_ms",
    "softplus_lowered_ms",
  ]);
  const path = await writeJson("onnx", {
    setup: { state: STATE, batch: BATCH, hidden_layers: 2, dtype: "float32", quick },
    matmul: { n: 1024, median_ms: matmul.ms, gflops: matmul.gflops },
    records,
  });
  console.log(`wrote ${path}`);
}
