import { adjoint, gq, type GradientMethod } from "../gradients/method.ts";
import { mlpDynamics } from "../models/mlp.ts";
import { nestedSpheres } from "../data/nested_spheres.ts";
import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import type { Batch } from "./neural_ode.ts";
import { buildReadout, initReadout } from "./readout.ts";
import {
  type BatchSource,
  trainNeuralOde,
  type TrainOptions,
  type TrainState,
  trainStateFromJson,
  trainStateToJson,
} from "./trainer.ts";

const runtime = new Runtime({ threads: 1 });

/** The numbers of a float tensor's data. */
const values = (t: { data: unknown } | undefined): number[] => Array.from((t?.data ?? []) as ArrayLike<number>);

/** A small nested-spheres classification task: 60 training points, batches of 20. */
function spheresTask(dtype: "float32" | "float64" = "float64") {
  const data = nestedSpheres({ trainPerClass: 30, testPerClass: 10, seed: 3 });
  const source = (inputs: Float64Array, labels: Int32Array): BatchSource => ({
    size: labels.length,
    batch(indices): Batch {
      const b = indices.length;
      const x = new Float64Array(2 * b), targets = new Float64Array(2 * b * 2), mask = new Float64Array(2 * b);
      indices.forEach((i, j) => {
        x.set(inputs.subarray(2 * i, 2 * i + 2), 2 * j);
        targets[(b + j) * 2 + labels[i]!] = 1;
        mask[b + j] = 1;
      });
      return { x, size: b, times: [0, 1], targets, mask };
    },
  });
  const train = source(data.train.inputs.data, data.train.labels.data);
  const testSource = source(data.test.inputs.data, data.test.labels.data);
  const test = testSource.batch(Int32Array.from({ length: testSource.size }, (_, i) => i));
  const { dynamics, init } = mlpDynamics({ stateDim: 3, hidden: [12, 12], time: "concat", dtype, seed: 5 });
  const readout = buildReadout({ stateDim: 3, outDim: 2, head: "linear", loss: "cross-entropy", dtype });
  const params = { ...init, ...initReadout(readout, new Random(6), dtype) };
  return { model: { dynamics, readout, dataDim: 2, augment: 1 }, params, train, test };
}

function options(method: GradientMethod, extra: Partial<TrainOptions> = {}): TrainOptions {
  const task = spheresTask();
  return {
    runtime,
    ...task,
    epochs: 4,
    batchSize: 20,
    seed: 11,
    optimizer: { lr: 0.01 },
    gradient: { method, rtol: 1e-6, atol: 1e-6 },
    ...extra,
  };
}

Deno.test("trainNeuralOde() gives bit-identical losses and parameters from the same seed", async () => {
  const a = await trainNeuralOde(options(gq(), { epochs: 2 }));
  const b = await trainNeuralOde(options(gq(), { epochs: 2 }));
  assertEquals(a.history.map((h) => [h.trainLoss, h.testLoss]), b.history.map((h) => [h.trainLoss, h.testLoss]));
  for (const [name, t] of Object.entries(a.params)) assertEquals(values(t), values(b.params[name]!));
  const c = await trainNeuralOde(options(gq(), { epochs: 2, seed: 12 }));
  assert(c.history[0]!.trainLoss !== a.history[0]!.trainLoss, "another shuffle seed gives other batches");
});

Deno.test("trainNeuralOde() with gq and adjoint gives loss curves that agree over the first epochs", async () => {
  const g = await trainNeuralOde(options(gq(), { epochs: 3 }));
  const a = await trainNeuralOde(options(adjoint(), { epochs: 3 }));
  assertClose(g.history.map((h) => h.trainLoss), a.history.map((h) => h.trainLoss), 1e-4, "training loss");
  assertClose(g.history.map((h) => h.testLoss!), a.history.map((h) => h.testLoss!), 1e-4, "test loss");
  assert(g.history[2]!.trainLoss < g.history[0]!.trainLoss, "the loss falls");
});

Deno.test("trainNeuralOde() stopped mid-epoch and resumed from its JSON state matches an uninterrupted run", async () => {
  const full = await trainNeuralOde(options(gq()));
  const controller = new AbortController();
  let saved: TrainState | undefined;
  const first = await trainNeuralOde(options(gq(), {
    signal: controller.signal,
    onEpoch: (_, state) => void (saved = state),
    // Abort during epoch 3 (3 batches per epoch): its partial updates must be rolled back.
    onBatch: (b) => (b.epoch === 3 && b.batch === 2 ? controller.abort() : undefined),
  }));
  assert(first.stopped, "stopped");
  assertEquals(first.history.length, 2);
  assertEquals(saved?.epoch, 2);
  for (const [name, t] of Object.entries(first.params)) {
    assertEquals(values(t), values(saved!.params[name]!), `rolled back ${name}`);
  }
  assertEquals(first.state.adam.step, saved!.adam.step, "optimiser step rolled back");
  for (const [name, m] of Object.entries(saved!.adam.m)) {
    assertEquals(Array.from(first.state.adam.m[name]!), Array.from(m), `first moment of ${name} rolled back`);
  }
  const state = trainStateFromJson(JSON.parse(JSON.stringify(trainStateToJson(saved!))));
  const resumed = await trainNeuralOde(options(gq(), { resume: state }));
  assert(!resumed.stopped);
  assertEquals(resumed.history.map((h) => h.trainLoss), full.history.map((h) => h.trainLoss));
  for (const [name, t] of Object.entries(full.params)) {
    assertEquals(values(resumed.params[name]!), values(t), `parameter ${name}`);
  }
});

Deno.test("trainNeuralOde() float32 parameters survive the checkpoint round trip exactly", async () => {
  const task = spheresTask("float32");
  const r = await trainNeuralOde({
    runtime,
    ...task,
    epochs: 1,
    batchSize: 30,
    gradient: { method: gq() },
  });
  const back = trainStateFromJson(JSON.parse(JSON.stringify(trainStateToJson(r.state))));
  for (const [name, t] of Object.entries(r.state.params)) {
    assert(back.params[name]!.data instanceof Float32Array, `${name} stays float32`);
    assertEquals(values(back.params[name]!), values(t));
  }
  assertEquals(back.adam.step, 2);
  assertEquals(back.history, r.state.history);
});

Deno.test("trainNeuralOde() refuses bad options and trainStateFromJson() refuses other files", async () => {
  let error: unknown;
  try {
    await trainNeuralOde(options(gq(), { epochs: 0 }));
  } catch (e) {
    error = e;
  }
  assert(error instanceof RangeError && error.message.includes("epochs must be a positive integer, got 0"));
  assertThrows(() => trainStateFromJson({ format: "other" }), SyntaxError, 'format is "other"');
  assertThrows(() => trainStateFromJson({ format: "quadjoint.train/1" }), SyntaxError, 'expected "quadjoint.train/2"');
  const short = { dtype: "float64", dims: [2], data: btoa("\0".repeat(8)) };
  assertThrows(
    () => trainStateFromJson({ format: "quadjoint.train/2", epoch: 1, params: { w: short }, history: [] }),
    SyntaxError,
    'Checkpoint parameter "w" has 8 bytes, expected 16',
  );
});
