/**
 * Progress of a pipeline run: on a terminal, one status line rewritten in
 * place (cell k of n, epoch, loss, NFE, elapsed, estimate of time left),
 * whose last state stays on screen when the next cell starts or a message is
 * printed after a finished step, so each finished cell keeps its last line;
 * elsewhere (logs, CI, pipes), one plain line per finished unit of work.
 *
 * Work is counted in units — epochs for training cells, end times and
 * tolerances for analytic cells — and the estimate of time left is the mean
 * time per unit done in this session times the units left.
 *
 * @module
 */

/** What a progress line shows. */
export interface ProgressUpdate {
  /** Epoch (training) or point (analytic), from 1. */
  readonly step: number;
  /** Steps in this cell. */
  readonly steps: number;
  /** What a step is: "epoch" or "point". */
  readonly stepName: string;
  /** A loss to show. */
  readonly loss?: number | undefined;
  /** A test metric to show, with its name. */
  readonly metric?: { readonly name: string; readonly value: number } | undefined;
  /** Forward NFE of one gradient (per batch). */
  readonly nfeForwardPerBatch?: number | undefined;
  /** Backward NFE of one gradient (per batch; gq's nodes included). */
  readonly nfeBackwardPerBatch?: number | undefined;
  /** gq's quadrature nodes per batch (counted in the backward NFE); shown when above 0. */
  readonly nodesPerBatch?: number | undefined;
  /** Whether the step finished (a unit of work is done); otherwise an in-step update (e.g. a batch). */
  readonly done: boolean;
  /** In-step detail, e.g. "batch 3/10". */
  readonly detail?: string | undefined;
}

/** Options of {@linkcode Progress}. */
export interface ProgressOptions {
  /** Rewrite one status line in place (a terminal). @default whether stderr is a terminal */
  tty?: boolean;
  /** Where text goes. @default stderr */
  write?: (text: string) => void;
  /** Clock in milliseconds (for tests). @default performance.now */
  now?: () => number;
}

/** Formats seconds as `1h02m`, `3m05s` or `4.2s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(r).padStart(2, "0")}s`;
}

function num(x: number): string {
  return Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toPrecision(4) : x.toExponential(3);
}

/**
 * Progress reporter of a pipeline run.
 *
 * @example Plain lines when not on a terminal
 * ```ts
 * import { Progress } from "./progress.ts";
 * const lines: string[] = [];
 * let t = 0;
 * const p = new Progress(4, { tty: false, write: (s) => lines.push(s), now: () => t });
 * p.startCell(1, 2, "width-5");
 * t = 2000;
 * p.update({ step: 1, steps: 2, stepName: "epoch", loss: 0.5, done: true });
 * if (!lines[1]!.includes("cell 1/2") || !lines[1]!.includes("left 6.0s")) throw new Error(lines.join("|"));
 * ```
 */
export class Progress {
  readonly #tty: boolean;
  readonly #write: (text: string) => void;
  readonly #now: () => number;
  readonly #start: number;
  #total: number;
  #done = 0;
  #cell = "";
  #weight = 1;
  /** Weighted units of the current cell not yet done or skipped. */
  #cellLeft = 0;
  #lineOpen = false;
  /** The open line shows a finished step (worth keeping), not an in-step update. */
  #lineDone = false;

  /**
   * A reporter for `totalUnits` units of work. Units may be weighted by their
   * cost (see {@linkcode Progress.startCell}); the total is then the weighted sum.
   */
  constructor(totalUnits: number, options: ProgressOptions = {}) {
    const encoder = new TextEncoder();
    this.#tty = options.tty ?? Deno.stderr.isTerminal();
    this.#write = options.write ?? ((s) => void Deno.stderr.writeSync(encoder.encode(s)));
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
    this.#total = totalUnits;
  }

  /**
   * Units already done before this session (resumed work, already weighted):
   * they count as done but not in the time estimate.
   */
  skip(units: number): void {
    this.#total -= units;
    this.#cellLeft = Math.max(0, this.#cellLeft - units);
  }

  /**
   * Announces cell `index` of `count`, of `units` units (epochs, points); each
   * unit it finishes counts `weight` towards the total, so cells of different
   * cost (widths) share one estimate.
   */
  startCell(index: number, count: number, id: string, weight = 1, units = 0): void {
    // The previous cell's last line stays, whatever it showed.
    this.#keepLine();
    this.#weight = weight;
    this.#cellLeft = weight * units;
    this.#cell = `cell ${index}/${count} ${id}`;
    this.log(`${this.#cell}: started`);
  }

  /** Seconds since the reporter was made. */
  get elapsed(): number {
    return (this.#now() - this.#start) / 1000;
  }

  /** Estimated seconds left, from the mean time per (weighted) unit so far. */
  get remaining(): number {
    if (this.#done === 0) return NaN;
    return (this.elapsed / this.#done) * Math.max(0, this.#total - this.#done);
  }

  /**
   * Ends the current cell: the units it did not run (it failed or stopped) leave the total, so the time left
   * counts only work still to come.
   */
  endCell(): void {
    this.#total -= this.#cellLeft;
    this.#cellLeft = 0;
  }

  /** Reports progress inside the current cell. */
  update(u: ProgressUpdate): void {
    if (u.done) {
      this.#done += this.#weight;
      this.#cellLeft = Math.max(0, this.#cellLeft - this.#weight);
    }
    if (!this.#tty && !u.done) return;
    const parts = [this.#cell, `${u.stepName} ${u.step}/${u.steps}`];
    if (u.detail) parts.push(u.detail);
    if (u.loss !== undefined) parts.push(`loss ${num(u.loss)}`);
    if (u.metric !== undefined) parts.push(`${u.metric.name} ${num(u.metric.value)}`);
    if (u.nfeForwardPerBatch !== undefined) {
      const nodes = u.nodesPerBatch ? ` (${Math.round(u.nodesPerBatch)} nodes)` : "";
      parts.push(`NFE/batch ${Math.round(u.nfeForwardPerBatch)}/${Math.round(u.nfeBackwardPerBatch ?? 0)}${nodes}`);
    }
    parts.push(`elapsed ${formatDuration(this.elapsed)}`, `left ${formatDuration(this.remaining)}`);
    const line = parts.join(" | ");
    if (this.#tty) {
      this.#write(`\r\x1b[K${line}`);
      this.#lineOpen = true;
      this.#lineDone = u.done;
    } else {
      this.#write(`${line}\n`);
    }
  }

  /**
   * Prints a message on its own line: under the status line when that shows
   * a finished step, in place of it when it shows a step in progress.
   */
  log(message: string): void {
    if (this.#lineOpen && this.#lineDone) this.#keepLine();
    if (this.#lineOpen) this.#write("\r\x1b[K");
    this.#lineOpen = false;
    this.#write(`${message}\n`);
  }

  /** Ends the status line, leaving it on screen. */
  finish(): void {
    this.#keepLine();
  }

  #keepLine(): void {
    if (this.#lineOpen) this.#write("\n");
    this.#lineOpen = false;
  }
}
