/**
 * ONNX Runtime sessions: backend choice with CPU fallback, thread control,
 * input checking and a cache keyed by graph identity.
 *
 * ONNX Runtime copies every output and accepts inputs without copying; each
 * `run` costs about 10 µs, so the solvers call it once per function
 * evaluation with fused graphs rather than many small ones.
 *
 * Why one file: the runtime, its compiled graphs and their errors share the
 * backend state (fallback, device, per-graph reports); the CUDA libraries and
 * the child-process probe live in `_cuda_libs.ts` and `_backend_probe.ts`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import * as ort from "onnxruntime-node";

// Native log lines duplicate the errors we raise; keep only fatal ones.
ort.env.logLevel = "fatal";
disableOrtTelemetry();

/**
 * ONNX Runtime 1.30's Linux build starts Microsoft's telemetry with its first
 * session: an event queue in ~/.cache/Microsoft/DeveloperTools/.onnxruntime,
 * an empty /tmp/mat-debug-<pid>.log left by every process, upload attempts.
 * ORT reads ORT_DISABLE_TELEMETRY when that first session starts, so setting
 * it here (and for the child processes, which inherit it) turns it off; a value
 * the user set is kept. Without env permission nothing changes.
 */
function disableOrtTelemetry(): void {
  try {
    if (Deno.env.get("ORT_DISABLE_TELEMETRY") === undefined) Deno.env.set("ORT_DISABLE_TELEMETRY", "1");
  } catch { /* no --allow-env: ORT's default stands */ }
}
import type { DType, TypedArrayOf } from "../onnx/dtype.ts";
import { GraphError } from "../onnx/errors.ts";
import { formatShape, type Graph, type ValueInfo } from "../onnx/graph.ts";
import { lowerForCpuSpeed, lowerForRuntime, SPLIT_ROWS_MAX, splitRowGemms, splittableRowDims } from "../onnx/lower.ts";
import { encodeModel } from "../onnx/proto.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { backendFailureReason, probeBackend } from "./_backend_probe.ts";
import { cudaDeviceName } from "./_cuda_device.ts";
import { prepareCuda } from "./_cuda_libs.ts";

export { nvidiaDriverVersion } from "./_cuda_device.ts";

/**
 * Where graphs run. `cuda` and `webgpu` fall back to `cpu` unless `strict`.
 * `cuda` needs the libraries `deno task setup-gpu` installs (`.gpu/lib`, or the
 * folder `QUADJOINT_GPU_LIBS` names), an NVIDIA driver for CUDA 13 (≥ 580;
 * `QUADJOINT_CUDA_DRIVER` may name its `libcuda.so.1`) and `--allow-ffi`.
 */
export type Backend = "cpu" | "cuda" | "webgpu";

/** The backends quadjoint knows, in the order the CLI lists them. */
export const BACKENDS: readonly Backend[] = ["cpu", "cuda", "webgpu"];

/** Options for a {@linkcode Runtime}. */
export interface RuntimeOptions {
  /** Requested backend. @default "cpu" */
  backend?: Backend;
  /** Fail instead of falling back to CPU when the backend cannot start. @default false */
  strict?: boolean;
  /**
   * CUDA device index (`cuda` only). onnxruntime-node 1.30 passes only the device id to the CUDA provider,
   * so its other options keep ONNX Runtime's defaults: the memory arena grows by powers of two and cuDNN
   * searches convolution algorithms exhaustively, once per shape. @default 0
   */
  device?: number;
  /** Threads per op (ONNX Runtime intra-op threads); 0 lets ONNX Runtime choose. @default 0 */
  threads?: number;
  /** ONNX Runtime graph optimisation level. @default "all" */
  optimization?: "disabled" | "basic" | "extended" | "all";
  /**
   * Flush subnormal floats to zero in ONNX Runtime's kernels (x86's FTZ and DAZ), as JAX and TensorFlow do on the
   * CPU. Arithmetic on subnormals (|x| < 1.2e-38 in float32) runs in microcode, tens of times slower: a saturated
   * softplus (pre-activations past ±87) or a decaying cotangent makes them, and long solves hit them — one gq
   * gradient at width 1000, t ∈ [0, 100] took 345 ms with them and 150 ms flushed (torch: 335 and 180 with
   * `torch.set_flush_denormal`). Values that small then read as zero. Process-wide: ONNX Runtime sets the
   * mode of the thread that creates its first session — JavaScript's thread, so from then on JavaScript's own
   * arithmetic flushes subnormal doubles (below 2.2e-308) too — and a later runtime asking for the other mode is
   * refused (within one JavaScript realm: a Worker keeps its own thread's mode and its own check). CPU kernels only:
   * CUDA kernels keep their own denormal handling. @default true
   */
  flushDenormals?: boolean | undefined;
  /**
   * Let cuBLAS and cuDNN run float32 products on TF32 tensor cores (`cuda` only), a 10-bit mantissa: ONNX
   * Runtime's CUDA provider turns TF32 on by default, and on an H200 it moved quickstart's gradients 4.7e-4
   * (relative) from the CPU's. Off, float32 stays float32, as torch's matmuls do by default. Process-wide and
   * set before the CUDA libraries load, through `NVIDIA_TF32_OVERRIDE=0` (which also overrides any later
   * request for TF32 in this process, and which child processes inherit): a later runtime asking for the other
   * mode is refused. @default false
   */
  tf32?: boolean | undefined;
  /** Receives the one-line fallback warning. @default console.warn */
  warn?: (message: string) => void;
}

/** A runtime failed to start a requested backend under `strict`. */
export class BackendError extends Error {
  /** The backend that failed. */
  readonly backend: Backend;
  /** Makes the error for `backend`: `reason`, or else the first line of `cause`, follows the backend's name. */
  constructor(backend: Backend, cause: unknown, reason: string = firstLine(cause)) {
    super(`Backend ${backend} cannot start: ${reason}`, { cause });
    this.name = "BackendError";
    this.backend = backend;
  }
}

/** An input fed at run time does not match the graph. */
export class InputError extends TypeError {
  /** The input at fault. */
  readonly inputName: string;
  /** Makes the error for input `inputName`. */
  constructor(message: string, inputName: string) {
    super(message);
    this.name = "InputError";
    this.inputName = inputName;
  }
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n").find((l) => l.trim() !== "")?.trim() ?? "unknown error";
}

const ORT_TYPE: Readonly<Record<DType, ort.Tensor.Type>> = {
  float32: "float32",
  float64: "float64",
  int64: "int64",
  int32: "int32",
  bool: "bool",
};

/**
 * Owns ONNX Runtime sessions for one backend choice.
 *
 * @example Run a graph on the CPU
 * ```ts
 * import { GraphBuilder } from "../onnx/builder.ts";
 * import { fromNumbers } from "../onnx/tensor.ts";
 * import { Runtime } from "./session.ts";
 * const b = new GraphBuilder("double");
 * const x = b.input("x", "float64", [2]);
 * b.output(b.op1("Add", [x, x]), "y");
 * const rt = new Runtime();
 * const out = await rt.compile(b.build()).then((s) => s.run({ x: fromNumbers([1, 2], [2], "float64") }));
 * if (out.y!.data[1] !== 4) throw new Error("wrong sum");
 * ```
 */
export class Runtime {
  /** The backend requested. */
  readonly requested: Backend;
  #active: Backend;
  #fellBack = false;
  /** Graph names already reported as running partly on the CPU under a GPU backend. */
  readonly #partlyOnCpu = new Set<string>();
  #deviceName: string | undefined;
  /** The child-process trial of a GPU backend, run once before its first session here. */
  #probe: ReturnType<typeof probeBackend> | undefined;
  readonly #options: Required<Omit<RuntimeOptions, "backend" | "flushDenormals" | "tf32">> & {
    flushDenormals: boolean;
    tf32: boolean;
  };
  #byObject = new WeakMap<Graph, Promise<CompiledGraph>>();
  readonly #byContent = new Map<string, Promise<CompiledGraph>>();
  /** What each session promise resolved to, for the synchronous released check. */
  readonly #made = new WeakMap<Promise<CompiledGraph>, CompiledGraph>();

  /** Checks the options; sessions are created lazily by {@linkcode Runtime.compile}. */
  constructor(options: RuntimeOptions = {}) {
    this.requested = options.backend ?? "cpu";
    if (!BACKENDS.includes(this.requested)) {
      throw new RangeError(`Unknown backend "${this.requested}": use one of ${BACKENDS.join(", ")}`);
    }
    this.#active = this.requested;
    const threads = options.threads ?? 0;
    if (!Number.isInteger(threads) || threads < 0) {
      throw new RangeError(`threads must be a non-negative integer, got ${threads}`);
    }
    const device = options.device ?? 0;
    if (!Number.isInteger(device) || device < 0) {
      throw new RangeError(`device must be a non-negative integer, got ${device}`);
    }
    this.#options = {
      strict: options.strict ?? false,
      device,
      threads,
      optimization: options.optimization ?? "all",
      flushDenormals: options.flushDenormals ?? true,
      tf32: options.tf32 ?? false,
      warn: options.warn ?? ((m) => console.warn(m)),
    };
  }

  /** The backend sessions actually run on (after any fallback). */
  get backend(): Backend {
    return this.#active;
  }

  /** Whether this runtime's sessions flush subnormal floats to zero (`RuntimeOptions.flushDenormals`). */
  get flushDenormals(): boolean {
    return this.#options.flushDenormals;
  }

  /**
   * The device sessions run on, once a `cuda` session has started: "NVIDIA H200 (cuda:0)", or "cuda:0" where
   * the driver publishes no name; `undefined` on the CPU.
   */
  get deviceName(): string | undefined {
    return this.#active === "cuda" ? this.#deviceName : undefined;
  }

  /**
   * Compiles a graph into a session, reusing one for the same graph object or
   * the same model bytes. float64 ops that ORT lacks are lowered first; a CPU session (also one a GPU backend falls
   * back to) runs the CPU's kernel rewrites too (`lowerForCpuSpeed`).
   */
  compile(graph: Graph): Promise<CompiledGraph> {
    // A session someone released is not handed out again: the graph gets a fresh one. Checked synchronously (a
    // released graph's promise has resolved, so #made knows it), so two compiles at once make one session.
    const released = (q: Promise<CompiledGraph>) => this.#made.get(q)?.released === true;
    const cached = this.#byObject.get(graph);
    if (cached && !released(cached)) return cached;
    // The key is the graph as every backend runs it; the CPU's own rewrites are applied when its session is made.
    const runnable = lowerForRuntime(graph);
    const bytes = encodeModel(runnable);
    const key = createHash("sha256").update(bytes).digest("hex");
    let p = this.#byContent.get(key);
    if (p && released(p)) p = undefined;
    if (!p) {
      const made = this.#create(graph, bytes, runnable);
      p = made;
      this.#byContent.set(key, made);
      made.then((c) => this.#made.set(made, c), () => this.#byContent.delete(key));
    }
    this.#byObject.set(graph, p);
    return p;
  }

  /** Number of distinct sessions held. */
  get cachedSessions(): number {
    return this.#byContent.size;
  }

  /** Releases every session; a later {@linkcode Runtime.compile} creates fresh ones. */
  async dispose(): Promise<void> {
    const all = [...this.#byContent.values()];
    this.#byContent.clear();
    this.#byObject = new WeakMap();
    for (const p of all) {
      try {
        await (await p).release();
      } catch { /* a session that failed to start has nothing to release */ }
    }
  }

  /** Falls back to CPU with one warning, or under `strict` throws {@linkcode BackendError}. */
  #fallBack(why: string, cause: unknown = new Error(why)): void {
    if (this.#options.strict) throw new BackendError(this.#active, cause, why);
    if (!this.#fellBack) {
      this.#options.warn(`quadjoint: backend ${this.#active} unavailable (${why}); falling back to cpu`);
      this.#fellBack = true;
    }
    this.#active = "cpu";
  }

  /**
   * A session on the CUDA provider. It is first created with CPU fallback disabled, so that ONNX Runtime
   * refuses a graph with nodes the provider cannot run (it logs node placement only at verbose level); such a
   * graph is created again with fallback, and reported once per graph name. The cost is a second session
   * creation for those graphs only.
   */
  async #createCuda(
    graph: Graph,
    bytes: Uint8Array,
    base: ort.InferenceSession.SessionOptions,
  ): Promise<ort.InferenceSession> {
    const executionProviders = [{ name: "cuda", deviceId: this.#options.device } as const];
    const extra = base.extra as { session: Record<string, unknown> };
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        ...base,
        executionProviders,
        // ONNX Runtime logs its refusal at error level before throwing it: the refusal is expected, so quiet.
        logSeverityLevel: 4,
        extra: { ...extra, session: { ...extra.session, disable_cpu_ep_fallback: "1" } },
      });
    } catch (e) {
      if (!PLACED_ON_CPU.test(e instanceof Error ? e.message : String(e))) throw e;
      session = await ort.InferenceSession.create(bytes, { ...base, executionProviders });
      if (!this.#partlyOnCpu.has(graph.name)) {
        this.#partlyOnCpu.add(graph.name);
        this.#options.warn(
          `quadjoint: graph ${graph.name} runs partly on cpu under cuda (ONNX Runtime places some of its nodes ` +
            `on the CPU: shape computations, or ops without a CUDA kernel)`,
        );
      }
    }
    if (this.#deviceName === undefined) {
      const id = this.#options.device, name = cudaDeviceName(id);
      this.#deviceName = name === undefined ? `cuda:${id}` : `${name} (cuda:${id})`;
    }
    return session;
  }

  async #create(graph: Graph, bytes: Uint8Array, runnable: Graph): Promise<CompiledGraph> {
    claimDenormalMode(this.#options.flushDenormals);
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: this.#options.optimization,
      intraOpNumThreads: this.#options.threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      logSeverityLevel: 3,
      // Every session owns its thread pool, and by default its threads spin after a run. A solve alternates
      // between several sessions (step, f, node batches), so spinning threads of the last one steal the cores
      // from the next: measured 2–3× slower calls on 2 cores. Idle threads must sleep.
      extra: {
        session: {
          intra_op: { allow_spinning: "0" },
          inter_op: { allow_spinning: "0" },
          set_denormal_as_zero: this.#options.flushDenormals ? "1" : "0",
        },
      },
    };
    if (this.#active === "webgpu") {
      // Dawn prints native lines when there is no adapter: find out in a child process, whose stderr is kept.
      this.#probe ??= probeBackend(this.#active, bytes);
      const probe = await this.#probe;
      if (probe !== undefined && !probe.starts) this.#fallBack(probe.why);
    }
    if (this.#active === "cuda") {
      // The driver and the CUDA libraries are loaded into this process once, before the first CUDA session.
      const ready = claimTf32Mode(this.#options.tf32) ?? prepareCuda();
      if (!ready.ok) this.#fallBack(ready.why);
    }
    const backend = this.#active;
    if (backend !== "cpu") {
      try {
        const s = backend === "cuda"
          ? await this.#createCuda(graph, bytes, base)
          : await ort.InferenceSession.create(bytes, { ...base, executionProviders: [backend] });
        return new CompiledGraph(graph, s, backend);
      } catch (e) {
        this.#fallBack(backendFailureReason(e instanceof Error ? e.message : String(e)), e);
      }
    }
    // Outside the try: a rewrite's own GraphError names its node, not ORT.
    const onCpu = lowerForCpuSpeed(runnable);
    try {
      const cpu = { ...base, executionProviders: ["cpu"] };
      const s = await ort.InferenceSession.create(onCpu === runnable ? bytes : encodeModel(onCpu), cpu);
      // One symbolic row count of large Gemms: sessions with them split into single rows, made when first run
      // with 2…SPLIT_ROWS_MAX rows (see splitRowGemms).
      const dims = [...splittableRowDims(onCpu)];
      const fewRows = dims.length === 1
        ? {
          dim: dims[0]!,
          create: (rows: number) => ort.InferenceSession.create(encodeModel(splitRowGemms(onCpu, dims[0]!, rows)), cpu),
        }
        : undefined;
      return new CompiledGraph(graph, s, "cpu", fewRows);
    } catch (e) {
      throw new GraphError(`ONNX Runtime rejected the graph: ${firstLine(e)}`, { graph: graph.name });
    }
  }
}

/** The subnormal mode of this process's first session (see `RuntimeOptions.flushDenormals`), once one was made. */
let processFlushesDenormals: boolean | undefined;

/** Claims the process's subnormal mode for a session about to be made; the other mode is refused once one is set. */
function claimDenormalMode(flush: boolean): void {
  processFlushesDenormals ??= flush;
  if (processFlushesDenormals !== flush) {
    throw new RangeError(
      `flushDenormals: ${flush} cannot take effect: this process's first ONNX Runtime session set ` +
        `flushDenormals: ${processFlushesDenormals}, and ONNX Runtime sets that mode once per process`,
    );
  }
}

/** The TF32 mode of this process's first CUDA session (see `RuntimeOptions.tf32`), once one was made. */
let processTf32: boolean | undefined;

/**
 * Claims the process's TF32 mode for a CUDA session about to be made: without TF32, `NVIDIA_TF32_OVERRIDE=0`
 * before cuBLAS and cuDNN load (they read it when they start); the other mode is refused once one is set.
 * Returns why CUDA cannot start when the variable cannot be set, else `undefined`.
 */
function claimTf32Mode(tf32: boolean): { ok: false; why: string } | undefined {
  if (processTf32 === undefined) {
    if (!tf32) {
      try {
        Deno.env.set("NVIDIA_TF32_OVERRIDE", "0");
      } catch {
        return { ok: false, why: "keeping float32 off TF32 needs --allow-env (to set NVIDIA_TF32_OVERRIDE=0)" };
      }
    }
    processTf32 = tf32;
  }
  if (processTf32 !== tf32) {
    throw new RangeError(
      `tf32: ${tf32} cannot take effect: this process's first CUDA session set tf32: ${processTf32}, and the ` +
        `CUDA libraries read the mode once per process`,
    );
  }
  return undefined;
}

/** ONNX Runtime's refusal when `session.disable_cpu_ep_fallback` is set and some node has only a CPU kernel. */
const PLACED_ON_CPU = /assigned to the default CPU EP|fallback to CPU EP has been explicitly disabled/;

/** A graph loaded into an ONNX Runtime session. */
export class CompiledGraph {
  /** The graph this session runs. */
  readonly graph: Graph;
  /** The backend it runs on. */
  readonly backend: Backend;
  readonly #session: ort.InferenceSession;
  readonly #fewRows: FewRowSessions | undefined;
  readonly #byRows = new Map<number, Promise<ort.InferenceSession>>();
  #released = false;

  /**
   * Wraps a session created by {@linkcode Runtime.compile}; `fewRows` makes the sessions for runs where a symbolic
   * dim is small.
   */
  constructor(graph: Graph, session: ort.InferenceSession, backend: Backend, fewRows?: FewRowSessions) {
    this.graph = graph;
    this.#session = session;
    this.backend = backend;
    this.#fewRows = fewRows;
  }

  /** Whether {@linkcode CompiledGraph.release} has freed this graph's sessions. */
  get released(): boolean {
    return this.#released;
  }

  /** Row counts a few-row session was made (or tried) for so far (see `splitRowGemms`); for tests and diagnostics. */
  get fewRowSessions(): number {
    return this.#byRows.size;
  }

  /**
   * The session for a run with these symbolic dims: a few-row specialisation, or the general one — also when the
   * specialisation cannot be made (it is a speed-up only, so the general session runs those rows from then on).
   */
  #sessionFor(dims: ReadonlyMap<string, number>): Promise<ort.InferenceSession> | ort.InferenceSession {
    const rows = this.#fewRows ? dims.get(this.#fewRows.dim) : undefined;
    if (rows === undefined || rows < 2 || rows > SPLIT_ROWS_MAX) return this.#session;
    let s = this.#byRows.get(rows);
    if (!s) {
      const create = this.#fewRows!.create;
      s = (async () => await create(rows))().catch(() => this.#session);
      this.#byRows.set(rows, s);
    }
    return s;
  }

  /**
   * Runs the graph. Every graph input must be fed with the declared dtype and
   * rank, concrete dims equal, and each symbolic dim the same size wherever it
   * appears. Returns the requested outputs (all by default) as fresh tensors.
   */
  async run(feeds: Readonly<Record<string, Tensor>>, outputs?: readonly string[]): Promise<Record<string, Tensor>> {
    if (this.#released) throw new GraphError("The graph's session was released", { graph: this.graph.name });
    const { ortFeeds, dims } = this.#check(feeds);
    const names = outputs ?? this.graph.outputs.map((o) => o.name);
    for (const n of names) {
      if (!this.graph.outputs.some((o) => o.name === n)) {
        throw new GraphError(
          `No output named "${n}"; outputs are ${this.graph.outputs.map((o) => o.name).join(", ")}`,
          {
            graph: this.graph.name,
            valueName: n,
          },
        );
      }
    }
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await (await this.#sessionFor(dims)).run(ortFeeds, [...names]);
    } catch (e) {
      throw new GraphError(`ONNX Runtime failed: ${firstLine(e)}`, { graph: this.graph.name });
    }
    const out: Record<string, Tensor> = {};
    for (const n of names) {
      const t = result[n]!;
      out[n] = { dtype: t.type as DType, dims: [...t.dims], data: t.data as TypedArrayOf[DType] };
    }
    return out;
  }

  /**
   * Frees the native sessions; later runs throw. The few-row sessions are taken before any wait, so one a run
   * started meanwhile is released too, never dropped.
   */
  async release(): Promise<void> {
    this.#released = true;
    const pending = [...this.#byRows.values()];
    this.#byRows.clear();
    const few = new Set(await Promise.all(pending));
    few.delete(this.#session);
    const released = await Promise.allSettled([...few, this.#session].map((s) => s.release()));
    const failed = released.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  #check(feeds: Readonly<Record<string, Tensor>>): { ortFeeds: Record<string, ort.Tensor>; dims: Map<string, number> } {
    const bound = new Map<string, [number, string]>();
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const name of Object.keys(feeds)) {
      if (!this.graph.inputs.some((i) => i.name === name)) {
        throw new InputError(
          `Graph ${this.graph.name} has no input "${name}"; its inputs are ${
            this.graph.inputs.map((i) => i.name).join(", ")
          }`,
          name,
        );
      }
    }
    for (const input of this.graph.inputs) {
      const t = feeds[input.name];
      if (!t) {
        throw new InputError(
          `Graph ${this.graph.name}: input "${input.name}" is missing; expected ${describe(input)}`,
          input.name,
        );
      }
      const bad = () =>
        new InputError(
          `Graph ${this.graph.name}: input "${input.name}" expected ${describe(input)}, got ${t.dtype}${
            formatShape(t.dims)
          }`,
          input.name,
        );
      if (t.dtype !== input.dtype || t.dims.length !== input.shape.length) throw bad();
      input.shape.forEach((d, k) => {
        const got = t.dims[k]!;
        if (typeof d === "number") {
          if (d !== got) throw bad();
        } else {
          const prev = bound.get(d);
          if (prev && prev[0] !== got) {
            throw new InputError(
              `Graph ${this.graph.name}: input "${input.name}" has ${d} = ${got} but input "${prev[1]}" set ${d} = ${
                prev[0]
              }`,
              input.name,
            );
          }
          bound.set(d, [got, input.name]);
        }
      });
      ortFeeds[input.name] = new ort.Tensor(ORT_TYPE[t.dtype], t.data as ort.Tensor.DataType, [...t.dims]);
    }
    return { ortFeeds, dims: new Map([...bound].map(([d, [size]]) => [d, size])) };
  }
}

/** How a CPU session makes its variants for runs with few rows (see `splitRowGemms`). */
interface FewRowSessions {
  /** The symbolic dim that counts the rows of the graph's large Gemms. */
  readonly dim: string;
  /** A session of the graph with those Gemms split into `rows` single rows. */
  readonly create: (rows: number) => Promise<ort.InferenceSession>;
}

function describe(v: ValueInfo): string {
  return `${v.dtype}${formatShape(v.shape)}`;
}
