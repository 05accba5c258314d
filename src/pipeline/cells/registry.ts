/**
 * The cell kinds, listed once: the engine runs each sweep cell with the one
 * kind that takes its configuration, and sizes the time estimate by it.
 *
 * @module
 */
import type { PipelineConfig } from "../schema.ts";
import { analyticCell } from "./analytic_cell.ts";
import type { CellKind } from "./cell_kind.ts";
import { sdeTrainingCell } from "./sde_training_cell.ts";
import { trainingCell } from "./training_cell.ts";

/** Every cell kind. */
export const CELL_KINDS: readonly CellKind[] = [trainingCell, analyticCell, sdeTrainingCell];

/**
 * The cell kind that runs `config`.
 *
 * @throws {RangeError} when no kind, or more than one, takes it (a kind list that does not cover the data kinds).
 */
export function cellKindOf(config: PipelineConfig): CellKind {
  const kinds = CELL_KINDS.filter((k) => k.takes(config));
  if (kinds.length !== 1) {
    const found = kinds.length === 0 ? "none" : kinds.map((k) => k.kind).join(" and ");
    throw new RangeError(`Data kind "${config.data.kind}" needs exactly one cell kind to run it, found ${found}`);
  }
  return kinds[0]!;
}
