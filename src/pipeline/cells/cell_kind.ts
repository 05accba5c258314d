/**
 * What one kind of sweep cell provides: whether it runs a configuration, its
 * units of progress and their cost, the test metric it reports, and the run
 * itself. Each kind is one file in this folder, listed once in
 * `registry.ts`; the engine runs whichever kind takes the cell.
 *
 * @module
 */
import type { CellRecords } from "../../results/records.ts";
import type { Runtime } from "../../runtime/session.ts";
import type { Progress } from "../progress.ts";
import type { PipelineConfig } from "../schema.ts";
import type { SweepCell } from "../sweep.ts";

/** A point in a run, reported to {@linkcode CellContext.onEvent}. */
export interface CellEvent {
  /** The cell's id. */
  cell: string;
  /** An epoch of a training cell ended, or a whole cell did. */
  kind: "epoch" | "cell";
  /** The epoch, for epoch events. */
  epoch?: number;
}

/** What a cell runs with. */
export interface CellContext {
  /** The cell. */
  readonly cell: SweepCell;
  /** The cell's own folder (checkpoints). */
  readonly dir: string;
  /** The runtime all cells share. */
  readonly runtime: Runtime;
  /** The progress line. */
  readonly progress: Progress;
  /** Continue from a checkpoint of the same configuration. */
  readonly resume: boolean;
  /** Stops the cell after the batch in flight. */
  readonly signal: AbortSignal | undefined;
  /** Called after every completed epoch. */
  readonly onEvent: ((event: CellEvent) => void) | undefined;
}

/** How a cell ended. */
export interface CellOutcome {
  /** Its records (a stopped cell's epochs so far, and no runs). */
  readonly records: CellRecords;
  /** Stopped by the signal before finishing. */
  readonly stopped: boolean;
  /** Continued from a checkpoint. */
  readonly resumed: boolean;
}

/** One kind of cell. */
export interface CellKind {
  /** Name, for messages. */
  readonly kind: string;
  /** Whether this kind runs the configuration (exactly one kind takes each valid configuration). */
  takes(config: PipelineConfig): boolean;
  /** Units of progress of a cell (epochs, points). */
  units(config: PipelineConfig): number;
  /** Relative cost of one unit, for the time estimate. */
  unitCost(config: PipelineConfig): number;
  /** The label of the metric the report plots for this kind. */
  metricLabel(config: PipelineConfig): string;
  /** Runs the cell. */
  run(ctx: CellContext): Promise<CellOutcome>;
  /** Tidies the cell's folder `dir` once the engine has written its result.json (a training cell's checkpoint goes). */
  finished?(dir: string): Promise<void>;
}
