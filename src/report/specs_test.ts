import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import type { RunRecord } from "../results/records.ts";
import { compileStrict, markData, markItems } from "./_chart_testing.ts";
import { SAMPLE_WIDTHS, sampleEpochs, sampleGradientErrors, sampleMemory, sampleRuns } from "./_sample_data.ts";
import { cosineSpecs } from "./sde_specs.ts";
import {
  type ChartSpec,
  gradientErrorSpec,
  lossCurveSpec,
  memorySpec,
  methodColourScale,
  methodStyles,
  nfeSpec,
  testMetricSpec,
  trainingTimeSpec,
} from "./specs.ts";
import { renderSvg } from "./static.ts";
import { speedSummary } from "./summary.ts";

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

Deno.test("every spec builder compiles with vega-lite without warnings", () => {
  const runs = sampleRuns();
  const specs: [string, ChartSpec][] = [
    ["trainingTime", trainingTimeSpec(runs)],
    ["trainingTime linear", trainingTimeSpec(runs, { logY: false })],
    ["testMetric", testMetricSpec(runs, { metricLabel: "accuracy" })],
    ["testMetric log", testMetricSpec(runs, { logY: true })],
    ["testMetric one width", testMetricSpec(runs.filter((r) => r.width === 20))],
    ["loss epoch", lossCurveSpec(sampleEpochs())],
    ["loss seconds", lossCurveSpec(sampleEpochs(), { x: "seconds", logY: false })],
    ["loss one width", lossCurveSpec(sampleEpochs().filter((r) => r.width === 20))],
    ["loss seconds one width", lossCurveSpec(sampleEpochs().filter((r) => r.width === 20), { x: "seconds" })],
    ["gradient error", gradientErrorSpec(sampleGradientErrors())],
    ["gradient error one quantity", gradientErrorSpec(sampleGradientErrors().filter((r) => r.quantity === "dL/da"))],
    ["memory", memorySpec(sampleMemory())],
    ["memory bookkeeping only", memorySpec(sampleMemory().map(({ peakRssBytes: _, ...r }) => r))],
    ["nfe", nfeSpec(runs)],
    ["nfe by width", nfeSpec(runs, { byWidth: true, logY: true })],
  ];
  for (const [name, spec] of specs) {
    const { vg, warnings } = compileStrict(spec);
    assertEquals(warnings, [], `${name} warnings`);
    assert(Array.isArray(vg.marks) && vg.marks.length > 0, `${name} compiled to no marks`);
  }
});

Deno.test("compileStrict() collects the warning of a channel the mark cannot take", () => {
  // Guards the test above: a warning must be caught, not swallowed.
  const spec = nfeSpec(sampleRuns()) as { encoding: object };
  const shape = { field: "method", type: "nominal" };
  const { warnings } = compileStrict({ ...spec, encoding: { ...spec.encoding, shape } } as ChartSpec);
  assert(warnings.some((w) => /shape/.test(w)), `no warning about the shape channel: ${JSON.stringify(warnings)}`);
});

Deno.test("every line chart draws each method with its own colour, marker shape and stroke dash", async () => {
  // Identical values for every method: the marks fall on each other, and only their styles tell them apart.
  const same = (r: RunRecord) => ({ ...r, trainSeconds: 1, testMetric: 0.5 });
  const runs = sampleRuns().map(same);
  const charts: [string, ChartSpec][] = [
    ["training time", trainingTimeSpec(runs)],
    ["test metric", testMetricSpec(runs)],
    ["loss vs epoch", lossCurveSpec(sampleEpochs())],
    ["loss vs seconds", lossCurveSpec(sampleEpochs(), { x: "seconds" })],
    ["gradient error", gradientErrorSpec(sampleGradientErrors())],
    ["memory", memorySpec(sampleMemory())],
    ["cosines", cosineSpecs(runs.map((r) => ({ ...r, cosines: r.width })))[1]!],
  ];
  for (const [name, spec] of charts) {
    const symbols = await markItems(spec, "symbol");
    const lines = await markItems(spec, "line");
    const styleOf = (items: typeof symbols, key: "shape" | "stroke" | "strokeDash") => {
      const by = new Map<string, string>();
      for (const i of items) by.set(String(i.datum.method), JSON.stringify(i[key]));
      return by;
    };
    for (const [items, key] of [[symbols, "shape"], [symbols, "stroke"], [lines, "strokeDash"]] as const) {
      const by = styleOf(items, key);
      assertEquals(by.size, 4, `${name}: ${key} of every method drawn`);
      assertEquals(new Set(by.values()).size, 4, `${name}: one ${key} per method: ${JSON.stringify([...by])}`);
    }
  }
});

Deno.test("methodStyles() keeps the known methods' styles and gives others distinct spare ones", () => {
  const known = methodStyles(["sde-adjoint", "gq", "direct", "adjoint", "seminorm", "gq-step", "sde-direct"]);
  assertEquals(known.map(([m]) => m), ["direct", "adjoint", "seminorm", "gq", "gq-step", "sde-direct", "sde-adjoint"]);
  // Okabe–Ito colours only.
  const palette = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"];
  assert(known.every(([, s]) => palette.includes(s.colour)), JSON.stringify(known));
  for (const key of ["colour", "shape", "dash"] as const) {
    assertEquals(new Set(known.map(([, s]) => JSON.stringify(s[key]))).size, known.length, key);
  }
  const mixed = methodStyles(["zeta", "gq", "direct", "alpha"]);
  assertEquals(mixed.map(([m]) => m), ["direct", "gq", "alpha", "zeta"]);
  assertEquals(new Set(mixed.map(([, s]) => s.colour)).size, 4, "spare colours avoid the known methods' colours");
  assertEquals(new Set(mixed.map(([, s]) => s.shape)).size, 4);
  assertEquals(mixed[1]![1], known[3]![1], "gq looks the same whatever else is present");
  assertEquals(methodColourScale(["gq", "adjoint"]), { domain: ["adjoint", "gq"], range: ["#E69F00", "#D55E00"] });
});

Deno.test("trainingTimeSpec() draws the mean over seeds and a band over their min–max range", async () => {
  const runs = sampleRuns();
  const spec = trainingTimeSpec(runs, { logY: false });
  const points = await markData(spec, "symbol");
  assertEquals(points.length, 4 * SAMPLE_WIDTHS.length); // one point per method and width
  const band = await markData(spec, "area");
  for (const d of points) {
    const xs = runs.filter((r) => r.method === d.method && r.width === d.width).map((r) => r.trainSeconds)
      .filter((v): v is number => typeof v === "number");
    assertClose(d.mean as number, mean(xs), 1e-12, `mean ${d.method}@${d.width}`);
    assertEquals([d.min, d.max, d.seeds], [Math.min(...xs), Math.max(...xs), xs.length], `${d.method}@${d.width}`);
    const b = band.find((e) => e.method === d.method && e.width === d.width)!;
    assertEquals([b.min, b.max], [d.min, d.max], "band edges");
  }
  // The failed adjoint run at width 500 is dropped, leaving one seed and a band of no height.
  const adj = points.find((d) => d.method === "adjoint" && d.width === 500)!;
  assertEquals([adj.seeds, adj.min === adj.max], [1, true]);
});

Deno.test("trainingTimeSpec() and testMetricSpec() draw a panel per batch size, lr or both a sweep varies, not seeds", async () => {
  // A width × batch-size sweep with one seed each: before, a width's two batch sizes were drawn as two seeds.
  const runs: RunRecord[] = [16, 64].flatMap((width) =>
    [8, 32].map((batchSize) => ({ method: "gq", width, batchSize, seed: 0, trainSeconds: width / batchSize }))
  );
  type Faceted = ChartSpec & { facet?: { field: string; sort: string[] } };
  const spec = trainingTimeSpec(runs) as Faceted;
  assertEquals([spec.facet?.field, spec.facet?.sort], ["panel", ["batch size 8", "batch size 32"]]);
  const points = await markData(spec, "symbol");
  assertEquals(points.length, 4, "one point per width and batch size");
  assert(points.every((d) => d.seeds === 1 && d.mean === (d.width as number) / (d.batchSize as number)), "not pooled");
  const byLr = runs.map((r) => ({ ...r, batchSize: 8, lr: r.batchSize === 8 ? 1e-3 : 1e-2, testMetric: 0.5 }));
  assertEquals((testMetricSpec(byLr) as Faceted).facet?.sort, ["learning rate 0.001", "learning rate 0.01"]);
  // Both vary: a panel per pair, batch size first.
  const both = [...runs, ...runs.map((r) => ({ ...r, lr: 0.1 }))].map((r) => ({ lr: 0.01, ...r }));
  assertEquals((trainingTimeSpec(both) as Faceted).facet?.sort, [
    "batch size 8 · learning rate 0.01",
    "batch size 8 · learning rate 0.1",
    "batch size 32 · learning rate 0.01",
    "batch size 32 · learning rate 0.1",
  ]);
  assertEquals((await markData(trainingTimeSpec(both), "symbol")).length, 8, "one point per width in each panel");
  const seeds = runs.filter((r) => r.batchSize === 8).flatMap((r) => [r, { ...r, seed: 1 }]);
  assertEquals((trainingTimeSpec(seeds) as Faceted).facet, undefined, "seeds alone: one panel");
});

Deno.test("log axes label both ends of the data, and losses and errors in scientific notation", async () => {
  const runs: RunRecord[] = [
    { method: "gq", width: 16, seed: 0, trainSeconds: 1.37 },
    { method: "gq", width: 128, seed: 0, trainSeconds: 23.4 },
    { method: "adjoint", width: 64, seed: 0, trainSeconds: 3 },
    { method: "gq", width: 0, seed: 0, trainSeconds: 5 }, // width 0 cannot sit on the log axis
  ];
  const spec = trainingTimeSpec(runs) as { encoding: { x: Axis }; layer: { encoding: { y: Axis } }[] };
  type Axis = { scale: { domain?: number[] }; axis: { values?: number[]; format?: string } };
  const y = spec.layer[1]!.encoding.y, x = spec.encoding.x;
  assertEquals(y.scale.domain, [1.37, 23.4]);
  assertEquals(y.axis.values?.[0], 1.37);
  assertEquals(y.axis.values?.at(-1), 23.4);
  assertEquals(x.axis.values, [16, 64, 128], "a tick at each swept width");
  const svg = await renderSvg(spec as ChartSpec);
  for (const label of ["1.37", "23.4", "16", "128"]) assert(svg.includes(`>${label}<`), `no tick label ${label}`);
  const loss = lossCurveSpec([
    { method: "gq", width: 5, epoch: 1, testLoss: 0.0123 },
    { method: "gq", width: 5, epoch: 2, testLoss: 4.2e-5 },
  ]);
  const lossSvg = await renderSvg(loss);
  for (const label of ["1.23e-2", "4.2e-5"]) assert(lossSvg.includes(`>${label}<`), `no tick label ${label}`);
});

Deno.test("test metric titles name the metric as a paper would", async () => {
  const runs = sampleRuns();
  const mse = testMetricSpec(runs, { metricLabel: "mse", logY: true });
  assertEquals(mse.title, "Test MSE vs width");
  assertEquals(testMetricSpec(runs, { metricLabel: "accuracy" }).title, "Test accuracy vs width");
  assertEquals(testMetricSpec(runs, { metricLabel: "test accuracy" }).title, "Test accuracy vs width");
  assertEquals(cosineSpecs(runs.map((r) => ({ ...r, cosines: 5 })))[1]!.title, "Test KL vs cosines");
  const svg = await renderSvg(mse);
  assert(svg.includes("test MSE") && !/\bMse\b/.test(svg), "y axis not titled test MSE");
  const gq5 = (await markData(testMetricSpec(runs), "symbol")).find((d) => d.method === "gq" && d.width === 5)!;
  const gq5Runs = runs.filter((r) => r.method === "gq" && r.width === 5).map((r) => r.testMetric!);
  assertClose(gq5.mean as number, mean(gq5Runs), 1e-12);
});

Deno.test("lossCurveSpec() averages seeds per epoch, drops NaN losses and shares the y scale across widths", async () => {
  const recs = sampleEpochs();
  const spec = lossCurveSpec(recs);
  const points = await markData(spec, "symbol");
  // 4 methods × 2 widths × 10 epochs, each one averaged point.
  assertEquals(points.length, 80);
  const p = points.find((d) => d.method === "seminorm" && d.width === 20 && d.epoch === 5)!;
  // Seed 0's loss there is NaN: the mean is seed 1's loss alone.
  const seed1 = recs.find((r) => r.method === "seminorm" && r.width === 20 && r.epoch === 5 && r.seed === 1)!;
  assertClose(p.mean as number, seed1.testLoss as number, 1e-12);
  const q = points.find((d) => d.method === "gq" && d.width === 100 && d.epoch === 3)!;
  assertClose(q.mean as number, Math.exp(-1) + 0.005, 1e-12);
  assertEquals((spec as { resolve?: unknown }).resolve, { scale: { y: "shared" } });
  const byTime = lossCurveSpec(recs, { x: "seconds" }) as { resolve?: unknown };
  assertEquals(byTime.resolve, { scale: { x: "independent", y: "shared" } });
});

Deno.test("lossCurveSpec() draws one line per method, seed and width against seconds", async () => {
  const points = await markData(lossCurveSpec(sampleEpochs(), { x: "seconds" }), "line");
  // 4 methods × 2 seeds × 2 widths × 10 epochs, less the two NaN losses.
  assertEquals(points.length, 158);
  assertEquals(new Set(points.map((d) => `${d.method}/${d.seed}/${d.width}`)).size, 16);
  assert(points.every((d) => typeof d.elapsedSeconds === "number" && typeof d.testLoss === "number"));
});

Deno.test("lossCurveSpec() draws a panel per width and batch size in a width × batch sweep, in sweep order", async () => {
  const recs = [10, 100].flatMap((width) =>
    [8, 32].flatMap((batchSize) =>
      [1, 2].map((epoch) => ({
        method: "gq",
        width,
        batchSize,
        seed: 0,
        epoch,
        elapsedSeconds: epoch,
        testLoss: width / batchSize / epoch,
      }))
    )
  );
  const order = ["width 10 · batch size 8", "width 10 · batch size 32", "width 100 · batch size 8"];
  for (const x of ["epoch", "seconds"] as const) {
    const spec = lossCurveSpec(recs, { x }) as ChartSpec & { facet: { field: string; sort: string[] } };
    assertEquals([spec.facet.field, spec.facet.sort.slice(0, 3)], ["panel", order], x);
  }
  const points = await markData(lossCurveSpec(recs), "symbol");
  assertEquals(points.length, 8, "every (width, batch size, epoch) its own point");
  assert(points.every((d) => d.seeds === 1), "batch sizes are not seeds");
});

Deno.test("lossCurveSpec() rejects an unknown x option naming it", () => {
  assertThrows(() => lossCurveSpec([], { x: "time" as "epoch" }), RangeError, /option "x".*"time"/);
});

Deno.test("gradientErrorSpec() drops exact zeros from the log axis and keeps every quantity", async () => {
  const points = await markData(gradientErrorSpec(sampleGradientErrors()), "symbol");
  // 4 methods × 3 quantities × 6 values of T, less direct at T = 19 (exactly 0) in each quantity.
  assertEquals(points.length, 4 * 3 * 6 - 3);
  assertEquals(points.filter((d) => d.method === "direct" && d.T === 19).length, 0);
  assertEquals(new Set(points.map((d) => d.quantity)).size, 3);
});

Deno.test("memorySpec() draws the measured peak in MiB, or the bookkeeping bytes when there is none", async () => {
  const spec = memorySpec(sampleMemory());
  assertEquals(spec.title, "Peak memory of one gradient vs tolerance");
  const points = await markData(spec, "symbol");
  assertEquals(points.length, 20);
  const d = points.find((p) => p.method === "direct" && p.tolerance === 1e-5)!;
  // 27 MiB of bookkeeping + 30 MiB, and ½ MiB more in the second repeat.
  assertEquals([d.min, d.max, d.mean, d.seeds], [57, 57.5, 57.25, 2]);
  const bookkeeping = memorySpec(sampleMemory().map(({ peakRssBytes: _, ...r }) => ({ ...r, heldBytes: 16 })));
  assertEquals(bookkeeping.title, "Bookkeeping memory vs tolerance");
  const svg = await renderSvg(bookkeeping);
  assert(svg.includes("bookkeeping held between passes (bytes)"), "16 B drawn in bytes, not MiB");
  assertEquals((await markData(bookkeeping, "symbol"))[0]!.mean, 16);
});

Deno.test("nfeSpec() draws forward and backward bars with the mean over runs, its axis naming the unit", async () => {
  const runs = sampleRuns();
  const spec = nfeSpec(runs);
  const bars = await markData(spec, "rect");
  assertEquals(bars.length, 8);
  for (const b of bars) {
    const field = b.pass === "forward" ? "nfeForwardPerBatch" : "nfeBackwardPerBatch";
    const xs = runs.filter((r) => r.method === b.method).map((r) => r[field] as number);
    assertClose(b.mean_nfe as number, mean(xs), 1e-12, `${b.method} ${b.pass}`);
  }
  assert((await renderSvg(spec)).includes("NFE: evaluations of f or a VJP per gradient"), "NFE axis unlabelled");
});

Deno.test("spec builders name the record and field at fault", () => {
  assertThrows(
    () => trainingTimeSpec([{ method: "gq", width: 5 }, { method: "gq", width: "5" as unknown as number }]),
    TypeError,
    /record 1 field "width" must be a finite number, got "5"/,
  );
  assertThrows(() => memorySpec([{ method: 3 as unknown as string, tolerance: 1 }]), TypeError, /field "method"/);
  assertThrows(() => nfeSpec([], { width: -1 }), RangeError, /option "width".*-1/);
});

Deno.test("a batch-size sweep (one width, several batch sizes) is drawn and summarised against batch size", () => {
  const runs: RunRecord[] = [16, 32, 256].flatMap((batchSize, i) =>
    ["gq", "adjoint"].map((method) => ({
      method,
      width: 100,
      batchSize,
      seed: 0,
      trainSeconds: method === "gq" ? 1 + i : 2 + i / 2,
      testMetric: 0.8,
    }))
  );
  const time = trainingTimeSpec(runs) as { title: string; encoding: { x: { field: string; title: string } } };
  assertEquals([time.title, time.encoding.x.field, time.encoding.x.title], [
    "Training time vs batch size",
    "batchSize",
    "batch size",
  ]);
  assertEquals((testMetricSpec(runs) as { title: string }).title, "Test metric vs batch size");
  const epochs = runs.map((r) => ({ ...r, epoch: 1, elapsedSeconds: 1, testLoss: 0.5 }));
  const curves = lossCurveSpec(epochs) as { facet: { field: string; sort: string[] } };
  assertEquals([curves.facet.field, curves.facet.sort], ["panel", [
    "batch size 16",
    "batch size 32",
    "batch size 256",
  ]]);
  for (const spec of [time, testMetricSpec(runs), curves]) assertEquals(compileStrict(spec as ChartSpec).warnings, []);
  const table = speedSummary(runs);
  assertEquals(table.rows.map((r) => r.batchSize), [16, 32, 256, "geometric mean"]);
  assertEquals(table.rows.slice(0, 3).map((r) => r["speed_adjoint"]), [2, 2.5 / 2, 3 / 3]);
  // Several widths: the width stays on x whatever the batch sizes.
  const mixed = runs.map((r, i) => ({ ...r, width: i < 2 ? 10 : 100 }));
  assertEquals((trainingTimeSpec(mixed) as { title: string }).title, "Training time vs width");
});
