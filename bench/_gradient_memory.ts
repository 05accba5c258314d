/**
 * The gradient benchmark's measured memory: the rise of the peak resident set
 * over one gradient of the benchmark MLP (`_mlp_problem.ts`) by one method,
 * in a fresh Deno process per (method, width, regime) — in the benchmark's own
 * process every later method would find the earlier ones' pages resident.
 *
 * The child is this module run as a script (src/util/peak_memory.ts spawns it
 * and measures): it builds the problem and the runtime, reads its resident
 * set, runs one gradient (dopri5, rtol = atol = 1e-3, as the timed rows) and
 * reports the rise. The rise includes ONNX Runtime's session creation for
 * the method's graphs: what a fresh process pays for one gradient.
 *
 * @module
 */
import { methodByName, type MethodName } from "../src/gradients/method.ts";
import { odeGradient } from "../src/gradients/ode_gradient.ts";
import { Runtime } from "../src/runtime/session.ts";
import { answerMemoryProbe, measureInChild, type PeakMemory, residentRise } from "../src/util/peak_memory.ts";
import { benchmarkMlp } from "./_mlp_problem.ts";

/** One point to measure: plain data, sent to the child as JSON. */
export interface GradientMemoryRequest {
  /** The method, by name, with its default options. */
  readonly method: MethodName;
  /** Hidden width of the MLP. */
  readonly width: number;
  /** State size. */
  readonly dim: number;
  /** Batch size. */
  readonly batch: number;
  /** End of the time span [0, t1]. */
  readonly t1: number;
}

/**
 * Measures, in a fresh process, the rise of the peak resident set over one
 * gradient of the benchmark MLP. Never throws: a failure comes back as null
 * with its reason.
 */
export function probeGradientMemory(request: GradientMemoryRequest): Promise<PeakMemory> {
  return measureInChild(import.meta.url, request, { timeoutMs: 600_000 });
}

/** The child: the problem and runtime first, then one gradient between readings of the resident set. */
async function measureGradient(request: GradientMemoryRequest): Promise<number> {
  const runtime = new Runtime();
  try {
    const method = methodByName(request.method);
    const { problem } = benchmarkMlp(request.width, request.dim, request.batch, request.t1);
    return await residentRise(() => odeGradient(problem, { method, rtol: 1e-3, atol: 1e-3, runtime }));
  } finally {
    await runtime.dispose();
  }
}

if (import.meta.main) await answerMemoryProbe(measureGradient);
