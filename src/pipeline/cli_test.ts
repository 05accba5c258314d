import { assert, assertEquals } from "../util/testing.ts";
import { main } from "./cli.ts";

const fixtures = new URL("../../tests/fixtures/pipelines/", import.meta.url);

/** Every file under `dir` with its contents, for before/after comparison. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else out[p] = await Deno.readTextFile(p);
    }
  };
  await walk(dir);
  return out;
}

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
    const before = await snapshot(out);
    for (const [file, paths] of Object.entries(expected)) {
      const messages: string[] = [];
      const path = new URL(file, invalid).pathname;
      const code = await main([path, "--out", out, "--threads", "1"], { error: (m) => messages.push(m) });
      assertEquals(code, 2, `${file}: exit code`);
      const text = messages.join("\n");
      for (const p of paths) assert(text.includes(`${path}: ${p}: `), `${file}: no issue at ${p} in:\n${text}`);
    }
    assertEquals(await snapshot(out), before, "existing reports are untouched");
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
model: { dynamics: { kind: mlp, width: 4 }, head: { kind: mlp, hidden: [3] } }
solve: {}
gradient: { method: gq }
train: { epochs: 1 }
`,
  );
  try {
    const messages: string[] = [];
    assertEquals(await main([file, "--out", out], { error: (m) => messages.push(m) }), 2);
    assert(messages[0]!.startsWith(`${file}: model.head.kind: `), messages[0]);
    assertEquals([...Deno.readDirSync(out)].map((e) => e.name), ["p.yaml"]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

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
      if (!sent && log.includes("epoch 2/150")) {
        child.kill("SIGINT");
        sent = true;
      }
    }
    const status = await child.status;
    assertEquals(status.code, 130, log);
    assert(log.includes("continue with --resume"), log);
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
