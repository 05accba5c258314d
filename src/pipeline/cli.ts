/**
 * `deno task pipeline <file> [--quick] [--backend cpu|cuda|webgpu] [--out DIR] [--resume | --overwrite] [--threads N]
 * [--shard i/N | --emit slurm|k8s [--shards N]]`
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
 * An output folder that cannot be made or written (`--out` names a file, or
 * a read-only folder) is refused (exit 2) before any work starts too.
 *
 * `--shard i/N` runs the i-th of N shards of the sweep (shard.ts) into the
 * shared output folder; `--emit slurm|k8s` validates the file and prints
 * (to stdout) the batch job that runs every shard (emit.ts), running nothing.
 *
 * Exit codes: 0 done, 1 a cell failed, 2 bad arguments, pipeline file or output folder, 130 interrupted.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { parsePipelineArgs, USAGE, UsageError } from "./args.ts";
import { emitJob } from "./emit.ts";
import { outputDir, runPipeline, type RunPipelineOptions } from "./engine.ts";
import { PipelineError } from "./errors.ts";
import { readPipeline } from "./parse.ts";
import { expandSweep } from "./sweep.ts";
import { OutputError } from "./_output_lock.ts";

/**
 * Why the run cannot write its output folder `dir` (under `out`, the
 * `--out` option, or the default `reports`), before any work starts: the deepest part of the path
 * that exists must be a folder this process can create entries in. Writing
 * is tried with an empty folder removed at once (named as the atomic writers'
 * temporaries, so a run killed meanwhile leaves nothing a later run keeps);
 * permission bits alone cannot tell (root, ACLs, read-only mounts).
 */
async function outputProblem(dir: string, out: string | undefined): Promise<string | undefined> {
  const option = out !== undefined ? "--out" : "--out (default reports)";
  const root = resolve(out ?? "reports");
  let existing = resolve(dir);
  for (;;) {
    try {
      const info = await Deno.stat(existing);
      if (!info.isDirectory) {
        return existing === root
          ? `Option ${option}: ${existing} is a file, not a folder`
          : `Option ${option}: ${existing} is a file, so the output folder ${dir} cannot be made`;
      }
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) {
        return `Option ${option}: cannot read ${existing}: ${(e as Error).message}`;
      }
    }
    const parent = dirname(existing);
    if (parent === existing) return undefined;
    existing = parent;
  }
  const probe = join(existing, `.write-probe.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  try {
    await Deno.mkdir(probe);
    await Deno.remove(probe);
  } catch (e) {
    return `Option ${option}: cannot write in ${existing} (${(e as Error).message}): choose another folder or ` +
      "make it writable";
  }
  return undefined;
}

/** Options of {@linkcode main} beyond the command line (for tests). */
export interface CliOptions extends Pick<RunPipelineOptions, "progress" | "charts" | "onEvent" | "runtime"> {
  /** Stops the run like Ctrl-C does. */
  signal?: AbortSignal;
  /** Receives error messages. @default console.error */
  error?: (message: string) => void;
  /** Receives what --emit prints. @default writes to stdout */
  write?: (text: string) => void;
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
    const config = await readPipeline(parsed.file, { quick: parsed.quick });
    // The options a run takes, and passes on to the jobs it emits.
    const runOptions = {
      ...(parsed.backend !== undefined ? { backend: parsed.backend } : {}),
      ...(parsed.out !== undefined ? { out: parsed.out } : {}),
      ...(parsed.threads !== undefined ? { threads: parsed.threads } : {}),
    };
    if (parsed.emit !== undefined) {
      let text: string;
      try {
        text = await emitJob(config, expandSweep(config, parsed.file), {
          kind: parsed.emit,
          file: parsed.file,
          quick: parsed.quick,
          ...runOptions,
          ...(parsed.shards !== undefined ? { shards: parsed.shards } : {}),
        });
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        error(`Option --emit ${parsed.emit}: ${e.message}`);
        return 2;
      }
      if (options.write) options.write(text);
      else {
        const bytes = new TextEncoder().encode(text);
        for (let at = 0; at < bytes.length;) at += await Deno.stdout.write(bytes.subarray(at));
      }
      return 0;
    }
    const dir = outputDir(config, { ...(parsed.out !== undefined ? { out: parsed.out } : {}), quick: parsed.quick });
    const problem = await outputProblem(dir, parsed.out);
    if (problem !== undefined) {
      error(problem);
      return 2;
    }
    const run = await runPipeline(config, {
      file: parsed.file,
      resume: parsed.resume,
      overwrite: parsed.overwrite,
      ...runOptions,
      signal: controller.signal,
      quick: parsed.quick,
      ...(parsed.shard !== undefined ? { shard: parsed.shard } : {}),
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
