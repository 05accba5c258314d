/**
 * The measured memory of the analytic cell: the peak resident set of one
 * gradient (forward and backward pass), taken in a fresh Deno process per
 * point, since a process's resident set only grows — in the pipeline's own
 * process every later method would find the pages of earlier ones resident
 * and show no rise at all.
 *
 * The child is this module run as a script: it reads its request (the
 * problem, the method by name, the solve settings, T and the tolerance) from
 * stdin, reads its resident set, runs the gradient with
 * {@linkcode analyticMemory} — the code the cell's bookkeeping figure comes
 * from — on a one-thread CPU runtime, and writes the rise of its resident set
 * to the highest point it reached as JSON to stdout. The highest point is the
 * larger of the resident set sampled every millisecond while the gradient
 * awaits ONNX Runtime and the peak getrusage reports (ru_maxrss, through
 * `process.resourceUsage()`; neither needs a permission, unlike
 * `/proc/self/status`) when that rose during the gradient: a spawned child
 * inherits its parent's ru_maxrss, so the peak alone may read the parent's.
 * The module imports only what the gradient needs. The rise includes ONNX
 * Runtime's session creation for the method's graphs (tens of MiB for the
 * analytic problem's tiny graphs), as a PyTorch process's peak includes its
 * autograd graph: what a fresh process pays for one gradient. ONNX Runtime's
 * own arena statistics are not exposed by onnxruntime-node, so they are not
 * read.
 *
 * The parent needs `--allow-run`; without it, or when the child fails, the
 * measurement is null with the reason, and the run goes on.
 *
 * @module
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { ExponentialProblem } from "../../data/analytic.ts";
import { methodByName, type MethodName, type MethodOptions } from "../../gradients/method.ts";
import type { SolveSettings } from "../../gradients/problem.ts";
import { Runtime } from "../../runtime/session.ts";
import { analyticMemory } from "../analytic_stage.ts";

/** What a probe found: the rise of the peak resident set over one gradient, or why there is none. */
export interface PeakMemory {
  /** Bytes; null when it could not be measured. */
  readonly peakRssBytes: number | null;
  /** Why peakRssBytes is null. */
  readonly error?: string;
}

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
}

/** How long one probe may take before it is given up. */
const PROBE_TIMEOUT_MS = 120_000;

/** The peak resident set so far, in bytes (ru_maxrss is in KiB), as getrusage reports it. */
function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** The resident set now, in bytes. */
function rss(): number {
  return Deno.memoryUsage().rss;
}

/**
 * Measures, in a fresh process, the rise of the peak resident set over one
 * gradient of `request`. Never throws: a failure comes back as null with its
 * reason.
 */
export async function probePeakMemory(request: ProbeRequest): Promise<PeakMemory> {
  let child;
  try {
    child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--no-prompt",
        "--allow-read",
        "--allow-env",
        "--allow-ffi",
        "--allow-sys",
        fileURLToPath(import.meta.url),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    }).spawn();
  } catch (e) {
    const why = (e as Error).name === "NotCapable" ? "run with --allow-run to measure it" : (e as Error).message;
    return { peakRssBytes: null, error: `Cannot start the memory probe: ${why}` };
  }
  try {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(JSON.stringify(request)));
    await writer.close();
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").find((l) => l.trim() !== "");
      return { peakRssBytes: null, error: `The memory probe failed (exit ${out.code}): ${err ?? "no message"}` };
    }
    const parsed = JSON.parse(text.split("\n").at(-1) ?? "") as { peakRssBytes?: unknown };
    if (typeof parsed.peakRssBytes !== "number" || !(parsed.peakRssBytes >= 0)) {
      return { peakRssBytes: null, error: `The memory probe wrote no measurement: ${text.slice(0, 200)}` };
    }
    return { peakRssBytes: parsed.peakRssBytes };
  } catch (e) {
    return { peakRssBytes: null, error: `The memory probe failed: ${(e as Error).message}` };
  }
}

/** The child: one gradient between two readings of the peak resident set. */
async function probeMain(): Promise<void> {
  const request = JSON.parse(await new Response(Deno.stdin.readable).text()) as ProbeRequest;
  const runtime = new Runtime({ threads: 1 });
  const method = methodByName(request.method, request.methodOptions);
  const problem = request.problem as ExponentialProblem; // analyticMemory reads z0 and a only
  const peakBefore = peakRss(), before = rss();
  let sampled = before;
  const timer = setInterval(() => void (sampled = Math.max(sampled, rss())), 1);
  try {
    await analyticMemory(runtime, problem, request.T, method, request.solve, [request.tolerance]);
  } finally {
    clearInterval(timer);
  }
  const peakAfter = peakRss();
  const highest = Math.max(sampled, rss(), peakAfter > peakBefore ? peakAfter : 0);
  await runtime.dispose();
  console.log(JSON.stringify({ peakRssBytes: Math.max(0, highest - before) }));
}

if (import.meta.main) await probeMain();
