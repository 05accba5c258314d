/**
 * The data kinds, listed once: the pipeline schema's `data` union, the data
 * stage, the task stage and the cost model all read them from here.
 *
 * @module
 */
import { analyticData } from "./analytic.ts";
import { crossingTrajectoriesData } from "./crossing_trajectories.ts";
import type { DataKind, KindOf } from "./data_kind.ts";
import { nestedSpheresData } from "./nested_spheres.ts";
import { ornsteinUhlenbeckData } from "./ornstein_uhlenbeck.ts";
import { sinesData } from "./sines.ts";

/** Every data kind, in the order the schema lists them. */
export const DATA_KINDS = [
  analyticData,
  crossingTrajectoriesData,
  nestedSpheresData,
  ornsteinUhlenbeckData,
  sinesData,
] as const;

/** The setting schema of each kind of a tuple of kinds, as a tuple (what `z.discriminatedUnion` takes). */
type SchemasOf<T extends readonly unknown[]> = {
  -readonly [I in keyof T]: T[I] extends { schema: infer S } ? S : never;
};

/** The kinds' setting schemas, in order. */
export type DataSchemas = SchemasOf<typeof DATA_KINDS>;

/** The schemas of {@linkcode DATA_KINDS}, in order. */
export const DATA_SCHEMAS = DATA_KINDS.map((k) => k.schema) as unknown as DataSchemas;

/** Each kind of a tuple of kinds as `{ kind, data }`, a union discriminated by `kind`. */
type DatasetOf<T extends readonly unknown[]> = {
  [I in keyof T]: T[I] extends DataKind<infer S, infer D> ? { readonly kind: KindOf<S>; readonly data: D } : never;
}[number];

/** Generated data of any kind, tagged with the kind. */
export type Dataset = DatasetOf<typeof DATA_KINDS>;

/**
 * The data kind named `kind`.
 *
 * @throws {RangeError} naming the known kinds when there is none of that name.
 */
export function dataKindOf(kind: string): DataKind {
  const found = DATA_KINDS.find((k) => k.kind === kind);
  if (!found) {
    throw new RangeError(`Unknown data kind "${kind}": use one of ${DATA_KINDS.map((k) => k.kind).join(", ")}`);
  }
  return found as unknown as DataKind;
}

/** The data kinds whose task is classification. */
export const CLASSIFICATION_DATA: readonly string[] = DATA_KINDS.filter((k) => k.classification).map((k) => k.kind);

/** The data kinds of stochastic processes (trained as neural SDEs). */
export const STOCHASTIC_DATA: readonly string[] = DATA_KINDS.filter((k) => "stochastic" in k && k.stochastic).map((k) =>
  k.kind
);
