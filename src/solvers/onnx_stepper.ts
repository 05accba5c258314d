/**
 * The ONNX stepper: a {@linkcode Stepper} whose every trial step is one
 * ONNX Runtime call of a fused step graph (see step_graph.ts), with the state
 * kept as one typed array per block in the model's dtype. Parameters (and a
 * dynamics' per-sample constants, fed the same way) are bound once and fed
 * without copying; only the new state, the FSAL stage, the error
 * ratio and (when observations need them) the dense blocks' stages come back.
 *
 * @module
 */
import { withOutputs } from "../autodiff/residuals.ts";
import type { Graph } from "../onnx/graph.ts";
import type { Tensor } from "../onnx/tensor.ts";
import type { CompiledGraph, Runtime } from "../runtime/session.ts";
import type { Solver } from "./solver.ts";
import { cachedStepGraph, STEP_NAMES, type StepSystem } from "./step_graph.ts";
import type { FloatArray, State, StateDense, Stepper, TrialStep } from "./stepper.ts";

/** Options of {@linkcode onnxStepper}. */
export interface OnnxStepperOptions {
  /** Where the graphs run. */
  readonly runtime: Runtime;
  /** The system and its blocks; `dense` must be the same for every block (all or none). */
  readonly system: StepSystem;
  /** The Runge–Kutta solver. */
  readonly solver: Solver;
  /** Values of the system's other inputs (its parameters and per-sample constants), in the model dtype. */
  readonly params: Readonly<Record<string, Tensor>>;
  /** Concrete dims of each block, in block order. */
  readonly dims: readonly (readonly number[])[];
  /** Relative tolerance. */
  readonly rtol: number;
  /** Absolute tolerance. */
  readonly atol: number;
  /**
   * Values inside the step graph to return with every trial step, as `extras` (direct backpropagation's
   * residuals: the activations its step VJP reads).
   */
  readonly extraOutputs?: readonly string[];
}

/** Step graphs with extra outputs, per step graph and name list. */
const withExtras = new WeakMap<Graph, Map<string, Graph>>();

function stepGraphWith(step: Graph, names: readonly string[]): Graph {
  if (names.length === 0) return step;
  let perStep = withExtras.get(step);
  if (!perStep) withExtras.set(step, perStep = new Map());
  const key = JSON.stringify(names);
  let g = perStep.get(key);
  if (!g) perStep.set(key, g = withOutputs(step, names));
  return g;
}

function allocateLike(x: FloatArray, n = x.length): FloatArray {
  return x instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
}

/** 2⁻¹²⁶, the smallest positive normal float32. */
const FLOAT32_MIN_NORMAL = 2 ** -126;

/**
 * Compiles the fused step graph and the system graph of `options.system`
 * and returns a stepper over them.
 *
 * @throws {RangeError} when blocks disagree on `dense`, or the dims and blocks differ in number.
 */
export async function onnxStepper(options: OnnxStepperOptions): Promise<Stepper> {
  const { runtime, system, solver, params, dims, rtol, atol, extraOutputs = [] } = options;
  const blocks = system.blocks;
  if (dims.length !== blocks.length) {
    throw new RangeError(`onnxStepper: ${dims.length} block dims for ${blocks.length} blocks`);
  }
  const dense = blocks.some((blk) => blk.dense);
  if (dense && !blocks.every((blk) => blk.dense)) {
    throw new RangeError("onnxStepper: dense output needs every block dense (the observations see whole states)");
  }
  const dtype = system.graph.outputs.find((o) => o.name === blocks[0]!.output)!.dtype as "float32" | "float64";
  const scalar = (v: number): Tensor => ({
    dtype,
    dims: [],
    data: dtype === "float64" ? Float64Array.of(v) : Float32Array.of(v),
  });
  const [step, f]: CompiledGraph[] = await Promise.all([
    runtime.compile(stepGraphWith(cachedStepGraph(system, solver.tableau), extraOutputs)),
    runtime.compile(system.graph),
  ]);
  const fixedFeeds: Record<string, Tensor> = {};
  for (const input of step!.graph.inputs) {
    const p = params[input.name];
    if (p) fixedFeeds[input.name] = p;
  }
  if (solver.tableau.bError !== undefined) {
    // The error ratio runs in the model's dtype: a float32 atol below its smallest normal number rounds to 0 (or
    // loses its digits), and a component that stays 0 then gives 0/0 — every step rejected as if the state were NaN.
    if (!(atol > 0)) {
      throw new RangeError(`onnxStepper: atol must be positive, got ${atol} (0/0 where a state stays 0)`);
    }
    if (dtype === "float32" && atol < FLOAT32_MIN_NORMAL) {
      throw new RangeError(
        `onnxStepper: atol ${atol} is below float32's smallest normal number ${FLOAT32_MIN_NORMAL.toPrecision(3)}; ` +
          "a float32 model needs a larger atol (or step it in float64)",
      );
    }
    fixedFeeds[STEP_NAMES.rtol] = scalar(rtol);
    fixedFeeds[STEP_NAMES.atol] = scalar(atol);
  }
  const fParams: Record<string, Tensor> = {};
  for (const input of f!.graph.inputs) {
    const p = params[input.name];
    if (p) fParams[input.name] = p;
  }
  const block = (y: FloatArray, m: number): Tensor => ({ dtype, dims: dims[m]!, data: y } as Tensor);
  const stepOutputs = [
    STEP_NAMES.ratio,
    ...blocks.map((blk) => STEP_NAMES.y1(blk.name)),
    ...(solver.tableau.fsal ? blocks.map((blk) => STEP_NAMES.k1(blk.name)) : []),
    ...(dense ? blocks.map((blk) => STEP_NAMES.stages(blk.name)) : []),
    ...extraOutputs,
  ];
  const derivativeOutputs = blocks.map((blk) => blk.output);
  const normBlocks = blocks.flatMap((blk, m) => (blk.inNorm ? [m] : []));
  const newStages = solver.tableau.stages - 1;
  let nfe = 0;

  const stepper: Stepper = {
    solver,
    dense,
    get nfe() {
      return nfe;
    },
    async evaluate(t, y) {
      const feeds: Record<string, Tensor> = { ...fParams };
      if (system.time !== undefined) feeds[system.time] = scalar(t);
      blocks.forEach((blk, m) => {
        if (blk.input !== undefined) feeds[blk.input] = block(y[m]!, m);
      });
      nfe++;
      const out = await f!.run(feeds, derivativeOutputs);
      return derivativeOutputs.map((name) => out[name]!.data as FloatArray);
    },
    async step(t0, h, y0, f0): Promise<TrialStep> {
      const feeds: Record<string, Tensor> = { ...fixedFeeds, [STEP_NAMES.t0]: scalar(t0), [STEP_NAMES.h]: scalar(h) };
      blocks.forEach((blk, m) => {
        feeds[STEP_NAMES.y0(blk.name)] = block(y0[m]!, m);
        feeds[STEP_NAMES.k0(blk.name)] = block(f0[m]!, m);
      });
      nfe += newStages;
      const out = await step!.run(feeds, stepOutputs);
      const ratio = out[STEP_NAMES.ratio]!.data[0] as number;
      const y1 = blocks.map((blk) => out[STEP_NAMES.y1(blk.name)]!.data as FloatArray);
      const f1 = solver.tableau.fsal
        ? blocks.map((blk) => out[STEP_NAMES.k1(blk.name)]!.data as FloatArray)
        : undefined;
      let denseFit: TrialStep["dense"];
      if (dense) {
        const stageData = blocks.map((blk) => out[STEP_NAMES.stages(blk.name)]!.data as FloatArray);
        denseFit = (t1: number, f1s: State): StateDense => {
          const fits = blocks.map((_, m) => {
            const n = y0[m]!.length;
            const stages = Array.from(
              { length: solver.tableau.stages },
              (_, i) => Float64Array.from(stageData[m]!.subarray(i * n, (i + 1) * n)),
            );
            return solver.interpolation.fit({
              t0,
              t1,
              y0: Float64Array.from(y0[m]!),
              y1: Float64Array.from(y1[m]!),
              stages,
              f1: Float64Array.from(f1s[m]!),
            });
          });
          return (t: number) => fits.map((fit) => fit(t));
        };
      }
      const extras = extraOutputs.length > 0 ? Object.fromEntries(extraOutputs.map((n) => [n, out[n]!])) : undefined;
      return { y1, f1, ratio: Number.isNaN(ratio) ? Infinity : ratio, dense: denseFit, ...(extras ? { extras } : {}) };
    },
    norm(v, y) {
      // The step graph's norm: one RMS over the norm blocks, or the largest block RMS ("mixed").
      let s = 0, count = 0, largest = 0;
      for (const m of normBlocks) {
        const vm = v[m]!, ym = y[m]!;
        let sm = 0;
        for (let i = 0; i < vm.length; i++) {
          const r = vm[i]! / (atol + rtol * Math.abs(ym[i]!));
          sm += r * r;
        }
        s += sm;
        count += vm.length;
        largest = Math.max(largest, Math.sqrt(sm / Math.max(vm.length, 1)));
      }
      return system.norm === "mixed" ? largest : Math.sqrt(s / Math.max(count, 1));
    },
    axpy(y, h, v) {
      return y.map((ym, m) => {
        const vm = v[m]!, out = allocateLike(ym);
        for (let i = 0; i < ym.length; i++) out[i] = ym[i]! + h * vm[i]!;
        return out;
      });
    },
    sub(v, w) {
      return v.map((vm, m) => {
        const wm = w[m]!, out = allocateLike(vm);
        for (let i = 0; i < vm.length; i++) out[i] = vm[i]! - wm[i]!;
        return out;
      });
    },
    finite(y) {
      return y.every((ym) => ym.every(Number.isFinite));
    },
  };
  return stepper;
}
