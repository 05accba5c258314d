import { assertEquals, assertThrows } from "../util/testing.ts";
import { parsePipelineArgs, UsageError } from "./args.ts";

Deno.test("parsePipelineArgs() reads every option and applies defaults", () => {
  assertEquals(parsePipelineArgs(["p.yaml"]), {
    file: "p.yaml",
    quick: false,
    backend: "cpu",
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
