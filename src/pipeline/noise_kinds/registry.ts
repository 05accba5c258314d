/**
 * The noise kinds of the `noise` stage, listed once: the schema's `noise`
 * union and the SDE training cell read them from here.
 *
 * @module
 */
import { karhunenLoeveNoise } from "./karhunen_loeve.ts";
import type { NoiseKind } from "./noise_kind.ts";

/** Every noise kind. */
export const NOISE_KINDS = [karhunenLoeveNoise] as const;

type SchemasOf<T extends readonly unknown[]> = {
  -readonly [I in keyof T]: T[I] extends { schema: infer S } ? S : never;
};

/** The kinds' setting schemas, in order (what `z.discriminatedUnion` takes). */
export const NOISE_SCHEMAS = NOISE_KINDS.map((k) => k.schema) as unknown as SchemasOf<typeof NOISE_KINDS>;

/**
 * The noise kind named `kind`.
 *
 * @throws {RangeError} naming the known kinds when there is none of that name.
 */
export function noiseKindOf(kind: string): NoiseKind {
  const found = NOISE_KINDS.find((k) => k.kind === kind);
  if (!found) {
    throw new RangeError(`Unknown noise kind "${kind}": use one of ${NOISE_KINDS.map((k) => k.kind).join(", ")}`);
  }
  return found as unknown as NoiseKind;
}
