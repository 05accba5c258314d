/**
 * The safetensors format (Hugging Face's, what `safetensors.torch.save_file`
 * writes and `load_file` reads), for trained weights: an 8-byte little-endian
 * unsigned header length N, N bytes of JSON header
 * `{ "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, …, "__metadata__": { "<key>": "<string>" } }`,
 * then the tensors' raw little-endian row-major bytes, back to back; offsets
 * count from the first byte after the header. quadjoint pads the header with
 * spaces to a multiple of 8 bytes so that every tensor starts aligned, and
 * writes the tensors in the order given.
 *
 * Element types: `F32`, `F64`, `I64`, `I32` and `BOOL` (quadjoint's dtypes);
 * reading refuses other types (F16, BF16, …), overlapping or gapped offsets,
 * and lengths that disagree with a shape. There is no safetensors package on
 * npm in this project's environment, and the format is small enough to keep
 * here with its test.
 *
 * @module
 */
import { BYTES_PER_ELEMENT, type DType } from "../onnx/dtype.ts";
import { sizeOf, type Tensor } from "../onnx/tensor.ts";
import { concatBytes, writeFileAtomic } from "../util/files.ts";

/** A safetensors file's contents: tensors by name, in file order, and the string metadata. */
export interface Safetensors {
  /** The tensors, by name. */
  readonly tensors: Record<string, Tensor>;
  /** The `__metadata__` strings (empty when the file has none). */
  readonly metadata: Record<string, string>;
}

/** A safetensors byte string that cannot be read; the message names the source and what is wrong. */
export class SafetensorsError extends SyntaxError {
  /** The file or label that failed. */
  readonly source: string;
  /** Makes the error for `source`. */
  constructor(message: string, source: string, options?: ErrorOptions) {
    super(`Cannot read safetensors ${source}: ${message}`, options);
    this.name = "SafetensorsError";
    this.source = source;
  }
}

/** safetensors' dtype names for quadjoint's element types. */
export const SAFETENSORS_DTYPE: Readonly<Record<DType, string>> = {
  float32: "F32",
  float64: "F64",
  int64: "I64",
  int32: "I32",
  bool: "BOOL",
};

const FROM_NAME = new Map(Object.entries(SAFETENSORS_DTYPE).map(([d, n]) => [n, d as DType]));
const METADATA = "__metadata__";
/** The format's limit on the header (the Rust reference refuses larger ones). */
const MAX_HEADER = 100_000_000;

if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) {
  throw new Error("safetensors.ts assumes a little-endian host");
}

function bytesOf(t: Tensor): Uint8Array {
  const d = t.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/**
 * Encodes tensors (and string metadata) as safetensors bytes.
 *
 * @throws {RangeError} when a name is empty or `__metadata__`, or a tensor's
 *   data length disagrees with its dims.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors, tensor } from "../../mod.ts";
 * const bytes = encodeSafetensors({ w: tensor(Float32Array.of(1, 2, 3, 4), [2, 2]) }, { step: "10" });
 * const back = decodeSafetensors(bytes);
 * if (back.tensors.w!.data[3] !== 4 || back.metadata.step !== "10") throw new Error("not round-tripped");
 * ```
 */
export function encodeSafetensors(
  tensors: Readonly<Record<string, Tensor>>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  return concatBytes(safetensorsParts(tensors, metadata));
}

/** The file's bytes in pieces: length and header, then views of each tensor's data (nothing copied). */
function safetensorsParts(
  tensors: Readonly<Record<string, Tensor>>,
  metadata: Readonly<Record<string, string>>,
): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA] = { ...metadata };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "" || name === METADATA) throw new RangeError(`A tensor cannot be named ${JSON.stringify(name)}`);
    if (t.data.length !== sizeOf(t.dims)) {
      throw new RangeError(`Tensor "${name}" has ${t.data.length} elements but dims [${t.dims.join(", ")}]`);
    }
    const length = t.data.length * BYTES_PER_ELEMENT[t.dtype];
    header[name] = { dtype: SAFETENSORS_DTYPE[t.dtype], shape: [...t.dims], data_offsets: [offset, offset + length] };
    offset += length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  head.set(json, 8);
  return [head, ...Object.values(tensors).map(bytesOf)];
}

interface Entry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

function entryOf(name: string, v: unknown, fail: (m: string) => never): Entry {
  const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
  if (typeof e !== "object" || e === null) fail(`tensor "${name}" is not an object in the header`);
  const dtype = typeof e.dtype === "string" ? FROM_NAME.get(e.dtype) : undefined;
  if (!dtype) {
    fail(
      `tensor "${name}" has dtype ${JSON.stringify(e.dtype)}; quadjoint reads ${[...FROM_NAME.keys()].join(", ")}`,
    );
  }
  const shape = e.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`tensor "${name}" has shape ${JSON.stringify(shape)}, not a list of sizes`);
  }
  const offsets = e.data_offsets;
  if (
    !Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[1] < offsets[0]
  ) {
    fail(`tensor "${name}" has data_offsets ${JSON.stringify(offsets)}, not [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  const need = sizeOf(shape as number[]) * BYTES_PER_ELEMENT[dtype];
  if (end - begin !== need) {
    fail(
      `tensor "${name}" (${e.dtype} [${(shape as number[]).join(", ")}]) needs ${need} bytes, its offsets give ${
        end - begin
      }`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/**
 * Decodes safetensors bytes. Tensors come back in file order with their own
 * copies of the data (aligned, independent of `bytes`).
 *
 * @param source Names the bytes in errors (a file path).
 * @throws {SafetensorsError} when the header length, the JSON, an entry, a
 *   dtype or the offsets (each tensor's bytes, no gaps, no overlaps, up to the
 *   end of the buffer) are wrong.
 */
export function decodeSafetensors(bytes: Uint8Array, source = "<bytes>"): Safetensors {
  const fail = (m: string): never => {
    throw new SafetensorsError(m, source);
  };
  if (bytes.length < 8) fail(`it has ${bytes.length} bytes, fewer than the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) {
    fail(`its header length ${n} runs past the ${bytes.length - 8} bytes after the length`);
  }
  const headerEnd = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, headerEnd)));
  } catch (e) {
    throw new SafetensorsError(`its header is not JSON (${(e as Error).message})`, source, { cause: e });
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("its header is not a JSON object");
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA) {
      if (typeof v !== "object" || v === null || Array.isArray(v)) fail("its __metadata__ is not an object");
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== "string") fail(`its __metadata__ "${k}" is ${JSON.stringify(s)}, not a string`);
        metadata[k] = s as string;
      }
      continue;
    }
    entries.push(entryOf(name, v, fail));
  }
  const data = bytes.subarray(headerEnd);
  let covered = 0;
  for (const e of [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end)) {
    if (e.begin !== covered) {
      fail(`tensor "${e.name}" starts at byte ${e.begin}, but the tensors before it end at ${covered}`);
    }
    covered = e.end;
  }
  if (covered !== data.length) fail(`the tensors end at byte ${covered}, but the data has ${data.length}`);
  const tensors: Record<string, Tensor> = {};
  for (const e of entries) {
    const buffer = data.slice(e.begin, e.end).buffer;
    const array = e.dtype === "float32"
      ? new Float32Array(buffer)
      : e.dtype === "float64"
      ? new Float64Array(buffer)
      : e.dtype === "int64"
      ? new BigInt64Array(buffer)
      : e.dtype === "int32"
      ? new Int32Array(buffer)
      : new Uint8Array(buffer);
    tensors[e.name] = { dtype: e.dtype, dims: e.shape, data: array } as Tensor;
  }
  return { tensors, metadata };
}

/**
 * Writes tensors as a safetensors file, atomically (temporary file, then
 * rename), creating the folder. The tensors' bytes go to the file from their
 * own arrays, not through a copy of the whole file.
 *
 * @example Write, read back
 * ```ts
 * import { readSafetensors, tensor, writeSafetensors } from "../../mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeSafetensors(`${dir}/w.safetensors`, { b: tensor(Float64Array.of(0.5), [1]) }, { format: "demo" });
 * const { tensors } = await readSafetensors(`${dir}/w.safetensors`);
 * if (tensors.b!.dtype !== "float64" || tensors.b!.data[0] !== 0.5) throw new Error("not round-tripped");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: Readonly<Record<string, Tensor>>,
  metadata: Readonly<Record<string, string>> = {},
): Promise<void> {
  await writeFileAtomic(path, safetensorsParts(tensors, metadata), { what: "safetensors file" });
}

/**
 * Reads a safetensors file.
 *
 * @throws {SafetensorsError} naming the file when it cannot be read or decoded.
 */
export async function readSafetensors(path: string): Promise<Safetensors> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new SafetensorsError(`cannot read the file (${(e as Error).message})`, path, { cause: e });
  }
  return decodeSafetensors(bytes, path);
}
