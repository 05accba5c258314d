import { assert, assertEquals } from "../util/testing.ts";
import { makeDataset } from "./data_stage.ts";
import { PipelineSchema } from "./schema.ts";
import { buildTask, taskIssues } from "./task_stage.ts";

const base = { name: "t", solve: {}, gradient: { method: "gq" }, train: { epochs: 1 } } as const;

Deno.test("buildTask() lays out nested-spheres batches as one-hot targets observed at the end time", () => {
  const config = PipelineSchema.parse({
    ...base,
    data: { kind: "nested-spheres", trainPerClass: 4, testPerClass: 2, seed: 1 },
    model: { encoder: { kind: "augment", dims: 2 }, dynamics: { kind: "mlp", width: 6 }, head: { kind: "linear" } },
    evaluate: { metrics: ["accuracy"] },
    solve: { times: { start: 0, end: 2 } },
  });
  const dataset = makeDataset(config.data);
  const task = buildTask(config, dataset);
  assertEquals([task.model.dataDim, task.model.augment], [2, 2]);
  // dynamics 4→6→6→4 plus a head 4→2
  assertEquals(task.paramCount, (4 * 6 + 6) + (6 * 6 + 6) + (6 * 4 + 4) + (4 * 2 + 2));
  const b = task.train.batch(Int32Array.of(5, 0));
  assertEquals(b.times, [0, 2]);
  assertEquals(Array.from(b.mask), [0, 0, 1, 1]);
  if (dataset.kind !== "nested-spheres") throw new Error("wrong data");
  const labels = dataset.data.train.labels.data;
  const x = dataset.data.train.inputs.data;
  assertEquals(Array.from(b.x), [x[10]!, x[11]!, x[0]!, x[1]!]);
  assertEquals(Array.from(b.targets.subarray(4)), [
    labels[5] === 0 ? 1 : 0,
    labels[5],
    labels[0] === 0 ? 1 : 0,
    labels[0],
  ]);
  // Predictions that score the true class highest give accuracy 1; swapped, 0.
  const right = new Float64Array(b.targets.length), wrong = new Float64Array(b.targets.length);
  b.targets.forEach((t, i) => ((right[i] = t), (wrong[i] = 1 - t)));
  assertEquals(task.metric(right, b, 0), 1);
  assertEquals(task.metric(wrong, b, 0), 0);
  // NaN logits are wrong answers (NaN compares false, which used to leave every row at class 0).
  assertEquals(task.metric(new Float64Array(b.targets.length).fill(NaN), b, 0), 0);
});

Deno.test("buildTask() gives sines batches on the union of times with a mask, and an MSE metric", () => {
  const config = PipelineSchema.parse({
    ...base,
    data: { kind: "sines", times: "irregular", timesPerSequence: 3, train: 4, test: 2 },
    model: { dynamics: { kind: "mlp", width: 5 }, form: "second-order" },
    evaluate: { metrics: ["mse"] },
  });
  const task = buildTask(config, makeDataset(config.data));
  assertEquals(task.metricName, "mse");
  assertEquals(task.loss, "mse");
  const b = task.train.batch(Int32Array.of(0, 1));
  assertEquals(b.times[0], 0);
  assertEquals(b.times.length, 5, "t = 0 shared, two own times each");
  assertEquals(b.mask.reduce((s, m) => s + m, 0), 6);
  // Predicting the targets exactly gives MSE 0; off by 0.5 everywhere observed, 0.25.
  const pred = b.targets.slice();
  assertEquals(task.metric(pred, b, NaN), 0);
  const off = pred.map((p) => p + 0.5);
  assertEquals(task.metric(off, b, NaN), 0.25);
});

Deno.test("taskIssues() names the field of a combination the engine cannot build", () => {
  const config = PipelineSchema.parse({
    ...base,
    data: { kind: "sines" },
    model: { encoder: { kind: "augment", dims: 1 }, dynamics: { kind: "mlp", width: 5 }, form: "second-order" },
  });
  const issues = taskIssues(config);
  // The odd state (2 + 1) and the augmentation are both refused.
  assertEquals(issues.map((i) => i.path), ["model.form", "model.encoder.kind"]);
  assert(issues[0]!.message.includes("even state size (x, v), got 3"), issues[0]!.message);
  assert(issues[1]!.message.includes("second-order"));
});

Deno.test("buildTask() gives crossing-trajectories batches with targets observed at the end time only", () => {
  const config = PipelineSchema.parse({
    ...base,
    data: { kind: "crossing-trajectories" },
    model: { encoder: { kind: "augment", dims: 3 }, dynamics: { kind: "mlp", width: 4 } },
  });
  const task = buildTask(config, makeDataset(config.data));
  assertEquals([task.model.dataDim, task.model.augment, task.metricName], [1, 3, "mse"]);
  const b = task.train.batch(Int32Array.of(1, 0));
  assertEquals([Array.from(b.x), b.times], [[-1, 1], [0, 1]]);
  assertEquals(Array.from(b.targets), [0, 0, 1, -1]);
  assertEquals(Array.from(b.mask), [0, 0, 1, 1]);
  assertEquals(task.test.size, 2);
});
