/**
 * From a validated configuration's names to the library's objects and
 * settings, in one place each: solvers through `SOLVERS`, gradient methods
 * through `methodByName`, and the hash that ties a checkpoint to what it
 * computed.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type GradientMethod, methodByName, type MethodOptions } from "../gradients/method.ts";
import type { SolveSettings } from "../gradients/problem.ts";
import { SOLVERS } from "../solvers/solver.ts";
import type { PipelineConfig, SolveConfig } from "./schema.ts";

/** Solver settings of the solve stage (forward, and backward for the adjoint family). */
export function solveSettings(solve: SolveConfig): SolveSettings & { backward?: SolveSettings } {
  const base: SolveSettings = {
    solver: SOLVERS[solve.solver].name,
    rtol: solve.rtol,
    atol: solve.atol,
    maxSteps: solve.maxSteps,
    ...(solve.dt !== undefined ? { dt: solve.dt } : {}),
  };
  const b = solve.backward;
  if (b === undefined) return base;
  const backward: SolveSettings = {
    ...base,
    ...(b.solver !== undefined ? { solver: SOLVERS[b.solver].name } : {}),
    ...(b.rtol !== undefined ? { rtol: b.rtol } : {}),
    ...(b.atol !== undefined ? { atol: b.atol } : {}),
  };
  return { ...base, backward };
}

/**
 * The ODE gradient method of a configuration.
 *
 * @throws {RangeError} for the SDE methods (sde-direct, sde-adjoint), which the SDE training cell runs itself.
 */
export function gradientMethod(config: PipelineConfig): GradientMethod {
  const name = config.gradient.method;
  if (name === "sde-direct" || name === "sde-adjoint") {
    throw new RangeError(`Method "${name}" is an SDE method: it has no ODE gradient method`);
  }
  return methodByName(name, methodOptions(config));
}

/** The options of the gradient methods a configuration sets (each method reads its own). */
export function methodOptions(config: PipelineConfig): MethodOptions {
  const { gq, stepControl, activations } = config.gradient;
  return { gq, stepControl, ...(activations !== undefined ? { activations } : {}) };
}

/**
 * Short hash of what a cell computes, so a checkpoint of another configuration
 * is never resumed. Fields that change only how results are shown (name,
 * description, report) or how often they are saved (`train.checkpoint`) are
 * left out: editing a report title or the checkpoint schedule keeps
 * checkpoints and finished cells.
 */
export function configHash(config: PipelineConfig): string {
  const { name: _name, description: _description, report: _report, ...computed } = config;
  if (computed.train?.checkpoint !== undefined) {
    const { checkpoint: _schedule, ...train } = computed.train;
    computed.train = train;
  }
  return createHash("sha256").update(JSON.stringify(computed)).digest("hex").slice(0, 16);
}
