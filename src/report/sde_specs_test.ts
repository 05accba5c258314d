import type { SdeDensityRecord, SdePathRecord } from "../results/records.ts";
import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { compileStrict, markData } from "./_chart_testing.ts";
import { cosineSpecs, figureCells, sdeDensitySpec, sdePathSpec } from "./sde_specs.ts";

const label = { cellId: "w20", method: "gq", width: 20 };

function densities(): SdeDensityRecord[] {
  const out: SdeDensityRecord[] = [];
  for (const x0 of [-2, 1]) {
    for (const t of [0.3, 5]) {
      for (const source of ["model", "data"] as const) {
        for (let j = 0; j < 5; j++) out.push({ ...label, x0, t, x: j, density: (j + 1) / 15, source });
      }
    }
  }
  return out;
}

function paths(): SdePathRecord[] {
  const out: SdePathRecord[] = [];
  for (const x0 of [-2, 1]) {
    for (const source of ["model", "data"] as const) {
      for (let path = 0; path < 2; path++) {
        for (const t of [0, 0.5, 1]) out.push({ ...label, x0, path, t, value: x0 + t * (path + 1), source });
      }
    }
  }
  return out;
}

Deno.test("the SDE chart builders compile without warnings", () => {
  const runs = [0, 5, 10].flatMap((cosines) =>
    [0, 1].map((seed) => ({ method: "gq", width: 20, seed, cosines, trainSeconds: 1 + cosines, testMetric: 0.1 }))
  );
  for (const spec of [...cosineSpecs(runs), sdeDensitySpec(densities()), sdePathSpec(paths())]) {
    assertEquals(compileStrict(spec).warnings, [], String(spec.title));
  }
});

Deno.test("cosineSpecs() averages seeds per cosine count and leaves out runs without noise", async () => {
  const runs = [
    { method: "gq", width: 20, seed: 0, cosines: 0, trainSeconds: 1, testMetric: 0.4 },
    { method: "gq", width: 20, seed: 1, cosines: 0, trainSeconds: 3, testMetric: 0.2 },
    { method: "gq", width: 20, seed: 0, cosines: 10, trainSeconds: 5, testMetric: 0.1 },
    { method: "sde-adjoint", width: 20, seed: 0, cosines: null, trainSeconds: 9, testMetric: 0.1 },
  ];
  const [time] = cosineSpecs(runs);
  const points = await markData(time!, "symbol");
  const byCosines = Object.fromEntries(points.map((p) => [p.cosines, p.mean]));
  assertEquals(byCosines, { 0: 2, 10: 5 });
  assert(points.every((p) => p.method === "gq"), "the run without noise is drawn");
});

Deno.test("sdeDensitySpec() draws one line per source in every time × initial-value panel", async () => {
  const lines = await markData(sdeDensitySpec(densities()), "line");
  const panels = new Set(lines.map((d) => `${d.x0}|${d.t}|${d.source}`));
  assertEquals(panels.size, 2 * 2 * 2);
  assertEquals(lines.length, densities().length);
});

Deno.test("sdePathSpec() draws every path of both sources", async () => {
  const points = await markData(sdePathSpec(paths()), "line");
  assertEquals(new Set(points.map((d) => d.line)).size, 4, "model 0, model 1, data 0, data 1");
  assertEquals(points.length, paths().length);
});

Deno.test("the figure builders refuse records of several cells, and figureCells picks each method's widest", () => {
  const two = [...densities(), ...densities().map((r) => ({ ...r, cellId: "w100", width: 100 }))];
  assertThrows(() => sdeDensitySpec(two), RangeError, "one cell, got 2 (w20, w100)");
  const adjoint = densities().slice(0, 3).map((r) => ({ ...r, cellId: "a5", method: "sde-adjoint", width: 5 }));
  assertEquals(figureCells([...two, ...adjoint]), ["w100", "a5"]);
});
