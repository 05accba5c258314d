/**
 * The measured memory of the analytic cell: the peak resident set of one
 * gradient (forward and backward pass), taken in a fresh Deno process per
 * point, since a process's resident set only grows — in the pipeline's own
 * process every later method would find the pages of earlier ones resident
 * and show no rise at all.
 *
 * The child is this module run as a script (src/util/peak_memory.ts spawns
 * it, sends the request and measures): it reads its request (the problem,
 * the method by name, the solve settings, T and the tolerance), runs the
 * gradient with {@linkcode analyticMemory} — the code the cell's bookkeeping
 * figure comes from — on a one-thread CPU runtime in the cell's subnormal
 * mode, and reports the rise of its resident set to the highest point it
 * reached. The module imports only
 * what the gradient needs. The rise includes ONNX Runtime's session creation
 * for the method's graphs (tens of MiB for the analytic problem's tiny
 * graphs), as a PyTorch process's peak includes its autograd graph: what a
 * fresh process pays for one gradient. ONNX Runtime's own arena statistics
 * are not exposed by onnxruntime-node, so they are not read.
 *
 * The parent needs `--allow-run`; without it, or when the child fails, the
 * measurement is null with the reason, and the run goes on.
 *
 * @module
 */
import type { ExponentialProblem } from "../../data/analytic.ts";
import { methodByName, type MethodName, type MethodOptions } from "../../gradients/method.ts";
import type { SolveSettings } from "../../gradients/problem.ts";
import { Runtime } from "../../runtime/session.ts";
import { answerMemoryProbe, measureInChild, type PeakMemory, residentRise } from "../../util/peak_memory.ts";
import { analyticMemory } from "../analytic_stage.ts";

/** One point to measure: plain data, sent to the child as JSON. */
export interface ProbeRequest {
  /** The analytic problem (its z0 and a). */
  readonly problem: Pick<ExponentialProblem, "z0" | "a">;
  /** The method's name. */
  readonly method: MethodName;
  /** Its options. */
  readonly methodOptions: MethodOptions;
  /** The cell's solve settings (the tolerance replaces rtol and atol). */
  readonly solve: SolveSettings & { backward?: SolveSettings };
  /** End time. */
  readonly T: number;
  /** rtol = atol. */
  readonly tolerance: number;
  /** The cell's runtime's subnormal mode (`RuntimeOptions.flushDenormals`), so the child computes as the cell does. */
  readonly flushDenormals: boolean;
}

/**
 * Measures, in a fresh process, the rise of the peak resident set over one
 * gradient of `request`. Never throws: a failure comes back as null with its
 * reason.
 */
export function probePeakMemory(request: ProbeRequest): Promise<PeakMemory> {
  return measureInChild(import.meta.url, request);
}

/** The child: one gradient, its resident set read before and during it. */
async function measureGradient(request: ProbeRequest): Promise<number> {
  const runtime = new Runtime({ threads: 1, flushDenormals: request.flushDenormals });
  try {
    const method = methodByName(request.method, request.methodOptions);
    const problem = request.problem as ExponentialProblem; // analyticMemory reads z0 and a only
    return await residentRise(() =>
      analyticMemory(runtime, problem, request.T, method, request.solve, [request.tolerance])
    );
  } finally {
    await runtime.dispose();
  }
}

if (import.meta.main) await answerMemoryProbe(measureGradient);
