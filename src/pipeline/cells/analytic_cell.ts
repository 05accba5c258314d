/**
 * The analytic cell: the paper's exponential problem for one gradient method
 * — relative gradient errors against the closed form at every end time T,
 * and at every tolerance of the memory stage the bookkeeping bytes the method
 * holds between its passes and the peak memory of one gradient, measured in
 * a fresh process (`_memory_probe.ts`). No training.
 *
 * @module
 */
import { emptyCellRecords, perGradientCosts } from "../../results/records.ts";
import { analyticErrors, analyticMemory } from "../analytic_stage.ts";
import { makeDataset } from "../data_stage.ts";
import type { PipelineConfig } from "../schema.ts";
import { gradientMethod, methodOptions, solveSettings } from "../settings.ts";
import type { MethodName } from "../../gradients/method.ts";
import { probePeakMemory } from "./_memory_probe.ts";
import type { CellContext, CellKind, CellOutcome } from "./cell_kind.ts";

/** Points an analytic cell measures: one per end time (with gradient-error) and one per memory tolerance. */
function analyticPoints(config: PipelineConfig): number {
  if (config.data.kind !== "analytic") return 1;
  const errors = config.evaluate.metrics.includes("gradient-error") ? config.data.T.count : 0;
  const memory = config.memory ? config.memory.tolerances.length : 0;
  return Math.max(1, errors + memory);
}

async function runAnalyticCell(ctx: CellContext): Promise<CellOutcome> {
  const { cell, runtime, progress } = ctx;
  const config = cell.config;
  const dataset = makeDataset(config.data);
  if (dataset.kind !== "analytic") throw new RangeError(`Cell ${cell.id} is not analytic`);
  const problem = dataset.data;
  const method = gradientMethod(config);
  const methodLabel = config.gradient.method;
  const solve = solveSettings(config.solve);
  const records = emptyCellRecords();
  const units = analyticPoints(config);
  let step = 0;
  const tick = () => progress.update({ step: ++step, steps: units, stepName: "point", done: true });
  if (config.evaluate.metrics.includes("gradient-error")) {
    for (const e of await analyticErrors(runtime, problem, method, solve, tick)) {
      const costs = perGradientCosts(e.stats);
      for (const [quantity, value] of [["L", e.loss], ["dL/dz0", e.dz0], ["dL/da", e.da], ["dL/dT", e.dT]] as const) {
        records.gradientErrors.push({
          cellId: cell.id,
          method: methodLabel,
          T: e.T,
          quantity,
          relativeError: value,
          ...costs,
        });
      }
    }
  }
  if (config.memory) {
    const T = problem.T[problem.T.length - 1]!;
    const seed = config.data.seed;
    for (const tolerance of config.memory.tolerances) {
      const [m] = await analyticMemory(runtime, problem, T, method, solve, [tolerance]);
      const peak = await probePeakMemory({
        problem: { z0: problem.z0, a: problem.a },
        method: config.gradient.method as MethodName,
        methodOptions: methodOptions(config),
        solve,
        T,
        tolerance,
        flushDenormals: runtime.flushDenormals,
      });
      if (peak.error !== undefined && !records.memory.some((r) => r.peakRssError !== undefined)) {
        progress.log(`cell ${cell.id}: no peak memory: ${peak.error}`);
      }
      tick();
      records.memory.push({
        cellId: cell.id,
        method: methodLabel,
        tolerance: m!.tolerance,
        seed,
        peakRssBytes: peak.peakRssBytes,
        ...(peak.error !== undefined ? { peakRssError: peak.error } : {}),
        heldBytes: m!.heldBytes,
        T: m!.T,
        nfeForwardPerGradient: m!.nfeForwardPerGradient,
        nfeBackwardPerGradient: m!.nfeBackwardPerGradient,
        nodesPerGradient: m!.nodesPerGradient,
      });
    }
  }
  return { records, stopped: false, resumed: false };
}

/** The analytic cell kind: the `analytic` data kind. */
export const analyticCell: CellKind = {
  kind: "analytic",
  takes: (config) => config.data.kind === "analytic",
  units: analyticPoints,
  unitCost: () => 1,
  metricLabel: () => "relative error",
  run: runAnalyticCell,
};
