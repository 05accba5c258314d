/**
 * Image-shaped states through the task stage and every gradient method: the
 * paper's image model (conv encoder, conv dynamics on [batch, C, H, W], MLP
 * head; models/conv_encoder.ts, model_kinds/conv.ts) on the committed 6×6 IDX
 * fixture in float64 gives the same loss gradients by direct, adjoint,
 * seminorm and gq, and they match central finite differences for entries of
 * the encoder, the dynamics and the head.
 */
import { METHOD_NAMES, methodByName } from "../gradients/method.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { evaluate, lossAndGradients } from "../train/neural_ode.ts";
import { assert, assertClose, assertEquals } from "../util/testing.ts";
import { makeDataset } from "./data_stage.ts";
import { PipelineSchema } from "./schema.ts";
import { buildTask, taskIssues } from "./task_stage.ts";

const DATA = new URL("../../tests/fixtures/data/", import.meta.url).pathname;

function imageConfig(model: Record<string, unknown>) {
  return PipelineSchema.parse({
    name: "images",
    data: {
      kind: "idx",
      images: `${DATA}images-idx3-ubyte`,
      labels: `${DATA}labels-idx1-ubyte.gz`,
      test: { images: `${DATA}test-images-idx3-ubyte.gz`, labels: `${DATA}test-labels-idx1-ubyte` },
      subset: { train: 4, test: 4 },
    },
    model: { dtype: "float64", ...model },
    solve: {},
    gradient: { method: "gq" },
    train: { epochs: 1 },
  });
}

Deno.test("an image neural ODE (conv encoder, conv dynamics on [batch, C, H, W], MLP head) has the same gradients by every method, matching finite differences", async () => {
  const config = imageConfig({
    encoder: { kind: "conv", channels: 2 },
    dynamics: { kind: "conv", channels: 3, time: "concat" },
    head: { kind: "mlp", hidden: [5] },
  });
  const task = buildTask(config, makeDataset(config.data));
  assertEquals(task.model.dynamics.stateShape, [2, 3, 3], "6×6 images pooled to 3×3, two channels");
  assertEquals(task.model.encoder!.stateShape, [2, 3, 3]);
  const batch = task.test;
  const settings = { rtol: 1e-10, atol: 1e-10 };
  const rt = new Runtime({ threads: 1 });
  try {
    const probes = [
      ["encoder.bn.weight", 0],
      ["encoder.conv0.weight", 12],
      ["encoder.conv1.bias", 1],
      ["conv0.weight", 7],
      ["conv2.bias", 1],
      ["head.l0.weight", 3],
      ["head.l1.bias", 2],
    ] as const;
    const lossAt = async (p: Record<string, Tensor>) => (await evaluate(rt, task.model, p, batch, settings)).loss;
    const h = 1e-5;
    const fd: number[] = [];
    for (const [name, i] of probes) {
      const shifted = (d: number) => {
        const data = (task.params[name]!.data as Float64Array).slice();
        data[i]! += d;
        return { ...task.params, [name]: { ...task.params[name]!, data } as Tensor };
      };
      fd.push((await lossAt(shifted(h)) - await lossAt(shifted(-h))) / (2 * h));
    }
    assert(fd.every((g) => Math.abs(g) > 1e-8), `every probe moves the loss: ${fd}`);
    for (const name of METHOD_NAMES) {
      const r = await lossAndGradients(rt, task.model, task.params, batch, { method: methodByName(name), ...settings });
      assertClose(probes.map(([p, i]) => r.grads[p]![i]!), fd, 1e-6, `${name} vs finite differences`);
    }
  } finally {
    await rt.dispose();
  }
});

Deno.test("taskIssues() refuses conv dynamics on vector states and a conv encoder on vector data, naming the field", () => {
  const flat = imageConfig({ encoder: { kind: "augment", dims: 1 }, dynamics: { kind: "conv", channels: 3 } });
  const issues = taskIssues(flat);
  assertEquals(issues.map((i) => i.path), ["model.dynamics.kind"]);
  assert(issues[0]!.message.includes("need image states"), issues[0]!.message);
  const vectors = PipelineSchema.parse({
    name: "v",
    data: { kind: "nested-spheres", trainPerClass: 4, testPerClass: 2 },
    model: { encoder: { kind: "conv" }, dynamics: { kind: "mlp", width: 4 } },
    solve: {},
    gradient: { method: "gq" },
    train: { epochs: 1 },
  });
  const refused = taskIssues(vectors);
  assertEquals(refused.map((i) => i.path), ["model.encoder.kind"]);
  assert(refused[0]!.message.includes("takes images"), refused[0]!.message);
});
