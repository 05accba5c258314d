/**
 * Counter-based random numbers (Philox4x32-10, Salmon et al. 2011, the
 * generator of Random123, cuRAND and JAX): a pure function from a 64-bit key
 * and a 128-bit counter to 128 random bits. Any draw can be recomputed from
 * its key and counter alone, in any order — what a Brownian path needs to be
 * queried again on the backward pass without storing it.
 *
 * @module
 */

const M0 = 0xd2511f53, M1 = 0xcd9e8d57, W0 = 0x9e3779b9, W1 = 0xbb67ae85;
const TWO16 = 65536, TWO32 = 4294967296;

/** High 32 bits of the 64-bit product of two unsigned 32-bit integers, exactly (each partial product < 2^53). */
function mulhi(a: number, b: number): number {
  const t = a * (b & 0xffff); // < 2^48
  const u = a * (b >>> 16); // < 2^48
  return (Math.floor(u / TWO16) + Math.floor(((u % TWO16) * TWO16 + t) / TWO32)) >>> 0;
}

/**
 * Philox4x32-10 of `counter` (four unsigned 32-bit words) under `key` (two
 * words), written into `out` (four words).
 *
 * @example The first Random123 known-answer vector
 * ```ts
 * import { philox4x32 } from "./counter_random.ts";
 * const out = philox4x32([0, 0, 0, 0], [0, 0], new Uint32Array(4));
 * if (out[0] !== 0x6627e8d5) throw new Error(out[0]!.toString(16));
 * ```
 */
export function philox4x32(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
  out: Uint32Array,
): Uint32Array {
  let [c0, c1, c2, c3] = counter.map((c) => c >>> 0) as [number, number, number, number];
  let k0 = key[0] >>> 0, k1 = key[1] >>> 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

/**
 * Normal variates by counter: {@linkcode CounterNormals.pair} gives the two
 * standard normals (Box–Muller on two 53-bit uniforms) of one counter, the
 * same on every call.
 */
export class CounterNormals {
  readonly #key: [number, number];
  readonly #words = new Uint32Array(4);
  readonly #pair = new Float64Array(2);

  /** Normals keyed by `seed` (an integer; its low 32 bits and the next 21 count) and `stream` (32 bits). */
  constructor(seed: number, stream = 0) {
    if (!Number.isInteger(seed)) throw new RangeError(`Seed must be an integer, got ${seed}`);
    this.#key = [(seed >>> 0) ^ (stream >>> 0), Math.floor(seed / TWO32) >>> 0];
  }

  /**
   * The two normals of counter (a, b): integers in [0, 2^32). The returned
   * array is reused by the next call.
   */
  pair(a: number, b: number): Float64Array {
    const w = philox4x32([a, b, 0, 0], this.#key, this.#words);
    // 53-bit uniforms in (0, 1]: u = 0 would make log(u) infinite.
    const u = ((w[0]! >>> 5) * 67108864 + (w[1]! >>> 6) + 1) / 9007199254740992;
    const v = ((w[2]! >>> 5) * 67108864 + (w[3]! >>> 6)) / 9007199254740992;
    const r = Math.sqrt(-2 * Math.log(u));
    this.#pair[0] = r * Math.cos(2 * Math.PI * v);
    this.#pair[1] = r * Math.sin(2 * Math.PI * v);
    return this.#pair;
  }
}
