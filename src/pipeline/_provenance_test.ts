import { createHash } from "node:crypto";
import { Runtime } from "../runtime/session.ts";
import type { PipelineResults } from "../results/records.ts";
import { assert, assertEquals } from "../util/testing.ts";
import { collectProvenance } from "./_provenance.ts";
import { runPipelineFile } from "./engine.ts";
import { PipelineSchema } from "./schema.ts";
import { expandSweep } from "./sweep.ts";

const runtime = new Runtime({ threads: 1 });

Deno.test("collectProvenance() gives one value per setting, or each cell's distinct values", async () => {
  const config = PipelineSchema.parse({
    name: "p",
    data: { kind: "crossing-trajectories" },
    model: { dynamics: { kind: "mlp", width: 4 } },
    solve: {},
    gradient: { method: "gq" },
    train: { epochs: 1 },
    sweep: { "solve.rtol": [1e-3, 1e-6], "train.batchSize": [1, 2] },
  });
  const cells = expandSweep(config).map((c) => c.config);
  const p = await collectProvenance({
    config,
    cells,
    quick: false,
    threads: 3,
    backend: "cpu",
    backendRequested: "webgpu",
    flushDenormals: false,
  });
  assertEquals(p.flushDenormals, false);
  assertEquals([p.solver, p.rtol, p.atol, p.batchSize, p.epochs], ["dopri5", [1e-3, 1e-6], 1e-3, [1, 2], 1]);
  assertEquals([p.backwardSolve, p.threads, p.backend, p.backendRequested], ["as forward", 3, "cpu", "webgpu"]);
  assertEquals([p.pipelineFile, p.pipelineSha256, p.seeds], [null, null, null], "no file, no seeds");
  assertEquals([p.denoVersion, p.onnxruntimeVersion, p.quadjointVersion], [Deno.version.deno, "1.30.0", "0.1.0"]);
  assert(p.gitCommit === null || /^[0-9a-f]{40}$/.test(p.gitCommit), `commit ${p.gitCommit}`);
  assert(p.gitCommit !== null || p.gitDirty === null, "no commit, so nothing to be dirty against");
  assert(typeof p.cpuModel === "string" && (p.cpuCores ?? 0) >= 1, `cpu ${p.cpuModel} × ${p.cpuCores}`);
});

Deno.test("a pipeline's results.json and report record its provenance, and the run ends with the report path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/prov.yaml`;
    const text = [
      "name: prov",
      "data: { kind: analytic, T: { min: 1, max: 2, count: 2 } }",
      "solve: { rtol: 1.0e-6, atol: 1.0e-6, backward: { rtol: 1.0e-8 } }",
      "gradient: { method: gq }",
      "evaluate: { metrics: [gradient-error] }",
      "seeds: [3, 7]",
    ].join("\n");
    await Deno.writeTextFile(file, text);
    const lines: string[] = [];
    const run = await runPipelineFile(file, {
      out: dir,
      runtime,
      threads: 2,
      charts: false,
      progress: { tty: false, write: (s) => lines.push(s) },
    });
    assertEquals(run.exitCode, 0);
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/prov/results.json`)) as PipelineResults;
    const p = saved.provenance!;
    assertEquals(p.pipelineSha256, createHash("sha256").update(text).digest("hex"));
    assertEquals([p.pipelineFile, p.seeds, p.threads, p.solver, p.rtol], [file, [3, 7], 2, "dopri5", 1e-6]);
    assertEquals(p.backwardSolve, "dopri5, rtol 1e-8, atol 0.000001");
    assertEquals(p.flushDenormals, runtime.flushDenormals, "the runtime's subnormal mode");
    for (const key of ["quadjointVersion", "denoVersion", "v8Version", "onnxruntimeVersion", "cpuModel", "backend"]) {
      assert(typeof (p as unknown as Record<string, unknown>)[key] === "string", `${key}: ${JSON.stringify(p)}`);
    }
    assert("gitCommit" in p && "gitDirty" in p && "batchSize" in p, "every field is written, null when unknown");
    const html = await Deno.readTextFile(`${dir}/prov/report.html`);
    assert(html.includes("Provenance") && html.includes(p.pipelineSha256!), "the report shows the provenance");
    assert(html.includes("subnormals flushed to zero"), "the report shows the subnormal mode");
    const out = lines.join("").trim().split("\n");
    assertEquals(out.at(-1), `Report: ${dir}/prov/report.html`);
    assert(/^prov: 2 of 2 cells done in .*; worst relative error: gq /.test(out.at(-2)!), out.at(-2));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
