/**
 * Nested spheres (Dupont et al., "Augmented Neural ODEs", 2019): class 0 fills
 * the ball of radius r1, class 1 the shell between r2 and r3. A flow in the
 * same dimension cannot separate them linearly without augmentation.
 *
 * Points are uniform by volume in their region (direction from a normalised
 * Gaussian vector, radius by inverting the volume CDF), shuffled so that the
 * order says nothing about the label. Train and test come from independent
 * streams of the seed, so the test set does not change with the training size.
 *
 * @module
 */
import { type Tensor, tensor } from "../onnx/tensor.ts";
import { Random } from "../util/random.ts";

/** Options for {@linkcode nestedSpheres}. */
export interface NestedSpheresOptions {
  /** Dimension of the points. @default 2 */
  dim?: number;
  /** Radius of the inner ball (class 0). @default 0.4 */
  r1?: number;
  /** Inner radius of the shell (class 1). @default 0.7 */
  r2?: number;
  /** Outer radius of the shell. @default 0.9 */
  r3?: number;
  /** Training points per class. @default 1000 */
  trainPerClass?: number;
  /** Test points per class. @default 50 */
  testPerClass?: number;
  /** Seed. @default 0 */
  seed?: number;
}

/** Points and their class labels. */
export interface LabelledPoints {
  /** Points, [n, dim] float64. */
  readonly inputs: Tensor<"float64">;
  /** Labels 0 (inner ball) or 1 (shell), [n] int32. */
  readonly labels: Tensor<"int32">;
}

/** Training and test splits. */
export interface NestedSpheres {
  /** Training points, `trainPerClass` of each class. */
  readonly train: LabelledPoints;
  /** Test points, `testPerClass` of each class. */
  readonly test: LabelledPoints;
  /** Number of classes (2). */
  readonly classes: 2;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`nestedSpheres option ${name} must be a positive integer, got ${v}`);
  }
}

function sample(rng: Random, perClass: number, dim: number, r1: number, r2: number, r3: number): LabelledPoints {
  const n = 2 * perClass;
  const points = new Float64Array(n * dim);
  const labels = new Int32Array(n);
  const order = rng.permutation(n);
  const dir = new Float64Array(dim);
  for (let k = 0; k < n; k++) {
    const label = k < perClass ? 0 : 1;
    let norm = 0;
    while (norm === 0) {
      rng.fillNormal(dir);
      norm = Math.hypot(...dir);
    }
    const u = rng.uniform();
    // Uniform by volume: P(R ≤ r) ∝ r^dim − lo^dim.
    const [lo, hi] = label === 0 ? [0, r1] : [r2, r3];
    const radius = Math.pow(lo ** dim + u * (hi ** dim - lo ** dim), 1 / dim);
    const row = order[k]!;
    labels[row] = label;
    for (let j = 0; j < dim; j++) points[row * dim + j] = (radius * dir[j]!) / norm;
  }
  return { inputs: tensor(points, [n, dim]), labels: tensor(labels, [n]) };
}

/**
 * Generates the nested-spheres data.
 *
 * @throws {RangeError} unless 0 < r1 < r2 < r3 and the sizes are positive integers.
 *
 * @example
 * ```ts
 * import { nestedSpheres } from "./nested_spheres.ts";
 * const { train } = nestedSpheres({ trainPerClass: 10, seed: 1 });
 * if (train.inputs.dims[0] !== 20 || train.inputs.dims[1] !== 2) throw new Error("wrong shape");
 * ```
 */
export function nestedSpheres(options: NestedSpheresOptions = {}): NestedSpheres {
  const { dim = 2, r1 = 0.4, r2 = 0.7, r3 = 0.9, trainPerClass = 1000, testPerClass = 50, seed = 0 } = options;
  positiveInt("dim", dim);
  positiveInt("trainPerClass", trainPerClass);
  positiveInt("testPerClass", testPerClass);
  if (!(0 < r1 && r1 < r2 && r2 < r3 && Number.isFinite(r3))) {
    throw new RangeError(`nestedSpheres radii must satisfy 0 < r1 < r2 < r3, got r1 ${r1}, r2 ${r2}, r3 ${r3}`);
  }
  const root = new Random(seed);
  const trainRng = root.fork();
  const testRng = root.fork();
  return {
    train: sample(trainRng, trainPerClass, dim, r1, r2, r3),
    test: sample(testRng, testPerClass, dim, r1, r2, r3),
    classes: 2,
  };
}
