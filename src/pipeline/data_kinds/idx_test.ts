import { encodeIdx } from "../../data/idx.ts";
import { assert, assertEquals } from "../../util/testing.ts";
import { FASHION_MNIST, IdxDataSchema, loadIdxData } from "./idx.ts";
import { dataIssues } from "./registry.ts";

const fixtures = new URL("../../../tests/fixtures/data/", import.meta.url).pathname;
const files = {
  images: `${fixtures}images-idx3-ubyte`,
  labels: `${fixtures}labels-idx1-ubyte.gz`,
  test: { images: `${fixtures}test-images-idx3-ubyte.gz`, labels: `${fixtures}test-labels-idx1-ubyte` },
};
const idx = (settings: Record<string, unknown>) => IdxDataSchema.parse({ kind: "idx", ...files, ...settings });

function classification(d: ReturnType<typeof loadIdxData>) {
  if (d.task !== "classification") throw new Error(d.task);
  return d;
}

/** Every input row of a split, flattened. */
function inputs(r: ReturnType<typeof classification>["train"]["inputs"]): Float64Array {
  const out = new Float64Array(r.count * r.dim);
  for (let i = 0; i < r.count; i++) r.row(i, out.subarray(i * r.dim, (i + 1) * r.dim));
  return out;
}

Deno.test("idx data flatten the images, take classes 0…max label and z-score by the training pixels", () => {
  const d = classification(loadIdxData(idx({})));
  assertEquals([d.classes.length, d.train.inputs.count, d.test.inputs.count, d.train.inputs.dim], [4, 40, 16, 36]);
  const x = inputs(d.train.inputs);
  const mean = x.reduce((s, v) => s + v, 0) / x.length;
  const std = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length);
  assert(Math.abs(mean) < 1e-12 && Math.abs(std - 1) < 1e-12, `mean ${mean}, std ${std}`);
});

Deno.test("idx data keep a seeded subset of each split, and scale uint8 pixels to [0, 1]", () => {
  const d = classification(loadIdxData(idx({ subset: { train: 10, test: 4 }, normalize: "scale", seed: 2 })));
  assertEquals([d.train.inputs.count, d.test.inputs.count], [10, 4]);
  const x = inputs(d.train.inputs);
  assert(x.every((v) => v >= 0 && v <= 1) && x.some((v) => v > 0.78), "pixels / 255");
  const other = classification(loadIdxData(idx({ subset: { train: 10, test: 4 }, normalize: "scale", seed: 3 })));
  assert(other.train.labels.join() !== d.train.labels.join() || inputs(other.train.inputs).join() !== x.join());
  // The image's label is i % 4 and its bar lies where the label says: a bar pixel is ≥ 200 / 255.
  const row = new Float64Array(36);
  d.train.inputs.row(0, row);
  const label = d.train.labels[0]!;
  const bar = label === 0 ? 6 + 3 : label === 1 ? 1 : label === 2 ? 18 + 3 : 3;
  assert(row[bar]! >= 200 / 255, `label ${label}: pixel ${bar} is ${row[bar]}`);
});

Deno.test("idx data without test files hold out a testFraction", () => {
  const settings = { kind: "idx", images: files.images, labels: files.labels, testFraction: 0.25 };
  const d = classification(loadIdxData(IdxDataSchema.parse(settings)));
  assertEquals([d.train.inputs.count, d.test.inputs.count], [30, 10]);
});

Deno.test("idx data name the field and file of mismatched labels, non-image arrays and other image sizes", async () => {
  const at = (settings: Record<string, unknown>) => dataIssues(idx(settings))[0];
  assertEquals(at({ labels: files.test.labels }), {
    path: "data.labels",
    message: `${files.test.labels}: has 16 labels for the 40 images of ${files.images}`,
  });
  assertEquals(at({ images: files.labels })?.path, "data.images");
  assert(at({ images: files.labels })!.message.endsWith("has dims [40]; images need [n, H, W] or [n, C, H, W]"));
  const dir = await Deno.makeTempDir();
  try {
    const small = `${dir}/small-idx3-ubyte`;
    await Deno.writeFile(small, encodeIdx({ dtype: "uint8", dims: [16, 5, 5], data: new Uint8Array(16 * 25) }));
    assertEquals(at({ test: { images: small, labels: files.test.labels } }), {
      path: "data.test.images",
      message: `${small}: has images of [5, 5], the training images [6, 6]`,
    });
    // A file pair with no images passes no check: it would train and report an accuracy of NaN.
    const none = `${dir}/none-idx3-ubyte`, noLabels = `${dir}/none-idx1-ubyte`;
    await Deno.writeFile(none, encodeIdx({ dtype: "uint8", dims: [0, 6, 6], data: new Uint8Array(0) }));
    await Deno.writeFile(noLabels, encodeIdx({ dtype: "uint8", dims: [0], data: new Uint8Array(0) }));
    assertEquals(at({ test: { images: none, labels: noLabels } }), {
      path: "data.test.images",
      message: `${none}: holds no images`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("idx data count classes over the whole files, so a subset or seed never changes the head's size", () => {
  for (let seed = 0; seed < 16; seed++) {
    const d = classification(loadIdxData(idx({ subset: { train: 1, test: 1 }, seed })));
    assertEquals(d.classes.length, 4, `seed ${seed}`);
  }
});

const installed = (() => {
  try {
    return Deno.statSync(FASHION_MNIST.test.labels).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "idx data without files read Fashion-MNIST, or say to install dataset-fashion-mnist",
  fn() {
    const issues = dataIssues(IdxDataSchema.parse({ kind: "idx", subset: { train: 50, test: 20 } }));
    if (!installed) {
      assertEquals(issues.length, 1);
      assertEquals(issues[0]!.path, "data.images");
      assert(issues[0]!.message.includes("apt-get install dataset-fashion-mnist"), issues[0]!.message);
      return;
    }
    assertEquals(issues, []);
    const d = classification(loadIdxData(IdxDataSchema.parse({ kind: "idx", subset: { train: 50, test: 20 } })));
    assertEquals([d.classes.length, d.train.inputs.count, d.test.inputs.count, d.train.inputs.dim], [10, 50, 20, 784]);
  },
});
