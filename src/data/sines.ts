/**
 * Sines: x(t) = x0·cos t + v0·sin t with x0, v0 ~ U[−1, 1] — solutions of the
 * second-order ODE x'' = −x with x(0) = x0, x'(0) = v0 — observed on [0, 2π].
 *
 * Regular variants share 10 or 50 evenly spaced times (0 and 2π included).
 * The irregular variant gives each sequence its own times: t = 0 plus
 * `timesPerSequence − 1` distinct uniform times in (0, 2π]. A batch of
 * sequences is solved on the sorted union of its times, with a mask of which
 * (time, sample) entries were observed ({@linkcode sineBatch}).
 *
 * @module
 */
import { type Tensor, tensor } from "../onnx/tensor.ts";
import { Random } from "../util/random.ts";
import { seriesBatch } from "./series.ts";

/** Options for {@linkcode sines}. */
export interface SinesOptions {
  /** 10 or 50 regular times on [0, 2π], or `"irregular"`. @default 50 */
  times?: 10 | 50 | "irregular";
  /** With irregular times: observations per sequence, t = 0 included. @default 10 */
  timesPerSequence?: number;
  /** Training sequences. @default 15 */
  train?: number;
  /** Test sequences. @default 5 */
  test?: number;
  /** Seed. @default 0 */
  seed?: number;
}

/** One observed sequence. */
export interface SineSequence {
  /** Observation times, increasing, starting at 0. */
  readonly times: Float64Array;
  /** x at those times. */
  readonly values: Float64Array;
}

/** A set of sequences with their initial conditions. */
export interface SineSplit {
  /** (x0, v0) of each sequence, [n, 2] float64: the initial state of the second-order ODE. */
  readonly initial: Tensor<"float64">;
  /** The sequences, in the same order. */
  readonly sequences: readonly SineSequence[];
}

/** Training and test sequences. */
export interface Sines {
  /** Training sequences. */
  readonly train: SineSplit;
  /** Test sequences. */
  readonly test: SineSplit;
}

/** The exact sine x(t) = x0·cos t + v0·sin t. */
export function sineValue(x0: number, v0: number, t: number): number {
  return x0 * Math.cos(t) + v0 * Math.sin(t);
}

/** `count` evenly spaced times on [0, 2π], both ends included. */
export function regularTimes(count: number): Float64Array {
  if (!Number.isInteger(count) || count < 2) {
    throw new RangeError(`regularTimes count must be an integer ≥ 2, got ${count}`);
  }
  const t = new Float64Array(count);
  for (let i = 0; i < count; i++) t[i] = (2 * Math.PI * i) / (count - 1);
  return t;
}

function irregularTimes(rng: Random, count: number): Float64Array {
  const set = new Set<number>([0]);
  while (set.size < count) set.add(2 * Math.PI * (1 - rng.uniform())); // in (0, 2π]
  return Float64Array.from(set).sort();
}

function split(rng: Random, n: number, times: SinesOptions["times"], perSequence: number): SineSplit {
  const initial = new Float64Array(2 * n);
  const shared = times === "irregular" ? undefined : regularTimes(times ?? 50);
  const sequences: SineSequence[] = [];
  for (let i = 0; i < n; i++) {
    const x0 = rng.uniformIn(-1, 1), v0 = rng.uniformIn(-1, 1);
    initial[2 * i] = x0;
    initial[2 * i + 1] = v0;
    const t = shared ?? irregularTimes(rng, perSequence);
    sequences.push({ times: t, values: t.map((ti) => sineValue(x0, v0, ti)) });
  }
  return { initial: tensor(initial, [n, 2]), sequences };
}

/**
 * Generates the sines data. Train and test use independent streams of the seed.
 *
 * @throws {RangeError} on a bad `times`, sizes that are not positive integers,
 *   or `timesPerSequence` below 2.
 *
 * @example
 * ```ts
 * import { sines } from "./sines.ts";
 * const { train } = sines({ times: 10, seed: 2 });
 * const s = train.sequences[0]!;
 * const [x0, v0] = train.initial.data;
 * if (s.times.length !== 10 || Math.abs(s.values[0]! - x0!) > 0 || v0 === undefined) throw new Error("bad data");
 * ```
 */
export function sines(options: SinesOptions = {}): Sines {
  const { times = 50, timesPerSequence = 10, train = 15, test = 5, seed = 0 } = options;
  if (times !== 10 && times !== 50 && times !== "irregular") {
    throw new RangeError(`sines option times must be 10, 50 or "irregular", got ${JSON.stringify(times)}`);
  }
  for (const [name, v] of [["train", train], ["test", test]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`sines option ${name} must be a positive integer, got ${v}`);
    }
  }
  if (!Number.isInteger(timesPerSequence) || timesPerSequence < 2) {
    throw new RangeError(`sines option timesPerSequence must be an integer ≥ 2, got ${timesPerSequence}`);
  }
  const root = new Random(seed);
  const trainRng = root.fork(), testRng = root.fork();
  return {
    train: split(trainRng, train, times, timesPerSequence),
    test: split(testRng, test, times, timesPerSequence),
  };
}

/** A batch of sequences on the union of their times. */
export interface SineBatch {
  /** Sorted union of the batch's observation times (starts at 0). */
  readonly times: Float64Array;
  /** Observed x, [time, batch] float64; 0 where not observed. */
  readonly values: Tensor<"float64">;
  /** Whether x was observed, [time, batch] bool (1 = observed). */
  readonly mask: Tensor<"bool">;
  /** (x0, v0) of the batch's sequences, [batch, 2] float64. */
  readonly initial: Tensor<"float64">;
}

/**
 * Gathers sequences `indices` of a split into one batch: the union of their
 * times, the values on that grid, and the observation mask.
 *
 * @throws {RangeError} on an index outside the split or an empty batch.
 */
export function sineBatch(split: SineSplit, indices: ArrayLike<number>): SineBatch {
  // Sines have one channel and no missing values: the general series batch, typed as sines' tensors.
  const set = { initial: split.initial, series: split.sequences, channels: 1 };
  const { times, values, mask, initial } = seriesBatch(set, indices, "sineBatch");
  const b = indices.length;
  return {
    times,
    values: tensor(values, [times.length, b]),
    mask: tensor(Uint8Array.from(mask), [times.length, b]),
    initial: tensor(initial, [b, 2]),
  };
}
