/**
 * `model.head: { kind: onnx }` and `model.encoder: { kind: onnx }` end to end:
 * the committed torch exports (tests/fixtures/torch_layers/, made by
 * tests/fixtures/make_torch_layers.py) train with MLP dynamics on nested
 * spheres from pipeline files (tests/fixtures/pipelines/onnx_layers/), the
 * loss falls and the weights change; the cell's head.onnx / encoder.onnx have
 * the trained weights baked in and weights.safetensors holds them; a layer
 * whose shapes do not fit and a missing file exit 2 at `model.head.file` or
 * `model.encoder.file` before any work.
 */
import { importEncoder, importHead } from "../models/imported_layer.ts";
import { readSafetensors } from "../models/safetensors.ts";
import { readModel } from "../onnx/proto.ts";
import { tensor, toNumbers } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { assert, assertClose, assertEquals } from "../util/testing.ts";
import { main } from "./cli.ts";

const FIXTURES = new URL("../../tests/fixtures/", import.meta.url);
const PIPELINES = new URL("pipelines/onnx_layers/", FIXTURES).pathname;
const HEAD = new URL("torch_layers/head.onnx", FIXTURES).pathname;
const ENCODER = new URL("torch_layers/encoder.onnx", FIXTURES).pathname;
const quiet = { progress: { tty: false, write: () => {} } } as const;

Deno.test("main() trains a torch head export from a pipeline file, its loss falls, and the cell writes head.onnx with the trained weights", async () => {
  const out = await Deno.makeTempDir();
  const rt = new Runtime({ threads: 1 });
  try {
    const errors: string[] = [];
    const code = await main([`${PIPELINES}head_train.yaml`, "--out", out, "--threads", "1"], {
      ...quiet,
      error: (m) => errors.push(m),
    });
    assertEquals(code, 0, errors.join("\n"));
    const dir = `${out}/onnx-head-train`;
    const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    const losses = results.results.epochs.map((e: { trainLoss: number }) => e.trainLoss) as number[];
    assertEquals(losses.length, 30);
    assert(losses.at(-1)! < 0.5 * losses[0]!, `loss ${losses[0]} → ${losses.at(-1)}`);
    const cell = `${dir}/cells/base`;
    const original = await importHead(HEAD);
    const { tensors, metadata } = await readSafetensors(`${cell}/weights.safetensors`);
    const headNames = original.params.map((p) => p.name);
    assertEquals(JSON.parse(metadata.head!), headNames);
    for (const name of headNames) {
      assertEquals(tensors[name]!.dims, original.init[name]!.dims, name);
      const moved = toNumbers(tensors[name]!).some((v, i) => Math.abs(v - toNumbers(original.init[name]!)[i]!) > 1e-4);
      assert(moved, `${name} did not change`);
    }
    // head.onnx computes y = head(z) with the trained weights, and imports back with them.
    const written = await readModel(`${cell}/head.onnx`);
    assertEquals(written.inputs.map((v) => v.name), ["z"]);
    const z = tensor(Float32Array.of(0.1, -0.4, 0, 0.7, 0.2, 0.5), [2, 3]);
    const baked = await (await rt.compile(written)).run({ z });
    const weights = Object.fromEntries(headNames.map((n) => [n, tensors[n]!]));
    const trained = await (await rt.compile(original.graph)).run({ z, ...weights });
    assertClose(toNumbers(baked.y!), toNumbers(trained.y!), 1e-6, "y");
    const again = await importHead(`${cell}/head.onnx`, { prefix: "" });
    assertEquals(again.params.map((p) => p.name), headNames);
  } finally {
    await rt.dispose();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("main() trains a torch encoder export from a pipeline file, its loss falls, and the cell writes encoder.onnx with the trained weights", async () => {
  const out = await Deno.makeTempDir();
  const rt = new Runtime({ threads: 1 });
  try {
    const errors: string[] = [];
    const code = await main([`${PIPELINES}encoder_train.yaml`, "--out", out, "--threads", "1"], {
      ...quiet,
      error: (m) => errors.push(m),
    });
    assertEquals(code, 0, errors.join("\n"));
    const dir = `${out}/onnx-encoder-train`;
    const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    const losses = results.results.epochs.map((e: { trainLoss: number }) => e.trainLoss) as number[];
    assert(losses.at(-1)! < 0.5 * losses[0]!, `loss ${losses[0]} → ${losses.at(-1)}`);
    const cell = `${dir}/cells/base`;
    const original = await importEncoder(ENCODER);
    const { tensors, metadata } = await readSafetensors(`${cell}/weights.safetensors`);
    const names = original.params.map((p) => p.name);
    assertEquals(JSON.parse(metadata.encoder!), names);
    for (const name of names) {
      const moved = toNumbers(tensors[name]!).some((v, i) => Math.abs(v - toNumbers(original.init[name]!)[i]!) > 1e-4);
      assert(moved, `${name} did not change`);
    }
    // encoder.onnx computes z0 = encoder(x) with the trained weights, and imports back with them.
    const written = await readModel(`${cell}/encoder.onnx`);
    assertEquals(written.inputs.map((v) => v.name), ["x"]);
    const x = tensor(Float32Array.of(0.1, -0.4, 0.7, 0.2), [2, 2]);
    const baked = await (await rt.compile(written)).run({ x });
    const weights = Object.fromEntries(names.map((n) => [n, tensors[n]!]));
    const trained = await (await rt.compile(original.graph)).run({ x, ...weights });
    assertClose(toNumbers(baked.z0!), toNumbers(trained.z0!), 1e-6, "z0");
    const again = await importEncoder(`${cell}/encoder.onnx`, { prefix: "" });
    assertEquals(again.params.map((p) => p.name), names);
  } finally {
    await rt.dispose();
    await Deno.remove(out, { recursive: true });
  }
});

for (
  const [file, field, expected] of [
    ["head_bad_shape.yaml", "model.head.file", [
      "takes states of shape [rows, 5], but the model's state has 3",
      'gives predictions of shape [rows, 3], but data "nested-spheres" needs 2',
    ]],
    ["head_missing_file.yaml", "model.head.file", ["No such file", "no_such_head.onnx"]],
    ["encoder_bad_shape.yaml", "model.encoder.file", [
      'head_bad.onnx takes data of shape [rows, 5], but data "nested-spheres" has 2 inputs',
    ]],
    ["encoder_missing_file.yaml", "model.encoder.file", ["No such file", "no_such_encoder.onnx"]],
  ] as const
) {
  Deno.test(`main() refuses ${file} with exit code 2 at ${field}, naming the file, and writes nothing`, async () => {
    const out = await Deno.makeTempDir();
    try {
      const errors: string[] = [];
      const code = await main([`${PIPELINES}${file}`, "--out", out], { ...quiet, error: (m) => errors.push(m) });
      assertEquals(code, 2);
      const text = errors.join("\n");
      assert(text.includes(field), text);
      for (const part of expected) assert(text.includes(part), text);
      assertEquals([...Deno.readDirSync(out)], []);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  });
}
