/**
 * lossAndGradients() with a trainable encoder (the committed torch export
 * tests/fixtures/torch_layers/encoder.onnx, Linear(2, 4) → Tanh, in float64):
 * the encoder's weight gradients — from each method's dL/dz0 through the
 * encoder's VJP graph — match central finite differences of the loss, and
 * every method agrees on them; evaluate() gives the same loss.
 */
import { importEncoder } from "../models/imported_layer.ts";
import { mlpDynamics } from "../models/mlp.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { METHOD_NAMES, methodByName } from "../gradients/method.ts";
import { Random } from "../util/random.ts";
import { assertClose, assertEquals } from "../util/testing.ts";
import { type Batch, evaluate, lossAndGradients, type NeuralOde } from "./neural_ode.ts";
import { buildReadout, initReadout } from "./readout.ts";

const ENCODER = new URL("../../tests/fixtures/torch_layers/encoder.onnx", import.meta.url).pathname;
const SETTINGS = { rtol: 1e-10, atol: 1e-10 };

async function encodedModel(): Promise<{ model: NeuralOde; params: Record<string, Tensor>; batch: Batch }> {
  const encoder = await importEncoder(ENCODER, { dtype: "float64" });
  const { dynamics, init } = mlpDynamics({ stateDim: 4, hidden: [6], time: "concat", dtype: "float64", seed: 3 });
  const readout = buildReadout({ stateDim: 4, outDim: 2, head: "linear", loss: "cross-entropy", dtype: "float64" });
  const params = { ...init, ...initReadout(readout, new Random(4), "float64"), ...encoder.init };
  const rng = new Random(9);
  const x = new Float64Array(3 * 2);
  rng.fillUniform(x, -1, 1);
  const targets = new Float64Array(2 * 3 * 2), mask = new Float64Array(2 * 3);
  [0, 1, 1].forEach((label, j) => {
    targets[(3 + j) * 2 + label] = 1;
    mask[3 + j] = 1;
  });
  const batch = { x, size: 3, times: [0, 0.8], targets, mask };
  return { model: { dynamics, readout, dataDim: 2, augment: 0, encoder }, params, batch };
}

Deno.test("lossAndGradients() trains an ONNX encoder: its weight gradients match finite differences for every method", async () => {
  const rt = new Runtime({ threads: 1 });
  try {
    const { model, params, batch } = await encodedModel();
    const lossAt = async (p: Record<string, Tensor>) => (await evaluate(rt, model, p, batch, SETTINGS)).loss;
    const names = model.encoder!.params.map((p) => p.name);
    assertEquals(names, ["encoder.l1.weight", "encoder.l1.bias"]);
    const h = 1e-6;
    const fd: Record<string, number[]> = {};
    for (const name of names) {
      const base = params[name]!.data as Float64Array;
      fd[name] = [];
      for (let i = 0; i < base.length; i++) {
        const shifted = (d: number) => {
          const data = base.slice();
          data[i]! += d;
          return { ...params, [name]: { ...params[name]!, data } as Tensor };
        };
        fd[name]!.push((await lossAt(shifted(h)) - await lossAt(shifted(-h))) / (2 * h));
      }
    }
    for (const methodName of METHOD_NAMES) {
      const method = methodByName(methodName);
      const r = await lossAndGradients(rt, model, params, batch, { method, ...SETTINGS });
      assertClose(r.loss, await lossAt(params), 1e-12, `${methodName}: loss`);
      for (const name of names) assertClose([...r.grads[name]!], fd[name]!, 1e-6, `${methodName}: ${name}`);
    }
  } finally {
    await rt.dispose();
  }
});
