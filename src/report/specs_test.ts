import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import type { RunRecord } from "../results/records.ts";
import { compileStrict, markData } from "./_chart_testing.ts";
import { SAMPLE_WIDTHS, sampleEpochs, sampleGradientErrors, sampleMemory, sampleRuns } from "./_sample_data.ts";
import {
  type ChartSpec,
  gradientErrorSpec,
  lossCurveSpec,
  memorySpec,
  methodColourScale,
  nfeSpec,
  testMetricSpec,
  trainingTimeSpec,
} from "./specs.ts";

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sampleStd = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));

Deno.test("every spec builder compiles with vega-lite without warnings", () => {
  const runs = sampleRuns();
  const specs: [string, ChartSpec][] = [
    ["trainingTime", trainingTimeSpec(runs)],
    ["trainingTime linear", trainingTimeSpec(runs, { logY: false })],
    ["testMetric", testMetricSpec(runs, { metricLabel: "accuracy" })],
    ["testMetric log", testMetricSpec(runs, { logY: true })],
    ["loss epoch", lossCurveSpec(sampleEpochs())],
    ["loss seconds", lossCurveSpec(sampleEpochs(), { x: "seconds", logY: false })],
    ["loss one width", lossCurveSpec(sampleEpochs().filter((r) => r.width === 20))],
    ["gradient error", gradientErrorSpec(sampleGradientErrors())],
    ["gradient error one quantity", gradientErrorSpec(sampleGradientErrors().filter((r) => r.quantity === "dL/da"))],
    ["memory", memorySpec(sampleMemory())],
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

Deno.test("trainingTimeSpec() draws mean ± sample std over seeds per method and width", async () => {
  const runs = sampleRuns();
  const lines = await markData(trainingTimeSpec(runs, { logY: false }), "line");
  assertEquals(lines.length, 4 * SAMPLE_WIDTHS.length); // one point per method and width
  for (const d of lines) {
    const xs = runs.filter((r) => r.method === d.method && r.width === d.width).map((r) => r.trainSeconds)
      .filter((v): v is number => typeof v === "number");
    assertClose(d.mean as number, mean(xs), 1e-12, `mean ${d.method}@${d.width}`);
    const std = xs.length > 1 ? sampleStd(xs) : 0;
    assertClose(d.std as number, std, 1e-9, `std ${d.method}@${d.width}`);
    assertClose(d.lo as number, mean(xs) - std, 1e-12, "band low");
    assertClose(d.hi as number, mean(xs) + std, 1e-12, "band high");
  }
  // The failed adjoint run at width 500 is dropped, leaving one seed and no band.
  const adj = lines.find((d) => d.method === "adjoint" && d.width === 500)!;
  assertEquals([adj.runs, adj.std], [1, 0]);
});

Deno.test("trainingTimeSpec() clamps the band to mean / 10 on a log axis when std exceeds the mean", async () => {
  const runs: RunRecord[] = [
    { method: "gq", width: 10, seed: 0, trainSeconds: 1 },
    { method: "gq", width: 10, seed: 1, trainSeconds: 21 },
    { method: "gq", width: 10, seed: 2, trainSeconds: NaN },
    { method: "gq", width: 0, seed: 0, trainSeconds: 5 }, // width 0 cannot sit on the log axis
  ];
  const [d, ...rest] = await markData(trainingTimeSpec(runs), "line");
  assertEquals(rest.length, 0);
  assertClose(d!.mean as number, 11, 1e-12);
  assertClose(d!.std as number, Math.sqrt(200), 1e-12);
  assertClose(d!.lo as number, 1.1, 1e-12, "clamped low edge");
});

Deno.test("testMetricSpec() titles the chart and axis after the metric and averages it", async () => {
  const runs = sampleRuns();
  const spec = testMetricSpec(runs, { metricLabel: "test accuracy" });
  assertEquals(spec.title, "Test accuracy vs width");
  const lines = await markData(spec, "line");
  const gq5 = lines.find((d) => d.method === "gq" && d.width === 5)!;
  const xs = runs.filter((r) => r.method === "gq" && r.width === 5).map((r) => r.testMetric as number);
  assertClose(gq5.mean as number, mean(xs), 1e-12);
  assert(JSON.stringify(spec).includes('"title":"test accuracy"'), "y axis not titled after the metric");
});

Deno.test("lossCurveSpec() averages seeds per epoch and drops NaN losses", async () => {
  const recs = sampleEpochs();
  const points = await markData(lossCurveSpec(recs), "symbol");
  // 4 methods × 2 widths × 10 epochs, each one averaged point.
  assertEquals(points.length, 80);
  const p = points.find((d) => d.method === "seminorm" && d.width === 20 && d.epoch === 5)!;
  // Seed 0's loss there is NaN: the mean is seed 1's loss alone.
  const seed1 = recs.find((r) => r.method === "seminorm" && r.width === 20 && r.epoch === 5 && r.seed === 1)!;
  assertClose(p.mean_testLoss as number, seed1.testLoss as number, 1e-12);
  const q = points.find((d) => d.method === "gq" && d.width === 100 && d.epoch === 3)!;
  assertClose(q.mean_testLoss as number, Math.exp(-1) + 0.005, 1e-12);
});

Deno.test("lossCurveSpec() draws one line per method, seed and width against seconds", async () => {
  const points = await markData(lossCurveSpec(sampleEpochs(), { x: "seconds" }), "line");
  // 4 methods × 2 seeds × 2 widths × 10 epochs, less the two NaN losses.
  assertEquals(points.length, 158);
  assertEquals(new Set(points.map((d) => `${d.method}/${d.seed}/${d.width}`)).size, 16);
  assert(points.every((d) => typeof d.elapsedSeconds === "number" && typeof d.testLoss === "number"));
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

Deno.test("memorySpec() converts bytes to MiB", async () => {
  const points = await markData(memorySpec(sampleMemory()), "symbol");
  assertEquals(points.length, 20);
  const d = points.find((p) => p.method === "direct" && p.tolerance === 1e-5)!;
  assertClose(d.mean_mib as number, 27, 1e-12);
});

Deno.test("nfeSpec() draws forward and backward bars with the mean over runs", async () => {
  const runs = sampleRuns();
  const bars = await markData(nfeSpec(runs), "rect");
  assertEquals(bars.length, 8);
  for (const b of bars) {
    const field = b.pass === "forward" ? "nfeForwardPerBatch" : "nfeBackwardPerBatch";
    const xs = runs.filter((r) => r.method === b.method).map((r) => r[field] as number);
    assertClose(b.mean_nfe as number, mean(xs), 1e-12, `${b.method} ${b.pass}`);
  }
});

Deno.test("methodColourScale() gives known methods fixed colours and others spare ones", () => {
  const a = methodColourScale(["gq", "adjoint"]);
  const b = methodColourScale(["zeta", "gq", "direct", "alpha"]);
  assertEquals(a.domain, ["adjoint", "gq"]);
  assertEquals(b.domain, ["direct", "gq", "alpha", "zeta"]);
  assertEquals(a.range[1], b.range[1]);
  assertEquals(new Set(b.range).size, 4);
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
