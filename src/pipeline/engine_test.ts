import { Runtime } from "../runtime/session.ts";
import { assert, assertEquals, assertThrows, snapshotFiles } from "../util/testing.ts";
import type { PipelineResults } from "../results/records.ts";
import { checkPipeline, OutputError, runPipeline, runPipelineFile, type RunPipelineOptions } from "./engine.ts";
import { PipelineError } from "./errors.ts";
import { type PipelineInput, PipelineSchema } from "./schema.ts";

const runtime = new Runtime({ threads: 1 });
const quiet = { write: () => {}, tty: false };

const sweepPipeline: PipelineInput = {
  name: "resume-test",
  data: { kind: "nested-spheres", trainPerClass: 15, testPerClass: 5, seed: 2 },
  model: {
    encoder: { kind: "augment", dims: 1 },
    dynamics: { kind: "mlp", width: 8, time: "concat" },
    head: { kind: "linear" },
  },
  solve: { rtol: 1e-4, atol: 1e-4 },
  gradient: { method: "gq" },
  train: { epochs: 3, batchSize: 10, optimizer: { lr: 0.01 } },
  evaluate: { metrics: ["accuracy", "loss"] },
  sweep: { "gradient.method": ["gq", "adjoint"], "model.dynamics.width": [4, 8] },
};

/** The records without wall-clock fields, which differ between runs. */
function numbers(r: PipelineResults) {
  const { runs, epochs } = r.results;
  return {
    runs: runs.map(({ cellId, testMetric, testLoss, trainLoss, nfeForwardPerBatch, nfeBackwardPerBatch, params }) => ({
      cellId,
      testMetric,
      testLoss,
      trainLoss,
      nfeForwardPerBatch,
      nfeBackwardPerBatch,
      params,
    })),
    epochs: epochs.map(({ cellId, epoch, trainLoss, testLoss }) => ({ cellId, epoch, trainLoss, testLoss })),
  };
}

async function run(out: string, extra: RunPipelineOptions = {}) {
  return await runPipeline(PipelineSchema.parse(sweepPipeline), {
    out,
    runtime,
    progress: quiet,
    report: false,
    ...extra,
  });
}

Deno.test("runPipeline() interrupted and resumed ends with the same results as an uninterrupted sweep", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const full = await run(`${dir}/full`);
    assertEquals(full.exitCode, 0);
    assertEquals(full.results.cells.map((c) => c.status), ["done", "done", "done", "done"]);
    assertEquals(full.results.results.runs.length, 4);
    // The run's wall-clock holds every cell's, which holds its epochs and its checkpoints.
    const runSeconds = full.results.meta.runSeconds as number;
    const cellSeconds = full.results.results.runs.reduce((s, r) => s + r.wallSeconds!, 0);
    assert(cellSeconds > 0 && cellSeconds <= runSeconds, `cells ${cellSeconds} s, run ${runSeconds} s`);
    for (const r of full.results.results.runs) assert(r.trainSeconds! + r.checkpointSeconds! <= r.wallSeconds!);
    // Finished cells keep their model files and result.json, no checkpoint.
    for (const c of full.results.cells) {
      const names = [...Deno.readDirSync(`${full.dir}/cells/${c.id}`)].map((e) => e.name).sort();
      assert(names.includes("result.json") && names.includes("weights.safetensors"), names.join());
      assert(!names.some((n) => n.startsWith("checkpoint")), names.join());
    }

    // Stop during the second cell, after its first epoch.
    const controller = new AbortController();
    const part = await run(`${dir}/resumed`, {
      signal: controller.signal,
      onEvent: (
        e,
      ) => (e.kind === "epoch" && e.cell === full.results.cells[1]!.id && e.epoch === 1
        ? controller.abort()
        : undefined),
    });
    assertEquals(part.exitCode, 130);
    assertEquals(part.results.status, "interrupted");
    assertEquals(part.results.cells.map((c) => c.status), ["done", "partial", "pending", "pending"]);
    const onDisk = JSON.parse(await Deno.readTextFile(`${part.dir}/results.json`)) as PipelineResults;
    assertEquals(onDisk.status, "interrupted");
    assertEquals(onDisk.results.runs.length, 1, "partial results hold the finished cell");
    const checkpoint = JSON.parse(
      await Deno.readTextFile(`${part.dir}/cells/${full.results.cells[1]!.id}/checkpoint.json`),
    );
    assertEquals(checkpoint.state.epoch, 1);

    const resumed = await run(`${dir}/resumed`, { resume: true });
    assertEquals(resumed.exitCode, 0);
    assertEquals(resumed.results.cells.map((c) => c.status), ["skipped", "resumed", "done", "done"]);
    assertEquals(numbers(resumed.results), numbers(full.results));

    // A checkpoint left beside a result.json (killed between the two) goes when a resume skips the cell.
    const first = `${resumed.dir}/cells/${full.results.cells[0]!.id}`;
    await Deno.writeTextFile(`${first}/checkpoint.json`, "{}");
    await Deno.writeFile(`${first}/checkpoint-3-0123abcd.safetensors`, new Uint8Array(8));
    const again = await run(`${dir}/resumed`, { resume: true });
    assertEquals(again.results.cells.map((c) => c.status), ["skipped", "skipped", "skipped", "skipped"]);
    const left = [...Deno.readDirSync(first)].map((e) => e.name);
    assert(!left.some((n) => n.startsWith("checkpoint")), left.join());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runPipeline() with overwrite starts over and ignores old checkpoints", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const controller = new AbortController();
    await run(dir, { signal: controller.signal, onEvent: () => controller.abort() });
    const again = await run(dir, { overwrite: true });
    assertEquals(again.results.cells.map((c) => c.status), ["done", "done", "done", "done"]);
    assertEquals(again.results.results.epochs.filter((e) => e.cellId === again.results.cells[0]!.id).length, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runPipeline() on the analytic problem: errors fall with the tolerance, direct's memory grows", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const base = {
      data: { kind: "analytic", T: { min: 5, max: 10, count: 2 } },
      gradient: { method: "gq" },
      evaluate: { metrics: ["gradient-error"] },
      memory: { tolerances: [1e-3, 1e-6] },
      sweep: { "gradient.method": ["direct", "adjoint", "seminorm", "gq"] },
    } as const;
    const loose = await runPipeline(
      PipelineSchema.parse({ ...base, name: "loose", solve: { rtol: 1e-3, atol: 1e-3 } }),
      {
        out: dir,
        runtime,
        progress: quiet,
        report: false,
      },
    );
    const tight = await runPipeline(
      PipelineSchema.parse({ ...base, name: "tight", solve: { rtol: 1e-9, atol: 1e-9 } }),
      {
        out: dir,
        runtime,
        progress: quiet,
        report: false,
      },
    );
    const worst = (r: PipelineResults) => Math.max(...r.results.gradientErrors.map((e) => e.relativeError ?? Infinity));
    assertEquals(tight.results.results.gradientErrors.length, 4 * 2 * 4, "methods × T × quantities");
    assert(worst(tight.results) < 1e-5, `tight tolerance: worst relative error ${worst(tight.results)}`);
    assert(worst(loose.results) > 1e-6, `loose tolerance shows an error: ${worst(loose.results)}`);
    const bytes = (m: string) => tight.results.results.memory.filter((r) => r.method === m).map((r) => r.heldBytes!);
    const [d3, d6] = bytes("direct");
    // Beyond the states every method holds (gq's figure), direct holds one state per step: over twice the steps.
    const [states] = bytes("gq");
    assert(d6! - states! > 2 * (d3! - states!), `direct holds every step: ${d3} → ${d6} (states ${states})`);
    for (const m of ["adjoint", "seminorm", "gq"]) {
      const [a, b] = bytes(m);
      assertEquals(a, b, `${m} holds constant memory`);
    }
    const csv = await Deno.readTextFile(`${dir}/tight/results.csv`);
    assertEquals(
      csv.split("\n")[0],
      "cellId,method,T,quantity,relativeError,nfeForwardPerGradient,nfeBackwardPerGradient,nodesPerGradient",
    );
    assertEquals(csv.trim().split("\n").length, 1 + 32);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkPipeline() refuses what the engine cannot build, naming the field", () => {
  const config = PipelineSchema.parse({
    ...sweepPipeline,
    model: { dynamics: { kind: "mlp", width: 4 }, head: { kind: "linear", outputs: 3 } },
  });
  const e = assertThrows(() => checkPipeline(config, "p.yaml"), PipelineError) as PipelineError;
  assert(e.message.startsWith('p.yaml: model.head.outputs: Data "nested-spheres" needs 2 outputs'), e.message);
  assertEquals(e.exitCode, 2);
});

Deno.test("runPipeline() with --resume starts over, as done, from a checkpoint of another configuration", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { sweep: _, ...one } = sweepPipeline;
    const config = (lr: number) =>
      PipelineSchema.parse({ ...one, train: { ...one.train, epochs: 2, optimizer: { lr } } });
    const options = { out: dir, runtime, progress: quiet, report: false };
    const controller = new AbortController();
    const part = await runPipeline(config(0.01), {
      ...options,
      signal: controller.signal,
      onEvent: () => controller.abort(),
    });
    assertEquals(part.results.cells.map((c) => c.status), ["partial"]);
    const other = await runPipeline(config(0.02), { ...options, resume: true });
    assertEquals(other.results.cells.map((c) => c.status), ["done"]);
    assertEquals(other.results.results.epochs.map((e) => e.epoch), [1, 2]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runPipeline() with --resume keeps checkpoints when only the description or report changed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { sweep: _, ...one } = sweepPipeline;
    const options = { out: dir, runtime, progress: quiet, report: false };
    const controller = new AbortController();
    const part = await runPipeline(PipelineSchema.parse({ ...one, train: { ...one.train, epochs: 2 } }), {
      ...options,
      signal: controller.signal,
      onEvent: (e) => (e.kind === "epoch" && e.epoch === 1 ? controller.abort() : undefined),
    });
    assertEquals(part.results.cells.map((c) => c.status), ["partial"]);
    const edited = PipelineSchema.parse({
      ...one,
      train: { ...one.train, epochs: 2 },
      description: "a new description",
      report: { title: "A new title" },
    });
    const resumed = await runPipeline(edited, { ...options, resume: true });
    assertEquals(resumed.results.cells.map((c) => c.status), ["resumed"]);
    assertEquals(resumed.results.results.epochs.map((e) => e.epoch), [1, 2]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runPipeline() interrupted in a neural-SDE cell and resumed ends with the results of an uninterrupted sweep", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const sde = PipelineSchema.parse(
      {
        name: "sde-resume-test",
        data: { kind: "ornstein-uhlenbeck", train: 8, test: 4, paths: 6, end: 1, every: 0.5, dt: 0.05, seed: 1 },
        model: { dynamics: { kind: "mlp", width: 4, time: "concat" } },
        solve: { rtol: 1e-3, atol: 1e-3, dt: 0.05 },
        noise: { kind: "karhunen-loeve", cosines: 3 },
        gradient: { method: "gq" },
        train: { epochs: 3, batchSize: 4, optimizer: { lr: 0.01 } },
        evaluate: { metrics: ["kl"] },
        sweep: { "gradient.method": ["gq", "sde-adjoint"] },
      } satisfies PipelineInput,
    );
    const options = { runtime, progress: quiet, report: false };
    const full = await runPipeline(sde, { ...options, out: `${dir}/full` });
    assertEquals(full.results.cells.map((c) => c.status), ["done", "done"]);
    assertEquals(full.results.results.runs.length, 2);

    // Stop in each cell after its first epoch: Wong–Zakai gq, then (the gq cell resumed) the SDE adjoint.
    const statuses = [["partial", "pending"], ["resumed", "partial"]];
    for (const [i, cell] of full.results.cells.entries()) {
      const controller = new AbortController();
      const part = await runPipeline(sde, {
        ...options,
        out: `${dir}/resumed`,
        resume: true,
        signal: controller.signal,
        onEvent: (e) => (e.kind === "epoch" && e.cell === cell.id && e.epoch === 1 ? controller.abort() : undefined),
      });
      assertEquals(part.exitCode, 130);
      assertEquals(part.results.cells.map((c) => c.status), statuses[i]);
      const checkpoint = JSON.parse(await Deno.readTextFile(`${part.dir}/cells/${cell.id}/checkpoint.json`));
      assertEquals(checkpoint.state.epoch, 1);
    }
    const resumed = await runPipeline(sde, { ...options, out: `${dir}/resumed`, resume: true });
    assertEquals(resumed.exitCode, 0);
    assertEquals(resumed.results.cells.map((c) => c.status), ["skipped", "resumed"]);
    assertEquals(numbers(resumed.results), numbers(full.results));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A two-cell analytic sweep: a second or two. */
const analyticPipeline = {
  name: "rerun",
  data: { kind: "analytic", T: { min: 1, max: 2, count: 2 } },
  solve: { rtol: 1e-6, atol: 1e-6 },
  gradient: { method: "gq" },
  evaluate: { metrics: ["gradient-error"] },
  sweep: { "gradient.method": ["adjoint", "gq"] },
} satisfies PipelineInput;

async function runQuiet(config: PipelineInput, out: string, extra: RunPipelineOptions = {}) {
  const lines: string[] = [];
  const r = await runPipeline(PipelineSchema.parse(config), {
    out,
    runtime,
    progress: { tty: false, write: (s) => void lines.push(s) },
    report: false,
    ...extra,
  });
  return { ...r, log: lines.join("") };
}

Deno.test("runPipeline() into a finished output refuses without resume or overwrite, and overwrite replaces it", async () => {
  const out = await Deno.makeTempDir();
  try {
    const first = await runQuiet(analyticPipeline, out);
    assertEquals(first.exitCode, 0);
    const before = await snapshotFiles(first.dir);
    assert(Object.keys(before).some((p) => p.endsWith("/result.json")), "cell results were written");
    let refused: unknown;
    try {
      await runQuiet(analyticPipeline, out);
    } catch (e) {
      refused = e;
    }
    assert(refused instanceof OutputError, String(refused));
    assertEquals(refused.exitCode, 2);
    assert(refused.message.includes("--resume") && refused.message.includes("--overwrite"), refused.message);
    assertEquals(await snapshotFiles(first.dir), before, "the finished output is untouched");
    // A file only the earlier run wrote is gone after --overwrite; the new results are complete.
    await Deno.writeTextFile(`${first.dir}/cells/earlier.txt`, "old");
    const again = await runQuiet(analyticPipeline, out, { overwrite: true });
    assertEquals(again.exitCode, 0);
    assertEquals(again.results.cells.map((c) => c.status), ["done", "done"]);
    const after = await snapshotFiles(first.dir);
    assert(!(`${first.dir}/cells/earlier.txt` in after), Object.keys(after).join());
    assert(!Object.keys(after).some((p) => p.endsWith(".lock") || p.endsWith(".tmp")), Object.keys(after).join());
    assertEquals(JSON.parse(after[`${first.dir}/results.json`]!).status, "complete");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("runPipelineFile() with quick writes to <name>-quick/, apart from the full run's folder", async () => {
  const out = await Deno.makeTempDir();
  try {
    const { sweep: _, ...one } = analyticPipeline;
    const file = `${out}/p.json`;
    await Deno.writeTextFile(file, JSON.stringify({ ...one, quick: { data: { T: { count: 1 } } } }));
    const options = { out, runtime, progress: quiet, report: false };
    const full = await runPipelineFile(file, options);
    const quick = await runPipelineFile(file, { ...options, quick: true });
    assertEquals([full.dir, quick.dir], [`${out}/rerun`, `${out}/rerun-quick`]);
    const read = async (dir: string) => JSON.parse(await Deno.readTextFile(`${dir}/results.json`)) as PipelineResults;
    assertEquals([(await read(full.dir)).meta.quick, (await read(quick.dir)).meta.quick], [false, true]);
    assertEquals((await read(full.dir)).results.gradientErrors.length, 2 * 4, "the full results survive the quick run");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("runPipeline() with resume reruns a cell whose result.json is corrupt, naming the file", async () => {
  const out = await Deno.makeTempDir();
  try {
    const first = await runQuiet(analyticPipeline, out);
    const [a, b] = first.results.cells.map((c) => `${first.dir}/cells/${c.id}/result.json`);
    const text = await Deno.readTextFile(a!);
    await Deno.writeTextFile(a!, text.slice(0, text.length >> 1)); // truncated
    const resumed = await runQuiet(analyticPipeline, out, { resume: true });
    assertEquals(resumed.exitCode, 0);
    assertEquals(resumed.results.cells.map((c) => c.status), ["done", "skipped"]);
    assert(resumed.log.includes(`cannot read ${a} (`) && resumed.log.includes("running the cell again"), resumed.log);
    assertEquals(resumed.results.results.gradientErrors, first.results.results.gradientErrors);
    // A result of this configuration without records is rerun too, and named.
    const hashB = JSON.parse(await Deno.readTextFile(b!)).configHash;
    await Deno.writeTextFile(b!, JSON.stringify({ configHash: hashB, records: { runs: 1 } }));
    const again = await runQuiet(analyticPipeline, out, { resume: true });
    assertEquals(again.results.cells.map((c) => c.status), ["skipped", "done"]);
    assert(again.log.includes(`${b} has no records`), again.log);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("runPipeline() with resume starts a cell over from a truncated checkpoint, naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { sweep: _, ...one } = sweepPipeline;
    const config = { ...one, train: { ...one.train, epochs: 2 } };
    const controller = new AbortController();
    const part = await runQuiet(config, dir, { signal: controller.signal, onEvent: () => controller.abort() });
    assertEquals(part.results.cells.map((c) => c.status), ["partial"]);
    const path = `${part.dir}/cells/base/checkpoint.json`;
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, text.slice(0, 100));
    const resumed = await runQuiet(config, dir, { resume: true });
    assertEquals(resumed.exitCode, 0);
    assertEquals(resumed.results.cells.map((c) => c.status), ["done"], "started over, not resumed");
    assertEquals(resumed.results.results.epochs.map((e) => e.epoch), [1, 2]);
    assert(
      resumed.log.includes(`checkpoint ${path} cannot be read (`) && resumed.log.includes("starting over"),
      resumed.log,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runPipeline() interrupted still writes a report of the finished cells, saying it is partial", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const controller = new AbortController();
    let first: string | undefined;
    const part = await run(dir, {
      signal: controller.signal,
      report: true,
      charts: false,
      onEvent: (e) => {
        first ??= e.cell;
        if (e.kind === "epoch" && e.cell !== first) controller.abort(); // in the second cell
      },
    });
    assertEquals(part.exitCode, 130);
    const html = await Deno.readTextFile(`${part.dir}/report.html`);
    assert(
      html.includes("Interrupted: 1 of 4 cells finished (continue with --resume)"),
      "the report says it is partial",
    );
    // `deno task report <dir>` renders it again with the same note.
    const { main: reportMain } = await import("../report/cli.ts");
    await Deno.remove(`${part.dir}/report.html`);
    assertEquals(await reportMain([part.dir, "--charts", `${dir}/charts`]), 0);
    assert(
      (await Deno.readTextFile(`${part.dir}/report.html`)).includes("Interrupted: 1 of 4 cells finished"),
      "the re-rendered report says it is partial",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
