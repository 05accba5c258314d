import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { checkPipeline } from "./engine.ts";
import { PipelineError } from "./errors.ts";
import { formatBytes, machineMemory, memoryEstimate, memoryIssues, PARAMETER_COPIES } from "./memory_check.ts";
import { readPipeline } from "./parse.ts";
import { type PipelineConfig, type PipelineInput, PipelineSchema } from "./schema.ts";
import { expandSweep } from "./sweep.ts";

const GiB = 2 ** 30;

function config(patch: Partial<PipelineInput> = {}): PipelineConfig {
  return PipelineSchema.parse({
    name: "m",
    data: { kind: "nested-spheres", trainPerClass: 100, testPerClass: 10 },
    model: { dynamics: { kind: "mlp", width: 20 } },
    solve: {},
    gradient: { method: "gq" },
    train: { epochs: 1 },
    ...patch,
  });
}

Deno.test("memoryEstimate() counts an MLP's weights and biases, Adam's copies, the data and the batch's states", () => {
  const e = memoryEstimate(config())!;
  // 2 → 20 → 20 → 2: weights 2·20 + 20·20 + 20·2 (the cost model's multiply-adds); dopri5: 7 stages + 3.
  assertEquals(e.parameters, 480);
  assertEquals(e.parameterBytes, 480 * 4 * PARAMETER_COPIES);
  assertEquals(e.dataBytes, 200 * (2 + 2) * 8, "200 points, 2 inputs and 2 one-hot targets, as float64");
  assertEquals(e.stateBytes, 200 * (2 * 10 + 20) * 4, "the whole training set is one batch");
  assertEquals(e.total, e.parameterBytes + e.dataBytes + e.stateBytes);
  const f64 = memoryEstimate(config({ model: { dynamics: { kind: "mlp", width: 20 }, dtype: "float64" } }))!;
  assertEquals(f64.parameterBytes, 2 * e.parameterBytes);
  const batched = memoryEstimate(config({ train: { epochs: 1, batchSize: 10 } }))!;
  assertEquals(batched.stateBytes, e.stateBytes / 20);
  assertEquals(
    memoryEstimate(PipelineSchema.parse({
      name: "a",
      data: { kind: "analytic" },
      solve: {},
      gradient: { method: "gq" },
    })),
    undefined,
    "the analytic problem trains no model",
  );
});

Deno.test("memoryIssues() names the field that makes a cell too large, with the estimate and the limit", () => {
  const cases: [Partial<PipelineInput>, string][] = [
    [{ model: { dynamics: { kind: "mlp", width: 100_000 } } }, "model.dynamics.width"],
    [{ model: { dynamics: { kind: "mlp", hidden: [8, 1e8] } } }, "model.dynamics.hidden[1]"],
    [{ data: { kind: "nested-spheres", trainPerClass: 1e9 } }, "data.trainPerClass"],
    [{ data: { kind: "nested-spheres", dim: 1e6 } }, "data.dim"],
    [{ model: { encoder: { kind: "augment", dims: 1e8 }, dynamics: { kind: "mlp", width: 4 } } }, "model.encoder.dims"],
    [{ model: { dynamics: { kind: "mlp", width: 4 }, head: { kind: "mlp", hidden: [1e9] } } }, "model.head.hidden[0]"],
  ];
  for (const [patch, path] of cases) {
    const issues = memoryIssues(config(patch), 16 * GiB);
    assertEquals(issues.map((i) => i.path), [path], JSON.stringify(patch));
    assert(
      /^Needs at least [\d.]+ [KMGTPE]iB of memory, more than the 16.0 GiB this machine has: /.test(issues[0]!.message),
    );
    assert(issues[0]!.message.includes("lower this value (got "), issues[0]!.message);
  }
  assertEquals(memoryIssues(config(), 16 * GiB), [], "a small cell fits");
  assertEquals(memoryIssues(config({ model: { dynamics: { kind: "mlp", width: 100_000 } } }), undefined), []);
});

Deno.test("memoryIssues() suggests train.batchSize when the whole training set as one batch is what does not fit", () => {
  const big = config({ data: { kind: "nested-spheres", trainPerClass: 1e7, testPerClass: 10 } });
  const e = memoryEstimate(big)!;
  const [issue] = memoryIssues(big, e.total - e.stateBytes + 1);
  assertEquals(issue?.path, "data.trainPerClass");
  assert(issue!.message.endsWith("or set train.batchSize (the whole training set is one batch now)"), issue!.message);
});

Deno.test("checkPipeline() refuses a sweep cell that cannot fit before anything runs, naming the field and the cell", () => {
  const limit = machineMemory();
  assert(limit !== undefined && limit > GiB, "the tests run with --allow-sys");
  const swept = config({ sweep: { "model.dynamics.width": [4, 1e9] } });
  const e = assertThrows(() => checkPipeline(swept, "p.yaml"), PipelineError) as PipelineError;
  assertEquals(e.issues.length, 1, e.message);
  assert(e.message.startsWith("p.yaml: model.dynamics.width: Needs at least 13.9 EiB of memory"), e.message);
  assert(e.message.endsWith(")") && e.message.includes("(cell width-1000000000_"), e.message);
});

Deno.test("every committed pipeline, full and quick, fits in 2 GiB by the estimate", async () => {
  const dir = new URL("../../pipelines/", import.meta.url);
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.name.endsWith(".yaml")) continue;
    for (const quick of [false, true]) {
      for (const cell of expandSweep(await readPipeline(new URL(entry.name, dir).pathname, { quick }))) {
        assertEquals(memoryIssues(cell.config, 2 * GiB), [], `${entry.name} ${quick ? "--quick " : ""}${cell.id}`);
      }
    }
  }
});

Deno.test("formatBytes() uses binary units up to EiB", () => {
  assertEquals(formatBytes(512), "512 B");
  assertEquals(formatBytes(1536), "1.50 KiB");
  assertEquals(formatBytes(150 * GiB), "150 GiB");
  assertEquals(formatBytes(1.6e19), "13.9 EiB");
  assertEquals(formatBytes(1e25), "1.0e25 B");
});
