/**
 * Adam's float32 update by the WebAssembly SIMD kernel of `adam_f32.wat`:
 * float32 arithmetic, each operation rounded to float32 as in
 * `torch.optim.Adam` on float32 tensors (the formula of `Adam.step`, not
 * torch's lerp and addcdiv forms, so not bit-identical), four lanes at a time. V8 runs the same loop written in
 * JavaScript as scalar double arithmetic with a conversion per load and
 * store: 117 ms for a step of 9M parameters against 48 ms here, chunk copies
 * included (19.5 ms when the arrays already lie in the module's memory, which
 * would mean keeping θ and the moments there).
 *
 * The kernel works on the module's own memory, so each chunk of θ, gradient
 * and moments is copied in and the updated elements copied back; chunks of
 * {@linkcode CHUNK} elements keep the four copies in the L2 cache.
 *
 * @module
 */
import { ADAM_F32_WASM } from "./adam_f32_wasm.ts";

/** Elements per chunk: the four arrays fill the module's one 64 KiB page. */
export const CHUNK = 4096;

/** The per-step numbers of the update (see `Adam.step`). */
export interface AdamConstants {
  readonly b1: number;
  readonly b2: number;
  /** 1 − β1. */
  readonly c1: number;
  /** 1 − β2. */
  readonly c2: number;
  /** lr / (1 − β1^t). */
  readonly stepSize: number;
  /** √(1 − β2^t). */
  readonly bc2Sqrt: number;
  readonly eps: number;
  readonly weightDecay: number;
}

type AdamExport = (
  n: number,
  cap: number,
  b1: number,
  b2: number,
  c1: number,
  c2: number,
  stepSize: number,
  bc2Sqrt: number,
  eps: number,
  weightDecay: number,
) => number;

interface Kernel {
  readonly adam: AdamExport;
  /** The chunk's θ, gradient and moments in the module's memory. */
  readonly p: Float32Array;
  readonly g: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
}

let kernel: Kernel | undefined;

/** The kernel, instantiated once per thread (its memory is the chunk buffer, never grown). */
function instance(): Kernel {
  const exports = new WebAssembly.Instance(new WebAssembly.Module(ADAM_F32_WASM as BufferSource)).exports;
  const buffer = (exports.memory as WebAssembly.Memory).buffer;
  const view = (k: number) => new Float32Array(buffer, k * CHUNK * 4, CHUNK);
  return { adam: exports.adam as AdamExport, p: view(0), g: view(1), m: view(2), v: view(3) };
}

/**
 * One parameter's float32 Adam update in place; returns −1, or the index of
 * the first non-finite gradient element, with exactly the elements before it
 * updated. The four arrays must have the same length (the caller checks).
 */
export function adamUpdate32(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  c: AdamConstants,
): number {
  const k = kernel ??= instance();
  for (let start = 0; start < p.length; start += CHUNK) {
    const end = Math.min(start + CHUNK, p.length), n = end - start;
    k.p.set(p.subarray(start, end));
    k.g.set(g.subarray(start, end));
    k.m.set(m.subarray(start, end));
    k.v.set(v.subarray(start, end));
    const done = k.adam(n, CHUNK, c.b1, c.b2, c.c1, c.c2, c.stepSize, c.bc2Sqrt, c.eps, c.weightDecay);
    p.set(k.p.subarray(0, done), start);
    m.set(k.m.subarray(0, done), start);
    v.set(k.v.subarray(0, done), start);
    if (done < n) return start + done;
  }
  return -1;
}
