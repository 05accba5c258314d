/**
 * `data.kind: crossing-trajectories` — two 1-D points that must swap places,
 * [[+1], [−1]] → [[−1], [+1]], observed at the end of the time span.
 *
 * @module
 */
import { z } from "zod";
import { crossingTrajectories } from "../../data/crossing.ts";
import { seed } from "../fields.ts";
import { all, endTimeSource } from "./_sources.ts";
import { dataKind } from "./data_kind.ts";

/** Two 1-D points that must swap places: [[+1], [−1]] → [[−1], [+1]]. */
export const CrossingDataSchema = z.object({
  kind: z.literal("crossing-trajectories"),
  seed: seed.default(0).describe("Seed (the data are fixed; kept for uniformity). Default 0"),
}).strict();

/** The crossing-trajectories data kind. */
export const crossingTrajectoriesData = dataKind({
  kind: "crossing-trajectories",
  schema: CrossingDataSchema,
  classification: false,
  example: { kind: "crossing-trajectories" },
  generate: () => crossingTrajectories(),
  training: {
    sizes: () => ({ dataDim: 1, outDim: 1 }),
    samplesPerEpoch: () => 2,
    task({ inputs, targets }, span) {
      const out = targets.dims[1]!;
      const train = endTimeSource(
        inputs,
        out,
        span,
        (i, row) => row.set(targets.data.subarray(i * out, (i + 1) * out)),
      );
      return { dataDim: inputs.dims[1]!, outDim: out, train, test: train.batch(all(train.size)) };
    },
  },
});
