/**
 * NumPy's `.npy` and `.npz` files: arrays as float64 in C order, with their
 * shape and the dtype they were stored in.
 *
 * `.npy` is parsed by the npm package npyjs (its `parse`, which takes
 * float16/32/64, signed and unsigned 8–64-bit integers and bool, pure
 * JavaScript, runs on Deno); `.npz` is a zip of `.npy` files (NumPy's
 * `savez` stores them, `savez_compressed` deflates them), opened by fflate's
 * `unzipSync`. Around npyjs this module adds what a training set needs and
 * npyjs leaves out: big-endian (`>`) dtypes and complex or string arrays are
 * refused by name, Fortran-order arrays are transposed to C order, the data
 * must fill the shape exactly (a truncated file is an error, not a short
 * array), and 64-bit integers must fit a double exactly.
 *
 * @module
 */
import { unzipSync } from "fflate";
import { parse as parseNpyBytes } from "npyjs";
import { DataFileError, readDataFile } from "./file_error.ts";

/** An array read from a `.npy` file, as float64. */
export interface NdArray {
  /** The dtype it was stored in, as NumPy writes it without byte order: `f8`, `f4`, `i8`, `u1`, `b1`, … */
  readonly dtype: string;
  /** Its shape; `[]` for a scalar. */
  readonly shape: readonly number[];
  /** Its elements in C (row-major) order. */
  readonly data: Float64Array;
}

/** Dtypes this reader takes (npyjs's numeric ones). */
const NUMERIC = new Set(["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"]);

/** The descr of a `.npy` header, read directly (npyjs drops the byte-order character). */
function descrOf(bytes: Uint8Array): string | undefined {
  const major = bytes[6];
  const len = major === 1
    ? bytes[8]! | (bytes[9]! << 8)
    : new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder("latin1").decode(bytes.subarray(start, start + len));
  return /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
}

/** C-order copy of a Fortran-order array of `shape`. */
function toCOrder(f: Float64Array, shape: readonly number[]): Float64Array {
  const n = f.length, rank = shape.length;
  const out = new Float64Array(n);
  const index = new Array<number>(rank).fill(0);
  for (let c = 0; c < n; c++) {
    let fi = 0, stride = 1;
    for (let k = 0; k < rank; k++) {
      fi += index[k]! * stride;
      stride *= shape[k]!;
    }
    out[c] = f[fi]!;
    for (let k = rank - 1; k >= 0; k--) {
      if (++index[k]! < shape[k]!) break;
      index[k] = 0;
    }
  }
  return out;
}

/**
 * Parses the bytes of a `.npy` file.
 *
 * @param file Names the bytes in messages (for an `.npz` member: `data.npz:x`).
 * @throws {DataFileError} `syntax` for bytes that are not `.npy` or are cut
 *   short; `content` for a dtype this reader does not take, or a 64-bit
 *   integer beyond 2^53.
 *
 * @example A float64 array of shape [2, 3], as NumPy 1.0 format writes it
 * ```ts
 * import { parseNpy } from "./npy.ts";
 * const header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
 * const padded = header.padEnd(128 - 10 - 1) + "\n";
 * const bytes = new Uint8Array(10 + padded.length + 48);
 * bytes.set([0x93, 78, 85, 77, 80, 89, 1, 0, padded.length, 0]);
 * bytes.set(new TextEncoder().encode(padded), 10);
 * new Float64Array(bytes.buffer, 128).set([0, 1, 2, 3, 4, 5]);
 * const a = parseNpy(bytes, "a.npy");
 * if (a.shape.join() !== "2,3" || a.data[5] !== 5 || a.dtype !== "f8") throw new Error("parsed wrong");
 * ```
 */
export function parseNpy(bytes: Uint8Array, file: string): NdArray {
  const magic = String.fromCharCode(...bytes.subarray(0, 6));
  if (bytes.length < 10 || magic !== "\x93NUMPY") {
    throw new DataFileError(file, "syntax", "is not a .npy file (it does not start with \\x93NUMPY)");
  }
  const descr = descrOf(bytes);
  if (descr === undefined) throw new DataFileError(file, "syntax", "has a .npy header without a descr");
  if (descr.startsWith(">")) {
    throw new DataFileError(
      file,
      "content",
      `has big-endian dtype ${descr}: save it little-endian (array.astype("<${descr.slice(1)}"))`,
    );
  }
  const code = descr.replace(/^[<|=]/, "");
  if (!NUMERIC.has(code)) {
    throw new DataFileError(file, "content", `has dtype ${descr}: use a float, integer or bool array`);
  }
  // npyjs views the data in place: give it a buffer of its own, so the offsets are aligned.
  const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes.buffer as ArrayBuffer
    : bytes.slice().buffer;
  let parsed;
  try {
    parsed = parseNpyBytes(own);
  } catch (e) {
    throw new DataFileError(file, "syntax", `is not a valid .npy file: ${(e as Error).message}`, { cause: e });
  }
  const shape = parsed.shape;
  const size = shape.reduce((a, b) => a * b, 1);
  const values = parsed.data as unknown as ArrayLike<number | bigint | boolean>;
  if (values.length !== size) {
    // Too many values is as wrong as too few: the header's shape does not describe the data.
    const what = values.length < size ? "is cut short" : "holds more data than its header says";
    throw new DataFileError(
      file,
      "syntax",
      `${what}: shape [${shape.join(", ")}] needs ${size} elements of ${code}, the file holds ${values.length}`,
    );
  }
  const data = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    const v = values[i]!;
    if (typeof v === "bigint") {
      if (v > 2n ** 53n || v < -(2n ** 53n)) {
        throw new DataFileError(file, "content", `element ${i} (${v}) of the ${code} array does not fit a double`);
      }
      data[i] = Number(v);
    } else {
      data[i] = Number(v);
    }
  }
  return { dtype: code, shape, data: parsed.fortranOrder ? toCOrder(data, shape) : data };
}

/**
 * Parses the bytes of a `.npz` file: its arrays by name (without `.npy`).
 *
 * @throws {DataFileError} `syntax` for bytes that are not a zip file, and as
 *   {@linkcode parseNpy} does for each member.
 */
export function parseNpz(bytes: Uint8Array, file: string): Record<string, NdArray> {
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes);
  } catch (e) {
    throw new DataFileError(file, "syntax", `is not a valid .npz (zip) file: ${(e as Error).message}`, { cause: e });
  }
  const out: Record<string, NdArray> = {};
  for (const [name, member] of Object.entries(members)) {
    if (!name.endsWith(".npy")) continue;
    const key = name.slice(0, -4);
    out[key] = parseNpy(member, `${file}:${key}`);
  }
  return out;
}

/**
 * Reads a `.npy` file.
 *
 * @throws {DataFileError} `unreadable` when it cannot be read, and as {@linkcode parseNpy} does.
 */
export function readNpy(path: string): NdArray {
  return parseNpy(readDataFile(path), path);
}

/**
 * Reads a `.npz` file's arrays by name.
 *
 * @throws {DataFileError} `unreadable` when it cannot be read, and as {@linkcode parseNpz} does.
 */
export function readNpz(path: string): Record<string, NdArray> {
  return parseNpz(readDataFile(path), path);
}
