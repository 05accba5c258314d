/**
 * The sweep of torch's common modules (tests/fixtures/torch_modules, written by
 * tests/fixtures/make_torch_modules.py with the TorchScript exporter at opset
 * 17 and the dynamo exporter at opsets 18 and 21): every exported file is
 * imported, run in float32 to torch's own outputs, and differentiated, its VJP
 * graph checked against central differences in float64 with every weight
 * lifted to an input.
 */
import { readModel } from "../onnx/proto.ts";
import { GraphError } from "../onnx/errors.ts";
import { fromNumbers, type Tensor, toNumbers } from "../onnx/tensor.ts";
import { liftInitializers } from "../models/lift.ts";
import { Runtime } from "../runtime/session.ts";
import { assert, assertClose, assertEquals, assertRejects } from "../util/testing.ts";
import { gradCheck } from "./gradcheck.ts";

const DIR = new URL("../../tests/fixtures/torch_modules/", import.meta.url);
const rt = new Runtime({ threads: 1 });

/** One <module>.json of the sweep. */
interface Fixture {
  readonly module: string;
  readonly description: string;
  readonly inputs: readonly Values[];
  readonly outputs: readonly Values[];
  readonly exports: readonly { readonly file: string; readonly opset: number; readonly ops: readonly string[] }[];
  readonly failed: readonly { readonly exporter: string; readonly error: string }[];
}

interface Values {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: readonly number[];
}

/**
 * Exports quadjoint cannot import yet, with the error they give now; the test
 * fails when one starts working, so the entry gets removed.
 */
const KNOWN_GAPS: Readonly<Record<string, { readonly error: string; readonly why: string }>> = {};

const fixtures: Fixture[] = [...Deno.readDirSync(DIR)]
  .filter((e) => e.name.endsWith(".json"))
  .map((e) => e.name)
  .sort()
  .map((name) => JSON.parse(Deno.readTextFileSync(new URL(name, DIR))) as Fixture);

const feeds = (values: readonly Values[], dtype: "float32" | "float64") =>
  Object.fromEntries(values.map((v) => [v.name, fromNumbers([...v.data], [...v.dims], dtype)]));

Deno.test("the torch sweep has every module exported at least once, and only torch's exporter failed", () => {
  assert(fixtures.length >= 30, `only ${fixtures.length} modules in ${DIR.pathname}`);
  for (const f of fixtures) {
    assert(f.exports.length > 0, `${f.module}: no export (${f.failed.map((x) => x.error).join("; ")})`);
  }
  // nn.Bilinear has no TorchScript export at all (aten::bilinear); everything else exports both ways.
  assertEquals(fixtures.flatMap((f) => f.failed.map((x) => `${f.module}.${x.exporter}`)), ["bilinear.legacy17"]);
});

for (const f of fixtures) {
  for (const { file, ops } of f.exports) {
    const gap = KNOWN_GAPS[file];
    if (gap) {
      Deno.test(`readModel() still refuses ${file} (known gap: ${gap.why})`, async () => {
        await assertRejects(() => readModel(new URL(file, DIR).pathname), GraphError, gap.error);
      });
      continue;
    }
    const label = `${file} (${[...new Set(ops)].join(", ")})`;

    Deno.test(`readModel() imports torch's ${label} and ONNX Runtime reproduces torch's float32 outputs`, async () => {
      const g = await readModel(new URL(file, DIR).pathname);
      const out = await (await rt.compile(g)).run(feeds(f.inputs, "float32"));
      for (const y of f.outputs) {
        assertEquals([...out[y.name]!.dims], [...y.dims], `${file} ${y.name} dims`);
        assertClose(toNumbers(out[y.name]!), y.data, 1e-5, `${file} ${y.name}`);
      }
    });

    Deno.test(`vjpGraph() of torch's ${file} matches central differences in float64`, async () => {
      const g = await readModel(new URL(file, DIR).pathname);
      // Pow's exponent (tanh-Gelu's 3) is no weight, and x^p has no derivative in p for x < 0.
      const exponents = new Set(g.nodes.filter((n) => n.opType === "Pow").map((n) => n.inputs[1]!));
      const { graph, init } = liftInitializers(g, { dtype: "float64", freeze: (n) => exponents.has(n) });
      const values: Record<string, Tensor> = { ...init, ...feeds(f.inputs, "float64") };
      const { errors } = await gradCheck(rt, graph, { values });
      assert(Object.keys(errors).length > 0, `${file}: nothing to differentiate`);
      for (const [input, err] of Object.entries(errors)) assert(err <= 1e-6, `${file} grad_${input}: ${err}`);
    });
  }
}
