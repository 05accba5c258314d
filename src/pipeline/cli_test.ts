import { assert, assertEquals, comparableResults, snapshotFiles } from "../util/testing.ts";
import { main } from "./cli.ts";

const fixtures = new URL("../../tests/fixtures/pipelines/", import.meta.url);

Deno.test("main() gives exit code 2 and the field paths for every invalid pipeline, leaving reports untouched", async () => {
  const invalid = new URL("invalid/", fixtures);
  const expected = JSON.parse(await Deno.readTextFile(new URL("expected.json", invalid))) as Record<string, string[]>;
  const out = await Deno.makeTempDir();
  try {
    // An earlier run's report, under the names the invalid files use and under a default one.
    for (const name of ["analytic-gradients", "nested-spheres", "crossing-trajectories", "demo", "x"]) {
      await Deno.mkdir(`${out}/${name}/cells/base`, { recursive: true });
      await Deno.writeTextFile(`${out}/${name}/results.json`, `{"old": "${name}"}`);
      await Deno.writeTextFile(`${out}/${name}/report.html`, "<p>old</p>");
      await Deno.writeTextFile(`${out}/${name}/cells/base/checkpoint.json`, "{}");
    }
    const before = await snapshotFiles(out);
    for (const [file, paths] of Object.entries(expected)) {
      // --overwrite replaces earlier results only once the file has validated.
      for (const flags of [[], ["--overwrite"]]) {
        const messages: string[] = [];
        const path = new URL(file, invalid).pathname;
        const code = await main([path, "--out", out, "--threads", "1", ...flags], { error: (m) => messages.push(m) });
        assertEquals(code, 2, `${file}: exit code`);
        const text = messages.join("\n");
        for (const p of paths) assert(text.includes(`${path}: ${p}: `), `${file}: no issue at ${p} in:\n${text}`);
      }
    }
    assertEquals(await snapshotFiles(out), before, "existing reports are untouched");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("main() gives exit code 2 with the usage text for bad arguments", async () => {
  for (const args of [[], ["a.yaml", "--fast"], ["a.yaml", "--backend", "tpu"], ["a.yaml", "b.yaml"]]) {
    const messages: string[] = [];
    assertEquals(await main(args, { error: (m) => messages.push(m) }), 2, args.join(" "));
    assert(messages.join("\n").includes("Usage: deno task pipeline"), `usage shown for ${args.join(" ")}`);
  }
  const messages: string[] = [];
  assertEquals(await main(["/no/such/file.yaml"], { error: (m) => messages.push(m) }), 2);
  assert(messages[0]!.startsWith("/no/such/file.yaml: (root): Cannot read the file"), messages[0]);
});

Deno.test("main() refuses a valid file the engine cannot run with exit code 2 and writes nothing", async () => {
  const out = await Deno.makeTempDir();
  const file = `${out}/p.yaml`;
  await Deno.writeTextFile(
    file,
    `name: unsupported
data: { kind: crossing-trajectories }
model: { dynamics: { kind: mlp, width: 4 }, head: { kind: linear, outputs: 3 } }
solve: {}
gradient: { method: gq }
train: { epochs: 1 }
`,
  );
  try {
    const messages: string[] = [];
    assertEquals(await main([file, "--out", out], { error: (m) => messages.push(m) }), 2);
    assert(messages[0]!.startsWith(`${file}: model.head.outputs: `), messages[0]);
    assertEquals([...Deno.readDirSync(out)].map((e) => e.name), ["p.yaml"]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

/**
 * Runs the CLI on `file` into `out` in a child process and sends it `signal`
 * once its log shows `line`; its exit code and log.
 */
async function interruptCli(file: string, out: string, line: string, signal: Deno.Signal) {
  const cli = new URL("./cli.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", cli, file, "--out", out, "--threads", "1"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "", sent = false;
  const decoder = new TextDecoder();
  for await (const chunk of child.stderr) {
    log += decoder.decode(chunk);
    if (!sent && log.includes(line)) {
      child.kill(signal);
      sent = true;
    }
  }
  return { code: (await child.status).code, log };
}

Deno.test("the CLI process on SIGINT saves a checkpoint, exits 130, and --resume finishes the run", async () => {
  const out = await Deno.makeTempDir();
  const file = `${out}/p.yaml`;
  await Deno.writeTextFile(
    file,
    `name: sigint
data: { kind: nested-spheres, trainPerClass: 40, testPerClass: 5 }
model: { encoder: { kind: augment, dims: 1 }, dynamics: { kind: mlp, width: 8 }, head: { kind: linear } }
solve: {}
gradient: { method: gq }
train: { epochs: 150, batchSize: 40 }
`,
  );
  try {
    const { code: interrupted, log } = await interruptCli(file, out, "epoch 2/150", "SIGINT");
    assertEquals(interrupted, 130, log);
    assert(log.includes("continue with --resume"), log);
    assert(!tree(`${out}/sigint`).includes(".lock"), "the lock is released");
    const results = JSON.parse(await Deno.readTextFile(`${out}/sigint/results.json`));
    assertEquals(results.status, "interrupted");
    const checkpoint = JSON.parse(await Deno.readTextFile(`${out}/sigint/cells/base/checkpoint.json`));
    const saved = checkpoint.state.epoch as number;
    assert(saved >= 2 && saved < 150, `checkpoint at epoch ${saved}`);
    const epochs: number[] = [];
    const code = await main([file, "--out", out, "--resume", "--threads", "1"], {
      progress: { tty: false, write: () => {} },
      charts: false,
      onEvent: (e) => void (e.kind === "epoch" && epochs.push(e.epoch!)),
    });
    assertEquals(code, 0);
    assertEquals(epochs[0], saved + 1, "resumed after the checkpoint's epoch");
    const after = JSON.parse(await Deno.readTextFile(`${out}/sigint/results.json`));
    assertEquals(after.status, "complete");
    assertEquals(after.cells[0].status, "resumed");
    assertEquals(
      after.results.epochs.map((e: { epoch: number }) => e.epoch),
      Array.from({ length: 150 }, (_, i) => i + 1),
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

/** A small two-cell training sweep: about two seconds through the CLI, report and charts included. */
const SMALL = `name: small
data: { kind: nested-spheres, trainPerClass: 10, testPerClass: 5, seed: 2 }
model: { encoder: { kind: augment, dims: 1 }, dynamics: { kind: mlp, width: 4, time: concat }, head: { kind: linear } }
solve: { rtol: 1.0e-3, atol: 1.0e-3 }
gradient: { method: gq }
train: { epochs: 4, batchSize: 10, optimizer: { lr: 0.01 } }
sweep: { gradient.method: [gq, adjoint] }
`;

const quietCli = { progress: { tty: false, write: () => {} } };

Deno.test("main() exits 2 for an output folder another run holds, naming the folder and the run's pid", async () => {
  const out = await Deno.makeTempDir();
  const holder = new Deno.Command("sleep", { args: ["60"], stdout: "null", stderr: "null" }).spawn();
  try {
    const file = `${out}/p.yaml`;
    await Deno.writeTextFile(file, SMALL);
    await Deno.mkdir(`${out}/small`);
    const lock = JSON.stringify({ pid: holder.pid, host: Deno.hostname(), started: new Date().toISOString() });
    await Deno.writeTextFile(`${out}/small/.lock`, lock);
    for (const flags of [[], ["--resume"], ["--overwrite"]]) {
      const messages: string[] = [];
      const code = await main([file, "--out", out, "--threads", "1", ...flags], {
        ...quietCli,
        error: (m) => messages.push(m),
      });
      assertEquals(code, 2, flags.join(" "));
      assert(messages.join("\n").startsWith(`Output folder ${out}/small is in use by another run (pid ${holder.pid} `));
    }
    assertEquals([...Deno.readDirSync(`${out}/small`)].map((e) => e.name), [".lock"], "nothing written");
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("main() exits 2 for a sweep that lists a value twice, naming the field and the value", async () => {
  const out = await Deno.makeTempDir();
  try {
    const file = `${out}/p.yaml`;
    await Deno.writeTextFile(file, SMALL.replace("[gq, adjoint] }", "[gq, adjoint], model.dynamics.width: [4, 4] }"));
    const messages: string[] = [];
    assertEquals(await main([file, "--out", out], { error: (m) => messages.push(m) }), 2);
    assert(messages[0]!.startsWith(`${file}: sweep.model.dynamics.width[1]: Value 4 repeats`), messages[0]);
    assertEquals([...Deno.readDirSync(out)].map((e) => e.name), ["p.yaml"]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

/** results.json without what differs between runs (see comparableResults). */
const comparable = (results: unknown) => comparableResults(results);

/** Every path under `dir`, relative to it. */
function tree(dir: string, prefix = ""): string[] {
  return [...Deno.readDirSync(dir)].flatMap((e) =>
    e.isDirectory ? [`${prefix}${e.name}/`, ...tree(`${dir}/${e.name}`, `${prefix}${e.name}/`)] : [`${prefix}${e.name}`]
  );
}

Deno.test("the CLI process killed with SIGKILL at random points and resumed ends with an uninterrupted run's results", async () => {
  const out = await Deno.makeTempDir();
  try {
    const file = `${out}/p.yaml`;
    await Deno.writeTextFile(file, SMALL);
    const cli = new URL("./cli.ts", import.meta.url).pathname;
    const spawn = (dir: string, resume: boolean) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", cli, file, "--out", dir, "--threads", "1", ...(resume ? ["--resume"] : [])],
        stdout: "null",
        stderr: "piped",
      }).spawn();
    const t0 = performance.now();
    const full = await spawn(`${out}/full`, false).output();
    assertEquals(full.code, 0, new TextDecoder().decode(full.stderr));
    const wallMs = performance.now() - t0;
    // Kills spread over the whole run (start-up, cells, results, report); printed so a failure can be replayed.
    const delays = Array.from({ length: 3 }, () => Math.round(Math.random() * wallMs));
    const log: string[] = [`delays ${delays.join(", ")} ms of a ${Math.round(wallMs)} ms run`];
    for (const [i, delay] of delays.entries()) {
      const child = spawn(`${out}/killed`, i > 0);
      const stderr = new Response(child.stderr).text();
      await new Promise((r) => setTimeout(r, delay));
      try {
        child.kill("SIGKILL");
      } catch {
        // it finished first
      }
      const status = await child.status;
      log.push(`run ${i + 1}: exit ${status.code} ${status.signal ?? ""}`, await stderr);
    }
    const last = await spawn(`${out}/killed`, true).output();
    log.push(new TextDecoder().decode(last.stderr));
    assertEquals(last.code, 0, log.join("\n"));
    const leftovers = tree(`${out}/killed`).filter((p) => /\.tmp\/?$|\.lock$/.test(p));
    assertEquals(leftovers, [], log.join("\n"));
    const read = async (dir: string) => JSON.parse(await Deno.readTextFile(`${dir}/small/results.json`));
    const [a, b] = [await read(`${out}/full`), await read(`${out}/killed`)];
    assertEquals(b.status, "complete");
    assertEquals(comparable(b), comparable(a), log.join("\n"));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("the CLI process stops on SIGTERM as on Ctrl-C, saving a checkpoint and releasing the lock", async () => {
  const out = await Deno.makeTempDir();
  try {
    const file = `${out}/p.yaml`;
    await Deno.writeTextFile(file, SMALL.replace("epochs: 4", "epochs: 500"));
    const { code, log } = await interruptCli(file, out, "epoch 2/500", "SIGTERM");
    assertEquals(code, 130, log);
    assert(log.includes("continue with --resume"), log);
    assert(!tree(`${out}/small`).includes(".lock"), "no lock left");
    const checkpoints = tree(`${out}/small`).filter((p) => p.endsWith("/checkpoint.json"));
    assertEquals(checkpoints.length, 1, tree(`${out}/small`).join());
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
