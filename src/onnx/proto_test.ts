import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ModelProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataLocation,
  type TypeProto_Tensor,
} from "onnx-buf";
import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../util/testing.ts";
import { GraphBuilder } from "./builder.ts";
import { GraphError, OnnxDecodeError } from "./errors.ts";
import { attr, type Graph } from "./graph.ts";
import { decodeModel, encodeModel, readModel, writeModel } from "./proto.ts";
import { fromNumbers, int64, tensor } from "./tensor.ts";

/**
 * A graph touching every part of the codec: float32, float64 and int64
 * initializers, every attribute kind, symbolic and concrete dims, several
 * nodes and two outputs. Attribute floats are exact in float32 (the wire type).
 */
function richGraph(): Graph {
  const b = new GraphBuilder("rich", { producer: "proto_test", docString: "every codec feature" });
  const x = b.input("x", "float32", ["batch", 3]);
  const y = b.input("y", "float64", ["batch", 2]);
  const w = b.initializer("w", fromNumbers([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [3, 4]));
  const bias = b.initializer("bias", fromNumbers([0.5, -0.5, 1, 2], [4]));
  const h = b.op1("Gemm", [x, w, bias], { alpha: attr.float(0.5), transB: attr.int(0) });
  const l = b.op1("LeakyRelu", [h], { alpha: attr.float(0.25) });
  const r = b.op1("Reshape", [l, b.initializer("shape", int64([0, 2, 2]))]);
  const t = b.op1("Transpose", [r], { perm: attr.ints([0, 2, 1]) });
  const s = b.op1("Add", [t, b.op1("Constant", [], { value_floats: attr.floats([0.5, 0.25]) })]);
  const p = b.op1("Pad", [s, b.initializer("pads", int64([0, 0, 1, 0, 0, 1]))], { mode: attr.string("edge") });
  // The codec does not interpret attributes, so a strings attribute may ride on any node.
  b.output(b.op1("Identity", [p], { tags: attr.strings(["a", "β", ""]) }), "out");
  const c = b.constant(tensor(new Float64Array([1.5, Math.PI]), [2]));
  const d = b.initializer("d", tensor(new Float64Array([1e-300, -2.5e200]), [2]));
  b.output(b.op1("Mul", [b.op1("Mul", [y, c]), d]), "out64");
  return b.build();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

Deno.test("encodeModel() then decodeModel() then encodeModel() is byte-identical for a graph using every feature", () => {
  const g = richGraph();
  const bytes = encodeModel(g);
  const again = encodeModel(decodeModel(bytes, "rich.onnx"));
  assert(sameBytes(bytes, again), `re-encoded model differs: ${bytes.length} vs ${again.length} bytes`);
});

Deno.test("encodeModel() frames the initializers itself: protobuf reads the same message, initializers in order", async () => {
  const g = richGraph();
  const bytes = encodeModel(g);
  const message = fromBinary(ModelProtoSchema, bytes);
  assertEquals(message.graph!.initializer.map((t) => t.name), [...g.initializers.keys()]);
  const w = g.initializers.get("w")!.data as Float32Array;
  assertEquals(message.graph!.initializer[0]!.rawData, new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
  assertEquals([message.graph!.name, message.graph!.node.length, message.producerName], [
    "rich",
    g.nodes.length,
    "proto_test",
  ]);
  // Multi-byte lengths, a view with an offset, an empty tensor and a bool one, each read back byte for byte.
  const b = new GraphBuilder("views");
  const x = b.input("x", "float32", [300]);
  const wide = new Float32Array(301).map((_, i) => i / 7).subarray(1);
  b.output(b.op1("Add", [x, b.initializer("wide", tensor(wide, [300]))]), "y");
  b.initializer("empty", tensor(new Float32Array(0), [0]));
  b.initializer("flag", tensor(Uint8Array.of(1, 0, 1), [3]));
  const views = b.build();
  const read = fromBinary(ModelProtoSchema, encodeModel(views));
  for (const t of read.graph!.initializer) {
    const d = views.initializers.get(t.name)!.data;
    assertEquals(t.rawData, new Uint8Array(d.buffer, d.byteOffset, d.byteLength), t.name);
  }
  const unknown = [read, read.graph!, ...read.graph!.initializer].filter((m) => (m.$unknown?.length ?? 0) > 0);
  assertEquals(unknown.length, 0, "no field read as unknown");
  assertEquals(decodeModel(encodeModel(views)).initializers, views.initializers);
  // The library's own encoding of that message (its field order) is the same model.
  assert(sameBytes(encodeModel(decodeModel(toBinary(ModelProtoSchema, message))), bytes), "not the same model");
  // writeModel writes the pieces as they are: the same bytes.
  const dir = await Deno.makeTempDir();
  try {
    await writeModel(`${dir}/m.onnx`, g);
    assert(sameBytes(await Deno.readFile(`${dir}/m.onnx`), bytes), "the file differs from encodeModel's bytes");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("decodeModel() returns a graph structurally equal to the one encoded", () => {
  const g = richGraph();
  const decoded = decodeModel(encodeModel(g));
  assertEquals(decoded, g);
  // Spot checks that would catch a codec that loses data but stays self-consistent.
  assertEquals(decoded.inputs[0]!.shape, ["batch", 3]);
  assertEquals([...(decoded.initializers.get("d")!.data as Float64Array)], [1e-300, -2.5e200]);
  assertEquals([...(decoded.initializers.get("pads")!.data as BigInt64Array)], [0n, 0n, 1n, 0n, 0n, 1n]);
  const kinds = new Set(decoded.nodes.flatMap((n) => Object.values(n.attributes).map((a) => a.type)));
  assertEquals([...kinds].sort(), ["float", "floats", "int", "ints", "string", "strings", "tensor"]);
});

Deno.test("decodeModel() rounds float attributes to float32, the ONNX wire type", () => {
  const b = new GraphBuilder("lrelu");
  b.output(b.op1("LeakyRelu", [b.input("x", "float32", [2])], { alpha: attr.float(0.1) }), "y");
  const a = decodeModel(encodeModel(b.build())).nodes[0]!.attributes["alpha"];
  assertEquals(a, { type: "float", value: Math.fround(0.1) });
});

Deno.test("writeModel() then readModel() round-trips a graph through a file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "qj-proto-" });
  try {
    const g = richGraph();
    await writeModel(`${dir}/sub/rich.onnx`, g);
    assertEquals(await readModel(`${dir}/sub/rich.onnx`), g);
    assertEquals([...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name), ["rich.onnx"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeModel() leaves no temporary file when the rename fails, and names the path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "qj-proto-" });
  try {
    // A non-empty folder where the model should go: the final rename cannot replace it.
    await Deno.mkdir(`${dir}/m.onnx/inside`, { recursive: true });
    await assertRejects(() => writeModel(`${dir}/m.onnx`, richGraph()), Error, `Cannot write ONNX model ${dir}/m.onnx`);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["m.onnx"]);
    assertEquals([...Deno.readDirSync(`${dir}/m.onnx`)].map((e) => e.name), ["inside"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("decodeModel() throws OnnxDecodeError naming the source when given random garbage", () => {
  const rng = new Random(11);
  for (let trial = 0; trial < 20; trial++) {
    const bytes = Uint8Array.from({ length: 16 + rng.int(200) }, () => rng.int(256));
    const e = assertThrows(() => decodeModel(bytes, "garbage.onnx"), OnnxDecodeError, "garbage.onnx");
    assertEquals((e as OnnxDecodeError).source, "garbage.onnx");
  }
});

Deno.test("decodeModel() throws OnnxDecodeError naming the source when a valid model is truncated", () => {
  const bytes = encodeModel(richGraph());
  for (const keep of [1, 10, Math.floor(bytes.length / 2), bytes.length - 1]) {
    assertThrows(() => decodeModel(bytes.slice(0, keep), "cut.onnx"), OnnxDecodeError, /cut\.onnx/);
  }
});

Deno.test("decodeModel() throws OnnxDecodeError when a valid protobuf has no graph", () => {
  const bytes = toBinary(
    ModelProtoSchema,
    create(ModelProtoSchema, {
      irVersion: 8n,
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 17n })],
    }),
  );
  assertThrows(() => decodeModel(bytes, "empty.onnx"), OnnxDecodeError, /empty\.onnx: the model has no graph/);
  assertThrows(() => decodeModel(new Uint8Array(0), "zero.onnx"), OnnxDecodeError, /zero\.onnx/);
});

Deno.test("readModel() throws OnnxDecodeError naming the path when the file is missing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "qj-proto-" });
  try {
    const path = `${dir}/nope/missing.onnx`;
    const e = await assertRejects(() => readModel(path), OnnxDecodeError, path);
    assertEquals((e as OnnxDecodeError).source, path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A hand-made graph with one node the builder would refuse; encodeModel does not check. */
function graphWithNode(opType: string, domain: string): Graph {
  return {
    name: "odd",
    inputs: [{ name: "boxes", dtype: "float32", shape: [1, 4, 4] }, {
      name: "scores",
      dtype: "float32",
      shape: [1, 1, 4],
    }],
    outputs: [{ name: "selected", dtype: "int64", shape: ["n", 3] }],
    initializers: new Map(),
    nodes: [{
      name: "nms0",
      opType,
      domain,
      inputs: ["boxes", "scores"],
      outputs: ["selected"],
      attributes: { center_point_box: attr.int(0) },
    }],
    valueInfo: new Map(),
    opsetImports: domain === "" ? [{ domain: "", version: 17 }] : [{ domain: "", version: 17 }, { domain, version: 1 }],
  };
}

Deno.test("decodeModel() throws GraphError naming the op, node and file when an op has no shape rule", () => {
  const bytes = encodeModel(graphWithNode("NonMaxSuppression", ""));
  const e = assertThrows(() => decodeModel(bytes, "nms.onnx"), GraphError, "NonMaxSuppression") as GraphError;
  assert(e.message.includes("nms0") && e.message.includes("nms.onnx"), e.message);
  assertEquals(e.place.nodeName, "nms0");
  assertEquals(e.place.opType, "NonMaxSuppression");
  assertEquals(e.place.file, "nms.onnx");
});

Deno.test("decodeModel() throws GraphError naming the domain and node when a node uses a custom domain", () => {
  const bytes = encodeModel(graphWithNode("MyOp", "com.example"));
  const e = assertThrows(() => decodeModel(bytes, "custom.onnx"), GraphError, "com.example") as GraphError;
  assert(e.message.includes("nms0") && e.message.includes("MyOp") && e.message.includes("custom.onnx"), e.message);
});

Deno.test("decodeModel() throws GraphError naming the value when an output is produced by no node", () => {
  const g = graphWithNode("Identity", "");
  const bad: Graph = { ...g, nodes: [], outputs: [{ name: "ghost", dtype: "float32", shape: [1] }] };
  assertThrows(() => decodeModel(encodeModel(bad), "ghost.onnx"), GraphError, /ghost\.onnx.*"ghost"/);
});

/** Encodes `g`, then lets `edit` change the protobuf type of its first output before re-encoding. */
function withFirstOutput(g: Graph, edit: (type: TypeProto_Tensor) => void): Uint8Array {
  const model = fromBinary(ModelProtoSchema, encodeModel(g));
  const type = model.graph!.output[0]!.type!.value;
  if (type.case !== "tensorType") throw new Error("expected a tensor type");
  edit(type.value);
  return toBinary(ModelProtoSchema, model);
}

function matmulGraph(): Graph {
  const b = new GraphBuilder("mm");
  b.output(b.op1("MatMul", [b.input("x", "float32", ["batch", 3]), b.input("w", "float32", [3, 4])]), "y");
  return b.build();
}

Deno.test("decodeModel() takes the computed shape for an output declared without one", () => {
  const bytes = withFirstOutput(matmulGraph(), (t) => delete t.shape);
  assertEquals(decodeModel(bytes, "noshape.onnx").outputs, [{ name: "y", dtype: "float32", shape: ["batch", 4] }]);
});

Deno.test("decodeModel() refuses an input declared without a shape, naming it (its rank is unknown)", () => {
  const model = fromBinary(ModelProtoSchema, encodeModel(matmulGraph()));
  const type = model.graph!.input[0]!.type!.value;
  if (type.case !== "tensorType") throw new Error("expected a tensor type");
  delete type.value.shape;
  assertThrows(() => decodeModel(toBinary(ModelProtoSchema, model), "in.onnx"), GraphError, /"x" has no shape/);
});

Deno.test("decodeModel() throws GraphError naming the output when its declared shape contradicts the computed one", () => {
  const bytes = withFirstOutput(matmulGraph(), (t) => t.shape!.dim.pop());
  assertThrows(
    () => decodeModel(bytes, "rank.onnx"),
    GraphError,
    /rank\.onnx.*"y" is declared \[batch\] but computed as \[batch, 4\]/,
  );
  const wrong: Graph = { ...matmulGraph(), outputs: [{ name: "y", dtype: "float32", shape: ["batch", 5] }] };
  assertThrows(
    () => decodeModel(encodeModel(wrong), "dim.onnx"),
    GraphError,
    /"y" is declared \[batch, 5\] but computed as \[batch, 4\]/,
  );
});

/**
 * y = x·W + b with W and b moved to external data the way torch's exporter
 * writes it (`external_data` location/offset/length, empty raw data), and the
 * data file's bytes. `edit` may change each entry list before encoding.
 */
function externalModel(
  location: string,
  edit: (name: string, entries: Map<string, string>) => void = () => {},
): { graph: Graph; bytes: Uint8Array; data: Uint8Array } {
  const b = new GraphBuilder("ext");
  const x = b.input("x", "float32", ["batch", 3]);
  const w = b.initializer("w", fromNumbers([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [3, 4]));
  const bias = b.initializer("bias", fromNumbers([0.5, -0.5, 1, 2], [4]));
  b.output(b.op1("Add", [b.op1("MatMul", [x, w]), bias]), "y");
  const graph = b.build();
  const model = fromBinary(ModelProtoSchema, encodeModel(graph));
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of model.graph!.initializer) {
    // Pad to 16 bytes between tensors, as onnx's writer aligns them.
    const pad = (16 - (offset % 16)) % 16;
    chunks.push(new Uint8Array(pad), t.rawData);
    offset += pad;
    const entries = new Map([["location", location], ["offset", String(offset)], ["length", String(t.rawData.length)]]);
    edit(t.name, entries);
    offset += t.rawData.length;
    t.rawData = new Uint8Array(0);
    t.dataLocation = TensorProto_DataLocation.EXTERNAL;
    t.externalData = [...entries].map(([key, value]) => create(StringStringEntryProtoSchema, { key, value }));
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.length;
  }
  return { graph, bytes: toBinary(ModelProtoSchema, model), data };
}

/** Runs `fn` on a fresh folder holding `files` (path → bytes), then removes it. */
async function inFolder(files: Record<string, Uint8Array>, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "qj-ext-" });
  try {
    for (const [p, bytes] of Object.entries(files)) {
      await Deno.mkdir(`${dir}/${p}`.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeFile(`${dir}/${p}`, bytes);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readModel() loads initializers from an external data file beside the model, at their offsets", async () => {
  const { graph, bytes, data } = externalModel("weights/m.onnx.data");
  await inFolder({ "m.onnx": bytes, "weights/m.onnx.data": data }, async (dir) => {
    const loaded = await readModel(`${dir}/m.onnx`);
    assertEquals(loaded, decodeModel(encodeModel(graph)));
    assertEquals([...(loaded.initializers.get("w")!.data as Float32Array)], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assertEquals([...(loaded.initializers.get("bias")!.data as Float32Array)], [0.5, -0.5, 1, 2]);
  });
});

Deno.test("decodeModel() refuses external data, naming the initializer and the file and pointing to readModel", () => {
  const { bytes } = externalModel("m.onnx.data");
  assertThrows(
    () => decodeModel(bytes, "m.onnx"),
    OnnxDecodeError,
    /m\.onnx: initializer "w" keeps its data in the external file "m\.onnx\.data".*readModel\(path\)/,
  );
});

const EXTERNAL_ERRORS: readonly [string, string, (name: string, e: Map<string, string>) => void, RegExp][] = [
  [
    "a location leading out of the model's folder",
    "../m.onnx.data",
    () => {},
    /"w" names the external file "\.\.\/m\.onnx\.data", which lies outside the model's folder/,
  ],
  [
    "a location that climbs out through a subfolder",
    "weights/../../x.data",
    () => {},
    /"w" names the external file "weights\/\.\.\/\.\.\/x\.data", which lies outside/,
  ],
  ["an absolute location", "/etc/passwd", () => {}, /"w" names the external file "\/etc\/passwd", which lies outside/],
  ["a missing data file", "gone.data", () => {}, /cannot read the external file .*gone\.data holding initializer "w"/],
  [
    "a data file too short for the offset",
    "m.onnx.data",
    (n, e) => n === "bias" && e.set("offset", "4096"),
    /"bias" needs bytes 4096–4112 of the external file .*m\.onnx\.data, which has only 64 bytes/,
  ],
  [
    "a length that disagrees with the dims",
    "m.onnx.data",
    (n, e) => n === "w" && e.set("length", "40"),
    /"w" \(float32\[3, 4\], 48 bytes\) gives an external length of 40 bytes/,
  ],
  [
    "an offset that is not a byte count",
    "m.onnx.data",
    (n, e) => n === "w" && e.set("offset", "-8"),
    /"w" has external offset "-8", not a byte count/,
  ],
];

for (const [what, location, edit, message] of EXTERNAL_ERRORS) {
  Deno.test(`readModel() throws OnnxDecodeError naming the model and initializer for ${what}`, async () => {
    const { bytes, data } = externalModel(location, edit);
    await inFolder({ "sub/m.onnx": bytes, "sub/m.onnx.data": data, "x.data": data }, async (dir) => {
      const e = await assertRejects(() => readModel(`${dir}/sub/m.onnx`), OnnxDecodeError, message);
      assert(e.message.includes(`${dir}/sub/m.onnx`), e.message);
    });
  });
}

Deno.test("decodeModel() names a failing node's place once when it re-places the error in the file", () => {
  const bytes = encodeModel(graphWithNode("NonMaxSuppression", ""));
  const e = assertThrows(() => decodeModel(bytes, "nms.onnx"), GraphError);
  assertEquals(e.message.split("node nms0").length, 2, e.message);
});

Deno.test("encodeModel() writes the IR version ONNX pairs with the graph's opset, and ONNX Runtime loads each", async () => {
  const rt = new Runtime({ threads: 1 });
  for (const [opset, ir] of [[17, 8n], [18, 8n], [20, 9n], [21, 10n], [23, 11n]] as const) {
    const b = new GraphBuilder("neg", { opset });
    b.output(b.op1("Neg", [b.input("x", "float32", [2])]), "y");
    const g = b.build();
    assertEquals(fromBinary(ModelProtoSchema, encodeModel(g)).irVersion, ir, `opset ${opset}`);
    const out = await (await rt.compile(g)).run({ x: fromNumbers([1, -2], [2]) });
    assertEquals([...(out.y!.data as Float32Array)], [-1, 2]);
  }
  await rt.dispose();
});
