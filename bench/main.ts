/**
 * Benchmark entry point for `deno task bench [--quick] [names...]`.
 *
 * Each benchmark is a module exporting `run(options)` that prints a table and
 * writes `reports/bench/<name>.json` (see `_report.ts`). Register a new one by
 * adding a line to {@linkcode BENCHMARKS}; modules load only when selected.
 * With no names, every benchmark but `peers` runs in table order.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** Options every benchmark's `run` accepts. */
export interface BenchOptions {
  /** A trimmed run (fewer sizes and repeats) for smoke checks. @default false */
  quick?: boolean;
  /** Folder holding the paper authors' `torch_gq_adjoint/` package, for the peer benchmark's GQ rows. */
  gqPath?: string;
}

/** What a benchmark module exports. */
export interface BenchModule {
  run(options?: BenchOptions): Promise<void>;
}

/** The benchmarks, by the name given on the command line. */
export const BENCHMARKS: Readonly<Record<string, () => Promise<BenchModule>>> = {
  onnx: () => import("./onnx_bench.ts"),
  gradients: () => import("./gradients_bench.ts"),
  vjp: () => import("./vjp_bench.ts"),
  peers: () => import("./peers_bench.ts"),
  sde: () => import("./sde_bench.ts"),
  conv: () => import("./conv_bench.ts"),
  gpu: () => import("./gpu_bench.ts"),
};

/**
 * Benchmarks that run only when named: `peers` installs torch (~3 GB) into bench/.venv when it is missing; `sde`
 * trains for minutes; a full `conv` takes about ten minutes on two cores.
 */
export const ON_REQUEST: readonly string[] = ["peers", "sde", "conv", "gpu"];

/** Resolves command-line names to benchmarks (none: all but {@linkcode ON_REQUEST}); RangeError naming an unknown one. */
export function selectBenchmarks(names: readonly string[]): string[] {
  if (names.length === 0) return Object.keys(BENCHMARKS).filter((n) => !ON_REQUEST.includes(n));
  for (const n of names) {
    if (!(n in BENCHMARKS)) {
      throw new RangeError(`Unknown benchmark "${n}"; known benchmarks are ${Object.keys(BENCHMARKS).join(", ")}`);
    }
  }
  return [...new Set(names)];
}

const USAGE = `Usage: deno task bench [--quick] [--gq-path DIR] [${Object.keys(BENCHMARKS).join("|")} ...]`;

async function main(args: readonly string[]): Promise<number> {
  let quick: boolean, gqPath: string | undefined, names: string[];
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: {
        quick: { type: "boolean", default: false },
        "gq-path": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      allowPositionals: true,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    quick = values.quick;
    gqPath = values["gq-path"];
    names = selectBenchmarks(positionals);
  } catch (e) {
    // An unknown option or benchmark: one line and the usage, not a stack trace.
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  for (const name of names) {
    console.log(`== ${name} ==`);
    const t0 = performance.now();
    const mod = await BENCHMARKS[name]!();
    await mod.run({ quick, ...(gqPath !== undefined ? { gqPath } : {}) });
    console.log(`== ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s ==\n`);
  }
  // A benchmark that could not run (e.g. the peers without Python) says so in one line and sets Deno.exitCode.
  return Deno.exitCode;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
