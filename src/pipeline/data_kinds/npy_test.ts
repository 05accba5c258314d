import { zipSync } from "fflate";
import { dump } from "npyjs";
import { assert, assertEquals } from "../../util/testing.ts";
import { DataSchema } from "../schema.ts";
import { fileTask } from "./_file_sources.ts";
import { loadNpyData, NpyDataSchema } from "./npy.ts";
import { dataIssues } from "./registry.ts";

const fixtures = new URL("../../../tests/fixtures/data/", import.meta.url).pathname;
const npy = (settings: Record<string, unknown>) => NpyDataSchema.parse({ kind: "npy", ...settings });

Deno.test("npy classification reads x and integer labels y from an .npz, split by a seeded testFraction", () => {
  const d = loadNpyData(npy({ task: "classification", file: `${fixtures}classes.npz` }));
  if (d.task !== "classification") throw new Error(d.task);
  assertEquals([d.classes, d.train.inputs.count, d.test.inputs.count, d.train.inputs.dim], [["0", "1", "2"], 32, 8, 3]);
});

Deno.test("npy reads separate .npy files (a Fortran-order x) and keeps values as they are with normalize none", () => {
  const d = loadNpyData(
    npy({
      task: "classification",
      x: `${fixtures}x.npy`,
      y: `${fixtures}y.npy`,
      test: { x: `${fixtures}x.npy`, y: `${fixtures}y.npy` },
      normalize: "none",
    }),
  );
  if (d.task !== "classification") throw new Error(d.task);
  const row = new Float64Array(3);
  d.test.inputs.row(5, row);
  assertEquals([Array.from(row), d.test.labels[5]], [[50, 51, 52], 2]);
});

Deno.test("npy regression reads an np.savez_compressed archive", () => {
  const d = loadNpyData(npy({ task: "regression", file: `${fixtures}regression.npz` }));
  if (d.task !== "regression") throw new Error(d.task);
  assertEquals([d.train.inputs.dim, d.train.targets.dims, d.test.targets.dims], [2, [24, 2], [6, 2]]);
});

Deno.test("npy time series take per-sample times and the mask, dropping the masked columns", () => {
  const d = loadNpyData(
    npy({ task: "time-series", file: `${fixtures}series.npz`, testFraction: 0.3, normalize: "none" }),
  );
  if (d.task !== "time-series") throw new Error(d.task);
  const all = [...d.train.series, ...d.test.series];
  assertEquals([d.train.series.length, d.test.series.length, d.train.channels], [7, 3, 2]);
  assertEquals(all.map((s) => s.times.length).sort(), [4, 4, 4, 6, 6, 6, 6, 6, 6, 6], "samples 1, 4, 7 miss 2 times");
  for (const s of all) assert(s.times[0] === 0 && s.times.every((t, k) => k === 0 || t > s.times[k - 1]!));
  // Without x, the state starts at y's first values.
  assertEquals(Array.from(d.train.initial.data.subarray(0, 2)), Array.from(d.train.series[0]!.values.subarray(0, 2)));
  const b = fileTask(d, [0, 1]).train.batch(Int32Array.of(0, 1));
  assert(b.times.length > 6 && b.mask.some((m) => m === 0), "the union of two samples' times");
});

Deno.test("npy data name the field and file of a shape mismatch, a missing array and a big-endian array", () => {
  const at = (settings: Record<string, unknown>) => dataIssues(npy(settings))[0];
  assertEquals(at({ task: "classification", x: `${fixtures}x.npy`, y: `${fixtures}y_short.npy` }), {
    path: "data.y",
    message: `${fixtures}y_short.npy: has 11 samples (shape [11]), ${fixtures}x.npy has 12`,
  });
  assertEquals(at({ task: "regression", file: `${fixtures}series.npz` }), {
    path: "data.file",
    message: `${fixtures}series.npz: has no array "x" (arrays: y, t, mask)`,
  });
  const be = at({ task: "regression", x: `${fixtures}x.npy`, y: `${fixtures}big_endian.npy` });
  assertEquals(be?.path, "data.y");
  assert(be!.message.includes('big-endian dtype >f8: save it little-endian (array.astype("<f8"))'), be!.message);
  assertEquals(at({ task: "classification", file: `${fixtures}classes.npz`, test: `${fixtures}regression.npz` }), {
    path: "data.test",
    message: `${fixtures}regression.npz:x: has samples of shape [2], the training x [3]`,
  });
});

Deno.test("npy time series refuse times of the wrong shape and samples that start at different times", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const y = new Float64Array(3 * 4);
    const write = async (name: string, t: Float64Array, shape: number[]) => {
      const members = {
        "y.npy": new Uint8Array(dump(y, [3, 4])),
        "t.npy": new Uint8Array(dump(t, shape)),
      };
      await Deno.writeFile(`${dir}/${name}`, zipSync(members));
      return dataIssues(npy({ task: "time-series", file: `${dir}/${name}` }))[0];
    };
    const wrong = await write("wrong.npz", new Float64Array(5), [5]);
    assertEquals(wrong?.message, `${dir}/wrong.npz:t: has shape [5]; y [3, 4] needs [4] or [3, 4]`);
    const late = await write("late.npz", Float64Array.of(0, 1, 2, 3, 0, 1, 2, 3, 0.5, 1, 2, 3), [3, 4]);
    assertEquals(late?.path, "data.file");
    assert(late!.message.includes("sample 2 starts at t = 0.5, sample 0 at 0"), late!.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("npy data refuse NaN or Inf in x and regression y, and a split with no samples, naming the array", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const write = async (name: string, task: string, arrays: Record<string, [Float64Array, number[]]>) => {
      const members = Object.fromEntries(
        Object.entries(arrays).map(([k, [data, shape]]) => [`${k}.npy`, new Uint8Array(dump(data, shape))]),
      );
      await Deno.writeFile(`${dir}/${name}`, zipSync(members));
      return dataIssues(npy({ task, file: `${dir}/${name}` }))[0];
    };
    const x = Float64Array.of(0, 1, NaN, 2, 1, 3, 2, 4, 3, 5);
    const labels = Float64Array.of(0, 1, 0, 1, 0);
    const nanX = await write("nanx.npz", "classification", { x: [x, [5, 2]], y: [labels, [5]] });
    assert(nanX!.message.endsWith("x: holds NaN at element 2 (sample 1)"), nanX!.message);
    const targets = Float64Array.of(1, 2, Infinity, 4, 5);
    const infY = await write("infy.npz", "regression", { x: [x.map((v) => v || 0), [5, 2]], y: [targets, [5]] });
    assert(infY!.message.endsWith("y: holds Infinity at element 2 (sample 2)"), infY!.message);
    const empty = await write("empty.npz", "regression", {
      x: [new Float64Array(0), [0, 2]],
      y: [new Float64Array(0), [0]],
    });
    assert(empty!.message.endsWith("y: has no samples (shape [0])"), empty!.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("npy time series without a mask leave NaN-padded columns out, whatever their times", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Sample 0 is one column shorter: NaN in y, its time repeated, as padding often is.
    const y = Float64Array.of(1, 2, 3, NaN, 1, 2, 3, 4);
    const t = Float64Array.of(0, 1, 2, 2, 0, 1, 2, 3);
    await Deno.writeFile(
      `${dir}/pad.npz`,
      zipSync({ "y.npy": new Uint8Array(dump(y, [2, 4])), "t.npy": new Uint8Array(dump(t, [2, 4])) }),
    );
    const config = npy({ task: "time-series", file: `${dir}/pad.npz`, testFraction: 0.5 });
    assertEquals(dataIssues(config), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the npy schema takes an .npz or .npy files, not both, and t and mask for time series only", () => {
  const issues = (settings: Record<string, unknown>) => {
    const r = DataSchema.safeParse({ kind: "npy", ...settings });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };
  assertEquals(issues({ task: "regression", file: "a.npz", x: "x.npy" }), [
    'x: Give an .npz file or .npy files, not both (file is "a.npz")',
  ]);
  assertEquals(issues({ task: "regression", y: "y.npy" }), ['x: Task "regression" needs x']);
  assertEquals(issues({ task: "classification", x: "x.npy", y: "y.npy", t: "t.npy" }), [
    't: Field "t" is for task "time-series"; remove it',
  ]);
  assertEquals(issues({ task: "time-series", y: "y.npy" }), ['t: Task "time-series" needs t']);
});
