/**
 * Every shipped pipeline runs in --quick through the CLI; the results, CSV,
 * report and charts are checked, and each report is opened in headless
 * Chromium.
 */
import { main } from "../src/pipeline/cli.ts";
import type { PipelineResults } from "../src/results/records.ts";
import { readPipeline } from "../src/pipeline/parse.ts";
import { expandSweep } from "../src/pipeline/sweep.ts";
import { main as reportMain } from "../src/report/cli.ts";
import { assert, assertEquals } from "../src/util/testing.ts";
import { checkPage } from "./browser.ts";
import { FASHION_MNIST } from "../src/pipeline/data_kinds/idx.ts";

const pipelines = new URL("../pipelines/", import.meta.url).pathname;
const SHIPPED = [
  "quickstart",
  "analytic-gradients",
  "memory",
  "crossing-trajectories",
  "nested-spheres",
  "sines",
  "ornstein-uhlenbeck",
  "ornstein-uhlenbeck-cosines",
  "images",
  "images-batch-size",
];

/** Pipelines that read Fashion-MNIST from Debian's dataset-fashion-mnist, which .ci/run installs. */
const NEEDS_FASHION_MNIST = new Set(["images", "images-batch-size"]);
const fashionMnist = (() => {
  try {
    return Deno.statSync(FASHION_MNIST.test.labels).isFile;
  } catch {
    return false;
  }
})();
/** Whether a shipped pipeline can run here (else its tests say what to install). */
const runnable = (name: string) => fashionMnist || !NEEDS_FASHION_MNIST.has(name);

Deno.test("shipped pipelines validate in full and in --quick, with the paper's sweeps in full", async () => {
  const files = [...Deno.readDirSync(pipelines)].map((e) => e.name).filter((n) => n.endsWith(".yaml")).sort();
  assertEquals(files, SHIPPED.map((n) => `${n}.yaml`).sort());
  const cells: Record<string, number> = {};
  for (const name of SHIPPED.filter(runnable)) {
    const full = await readPipeline(`${pipelines}${name}.yaml`);
    assertEquals(full.name, name, `${name}: name matches the file`);
    cells[name] = expandSweep(full).length;
    await readPipeline(`${pipelines}${name}.yaml`, { quick: true });
  }
  assertEquals(cells["nested-spheres"], 8 * 4);
  assertEquals(cells["crossing-trajectories"], 7 * 4);
  assertEquals(cells["sines"], 6 * 4);
  assertEquals(cells["analytic-gradients"], 4);
  assertEquals(cells["ornstein-uhlenbeck"], 4 * 3);
  assertEquals(cells["ornstein-uhlenbeck-cosines"], 6);
  if (fashionMnist) {
    assertEquals(cells["images"], 6 * 3);
    assertEquals(cells["images-batch-size"], 3 * 3);
  }
});

for (const name of SHIPPED) {
  const skipped = runnable(name) ? "" : " [skipped: apt-get install dataset-fashion-mnist]";
  Deno.test({
    name: `pipeline ${name} --quick writes results, CSV, report and charts that draw in Chromium${skipped}`,
    ignore: !runnable(name),
  }, async () => {
    const out = await Deno.makeTempDir();
    try {
      const errors: string[] = [];
      const code = await main([`${pipelines}${name}.yaml`, "--quick", "--out", out, "--threads", "1"], {
        error: (m) => errors.push(m),
        progress: { tty: false, write: () => {} },
      });
      assertEquals(code, 0, `exit code; errors: ${errors.join("\n")}`);
      const dir = `${out}/${name}-quick`; // --quick runs keep apart from full ones
      const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`)) as PipelineResults;
      assertEquals(results.status, "complete");
      assert(results.cells.every((c) => c.status === "done"), JSON.stringify(results.cells));
      const csv = (await Deno.readTextFile(`${dir}/results.csv`)).trim().split("\n");
      assert(csv.length >= 2, "results.csv has rows");
      const r = results.results;
      if (r.runs.length > 0) {
        assertEquals(r.runs.length, results.cells.length, "one run per cell");
        for (const run of r.runs) {
          assert(
            run.params > 0 && run.epochs > 0 && (run.nfeForwardPerBatch ?? 0) > 0 && (run.nfeBackwardPerBatch ?? 0) > 0,
          );
          assert(Number.isFinite(run.testMetric) && Number.isFinite(run.trainSeconds), JSON.stringify(run));
        }
        assertEquals(r.epochs.length, r.runs.reduce((s, run) => s + run.epochs, 0), "one epoch record per epoch");
        // A few hundred images for a few epochs: the loss falls less far, the accuracy is checked instead.
        const falls = name.startsWith("images") ? 0.75 : 0.5;
        for (const run of r.runs) {
          const curve = r.epochs.filter((e) => e.cellId === run.cellId).map((e) => e.trainLoss);
          assert(curve.at(-1)! < falls * curve[0]!, `${run.cellId}: training loss ${curve[0]} → ${curve.at(-1)}`);
        }
      }
      if (name === "nested-spheres" || name === "quickstart") {
        for (const run of r.runs) assert(run.testMetric! > 0.9, `${run.cellId}: test accuracy ${run.testMetric}`);
      }
      if (name.startsWith("images")) {
        // Ten classes: chance is 0.1.
        for (const run of r.runs) assert(run.testMetric! > 0.4, `${run.cellId}: test accuracy ${run.testMetric}`);
      }
      if (name === "images-batch-size") {
        assertEquals(new Set(r.runs.map((run) => run.batchSize)), new Set([16, 64]), "each run knows its batch size");
      }
      if (name === "ornstein-uhlenbeck") {
        // The test KL of reversible-Heun samples falls for Wong–Zakai gq and the SDE adjoint alike.
        for (const run of r.runs) {
          const kl = r.epochs.filter((e) => e.cellId === run.cellId).map((e) => e.testLoss!);
          assert(kl.at(-1)! < 0.5 * kl[0]!, `${run.cellId}: test KL ${kl[0]} → ${kl.at(-1)}`);
        }
        // Figure 15 for every cell: 3 times × 3 initial values × 2 sources of density curves, 3 paths each.
        for (const run of r.runs) {
          const curves = new Set(
            r.sdeDensities.filter((d) => d.cellId === run.cellId).map((d) => `${d.t} ${d.x0} ${d.source}`),
          );
          assertEquals(curves.size, 3 * 3 * 2, run.cellId);
          const paths = new Set(
            r.sdePaths.filter((p) => p.cellId === run.cellId).map((p) => `${p.x0} ${p.path} ${p.source}`),
          );
          assertEquals(paths.size, 3 * 3 * 2, run.cellId);
        }
      }
      if (name === "ornstein-uhlenbeck-cosines") {
        assertEquals(r.runs.map((run) => run.cosines).sort(), [0, 5], "each run knows its cosines");
      }
      if (name === "analytic-gradients") {
        // 3 end times × 4 quantities per method; at rtol = atol = 1e-3 every error stays below a few 1e-3.
        assertEquals(r.gradientErrors.length, 4 * 3 * 4);
        const worst = Math.max(...r.gradientErrors.map((e) => e.relativeError ?? Infinity));
        assert(worst < 0.05, `worst relative error ${worst}`);
      }
      if (name === "memory") {
        const bytes = (m: string) => r.memory.filter((e) => e.method === m).map((e) => e.heldBytes!);
        assertEquals(bytes("direct").length, 3);
        assert(bytes("direct").every((b, i, all) => i === 0 || b > all[i - 1]!), `direct: ${bytes("direct")}`);
        for (const m of ["adjoint", "seminorm", "gq"]) assertEquals(new Set(bytes(m)).size, 1, `${m}: ${bytes(m)}`);
      }
      const charts = [...Deno.readDirSync(`${dir}/charts`)].map((e) => e.name);
      assert(charts.some((c) => c.endsWith(".svg")) && charts.some((c) => c.endsWith(".png")), charts.join());
      const page = await checkPage(`${dir}/report.html`);
      assertEquals(page.errors, [], "console errors");
      assert(page.chartsExpected > 0, "the report has charts");
      assertEquals(page.chartsDrawn, page.chartsExpected, `undrawn charts ${page.undrawn}`);
      assertEquals(charts.filter((c) => c.endsWith(".svg")).length, page.chartsExpected, "one SVG per chart");
      if (name === "quickstart") {
        // `deno task report <results dir>` re-renders the report and charts from results.json alone.
        await Deno.remove(`${dir}/report.html`);
        await Deno.remove(`${dir}/charts`, { recursive: true });
        assertEquals(await reportMain([dir]), 0);
        const again = await checkPage(`${dir}/report.html`);
        assertEquals(again.chartsDrawn, page.chartsExpected);
        assertEquals([...Deno.readDirSync(`${dir}/charts`)].length, charts.length);
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  });
}
