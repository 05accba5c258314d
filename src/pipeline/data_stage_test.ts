import { assert, assertEquals } from "../util/testing.ts";
import { exponentialProblem } from "../data/analytic.ts";
import { nestedSpheres } from "../data/nested_spheres.ts";
import { sines } from "../data/sines.ts";
import { makeDataset } from "./data_stage.ts";
import { DataSchema } from "./schema.ts";

Deno.test("makeDataset() passes every data setting through to its generator", () => {
  const spheres = makeDataset(DataSchema.parse({ kind: "nested-spheres", dim: 3, r1: 0.2, trainPerClass: 7, seed: 4 }));
  assert(spheres.kind === "nested-spheres");
  const direct = nestedSpheres({ dim: 3, r1: 0.2, trainPerClass: 7, seed: 4 });
  assertEquals(spheres.data.train.inputs.data, direct.train.inputs.data);
  assertEquals(spheres.data.test.labels.data, direct.test.labels.data);

  const s = makeDataset(
    DataSchema.parse({ kind: "sines", times: "irregular", timesPerSequence: 4, train: 3, seed: 2 }),
  );
  assert(s.kind === "sines");
  assertEquals(
    s.data.train.sequences,
    sines({ times: "irregular", timesPerSequence: 4, train: 3, seed: 2 }).train.sequences,
  );

  const a = makeDataset(DataSchema.parse({ kind: "analytic", z0: 2, T: { min: 1, max: 2, count: 3 } }));
  assert(a.kind === "analytic");
  assertEquals(a.data.dLda, exponentialProblem({ z0: 2, T: { min: 1, max: 2, count: 3 } }).dLda);

  const c = makeDataset(DataSchema.parse({ kind: "crossing-trajectories" }));
  assert(c.kind === "crossing-trajectories" && c.data.inputs.data[0] === 1);
});
