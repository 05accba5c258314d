import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { parseResults, readResults, writePipelineResults } from "./file.ts";
import { emptyCellRecords, type PipelineResults, RESULTS_FORMAT } from "./records.ts";

Deno.test("parseResults() refuses a file without a format or of an unknown one, naming both formats", () => {
  assertThrows(
    () => parseResults({ results: {} }, "old.json"),
    RangeError,
    `old.json has no format field; this quadjoint reads "${RESULTS_FORMAT}"`,
  );
  assertThrows(
    () => parseResults({ format: "quadjoint.results/4", results: {} }, "new.json"),
    RangeError,
    'new.json has format "quadjoint.results/4"',
  );
  assertThrows(() => parseResults([1], "list.json"), TypeError, "must hold a JSON object, got an array");
});

Deno.test("parseResults() names the record and field at fault", () => {
  const file = {
    format: RESULTS_FORMAT,
    results: { runs: [{ method: "gq", width: 4 }, { method: "gq", width: "wide" }] },
  };
  assertThrows(() => parseResults(file, "r.json"), TypeError, "results.runs[1].width");
  assertThrows(
    () => parseResults({ format: RESULTS_FORMAT, charts: ["pie"], results: {} }, "r.json"),
    TypeError,
    "charts[0]",
  );
});

Deno.test("parseResults() reads the previous format with its renamed fields mapped, and keeps extra fields", () => {
  const file = parseResults({
    format: "quadjoint.results/2",
    title: "old",
    results: {
      epochs: [{ method: "gq", width: 4, epoch: 1, seconds: 2.5, testLoss: 0.1, cellId: "c" }],
      memory: [{ method: "gq", tolerance: 1e-3, bytes: 4096 }],
    },
  }, "old.json");
  assertEquals(file.format, RESULTS_FORMAT);
  assertEquals(file.results.epochs as unknown[], [
    { method: "gq", width: 4, epoch: 1, elapsedSeconds: 2.5, testLoss: 0.1, cellId: "c" },
  ]);
  assertEquals(file.results.memory, [{ method: "gq", tolerance: 1e-3, heldBytes: 4096 }]);
});

Deno.test("writePipelineResults() writes results.json that readResults() reads back, and the CSV tables", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const records = emptyCellRecords();
    records.gradientErrors.push({
      cellId: "c",
      method: "gq",
      T: 1,
      quantity: "dL/dz0",
      relativeError: 1e-6,
      nfeForwardPerGradient: 20,
      nfeBackwardPerGradient: 30,
      nodesPerGradient: 3,
    });
    const results: PipelineResults = {
      format: RESULTS_FORMAT,
      pipeline: "p",
      status: "complete",
      title: "t",
      summary: false,
      metricLabel: "relative error",
      metricLogY: false,
      meta: { quick: true },
      cells: [{ id: "c", values: {}, status: "done" }],
      results: records,
    };
    await writePipelineResults(dir, results);
    assertEquals(await readResults(`${dir}/results.json`), results);
    const csv = await Deno.readTextFile(`${dir}/gradient_errors.csv`);
    assert(csv.startsWith("cellId,method,T,quantity,relativeError"), csv);
    assertEquals(await Deno.readTextFile(`${dir}/results.csv`), csv, "results.csv holds the analytic records");
    await Deno.writeTextFile(`${dir}/bad.json`, "{");
    let error: unknown;
    try {
      await readResults(`${dir}/bad.json`);
    } catch (e) {
      error = e;
    }
    assert(error instanceof SyntaxError && error.message.includes("bad.json is not JSON"), String(error));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseResults() reads the peer benchmark's lists, null peer fields included, and names a record of the old names", () => {
  const peerGradients = [{
    regime: "dim 4, batch 2",
    method: "gq",
    width: 100,
    quadjointSeconds: 0.01,
    peerSeconds: null,
  }];
  const peerTraining = [{
    method: "adjoint",
    width: 1000,
    quadjointEpochSeconds: 0.02,
    peerEpochSeconds: 0.08,
    ratio: 0.25,
  }];
  const peerLimits = [{ regime: "dim 4, batch 2", method: "gq", width: 100, gradientSeconds: 0.01, fraction: 0.5 }];
  const file = parseResults({ format: RESULTS_FORMAT, results: { peerGradients, peerTraining, peerLimits } }, "p.json");
  assertEquals(file.results, { peerGradients, peerTraining, peerLimits } as typeof file.results);
  // A record of the old peers.json, before its fields gained camelCase names, is named at its first missing field.
  const old = { regime: "dim 4, batch 2", method: "gq", width: 100, quadjoint_s: 0.01, peer_s: null };
  assertThrows(
    () => parseResults({ format: RESULTS_FORMAT, results: { peerGradients: [old] } }, "p.json"),
    TypeError,
    "results.peerGradients[0].quadjointSeconds",
  );
});
