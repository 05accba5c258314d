/**
 * A training cell's `checkpoint.json`, for the neural-ODE and the neural-SDE
 * training cells alike: the training state after the last completed epoch,
 * tied to the hash of the configuration that made it, read back by
 * `--resume` when hash and format match.
 *
 * @module
 */
import { join } from "node:path";
import {
  type EpochTotals,
  TRAIN_STATE_FORMAT,
  type TrainState,
  trainStateFromJson,
  trainStateToJson,
} from "../../train/trainer.ts";
import { readJsonIfExists, writeJsonAtomic } from "../../util/files.ts";
import type { PipelineConfig } from "../schema.ts";
import { configHash } from "../settings.ts";
import type { CellContext } from "./cell_kind.ts";

/** What `checkpoint.json` holds: the state after an epoch, tied to the configuration that made it. */
interface Checkpoint {
  configHash?: string;
  cellId?: string;
  state?: { format?: unknown };
}

/** A cell's checkpoint: the state to continue from, and how to save a new one. */
export interface CellCheckpoint<E extends EpochTotals> {
  /** The saved state, when `--resume` found one of this configuration in this format. */
  readonly resume: TrainState<E> | undefined;
  /** Replaces the checkpoint with `state` (atomically). */
  save(state: TrainState<E>): Promise<void>;
}

/**
 * The checkpoint in the cell's folder. With `ctx.resume`, a saved state of
 * another configuration or format, or a file that cannot be read (truncated,
 * not a checkpoint), is reported by its path and ignored (the cell starts
 * over); a usable one is reported and its epochs skipped on the progress line
 * at `epochCost` each.
 */
export async function cellCheckpoint<E extends EpochTotals>(
  ctx: CellContext,
  epochCost: (config: PipelineConfig) => number,
): Promise<CellCheckpoint<E>> {
  const { cell, progress } = ctx;
  const hash = configHash(cell.config);
  const path = join(ctx.dir, "checkpoint.json");
  const save = async (state: TrainState<E>) => {
    const checkpoint: Checkpoint = { configHash: hash, cellId: cell.id, state: trainStateToJson(state) };
    await writeJsonAtomic(path, checkpoint);
  };
  const startOver = (why: string) => {
    progress.log(`cell ${cell.id}: checkpoint ${path} ${why}; starting over`);
    return { resume: undefined, save };
  };
  let saved: Checkpoint | undefined;
  try {
    saved = ctx.resume ? await readJsonIfExists(path) as Checkpoint | undefined : undefined;
  } catch (e) {
    return startOver(`cannot be read (${(e as Error).message})`);
  }
  if (saved === undefined) return { resume: undefined, save };
  if (typeof saved !== "object" || saved === null || Array.isArray(saved)) return startOver("is not a checkpoint");
  if (saved.configHash !== hash) {
    progress.log(`cell ${cell.id}: checkpoint is of another configuration; starting over`);
    return { resume: undefined, save };
  }
  if (saved.state?.format !== TRAIN_STATE_FORMAT) {
    progress.log(
      `cell ${cell.id}: checkpoint has format ${JSON.stringify(saved.state?.format)}, not "${TRAIN_STATE_FORMAT}"; ` +
        "starting over",
    );
    return { resume: undefined, save };
  }
  let state: TrainState<E>;
  try {
    state = trainStateFromJson<E>(saved.state);
  } catch (e) {
    return startOver(`holds no valid training state (${(e as Error).message})`);
  }
  progress.log(`cell ${cell.id}: resuming after epoch ${state.epoch}`);
  progress.skip(state.epoch * epochCost(cell.config));
  return { resume: state, save };
}
