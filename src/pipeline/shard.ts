/**
 * Shards of a sweep: `--shard i/N` runs the i-th of N disjoint subsets of a
 * sweep's cells (1-based: `--shard 1/4` … `--shard 4/4`), so N machines
 * together run the whole sweep into one shared output folder.
 *
 * The subsets are balanced by the cost model (cost.ts, through each cell
 * kind's units × unit cost) and stable: cells are taken heaviest first (ties
 * by id, compared by code unit, not locale), each onto the shard with the
 * least weight so far (ties to the lowest shard). The result depends only on
 * the sweep's cells and N, never on the machine, the order of the shards'
 * starts or which cells are done, so every shard of a sweep computes the same
 * partition on its own. A sweep edited (cells added or removed) may move
 * cells between shards; finished cells are still found by `--resume`, since
 * a cell's folder is named by its id alone.
 *
 * A shard writes its cells into the shared `cells/<id>/` folders and its
 * results (a {@linkcode ShardResults}) to `shards/<i>-of-<N>/results.json`
 * instead of the folder's results.json and report; `deno task report <dir>`
 * merges them (merge.ts).
 *
 * @module
 */
import { join } from "node:path";
import { writeResults } from "../results/file.ts";
import type { PipelineResults } from "../results/records.ts";
import { cellKindOf } from "./cells/registry.ts";
import { MAX_SHARDS } from "./cluster.ts";
import { shardDir } from "./_output_lock.ts";
import type { SweepCell } from "./sweep.ts";

export { MAX_SHARDS };

/** One shard of N: `index` is 1-based (1 … count). */
export interface ShardSpec {
  /** Which shard, 1 … count. */
  readonly index: number;
  /** How many shards the sweep is split into. */
  readonly count: number;
}

/**
 * Parses `i/N` (1 ≤ i ≤ N ≤ {@linkcode MAX_SHARDS}, decimal integers).
 *
 * @throws {RangeError} naming what is wrong, e.g. `shard 0 is out of 1 … 4`.
 *
 * @example
 * ```ts
 * import { parseShard } from "./shard.ts";
 * const s = parseShard("2/4");
 * if (s.index !== 2 || s.count !== 4) throw new Error("bad parse");
 * ```
 */
export function parseShard(text: string): ShardSpec {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (m === null) throw new RangeError(`expected i/N such as 1/4 (1-based), got "${text}"`);
  const index = Number(m[1]), count = Number(m[2]);
  if (!(count >= 1 && count <= MAX_SHARDS)) {
    throw new RangeError(`the shard count must be 1 … ${MAX_SHARDS}, got "${text}"`);
  }
  if (!(index >= 1 && index <= count)) {
    throw new RangeError(`shard ${index} is out of 1 … ${count} (shards are 1-based), got "${text}"`);
  }
  return { index, count };
}

/** The shard's name in file names: `2-of-4`. */
export function shardName(shard: ShardSpec): string {
  return `${shard.index}-of-${shard.count}`;
}

/** A cell's weight: its units (epochs or analytic points) times their cost (cost.ts). */
export function cellWeight(cell: SweepCell): number {
  const kind = cellKindOf(cell.config);
  return kind.units(cell.config) * kind.unitCost(cell.config);
}

/**
 * The sweep's cells split into `count` shards: shard k (1-based) is element
 * k − 1, its cells in sweep order. Some shards are empty when there are
 * fewer cells than shards.
 *
 * @example Two shards of four equal cells take two each
 * ```ts
 * import { assignShards } from "./shard.ts";
 * const cells = ["a", "b", "c", "d"].map((id) => ({ id, values: {}, config: {} as never }));
 * const shards = assignShards(cells, 2, () => 1);
 * if (shards.map((s) => s.map((c) => c.id).join("")).join("|") !== "ac|bd") throw new Error("unbalanced");
 * ```
 */
export function assignShards(
  cells: readonly SweepCell[],
  count: number,
  weight: (cell: SweepCell) => number = cellWeight,
): SweepCell[][] {
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`Shard count must be a positive integer, got ${count}`);
  }
  const weighed = cells.map((cell) => ({ cell, w: weight(cell) }));
  for (const { cell, w } of weighed) {
    if (!(Number.isFinite(w) && w >= 0)) throw new RangeError(`Cell ${cell.id} has weight ${w}: expected ≥ 0`);
  }
  weighed.sort((a, b) => b.w - a.w || (a.cell.id < b.cell.id ? -1 : a.cell.id > b.cell.id ? 1 : 0));
  const loads = new Array<number>(count).fill(0);
  const owner = new Map<string, number>();
  for (const { cell, w } of weighed) {
    let best = 0;
    for (let k = 1; k < count; k++) if (loads[k]! < loads[best]!) best = k;
    loads[best]! += w;
    owner.set(cell.id, best);
  }
  const shards: SweepCell[][] = Array.from({ length: count }, () => []);
  for (const cell of cells) shards[owner.get(cell.id)!]!.push(cell);
  return shards;
}

/** The cells of one shard, in sweep order (see {@linkcode assignShards}). */
export function shardCells(cells: readonly SweepCell[], shard: ShardSpec): SweepCell[] {
  return assignShards(cells, shard.count)[shard.index - 1]!;
}

/** One cell of the whole sweep, as a shard's results list it (for the merge). */
export interface SweepEntry {
  /** The cell's id. */
  id: string;
  /** Its swept values. */
  values: Record<string, unknown>;
  /** Its configuration hash (settings.ts), which its `cells/<id>/result.json` must carry. */
  configHash: string;
}

/**
 * A shard's `shards/<i>-of-<N>/results.json`: the results of its own cells
 * (`cells` and `results` hold those only), which shard of how many it is,
 * and every cell of the sweep with its configuration hash, so that a merge
 * can tell the shards of one sweep from those of another.
 */
export interface ShardResults extends PipelineResults {
  /** Which shard this is. */
  shard: ShardSpec;
  /** Every cell of the sweep, in sweep order. */
  sweep: SweepEntry[];
}

/** Writes a shard's results file (atomically); returns its folder. */
export async function writeShardResults(dir: string, results: ShardResults): Promise<string> {
  const own = shardDir(dir, shardName(results.shard));
  await writeResults(join(own, "results.json"), results);
  return own;
}
