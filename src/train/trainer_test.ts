import { adjoint, gq, type GradientMethod } from "../gradients/method.ts";
import { mlpDynamics } from "../models/mlp.ts";
import { nestedSpheres } from "../data/nested_spheres.ts";
import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import type { Batch } from "./neural_ode.ts";
import { buildReadout, initReadout } from "./readout.ts";
import { decodeSafetensors, encodeSafetensors } from "../models/safetensors.ts";
import {
  type BatchSource,
  type EpochTotals,
  trainNeuralOde,
  type TrainOptions,
  type TrainState,
  trainStateFromParts,
  trainStateHeader,
  trainStateTensors,
} from "./trainer.ts";

const runtime = new Runtime({ threads: 1 });

/** `state` through a checkpoint's two parts: its header as JSON text, its tensors as safetensors bytes. */
function throughCheckpoint<E extends EpochTotals>(state: TrainState<E>): TrainState<E> {
  const { tensors } = decodeSafetensors(encodeSafetensors(trainStateTensors(state)));
  return trainStateFromParts<E>(JSON.parse(JSON.stringify(trainStateHeader(state))), tensors);
}

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

Deno.test("trainNeuralOde() stopped mid-epoch and resumed from its checkpoint matches an uninterrupted run", async () => {
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
  const state = throughCheckpoint(saved!);
  const resumed = await trainNeuralOde(options(gq(), { resume: state }));
  assert(!resumed.stopped);
  assertEquals(resumed.history.map((h) => h.trainLoss), full.history.map((h) => h.trainLoss));
  for (const [name, t] of Object.entries(full.params)) {
    assertEquals(values(resumed.params[name]!), values(t), `parameter ${name}`);
  }
});

Deno.test("trainNeuralOde() float32 parameters and moments survive the checkpoint round trip exactly", async () => {
  const task = spheresTask("float32");
  const r = await trainNeuralOde({
    runtime,
    ...task,
    epochs: 1,
    batchSize: 30,
    gradient: { method: gq() },
  });
  const back = throughCheckpoint(r.state);
  for (const [name, t] of Object.entries(r.state.params)) {
    assert(back.params[name]!.data instanceof Float32Array, `${name} stays float32`);
    assert(back.adam.m[name] instanceof Float32Array && back.adam.v[name] instanceof Float32Array, `${name} moments`);
    assertEquals(values(back.params[name]!), values(t));
    assertEquals(back.params[name]!.dims, t.dims);
    assertEquals(Array.from(back.adam.m[name]!), Array.from(r.state.adam.m[name]!));
    assertEquals(Array.from(back.adam.v[name]!), Array.from(r.state.adam.v[name]!));
  }
  assertEquals(back.adam.step, 2);
  assertEquals(back.history, r.state.history);
});

Deno.test("trainNeuralOde() hands each state to onEpoch intact and trains in at most two sets of arrays", async () => {
  const seen: { epoch: number; w: number[]; array: unknown }[] = [];
  const r = await trainNeuralOde(options(gq(), {
    epochs: 5,
    onEpoch: (_, state) => {
      const w = state.params[Object.keys(state.params)[0]!]!.data as Float64Array;
      seen.push({ epoch: state.epoch, w: Array.from(w), array: w });
    },
  }));
  // The arrays alternate from epoch 2 on; the initial parameters (the caller's) are never trained in.
  const arrays = new Set(seen.map((s) => s.array));
  assertEquals(arrays.size, 2);
  assert(seen[1]!.array === seen[3]!.array && seen[2]!.array === seen[4]!.array, "recycled");
  assert(!arrays.has(options(gq()).params[Object.keys(r.params)[0]!]!.data), "not the caller's");
  // Each state was as the epoch left it when onEpoch saw it: a fresh run's epochs agree.
  const again: number[][] = [];
  for (let epochs = 1; epochs <= 5; epochs++) {
    const one = await trainNeuralOde(options(gq(), { epochs }));
    again.push(values(one.params[Object.keys(one.params)[0]!]!));
  }
  assertEquals(seen.map((s) => s.w), again);
});

Deno.test("trainNeuralOde() refuses bad options and trainStateFromParts() refuses other states", async () => {
  let error: unknown;
  try {
    await trainNeuralOde(options(gq(), { epochs: 0 }));
  } catch (e) {
    error = e;
  }
  assert(error instanceof RangeError && error.message.includes("epochs must be a positive integer, got 0"));
  assertThrows(() => trainStateFromParts({ format: "other" }, {}), SyntaxError, 'format is "other"');
  assertThrows(
    () => trainStateFromParts({ format: "quadjoint.train/2" }, {}),
    SyntaxError,
    'expected "quadjoint.train/3"',
  );
  const header = { format: "quadjoint.train/3", epoch: 1, adamStep: 3, history: [] };
  const w = { dtype: "float64", dims: [2], data: new Float64Array(2) } as const;
  const short = { dtype: "float64", dims: [1], data: new Float64Array(1) } as const;
  assertThrows(
    () => trainStateFromParts(header, { "param/w": w, "adam.m/w": w }),
    SyntaxError,
    'parameter "w" has no float Adam moment v',
  );
  assertThrows(
    () => trainStateFromParts(header, { "param/w": w, "adam.m/w": w, "adam.v/w": short }),
    SyntaxError,
    'moment v of "w" has 1 elements, the parameter 2',
  );
  assertThrows(() => trainStateFromParts(header, { "adam.m/u": w }), SyntaxError, '"adam.m/u" is a moment of no');
  assertThrows(() => trainStateFromParts(header, { other: w }), SyntaxError, '"other" is not a parameter');
  const state = trainStateFromParts(header, { "param/w": w, "adam.m/w": w, "adam.v/w": w });
  assertEquals([state.epoch, state.adam.step, Object.keys(state.params)], [1, 3, ["w"]]);
});
