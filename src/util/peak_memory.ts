/**
 * The peak resident memory of one piece of work, measured in a fresh Deno
 * process: a process's resident set only grows, so in a process that has
 * already done other work (an earlier method, an earlier width) the pages are
 * resident and a later rise reads as none.
 *
 * Two halves, one idea:
 * - the parent, {@linkcode measureInChild}, runs a module as a script in a
 *   child Deno process, sends it a JSON request on stdin and reads back the
 *   rise it reports;
 * - the child, {@linkcode answerMemoryProbe}, reads that request, does its
 *   set-up, measures the work with {@linkcode residentRise} and writes the
 *   rise as JSON to stdout.
 *
 * The rise is the highest point reached during the work less the resident set
 * just before it. The highest point is the larger of the resident set sampled
 * every millisecond while the work awaits (native work such as ONNX Runtime
 * runs off the JavaScript thread) and the peak getrusage reports (ru_maxrss,
 * through `process.resourceUsage()`; neither needs a permission, unlike
 * `/proc/self/status`) when that rose during the work: a spawned child
 * inherits its parent's ru_maxrss, so the peak alone may read the parent's.
 *
 * The parent needs `--allow-run`; without it, or when the child fails, the
 * measurement is null with the reason. The child runs with `--allow-read`,
 * `--allow-env`, `--allow-ffi` and `--allow-sys`.
 *
 * @module
 */
import process from "node:process";
import { fileURLToPath } from "node:url";

/** What a probe found: the rise of the peak resident set over the work, or why there is none. */
export interface PeakMemory {
  /** Bytes; null when it could not be measured. */
  readonly peakRssBytes: number | null;
  /** Why peakRssBytes is null. */
  readonly error?: string;
}

/** Options of {@linkcode measureInChild}. */
export interface MeasureInChildOptions {
  /** How long the child may take before it is given up, in milliseconds. @default 120_000 */
  readonly timeoutMs?: number;
}

/** The peak resident set so far, in bytes (ru_maxrss is in KiB), as getrusage reports it. */
function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** The resident set now, in bytes. */
function rss(): number {
  return Deno.memoryUsage().rss;
}

/**
 * The rise of the resident set over `work`, in bytes: the highest point it
 * reached (sampled every millisecond, and getrusage's peak when that rose)
 * less the resident set before. Meaningful in a fresh process only.
 */
export async function residentRise(work: () => Promise<unknown>): Promise<number> {
  const peakBefore = peakRss(), before = rss();
  let sampled = before;
  const timer = setInterval(() => void (sampled = Math.max(sampled, rss())), 1);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const peakAfter = peakRss();
  const highest = Math.max(sampled, rss(), peakAfter > peakBefore ? peakAfter : 0);
  return Math.max(0, highest - before);
}

/**
 * The child's side: reads the JSON request from stdin, hands it to `measure`
 * (which sets up, calls {@linkcode residentRise} around the work and returns
 * its rise) and writes `{"peakRssBytes": …}` to stdout. Call it from a
 * module's `if (import.meta.main)`.
 */
export async function answerMemoryProbe<R>(measure: (request: R) => Promise<number>): Promise<void> {
  const request = JSON.parse(await new Response(Deno.stdin.readable).text()) as R;
  const peakRssBytes = await measure(request);
  console.log(JSON.stringify({ peakRssBytes }));
}

/**
 * The parent's side: runs `module` (a file URL, usually the caller's
 * `import.meta.url`) as a script in a fresh Deno process, sends `request` as
 * JSON on its stdin and returns the rise the child reports through
 * {@linkcode answerMemoryProbe}. Never throws: a failure comes back as null
 * with its reason.
 */
export async function measureInChild(
  module: string | URL,
  request: unknown,
  options: MeasureInChildOptions = {},
): Promise<PeakMemory> {
  const { timeoutMs = 120_000 } = options;
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
        fileURLToPath(module),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
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
