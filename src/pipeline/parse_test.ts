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
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== "expected.json").sort();
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
  assert(parseError("a: 1\na: 2\n", "p.yaml").message.includes("Invalid YAML"), "duplicate keys are refused");
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
