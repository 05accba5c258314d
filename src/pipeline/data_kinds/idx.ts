/**
 * `data.kind: idx` — image classification from IDX files (MNIST's format;
 * src/data/idx.ts), gzipped or not: `images` [n, H, W] (or [n, C, H, W]) with
 * integer `labels` [n], classified at the end of the time span.
 *
 * Without `images` and `labels` it reads Fashion-MNIST where Debian's
 * `dataset-fashion-mnist` installs it (/usr/share/datasets/fashion-mnist/),
 * with the published 60 000/10 000 train/test split, and says what to install
 * when the files are missing. Otherwise test images come from `test` or a
 * seeded `testFraction`. `subset` keeps a seeded random subset of each split
 * for quick runs; `normalize` is `z-score` (default: one mean and standard
 * deviation over all training pixels), `scale` (uint8 pixels / 255) or
 * `none`. Classes are 0 … the largest label.
 *
 * Each sample is C·H·W values in that order, with its image shape
 * [C, H, W] in the data's sizes: MLP dynamics see the flat vector,
 * convolutional ones (`model.dynamics: { kind: conv }`, `model.encoder:
 * { kind: conv }`) the image. Pixels stay in their file's type until a batch
 * is formed.
 *
 * @module
 */
import { z } from "zod";
import { DataFileError } from "../../data/file_error.ts";
import { type IdxArray, readIdx } from "../../data/idx.ts";
import { splitIndices, subsetIndices } from "../../data/split.ts";
import { positiveInt } from "../fields.ts";
import { type FileData, fileSamples, fileSizes, fileTask, type LabelledRows } from "./_file_sources.ts";
import {
  atField,
  cachedLoad,
  DataFieldError,
  DEFAULT_TEST_FRACTION,
  filePath,
  issuesOf,
  splitSeed,
  testFraction,
} from "./_files.ts";
import { dataKind } from "./data_kind.ts";

/** Where Debian's `dataset-fashion-mnist` installs Fashion-MNIST. */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

/** The Fashion-MNIST files of Debian's package: the published training and test splits. */
export const FASHION_MNIST = {
  images: `${FASHION_MNIST_DIR}/train-images-idx3-ubyte.gz`,
  labels: `${FASHION_MNIST_DIR}/train-labels-idx1-ubyte.gz`,
  test: {
    images: `${FASHION_MNIST_DIR}/t10k-images-idx3-ubyte.gz`,
    labels: `${FASHION_MNIST_DIR}/t10k-labels-idx1-ubyte.gz`,
  },
} as const;

/** IDX image files' settings. */
export const IdxDataSchema = z.object({
  kind: z.literal("idx"),
  images: filePath.default(FASHION_MNIST.images)
    .describe(`IDX file of the training images [n, H, W] or [n, C, H, W]. Default ${FASHION_MNIST.images}`),
  labels: filePath.default(FASHION_MNIST.labels)
    .describe(`IDX file of the training labels [n]. Default ${FASHION_MNIST.labels}`),
  test: z.object({
    images: filePath.describe("IDX file of the test images"),
    labels: filePath.describe("IDX file of the test labels"),
  }).strict().optional()
    .describe("Test files. Default: Fashion-MNIST's test split with the default images, else a testFraction"),
  testFraction,
  subset: z.object({
    train: positiveInt.optional().describe("Training images kept. Default all"),
    test: positiveInt.optional().describe("Test images kept. Default all"),
  }).strict().optional().describe("A seeded random subset of each split, for quick runs"),
  normalize: z.enum(["z-score", "scale", "none"]).default("z-score")
    .describe('"z-score" by the training pixels\' mean and std, "scale" to [0, 1] (÷ 255 for uint8), or none'),
  seed: splitSeed,
}).strict().superRefine((c, ctx) => {
  if (c.test !== undefined && c.testFraction !== undefined) {
    ctx.addIssue({ code: "custom", path: ["testFraction"], message: "Give test files or a testFraction, not both" });
  }
});

/** Validated IDX settings. */
export type IdxDataConfig = z.output<typeof IdxDataSchema>;

/** The test files of validated settings: given, Fashion-MNIST's with the default images, or none (a split). */
function testFiles(c: IdxDataConfig): { images: string; labels: string } | undefined {
  if (c.test !== undefined) return c.test;
  const defaults = c.images === FASHION_MNIST.images && c.labels === FASHION_MNIST.labels;
  return defaults && c.testFraction === undefined ? FASHION_MNIST.test : undefined;
}

/** Reads an IDX file named at `field`; a missing Debian file says what to install. */
function read(path: string, field: string): IdxArray {
  return atField(field, () => {
    try {
      return readIdx(path);
    } catch (e) {
      if (e instanceof DataFileError && e.problem === "unreadable" && path.startsWith(`${FASHION_MNIST_DIR}/`)) {
        throw new DataFileError(
          path,
          "unreadable",
          `${e.detail}: install Fashion-MNIST with \`apt-get install dataset-fashion-mnist\` (Debian), ` +
            "or set data.images and data.labels to MNIST-format IDX files",
          { cause: e },
        );
      }
      throw e;
    }
  });
}

/** Images and labels of one split, checked against each other (and the training images' shape). */
function imagesAndLabels(
  paths: { images: string; labels: string },
  at: { images: string; labels: string },
  like?: readonly number[],
): { images: IdxArray; labels: IdxArray } {
  const images = read(paths.images, at.images);
  const labels = read(paths.labels, at.labels);
  const fail = (field: string, message: string) => {
    throw new DataFieldError(field, message);
  };
  if (images.dims.length < 2) {
    fail(at.images, `${paths.images}: has dims [${images.dims.join(", ")}]; images need [n, H, W] or [n, C, H, W]`);
  }
  if (labels.dims.length !== 1 || labels.dtype === "float32" || labels.dtype === "float64") {
    fail(at.labels, `${paths.labels}: has ${labels.dtype} dims [${labels.dims.join(", ")}]; labels need integers [n]`);
  }
  if (labels.dims[0] !== images.dims[0]) {
    fail(
      at.labels,
      `${paths.labels}: has ${labels.dims[0]} labels for the ${images.dims[0]} images of ${paths.images}`,
    );
  }
  if (images.dims[0] === 0) fail(at.images, `${paths.images}: holds no images`);
  if (labels.data.some((v) => v < 0)) fail(at.labels, `${paths.labels}: has a negative label`);
  const shape = images.dims.slice(1);
  if (like && shape.join() !== like.join()) {
    fail(at.images, `${paths.images}: has images of [${shape.join(", ")}], the training images [${like.join(", ")}]`);
  }
  return { images, labels };
}

/** The affine map pixel → input of a normalisation, from the training rows. */
function affine(c: IdxDataConfig, images: IdxArray, rows: Int32Array, dim: number): { a: number; b: number } {
  if (c.normalize === "none") return { a: 1, b: 0 };
  if (c.normalize === "scale") {
    if (images.dtype === "uint8") return { a: 1 / 255, b: 0 };
    let max = 0;
    for (const i of rows) for (let j = 0; j < dim; j++) max = Math.max(max, Math.abs(images.data[i * dim + j]!));
    return { a: max > 0 ? 1 / max : 1, b: 0 };
  }
  let sum = 0, sq = 0;
  for (const i of rows) {
    for (let j = 0; j < dim; j++) {
      const v = images.data[i * dim + j]!;
      sum += v;
      sq += v * v;
    }
  }
  const n = rows.length * dim, mean = sum / n;
  const std = Math.sqrt(Math.max(0, sq / n - mean * mean)) || 1;
  return { a: 1 / std, b: -mean / std };
}

function labelled(images: IdxArray, labels: IdxArray, rows: Int32Array, map: { a: number; b: number }): LabelledRows {
  const dim = images.data.length / images.dims[0]!;
  // [n, H, W] images have one channel; [n, C, H, W] say theirs; [n, d] are vectors.
  const rank = images.dims.length;
  const imageShape = rank === 3 ? [1, ...images.dims.slice(1)] : rank === 4 ? images.dims.slice(1) : undefined;
  return {
    inputs: {
      count: rows.length,
      dim,
      ...(imageShape ? { imageShape } : {}),
      row(i, out) {
        const base = rows[i]! * dim;
        for (let j = 0; j < dim; j++) out[j] = map.a * images.data[base + j]! + map.b;
      },
    },
    labels: Int32Array.from(rows, (r) => labels.data[r]!),
  };
}

/** Reads, checks, splits, subsets and normalises the IDX data of validated settings. */
export function loadIdxData(c: IdxDataConfig): FileData {
  const test = testFiles(c);
  const files = [c.images, c.labels, ...(test ? [test.images, test.labels] : [])];
  return cachedLoad("idx", c, files, () => {
    const train = imagesAndLabels(c, { images: "images", labels: "labels" });
    const shape = train.images.dims.slice(1);
    const other = test
      ? imagesAndLabels(
        test,
        c.test ? { images: "test.images", labels: "test.labels" } : { images: "test", labels: "test" },
        shape,
      )
      : undefined;
    const n = train.images.dims[0]!;
    let split;
    if (other) {
      split = {
        train: subsetIndices(n, n, c.seed),
        test: subsetIndices(other.images.dims[0]!, other.images.dims[0]!, c.seed + 1),
      };
    } else {
      if (n < 2) throw new DataFieldError("images", `${c.images}: has ${n} image; a train/test split needs at least 2`);
      split = splitIndices(n, c.testFraction ?? DEFAULT_TEST_FRACTION, c.seed);
    }
    const trainRows = split.train.slice(0, c.subset?.train ?? split.train.length);
    const testRows = split.test.slice(0, c.subset?.test ?? split.test.length);
    const dim = shape.reduce((p, d) => p * d, 1);
    const map = affine(c, train.images, trainRows, dim);
    const testSource = other ?? train;
    // Over the whole files, not the subset kept: a seed or a subset must not change the head's size.
    let classes = 2;
    for (const v of train.labels.data) classes = Math.max(classes, v + 1);
    for (const v of testSource.labels.data) classes = Math.max(classes, v + 1);
    return {
      task: "classification",
      classes: Array.from({ length: classes }, (_, k) => String(k)),
      train: labelled(train.images, train.labels, trainRows, map),
      test: labelled(testSource.images, testSource.labels, testRows, map),
    };
  });
}

/** The IDX data kind. */
export const idxData = dataKind({
  kind: "idx",
  schema: IdxDataSchema,
  classification: true,
  example: {
    kind: "idx",
    images: "tests/fixtures/data/images-idx3-ubyte",
    labels: "tests/fixtures/data/labels-idx1-ubyte.gz",
    test: {
      images: "tests/fixtures/data/test-images-idx3-ubyte.gz",
      labels: "tests/fixtures/data/test-labels-idx1-ubyte",
    },
    subset: { train: 12, test: 6 },
  },
  files: ["images", "labels", "test.images", "test.labels"],
  issues: (c) => issuesOf(() => loadIdxData(c)),
  generate: loadIdxData,
  training: {
    sizes: (c) => fileSizes(loadIdxData(c)),
    samplesPerEpoch: (c) => fileSamples(loadIdxData(c)),
    task: fileTask,
  },
});
