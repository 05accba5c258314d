/**
 * `model.dynamics.kind: onnx` end to end: the committed torch exports
 * (tests/fixtures/torch_dynamics/dynamo_time.onnx, weights in its .onnx.data
 * file, t of shape [1]; and dynamo_layernorm_gelu.onnx, the same with
 * LayerNorm and exact GELU) train from a pipeline file
 * (tests/fixtures/pipelines/onnx/) and their loss falls; the cell's model.onnx and weights.safetensors round-trip
 * through quadjoint's import (and, where bench/.venv has torch and onnx,
 * through Python); a missing file, an invalid file, a shape mismatch and a
 * model with every weight frozen exit 2 before any work, naming the file and
 * the field, writing nothing.
 */
import { readModel } from "../../onnx/proto.ts";
import { type Tensor, tensor, toNumbers } from "../../onnx/tensor.ts";
import { importDynamics } from "../../models/imported.ts";
import { readSafetensors } from "../../models/safetensors.ts";
import { Runtime } from "../../runtime/session.ts";
import { assert, assertEquals, assertThrows } from "../../util/testing.ts";
import { main } from "../cli.ts";
import { parsePipeline } from "../parse.ts";
import { PipelineSchema } from "../schema.ts";
import { taskIssues } from "../task_stage.ts";
import { resolveModelFiles } from "./_paths.ts";
import { onnxModel } from "./onnx.ts";
import { dynamicsWidth } from "./registry.ts";

const FIXTURES = new URL("../../../tests/fixtures/", import.meta.url);
const PIPELINES = new URL("pipelines/onnx/", FIXTURES).pathname;
const TORCH = new URL("torch_dynamics/dynamo_time.onnx", FIXTURES).pathname;
const LAYER_NORM_GELU = new URL("torch_dynamics/dynamo_layernorm_gelu.onnx", FIXTURES).pathname;
const PYTHON = new URL("../../../bench/.venv/bin/python", import.meta.url).pathname;
const quiet = { progress: { tty: false, write: () => {} } } as const;

/** Names of every file under `dir`, relative to it. */
function filesUnder(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory) out.push(...filesUnder(`${dir}/${e.name}`, `${prefix}${e.name}/`));
    else out.push(`${prefix}${e.name}`);
  }
  return out.sort();
}

/**
 * Runs the pipeline file `file` of tests/fixtures/pipelines/onnx/ (its `name` given) into `out` and checks that it
 * exits 0 after `epochs` epochs with its last training loss under 0.8 × its first; the run's folder, results and
 * losses.
 */
async function trainsAndLossFalls(file: string, name: string, out: string, epochs: number) {
  const errors: string[] = [];
  const code = await main([`${PIPELINES}${file}`, "--out", out, "--threads", "1"], {
    ...quiet,
    error: (m) => errors.push(m),
  });
  assertEquals(code, 0, errors.join("\n"));
  const dir = `${out}/${name}`;
  const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
  const losses = results.results.epochs.map((e: { trainLoss: number }) => e.trainLoss) as number[];
  assertEquals(losses.length, epochs);
  assert(losses.at(-1)! < 0.8 * losses[0]!, `${file}: loss ${losses[0]} → ${losses.at(-1)}`);
  return { dir, results, losses };
}

async function dzOf(rt: Runtime, graph: Parameters<Runtime["compile"]>[0], feeds: Record<string, Tensor>) {
  return toNumbers((await (await rt.compile(graph)).run(feeds)).dz!);
}

Deno.test("the onnx kind trains a torch export from a pipeline file, its loss falls, and the cell writes a model that computes the trained dz", async () => {
  const out = await Deno.makeTempDir();
  const rt = new Runtime({ threads: 1 });
  try {
    const { dir, results } = await trainsAndLossFalls("train.yaml", "onnx-train", out, 12);
    assertEquals(results.results.runs[0].width, 24, "the widest layer of l1, l2, l3 (24, 24, 2)");
    assertEquals(results.results.runs[0].params, 24 * 3 + 24 + 24 * 24 + 24 + 2 * 24 + 2);
    const cell = `${dir}/cells/base`;
    // A finished cell keeps its model files and records; its checkpoint is removed.
    assertEquals(filesUnder(cell), ["encoder.onnx", "model.onnx", "result.json", "weights.safetensors"]);

    // weights.safetensors holds the trained parameters (not the export's), in the export's names, dtypes and shapes.
    const { tensors, metadata } = await readSafetensors(`${cell}/weights.safetensors`);
    const original = await importDynamics(TORCH);
    assertEquals(Object.keys(tensors).sort(), Object.keys(original.init).sort());
    for (const [name, t] of Object.entries(original.init)) {
      assertEquals([tensors[name]!.dtype, tensors[name]!.dims], [t.dtype, t.dims], name);
    }
    assert(toNumbers(tensors["l2.weight"]!).some((v, i) => v !== toNumbers(original.init["l2.weight"]!)[i]), "trained");
    assertEquals([metadata.format, metadata.cell, metadata.dtype], ["quadjoint.weights/1", "base", "F32"]);
    assertEquals(JSON.parse(metadata.dynamics!), Object.keys(original.init));

    // model.onnx: t and z in, dz out, weights baked; it gives the dz of the export run with the trained weights.
    const model = await readModel(`${cell}/model.onnx`);
    assertEquals(model.inputs.map((v) => [v.name, v.shape]), [["t", []], ["z", ["batch", 2]]]);
    assertEquals(model.outputs.map((v) => v.name), ["dz"]);
    assertEquals(model.opsetImports, original.dynamics.graph.opsetImports, "the export's opset");
    const feeds = {
      t: tensor(Float32Array.of(0.4), []),
      z: tensor(Float32Array.of(1, 0, -1, 0, 0.3, -0.2), [3, 2]),
    };
    const trained = await dzOf(rt, original.dynamics.graph, { ...feeds, ...tensors });
    assertEquals(await dzOf(rt, model, feeds), trained);
    const before = await dzOf(rt, original.dynamics.graph, { ...feeds, ...original.init });
    assert(trained.some((v, i) => Math.abs(v - before[i]!) > 1e-4), "training changed dz");
    // Imported again, its lifted weights are the trained ones.
    const again = await importDynamics(`${cell}/model.onnx`);
    assertEquals(Object.keys(again.init), Object.keys(tensors));
    for (const [name, t] of Object.entries(again.init)) assertEquals(toNumbers(t), toNumbers(tensors[name]!), name);
    assertEquals(await dzOf(rt, again.dynamics.graph, { ...feeds, ...again.init }), trained);

    // encoder.onnx appends the augmented zero.
    const encoder = await (await rt.compile(await readModel(`${cell}/encoder.onnx`))).run({
      x: tensor(Float32Array.of(1, -1), [2, 1]),
    });
    assertEquals([encoder.z0!.dims, toNumbers(encoder.z0!)], [[2, 2], [1, 0, -1, 0]]);
  } finally {
    await rt.dispose();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("the onnx kind trains torch's default export of Linear → LayerNorm → exact GELU → Linear from a pipeline file and its loss falls", async () => {
  const out = await Deno.makeTempDir();
  try {
    const { dir, results } = await trainsAndLossFalls(
      "train_layernorm_gelu.yaml",
      "onnx-train-layernorm-gelu",
      out,
      12,
    );
    const run = results.results.runs[0];
    assertEquals([run.width, run.params], [32, 32 * 3 + 32 + 32 + 32 + 2 * 32 + 2]);
    // Every weight trained, LayerNorm's scale and shift (inline in the .onnx) and l1.weight (in its .onnx.data) too.
    const { tensors } = await readSafetensors(`${dir}/cells/base/weights.safetensors`);
    const original = await importDynamics(LAYER_NORM_GELU);
    assertEquals(Object.keys(tensors), ["l1.weight", "l1.bias", "norm.weight", "norm.bias", "l2.weight", "l2.bias"]);
    for (const [name, t] of Object.entries(tensors)) {
      const before = toNumbers(original.init[name]!);
      assert(toNumbers(t).some((v, i) => v !== before[i]), `${name} did not change`);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

const REFUSED = [
  { file: "missing_file.yaml", path: "model.dynamics.file", names: "no_such_model.onnx", says: "No such file" },
  { file: "not_onnx.yaml", path: "model.dynamics.file", names: "dynamo_time.json", says: "not a valid protobuf" },
  { file: "shape_mismatch.yaml", path: "model.dynamics.file", names: "dynamo_time.onnx", says: "[batch, 2]" },
  { file: "all_frozen.yaml", path: "model.dynamics.freeze", names: "dynamo_time.onnx", says: "no weight left" },
] as const;

for (const { file, path, names, says } of REFUSED) {
  Deno.test(`main() refuses ${file} with exit code 2 at ${path}, naming the model file, and writes nothing`, async () => {
    const out = await Deno.makeTempDir();
    try {
      const messages: string[] = [];
      const pipeline = `${PIPELINES}${file}`;
      const code = await main([pipeline, "--out", out, "--threads", "1"], { ...quiet, error: (m) => messages.push(m) });
      assertEquals(code, 2, messages.join("\n"));
      const text = messages.join("\n");
      assert(text.startsWith(`${pipeline}: ${path}: `), text);
      // The path relative to the pipeline file, resolved: tests/fixtures/torch_dynamics/<name>.
      assert(text.includes(new URL(`torch_dynamics/${names}`, FIXTURES).pathname), text);
      assert(text.includes(says), text);
      assertEquals(filesUnder(out), []);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  });
}

Deno.test("the shape mismatch message gives both shapes", () => {
  const text = `data: { kind: crossing-trajectories }
model: { encoder: { kind: augment, dims: 2 }, dynamics: { kind: onnx, file: ${TORCH} } }
name: x
solve: {}
gradient: { method: gq }
train: { epochs: 1 }`;
  const issues = taskIssues(parsePipeline(text, "x.yaml"));
  assertEquals(issues.map((i) => i.path), ["model.dynamics.file"]);
  assert(issues[0]!.message.includes("[batch, 2]") && issues[0]!.message.includes("[batch, 3]"), issues[0]!.message);
});

Deno.test("the onnx kind's width is the widest layer and its cost the layers' multiply-adds per sample", () => {
  const config = onnxModel.schema.parse({ kind: "onnx", file: TORCH });
  assertEquals(onnxModel.width(config), 24);
  // Gemm 3→24, 24→24, 24→2.
  assertEquals(onnxModel.macsPerSample(config, 2), 3 * 24 + 24 * 24 + 24 * 2);
  assertEquals(dynamicsWidth({ kind: "onnx", file: TORCH }), 24);
  assertEquals(dynamicsWidth({ kind: "onnx", file: "/no/such.onnx" }), undefined, "unreadable: no width");
  assertThrows(() => onnxModel.width(onnxModel.schema.parse({ kind: "onnx", file: "/no/such.onnx" })), RangeError);
});

Deno.test("the onnx kind freezes the weights named, prefixes a diffusion's parameters, and refuses a second-order form", async () => {
  const options = { stateDim: 2, form: "first-order", dtype: "float64", seed: 0 } as const;
  const frozen = onnxModel.schema.parse({ kind: "onnx", file: TORCH, freeze: ["l1.weight", "l1.bias"] });
  const built = onnxModel.build(frozen, options);
  assertEquals(Object.keys(built.init), ["l2.weight", "l2.bias", "l3.weight", "l3.bias"]);
  assertEquals(built.dynamics.dtype, "float64", "converted to model.dtype");
  const g = onnxModel.build(frozen, { ...options, paramPrefix: "g" });
  assertEquals(g.dynamics.params.map((p) => p.name), ["g.l2.weight", "g.l2.bias", "g.l3.weight", "g.l3.bias"]);
  assert(g.dynamics.graph.nodes.some((n) => n.inputs.includes("g.l2.weight")), "the graph reads the new names");
  const rt = new Runtime({ threads: 1 });
  try {
    const feeds = { t: tensor(Float64Array.of(0.2), []), z: tensor(Float64Array.of(0.5, -1), [1, 2]) };
    assertEquals(
      await dzOf(rt, g.dynamics.graph, { ...feeds, ...g.init }),
      await dzOf(rt, built.dynamics.graph, { ...feeds, ...built.init }),
      "renamed, the same f",
    );
  } finally {
    await rt.dispose();
  }
  // Built models own their initial tensors: training one does not change the next cell's start.
  assert(onnxModel.build(frozen, options).init["l2.weight"]!.data !== built.init["l2.weight"]!.data, "shared");
  const unknown = onnxModel.schema.parse({ kind: "onnx", file: TORCH, freeze: ["l9.weight"] });
  assertEquals(onnxModel.checks(unknown, options).map((i) => i.path), ["dynamics.freeze"]);
  const second = onnxModel.checks(frozen, { ...options, form: "second-order" });
  assertEquals(second.map((i) => i.path), ["form"]);
  assert(onnxModel.schema.safeParse({ kind: "onnx", file: TORCH, freeze: ["a", "a"] }).success === false, "repeat");
});

Deno.test("taskIssues() checks an onnx drift and diffusion of a neural SDE against its one-dimensional state", () => {
  const config = PipelineSchema.parse({
    name: "sde",
    data: { kind: "ornstein-uhlenbeck" },
    model: { dynamics: { kind: "onnx", file: TORCH } },
    solve: { dt: 0.1 },
    gradient: { method: "sde-adjoint" },
    train: { epochs: 1 },
  });
  assertEquals(taskIssues(config).map((i) => i.path), ["model.dynamics.file"], "the diffusion, like it, said once");
});

Deno.test("resolveModelFiles() makes model files relative to the pipeline file, in the model stage, quick and sweeps", () => {
  const raw = {
    model: { dynamics: { kind: "onnx", file: "a.onnx" }, diffusion: { kind: "onnx", file: "/abs/b.onnx" } },
    quick: { model: { dynamics: { file: "q.onnx" } } },
    sweep: {
      "model.dynamics.file": ["s1.onnx", "/abs/s2.onnx"],
      "model.dynamics": [{ kind: "onnx", file: "s3.onnx" }],
    },
  };
  const out = resolveModelFiles(raw, "/p/dir/run.yaml") as typeof raw;
  assertEquals(out.model.dynamics.file, "/p/dir/a.onnx");
  assertEquals(out.model.diffusion.file, "/abs/b.onnx");
  assertEquals(out.quick.model.dynamics.file, "/p/dir/q.onnx");
  assertEquals(out.sweep["model.dynamics.file"], ["/p/dir/s1.onnx", "/abs/s2.onnx"]);
  assertEquals(out.sweep["model.dynamics"][0]!.file, "/p/dir/s3.onnx");
  assertEquals(raw.model.dynamics.file, "a.onnx", "the input is not changed");
});

const python = (() => {
  try {
    return Deno.statSync(PYTHON).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "a trained model.onnx passes onnx's full checker, runs in onnx's evaluator (and onnxruntime when installed), and gives torch's dz with weights.safetensors read by numpy",
  ignore: !python,
  async fn() {
    const out = await Deno.makeTempDir();
    const rt = new Runtime({ threads: 1 });
    try {
      assertEquals(await main([`${PIPELINES}train.yaml`, "--out", out, "--threads", "1"], quiet), 0);
      const cell = `${out}/onnx-train/cells/base`;
      const feeds = { t: tensor(Float32Array.of(0.4), []), z: tensor(Float32Array.of(1, 0, -1, 0, 0.3, -0.2), [3, 2]) };
      const ours = await dzOf(rt, await readModel(`${cell}/model.onnx`), feeds);
      const script = new URL("check_trained_model.py", FIXTURES).pathname;
      const run = await new Deno.Command(PYTHON, { args: [script, cell], stdout: "piped", stderr: "piped" }).output();
      const stderr = new TextDecoder().decode(run.stderr);
      assert(run.success, stderr);
      const py = JSON.parse(new TextDecoder().decode(run.stdout)) as Record<string, number[]>;
      assert("reference" in py && "torch" in py, Object.keys(py).join());
      for (const [who, dz] of Object.entries(py)) {
        dz.forEach((v, i) => assert(Math.abs(v - ours[i]!) < 1e-5, `${who} dz[${i}] ${v} vs ${ours[i]}`));
      }
    } finally {
      await rt.dispose();
      await Deno.remove(out, { recursive: true });
    }
  },
});
