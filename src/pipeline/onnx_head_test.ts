/**
 * `model.head: { kind: onnx }` end to end: the committed torch head export
 * (tests/fixtures/torch_head/head.onnx, made by
 * tests/fixtures/make_torch_head.py) trains with MLP dynamics on nested
 * spheres from a pipeline file (tests/fixtures/pipelines/onnx_head/), its loss
 * falls and its weights change; the cell's head.onnx has the trained weights
 * baked in and weights.safetensors holds them; a head whose shapes do not fit
 * and a missing file exit 2 at `model.head.file` before any work.
 */
import { importHead } from "../models/imported_head.ts";
import { readSafetensors } from "../models/safetensors.ts";
import { readModel } from "../onnx/proto.ts";
import { tensor, toNumbers } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { assert, assertClose, assertEquals } from "../util/testing.ts";
import { main } from "./cli.ts";

const FIXTURES = new URL("../../tests/fixtures/", import.meta.url);
const PIPELINES = new URL("pipelines/onnx_head/", FIXTURES).pathname;
const HEAD = new URL("torch_head/head.onnx", FIXTURES).pathname;
const quiet = { progress: { tty: false, write: () => {} } } as const;

Deno.test("main() trains a torch head export from a pipeline file, its loss falls, and the cell writes head.onnx with the trained weights", async () => {
  const out = await Deno.makeTempDir();
  const rt = new Runtime({ threads: 1 });
  try {
    const errors: string[] = [];
    const code = await main([`${PIPELINES}train.yaml`, "--out", out, "--threads", "1"], {
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

for (
  const [file, expected] of [
    ["bad_shape.yaml", [
      "takes states of shape [rows, 5], but the model's state has 3",
      'gives predictions of shape [rows, 3], but data "nested-spheres" needs 2',
    ]],
    ["missing_file.yaml", ["No such file", "no_such_head.onnx"]],
  ] as const
) {
  Deno.test(`main() refuses ${file} with exit code 2 at model.head.file, naming the file, and writes nothing`, async () => {
    const out = await Deno.makeTempDir();
    try {
      const errors: string[] = [];
      const code = await main([`${PIPELINES}${file}`, "--out", out], { ...quiet, error: (m) => errors.push(m) });
      assertEquals(code, 2);
      const text = errors.join("\n");
      assert(text.includes("model.head.file"), text);
      for (const part of expected) assert(text.includes(part), text);
      assertEquals([...Deno.readDirSync(out)], []);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  });
}
