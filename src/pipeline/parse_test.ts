import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { PipelineError } from "./errors.ts";
import { parsePipeline, readPipeline } from "./parse.ts";
import { expandSweep } from "./sweep.ts";

const fixtures = new URL("../../tests/fixtures/pipelines/", import.meta.url);

function parseError(text: string, file: string): PipelineError {
  return assertThrows(() => parsePipeline(text, file), PipelineError) as PipelineError;
}

Deno.test("parsePipeline() reports every expected field path with exit code 2 for each invalid fixture", async () => {
  const dir = new URL("invalid/", fixtures);
  const expected = JSON.parse(await Deno.readTextFile(new URL("expected.json", dir))) as Record<string, string[]>;
  // Subfolders hold their own corpora (bad_input/: through the CLI, bad_input_test.ts).
  const files = [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name)
    .filter((n) => n !== "expected.json").sort();
  assertEquals(files, Object.keys(expected).sort(), "every invalid fixture has expectations, and vice versa");
  for (const name of files) {
    const e = parseError(await Deno.readTextFile(new URL(name, dir)), name);
    assertEquals(e.exitCode, 2);
    const paths = e.issues.map((i) => i.path);
    for (const path of expected[name] ?? []) {
      assert(paths.includes(path), `${name}: expected an issue at ${path}, got:\n${e.message}`);
    }
    for (const line of e.message.split("\n")) {
      assert(line.startsWith(`${name}: `), `${name}: message line does not name the file: ${line}`);
    }
  }
});

Deno.test("parsePipeline() accepts the valid fixtures and fills in defaults", async () => {
  const dir = new URL("valid/", fixtures);
  for (const entry of Deno.readDirSync(dir)) {
    const config = await readPipeline(new URL(entry.name, dir).pathname);
    assert(config.solve.maxSteps === 100_000, `${entry.name}: default maxSteps`);
    assert(expandSweep(config).length >= 1, `${entry.name}: at least one cell`);
  }
  const spheres = await readPipeline(new URL("nested_spheres.yaml", dir).pathname);
  assertEquals(spheres.train?.optimizer.betas, [0.9, 0.999]);
  assertEquals(spheres.gradient.gq, { C: 0.1, nodes: "adaptive", trajectory: "backward", observe: "interpolate" });
  assertEquals(expandSweep(spheres).length, 8 * 4);
});

Deno.test("parsePipeline() shows the offending value and names unknown keys by their own path", () => {
  const e = parseError(
    JSON.stringify({
      name: "x",
      data: { kind: "crossing-trajectories", colour: 1 },
      model: { dynamics: { kind: "mlp", width: 20 } },
      solve: { rtol: -0.5 },
      gradient: { method: "gq" },
      train: { epochs: 1 },
    }),
    "x.json",
  );
  assertEquals(e.issues.length, 2, e.message);
  assert(e.message.includes('x.json: data.colour: Unknown field "colour"'), e.message);
  assert(/x\.json: solve\.rtol: .*\(got -0\.5\)/.test(e.message), e.message);
});

Deno.test("parsePipeline() reports YAML and JSON syntax errors and non-object files as PipelineError", async () => {
  const missing = await readPipeline("/nonexistent/pipeline.yaml").then(() => undefined, (e) => e);
  assert(
    missing instanceof PipelineError && missing.message.startsWith("/nonexistent/pipeline.yaml: (root): Cannot read"),
  );
  assert(parseError("a: [1, 2", "p.yaml").message.startsWith("p.yaml: (root): Invalid YAML"));
  assert(parseError("{", "p.json").message.startsWith("p.json: (root): Invalid JSON"));
  assertEquals(
    parseError("a: 1\nb:\n  c: 1\n  c: 2\n", "p.yaml").message,
    'p.yaml: b.c: Invalid YAML: duplicate key "c" at line 4 (first at line 3)',
    "duplicate keys are refused, at their path",
  );
  assertEquals(
    parseError('{"name": "a",\n "solve": {"rtol": 1e-3,\n  "rtol": 1e-9}}', "p.json").message,
    'p.json: solve.rtol: Invalid JSON: duplicate key "rtol" at line 3 (first at line 2)',
    "in JSON too, whose parser would keep the last",
  );
  assert(parseError("42", "p.yaml").message.includes("got number"));
});

Deno.test("parsePipeline() lists cross-stage issues alongside per-field ones", () => {
  const e = parseError(
    `
name: both
data: { kind: sines, times: 20 }
solve: {}
gradient: { method: gq }
`,
    "both.yaml",
  );
  const paths = e.issues.map((i) => i.path).sort();
  assertEquals(paths, ["data.times", "model", "train"]);
});

Deno.test("parsePipeline() with quick returns the merged configuration", () => {
  const text = `
name: q
data: { kind: nested-spheres }
model: { dynamics: { kind: mlp, width: 20 } }
solve: {}
gradient: { method: gq }
train: { epochs: 100, batchSize: 200, seed: 3 }
sweep: { model.dynamics.width: [5, 20, 100] }
quick: { train: { epochs: 2 }, data: { trainPerClass: 10 }, sweep: { model.dynamics.width: [5] } }
`;
  const full = parsePipeline(text, "q.yaml");
  const quick = parsePipeline(text, "q.yaml", { quick: true });
  assertEquals(full.train?.epochs, 100);
  assertEquals(quick.train?.epochs, 2);
  assertEquals(quick.train?.seed, 3, "untouched fields survive the merge");
  assertEquals(quick.train?.batchSize, 200);
  assert(quick.data.kind === "nested-spheres" && quick.data.trainPerClass === 10 && quick.data.testPerClass === 50);
  assertEquals(quick.sweep, { "model.dynamics.width": [5] });
  assertEquals(quick.quick, undefined);
  assertEquals(expandSweep(quick).length, 1);
});

/** A valid crossing-trajectories pipeline with `extra` merged in (JSON). */
function tinyJson(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    name: "tiny",
    data: { kind: "crossing-trajectories" },
    model: { dynamics: { kind: "mlp", width: 4 } },
    solve: {},
    gradient: { method: "gq" },
    train: { epochs: 1 },
    ...extra,
  });
}

Deno.test("readPipeline() skips a UTF-8 byte-order mark and refuses UTF-16 files, saying to save them as UTF-8", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const text = tinyJson();
    await Deno.writeFile(`${dir}/bom.json`, new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(text)]));
    assertEquals((await readPipeline(`${dir}/bom.json`)).name, "tiny");
    assertEquals(parsePipeline(`\uFEFF${text}`, "bom.json").name, "tiny", "text given with its mark");
    for (const [bom, order] of [[[0xff, 0xfe], "FF FE"], [[0xfe, 0xff], "FE FF"]] as const) {
      const units = [...text].flatMap((c) => (order === "FF FE" ? [c.charCodeAt(0), 0] : [0, c.charCodeAt(0)]));
      await Deno.writeFile(`${dir}/u16.json`, new Uint8Array([...bom, ...units]));
      const e = await readPipeline(`${dir}/u16.json`).then(() => undefined, (e) => e);
      assert(e instanceof PipelineError, String(e));
      assertEquals(
        e.message,
        `${dir}/u16.json: (root): The file is UTF-16 (it starts with the byte-order mark ${order}): save it as UTF-8`,
      );
    }
    await Deno.writeFile(`${dir}/latin1.yaml`, new Uint8Array([0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0xe9]));
    const e = await readPipeline(`${dir}/latin1.yaml`).then(() => undefined, (e) => e);
    assert(e instanceof PipelineError && e.message.includes("not valid UTF-8"), String(e));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parsePipeline() lists the first 20 issues of a file and counts the rest", () => {
  const unknown = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]));
  const e = parseError(tinyJson(unknown), "many.json");
  assertEquals(e.issues.length, 50, "every issue is kept");
  const lines = e.message.split("\n");
  assertEquals(lines.length, 21);
  assertEquals(lines[20], "many.json: … and 30 more issues (fix the ones above first)");
});

Deno.test("parsePipeline() shows NaN and Infinity as such, not as null", () => {
  const e = parseError("name: x\ndata: { kind: nested-spheres, r1: .nan }\nsolve: { rtol: .inf }\n", "n.yaml");
  assert(e.message.includes("n.yaml: data.r1: Expected a finite number, got NaN"), e.message);
  assert(e.message.includes("n.yaml: solve.rtol: Expected a finite number, got Infinity"), e.message);
  assert(!e.message.includes("null"), e.message);
});

Deno.test("parsePipeline() refuses relative tolerances below what the model's dtype can meet, in sweeps too", () => {
  const float32 = parseError(tinyJson({ solve: { rtol: 1e-7 } }), "t.json");
  assert(float32.message.startsWith("t.json: solve.rtol: Tolerance 1e-7 is below what float32"), float32.message);
  const config = parsePipeline(
    tinyJson({ solve: { rtol: 1e-7 }, model: { dynamics: { kind: "mlp", width: 4 }, dtype: "float64" } }),
    "t.json",
  );
  assertEquals(config.solve.rtol, 1e-7, "float64 meets 1e-7");
  const swept = parseError(tinyJson({ sweep: { "solve.rtol": [1e-3, 1e-9] } }), "s.json");
  assert(swept.issues.some((i) => i.path.startsWith("sweep.solve.rtol")), swept.message);
});

Deno.test("parsePipeline() refuses a name too long for a file name", () => {
  const e = parseError(tinyJson({ name: "a".repeat(101) }), "n.json");
  assert(e.message.startsWith("n.json: name: Name must be at most 100 characters"), e.message);
  assertEquals(parsePipeline(tinyJson({ name: "a".repeat(100) }), "n.json").name.length, 100);
});
