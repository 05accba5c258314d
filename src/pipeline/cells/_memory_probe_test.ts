import { exponentialProblem } from "../../data/analytic.ts";
import { Runtime } from "../../runtime/session.ts";
import { assert, assertEquals } from "../../util/testing.ts";
import { runPipeline } from "../engine.ts";
import { PipelineSchema } from "../schema.ts";
import { probePeakMemory } from "./_memory_probe.ts";

const problem = exponentialProblem({ T: { min: 29, max: 29, count: 1 } } as never);

Deno.test("probePeakMemory() measures one gradient's peak resident set in a fresh process", async () => {
  const peak = await probePeakMemory({
    problem: { z0: problem.z0, a: problem.a },
    method: "direct",
    methodOptions: {},
    solve: { solver: "dopri5", rtol: 1e-3, atol: 1e-3 },
    T: 29,
    tolerance: 1e-5,
    // The child has a process of its own, so the mode that is not this test process's default is open to it.
    flushDenormals: false,
  });
  assertEquals(peak.error, undefined);
  // ONNX Runtime's sessions alone take megabytes; a gradient of this problem stays well under a GiB.
  assert(peak.peakRssBytes! > 2 ** 20 && peak.peakRssBytes! < 2 ** 30, `peak ${peak.peakRssBytes} bytes`);
});

Deno.test("probePeakMemory() gives null and the reason when the child fails", async () => {
  const peak = await probePeakMemory({
    problem: { z0: problem.z0, a: problem.a },
    method: "nope" as "gq",
    methodOptions: {},
    solve: {},
    T: 1,
    tolerance: 1e-3,
    flushDenormals: true,
  });
  assertEquals(peak.peakRssBytes, null);
  assert(/memory probe failed.*Unknown gradient method "nope"/.test(peak.error!), peak.error);
});

Deno.test("the memory stage records the measured peak and the bookkeeping bytes of every point, per seed", async () => {
  const out = await Deno.makeTempDir();
  try {
    const config = PipelineSchema.parse({
      name: "mem",
      data: { kind: "analytic", T: { min: 5, max: 5, count: 1 } },
      solve: {},
      gradient: { method: "direct" },
      evaluate: { metrics: ["peak-memory"] },
      memory: { tolerances: [1e-3, 1e-6] },
      seeds: 2,
    });
    const { results } = await runPipeline(config, {
      out,
      runtime: new Runtime({ threads: 1 }),
      report: false,
      progress: { write: () => {} },
    });
    const memory = results.results.memory;
    assertEquals(memory.map((m) => [m.seed, m.tolerance]), [[0, 1e-3], [0, 1e-6], [1, 1e-3], [1, 1e-6]]);
    for (const m of memory) {
      assert(m.peakRssBytes! > 2 ** 20, `measured ${m.peakRssBytes}`);
      assert(m.heldBytes > 0 && m.heldBytes < 2 ** 16, `bookkeeping ${m.heldBytes}`);
    }
    const header = (await Deno.readTextFile(`${out}/mem/memory.csv`)).split("\n")[0]!.split(",");
    assert(header.includes("peakRssBytes") && header.includes("heldBytes"), header.join());
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
