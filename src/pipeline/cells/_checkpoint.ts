/**
 * A training cell's checkpoint, for the neural-ODE and the neural-SDE
 * training cells alike: the training state after a completed epoch, tied to
 * the hash of the configuration that made it, read back by `--resume` when
 * hash and format match. Two files in the cell's folder:
 *
 * - `checkpoint-<epoch>-<id>.safetensors`: parameters and Adam moments, raw
 *   little-endian tensors (`trainStateTensors`), the `id` in its metadata;
 * - `checkpoint.json`: configuration hash, cell id, the state's header
 *   (format, epoch, Adam step, epoch records), the name and id of its
 *   tensor file, each epoch's checkpoint seconds and the cell's wall-clock.
 *
 * A save writes a new tensor file, then the JSON (atomically, each), then
 * removes the older tensor files: killed at any point, the folder holds a
 * JSON and the tensor file it names, never a JSON paired with other tensors.
 *
 * Saves follow a schedule ({@linkcode CheckpointSchedule}): by default one
 * whenever the time since the last (or since this session's training began)
 * is at least {@linkcode COST_RATIO} times what a save costs — the last one's
 * time, or the state's bytes at {@linkcode ASSUMED_WRITE_BYTES_PER_MS} where
 * that is more — so checkpoints cost about 2 % of the run (at most 1/51 where
 * a save costs no more than that). A width-3000 MLP's 108 MB of float32 θ, m
 * and v took 0.03–0.23 s to write here, so it saves every 11 s or more, the
 * first no sooner; a small model after nearly every epoch. A cell killed
 * (SIGKILL) before its first save starts over. Whatever the schedule, the
 * cell saves the last completed epoch when training stops (Ctrl-C, SIGTERM)
 * or fails; a finished cell needs none (its model files and result.json hold
 * the outcome) and the engine removes it.
 *
 * @module
 */
import { join } from "node:path";
import { readSafetensors, SafetensorsError, writeSafetensors } from "../../models/safetensors.ts";
import {
  type EpochTotals,
  TRAIN_STATE_FORMAT,
  type TrainState,
  trainStateFromParts,
  trainStateHeader,
  trainStateTensors,
} from "../../train/trainer.ts";
import { readJsonIfExists, writeJsonAtomic } from "../../util/files.ts";
import type { CheckpointSchedule, PipelineConfig } from "../schema.ts";
import { configHash } from "../settings.ts";
import type { CellContext } from "./cell_kind.ts";
import type { CellTimes } from "./_records.ts";

/** The default schedule saves once the time since the last save is this many times what a save costs. */
export const COST_RATIO = 50;

/**
 * What the default schedule takes a save to cost before one is measured, and at the least after: the state's bytes at
 * this rate (bytes per ms; 500 MB/s, about the slowest 108 MB save measured here). A first save timed at once misled
 * it: the width-3000 crossing run's first save took 33 ms (the page cache) and the next, due 1.7 s later, 230 ms —
 * 5.4 % of a 4.8 s cell.
 */
export const ASSUMED_WRITE_BYTES_PER_MS = 500e3;

/**
 * What the default schedule takes a save of `state` to cost, in ms: the last save's time, or its tensors' bytes at
 * {@linkcode ASSUMED_WRITE_BYTES_PER_MS} where that is more (the JSON beside them is small).
 */
export function saveCostMs(lastCostMs: number, state: TrainState<EpochTotals>): number {
  const bytes = Object.values(trainStateTensors(state)).reduce((sum, t) => sum + t.data.byteLength, 0);
  return Math.max(lastCostMs, bytes / ASSUMED_WRITE_BYTES_PER_MS);
}

/** The tensor files' names: `checkpoint-<epoch>-<8 hex>.safetensors`. */
const TENSOR_FILE = /^checkpoint-\d+-[0-9a-f]{8}\.safetensors$/;

/** What `checkpoint.json` holds. */
interface CheckpointJson {
  configHash?: unknown;
  cellId?: unknown;
  /** The state's header (`trainStateHeader`). */
  state?: { format?: unknown; epoch?: unknown };
  /** The tensor file of this state: its name in the folder and the id in its metadata. */
  tensors?: { file?: unknown; id?: unknown };
  /** Seconds of the checkpoint after each epoch (index epoch − 1; 0 where none was written). */
  checkpointSeconds?: unknown;
  /** Wall-clock seconds of the cell up to this checkpoint, over all its sessions. */
  wallSeconds?: unknown;
}

/** A cell's checkpoint: the state to continue from, the schedule, and the times the records need. */
export interface CellCheckpoint<E extends EpochTotals> extends CellTimes {
  /** The saved state, when `--resume` found one of this configuration in this format. */
  readonly resume: TrainState<E> | undefined;
  /** After an epoch: keeps `state` as the latest, and saves it when the schedule says so. */
  epochEnded(state: TrainState<E>): Promise<void>;
  /**
   * Saves the latest state unless it is saved already: at the end of
   * training, when it stopped and when it failed. The state must still be
   * the one the last `epochEnded` got (call it before anything trains on).
   */
  flush(): Promise<void>;
}

/** Whether a save is due after `epoch`, `sinceMs` after the last save ended, a save costing `costMs`. */
export function saveDue(
  schedule: CheckpointSchedule | undefined,
  epoch: number,
  sinceMs: number,
  costMs: number,
): boolean {
  const { everyEpochs, everySeconds } = schedule ?? {};
  if (everyEpochs === undefined && everySeconds === undefined) return sinceMs >= COST_RATIO * costMs;
  return (everyEpochs !== undefined && epoch % everyEpochs === 0) ||
    (everySeconds !== undefined && sinceMs >= everySeconds * 1000);
}

/**
 * The checkpoint in the cell's folder. With `ctx.resume`, a saved state of
 * another configuration or format (an earlier version's base64 JSON), or
 * files that cannot be read (truncated, missing, not a checkpoint), is
 * reported by its path and ignored (the cell starts over); a usable one is
 * reported and its epochs skipped on the progress line at `epochCost` each.
 *
 * @param startedMs When the cell started (`performance.now()`), for its wall-clock.
 */
export async function cellCheckpoint<E extends EpochTotals>(
  ctx: CellContext,
  epochCost: (config: PipelineConfig) => number,
  startedMs: number,
): Promise<CellCheckpoint<E>> {
  const { cell, progress } = ctx;
  const path = join(ctx.dir, "checkpoint.json");
  const loaded = ctx.resume ? await load<E>(ctx, path) : undefined;
  const schedule = cell.config.train?.checkpoint;
  const hash = configHash(cell.config);
  // Earlier sessions' wall-clock and checkpoint times (null: unknown), then this session's.
  const priorWallSeconds = loaded ? loaded.wallSeconds : 0;
  const seconds: (number | null)[] = loaded?.checkpointSeconds ?? [];
  let latest: TrainState<E> | undefined = loaded?.state;
  let savedEpoch = loaded?.state.epoch;
  let lastEndMs = performance.now(), lastCostMs = 0;
  const wallSeconds = () =>
    priorWallSeconds === null ? null : priorWallSeconds + (performance.now() - startedMs) / 1000;

  const save = async (state: TrainState<E>) => {
    const t0 = performance.now();
    const id = crypto.randomUUID().replaceAll("-", "").slice(0, 8);
    const file = `checkpoint-${state.epoch}-${id}.safetensors`;
    await writeSafetensors(join(ctx.dir, file), trainStateTensors(state), {
      format: TRAIN_STATE_FORMAT,
      cell: cell.id,
      id,
    });
    while (seconds.length < state.epoch) seconds.push(0);
    // The JSON holds this save's time up to its own writing (a few milliseconds short).
    seconds[state.epoch - 1] = (performance.now() - t0) / 1000;
    const json: CheckpointJson = {
      configHash: hash,
      cellId: cell.id,
      state: trainStateHeader(state),
      tensors: { file, id },
      checkpointSeconds: seconds,
      wallSeconds: wallSeconds(),
    };
    await writeJsonAtomic(path, json);
    await removeTensorFilesBut(ctx.dir, file);
    lastEndMs = performance.now();
    lastCostMs = lastEndMs - t0;
    seconds[state.epoch - 1] = lastCostMs / 1000;
    savedEpoch = state.epoch;
  };

  if (loaded) {
    progress.log(`cell ${cell.id}: resuming after epoch ${loaded.state.epoch}`);
    progress.skip(loaded.state.epoch * epochCost(cell.config));
    await removeTensorFilesBut(ctx.dir, loaded.file);
  }
  return {
    resume: loaded?.state,
    async epochEnded(state) {
      latest = state;
      if (saveDue(schedule, state.epoch, performance.now() - lastEndMs, saveCostMs(lastCostMs, state))) {
        await save(state);
      }
    },
    async flush() {
      if (latest !== undefined && latest.epoch !== savedEpoch) await save(latest);
    },
    checkpointSeconds(epoch) {
      const s = seconds[epoch - 1];
      return s === undefined ? 0 : s;
    },
    wallSeconds,
  };
}

/**
 * Waits for `training`, then saves the latest state unless the schedule just
 * did, when the signal stopped training (Ctrl-C) and when it failed — then
 * the training error is what is thrown, whatever the save does. Training that
 * ran to its last epoch saves nothing: the cell's model files and result.json
 * hold what it made, and the engine removes the checkpoint once they are
 * written ({@linkcode removeCheckpoint}); killed before that, the cell resumes
 * from its last scheduled save, or starts over if none was written yet.
 */
export async function withFinalCheckpoint<T extends { readonly stopped: boolean }>(
  checkpoint: Pick<CellCheckpoint<EpochTotals>, "flush">,
  training: Promise<T>,
): Promise<T> {
  let result: T;
  try {
    result = await training;
  } catch (e) {
    await checkpoint.flush().catch(() => {});
    throw e;
  }
  if (result.stopped) await checkpoint.flush();
  return result;
}

/**
 * Runs `write` (a finished cell's model files); when it fails, first saves the
 * last epoch (unless the schedule just did), so `--resume` does not train
 * again what the failed write lost, then rethrows.
 */
export async function savedIfFails<T>(checkpoint: Pick<CellCheckpoint<EpochTotals>, "flush">, write: () => Promise<T>) {
  try {
    return await write();
  } catch (e) {
    await checkpoint.flush().catch(() => {});
    throw e;
  }
}

/**
 * Removes a finished cell's checkpoint: `checkpoint.json` first, then its
 * tensor files (a kill in between leaves only tensor files no JSON names,
 * which a resumed cell never reads). A folder without one is left as it is.
 */
export async function removeCheckpoint(dir: string): Promise<void> {
  const ignoreMissing = (e: unknown) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  };
  await Deno.remove(join(dir, "checkpoint.json")).catch(ignoreMissing);
  await removeTensorFilesBut(dir, "").catch(ignoreMissing);
}

/** What a usable checkpoint gave. */
interface Loaded<E extends EpochTotals> {
  readonly state: TrainState<E>;
  /** Its tensor file's name. */
  readonly file: string;
  readonly checkpointSeconds: (number | null)[];
  readonly wallSeconds: number | null;
}

/** The checkpoint at `path` when it is of this configuration and format; undefined (said why) otherwise. */
async function load<E extends EpochTotals>(ctx: CellContext, path: string): Promise<Loaded<E> | undefined> {
  const { cell, progress } = ctx;
  const startOver = (why: string): undefined => {
    progress.log(`cell ${cell.id}: checkpoint ${path} ${why}; starting over`);
    return undefined;
  };
  let saved: CheckpointJson | undefined;
  try {
    saved = await readJsonIfExists(path) as CheckpointJson | undefined;
  } catch (e) {
    return startOver(`cannot be read (${(e as Error).message})`);
  }
  if (saved === undefined) return undefined;
  if (typeof saved !== "object" || saved === null || Array.isArray(saved)) return startOver("is not a checkpoint");
  if (saved.configHash !== configHash(cell.config)) {
    progress.log(`cell ${cell.id}: checkpoint is of another configuration; starting over`);
    return undefined;
  }
  if (saved.state?.format !== TRAIN_STATE_FORMAT) {
    return startOver(
      `has format ${JSON.stringify(saved.state?.format)}, not "${TRAIN_STATE_FORMAT}" (an earlier version wrote it)`,
    );
  }
  const { file, id } = saved.tensors ?? {};
  if (typeof file !== "string" || !TENSOR_FILE.test(file)) {
    return startOver(`names no tensor file (got ${JSON.stringify(file)})`);
  }
  const tensorPath = join(ctx.dir, file);
  let state: TrainState<E>;
  try {
    const { tensors, metadata } = await readSafetensors(tensorPath);
    if (metadata.id !== id) {
      return startOver(`names ${tensorPath}, which belongs to another checkpoint (id ${metadata.id}, not ${id})`);
    }
    state = trainStateFromParts<E>(saved.state, tensors);
  } catch (e) {
    const why = e instanceof SafetensorsError ? `names ${file}, which cannot be read` : "holds no valid training state";
    return startOver(`${why} (${(e as Error).message})`);
  }
  const times = Array.isArray(saved.checkpointSeconds) ? saved.checkpointSeconds : [];
  return {
    state,
    file,
    checkpointSeconds: Array.from(
      { length: state.epoch },
      (_, i) => typeof times[i] === "number" && times[i] >= 0 ? times[i] as number : null,
    ),
    wallSeconds: typeof saved.wallSeconds === "number" ? saved.wallSeconds : null,
  };
}

/** Removes the folder's checkpoint tensor files other than `keep` (a save's older ones, or one killed half-way). */
async function removeTensorFilesBut(dir: string, keep: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name !== keep && TENSOR_FILE.test(entry.name)) {
      await Deno.remove(join(dir, entry.name)).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    }
  }
}
