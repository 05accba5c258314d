/**
 * Models exported by PyTorch (tests/fixtures/make_torch_fixtures.py) decode,
 * keep their dynamic batch axis, and run through ONNX Runtime to torch's own
 * outputs.
 */
import { decodeModel, encodeModel, readModel } from "../src/onnx/proto.ts";
import type { Graph } from "../src/onnx/graph.ts";
import { type Tensor, tensor } from "../src/onnx/tensor.ts";
import { Runtime } from "../src/runtime/session.ts";
import { assert, assertClose, assertEquals } from "../src/util/testing.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);

interface Fixture {
  model: string;
  ops: string[];
  input: { name: string; dims: number[]; data: number[] };
  output: { name: string; dims: number[]; data: number[] };
}

async function load(name: string): Promise<{ graph: Graph; fixture: Fixture }> {
  const fixture = JSON.parse(await Deno.readTextFile(new URL(`${name}.json`, FIXTURES))) as Fixture;
  const graph = await readModel(new URL(fixture.model, FIXTURES).pathname);
  return { graph, fixture };
}

const EXPECTED_OPS: Readonly<Record<string, readonly string[]>> = {
  torch_mlp: ["Gemm", "Softplus", "Gemm", "Tanh", "Gemm"],
  torch_convnet: ["Conv", "Relu", "MaxPool", "Conv", "Softplus", "Flatten", "Gemm"],
};

const runtime = new Runtime({ threads: 1 });

for (const [name, ops] of Object.entries(EXPECTED_OPS)) {
  Deno.test(`readModel() decodes ${name}.onnx with its ops, weights and dynamic batch axis`, async () => {
    const { graph, fixture } = await load(name);
    assertEquals(graph.nodes.map((n) => n.opType), [...ops]);
    assertEquals(fixture.ops, [...ops]);
    assertEquals(graph.inputs.map((v) => [v.name, v.dtype, v.shape[0]]), [["x", "float32", "batch"]]);
    assertEquals(graph.inputs[0]!.shape.slice(1), fixture.input.dims.slice(1));
    assertEquals(graph.outputs.map((v) => [v.name, v.dtype, v.shape[0]]), [["y", "float32", "batch"]]);
    assertEquals(graph.outputs[0]!.shape.slice(1), fixture.output.dims.slice(1));
    // Weights are initializers, not inputs.
    assert(graph.initializers.size >= 6, `${graph.initializers.size} initializers`);
    // Re-encoding what we decoded is stable.
    assertEquals(decodeModel(encodeModel(graph)), graph);
  });

  Deno.test(`Runtime runs ${name}.onnx to torch's output within 1e-5`, async () => {
    const { graph, fixture } = await load(name);
    const x = tensor(Float32Array.from(fixture.input.data), fixture.input.dims);
    const out = (await (await runtime.compile(graph)).run({ x })).y!;
    assertEquals(out.dims, fixture.output.dims);
    assertClose(out.data as Float32Array, fixture.output.data, 1e-5, `${name} output`);
  });

  Deno.test(`Runtime runs ${name}.onnx on a batch of one, matching that row of torch's output`, async () => {
    const { graph, fixture } = await load(name);
    const inRow = fixture.input.data.length / fixture.input.dims[0]!;
    const outRow = fixture.output.data.length / fixture.output.dims[0]!;
    const last = fixture.input.dims[0]! - 1;
    const x = tensor(Float32Array.from(fixture.input.data.slice(last * inRow)), [1, ...fixture.input.dims.slice(1)]);
    const out = (await (await runtime.compile(graph)).run({ x })).y!;
    assertClose(out.data as Float32Array, fixture.output.data.slice(last * outRow), 1e-5, `${name} last row`);
  });
}

/** y = x·Wᵀ + b, as torch's Linear, in float64. */
function linear(x: number[][], w: Tensor, b: Tensor): number[][] {
  const [out, inp] = w.dims as [number, number];
  return x.map((row) =>
    Array.from({ length: out }, (_, o) => {
      let s = Number(b.data[o]);
      for (let i = 0; i < inp; i++) s += Number(w.data[o * inp + i]) * row[i]!;
      return s;
    })
  );
}

Deno.test("torch_mlp.onnx weights give torch's output when evaluated in plain TypeScript", async () => {
  const { graph, fixture } = await load("torch_mlp");
  const p = (n: string) => graph.initializers.get(n)!;
  const [batch, width] = fixture.input.dims as [number, number];
  let h = Array.from({ length: batch }, (_, r) => fixture.input.data.slice(r * width, (r + 1) * width));
  h = linear(h, p("0.weight"), p("0.bias")).map((r) =>
    r.map((v) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))))
  );
  h = linear(h, p("2.weight"), p("2.bias")).map((r) => r.map(Math.tanh));
  h = linear(h, p("4.weight"), p("4.bias"));
  assertClose(h.flat(), fixture.output.data, 1e-5, "plain TypeScript MLP");
});
