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
