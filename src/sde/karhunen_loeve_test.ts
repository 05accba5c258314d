import { asDynamics, DYNAMICS_NAMES } from "../models/dynamics.ts";
import { GraphBuilder } from "../onnx/builder.ts";
import { tensor } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import {
  KL_COEFFICIENTS,
  klCovariance,
  klNoise,
  klPath,
  sampleKlCoefficients,
  wongZakaiGraph,
} from "./karhunen_loeve.ts";

Deno.test("klCovariance() tends to Brownian motion's min(s, t) − t0 as the cosines grow", () => {
  const span = { t0: 1, t1: 3 };
  const points = [[1.5, 2.5], [2, 2], [2.9, 1.2], [3, 3]] as const;
  let last = Infinity;
  for (const cosines of [1, 10, 100, 1000]) {
    const worst = Math.max(
      ...points.map(([s, t]) => Math.abs(klCovariance(s, t, { ...span, cosines }) - (Math.min(s, t) - 1))),
    );
    assert(worst < last, `error ${worst} at m = ${cosines} did not fall below ${last}`);
    last = worst;
  }
  assert(last < 2e-3, `error at m = 1000 is ${last}`);
  assertEquals(klCovariance(2, 2, { ...span, cosines: 0 }), 0);
});

Deno.test("klPath() of sampled coefficients has the covariance klCovariance() gives, and klNoise() is its derivative", () => {
  const options = { t0: 0, t1: 10, cosines: 10 }, n = 20_000;
  const z = sampleKlCoefficients(new Random(3), options.cosines, n, 1);
  const a = klPath(2, z, 1, options), b = klPath(7, z, 1, options);
  const cov = a.reduce((s, v, i) => s + v * b[i]!, 0) / n;
  const exact = klCovariance(2, 7, options);
  assert(Math.abs(cov - exact) < 5 * Math.sqrt((2 * 7 + exact * exact) / n), `covariance ${cov} vs ${exact}`);
  const h = 1e-5, t = 4.2;
  const before = klPath(t - h, z, 1, options);
  const slope = klPath(t + h, z, 1, options).map((v, i) => (v - before[i]!) / (2 * h));
  const xi = klNoise(t, z, 1, options);
  assert(slope.every((v, i) => Math.abs(v - xi[i]!) < 1e-6 * (1 + Math.abs(v))), "dW_m/dt = ξ");
});

/** f = θ·z and g = σ·z + 0.1, batched over [batch, 2]. */
function terms() {
  const make = (
    name: string,
    build: (b: GraphBuilder, z: ReturnType<GraphBuilder["input"]>) => ReturnType<GraphBuilder["input"]>,
  ) => {
    const b = new GraphBuilder(name);
    b.input(DYNAMICS_NAMES.time, "float64", []);
    const z = b.input(DYNAMICS_NAMES.state, "float64", ["batch", 2]);
    b.output(build(b, z), DYNAMICS_NAMES.derivative);
    return asDynamics(b.build());
  };
  const drift = make("f", (b, z) => b.op1("Mul", [z, b.input("theta", "float64", [2])]));
  const diffusion = make(
    "g",
    (b, z) =>
      b.op1("Add", [b.op1("Mul", [z, b.input("sigma", "float64", [2])]), b.constant(tensor(Float64Array.of(0.1), []))]),
  );
  return { drift, diffusion };
}

Deno.test("wongZakaiGraph() computes f + g ⊙ ξ(t) from the coefficients, and f alone with no cosines", async () => {
  const { drift, diffusion } = terms();
  const options = { t0: 0, t1: 2, cosines: 4 };
  const batch = 3;
  const random = new Random(1);
  const zData = random.fillNormal(new Float64Array(batch * 2));
  const coefficients = sampleKlCoefficients(random, options.cosines, batch, 2);
  const theta = Float64Array.of(0.5, -1), sigma = Float64Array.of(0.2, 0.7);
  const runtime = new Runtime({ threads: 1 });
  try {
    const t = 0.7;
    const feeds = {
      [DYNAMICS_NAMES.time]: tensor(Float64Array.of(t), []),
      [DYNAMICS_NAMES.state]: tensor(zData, [batch, 2]),
      theta: tensor(theta, [2]),
      sigma: tensor(sigma, [2]),
    };
    const noisy = await runtime.compile(wongZakaiGraph({ drift, diffusion, ...options }));
    const out = (await noisy.run({ ...feeds, [KL_COEFFICIENTS]: tensor(coefficients, [batch, 4, 2]) }))[
      DYNAMICS_NAMES.derivative
    ]!;
    const xi = klNoise(t, coefficients, 2, options);
    const expected = zData.map((v, i) => theta[i % 2]! * v + (sigma[i % 2]! * v + 0.1) * xi[i]!);
    assert([...out.data as Float64Array].every((v, i) => Math.abs(v - expected[i]!) < 1e-12), "f + g ⊙ ξ");
    const plain = await runtime.compile(wongZakaiGraph({ drift, diffusion, ...options, cosines: 0 }));
    const f =
      (await plain.run({ [DYNAMICS_NAMES.time]: feeds.t!, [DYNAMICS_NAMES.state]: feeds.z!, theta: feeds.theta }))[
        DYNAMICS_NAMES.derivative
      ]!;
    assertEquals([...f.data as Float64Array], [...zData.map((v, i) => theta[i % 2]! * v)]);
  } finally {
    await runtime.dispose();
  }
  assertThrows(() => wongZakaiGraph({ drift, diffusion, t0: 1, t1: 1, cosines: 2 }), RangeError, "t0 < t1");
});
