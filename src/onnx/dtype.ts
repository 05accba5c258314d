/**
 * Element types quadjoint's graphs use, and their ONNX and typed-array twins.
 *
 * float32 is the default for models; float64 runs through every stage so that
 * numerical tests can be tight. Integer and bool tensors appear only as shapes,
 * indices and masks, and never carry gradients.
 *
 * @module
 */

/** An element type of a tensor. */
export type DType = "float32" | "float64" | "int64" | "int32" | "bool";

/** The typed array that holds elements of each {@linkcode DType}. */
export interface TypedArrayOf {
  /** 32-bit floats. */
  float32: Float32Array;
  /** 64-bit floats. */
  float64: Float64Array;
  /** 64-bit integers, as ONNX Runtime wants them. */
  int64: BigInt64Array;
  /** 32-bit integers. */
  int32: Int32Array;
  /** Booleans, one byte each. */
  bool: Uint8Array;
}

/** Any typed array that can hold tensor data. */
export type TensorArray = TypedArrayOf[DType];

/** ONNX `TensorProto.DataType` codes for each {@linkcode DType}. */
export const ONNX_DATA_TYPE: Readonly<Record<DType, number>> = {
  float32: 1,
  int32: 6,
  int64: 7,
  bool: 9,
  float64: 11,
};

/** Returns the {@linkcode DType} for an ONNX `TensorProto.DataType` code. */
export function dtypeFromOnnx(code: number, where: string): DType {
  for (const [dtype, c] of Object.entries(ONNX_DATA_TYPE)) {
    if (c === code) return dtype as DType;
  }
  throw new TypeError(
    `Unsupported ONNX element type ${code} in ${where}: quadjoint supports float32, float64, int64, int32 and bool`,
  );
}

/** Size in bytes of one element. */
export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  int64: 8,
  int32: 4,
  bool: 1,
};

/** Allocates a zero-filled array of `length` elements of `dtype`. */
export function allocate<D extends DType>(dtype: D, length: number): TypedArrayOf[D] {
  switch (dtype) {
    case "float32":
      return new Float32Array(length) as TypedArrayOf[D];
    case "float64":
      return new Float64Array(length) as TypedArrayOf[D];
    case "int64":
      return new BigInt64Array(length) as TypedArrayOf[D];
    case "int32":
      return new Int32Array(length) as TypedArrayOf[D];
    case "bool":
      return new Uint8Array(length) as TypedArrayOf[D];
  }
  throw new TypeError(`Unknown dtype ${dtype}`);
}

/** True for the floating-point types, the only ones that carry gradients. */
export function isFloat(dtype: DType): dtype is "float32" | "float64" {
  return dtype === "float32" || dtype === "float64";
}

/** Returns the {@linkcode DType} of a typed array. */
export function dtypeOfArray(data: TensorArray): DType {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof BigInt64Array) return "int64";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof Uint8Array) return "bool";
  throw new TypeError("Unsupported typed array for tensor data");
}
