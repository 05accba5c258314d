/**
 * The forward trajectory of one measurement interval, replayed from
 * checkpoints for GQ's `trajectory: "checkpoint"` variant.
 *
 * A first forward solve keeps only the state at every `segmentSteps`-th
 * accepted step. When the backward solve asks for z(t), the segment holding t
 * is solved forward again from its checkpoint, keeping that segment's dense
 * steps alone. The backward solve moves monotonically through the interval,
 * so each segment is replayed about once, and memory stays at one state per
 * segment plus one segment's steps, instead of every step of the interval.
 *
 * @module
 */
import { integrate, type IntegrateOptions, type VectorField } from "../solvers/integrate.ts";

/** Accepted steps per replayed segment. */
export const SEGMENT_STEPS = 16;

interface Checkpoint {
  readonly t: number;
  readonly z: Float64Array;
  /** Size of the step that ended here (the next segment's first step). */
  readonly h: number | undefined;
}

interface DenseStep {
  readonly t0: number;
  readonly t1: number;
  readonly interpolate: (t: number) => Float64Array;
}

/** z(t) on [t0, t1] along a forward solve, from checkpoints and one replayed segment at a time. */
export class SegmentedTrajectory {
  readonly #f: VectorField;
  readonly #options: IntegrateOptions;
  readonly #checkpoints: Checkpoint[];
  readonly #stateBytes: number;
  #segment = -1;
  #steps: DenseStep[] = [];
  /** Function evaluations of the first solve and of every replay. */
  nfe = 0;
  /** Most dense steps held at once. */
  maxSteps = 0;

  private constructor(f: VectorField, options: IntegrateOptions, checkpoints: Checkpoint[], stateBytes: number) {
    this.#f = f;
    this.#options = options;
    this.#checkpoints = checkpoints;
    this.#stateBytes = stateBytes;
  }

  /** Solves from (t0, z0) to t1, keeping a checkpoint every `segmentSteps` accepted steps. */
  static async record(
    f: VectorField,
    z0: Float64Array,
    t0: number,
    t1: number,
    options: IntegrateOptions,
    segmentSteps = SEGMENT_STEPS,
  ): Promise<{ trajectory: SegmentedTrajectory; lastStep: number }> {
    const checkpoints: Checkpoint[] = [{ t: t0, z: z0, h: options.firstStep }];
    let count = 0;
    const r = await integrate(f, z0, t0, t1, {
      ...options,
      onStep: (s) => {
        if (++count % segmentSteps === 0 && s.t1 !== t1) {
          checkpoints.push({ t: s.t1, z: s.y1, h: Math.abs(s.t1 - s.t0) });
        }
      },
    });
    checkpoints.push({ t: t1, z: r.y1, h: undefined });
    const trajectory = new SegmentedTrajectory(f, options, checkpoints, z0.length * 8);
    trajectory.nfe = r.stats.nfe;
    return { trajectory, lastStep: r.lastStep };
  }

  /** Bytes held: the checkpoints and the largest replayed segment's dense steps (stages, y0, y1 each). */
  heldBytes(stagesPerStep: number): number {
    return (this.#checkpoints.length + this.maxSteps * (stagesPerStep + 2)) * this.#stateBytes;
  }

  /** z(t) for t in the interval. */
  async at(t: number): Promise<Float64Array> {
    const cps = this.#checkpoints;
    const inc = cps[cps.length - 1]!.t > cps[0]!.t;
    const inside = (j: number) => {
      const a = cps[j]!.t, b = cps[j + 1]!.t;
      return inc ? a <= t && t <= b : b <= t && t <= a;
    };
    if (this.#segment < 0 || !inside(this.#segment)) {
      // Binary search for the segment whose end is the first at or past t.
      let lo = 0, hi = cps.length - 2;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const end = cps[mid + 1]!.t;
        if (inc ? t > end : t < end) lo = mid + 1;
        else hi = mid;
      }
      await this.#replay(lo);
    }
    const steps = this.#steps;
    let lo = 0, hi = steps.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const end = steps[mid]!.t1;
      if (inc ? t > end : t < end) lo = mid + 1;
      else hi = mid;
    }
    return steps[lo]!.interpolate(t);
  }

  async #replay(j: number): Promise<void> {
    const from = this.#checkpoints[j]!, to = this.#checkpoints[j + 1]!;
    const steps: DenseStep[] = [];
    const r = await integrate(this.#f, from.z, from.t, to.t, {
      ...this.#options,
      ...(from.h !== undefined && this.#options.dt === undefined ? { firstStep: from.h } : {}),
      onStep: (s) => {
        steps.push({ t0: s.t0, t1: s.t1, interpolate: s.interpolate });
      },
    });
    this.nfe += r.stats.nfe;
    this.#segment = j;
    this.#steps = steps;
    this.maxSteps = Math.max(this.maxSteps, steps.length);
  }
}
