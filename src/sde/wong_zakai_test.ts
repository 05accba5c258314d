import { adjoint, direct, gq, seminorm } from "../gradients/method.ts";
import { odeGradient, odeSolve } from "../gradients/ode_gradient.ts";
import { asDynamics, type Dynamics, DYNAMICS_NAMES } from "../models/dynamics.ts";
import { GraphBuilder } from "../onnx/builder.ts";
import { tensor } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assert, assertEquals } from "../util/testing.ts";
import { KL_COEFFICIENTS, klPath, sampleKlCoefficients, wongZakaiGraph } from "./karhunen_loeve.ts";

/** z ↦ p·z for a parameter p of shape [1], on a [batch, 1] state. */
function scaled(param: string): Dynamics {
  const b = new GraphBuilder(`times_${param}`);
  b.input(DYNAMICS_NAMES.time, "float64", []);
  const z = b.input(DYNAMICS_NAMES.state, "float64", ["batch", 1]);
  b.output(b.op1("Mul", [z, b.input(param, "float64", [1])]), DYNAMICS_NAMES.derivative);
  return asDynamics(b.build());
}

// Geometric Brownian motion through its Wong–Zakai ODE dz/dt = μz + σz·ξ(t): z(t) = z0·exp(μt + σ·W_m(t)), with
// W_m the Karhunen–Loève path of each sample's coefficients — a closed form for states and gradients.
const MU = 0.3, SIGMA = 0.5, T = 2, BATCH = 4;
const options = { t0: 0, t1: T, cosines: 6 };
const coefficients = sampleKlCoefficients(new Random(2), options.cosines, BATCH, 1);
const dynamics = asDynamics(wongZakaiGraph({ drift: scaled("mu"), diffusion: scaled("sigma"), ...options }), {
  constants: [KL_COEFFICIENTS],
});
const z0 = Float64Array.of(1, 0.5, 2, 1.5);
const problem = {
  dynamics,
  params: { mu: tensor(Float64Array.of(MU), [1]), sigma: tensor(Float64Array.of(SIGMA), [1]) },
  constants: { [KL_COEFFICIENTS]: tensor(coefficients, [BATCH, options.cosines, 1]) },
  z0: tensor(z0, [BATCH, 1]),
  times: [0, 1, T],
};
const exact = (t: number) => {
  const w = klPath(t, coefficients, 1, options);
  return z0.map((v, i) => v * Math.exp(MU * t + SIGMA * w[i]!));
};

Deno.test("the Wong–Zakai ODE of geometric Brownian motion solves to z0·exp(μt + σW_m(t)) on each sample's noise path", async () => {
  const runtime = new Runtime({ threads: 1 });
  try {
    const { states } = await odeSolve(problem, { rtol: 1e-10, atol: 1e-10, runtime });
    for (const [k, t] of problem.times.entries()) {
      const e = exact(t);
      assert(states[k]!.every((v, i) => Math.abs(v - e[i]!) < 1e-8 * e[i]!), `states at t = ${t}`);
    }
  } finally {
    await runtime.dispose();
  }
});

Deno.test("every ODE gradient method trains through Wong–Zakai noise: dL/dμ and dL/dσ match the closed form", async () => {
  // L = Σ z(T): dL/dμ = Σ T·z(T), dL/dσ = Σ W_m(T)·z(T), dL/dz0 = z(T)/z0.
  const zT = exact(T), wT = klPath(T, coefficients, 1, options);
  const dMu = zT.reduce((s, v) => s + T * v, 0), dSigma = zT.reduce((s, v, i) => s + wT[i]! * v, 0);
  const loss = (states: readonly Float64Array[]) => ({
    value: states[2]!.reduce((a, b) => a + b, 0),
    cotangents: [null, null, new Float64Array(BATCH).fill(1)],
  });
  const runtime = new Runtime({ threads: 1 });
  try {
    for (const method of [direct(), adjoint(), seminorm(), gq(), gq({ nodes: "interval" })]) {
      const r = await odeGradient({ ...problem, loss }, { method, rtol: 1e-10, atol: 1e-10, runtime });
      const label = `${method.kind} ${JSON.stringify(method)}`;
      assertEquals(Object.keys(r.dparams).sort(), ["mu", "sigma"], `${label}: no gradient for the noise coefficients`);
      assert(Math.abs(r.dparams.mu![0]! - dMu) < 1e-6 * Math.abs(dMu), `${label}: dL/dμ ${r.dparams.mu![0]} vs ${dMu}`);
      assert(
        Math.abs(r.dparams.sigma![0]! - dSigma) < 1e-6 * Math.abs(dSigma),
        `${label}: dL/dσ ${r.dparams.sigma![0]} vs ${dSigma}`,
      );
      assert(r.dz0.every((v, i) => Math.abs(v - zT[i]! / z0[i]!) < 1e-6 * zT[i]! / z0[i]!), `${label}: dL/dz0`);
    }
  } finally {
    await runtime.dispose();
  }
});
