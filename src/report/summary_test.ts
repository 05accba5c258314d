import { assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import type { RunRecord } from "../results/records.ts";
import { formatCell, speedSummary } from "./summary.ts";

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
  const t = speedSummary(runs);
  assertEquals(t.rows.map((r) => r.width), [10, 100, "geometric mean"]);
  const [w10, w100, geo] = t.rows;
  assertEquals(w10!.seconds, 3);
  // The adjoint's failed run counts for the metric, not for the time.
  assertEquals(w10!.speed_adjoint, 4);
  assertClose(w10!.delta_adjoint as number, 0.91 - 0.92, 1e-12);
  assertEquals(w10!.speed_direct, 1);
  assertEquals(w10!.speed_seminorm, null);
  assertEquals(w10!.delta_seminorm, null);
  assertEquals(w100!.speed_adjoint, 3);
  assertEquals(w100!.speed_direct, null);
  assertClose(geo!.speed_adjoint as number, Math.sqrt(12), 1e-12, "geometric mean");
  assertEquals(geo!.speed_direct, 1);
  assertEquals(geo!.speed_seminorm, null);
  assertEquals(t.columns.map((c) => c.key), [
    "width",
    "seconds",
    "metric",
    "speed_adjoint",
    "delta_adjoint",
    "speed_seminorm",
    "delta_seminorm",
    "speed_direct",
    "delta_direct",
  ]);
});

Deno.test("speedSummary() compares any method against chosen baselines", () => {
  const t = speedSummary(runs, { method: "direct", baselines: ["gq"], metricLabel: "accuracy" });
  assertEquals(t.rows.length, 3);
  assertEquals(t.rows[0]!.speed_gq, 1);
  assertEquals(t.columns[3]!.label, "direct/gq speed");
  assertEquals(t.columns[4]!.label, "Δ accuracy");
});

Deno.test("speedSummary() refuses a baseline equal to the compared method", () => {
  assertThrows(() => speedSummary(runs, { baselines: ["gq"] }), RangeError, /"gq"/);
  assertThrows(() => speedSummary([{ method: "gq" } as RunRecord]), TypeError, /run 0/);
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
