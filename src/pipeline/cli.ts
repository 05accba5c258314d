/**
 * `deno task pipeline <file> [--quick] [--backend cpu|cuda|webgpu] [--out DIR] [--resume | --overwrite] [--threads N]`
 *
 * Validates the pipeline file (every issue printed as `<file>: <path>: <message>`,
 * exit 2, nothing written), then runs it with {@linkcode runPipeline}; results
 * go to `<DIR>/<pipeline name>/` (DIR defaults to `reports`). Ctrl-C finishes
 * the batch in flight, writes the checkpoint and partial results and exits 130;
 * a second Ctrl-C exits at once; SIGTERM does what Ctrl-C does. `--resume`
 * skips finished cells and continues unfinished ones from their last epoch.
 *
 * `--quick` runs go to `<DIR>/<pipeline name>-quick/`. An output folder that
 * already holds results is refused (exit 2) unless `--resume` continues them
 * or `--overwrite` replaces them; so is one another run is writing (its
 * `.lock` names the run's pid).
 *
 * Exit codes: 0 done, 1 a cell failed, 2 bad arguments, pipeline file or output folder, 130 interrupted.
 *
 * @module
 */
import { parsePipelineArgs, USAGE, UsageError } from "./args.ts";
import { runPipelineFile, type RunPipelineOptions } from "./engine.ts";
import { PipelineError } from "./errors.ts";
import { OutputError } from "./_output_lock.ts";

/** Options of {@linkcode main} beyond the command line (for tests). */
export interface CliOptions extends Pick<RunPipelineOptions, "progress" | "charts" | "onEvent" | "runtime"> {
  /** Stops the run like Ctrl-C does. */
  signal?: AbortSignal;
  /** Receives error messages. @default console.error */
  error?: (message: string) => void;
}

/**
 * Runs the pipeline CLI with `args` (without the program name) and returns
 * the exit code.
 *
 * @example An invalid file exits with 2
 * ```ts
 * import { main } from "./cli.ts";
 * const file = await Deno.makeTempFile({ suffix: ".json" });
 * await Deno.writeTextFile(file, JSON.stringify({ name: "x", data: { kind: "sines" }, solve: { rtol: -1 } }));
 * const messages: string[] = [];
 * const code = await main([file], { error: (m) => messages.push(m) });
 * if (code !== 2 || !messages.join("\n").includes("solve.rtol")) throw new Error(messages.join("\n"));
 * await Deno.remove(file);
 * ```
 */
export async function main(args: readonly string[], options: CliOptions = {}): Promise<number> {
  const error = options.error ?? ((m: string) => console.error(m));
  let parsed;
  try {
    parsed = parsePipelineArgs(args);
  } catch (e) {
    if (e instanceof UsageError) {
      error(`${e.message}\n\n${USAGE}`);
      return e.exitCode;
    }
    throw e;
  }
  if (parsed.help) {
    console.log(USAGE);
    return 0;
  }
  const controller = new AbortController();
  options.signal?.addEventListener("abort", () => controller.abort());
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) Deno.exit(130);
    error("Interrupted: finishing the current batch and saving a checkpoint (Ctrl-C again to quit at once)");
    controller.abort();
  };
  // SIGTERM (kill, a batch scheduler's stop) stops the run as Ctrl-C does; Windows has no SIGTERM.
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const listenTo = options.signal === undefined ? signals : [];
  for (const s of listenTo) Deno.addSignalListener(s, onSigint);
  try {
    const run = await runPipelineFile(parsed.file, {
      resume: parsed.resume,
      overwrite: parsed.overwrite,
      backend: parsed.backend,
      ...(parsed.out !== undefined ? { out: parsed.out } : {}),
      ...(parsed.threads !== undefined ? { threads: parsed.threads } : {}),
      signal: controller.signal,
      quick: parsed.quick,
      ...(options.progress ? { progress: options.progress } : {}),
      ...(options.charts !== undefined ? { charts: options.charts } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.runtime ? { runtime: options.runtime } : {}),
    });
    return run.exitCode;
  } catch (e) {
    if (e instanceof PipelineError || e instanceof OutputError) {
      error(e.message);
      return e.exitCode;
    }
    error(`Pipeline ${parsed.file} failed: ${(e as Error).message}`);
    return 1;
  } finally {
    for (const s of listenTo) Deno.removeSignalListener(s, onSigint);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
