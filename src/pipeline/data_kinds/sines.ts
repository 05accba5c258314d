/**
 * `data.kind: sines` — x = x0 cos t + v0 sin t on [0, 2π], observed at 10 or
 * 50 regular times or at irregular times per sequence; the state is (x, v)
 * for a second-order model, or (x0, v0) as a first-order state.
 *
 * @module
 */
import { z } from "zod";
import { sineBatch, sines } from "../../data/sines.ts";
import type { BatchSource } from "../../train/trainer.ts";
import { positiveInt, seed } from "../fields.ts";
import { all } from "./_sources.ts";
import { dataKind } from "./data_kind.ts";

/** Sines x = x0 cos t + v0 sin t on [0, 2π], at 10 or 50 regular times or at irregular times. */
export const SinesDataSchema = z.object({
  kind: z.literal("sines"),
  times: z.union([z.literal(10), z.literal(50), z.literal("irregular")]).default(50)
    .describe('Observation times: 10 or 50 regular times on [0, 2π], or "irregular". Default 50'),
  timesPerSequence: z.number().int().min(2).default(10)
    .describe("With irregular times: observed times per sequence (t = 0 included). Default 10"),
  train: positiveInt.default(15).describe("Training sequences. Default 15"),
  test: positiveInt.default(5).describe("Test sequences. Default 5"),
  seed: seed.default(0).describe("Seed of the sampler. Default 0"),
}).strict();

type Split = ReturnType<typeof sines>["train"];

function sequenceSource(split: Split): BatchSource {
  return {
    size: split.sequences.length,
    batch(indices) {
      const s = sineBatch(split, indices);
      const mask = Float64Array.from(s.mask.data);
      return { x: s.initial.data, size: indices.length, times: Array.from(s.times), targets: s.values.data, mask };
    },
  };
}

/** The sines data kind. */
export const sinesData = dataKind({
  kind: "sines",
  schema: SinesDataSchema,
  classification: false,
  example: { kind: "sines", times: 10, train: 3, test: 2 },
  generate: ({ times, timesPerSequence, train, test, seed }) => sines({ times, timesPerSequence, train, test, seed }),
  training: {
    // (x0, v0) in, x out at every observed time.
    sizes: () => ({ dataDim: 2, outDim: 1 }),
    samplesPerEpoch: (c) => c.train,
    task: ({ train, test }) => ({
      dataDim: 2,
      outDim: 1,
      train: sequenceSource(train),
      test: sequenceSource(test).batch(all(test.sequences.length)),
    }),
  },
});
