import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { sampleEpochs, sampleGradientErrors, sampleMemory, sampleRuns } from "./_sample_data.ts";
import { main } from "./cli.ts";
import type { ChartKind, Provenance } from "../results/records.ts";
import type { ReportTable } from "./summary.ts";
import { experimentReport } from "./experiment.ts";

Deno.test("experimentReport() draws every chart that has records when none are named", () => {
  const c = experimentReport({ runs: sampleRuns(), epochs: sampleEpochs() }, { title: "t", metricLabel: "accuracy" });
  assertEquals(c.sections.map((s) => s.title), ["Speed and accuracy", "Training curves", "Gradients"]);
  assertEquals(c.sections.map((s) => s.charts?.map((x) => x.title)), [
    ["Training time vs width", "Test accuracy vs width"],
    ["Test loss vs epoch", "Test loss vs wall-clock time"],
    ["Function evaluations per gradient"],
  ]);
  assertEquals(c.sections[0]!.table && !Array.isArray(c.sections[0]!.table) && c.sections[0]!.table.rows.length, 5);
});

Deno.test("experimentReport() says which named charts have no records", () => {
  const c = experimentReport({ gradientErrors: sampleGradientErrors(), memory: sampleMemory() }, {
    title: "analytic",
    charts: ["gradient-error", "nfe", "memory"],
    summary: true,
  });
  assertEquals(c.sections.map((s) => s.title), ["Gradients", "Memory"]);
  assertEquals(c.sections[0]!.text, "No records for: nfe.");
  assertEquals(c.sections[0]!.charts?.length, 1);
  assertThrows(() => experimentReport({}, { title: "t", charts: ["pie" as ChartKind] }), RangeError, /"pie"/);
});

Deno.test("main() writes the report and the chart files of a results file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const input = `${dir}/results.json`;
    await Deno.writeTextFile(
      input,
      JSON.stringify({
        format: "quadjoint.results/3",
        title: "Sines",
        meta: { seeds: 2 },
        results: { runs: sampleRuns(), memory: sampleMemory() },
      }),
    );
    assertEquals(await main([input, "--charts", `${dir}/charts`]), 0);
    const html = await Deno.readTextFile(`${dir}/results.html`);
    assert(html.includes("<h1>Sines</h1>") && html.includes('data-chart="3"'), "report incomplete");
    const files = [...Deno.readDirSync(`${dir}/charts`)].map((e) => e.name).sort();
    assertEquals(files.length, 8);
    assert(
      files.includes("01-training-time-vs-width.png") &&
        files.includes("04-peak-memory-of-one-gradient-vs-tolerance.svg"),
      files.join(),
    );
    await Deno.writeTextFile(input, JSON.stringify({ title: "no results" }));
    assertEquals(await main([input]), 2);
    assertEquals(await main([]), 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experimentReport() ends with the provenance the results carry", () => {
  const provenance = { gitCommit: "abc123", pipelineSha256: "f".repeat(64), threads: 2 } as unknown as Provenance;
  const c = experimentReport({ runs: sampleRuns() }, { title: "t", provenance });
  const last = c.sections.at(-1)!;
  assertEquals(last.title, "Provenance");
  const rows = (last.table as ReportTable).rows;
  assertEquals(rows.find((r) => r.what === "git commit")?.value, "abc123");
  assertEquals(rows.find((r) => r.what === "pipeline file SHA-256")?.value, "f".repeat(64));
  assertEquals(experimentReport({ runs: sampleRuns() }, { title: "t" }).sections.at(-1)!.title, "Gradients");
});

Deno.test("experimentReport() counts seeds, not batch sizes: one seed at three batch sizes is one seed", () => {
  const runs = [16, 32, 256].flatMap((batchSize) =>
    ["gq", "adjoint"].map((method) => ({ method, width: 100, batchSize, seed: 0, trainSeconds: 1, testMetric: 0.5 }))
  );
  const c = experimentReport({ runs }, { title: "t", metricLabel: "accuracy" });
  const text = JSON.stringify(c.sections[0]);
  assert(text.includes("(1 seed)"), text.slice(0, 400));
  assert(!text.includes("up to 3 seeds"), "batch sizes counted as seeds");
});

Deno.test("experimentReport() with cells names runs by their other swept values, so a gq.nodes sweep is two lines", () => {
  const cells = ["interval", "adaptive"].flatMap((nodes) =>
    [0, 1].map((seed) => ({
      id: `${nodes}-${seed}`,
      values: { "gradient.method": "gq", "gradient.gq.nodes": nodes, "model.dynamics.width": 20, seed },
    }))
  );
  const runs = cells.map((c) => ({
    cellId: c.id,
    method: "gq",
    width: 20,
    seed: c.values.seed,
    trainSeconds: c.values["gradient.gq.nodes"] === "interval" ? 1 : 3,
    testMetric: 0.5,
  }));
  const content = experimentReport({ runs }, { title: "t", cells });
  const spec = content.sections[0]!.charts![0]! as { data: { values: { method: string }[] } };
  assertEquals(
    [...new Set(spec.data.values.map((r) => r.method))],
    ["gq (gradient.gq.nodes interval)", "gq (gradient.gq.nodes adaptive)"],
  );
  assert(JSON.stringify(content.sections[0]).includes("(up to 2 seeds)"), "each variant's two seeds");
  const plain = experimentReport({ runs }, { title: "t" });
  const values = (plain.sections[0]!.charts![0]! as { data: { values: { method: string }[] } }).data.values;
  assertEquals(new Set(values.map((r) => r.method)).size, 1, "without cells: one method, as before");
});
