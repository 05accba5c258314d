/**
 * ONNX protobuf encoding and decoding.
 *
 * We use `onnx-buf` (the ONNX 1.20 schema compiled for `@bufbuild/protobuf`):
 * it is typed, ESM, tracks the current ONNX release, and bufbuild's runtime
 * passes the protobuf conformance suite. A hand-written encoder would be
 * smaller but would have to track the schema by hand; `onnx-proto` is stuck on
 * ONNX 1.10. Tensor data is always written as little-endian `raw_data`, so
 * encoding is deterministic and encode → decode → encode is byte-identical.
 *
 * Reading takes weights stored outside the model, as torch's default export
 * writes them (`<model>.onnx.data`, each initializer's `external_data` naming
 * a location, offset and length): {@linkcode readModel} loads them from the
 * model file's folder, never from outside it. {@linkcode decodeModel} has
 * only the model's bytes and refuses such models, saying to use readModel.
 *
 * Why one file: it is the one codec of one schema; each encoder has its
 * decoder beside it, and external data is part of decoding a tensor.
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import {
  type AttributeProto,
  AttributeProto_AttributeType as AT,
  AttributeProtoSchema,
  GraphProtoSchema,
  type ModelProto,
  ModelProtoSchema,
  type NodeProto,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  type TensorProto,
  TensorProto_DataLocation,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from "onnx-buf";
import { GraphBuilder } from "./builder.ts";
import { allocate, BYTES_PER_ELEMENT, type DType, dtypeFromOnnx, ONNX_DATA_TYPE } from "./dtype.ts";
import { GraphError, OnnxDecodeError } from "./errors.ts";
import {
  type Attribute,
  type Attributes,
  defaultOpset,
  type Dim,
  formatShape,
  type Graph,
  type Node,
  typeOf,
  type ValueInfo,
} from "./graph.ts";
import { sizeOf, type Tensor } from "./tensor.ts";
import { concatBytes, writeFileAtomic } from "../util/files.ts";
import { dirname, isAbsolute, relative, resolve } from "node:path";

/** ONNX IR version written into models of opset 17–18 (IR 8 pairs with them); later opsets get theirs. */
export const IR_VERSION = 8;

/** The IR version ONNX pairs with a default-domain opset: 8 up to 18, 9 for 19–20, 10 for 21–22, 11 from 23. */
function irVersionFor(opset: number): number {
  return opset >= 23 ? 11 : opset >= 21 ? 10 : opset >= 19 ? 9 : IR_VERSION;
}

const PRODUCER = "quadjoint";

/** Encodes a graph as the bytes of an ONNX model. */
export function encodeModel(graph: Graph): Uint8Array {
  return concatBytes(encodeModelParts(graph));
}

/**
 * The bytes of an ONNX model in pieces whose concatenation is the model, each initializer's raw data a view of its
 * tensor (nothing copied). Protobuf's library would copy those bytes twice — into its chunks, then into one buffer:
 * 36 MB of width-3000 weights took 62–170 ms to encode. So the initializers are framed here, after the rest of the
 * graph's fields and in their order (protobuf reads fields in any order; repeated ones keep theirs): the graph is the
 * library's encoding of everything else plus, per initializer, its field tag and length, its TensorProto's other fields
 * and the raw data's tag and length, then the data; the model is the library's encoding of its other fields plus the
 * graph's tag, length and bytes. Views: the tensors must not change until the pieces are written or copied.
 */
export function encodeModelParts(graph: Graph): Uint8Array[] {
  const graphFields = toBinary(
    GraphProtoSchema,
    create(GraphProtoSchema, {
      name: graph.name,
      input: graph.inputs.map(encodeValueInfo),
      output: graph.outputs.map(encodeValueInfo),
      node: graph.nodes.map(encodeNode),
      valueInfo: [...graph.valueInfo]
        .filter(([name]) => !graph.outputs.some((o) => o.name === name))
        .map(([name, t]) => encodeValueInfo({ name, ...t })),
      docString: graph.docString ?? "",
    }),
  );
  const graphParts: Uint8Array[] = [graphFields];
  for (const [name, t] of graph.initializers) {
    const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const fields = toBinary(TensorProtoSchema, encodeTensor(t, name, false));
    const tensorHead = new BinaryWriter().raw(fields).tag(TENSOR_RAW_DATA, WireType.LengthDelimited)
      .uint32(raw.length).finish();
    const length = tensorHead.length + raw.length;
    graphParts.push(lengthDelimited(GRAPH_INITIALIZER, length), tensorHead, raw);
  }
  const modelFields = toBinary(
    ModelProtoSchema,
    create(ModelProtoSchema, {
      irVersion: BigInt(irVersionFor(defaultOpset(graph))),
      producerName: graph.producer ?? PRODUCER,
      opsetImport: graph.opsetImports.map((o) =>
        create(OperatorSetIdProtoSchema, { domain: o.domain, version: BigInt(o.version) })
      ),
    }),
  );
  const graphLength = graphParts.reduce((n, p) => n + p.length, 0);
  return [modelFields, lengthDelimited(MODEL_GRAPH, graphLength), ...graphParts];
}

/** Field numbers of the fields {@linkcode encodeModelParts} frames, from the schema. */
const MODEL_GRAPH = ModelProtoSchema.field.graph!.number;
const GRAPH_INITIALIZER = GraphProtoSchema.field.initializer!.number;
const TENSOR_RAW_DATA = TensorProtoSchema.field.rawData!.number;

/** A length-delimited field's tag and length, `length` bytes of value to follow. */
function lengthDelimited(field: number, length: number): Uint8Array {
  return new BinaryWriter().tag(field, WireType.LengthDelimited).uint32(length).finish();
}

/**
 * Decodes ONNX model bytes into a checked graph. `source` names the file in
 * errors. Every node is re-checked by its shape rule, so an op quadjoint
 * cannot handle is reported here, with the node named.
 */
export function decodeModel(bytes: Uint8Array, source = "<bytes>"): Graph {
  return graphOf(parseModel(bytes, source), source, new Map());
}

function parseModel(bytes: Uint8Array, source: string): ModelProto {
  try {
    return fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    throw new OnnxDecodeError(`not a valid protobuf (${(e as Error).message})`, source, { cause: e });
  }
}

/**
 * The checked graph of a parsed model. `external` holds the raw bytes of
 * initializers stored in external files, by initializer name (read by
 * {@linkcode readModel}); an external initializer missing from it is refused.
 */
function graphOf(model: ModelProto, source: string, external: ReadonlyMap<string, Uint8Array>): Graph {
  const g = model.graph;
  if (!g || (g.node.length === 0 && g.output.length === 0)) {
    throw new OnnxDecodeError("the model has no graph", source);
  }
  try {
    const opsetImports = model.opsetImport.map((o) => ({ domain: o.domain, version: Number(o.version) }));
    if (!opsetImports.some((o) => o.domain === "" || o.domain === "ai.onnx")) {
      throw new OnnxDecodeError("the model imports no default-domain opset", source);
    }
    const initializers = new Map<string, Tensor>();
    for (const t of g.initializer) {
      if (isExternal(t) && !external.has(t.name)) {
        const { location } = externalRef(t, source);
        throw new OnnxDecodeError(
          `initializer "${t.name}" keeps its data in the external file "${location}", and decodeModel has only the model's bytes; read the model with readModel(path), which loads external data from the model's folder`,
          source,
        );
      }
      initializers.set(t.name, decodeTensor(t, `initializer ${t.name}`, external.get(t.name)));
    }
    let fresh = 0;
    const freshDim = () => `unk_${fresh++}`;
    const inputs = g.input.filter((v) => !initializers.has(v.name)).map((v) => {
      // Without a shape the rank is unknown; reading it as a scalar would mistype everything after it.
      if (v.type?.value.case === "tensorType" && v.type.value.value.shape === undefined) {
        throw new GraphError(
          `Input "${v.name}" has no shape (its rank is unknown): export the model with input shapes`,
          { valueName: v.name },
        );
      }
      return decodeValueInfo(v, freshDim);
    });
    const outputs = g.output.map((v) => decodeValueInfo(v, freshDim));
    const partial: Graph = {
      name: g.name || "model",
      inputs,
      outputs,
      initializers,
      nodes: g.node.map((n, i) => decodeNode(n, i)),
      valueInfo: new Map(),
      opsetImports,
      ...(g.docString ? { docString: g.docString } : {}),
      ...(model.producerName ? { producer: model.producerName } : {}),
    };
    const graph = GraphBuilder.from(partial, { keepOutputs: false }).build();
    const ranked = g.output.map((v) => v.type?.value.case === "tensorType" && v.type.value.value.shape !== undefined);
    return { ...graph, outputs: outputs.map((o, i) => outputType(graph, o, ranked[i]!)) };
  } catch (e) {
    if (e instanceof GraphError) {
      // Re-place the error in the file; its message already starts with its place.
      const prefix = new GraphError("", e.place).message;
      const message = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
      throw new GraphError(message, { ...e.place, file: source });
    }
    if (e instanceof OnnxDecodeError) throw e;
    throw new OnnxDecodeError((e as Error).message, source, { cause: e });
  }
}

/**
 * Writes a graph to an `.onnx` file atomically (temp file, then rename),
 * creating the folder; on failure the temp file is removed and `path` is
 * left as it was. The initializers' bytes are written from the tensors
 * themselves ({@linkcode encodeModelParts}): they must not change until the
 * promise settles.
 */
export async function writeModel(path: string, graph: Graph): Promise<void> {
  await writeFileAtomic(path, encodeModelParts(graph), { what: "ONNX model" });
}

/**
 * Reads and decodes an `.onnx` file; errors name the file. Initializers kept
 * in external files (torch's default export writes `<model>.onnx.data`) are
 * loaded from the model file's folder, at the offset and length each one's
 * `external_data` gives.
 *
 * @throws {OnnxDecodeError} when the file cannot be read or decoded, or an
 * external location is absolute or leads out of the model's folder, names a
 * missing file, or a file too short for the offset and length — naming the
 * data file and the initializer.
 */
export async function readModel(path: string): Promise<Graph> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new OnnxDecodeError(`cannot read file (${(e as Error).message})`, path, { cause: e });
  }
  const model = parseModel(bytes, path);
  return graphOf(model, path, readExternalData(model, path));
}

/**
 * {@linkcode readModel} without awaiting: reads the file and its external
 * data synchronously, for checks that run before any work starts (the
 * pipeline's `model.dynamics: { kind: onnx }` is validated this way).
 *
 * @throws {OnnxDecodeError} as {@linkcode readModel} does.
 *
 * @example A torch export with its weights in a .onnx.data file
 * ```ts
 * import { readModelSync } from "./proto.ts";
 * const path = new URL("../../tests/fixtures/torch_dynamics/dynamo_time.onnx", import.meta.url).pathname;
 * const graph = readModelSync(path);
 * if (!graph.initializers.has("l1.weight")) throw new Error("external weights not loaded");
 * ```
 */
export function readModelSync(path: string): Graph {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw new OnnxDecodeError(`cannot read file (${(e as Error).message})`, path, { cause: e });
  }
  const model = parseModel(bytes, path);
  return graphOf(model, path, readExternalData(model, path));
}

function isExternal(t: TensorProto): boolean {
  return t.dataLocation === TensorProto_DataLocation.EXTERNAL || t.externalData.length > 0;
}

/** Where an initializer's external data lies, as its `external_data` entries say. */
function externalRef(t: TensorProto, source: string): { location: string; offset: number; length?: number } {
  const entries = new Map(t.externalData.map((e) => [e.key, e.value]));
  const location = entries.get("location");
  if (!location) {
    throw new OnnxDecodeError(`initializer "${t.name}" is stored externally but names no location`, source);
  }
  const count = (key: string): number | undefined => {
    const v = entries.get(key);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
      throw new OnnxDecodeError(`initializer "${t.name}" has external ${key} "${v}", not a byte count`, source);
    }
    return Number(v);
  };
  const length = count("length");
  return { location, offset: count("offset") ?? 0, ...(length !== undefined ? { length } : {}) };
}

/** The raw bytes of every externally stored initializer of `model`, read from beside `path`. */
function readExternalData(model: ModelProto, path: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const folder = resolve(dirname(path));
  const files = new Map<string, Uint8Array>();
  for (const t of model.graph?.initializer ?? []) {
    if (!isExternal(t)) continue;
    const { location, offset, length } = externalRef(t, path);
    const file = resolve(folder, location);
    const rel = relative(folder, file);
    if (isAbsolute(location) || rel === "" || isAbsolute(rel) || rel.split(/[\\/]/)[0] === "..") {
      throw new OnnxDecodeError(
        `initializer "${t.name}" names the external file "${location}", which lies outside the model's folder ${folder}; quadjoint loads external data only from the model's folder or below it`,
        path,
      );
    }
    let data = files.get(file);
    if (!data) {
      try {
        data = Deno.readFileSync(file);
      } catch (e) {
        throw new OnnxDecodeError(
          `cannot read the external file ${file} holding initializer "${t.name}" (${(e as Error).message})`,
          path,
          { cause: e },
        );
      }
      files.set(file, data);
    }
    let dtype: DType;
    try {
      dtype = dtypeFromOnnx(t.dataType, `initializer ${t.name}`);
    } catch (e) {
      throw new OnnxDecodeError((e as Error).message, path, { cause: e });
    }
    const need = sizeOf(t.dims.map((d) => Number(d))) * BYTES_PER_ELEMENT[dtype];
    if (length !== undefined && length !== need) {
      throw new OnnxDecodeError(
        `initializer "${t.name}" (${dtype}[${
          t.dims.join(", ")
        }], ${need} bytes) gives an external length of ${length} bytes in ${file}`,
        path,
      );
    }
    if (offset + need > data.length) {
      throw new OnnxDecodeError(
        `initializer "${t.name}" needs bytes ${offset}–${
          offset + need
        } of the external file ${file}, which has only ${data.length} bytes`,
        path,
      );
    }
    out.set(t.name, data.subarray(offset, offset + need));
  }
  return out;
}

/**
 * The type of output `o` as computed by the shape rules, checked against its
 * declaration: the dtype must agree, and the shape where both are known.
 * Declared symbolic dim names are kept where the computed dim is symbolic too;
 * an output declared without a shape (`ranked` false) takes the computed one.
 */
function outputType(graph: Graph, o: ValueInfo, ranked: boolean): ValueInfo {
  const place = { graph: graph.name, valueName: o.name };
  const t = typeOf(graph, o.name);
  if (!t) throw new GraphError(`Output "${o.name}" is not produced by any node`, place);
  if (t.dtype !== o.dtype) {
    throw new GraphError(`Output "${o.name}" is declared ${o.dtype} but computed as ${t.dtype}`, place);
  }
  if (!ranked) return { name: o.name, dtype: t.dtype, shape: t.shape };
  const clash = o.shape.length !== t.shape.length ||
    o.shape.some((d, i) => typeof d === "number" && typeof t.shape[i] === "number" && d !== t.shape[i]);
  if (clash) {
    throw new GraphError(
      `Output "${o.name}" is declared ${formatShape(o.shape)} but computed as ${formatShape(t.shape)}`,
      place,
    );
  }
  return {
    name: o.name,
    dtype: o.dtype,
    shape: o.shape.map((d, i) => (typeof t.shape[i] === "number" ? t.shape[i]! : d)),
  };
}

function encodeValueInfo(v: ValueInfo): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name: v.name,
    type: create(TypeProtoSchema, {
      value: {
        case: "tensorType",
        value: create(TypeProto_TensorSchema, {
          elemType: ONNX_DATA_TYPE[v.dtype],
          shape: create(TensorShapeProtoSchema, {
            dim: v.shape.map((d) =>
              create(TensorShapeProto_DimensionSchema, {
                value: typeof d === "number" ? { case: "dimValue", value: BigInt(d) } : { case: "dimParam", value: d },
              })
            ),
          }),
        }),
      },
    }),
  });
}

function decodeValueInfo(v: ValueInfoProto, freshDim: () => string): ValueInfo {
  if (v.type?.value.case !== "tensorType") {
    throw new GraphError("Only tensor-typed inputs and outputs are supported", { valueName: v.name });
  }
  const t = v.type.value.value;
  const dtype = dtypeFromOnnx(t.elemType, `value ${v.name}`);
  const shape: Dim[] = (t.shape?.dim ?? []).map((d) => {
    if (d.value.case === "dimValue") return Number(d.value.value);
    if (d.value.case === "dimParam" && d.value.value) return d.value.value;
    return freshDim();
  });
  return { name: v.name, dtype, shape };
}

/** Encodes a tensor as a TensorProto with little-endian raw data, or without it (`withData` false: framed apart). */
function encodeTensor(t: Tensor, name: string, withData = true): TensorProto {
  const data = t.data;
  return create(TensorProtoSchema, {
    name,
    dims: t.dims.map((d) => BigInt(d)),
    dataType: ONNX_DATA_TYPE[t.dtype],
    ...(withData ? { rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice() } : {}),
  });
}

/**
 * A TensorProto's values; `external` is its raw data when stored in an
 * external file (already read). `where` names it in errors ("initializer w").
 */
function decodeTensor(t: TensorProto, where: string, external?: Uint8Array): Tensor {
  if (isExternal(t) && !external) {
    throw new GraphError(`${where} keeps its data in an external file, which quadjoint loads only for initializers`);
  }
  const dtype: DType = dtypeFromOnnx(t.dataType, where);
  const dims = t.dims.map((d) => Number(d));
  const n = sizeOf(dims);
  const out = allocate(dtype, n);
  const raw = external ?? t.rawData;
  if (raw.length > 0 || external) {
    if (raw.length !== n * BYTES_PER_ELEMENT[dtype]) {
      throw new GraphError(`${where} has ${raw.length} bytes of data, expected ${n * BYTES_PER_ELEMENT[dtype]}`);
    }
    new Uint8Array(out.buffer).set(raw);
  } else {
    const typed: ArrayLike<number | bigint> = dtype === "float32"
      ? t.floatData
      : dtype === "float64"
      ? t.doubleData
      : dtype === "int64"
      ? t.int64Data
      : t.int32Data;
    if (typed.length !== n) {
      throw new GraphError(`${where} has ${typed.length} elements, expected ${n}`);
    }
    for (let i = 0; i < n; i++) {
      (out as unknown as (number | bigint)[])[i] = dtype === "int64" ? BigInt(typed[i]!) : Number(typed[i]!);
    }
  }
  return { dtype, dims, data: out };
}

function encodeNode(n: Node): NodeProto {
  return create(NodeProtoSchema, {
    name: n.name,
    opType: n.opType,
    domain: n.domain,
    input: [...n.inputs],
    output: [...n.outputs],
    attribute: Object.entries(n.attributes).map(([name, a]) => encodeAttribute(name, a)),
  });
}

function decodeNode(n: NodeProto, index: number): Node {
  const name = n.name || `node_${index}_${n.opType}`;
  const attributes: Record<string, Attribute> = {};
  for (const a of n.attribute) attributes[a.name] = decodeAttribute(a, { nodeName: name, opType: n.opType });
  return {
    name,
    opType: n.opType,
    domain: n.domain === "ai.onnx" ? "" : n.domain,
    inputs: [...n.input],
    outputs: [...n.output],
    attributes: attributes as Attributes,
  };
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function encodeAttribute(name: string, a: Attribute): AttributeProto {
  switch (a.type) {
    case "int":
      return create(AttributeProtoSchema, { name, type: AT.INT, i: BigInt(a.value) });
    case "float":
      return create(AttributeProtoSchema, { name, type: AT.FLOAT, f: a.value });
    case "string":
      return create(AttributeProtoSchema, { name, type: AT.STRING, s: textEncoder.encode(a.value) });
    case "tensor":
      return create(AttributeProtoSchema, { name, type: AT.TENSOR, t: encodeTensor(a.value, "") });
    case "ints":
      return create(AttributeProtoSchema, { name, type: AT.INTS, ints: a.value.map((v) => BigInt(v)) });
    case "floats":
      return create(AttributeProtoSchema, { name, type: AT.FLOATS, floats: [...a.value] });
    case "strings":
      return create(AttributeProtoSchema, {
        name,
        type: AT.STRINGS,
        strings: a.value.map((s) => textEncoder.encode(s)),
      });
  }
}

function decodeAttribute(a: AttributeProto, place: { nodeName: string; opType: string }): Attribute {
  switch (a.type) {
    case AT.INT:
      return { type: "int", value: Number(a.i) };
    case AT.FLOAT:
      return { type: "float", value: a.f };
    case AT.STRING:
      return { type: "string", value: textDecoder.decode(a.s) };
    case AT.TENSOR:
      if (!a.t) throw new GraphError(`Attribute ${a.name} has no tensor`, place);
      return { type: "tensor", value: decodeTensor(a.t, `attribute ${a.name}`) };
    case AT.INTS:
      return { type: "ints", value: a.ints.map((v) => Number(v)) };
    case AT.FLOATS:
      return { type: "floats", value: [...a.floats] };
    case AT.STRINGS:
      return { type: "strings", value: a.strings.map((s) => textDecoder.decode(s)) };
    default:
      throw new GraphError(
        `Attribute ${a.name} has type ${AT[a.type] ?? a.type}, which quadjoint does not support`,
        place,
      );
  }
}
