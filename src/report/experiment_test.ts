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

Deno.test("experimentReport() with cells draws a panel per other swept value: a gq.nodes sweep, every method in each", () => {
  const cells = ["interval", "adaptive"].flatMap((nodes) =>
    ["gq", "adjoint"].flatMap((method) =>
      [0, 1].map((seed) => ({
        id: `${nodes}-${method}-${seed}`,
        values: { "gradient.method": method, "gradient.gq.nodes": nodes, "model.dynamics.width": 20, seed },
      }))
    )
  );
  const runs = cells.map((c) => ({
    cellId: c.id,
    method: c.values["gradient.method"],
    width: 20,
    seed: c.values.seed,
    trainSeconds: c.values["gradient.method"] === "adjoint" ? 6 : c.values["gradient.gq.nodes"] === "interval" ? 1 : 3,
    testMetric: 0.5,
  }));
  const content = experimentReport({ runs }, { title: "t", cells });
  type Spec = { facet?: { sort: string[] }; data: { values: { method: string; panel?: string }[] } };
  const spec = content.sections[0]!.charts![0]! as Spec;
  assertEquals(spec.facet?.sort, ["gradient.gq.nodes interval", "gradient.gq.nodes adaptive"], "in sweep order");
  assertEquals([...new Set(spec.data.values.map((r) => r.method))], ["gq", "adjoint"], "methods keep their names");
  const table = content.sections[0]!.table as ReportTable;
  assertEquals(table.caption, "Speed of gq against the baselines");
  assertEquals(table.rows.slice(0, 2).map((r) => [r.panel, r.speed_adjoint]), [
    ["gradient.gq.nodes interval", 6],
    ["gradient.gq.nodes adaptive", 2],
  ]);
  assert(JSON.stringify(content.sections[0]).includes("(up to 2 seeds)"), "each variant's two seeds");
  const plain = experimentReport({ runs }, { title: "t" });
  assertEquals((plain.sections[0]!.charts![0]! as Spec).facet, undefined, "without cells: one panel, as before");
});

Deno.test("experimentReport() gives epochs their run's learning rate, so an lr sweep's loss curves are panels", () => {
  const runs = [1e-3, 1e-2].map((lr) => ({ cellId: `lr${lr}`, method: "gq", width: 20, seed: 0, lr, trainSeconds: 1 }));
  const epochs = runs.flatMap((r) =>
    [1, 2].map((epoch) => ({ cellId: r.cellId, method: "gq", width: 20, seed: 0, epoch, testLoss: r.lr * epoch }))
  );
  const content = experimentReport({ runs, epochs }, { title: "t", charts: ["loss-curve"] });
  for (const chart of content.sections[0]!.charts!) {
    assertEquals((chart as { facet?: { sort: string[] } }).facet?.sort, [
      "width 20 · learning rate 0.001",
      "width 20 · learning rate 0.01",
    ]);
  }
});
