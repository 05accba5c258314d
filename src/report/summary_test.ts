import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import type { RunRecord } from "../results/records.ts";
import { provenanceTable } from "./_provenance_table.ts";
import { formatCell, speedSummary, spreadVerdict } from "./summary.ts";

const runs: RunRecord[] = [
  { method: "gq", width: 10, seed: 0, trainSeconds: 2, testMetric: 0.90 },
  { method: "gq", width: 10, seed: 1, trainSeconds: 4, testMetric: 0.92 },
  { method: "adjoint", width: 10, seed: 0, trainSeconds: 12, testMetric: 0.91 },
  { method: "adjoint", width: 10, seed: 1, trainSeconds: null, testMetric: 0.93 },
  { method: "direct", width: 10, seed: 0, trainSeconds: 3, testMetric: 0.91 },
  { method: "gq", width: 100, seed: 0, trainSeconds: 10, testMetric: 0.95 },
  { method: "adjoint", width: 100, seed: 0, trainSeconds: 30, testMetric: 0.95 },
];

Deno.test("speedSummary() gives t_baseline / t_gq and the metric difference per width", () => {
  const t = speedSummary(runs, { metricLabel: "accuracy" });
  assertEquals(t.rows.map((r) => r.width), [10, 100, "geometric mean"]);
  const [w10, w100, geo] = t.rows;
  assertEquals([w10!.seconds, w10!.seeds], [3, 2]);
  // The adjoint's failed run counts for the metric, not for the time.
  assertEquals(w10!.speed_adjoint, 4);
  assertClose(w10!.delta_adjoint as number, 0.91 - 0.92, 1e-12);
  assertEquals(w10!.speed_direct, 1);
  assertEquals(w100!.speed_adjoint, 3);
  assertEquals(w100!.speed_direct, null);
  assertClose(geo!.speed_adjoint as number, Math.sqrt(12), 1e-12, "geometric mean");
  assertEquals(geo!.speed_direct, 1);
  // No seminorm runs and no evaluation times: no columns for them.
  assertEquals(t.columns.map((c) => c.key), [
    "width",
    "seeds",
    "seconds",
    "metric",
    "speed_adjoint",
    "speedSpread_adjoint",
    "delta_adjoint",
    "deltaSpread_adjoint",
    "speed_direct",
    "speedSpread_direct",
    "delta_direct",
    "deltaSpread_direct",
  ]);
  assertEquals(t.columns[3]!.label, "gq test accuracy");
  assertEquals(t.columns[6]!.label, "Δ test accuracy vs adjoint");
});

Deno.test("speedSummary() gives a row per batch size and width in a width × batch sweep, not batch sizes as seeds", () => {
  const sweep: RunRecord[] = [10, 100].flatMap((width) =>
    [8, 32].flatMap((batchSize) => [
      { method: "gq", width, batchSize, seed: 0, trainSeconds: width / batchSize, testMetric: 0.9 },
      { method: "adjoint", width, batchSize, seed: 0, trainSeconds: (3 * width) / batchSize, testMetric: 0.9 },
    ])
  );
  const t = speedSummary(sweep);
  assertEquals(t.columns.slice(0, 2).map((c) => [c.key, c.label]), [["panel", "batch size"], ["width", "width"]]);
  assertEquals(t.rows.map((r) => [r.panel, r.width, r.seeds]), [
    ["batch size 8", 10, 1],
    ["batch size 8", 100, 1],
    ["batch size 32", 10, 1],
    ["batch size 32", 100, 1],
    [undefined, "geometric mean", undefined],
  ]);
  assert(t.rows.slice(0, 4).every((r) => r.speed_adjoint === 3), "each ratio within its own batch size");
});

Deno.test("speedSummary() says whether each difference is within the spread over seeds", () => {
  const t = speedSummary(runs);
  const [w10, w100] = t.rows;
  // gq 0.90–0.92 against the adjoint's 0.91–0.93: the ranges overlap. Times 2–4 s against 12 s alone: one seed.
  assertEquals(w10!.deltaSpread_adjoint, "within spread");
  assertEquals(w10!.speedSpread_adjoint, "one seed");
  assertEquals(w10!.deltaSpread_direct, "one seed");
  assertEquals(w100!.deltaSpread_adjoint, "one seed");
  const apart = speedSummary([
    { method: "gq", width: 10, seed: 0, trainSeconds: 1, testMetric: 0.95 },
    { method: "gq", width: 10, seed: 1, trainSeconds: 1.1, testMetric: 0.96 },
    { method: "adjoint", width: 10, seed: 0, trainSeconds: 1.05, testMetric: 0.90 },
    { method: "adjoint", width: 10, seed: 1, trainSeconds: 2, testMetric: 0.91 },
  ]);
  assertEquals([apart.rows[0]!.speedSpread_adjoint, apart.rows[0]!.deltaSpread_adjoint], [
    "within spread",
    "beyond spread",
  ]);
  assert(/min–max/.test(apart.note!) && /seed noise/.test(apart.note!), apart.note);
  assertEquals(spreadVerdict([1, 2], []), null);
});

Deno.test("speedSummary() with one seed per run leaves out the verdicts and says the differences are untested", () => {
  const t = speedSummary(runs.filter((r) => r.seed === 0));
  assert(t.columns.every((c) => !c.key.includes("Spread")), JSON.stringify(t.columns.map((c) => c.key)));
  assertEquals(t.columns.find((c) => c.key === "delta_adjoint")!.label, "Δ test metric vs adjoint (one seed)");
  assert(/One seed per run/.test(t.note!) && /seeds: \[0, 1, 2\]/.test(t.note!), t.note);
});

Deno.test("speedSummary() reports the evaluation time apart from the training time", () => {
  const t = speedSummary([
    { method: "gq", width: 10, seed: 0, trainSeconds: 2, evaluationSeconds: 0.5, testMetric: 0.9 },
    { method: "gq", width: 10, seed: 1, trainSeconds: 4, evaluationSeconds: 0.7, testMetric: 0.9 },
  ]);
  assertEquals(t.columns.map((c) => c.label), [
    "width",
    "seeds",
    "gq training time (s)",
    "gq evaluation time (s)",
    "gq test metric",
  ]);
  assertClose(t.rows[0]!.evalSeconds as number, 0.6, 1e-12);
});

Deno.test("speedSummary() compares any method against chosen baselines", () => {
  const t = speedSummary(runs, { method: "direct", baselines: ["gq"], metricLabel: "accuracy" });
  assertEquals(t.rows.length, 3);
  assertEquals(t.rows[0]!.speed_gq, 1);
  assertEquals(t.columns.find((c) => c.key === "speed_gq")!.label, "direct/gq speed");
  // Without gq the first method present is compared with the others.
  const noGq = speedSummary(runs.filter((r) => r.method !== "gq"));
  assertEquals(noGq.caption, "Speed of direct against the baselines");
  assertEquals(noGq.rows[0]!.speed_adjoint, 4);
});

Deno.test("speedSummary() refuses a baseline equal to the compared method", () => {
  assertThrows(() => speedSummary(runs, { baselines: ["gq"] }), RangeError, /"gq"/);
  assertThrows(() => speedSummary([{ method: "gq" } as RunRecord]), TypeError, /run 0/);
});

Deno.test("provenanceTable() lists every field, missing ones as null", () => {
  const t = provenanceTable(
    { gitCommit: null, quick: true, rtol: [1e-3, 1e-6], later: "x", gpu: { name: "H200" }, list: [{ a: 1 }] } as never,
  );
  const value = (what: string) => t.rows.find((r) => r.what === what)?.value;
  assertEquals([value("git commit"), value("--quick"), value("rtol"), value("later")], [
    null,
    "yes",
    "0.001, 0.000001",
    "x",
  ]);
  // Fields of a newer version that are objects show as their JSON (they read −∞ and [object Object] before).
  assertEquals([value("gpu"), value("list")], ['{"name":"H200"}', '{"a":1}']);
});

Deno.test("formatCell() writes each format and dashes for missing values", () => {
  assertEquals(formatCell(2.0049, "ratio"), "2.00×");
  assertEquals(formatCell(0.001025, "signed"), "+0.001025");
  assertEquals(formatCell(-8.7718e-5, "signed"), "−8.772e-5");
  assertEquals(formatCell(0, "signed"), "0");
  assertEquals(formatCell(1234567, "int"), "1,234,567");
  assertEquals(formatCell(123456, "auto"), "1.235e+5");
  assertEquals(formatCell(0.5, "auto"), "0.5");
  assertEquals(formatCell(NaN), "—");
  assertEquals(formatCell(undefined), "—");
  assertEquals(formatCell(Infinity), "∞");
  assertEquals(formatCell("geometric mean", "int"), "geometric mean");
});
