/**
 * The data stage: the one table from a pipeline's `data` settings to the
 * generators in src/data.
 *
 * @module
 */
import { type ExponentialProblem, exponentialProblem } from "../data/analytic.ts";
import { type CrossingTrajectories, crossingTrajectories } from "../data/crossing.ts";
import { type NestedSpheres, nestedSpheres } from "../data/nested_spheres.ts";
import { type Sines, sines } from "../data/sines.ts";
import type { DataConfig } from "./schema.ts";

/** A generated dataset, tagged with its kind. */
export type Dataset =
  | { readonly kind: "analytic"; readonly data: ExponentialProblem }
  | { readonly kind: "crossing-trajectories"; readonly data: CrossingTrajectories }
  | { readonly kind: "nested-spheres"; readonly data: NestedSpheres }
  | { readonly kind: "sines"; readonly data: Sines };

/**
 * Generates the dataset a validated `data` stage describes.
 *
 * @example
 * ```ts
 * import { makeDataset } from "./data_stage.ts";
 * import { DataSchema } from "./schema.ts";
 * const d = makeDataset(DataSchema.parse({ kind: "nested-spheres", trainPerClass: 5 }));
 * if (d.kind !== "nested-spheres" || d.data.train.inputs.dims[0] !== 10) throw new Error("wrong data");
 * ```
 */
export function makeDataset(config: DataConfig): Dataset {
  switch (config.kind) {
    case "analytic":
      return { kind: "analytic", data: exponentialProblem({ z0: config.z0, a: config.a, T: config.T }) };
    case "crossing-trajectories":
      return { kind: "crossing-trajectories", data: crossingTrajectories() };
    case "nested-spheres": {
      const { dim, r1, r2, r3, trainPerClass, testPerClass, seed } = config;
      return { kind: "nested-spheres", data: nestedSpheres({ dim, r1, r2, r3, trainPerClass, testPerClass, seed }) };
    }
    case "sines": {
      const { times, timesPerSequence, train, test, seed } = config;
      return { kind: "sines", data: sines({ times, timesPerSequence, train, test, seed }) };
    }
  }
}
