import { assert, assertClose, assertEquals } from "../util/testing.ts";
import { DYNAMICS_NAMES } from "../models/dynamics.ts";
import { mlpDynamics } from "../models/mlp.ts";
import { Runtime } from "../runtime/session.ts";
import { tensor } from "../onnx/tensor.ts";
import { GraphBuilder } from "../onnx/builder.ts";
import { integrate, solve } from "./integrate.ts";
import { onnxStepper } from "./onnx_stepper.ts";
import { SOLVERS } from "./solver.ts";
import type { StepSystem } from "./step_graph.ts";
import type { State } from "./stepper.ts";

const runtime = new Runtime({ threads: 1 });

function mlpSystem(dtype: "float32" | "float64", dense = true) {
  const { dynamics, init } = mlpDynamics({
    stateDim: 3,
    hidden: [7, 7],
    activation: "tanh",
    time: "concat",
    dtype,
    seed: 4,
  });
  const system: StepSystem = {
    graph: dynamics.graph,
    time: DYNAMICS_NAMES.time,
    blocks: [{ name: "z", input: DYNAMICS_NAMES.state, output: DYNAMICS_NAMES.derivative, inNorm: true, dense }],
  };
  return { dynamics, init, system };
}

const z0 = [0.5, -0.3, 0.8, -1, 0.2, 0.4];

/** A dopri5 stepper over the test MLP without dense output, rtol = atol = tol. */
async function dopri5Stepper(dtype: "float32" | "float64", tol: number) {
  const { init, system } = mlpSystem(dtype, false);
  return await onnxStepper({
    runtime,
    system,
    solver: SOLVERS.dopri5,
    params: init,
    dims: [[2, 3]],
    rtol: tol,
    atol: tol,
  });
}

for (const solver of Object.values(SOLVERS)) {
  Deno.test(`onnxStepper() with ${solver.name} takes the same steps as the JavaScript stepper to round-off (float64)`, async () => {
    const { dynamics, init, system } = mlpSystem("float64");
    const stepper = await onnxStepper({
      runtime,
      system,
      solver,
      params: init,
      dims: [[2, 3]],
      rtol: 1e-6,
      atol: 1e-6,
    });
    const f = await runtime.compile(dynamics.graph);
    const field = async (t: number, y: Float64Array) =>
      (await f.run({
        ...init,
        [DYNAMICS_NAMES.time]: tensor(Float64Array.of(t), []),
        [DYNAMICS_NAMES.state]: tensor(y, [2, 3]),
      }))[DYNAMICS_NAMES.derivative]!.data as Float64Array;
    const options = solver.adaptive ? {} : { dt: 0.1 };
    const observe = [0.35, 0.9];
    const seenJs: Float64Array[] = [], seenOnnx: State[] = [];
    const ref = await integrate(field, Float64Array.from(z0), 0, 1.3, {
      solver,
      rtol: 1e-6,
      atol: 1e-6,
      ...options,
      observe: { times: observe, at: (_t, y) => void seenJs.push(y) },
    });
    const r = await solve(stepper, [Float64Array.from(z0)], 0, 1.3, {
      ...options,
      observe: { times: observe, at: (_t, y) => void seenOnnx.push(y) },
    });
    assertEquals(r.stats, ref.stats, `${solver.name}: step counts`);
    assertClose(r.y1[0]! as Float64Array, ref.y1, 1e-12, `${solver.name}: y(1.3)`);
    seenJs.forEach((y, i) =>
      assertClose(seenOnnx[i]![0]! as Float64Array, y, 1e-12, `${solver.name}: dense output ${i}`)
    );
    assertClose(r.lastStep, ref.lastStep, 1e-12, `${solver.name}: last step`);
  });
}

Deno.test("onnxStepper() stepping in float32 agrees with float64 to 1e-4", async () => {
  const results: Float64Array[] = [];
  for (const dtype of ["float64", "float32"] as const) {
    const stepper = await dopri5Stepper(dtype, 1e-5);
    const y0 = dtype === "float64" ? Float64Array.from(z0) : Float32Array.from(z0);
    const r = await solve(stepper, [y0], 0, 2);
    assert(r.y1[0] instanceof (dtype === "float64" ? Float64Array : Float32Array), "state stays in the model dtype");
    results.push(Float64Array.from(r.y1[0]!));
  }
  assertClose(results[1]!, results[0]!, 1e-4, "float32 vs float64 states");
});

Deno.test("onnxStepper() gives an infinite error ratio for a step from a non-finite state", async () => {
  const stepper = await dopri5Stepper("float64", 1e-6);
  const y0 = [Float64Array.from(z0)];
  const bad = await stepper.step(
    0,
    0.1,
    [Float64Array.from(z0.map((v, i) => (i === 2 ? NaN : v)))],
    await stepper.evaluate(0, y0),
  );
  assertEquals(bad.ratio, Infinity);
});

Deno.test("onnxStepper() does not mistake large finite float32 values for non-finite ones", async () => {
  const g = new GraphBuilder("decay");
  const z = g.input("z", "float32", ["batch", 32]);
  g.output(g.op1("Neg", [z]), "dz");
  const system: StepSystem = {
    graph: g.build(),
    blocks: [{ name: "z", input: "z", output: "dz", inNorm: true, dense: false }],
  };
  for (const solver of [SOLVERS.rk4, SOLVERS.dopri5]) {
    const stepper = await onnxStepper({ runtime, system, solver, params: {}, dims: [[1, 32]], rtol: 1e-3, atol: 1e-3 });
    const y0 = [new Float32Array(32).fill(2e37)];
    const r = await stepper.step(0, 0.01, y0, await stepper.evaluate(0, y0));
    assert(Number.isFinite(r.ratio), `${solver.name}: ratio ${r.ratio} for finite values whose sum overflows`);
  }
});

Deno.test("onnxStepper() refuses a float32 atol below float32's smallest normal, which would make 0/0 error ratios", async () => {
  const { init, system } = mlpSystem("float32", false);
  const make = (atol: number) =>
    onnxStepper({ runtime, system, solver: SOLVERS.dopri5, params: init, dims: [[2, 3]], rtol: 1e-5, atol });
  let message = "";
  await make(1e-46).catch((e) => (message = (e as Error).message));
  assert(message.includes("atol 1e-46 is below float32's smallest normal number"), message);
  assert((await make(1e-30)) !== undefined, "a small normal atol is fine");
  await make(0).catch((e) => (message = (e as Error).message));
  assert(message.includes("atol must be positive, got 0"), message);
});
