/**
 * Fused step graphs: one generated ONNX graph computes a whole explicit
 * Runge–Kutta step of a system of ODEs — every stage, the new state, the
 * embedded error ratio against atol + rtol·max(|y0|, |y1|), the FSAL stage
 * and the stages dense output needs — so that an adaptive step is one ONNX
 * Runtime call and the stage arithmetic runs in ORT kernels, in the model's
 * dtype, instead of in JavaScript loops over float64 copies.
 *
 * The system is a graph (f, the GQ backward dynamics, the adjoint's augmented
 * dynamics…) whose state is split into blocks: each block has the system
 * output that is its derivative, and the system input that carries it — or
 * none, when no derivative depends on it (the adjoint's a_θ and a_t, which
 * only integrate). The system graph is inlined once per stage that needs it.
 *
 * Step graph names (`STEP_NAMES`, all starting `rk.`): inputs `rk.t0`,
 * `rk.h`, `rk.rtol`, `rk.atol` (scalars of the model dtype), `rk.y0.<block>`,
 * `rk.k0.<block>` (f(t0, y0): the FSAL stage of the previous step) and the
 * system's other inputs (its parameters, and per-sample constants such as a
 * neural SDE's noise coefficients, batch first like the state) under their
 * own names, fed unchanged to every stage; outputs
 * `rk.y1.<block>`, `rk.k1.<block>` (FSAL tableaux: the last stage, f(t1, y1)),
 * `rk.ratio` (the error ratio; 0 on fixed-step tableaux; NaN when any new
 * value or FSAL stage is not finite) and `rk.stages.<block>` ([stages, …shape], for dense
 * blocks).
 *
 * @module
 */
import { reduceSum, unsqueeze } from "../autodiff/rule.ts";
import { GraphBuilder, type Value } from "../onnx/builder.ts";
import { GraphError } from "../onnx/errors.ts";
import { attr, defaultOpset, type Graph } from "../onnx/graph.ts";
import { inlineGraph } from "../onnx/inline.ts";
import { tensor } from "../onnx/tensor.ts";
import type { ButcherTableau } from "./tableau.ts";

/** One block of a system's state. */
export interface StepBlock {
  /** Block name, used in the step graph's input and output names. */
  readonly name: string;
  /** System input carrying this block; absent when no derivative depends on it. */
  readonly input?: string;
  /** System output: the block's derivative. */
  readonly output: string;
  /** Whether the block takes part in the error norm. */
  readonly inNorm: boolean;
  /** Whether the step exports this block's stages for dense output. */
  readonly dense: boolean;
}

/** A system of ODEs as a graph, split into state blocks. */
export interface StepSystem {
  /** The system graph. */
  readonly graph: Graph;
  /** Its scalar time input, if it has one. */
  readonly time?: string;
  /** The state blocks, in order. */
  readonly blocks: readonly StepBlock[];
  /**
   * How the error ratio combines the norm blocks: `"rms"`, one RMS over all
   * their elements; `"mixed"`, the largest of the blocks' own RMS norms
   * (torchdiffeq's adjoint norm, each tensor weighing the same whatever its
   * size). @default "rms"
   */
  readonly norm?: "rms" | "mixed";
}

/** Options of {@linkcode stepGraph}. */
export interface StepGraphOptions {
  /**
   * `"input"`: f(t0, y0) is fed as `k0.<block>` (FSAL reuse across steps);
   * `"compute"`: the graph evaluates it (a self-contained step, as a VJP of the
   * whole step needs). @default "input"
   */
  readonly firstStage?: "input" | "compute";
  /**
   * The variant for differentiation: the only output is `rk.y1.<block>` (no
   * error ratio, FSAL stage or dense stages), so a VJP of the whole step —
   * direct backpropagation's — computes nothing for step control.
   * @default false
   */
  readonly yOnly?: boolean;
}

/** Names of the step graph's inputs and outputs. */
export const STEP_NAMES = {
  t0: "rk.t0",
  h: "rk.h",
  rtol: "rk.rtol",
  atol: "rk.atol",
  ratio: "rk.ratio",
  y0: (block: string) => `rk.y0.${block}`,
  k0: (block: string) => `rk.k0.${block}`,
  y1: (block: string) => `rk.y1.${block}`,
  k1: (block: string) => `rk.k1.${block}`,
  stages: (block: string) => `rk.stages.${block}`,
} as const;

/** The prefix of every name the step graph adds; the system's own inputs must not start with it. */
export const STEP_PREFIX = "rk.";

/** The prefix of the values that stage i's copy of the system computes (the system's value names follow it). */
const stagePrefix = (i: number) => `stage${i}/`;

/**
 * The stage whose copy of the system computed a step graph's value, from its name; undefined for the step's own
 * values (stage states, sums, error norm). Equal names in two step graphs of one system and tableau are the same
 * computation on that stage's inputs, whatever the variant.
 */
export function stageOf(name: string): number | undefined {
  const m = /^stage(\d+)\//.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Builds the fused step graph of `tableau` applied to `system`.
 *
 * @throws {GraphError} when a block names a system input or output that does
 * not exist, or blocks disagree in dtype.
 *
 * @example One dopri5 step of dz/dt = −z as a graph
 * ```ts
 * import { GraphBuilder } from "../onnx/builder.ts";
 * import { stepGraph } from "./step_graph.ts";
 * import { DOPRI5_TABLEAU } from "./tableau.ts";
 * const g = new GraphBuilder("decay");
 * const z = g.input("z", "float64", ["batch", 2]);
 * g.output(g.op1("Neg", [z]), "dz");
 * const step = stepGraph({ graph: g.build(), blocks: [{ name: "z", input: "z", output: "dz", inNorm: true, dense: true }] }, DOPRI5_TABLEAU);
 * const outputs = step.outputs.map((o) => o.name);
 * if (!outputs.includes("rk.y1.z") || !outputs.includes("rk.ratio") || !outputs.includes("rk.k1.z")) throw new Error("outputs");
 * ```
 */
export function stepGraph(system: StepSystem, tableau: ButcherTableau, options: StepGraphOptions = {}): Graph {
  const { firstStage = "input", yOnly = false } = options;
  const g = system.graph;
  const place = { graph: g.name };
  const blockTypes = system.blocks.map((blk) => {
    const out = g.outputs.find((o) => o.name === blk.output);
    if (!out) throw new GraphError(`Step block "${blk.name}": the system has no output "${blk.output}"`, place);
    if (blk.input !== undefined && !g.inputs.some((i) => i.name === blk.input)) {
      throw new GraphError(`Step block "${blk.name}": the system has no input "${blk.input}"`, place);
    }
    return out;
  });
  const dtype = blockTypes[0]?.dtype;
  if (dtype !== "float32" && dtype !== "float64") {
    throw new GraphError(`A step system needs float32 or float64 blocks, got ${dtype ?? "none"}`, place);
  }
  if (blockTypes.some((t) => t.dtype !== dtype)) {
    throw new GraphError(`Step blocks must share one dtype: ${blockTypes.map((t) => t.dtype).join(", ")}`, place);
  }
  const b = new GraphBuilder(`${g.name}_${tableau.name}_step`, { opset: defaultOpset(g), producer: "quadjoint" });
  const scalarInput = (name: string) => b.input(name, dtype, []);
  const t0 = scalarInput(STEP_NAMES.t0);
  const h = scalarInput(STEP_NAMES.h);
  const adaptive = tableau.bError !== undefined && !yOnly;
  const rtol = adaptive ? scalarInput(STEP_NAMES.rtol) : undefined;
  const atol = adaptive ? scalarInput(STEP_NAMES.atol) : undefined;
  const y0 = system.blocks.map((blk, i) => b.input(STEP_NAMES.y0(blk.name), dtype, blockTypes[i]!.shape));
  const k0 = firstStage === "input"
    ? system.blocks.map((blk, i) => b.input(STEP_NAMES.k0(blk.name), dtype, blockTypes[i]!.shape))
    : undefined;
  // The system's parameters and constants pass through under their own names.
  const blockInputs = new Set(system.blocks.flatMap((blk) => (blk.input !== undefined ? [blk.input] : [])));
  const params = new Map<string, Value>();
  for (const input of g.inputs) {
    if (input.name === system.time || blockInputs.has(input.name)) continue;
    if (input.name.startsWith(STEP_PREFIX)) {
      throw new GraphError(
        `System input "${input.name}" starts with "${STEP_PREFIX}", which step graphs reserve; rename it`,
        { ...place, valueName: input.name },
      );
    }
    params.set(input.name, b.input(input.name, input.dtype, input.shape));
  }
  const constant = (v: number) => b.constant(tensor(dtype === "float64" ? Float64Array.of(v) : Float32Array.of(v), []));
  const timesH = (w: number) => (w === 1 ? h : b.op1("Mul", [h, constant(w)]));

  /** x + h·Σ w_j k_j over the stages given (x omitted: just the sum); undefined when every weight is zero. */
  const combine = (x: Value | undefined, w: readonly number[], k: readonly Value[]): Value | undefined => {
    const terms = w.flatMap((wj, j) => (wj === 0 ? [] : [b.op1("Mul", [k[j]!, timesH(wj)])]));
    if (x) terms.unshift(x);
    if (terms.length === 0) return undefined;
    return terms.length === 1 ? terms[0]! : b.op1("Sum", terms);
  };

  const s = tableau.stages;
  const stages: Value[][] = []; // stages[i][block]
  const stageStates: (Value | undefined)[][] = [];
  for (let i = 0; i < s; i++) {
    const ti = i === 0 ? t0 : b.op1("Add", [t0, timesH(tableau.c[i]!)]);
    const Y = system.blocks.map((blk, m) =>
      blk.input === undefined
        ? undefined
        : (i === 0 ? y0[m]! : combine(y0[m]!, tableau.a[i]!, stages.map((k) => k[m]!))!)
    );
    stageStates.push(Y);
    if (i === 0 && k0) {
      stages.push(k0);
      continue;
    }
    const bind = new Map<string, Value>(params);
    if (system.time !== undefined) bind.set(system.time, ti);
    system.blocks.forEach((blk, m) => {
      if (blk.input !== undefined) bind.set(blk.input, Y[m]!);
    });
    const out = inlineGraph(b, g, bind, { prefix: stagePrefix(i), sharedPrefix: "system/" });
    stages.push(system.blocks.map((blk) => out.get(blk.output)!));
  }
  const y1 = system.blocks.map((blk, m) => {
    // FSAL: the last stage is evaluated at y1, so y1 is its state.
    if (tableau.fsal && blk.input !== undefined) return stageStates[s - 1]![m]!;
    return combine(y0[m]!, tableau.b, stages.map((k) => k[m]!))!;
  });
  system.blocks.forEach((blk, m) => {
    b.output(y1[m]!, STEP_NAMES.y1(blk.name));
    if (yOnly) return;
    if (tableau.fsal) b.output(stages[s - 1]![m]!, STEP_NAMES.k1(blk.name));
    if (blk.dense) {
      const all = stages.map((k) => unsqueeze(b, k[m]!, [0]));
      b.output(b.op1("Concat", all, { axis: attr.int(0) }), STEP_NAMES.stages(blk.name));
    }
  });
  // The differentiation variant stops here: step control plays no part in a VJP of the step.
  if (yOnly) return b.build();

  const sumAll = (x: Value) => (x.shape.length === 0 ? x : reduceSum(b, x, [...x.shape.keys()], false));
  // Any non-finite new value or FSAL stage makes the ratio NaN: Σ 0·x is 0 unless some element is NaN or ±Inf
  // (multiplying first, so that large finite values cannot overflow the sum).
  const checked = tableau.fsal ? [...y1, ...stages[s - 1]!] : y1;
  const check = b.op1("Sum", checked.map((x) => sumAll(b.op1("Mul", [x, constant(0)]))).concat(constant(0)));
  let ratio = check;
  if (adaptive) {
    const squares: Value[] = [];
    const counts: Value[] = [];
    system.blocks.forEach((blk, m) => {
      if (!blk.inNorm) return;
      const err = combine(undefined, tableau.bError!, stages.map((k) => k[m]!));
      if (!err) return;
      const scale = b.op1("Add", [
        atol!,
        b.op1("Mul", [rtol!, b.op1("Max", [b.op1("Abs", [y0[m]!]), b.op1("Abs", [y1[m]!])])]),
      ]);
      const q = b.op1("Div", [err, scale]);
      squares.push(sumAll(b.op1("Mul", [q, q])));
      counts.push(b.op1("Cast", [b.op1("Size", [y0[m]!])], { to: attr.int(dtype === "float64" ? 11 : 1) }));
    });
    if (squares.length > 0 && system.norm === "mixed") {
      // max over blocks of sqrt(Σ q² / n_b); max(n_b, 1) keeps an empty block at 0.
      const norms = squares.map((sq, i) =>
        b.op1("Sqrt", [b.op1("Div", [sq, b.op1("Max", [counts[i]!, constant(1)])])])
      );
      ratio = b.op1("Add", [norms.length === 1 ? norms[0]! : b.op1("Max", norms), check]);
    } else if (squares.length > 0) {
      const total = squares.length === 1 ? squares[0]! : b.op1("Sum", squares);
      const count = counts.length === 1 ? counts[0]! : b.op1("Sum", counts);
      // max(count, 1): an empty block set has ratio 0, as rmsNorm.
      const mean = b.op1("Div", [total, b.op1("Max", [count, constant(1)])]);
      ratio = b.op1("Add", [b.op1("Sqrt", [mean]), check]);
    }
  }
  b.output(ratio, STEP_NAMES.ratio);
  return b.build();
}

/** Step graphs built so far, per system graph and tableau object: building walks the graph once per stage, so do it once. */
const built = new WeakMap<Graph, WeakMap<ButcherTableau, Map<string, Graph>>>();

/** {@linkcode stepGraph}, memoised per system graph object, tableau object and options. */
export function cachedStepGraph(system: StepSystem, tableau: ButcherTableau, options: StepGraphOptions = {}): Graph {
  let perSystem = built.get(system.graph);
  if (!perSystem) built.set(system.graph, perSystem = new WeakMap());
  let perTableau = perSystem.get(tableau);
  if (!perTableau) perSystem.set(tableau, perTableau = new Map());
  const key = JSON.stringify([
    system.time,
    system.blocks,
    system.norm ?? "rms",
    options.firstStage ?? "input",
    options.yOnly ?? false,
  ]);
  let g = perTableau.get(key);
  if (!g) perTableau.set(key, g = stepGraph(system, tableau, options));
  return g;
}
