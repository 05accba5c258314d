/**
 * importDynamics() on torch's own exports (tests/fixtures/make_torch_dynamics.py):
 * the dynamo exporter's default file (external weights, `t` of shape [1], a
 * run-time Expand), the TorchScript exporter's, and an autonomous f(z). Each
 * runs to torch's dz, its lifted weights differentiate to torch's autograd,
 * odeGradient trains it (gradients against finite differences of odeSolve),
 * and the ways an import can go wrong say what is wrong and where.
 */
import { vjpGraph } from "../autodiff/vjp.ts";
import { adjoint, direct, gq } from "../gradients/method.ts";
import { odeGradient, odeSolve } from "../gradients/ode_gradient.ts";
import { GraphBuilder } from "../onnx/builder.ts";
import { GraphError, OnnxDecodeError } from "../onnx/errors.ts";
import type { Graph } from "../onnx/graph.ts";
import { readModel } from "../onnx/proto.ts";
import { type Tensor, tensor, toNumbers } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { assert, assertClose, assertEquals, assertRejects } from "../util/testing.ts";
import { importDynamics, type ImportOptions } from "./imported.ts";

const DIR = new URL("../../tests/fixtures/torch_dynamics/", import.meta.url);
const path = (name: string) => new URL(`${name}.onnx`, DIR).pathname;
const rt = new Runtime({ threads: 1 });

interface Floats {
  dims: number[];
  data: number[];
}
interface Reference {
  dz: Floats;
  grad_z: Floats;
  grad_t?: Floats;
  grad_params: Record<string, Floats>;
}
interface Fixture {
  exporter: string;
  opset: number;
  ops: string[];
  inputs: string[];
  output: string;
  external: string[];
  params: Record<string, number[]>;
  t: Floats | null;
  z: Floats;
  cotangent: Floats;
  float32: Reference;
  float64: Reference;
}

const FIXTURES = [
  { name: "dynamo_time", time: "input" },
  { name: "torchscript_time", time: "input" },
  { name: "dynamo_autonomous", time: "autonomous" },
  // Linear → LayerNorm → exact GELU → Linear; its ODE gradients against torchdiffeq are tests/torch_ode_test.ts.
  { name: "dynamo_layernorm_gelu", time: "input" },
] as const;

async function fixture(name: string): Promise<Fixture> {
  return JSON.parse(await Deno.readTextFile(new URL(`${name}.json`, DIR))) as Fixture;
}

function asTensor(v: Floats | number[], dims: readonly number[], dtype: "float32" | "float64"): Tensor {
  const data = Array.isArray(v) ? v : v.data;
  return tensor(dtype === "float32" ? Float32Array.from(data) : Float64Array.from(data), dims);
}

/** Tolerances against torch: float32 kernels differ in summation order; float64 agrees to rounding. */
const TOL = { float32: 1e-5, float64: 1e-12 } as const;

/**
 * The tolerance for `name` in `dtype`. ONNX keeps LayerNormalization's epsilon as a float32 attribute (torch's
 * 1e-5 becomes 9.99999974737875e-6) where torch's float64 LayerNorm uses 1e-5 itself: that moves
 * dynamo_layernorm_gelu's float64 dz and gradients by 1.2e-12 relative (torch with the float32 epsilon gives
 * quadjoint's numbers).
 */
function tolerance(name: string, dtype: "float32" | "float64"): number {
  return dtype === "float64" && name === "dynamo_layernorm_gelu" ? 1e-11 : TOL[dtype];
}

Deno.test("the torch fixtures are what make_torch_dynamics.py says: default dynamo export with external data, TorchScript, opsets 17–23", async () => {
  const time = await fixture("dynamo_time");
  assertEquals([time.exporter, time.inputs, time.external], ["dynamo", ["t", "z"], ["l1.weight", "l2.weight"]]);
  assert(time.ops.includes("Expand") && time.ops.includes("Shape"), `ops ${time.ops}`);
  assertEquals(time.t!.dims, [1]);
  const ts = await fixture("torchscript_time");
  assertEquals([ts.exporter, ts.opset], ["torchscript", 17]);
  for (const op of ["Gather", "Unsqueeze", "ConstantOfShape", "Equal", "Where", "Expand"]) {
    assert(ts.ops.includes(op), `TorchScript export lacks ${op}: ${ts.ops}`);
  }
  const auto = await fixture("dynamo_autonomous");
  assertEquals([auto.opset, auto.inputs, auto.external], [23, ["z"], ["l1.weight", "l2.weight"]]);
});

for (const { name, time } of FIXTURES) {
  for (const dtype of ["float32", "float64"] as const) {
    Deno.test(`importDynamics() of torch's ${name}.onnx in ${dtype} runs to torch's dz with a symbolic batch`, async () => {
      const fx = await fixture(name);
      const tol = tolerance(name, dtype);
      const { dynamics, init, frozen } = await importDynamics(path(name), { time, dtype });
      assertEquals(dynamics.graph.inputs.slice(0, 2).map((v) => [v.name, v.dtype, v.shape]), [
        ["t", dtype, []],
        ["z", dtype, ["batch", 2]],
      ]);
      assertEquals(dynamics.graph.outputs.map((v) => [v.name, v.shape]), [["dz", ["batch", 2]]]);
      assertEquals(Object.fromEntries(dynamics.params.map((p) => [p.name, p.shape])), fx.params);
      assertEquals(Object.keys(init), Object.keys(fx.params));
      assertEquals(frozen, []);
      const session = await rt.compile(dynamics.graph);
      const t = asTensor([fx.t?.data[0] ?? 0], [], dtype);
      const out = await session.run({ ...init, t, z: asTensor(fx.z, fx.z.dims, dtype) });
      assertEquals(out.dz!.dims, fx.z.dims);
      assertClose(toNumbers(out.dz!), fx[dtype].dz.data, tol, `${name} dz`);
      // The batch stays symbolic: one row alone gives that row of torch's dz.
      const row = await session.run({ ...init, t, z: asTensor(fx.z.data.slice(6), [1, 2], dtype) });
      assertClose(toNumbers(row.dz!), fx[dtype].dz.data.slice(6), tol, `${name} last row`);
    });

    Deno.test(`importDynamics() of torch's ${name}.onnx in ${dtype}: VJPs match torch's autograd for every weight, z and t`, async () => {
      const fx = await fixture(name);
      const tol = tolerance(name, dtype);
      const { dynamics, init } = await importDynamics(path(name), { time, dtype });
      const names = dynamics.params.map((p) => p.name);
      const g = vjpGraph(dynamics.graph, { of: ["dz"], wrt: ["z", "t", ...names] });
      const out = await (await rt.compile(g)).run({
        ...init,
        t: asTensor([fx.t?.data[0] ?? 0], [], dtype),
        z: asTensor(fx.z, fx.z.dims, dtype),
        grad_dz: asTensor(fx.cotangent, fx.cotangent.dims, dtype),
      });
      const ref = fx[dtype];
      for (const p of names) {
        assertEquals(out[`grad_${p}`]!.dims, ref.grad_params[p]!.dims, `dims of grad_${p}`);
        assertClose(toNumbers(out[`grad_${p}`]!), ref.grad_params[p]!.data, tol, `${name} grad_${p}`);
        assert(toNumbers(out[`grad_${p}`]!).some((v) => v !== 0), `grad_${p} is zero`);
      }
      assertClose(toNumbers(out.grad_z!), ref.grad_z.data, tol, `${name} grad_z`);
      // An autonomous f has ∂f/∂t = 0.
      assertClose(toNumbers(out.grad_t!), ref.grad_t?.data ?? [0], tol, `${name} grad_t`);
    });
  }
}

Deno.test("importDynamics() keeps frozen weights as initializers and still differentiates the others to torch's numbers", async () => {
  const fx = await fixture("dynamo_time");
  const byList = await importDynamics(path("dynamo_time"), { freeze: ["l1.weight", "l1.bias"], dtype: "float64" });
  const byTest = await importDynamics(path("dynamo_time"), { freeze: (n) => n.startsWith("l1."), dtype: "float64" });
  for (const { dynamics, init, frozen } of [byList, byTest]) {
    assertEquals(frozen, ["l1.weight", "l1.bias"]);
    assertEquals(dynamics.params.map((p) => p.name), ["l2.weight", "l2.bias", "l3.weight", "l3.bias"]);
    assertEquals(Object.keys(init), ["l2.weight", "l2.bias", "l3.weight", "l3.bias"]);
    assert(dynamics.graph.initializers.has("l1.weight") && dynamics.graph.initializers.has("l1.bias"), "kept");
    assert(!dynamics.graph.inputs.some((v) => v.name.startsWith("l1.")), "a frozen weight is an input");
    const wrt = dynamics.params.map((p) => p.name);
    const out = await (await rt.compile(vjpGraph(dynamics.graph, { of: ["dz"], wrt }))).run({
      ...init,
      t: asTensor(fx.t!.data, [], "float64"),
      z: asTensor(fx.z, fx.z.dims, "float64"),
      grad_dz: asTensor(fx.cotangent, fx.cotangent.dims, "float64"),
    });
    for (const p of wrt) {
      assertClose(toNumbers(out[`grad_${p}`]!), fx.float64.grad_params[p]!.data, 1e-12, `frozen l1: grad_${p}`);
    }
  }
});

Deno.test("importDynamics() leaves a float initializer no gradient reaches (torch's Softplus threshold) constant and says so", async () => {
  const { dynamics, noGradient } = await importDynamics(path("dynamo_time"));
  assertEquals(noGradient, ["threshold_cast"]);
  assert(dynamics.graph.initializers.has("threshold_cast"), "the threshold should stay an initializer");
});

/** Rejects with `type`, the message containing every part. */
async function rejectsWith(
  fn: () => Promise<unknown>,
  type: new (...args: never[]) => Error,
  parts: readonly string[],
): Promise<void> {
  const e = await assertRejects(fn, type);
  for (const p of parts) assert(e.message.includes(p), `message "${e.message}" lacks "${p}"`);
}

Deno.test("importDynamics() throws naming the file when every weight is frozen, so training would change nothing", async () => {
  await rejectsWith(
    () => importDynamics(path("dynamo_autonomous"), { time: "autonomous", freeze: () => true }),
    GraphError,
    [
      path("dynamo_autonomous"),
      "no trainable parameter",
      "every weight is frozen (l1.weight, l1.bias, l2.weight, l2.bias)",
    ],
  );
  const solveOnly = await importDynamics(path("dynamo_autonomous"), {
    time: "autonomous",
    freeze: () => true,
    requireParams: false,
  });
  assertEquals(solveOnly.dynamics.params, []);
});

Deno.test("importDynamics() throws naming the graph when a model has no float initializer at all", async () => {
  const b = new GraphBuilder("decay");
  b.output(b.op1("Neg", [b.input("z", "float32", ["batch", 2])]), "dz");
  await rejectsWith(() => importDynamics(b.build(), { time: "autonomous" }), GraphError, [
    "graph decay",
    "no trainable parameter: it has no float initializers",
  ]);
});

Deno.test("importDynamics() throws GraphError naming unknown freeze names and the float initializers there are", async () => {
  await rejectsWith(() => importDynamics(path("dynamo_time"), { freeze: ["l9.weight"] }), GraphError, [
    path("dynamo_time"),
    `Cannot freeze "l9.weight"`,
    "l1.weight, l1.bias, l2.weight",
  ]);
});

/** dynamo_time's graph with its time input renamed. */
async function renamedTime(to: string): Promise<Graph> {
  const g = await readModel(path("dynamo_time"));
  const r = (n: string) => (n === "t" ? to : n);
  return {
    ...g,
    inputs: g.inputs.map((v) => ({ ...v, name: r(v.name) })),
    nodes: g.nodes.map((n) => ({ ...n, inputs: n.inputs.map(r) })),
  };
}

Deno.test("importDynamics() throws naming the inputs when the time input is ambiguous, and takes it once named", async () => {
  const g = await renamedTime("tau");
  await rejectsWith(() => importDynamics(g), GraphError, [
    `no time input "t"`,
    "tau [1], z [batch, 2]",
    `names: { time:`,
    `time: "autonomous"`,
  ]);
  const { dynamics } = await importDynamics(g, { names: { time: "tau" } });
  assertEquals(dynamics.graph.inputs[0], { name: "t", dtype: "float32", shape: [] });
});

const TIME_ERRORS: readonly [string, string, ImportOptions, readonly string[]][] = [
  ["an autonomous model imported with time input", "dynamo_autonomous", {}, [`no time input "t"`, "z [batch, 2]"]],
  ["a time-dependent model declared autonomous", "dynamo_time", { time: "autonomous" }, [`time input "t" [1]`]],
  ["names.time that is not an input", "dynamo_time", { names: { time: "s" } }, [
    `names.time "s"`,
    "t [1], z [batch, 2]",
  ]],
  ["names.derivative that is not an output", "dynamo_time", { names: { derivative: "f" } }, ["linear_2"]],
  ["a constant that is not an input", "dynamo_time", { constants: ["xi"] }, [`Constant "xi"`]],
];

for (const [what, name, options, parts] of TIME_ERRORS) {
  Deno.test(`importDynamics() throws GraphError naming the file for ${what}`, async () => {
    await rejectsWith(() => importDynamics(path(name), options), GraphError, [path(name), ...parts]);
  });
}

/** A copy of dynamo_time.onnx in a fresh folder, with its external data file as `data` leaves it. */
async function copyWithData(data: (bytes: Uint8Array) => Uint8Array | undefined): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "qj-import-" });
  await Deno.copyFile(path("dynamo_time"), `${dir}/dynamo_time.onnx`);
  const kept = data(await Deno.readFile(`${path("dynamo_time")}.data`));
  if (kept) await Deno.writeFile(`${dir}/dynamo_time.onnx.data`, kept);
  return dir;
}

Deno.test("importDynamics() throws naming the data file and the initializer when the external data file is missing or short", async () => {
  const missing = await copyWithData(() => undefined);
  const short = await copyWithData((b) => b.slice(0, 1000));
  try {
    await rejectsWith(() => importDynamics(`${missing}/dynamo_time.onnx`), OnnxDecodeError, [
      `${missing}/dynamo_time.onnx.data`,
      `initializer "l1.weight"`,
    ]);
    await rejectsWith(() => importDynamics(`${short}/dynamo_time.onnx`), OnnxDecodeError, [
      `${short}/dynamo_time.onnx.data`,
      `initializer "l2.weight"`,
      "bytes 288–2592",
      "only 1000 bytes",
    ]);
  } finally {
    await Deno.remove(missing, { recursive: true });
    await Deno.remove(short, { recursive: true });
  }
});

Deno.test("odeGradient() trains an imported torch model: its weight gradients are non-zero and match finite differences", async () => {
  const { dynamics, init } = await importDynamics(path("dynamo_time"), { dtype: "float64" });
  const z0 = tensor(Float64Array.of(0.5, -0.3, -0.8, 0.2), [2, 2]);
  const times = [0.1, 0.6];
  const settings = { solver: "rk4", dt: 0.05, runtime: rt };
  const lossOf = (zT: Float64Array) => zT.reduce((a, v) => a + v * v, 0);
  const r = await odeGradient({
    dynamics,
    params: init,
    z0,
    times,
    loss: ([, zT]) => ({ value: lossOf(zT!), cotangents: [null, zT!.map((v) => 2 * v)] }),
  }, { ...settings, method: direct() });
  assertEquals(Object.keys(r.dparams), dynamics.params.map((p) => p.name));
  for (const [name, g] of Object.entries(r.dparams)) assert(g.some((v) => v !== 0), `dL/d${name} is zero`);
  // Central differences of the same discretised solve (direct is exact for it), a few entries per weight.
  const h = 1e-6;
  for (const p of dynamics.params) {
    const base = init[p.name]!.data as Float64Array;
    for (const k of [0, base.length - 1]) {
      const solveWith = async (delta: number) => {
        const data = Float64Array.from(base);
        data[k] = data[k]! + delta;
        const { states } = await odeSolve(
          { dynamics, params: { ...init, [p.name]: tensor(data, p.shape) }, z0, times },
          settings,
        );
        return lossOf(states[1]!);
      };
      const fd = ((await solveWith(h)) - (await solveWith(-h))) / (2 * h);
      const got = r.dparams[p.name]![k]!;
      assert(
        Math.abs(got - fd) <= 1e-6 * Math.max(1, Math.abs(fd)),
        `dL/d${p.name}[${k}]: ${got} vs finite difference ${fd}`,
      );
    }
  }
});

Deno.test("odeGradient() by gq and adjoint on an imported torch model (float32 and float64) agrees with direct", async () => {
  for (const dtype of ["float64", "float32"] as const) {
    const { dynamics, init } = await importDynamics(path("torchscript_time"), { dtype });
    const z0 = asTensor([0.5, -0.3, -0.8, 0.2, 0.1, 0.9], [3, 2], dtype);
    const problem = {
      dynamics,
      params: init,
      z0,
      times: [0, 0.4, 1],
      loss: (states: readonly Float64Array[]) => ({
        value: 0,
        cotangents: states.map((s, k) => (k === 0 ? null : s.map((v) => 2 * v))),
      }),
    };
    const tol = dtype === "float64" ? { rtol: 1e-9, atol: 1e-9 } : { rtol: 1e-6, atol: 1e-6 };
    const reference = await odeGradient(problem, { ...tol, runtime: rt, method: direct() });
    for (const method of [gq(), adjoint()]) {
      const r = await odeGradient(problem, { ...tol, runtime: rt, method });
      for (const p of dynamics.params) {
        assertClose(
          r.dparams[p.name]!,
          reference.dparams[p.name]!,
          dtype === "float64" ? 1e-6 : 1e-3,
          `${dtype} ${method.kind} dL/d${p.name}`,
        );
      }
    }
  }
});
