/**
 * `data.kind: nested-spheres` — concentric classes in `dim` dimensions (the
 * ANODE paper's), classified at the end of the time span.
 *
 * @module
 */
import { z } from "zod";
import { type LabelledPoints, nestedSpheres } from "../../data/nested_spheres.ts";
import type { BatchSource } from "../../train/trainer.ts";
import { positive, positiveInt, seed } from "../fields.ts";
import { all, endTimeSource } from "./_sources.ts";
import { dataKind } from "./data_kind.ts";

/** Concentric classes in `dim` dimensions, as in the ANODE paper. */
export const NestedSpheresDataSchema = z.object({
  kind: z.literal("nested-spheres"),
  dim: z.number().int().min(1).default(2).describe("Dimension of the points. Default 2"),
  r1: positive.default(0.4).describe("Class 0 lies inside radius r1. Default 0.4"),
  r2: positive.default(0.7).describe("Class 1 lies between r2 and r3. Default 0.7"),
  r3: positive.default(0.9).describe("Outer radius of class 1. Default 0.9"),
  trainPerClass: positiveInt.default(1000).describe("Training points per class. Default 1000"),
  testPerClass: positiveInt.default(50).describe("Test points per class. Default 50"),
  seed: seed.default(0).describe("Seed of the point sampler. Default 0"),
}).strict().superRefine((d, ctx) => {
  if (!(d.r1 < d.r2)) ctx.addIssue({ code: "custom", path: ["r2"], message: `r2 (${d.r2}) must exceed r1 (${d.r1})` });
  if (!(d.r2 < d.r3)) ctx.addIssue({ code: "custom", path: ["r3"], message: `r3 (${d.r3}) must exceed r2 (${d.r2})` });
});

/** The two classes. */
const CLASSES = 2;

/** One-hot labels at the last of two times. */
function classificationSource(data: LabelledPoints, classes: number, times: [number, number]): BatchSource {
  return endTimeSource(data.inputs, classes, times, (i, row) => (row[data.labels.data[i]!] = 1));
}

/** The nested-spheres data kind. */
export const nestedSpheresData = dataKind({
  kind: "nested-spheres",
  schema: NestedSpheresDataSchema,
  classification: true,
  example: { kind: "nested-spheres", trainPerClass: 4, testPerClass: 2 },
  generate: ({ dim, r1, r2, r3, trainPerClass, testPerClass, seed }) =>
    nestedSpheres({ dim, r1, r2, r3, trainPerClass, testPerClass, seed }),
  training: {
    sizes: (c) => ({ dataDim: c.dim, outDim: CLASSES }),
    samplesPerEpoch: (c) => CLASSES * c.trainPerClass,
    task({ train, test, classes }, span) {
      const testSource = classificationSource(test, classes, span);
      return {
        dataDim: train.inputs.dims[1]!,
        outDim: classes,
        train: classificationSource(train, classes, span),
        test: testSource.batch(all(testSource.size)),
      };
    },
  },
});
