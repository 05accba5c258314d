/**
 * The dynamics kinds of the model stage, listed once: the pipeline schema's
 * `model.dynamics` union, the task stage, the learning-rate check and the
 * cost model all read them from here.
 *
 * @module
 */
import type { KindOf } from "../data_kinds/data_kind.ts";
import { convModel } from "./conv.ts";
import { mlpModel } from "./mlp.ts";
import type { ModelKind } from "./model_kind.ts";
import { onnxModel } from "./onnx.ts";

/** Every dynamics kind, in the order the schema lists them. */
export const MODEL_KINDS = [mlpModel, convModel, onnxModel] as const;

type SchemasOf<T extends readonly unknown[]> = {
  -readonly [I in keyof T]: T[I] extends { schema: infer S } ? S : never;
};

/** The kinds' setting schemas, in order (what `z.discriminatedUnion` takes). */
export const DYNAMICS_SCHEMAS = MODEL_KINDS.map((k) => k.schema) as unknown as SchemasOf<typeof MODEL_KINDS>;

/** The names of the dynamics kinds. */
export type ModelKindName = KindOf<typeof MODEL_KINDS[number]["schema"]>;

/**
 * The dynamics kind named `kind`.
 *
 * @throws {RangeError} naming the known kinds when there is none of that name.
 */
export function modelKindOf(kind: string): ModelKind {
  const found = MODEL_KINDS.find((k) => k.kind === kind);
  if (!found) {
    throw new RangeError(`Unknown dynamics kind "${kind}": use one of ${MODEL_KINDS.map((k) => k.kind).join(", ")}`);
  }
  return found as unknown as ModelKind;
}

/**
 * The width of `model.dynamics` settings as written in a file (for reports
 * and learning-rate tables), or undefined when they do not parse as their
 * kind or the model they name cannot be read (the task stage's checks say
 * why): the schema's cross-stage checks call this on unvalidated input.
 */
export function dynamicsWidth(dynamics: unknown): number | undefined {
  const kind = (dynamics as { kind?: unknown } | null)?.kind;
  const found = MODEL_KINDS.find((k) => k.kind === kind) as ModelKind | undefined;
  const parsed = found?.schema.safeParse(dynamics);
  if (!found || !parsed?.success) return undefined;
  try {
    return found.width(parsed.data);
  } catch {
    return undefined;
  }
}
