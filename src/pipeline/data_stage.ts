/**
 * The data stage: a pipeline's validated `data` settings → the generated data,
 * or the data read from the user's files (csv, npy, idx; checked before any
 * work starts by the task stage), by the kind's entry in data_kinds/registry.ts.
 *
 * @module
 */
import { dataKindOf, type Dataset } from "./data_kinds/registry.ts";
import type { DataConfig } from "./schema.ts";

export type { Dataset };

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
  return { kind: config.kind, data: dataKindOf(config.kind).generate(config) } as Dataset;
}
