/**
 * Pure helpers of the peer benchmark: gradient agreement between libraries
 * and the work model that sets a gradient's time against the machine's
 * limits (MatMul GFLOP/s, copy bandwidth).
 *
 * The work model counts a gradient in units of one forward evaluation of the
 * MLP, from quadjoint's public statistics only (`GradientResult.stats`):
 *
 * | call                                                    | units |
 * |---------------------------------------------------------|-------|
 * | f(z, t)                                                 | 1     |
 * | f + aᵀ∂f/∂z (gq's backward [z, a] system)               | 2     |
 * | f + aᵀ∂f/∂z + aᵀ∂f/∂θ (the adjoints' augmented system, a gq node, direct's stage VJPs recomputing the stage) | 3 |
 * | aᵀ∂f/∂z + aᵀ∂f/∂θ from kept activations (direct's default stage VJPs; its one recomputed stage per step left out) | 2 |
 *
 * One unit is batch·Σ in·out multiply-adds (every Gemm of the MLP) and one
 * read of the float32 weights (4 bytes per parameter); the third unit of a
 * θ-VJP is the θ-sized gradient it writes. Activations are left out (small
 * next to the weights at batch 2, and not the bound at batch 200).
 *
 * @module
 */

/** The statistics the work model reads (as in quadjoint's GradientStats). */
export interface WorkStats {
  readonly nfeForward: number;
  readonly nfeBackward: number;
  readonly vjpEvals: number;
  readonly nodes: number;
}

/** The gradient's calls sorted into the work model's kinds, and its total in units. */
export interface GradientWork {
  /** Plain evaluations of f. */
  readonly fEvals: number;
  /** f with aᵀ∂f/∂z. */
  readonly zVjps: number;
  /** f with aᵀ∂f/∂z and aᵀ∂f/∂θ, gq's quadrature nodes included. */
  readonly thetaVjps: number;
  /** fEvals + 2·zVjps + 3·thetaVjps. */
  readonly units: number;
}

/**
 * Sorts a gradient's calls by kind. gq: the forward evaluations, every
 * backward call but the nodes as a z-VJP (its few plain f calls at the measurement times
 * counted as z-VJPs too) and one θ-VJP per node. direct with kept activations
 * (`keptActivations`): each stage VJP as two units. The other methods: the
 * forward evaluations and the backward calls beyond the VJPs as f, every VJP
 * as a θ-VJP.
 */
export function gradientWork(method: string, s: WorkStats, options: { keptActivations?: boolean } = {}): GradientWork {
  let fEvals: number, zVjps: number, thetaVjps: number;
  if (method === "direct" && options.keptActivations) {
    // Both products of a stage from its kept activations, no forward pass: two units each, counted as z-VJPs.
    fEvals = s.nfeForward + Math.max(0, s.nfeBackward - s.vjpEvals);
    zVjps = s.vjpEvals;
    thetaVjps = 0;
  } else if (method === "gq") {
    fEvals = s.nfeForward;
    zVjps = s.nfeBackward - s.nodes; // the backward NFE counts the nodes too
    thetaVjps = s.nodes;
  } else {
    fEvals = s.nfeForward + Math.max(0, s.nfeBackward - s.vjpEvals);
    zVjps = 0;
    thetaVjps = s.vjpEvals;
  }
  return { fEvals, zVjps, thetaVjps, units: fEvals + 2 * zVjps + 3 * thetaVjps };
}

/** Multiply-adds of one forward evaluation of a dense MLP: batch·Σ in·out over consecutive `sizes`. */
export function mlpMacs(sizes: readonly number[], batch: number): number {
  let m = 0;
  for (let i = 1; i < sizes.length; i++) m += sizes[i - 1]! * sizes[i]!;
  return batch * m;
}

/** Parameters of a dense MLP with biases over consecutive `sizes`. */
export function mlpParams(sizes: readonly number[]): number {
  let p = 0;
  for (let i = 1; i < sizes.length; i++) p += (sizes[i - 1]! + 1) * sizes[i]!;
  return p;
}

/**
 * ‖a − b‖₂ / ‖b‖₂ over all the arrays together (a[i] pairs with b[i]); 0 when
 * both are zero, Infinity when only b is.
 */
export function relativeError(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[]): number {
  if (a.length !== b.length) throw new RangeError(`relativeError() got ${a.length} arrays against ${b.length}`);
  let diff = 0, norm = 0;
  a.forEach((x, i) => {
    const y = b[i]!;
    if (x.length !== y.length) {
      throw new RangeError(`relativeError() array ${i} has ${x.length} values against ${y.length}`);
    }
    for (let j = 0; j < x.length; j++) {
      const d = x[j]! - y[j]!;
      diff += d * d;
      norm += y[j]! * y[j]!;
    }
  });
  if (norm === 0) return diff === 0 ? 0 : Infinity;
  return Math.sqrt(diff / norm);
}
