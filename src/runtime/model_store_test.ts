import { GraphBuilder } from "../onnx/builder.ts";
import { OnnxDecodeError } from "../onnx/errors.ts";
import type { Graph } from "../onnx/graph.ts";
import { fromNumbers, type Tensor } from "../onnx/tensor.ts";
import { assert, assertClose, assertEquals, assertRejects } from "../util/testing.ts";
import { readModels, writeModels } from "./model_store.ts";
import { Runtime } from "./session.ts";

/** x ↦ tanh(x·W + b) with x: float64[batch, 2]. */
function layer(seed: number): Graph {
  const b = new GraphBuilder(`layer${seed}`, { producer: "quadjoint" });
  const x = b.input("x", "float64", ["batch", 2]);
  const w = b.initializer("w", fromNumbers([seed, -0.5, 0.25, 1 / seed], [2, 2], "float64"));
  const c = b.initializer("c", fromNumbers([0.1 * seed, -0.2], [2], "float64"));
  b.output(b.op1("Tanh", [b.op1("Add", [b.op1("MatMul", [x, w]), c])]), "y");
  return b.build();
}

async function withTempDir(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "qj-store-" });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("readModels() returns the graphs writeModels() stored, which run to the same outputs", async () => {
  await withTempDir(async (root) => {
    const seeds: Record<string, number> = { encoder: 1, dynamics: 2, decoder: 3 };
    const graphs = Object.fromEntries(Object.entries(seeds).map(([k, s]) => [k, layer(s)]));
    await writeModels("run-1", graphs, { root });
    assertEquals(await listDir(`${root}/run-1`), ["decoder.onnx", "dynamics.onnx", "encoder.onnx"]);
    const loaded = await readModels("run-1", { root });
    assertEquals(Object.keys(loaded), ["decoder", "dynamics", "encoder"]);
    const rt = new Runtime({ threads: 1 });
    const x: Tensor = fromNumbers([0.3, -1.2, 2, 0.5, -0.1, 0], [3, 2], "float64");
    for (const [key, g] of Object.entries(graphs)) {
      assertEquals(loaded[key], g);
      const want = (await (await rt.compile(g)).run({ x })).y!;
      const got = (await (await rt.compile(loaded[key]!)).run({ x })).y!;
      assertClose(got.data as Float64Array, want.data as Float64Array, 0, key);
      // And the value itself, by hand, for the first row.
      const s = seeds[key]!;
      assertClose(Number(got.data[0]), Math.tanh(0.3 * s - 1.2 * 0.25 + 0.1 * s), 1e-15, `${key} y[0, 0]`);
    }
    await rt.dispose();
  });
});

Deno.test("writeModels() overwrites the keys it writes and leaves other files alone", async () => {
  await withTempDir(async (root) => {
    await writeModels("m", { a: layer(1), b: layer(2) }, { root });
    await writeModels("m", { a: layer(5) }, { root });
    const loaded = await readModels("m", { root });
    assertEquals(loaded, { a: layer(5), b: layer(2) });
  });
});

Deno.test("writeModels() leaves earlier files intact and no temporaries when a graph cannot be encoded", async () => {
  await withTempDir(async (root) => {
    await writeModels("m", { a: layer(1), b: layer(2) }, { root });
    const before = await Deno.readFile(`${root}/m/a.onnx`);
    const broken: Graph = {
      ...layer(3),
      // Tensor data missing: encoding fails.
      initializers: new Map([["w", { dtype: "float64", dims: [1], data: null as unknown as Float64Array }]]),
    };
    await assertRejects(
      () => writeModels("m", { a: layer(4), c: broken }, { root }),
      TypeError,
      /Cannot encode graph "c" of model set "m"/,
    );
    assertEquals(await Deno.readFile(`${root}/m/a.onnx`), before);
    assertEquals(await listDir(`${root}/m`), ["a.onnx", "b.onnx"]);
    assertEquals(await readModels("m", { root }), { a: layer(1), b: layer(2) });
  });
});

Deno.test("writeModels() removes its temporaries and keeps earlier files when writing fails", async () => {
  await withTempDir(async (root) => {
    await writeModels("m", { a: layer(1) }, { root });
    const before = await Deno.readFile(`${root}/m/a.onnx`);
    // A folder where the temporary file of key "b" would go makes that write fail.
    const tag = crypto.randomUUID;
    crypto.randomUUID = () => "fixed-0000-0000-0000-000000000000" as ReturnType<typeof tag>;
    try {
      await Deno.mkdir(`${root}/m/b.onnx.tmp-fixed-0000-0000-0000-000000000000`);
      await assertRejects(
        () => writeModels("m", { a: layer(7), b: layer(8) }, { root }),
        Error,
        new RegExp(`Cannot write model set "m" to ${root}/m`),
      );
    } finally {
      crypto.randomUUID = tag;
    }
    assertEquals(await Deno.readFile(`${root}/m/a.onnx`), before);
    // a's temporary is gone, and so is the (empty) blocker in b's temporary's place.
    assertEquals(await listDir(`${root}/m`), ["a.onnx"]);
  });
});

Deno.test("writeModels() names what it replaced and leaves no temporaries when a rename fails", async () => {
  await withTempDir(async (root) => {
    await writeModels("m", { c: layer(3) }, { root });
    const c = await Deno.readFile(`${root}/m/c.onnx`);
    // A non-empty folder where b's file goes: the rename over it fails after a's has succeeded.
    await Deno.mkdir(`${root}/m/b.onnx/inside`, { recursive: true });
    await assertRejects(
      () => writeModels("m", { a: layer(1), b: layer(2), c: layer(4) }, { root }),
      Error,
      `Cannot write graph "b" of model set "m" to ${root}/m/b.onnx`,
    );
    await assertRejects(
      () => writeModels("m", { a: layer(1), b: layer(2), c: layer(4) }, { root }),
      Error,
      'Already replaced: "a"; the others are unchanged',
    );
    assertEquals(await listDir(`${root}/m`), ["a.onnx", "b.onnx", "c.onnx"], "no temporaries left");
    assertEquals(await Deno.readFile(`${root}/m/c.onnx`), c, "c unchanged");
  });
});

Deno.test("writeModels() and readModels() reject names that are not a single safe path component", async () => {
  const g = layer(1);
  for (const bad of ["", "a/b", "../up", "..", ".", ".hidden", "a\\b", "sp ace", "x\0y"]) {
    await assertRejects(
      () => writeModels(bad, { a: g }, { root: "/nonexistent" }),
      RangeError,
      `Model set name ${JSON.stringify(bad)} is not a valid file name`,
    );
    await assertRejects(() => readModels(bad, { root: "/nonexistent" }), RangeError, "is not a valid file name");
    await assertRejects(
      () => writeModels("ok", { [bad]: g }, { root: "/nonexistent" }),
      RangeError,
      `Graph key in model set "ok" ${JSON.stringify(bad)} is not a valid file name`,
    );
  }
  await assertRejects(() => writeModels("ok", {}, { root: "/nonexistent" }), RangeError, "at least one graph");
  await assertRejects(
    () => writeModels("ok", { a: g }, { root: "", extra: 1 } as { root: string }),
    RangeError,
    `Unknown model store option "extra"`,
  );
  await assertRejects(() => readModels("ok", { root: "" }), RangeError, "root must be a non-empty path");
});

Deno.test("readModels() names the folder when a set is missing or empty, and the file when one is corrupt", async () => {
  await withTempDir(async (root) => {
    await assertRejects(() => readModels("absent", { root }), Deno.errors.NotFound, `no folder ${root}/absent`);
    await Deno.mkdir(`${root}/empty`);
    await Deno.writeTextFile(`${root}/empty/notes.txt`, "not a model");
    await assertRejects(() => readModels("empty", { root }), Deno.errors.NotFound, "has no .onnx files");
    await writeModels("bad", { a: layer(1) }, { root });
    await Deno.writeFile(`${root}/bad/b.onnx`, new Uint8Array([1, 2, 3]));
    const e = await assertRejects(() => readModels("bad", { root }), OnnxDecodeError, `${root}/bad/b.onnx`);
    assert(e.message.includes("b.onnx"), e.message);
  });
});
