import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { parsePipelineArgs, UsageError } from "./args.ts";

Deno.test("parsePipelineArgs() reads every option and applies defaults", () => {
  // No --backend: the file's runtime.backend decides (else cpu), so none is set here.
  assertEquals(parsePipelineArgs(["p.yaml"]), {
    file: "p.yaml",
    quick: false,
    resume: false,
    overwrite: false,
    help: false,
  });
  assertEquals(
    parsePipelineArgs(["--quick", "--backend", "cuda", "p.json", "--out", "out/x", "--resume", "--threads=2"]),
    {
      file: "p.json",
      quick: true,
      backend: "cuda",
      out: "out/x",
      resume: true,
      overwrite: false,
      threads: 2,
      help: false,
    },
  );
  assertEquals(parsePipelineArgs(["p.yaml", "--overwrite"]).overwrite, true);
  assertEquals(parsePipelineArgs(["-h"]).help, true);
});

Deno.test("parsePipelineArgs() throws a UsageError with exit code 2 that names the mistake", () => {
  const cases: [string[], string][] = [
    [["p.yaml", "--fast"], "--fast"],
    [["p.yaml", "--backend", "tpu"], 'Option --backend must be one of cpu, cuda, webgpu, got "tpu"'],
    [["p.yaml", "--threads", "0"], 'Option --threads must be a positive integer, got "0"'],
    [["p.yaml", "--threads", "1.5"], 'got "1.5"'],
    [["p.yaml", "--threads", "99999999999"], "Option --threads must be at most 1024"],
    [["p.yaml", "--out"], "--out"],
    [[], "Missing the pipeline file"],
    [["a.yaml", "b.yaml"], "Expected one pipeline file, got 2: a.yaml b.yaml"],
    [["p.yaml", "--quick=yes"], "--quick"],
    [["p.yaml", "--resume", "--overwrite"], "Options --resume and --overwrite cannot be combined"],
  ];
  for (const [argv, message] of cases) {
    const e = assertThrows(() => parsePipelineArgs(argv), UsageError, message) as UsageError;
    assertEquals(e.exitCode, 2);
  }
});

Deno.test("parsePipelineArgs() reads --shard i/N, --emit and --shards, and names a bad one", () => {
  assertEquals(parsePipelineArgs(["p.yaml", "--shard", "2/4"]).shard, { index: 2, count: 4 });
  const emit = parsePipelineArgs(["p.yaml", "--emit", "k8s", "--shards", "3"]);
  assertEquals([emit.emit, emit.shards], ["k8s", 3]);
  const bad: [string[], string][] = [
    [["p.yaml", "--shard", "0/4"], "Option --shard: shard 0 is out of 1 … 4 (shards are 1-based)"],
    [["p.yaml", "--shard", "3"], "Option --shard: expected i/N"],
    [["p.yaml", "--emit", "pbs"], 'Option --emit must be one of slurm, k8s, got "pbs"'],
    [["p.yaml", "--shards", "2"], "Option --shards sizes --emit's batch job"],
    [["p.yaml", "--emit", "slurm", "--shards", "0"], "Option --shards must be an integer"],
    [["p.yaml", "--emit", "slurm", "--shard", "1/2"], "Option --emit prints a batch job and runs nothing"],
  ];
  for (const [args, message] of bad) {
    const e = assertThrows(() => parsePipelineArgs(args), UsageError) as UsageError;
    assertEquals(e.exitCode, 2);
    assert(e.message.startsWith(message), `${args.join(" ")}: ${e.message}`);
  }
});
