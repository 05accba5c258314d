/**
 * A torch model exported with torch's defaults (dynamo exporter, l1.weight in
 * a .onnx.data file, `t` of shape [1] expanded over the batch at run time,
 * LayerNormalization, exact Gelu) gives torchdiffeq's ODE gradients on the
 * same weights: every quadjoint method against torchdiffeq 0.2.5's odeint and
 * odeint_adjoint, recorded by tests/fixtures/make_torch_dynamics.py in
 * tests/fixtures/torch_dynamics/dynamo_layernorm_gelu.odeint.json.
 */
import { importDynamics } from "../src/models/imported.ts";
import { adjoint, direct, gq, seminorm } from "../src/gradients/method.ts";
import { odeGradient } from "../src/gradients/ode_gradient.ts";
import type { LossFunction } from "../src/gradients/problem.ts";
import { tensor } from "../src/onnx/tensor.ts";
import { Runtime } from "../src/runtime/session.ts";
import { assert, assertClose, assertEquals } from "../src/util/testing.ts";

const DIR = new URL("./fixtures/torch_dynamics/", import.meta.url);
const MODEL = new URL("dynamo_layernorm_gelu.onnx", DIR).pathname;

interface Floats {
  dims: number[];
  data: number[];
}
/** One torchdiffeq run: odeint ("direct") or odeint_adjoint. */
interface TorchGradients {
  nfe: number;
  loss: number;
  dz0: Floats;
  dtimes: Floats;
  dparams: Record<string, Floats>;
}
interface OdeintFixture {
  model: string;
  producer: string;
  solver: string;
  rtol: number;
  atol: number;
  times: number[];
  z0: Floats;
  targets: Floats;
  direct: TorchGradients;
  adjoint: TorchGradients;
}

const fixture = JSON.parse(
  await Deno.readTextFile(new URL("dynamo_layernorm_gelu.odeint.json", DIR)),
) as OdeintFixture;
const runtime = new Runtime({ threads: 1 });

/** L = Σ_k Σ (z(t_k) − y_k)², t₀ included, as the fixture's loss. */
const loss: LossFunction = (states) => {
  const n = fixture.z0.data.length;
  let value = 0;
  const cotangents = states.map((z, k) =>
    z.map((v, i) => {
      const d = v - fixture.targets.data[k * n + i]!;
      value += d * d;
      return 2 * d;
    })
  );
  return { value, cotangents };
};

/**
 * The bound, relative to the largest entry of each gradient: 100 × the
 * tolerance. Both sides solve with dopri5 at rtol = atol = 1e-10, so each
 * carries an error of some tens of tolerances; torchdiffeq's own odeint and
 * odeint_adjoint differ by up to 48 × tol (dL/dl1.bias), and quadjoint's
 * gradients at rtol = atol = 1e-13 differ from torchdiffeq's by as much, so
 * that spread is torchdiffeq's solve error, and 100 × tol is twice it.
 */
const BOUND = 100 * fixture.rtol;

Deno.test("the layernorm-gelu fixture is torch's default dynamo export: external data, t of shape [1], LayerNormalization, Gelu", async () => {
  const record = JSON.parse(await Deno.readTextFile(new URL("dynamo_layernorm_gelu.json", DIR)));
  assertEquals([record.exporter, record.opset, record.inputs, record.external], [
    "dynamo",
    20,
    ["t", "z"],
    ["l1.weight"],
  ]);
  assertEquals(record.t.dims, [1]);
  for (const op of ["Expand", "LayerNormalization", "Gelu"]) assert(record.ops.includes(op), `no ${op}: ${record.ops}`);
  assertEquals([fixture.model, fixture.solver, fixture.rtol, fixture.atol], [
    "dynamo_layernorm_gelu.onnx",
    "dopri5",
    1e-10,
    1e-10,
  ]);
  assert(fixture.producer.includes("torchdiffeq 0.2.5"), fixture.producer);
});

const METHODS = [["direct", direct()], ["adjoint", adjoint()], ["seminorm", seminorm()], ["gq", gq()]] as const;

for (const [name, method] of METHODS) {
  Deno.test(`odeGradient() by ${name} on the imported torch LayerNorm–GELU model gives torchdiffeq's loss, dL/dz0, dL/dθ and dL/dt`, async () => {
    const { dynamics, init } = await importDynamics(MODEL, { dtype: "float64" });
    // The parameters are torch's named_parameters(), in its order.
    assertEquals(dynamics.params.map((p) => [p.name, p.shape]), [
      ["l1.weight", [32, 3]],
      ["l1.bias", [32]],
      ["norm.weight", [32]],
      ["norm.bias", [32]],
      ["l2.weight", [2, 32]],
      ["l2.bias", [2]],
    ]);
    const r = await odeGradient({
      dynamics,
      params: init,
      z0: tensor(Float64Array.from(fixture.z0.data), fixture.z0.dims),
      times: fixture.times,
      loss,
    }, { method, solver: fixture.solver, rtol: fixture.rtol, atol: fixture.atol, runtime });
    for (const torch of ["direct", "adjoint"] as const) {
      const ref = fixture[torch];
      const vs = `${name} vs torchdiffeq ${torch === "direct" ? "odeint" : "odeint_adjoint"}`;
      assertClose(r.loss!, ref.loss, BOUND, `${vs}: L`);
      assertClose(r.dz0, ref.dz0.data, BOUND, `${vs}: dL/dz0`);
      assertEquals(Object.keys(r.dparams), Object.keys(ref.dparams), `${vs}: parameter names`);
      for (const [p, g] of Object.entries(ref.dparams)) assertClose(r.dparams[p]!, g.data, BOUND, `${vs}: dL/d${p}`);
    }
    // dL/dt_k against odeint_adjoint only: odeint differentiates its dense-output interpolant at t_k, about
    // 180 × tol off the a·f(z(t_k)) that quadjoint and odeint_adjoint compute.
    assertClose(r.dtimes, fixture.adjoint.dtimes.data, BOUND, `${name} vs torchdiffeq odeint_adjoint: dL/dt`);
  });
}
