/**
 * IDX files, the format of MNIST and Fashion-MNIST (LeCun et al.): a 4-byte
 * magic `0x00 0x00 <dtype> <rank>`, then `rank` big-endian uint32 dimensions,
 * then the elements in C order, big-endian. dtype codes: 0x08 uint8, 0x09
 * int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. Files compressed
 * with gzip (as MNIST is distributed, and as Debian's `dataset-fashion-mnist`
 * installs them) are recognised by their first two bytes and decompressed by
 * fflate's streaming `Gunzip` (every member of a multi-member file).
 *
 * The reader is strict: the data must fill the dimensions exactly, so a
 * truncated download or a labels file given as images is an error that says
 * what was expected.
 *
 * @module
 */
import { Gunzip } from "fflate";
import { concatBytes } from "../util/files.ts";
import { DataFileError, readDataFile } from "./file_error.ts";

/** The element types of IDX. */
export type IdxDType = "uint8" | "int8" | "int16" | "int32" | "float32" | "float64";

/** The typed array of each IDX element type. */
export interface IdxDataOf {
  /** 0x08. */
  uint8: Uint8Array;
  /** 0x09. */
  int8: Int8Array;
  /** 0x0B. */
  int16: Int16Array;
  /** 0x0C. */
  int32: Int32Array;
  /** 0x0D. */
  float32: Float32Array;
  /** 0x0E. */
  float64: Float64Array;
}

/** An IDX array. */
export interface IdxArray<D extends IdxDType = IdxDType> {
  /** Element type. */
  readonly dtype: D;
  /** Dimensions, e.g. [60000, 28, 28] for MNIST's training images. */
  readonly dims: readonly number[];
  /** Elements in C order, in native byte order. */
  readonly data: IdxDataOf[D];
}

const CODES: Record<number, IdxDType> = {
  0x08: "uint8",
  0x09: "int8",
  0x0b: "int16",
  0x0c: "int32",
  0x0d: "float32",
  0x0e: "float64",
};
const CODE_OF: Record<IdxDType, number> = { uint8: 8, int8: 9, int16: 0x0b, int32: 0x0c, float32: 0x0d, float64: 0x0e };
const BYTES: Record<IdxDType, number> = { uint8: 1, int8: 1, int16: 2, int32: 4, float32: 4, float64: 8 };

/** Whether bytes start with the gzip magic 1f 8b. */
function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** The header of an IDX file: element type, dimensions and the offset of the data. */
function header(bytes: Uint8Array, file: string): { dtype: IdxDType; dims: number[]; offset: number } {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    const got = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new DataFileError(file, "syntax", `is not an IDX file: it starts with ${got || "nothing"}, not 00 00`);
  }
  const dtype = CODES[bytes[2]!];
  if (dtype === undefined) {
    throw new DataFileError(
      file,
      "syntax",
      `is not an IDX file: dtype code 0x${bytes[2]!.toString(16)} is none of 08, 09, 0b, 0c, 0d, 0e`,
    );
  }
  const rank = bytes[3]!;
  const offset = 4 + 4 * rank;
  if (rank === 0 || bytes.length < offset) {
    throw new DataFileError(file, "syntax", `has a cut-short IDX header (rank ${rank}, ${bytes.length} bytes)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: rank }, (_, k) => view.getUint32(4 + 4 * k, false));
  return { dtype, dims, offset };
}

/** Every member of a gzip file, concatenated (as `gzip -dc` gives them; `gunzipSync` stops after the first). */
function gunzipAll(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  const stream = new Gunzip((chunk) => parts.push(chunk));
  stream.push(bytes, true);
  return concatBytes(parts);
}

/**
 * Parses the bytes of an IDX file, gzipped or not.
 *
 * @param file Names the bytes in messages.
 * @throws {DataFileError} `syntax` for bytes that are not gzip or IDX, or
 *   data that do not fill the dimensions exactly.
 *
 * @example Three 2×2 uint8 images
 * ```ts
 * import { encodeIdx, parseIdx } from "./idx.ts";
 * const bytes = encodeIdx({ dtype: "uint8", dims: [3, 2, 2], data: Uint8Array.from({ length: 12 }, (_, i) => i) });
 * const a = parseIdx(bytes, "images.idx3");
 * if (a.dims.join() !== "3,2,2" || a.data[11] !== 11) throw new Error("parsed wrong");
 * ```
 */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (isGzip(bytes)) {
    try {
      bytes = gunzipAll(bytes);
    } catch (e) {
      throw new DataFileError(file, "syntax", `is not valid gzip: ${(e as Error).message}`, { cause: e });
    }
  }
  const { dtype, dims, offset } = header(bytes, file);
  const count = dims.reduce((a, b) => a * b, 1);
  const size = BYTES[dtype];
  const expected = offset + count * size;
  if (bytes.length !== expected) {
    throw new DataFileError(
      file,
      "syntax",
      `holds ${bytes.length - offset} bytes of data; dims [${dims.join(", ")}] of ${dtype} need ${count * size}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * size);
  switch (dtype) {
    case "uint8":
      return { dtype, dims, data: bytes.slice(offset) };
    case "int8":
      return { dtype, dims, data: new Int8Array(bytes.slice(offset).buffer) };
    case "int16":
      return { dtype, dims, data: Int16Array.from({ length: count }, (_, i) => view.getInt16(2 * i, false)) };
    case "int32":
      return { dtype, dims, data: Int32Array.from({ length: count }, (_, i) => view.getInt32(4 * i, false)) };
    case "float32":
      return { dtype, dims, data: Float32Array.from({ length: count }, (_, i) => view.getFloat32(4 * i, false)) };
    case "float64":
      return { dtype, dims, data: Float64Array.from({ length: count }, (_, i) => view.getFloat64(8 * i, false)) };
  }
}

/**
 * Reads an IDX file, gzipped or not; see {@linkcode parseIdx}.
 *
 * @throws {DataFileError} `unreadable` when it cannot be read, and as {@linkcode parseIdx} does.
 */
export function readIdx(path: string): IdxArray {
  return parseIdx(readDataFile(path), path);
}

/**
 * The bytes of an IDX file (not compressed) holding `array`.
 *
 * @throws {RangeError} when the data do not fill the dimensions.
 */
export function encodeIdx(array: IdxArray): Uint8Array {
  const { dtype, dims, data } = array;
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new RangeError(`encodeIdx: dims [${dims.join(", ")}] need ${count} elements, got ${data.length}`);
  }
  const offset = 4 + 4 * dims.length;
  const out = new Uint8Array(offset + count * BYTES[dtype]);
  const view = new DataView(out.buffer);
  out.set([0, 0, CODE_OF[dtype], dims.length]);
  dims.forEach((d, k) => view.setUint32(4 + 4 * k, d, false));
  for (let i = 0; i < count; i++) {
    const v = data[i]!;
    const at = offset + i * BYTES[dtype];
    if (dtype === "uint8") view.setUint8(at, v);
    else if (dtype === "int8") view.setInt8(at, v);
    else if (dtype === "int16") view.setInt16(at, v, false);
    else if (dtype === "int32") view.setInt32(at, v, false);
    else if (dtype === "float32") view.setFloat32(at, v, false);
    else view.setFloat64(at, v, false);
  }
  return out;
}
