/**
 * The weight files the peer benchmark exchanges with its PyTorch server
 * (bench/peers/weights.py reads and writes the same format):
 *
 * ```
 * bytes 0..3     little-endian uint32 N, the length of the JSON header
 * bytes 4..4+N   UTF-8 JSON {"format": "quadjoint.weights/1",
 *                            "tensors": [{name, shape, offset, count}]},
 *                padded with spaces so the data start at a multiple of 8
 * then           float32 little-endian values, row-major; a tensor's values
 *                start `offset` bytes after the header
 * ```
 *
 * float64 tensors are written as float32 (the peers run float32).
 *
 * @module
 */
import { writeFileAtomic } from "../src/util/files.ts";

/** The format marker in the header. */
export const WEIGHTS_FORMAT = "quadjoint.weights/1";

/** A tensor to write: dims and row-major values. */
export interface WeightTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array | Float64Array;
}

/** A tensor read back: always float32. */
export interface Float32Weight {
  readonly dims: number[];
  readonly data: Float32Array;
}

interface HeaderEntry {
  name: string;
  shape: number[];
  offset: number;
  count: number;
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Encodes tensors (in insertion order) as one weight file's bytes. */
export function encodeWeights(tensors: Readonly<Record<string, WeightTensor>>): Uint8Array {
  const entries: HeaderEntry[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.dims.reduce((a, d) => a * d, 1);
    if (count !== t.data.length) {
      throw new RangeError(`Weight "${name}" has ${t.data.length} values but dims [${t.dims.join(", ")}]`);
    }
    entries.push({ name, shape: [...t.dims], offset, count });
    offset += 4 * count;
  }
  let header = new TextEncoder().encode(JSON.stringify({ format: WEIGHTS_FORMAT, tensors: entries }));
  const pad = (8 - ((4 + header.length) % 8)) % 8;
  if (pad > 0) {
    const padded = new Uint8Array(header.length + pad).fill(0x20);
    padded.set(header);
    header = padded;
  }
  const start = 4 + header.length;
  const bytes = new Uint8Array(start + offset);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, header.length, true);
  bytes.set(header, 4);
  for (const e of entries) {
    const data = tensors[e.name]!.data;
    if (LITTLE_ENDIAN) {
      // Float32Array.set converts float64 values with round-to-nearest, like Math.fround.
      new Float32Array(bytes.buffer, start + e.offset, e.count).set(data);
    } else {
      for (let i = 0; i < e.count; i++) view.setFloat32(start + e.offset + 4 * i, data[i]!, true);
    }
  }
  return bytes;
}

/** Decodes a weight file's bytes; SyntaxError when they are not one. */
export function decodeWeights(bytes: Uint8Array, file = "(weights)"): Record<string, Float32Weight> {
  if (bytes.length < 4) throw new SyntaxError(`${file}: too short for a weight file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(0, true);
  if (4 + n > bytes.length) throw new SyntaxError(`${file}: header of ${n} bytes runs past the end (${bytes.length})`);
  let header: { format?: unknown; tensors?: HeaderEntry[] };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n)));
  } catch (e) {
    throw new SyntaxError(`${file}: header is not JSON: ${(e as Error).message}`);
  }
  if (header.format !== WEIGHTS_FORMAT || !Array.isArray(header.tensors)) {
    throw new SyntaxError(`${file}: format is ${JSON.stringify(header.format)}, expected "${WEIGHTS_FORMAT}"`);
  }
  const start = 4 + n;
  const out: Record<string, Float32Weight> = {};
  for (const e of header.tensors) {
    const end = start + e.offset + 4 * e.count;
    if (end > bytes.length) throw new SyntaxError(`${file}: tensor "${e.name}" runs past the end of the file`);
    const from = start + e.offset;
    let data: Float32Array;
    if (LITTLE_ENDIAN) {
      data = new Float32Array(bytes.slice(from, end).buffer); // slice copies into an aligned buffer
    } else {
      data = new Float32Array(e.count);
      for (let i = 0; i < e.count; i++) data[i] = view.getFloat32(from + 4 * i, true);
    }
    out[e.name] = { dims: [...e.shape], data };
  }
  return out;
}

/** Writes tensors to `path` as a weight file (atomically). */
export async function writeWeights(path: string, tensors: Readonly<Record<string, WeightTensor>>): Promise<void> {
  await writeFileAtomic(path, encodeWeights(tensors), { what: "weight file" });
}

/** Reads a weight file. */
export async function readWeights(path: string): Promise<Record<string, Float32Weight>> {
  return decodeWeights(await Deno.readFile(path), path);
}
