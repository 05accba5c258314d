import { mlpDynamics } from "../../models/mlp.ts";
import { readSafetensors } from "../../models/safetensors.ts";
import { readModel } from "../../onnx/proto.ts";
import { tensor, toNumbers } from "../../onnx/tensor.ts";
import { Runtime } from "../../runtime/session.ts";
import { assertClose, assertEquals } from "../../util/testing.ts";
import { makeDataset } from "../data_stage.ts";
import { PipelineSchema } from "../schema.ts";
import { buildTask } from "../task_stage.ts";
import { writeTrainedModel, writeTrainedSde } from "./_model_files.ts";

Deno.test("writeTrainedModel() writes an MLP's dynamics, encoder, linear head and weights that compute what the task computes", async () => {
  const config = PipelineSchema.parse({
    name: "files",
    data: { kind: "nested-spheres", trainPerClass: 2, testPerClass: 1 },
    model: {
      encoder: { kind: "augment", dims: 2 },
      dynamics: { kind: "mlp", width: 5, activation: "softplus", time: "concat" },
      head: { kind: "linear" },
      dtype: "float64",
    },
    solve: {},
    gradient: { method: "gq" },
    train: { epochs: 1 },
  });
  const task = buildTask(config, makeDataset(config.data));
  const dir = await Deno.makeTempDir();
  const rt = new Runtime({ threads: 1 });
  try {
    const written = await writeTrainedModel(dir, task.model, task.params, { cellId: "c1", pipeline: "files" });
    assertEquals(written, ["model.onnx", "encoder.onnx", "head.onnx", "weights.safetensors"]);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [...written].sort(), "no temporary files");
    const { tensors, metadata } = await readSafetensors(`${dir}/weights.safetensors`);
    assertEquals(Object.keys(tensors), Object.keys(task.params));
    for (const [name, t] of Object.entries(task.params)) assertEquals(tensors[name], t, name);
    assertEquals(JSON.parse(metadata.head!), ["head.weight", "head.bias"]);
    assertEquals(JSON.parse(metadata.files!), ["model.onnx", "encoder.onnx", "head.onnx"]);

    const z = tensor(Float64Array.of(0.5, -1, 0, 0, 2, 0.25, 0, 0), [2, 4]);
    const t = tensor(Float64Array.of(0.3), []);
    const model = await readModel(`${dir}/model.onnx`);
    assertEquals(model.inputs.map((v) => v.name), ["t", "z"]);
    const dynamics = Object.fromEntries(task.model.dynamics.params.map((p) => [p.name, task.params[p.name]!]));
    const want = await (await rt.compile(task.model.dynamics.graph)).run({ t, z, ...dynamics });
    const got = await (await rt.compile(model)).run({ t, z });
    assertEquals(toNumbers(got.dz!), toNumbers(want.dz!));

    const x = tensor(Float64Array.of(0.5, -1, 2, 0.25), [2, 2]);
    const z0 = (await (await rt.compile(await readModel(`${dir}/encoder.onnx`))).run({ x })).z0!;
    assertEquals(toNumbers(z0), toNumbers(z));

    const y = (await (await rt.compile(await readModel(`${dir}/head.onnx`))).run({ z })).y!;
    const w = toNumbers(task.params["head.weight"]!), b = toNumbers(task.params["head.bias"]!);
    const expected = [0, 1].flatMap((r) =>
      [0, 1].map((o) => b[o]! + [0, 1, 2, 3].reduce((s, k) => s + w[o * 4 + k]! * toNumbers(z)[r * 4 + k]!, 0))
    );
    assertClose(toNumbers(y), expected, 1e-14, "y = z Wᵀ + b");
  } finally {
    await rt.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeTrainedModel()'s MLP head computes the readout's predictions (one definition of the dense head)", async () => {
  const config = PipelineSchema.parse({
    name: "mlp-head",
    data: { kind: "nested-spheres", trainPerClass: 2, testPerClass: 1 },
    model: {
      encoder: { kind: "augment", dims: 1 },
      dynamics: { kind: "mlp", width: 4, activation: "softplus" },
      head: { kind: "mlp", hidden: [3, 5], activation: "tanh" },
      dtype: "float64",
    },
    solve: {},
    gradient: { method: "gq" },
    train: { epochs: 1, loss: "cross-entropy" },
  });
  const task = buildTask(config, makeDataset(config.data));
  const { readout } = task.model;
  assertEquals(Object.keys(readout.params), [
    "head.l0.weight",
    "head.l0.bias",
    "head.l1.weight",
    "head.l1.bias",
    "head.l2.weight",
    "head.l2.bias",
  ]);
  const dir = await Deno.makeTempDir();
  const rt = new Runtime({ threads: 1 });
  try {
    await writeTrainedModel(dir, task.model, task.params, { cellId: "c1", pipeline: "mlp-head" });
    const rows = 3, state = readout.stateDim;
    const z = tensor(Float64Array.from({ length: rows * state }, (_, i) => Math.sin(i + 1)), [rows, state]);
    const got = (await (await rt.compile(await readModel(`${dir}/head.onnx`))).run({ z })).y!;
    const head = Object.fromEntries(Object.keys(readout.params).map((n) => [n, task.params[n]!]));
    const want = await (await rt.compile(readout.graph)).run({
      zs: tensor(z.data, [1, rows, state]),
      ...head,
      target: tensor(new Float64Array(rows * readout.outDim), [1, rows, readout.outDim]),
      mask: tensor(new Float64Array(rows).fill(1), [1, rows]),
    });
    assertEquals(got.dims, [rows, readout.outDim]);
    assertClose(toNumbers(got), toNumbers(want[readout.outputs.pred!]!), 1e-14, "head.onnx y = readout pred");
  } finally {
    await rt.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeTrainedSde() writes a neural SDE's drift, diffusion and weights that compute what the trained graphs compute", async () => {
  const drift = mlpDynamics({ stateDim: 1, hidden: [4], time: "concat", dtype: "float64", seed: 1 });
  const diffusion = mlpDynamics({ stateDim: 1, hidden: [3], dtype: "float64", seed: 2, paramPrefix: "g" });
  const params = { ...drift.init, ...diffusion.init };
  const dir = await Deno.makeTempDir();
  const rt = new Runtime({ threads: 1 });
  try {
    const sde = { drift: drift.dynamics, diffusion: diffusion.dynamics };
    const written = await writeTrainedSde(dir, sde, params, { cellId: "c1", pipeline: "sde" });
    assertEquals(written, ["drift.onnx", "diffusion.onnx", "weights.safetensors"]);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [...written].sort(), "no temporary files");
    const { tensors, metadata } = await readSafetensors(`${dir}/weights.safetensors`);
    for (const [name, t] of Object.entries(params)) assertEquals(tensors[name], t, name);
    assertEquals(JSON.parse(metadata.drift!), drift.dynamics.params.map((p) => p.name));
    assertEquals(JSON.parse(metadata.diffusion!), diffusion.dynamics.params.map((p) => p.name));
    const z = tensor(Float64Array.of(0.5, -1.5), [2, 1]);
    const t = tensor(Float64Array.of(0.3), []);
    for (const [file, dynamics] of [["drift.onnx", drift.dynamics], ["diffusion.onnx", diffusion.dynamics]] as const) {
      const weights = Object.fromEntries(dynamics.params.map((p) => [p.name, params[p.name]!]));
      const want = await (await rt.compile(dynamics.graph)).run({ t, z, ...weights });
      const got = await (await rt.compile(await readModel(`${dir}/${file}`))).run({ t, z });
      assertEquals(toNumbers(got.dz!), toNumbers(want.dz!), file);
    }
  } finally {
    await rt.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
