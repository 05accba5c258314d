/**
 * The public API stays curated: every symbol `mod.ts` exports has a doc
 * comment, and every library file under `src/` either contributes to
 * `mod.ts` or is listed in {@linkcode INTERNAL} with the reason it is not
 * public. A new file therefore has to be placed on one side or the other.
 *
 * Files whose name starts with `_`, tests and command-line entry points are
 * internal by construction and need no entry.
 *
 * @module
 */
import { assert, assertEquals } from "../src/util/testing.ts";

/** Library files that are not part of the public API, with why. */
const INTERNAL: Record<string, string> = {
  "src/autodiff/gradcheck.ts": "a test helper (finite differences against VJP graphs)",
  "src/autodiff/registry.ts": "the VJP rule table vjpGraph reads (adding rules for imported ops is issue #11)",
  "src/autodiff/residuals.ts": "the split of direct backpropagation's step VJP at its activations; a detail of direct",
  "src/autodiff/rule.ts": "helpers for writing VJP rules",
  "src/autodiff/rules/conv.ts": "one VJP rule set; reached through vjpGraph",
  "src/autodiff/rules/elementwise.ts": "one VJP rule set; reached through vjpGraph",
  "src/autodiff/rules/linalg.ts": "one VJP rule set; reached through vjpGraph",
  "src/autodiff/rules/nn.ts": "one VJP rule set; reached through vjpGraph",
  "src/autodiff/rules/shape.ts": "one VJP rule set; reached through vjpGraph",
  "src/gradients/fused_graphs.ts": "the graphs the gradient methods run; an implementation detail of the methods",
  "src/onnx/inline.ts": "graph inlining for the fused graphs and step graphs",
  "src/onnx/lower.ts": "float64 lowering and the CPU's faster float32 kernels, which the runtime applies by itself",
  "src/onnx/einsum.ts": "Einsum equation parsing shared by the shape rule and the VJP rule",
  "src/onnx/shape_rules.ts": "the builder's type inference; used through GraphBuilder",
  "src/runtime/bound_graph.ts": "the training loop's session wrapper",
  "src/train/wasm/adam_f32.ts": "Adam's float32 WebAssembly kernel; reached through Adam.step",
  "src/train/wasm/adam_f32_wasm.ts": "the kernel's binary, generated from adam_f32.wat",
  "src/train/wasm/compile.ts": "the build of the WebAssembly kernels (deno task wasm) and its check",
  "src/pipeline/analytic_stage.ts": "a stage of the analytic cell",
  "src/pipeline/args.ts": "the pipeline CLI's argument parser",
  "src/pipeline/parse.ts": "pipeline files to configurations; runPipelineFile reads them",
  "src/pipeline/schema.ts": "the zod schema (inferred types, so outside mod.ts); pipelines/schema.json documents it",
  "src/pipeline/model_kinds/registry.ts": "the dynamics kinds, read by the schema and the task stage",
  "src/pipeline/data_kinds/registry.ts": "the data kinds, read by the schema and the stages",
  "src/pipeline/cells/analytic_cell.ts": "a cell kind, run by the engine",
  "src/pipeline/cells/registry.ts": "the cell kinds, read by the engine",
  "src/pipeline/cells/sde_training_cell.ts": "a cell kind, run by the engine",
  "src/pipeline/data_kinds/ornstein_uhlenbeck.ts": "a data kind; reached through DATA_KINDS",
  "src/pipeline/noise_kinds/karhunen_loeve.ts": "a noise kind; reached through the noise stage",
  "src/pipeline/noise_kinds/noise_kind.ts": "the noise-kind contract, for adding kinds inside src/pipeline",
  "src/pipeline/noise_kinds/registry.ts": "the noise kinds, read by the schema and the SDE cell",
  "src/pipeline/cells/training_cell.ts": "a cell kind, run by the engine",
  "src/pipeline/cost.ts": "the progress line's cost model",
  "src/pipeline/cluster.ts": "the pipeline file's cluster section (a zod schema, like schema.ts)",
  "src/pipeline/emit.ts": "--emit slurm|k8s of the pipeline CLI",
  "src/pipeline/merge.ts": "the merge of a sharded sweep, run by deno task report <dir>",
  "src/pipeline/shard.ts": "--shard i/N of the pipeline CLI (runPipeline's shard option takes its ShardSpec)",
  "src/pipeline/memory_check.ts": "the engine validation's memory check (engineIssues runs it)",
  "src/pipeline/data_kinds/analytic.ts": "a data kind; reached through DATA_KINDS",
  "src/pipeline/data_kinds/crossing_trajectories.ts": "a data kind; reached through DATA_KINDS",
  "src/pipeline/data_kinds/csv.ts": "a data kind; reached through DATA_KINDS (its readers are src/data/csv.ts)",
  "src/pipeline/data_kinds/idx.ts": "a data kind; reached through DATA_KINDS (its reader is src/data/idx.ts)",
  "src/pipeline/data_kinds/npy.ts": "a data kind; reached through DATA_KINDS (its readers are src/data/npy.ts)",
  "src/pipeline/data_kinds/data_kind.ts": "the data-kind contract, for adding kinds inside src/pipeline",
  "src/pipeline/data_kinds/nested_spheres.ts": "a data kind; reached through DATA_KINDS",
  "src/pipeline/data_kinds/sines.ts": "a data kind; reached through DATA_KINDS",
  "src/pipeline/data_stage.ts": "a stage the training cell runs",
  "src/pipeline/file_cache.ts": "the read-once cache of the data and model kinds that read users' files",
  "src/pipeline/fields.ts": "zod field helpers shared by the schemas",
  "src/pipeline/model_kinds/conv.ts": "a dynamics kind; reached through MODEL_KINDS",
  "src/pipeline/model_kinds/mlp.ts": "a dynamics kind; reached through MODEL_KINDS",
  "src/pipeline/model_kinds/onnx.ts": "a dynamics kind; reached through MODEL_KINDS",
  "src/pipeline/model_kinds/model_kind.ts": "the dynamics-kind contract, for adding kinds inside src/pipeline",
  "src/pipeline/settings.ts": "configuration names to library objects, for the cells",
  "src/pipeline/sweep.ts": "sweep expansion, run by checkPipeline",
  "src/pipeline/task_stage.ts": "a stage the training cell runs",
  "src/pipeline/write_report.ts": "the engine's report writer (renderReport and writeReportCharts are public)",
  "src/pipeline/write_schema.ts": "regenerates pipelines/schema.json",
  "src/util/counter_random.ts": "the counter-based generator behind BrownianPath",
  "src/util/files.ts": "atomic file writes",
  "src/util/machine.ts": "the CPU model that provenance and the benchmarks record",
  "src/util/peak_memory.ts": "the fresh-process peak-RSS probe of the analytic memory stage and the gradient benchmark",
  "src/util/testing.ts": "assertions for the tests",
};

/** Command-line entry points: run, not imported. */
const ENTRY_POINTS = new Set([
  "src/pipeline/cli.ts",
  "src/pipeline/report_cli.ts",
  "src/report/cli.ts",
  "src/runtime/gpu_setup.ts",
]);

interface DocSymbol {
  name: string;
  declarations: { location: { filename: string }; jsDoc?: { doc?: string } }[];
}

async function publicSymbols(): Promise<DocSymbol[]> {
  const root = new URL("../", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), { args: ["doc", "--json", "mod.ts"], cwd: root }).output();
  assert(out.success, `deno doc --json mod.ts failed: ${new TextDecoder().decode(out.stderr)}`);
  const json = JSON.parse(new TextDecoder().decode(out.stdout));
  const modUrl = new URL("mod.ts", root).href;
  return json.nodes[modUrl].symbols as DocSymbol[];
}

function libraryFiles(dir: URL, prefix: string): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${prefix}/${entry.name}`;
    if (entry.isDirectory) files.push(...libraryFiles(new URL(`${entry.name}/`, dir), path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts") && !entry.name.startsWith("_")) {
      files.push(path);
    }
  }
  return files;
}

Deno.test("every symbol mod.ts exports has a doc comment", async () => {
  const undocumented = (await publicSymbols())
    .filter((s) => !s.declarations.some((d) => (d.jsDoc?.doc ?? "").trim().length > 0))
    .map((s) => `${s.name} (${s.declarations[0]?.location.filename.replace(/^.*\/main\//, "")})`);
  assertEquals(undocumented, [], "symbols without a doc comment");
});

Deno.test("every library file is exported from mod.ts or listed as internal with a reason", async () => {
  const root = new URL("../", import.meta.url).href;
  const exporting = new Set(
    (await publicSymbols()).flatMap((s) => s.declarations.map((d) => d.location.filename.replace(root, ""))),
  );
  const files = libraryFiles(new URL("../src/", import.meta.url), "src").filter((f) => !ENTRY_POINTS.has(f));
  const unplaced = files.filter((f) => !exporting.has(f) && INTERNAL[f] === undefined);
  assertEquals(unplaced, [], "files neither exported from mod.ts nor listed in INTERNAL");
  const both = files.filter((f) => exporting.has(f) && INTERNAL[f] !== undefined);
  assertEquals(both, [], "files listed as internal but exported from mod.ts");
  const stale = Object.keys(INTERNAL).filter((f) => !files.includes(f));
  assertEquals(stale, [], "INTERNAL lists files that do not exist");
  assert(Object.values(INTERNAL).every((why) => why.length > 10), "every internal file says why");
});

Deno.test("mod.ts leaves the internals out: rule helpers, fused graphs, lowering", async () => {
  const names = new Set((await publicSymbols()).map((s) => s.name));
  for (const internal of ["reduceSum", "castTo", "finishVjp", "gqBackwardGraph", "lowerForRuntime", "inlineGraph"]) {
    assert(!names.has(internal), `${internal} is internal but mod.ts exports it`);
  }
  for (const user of ["odeGradient", "gq", "runPipelineFile", "readResults", "trainNeuralOde", "experimentReport"]) {
    assert(names.has(user), `${user} is missing from mod.ts`);
  }
});
