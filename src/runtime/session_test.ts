import { GraphBuilder } from "../onnx/builder.ts";
import { GraphError } from "../onnx/errors.ts";
import { attr, type Graph } from "../onnx/graph.ts";
import { fromNumbers, tensor } from "../onnx/tensor.ts";
import { assert, assertClose, assertEquals, assertRejects, assertThrows } from "../util/testing.ts";
import { join } from "node:path";
import { backendFailureReason } from "./_backend_probe.ts";
import { loadedDriverVersion } from "./_cuda_device.ts";
import { CUDA_PRELOAD, PROVIDER_LIBS } from "./_cuda_libs.ts";
import { type Backend, BackendError, InputError, Runtime } from "./session.ts";

/** y = x·W + b with x: float32[batch, 5]; a second input s: float32[batch, 1] scales it. */
function affine(bias = 0.5): Graph {
  const b = new GraphBuilder("affine");
  const x = b.input("x", "float32", ["batch", 5]);
  const s = b.input("s", "float32", ["batch", 1]);
  const w = b.initializer("w", fromNumbers(Array.from({ length: 10 }, (_, i) => i / 10), [5, 2]));
  const c = b.initializer("c", fromNumbers([bias, -bias], [2]));
  b.output(b.op1("Mul", [b.op1("Add", [b.op1("MatMul", [x, w]), c]), s]), "y");
  return b.build();
}

function feeds(batch: number) {
  return {
    x: fromNumbers(Array.from({ length: batch * 5 }, (_, i) => i), [batch, 5]),
    s: fromNumbers(Array.from({ length: batch }, () => 2), [batch, 1]),
  };
}

// A backend that cannot start here falls back; on a machine where it does
// start, the same tests check that no warning is printed instead.
for (const backend of ["cuda", "webgpu"] as const satisfies readonly Backend[]) {
  Deno.test(`Runtime falls back from ${backend} to cpu with exactly one warning line naming the cause`, async () => {
    const warnings: string[] = [];
    const rt = new Runtime({ backend, warn: (m) => warnings.push(m) });
    // Two graphs compiled at once, then a third: still one warning at most.
    const [a, b] = await Promise.all([rt.compile(affine(0.5)), rt.compile(affine(1.5))]);
    const c = await rt.compile(affine(2.5));
    const y = (await c.run(feeds(1))).y!;
    assertClose(
      y.data as Float32Array,
      // x = [0..4], W[i][j] = (2i + j)/10: x·W = [6, 7]; (x·W + [2.5, −2.5])·2.
      [17, 9],
      1e-6,
    );
    if (rt.backend === "cpu") {
      assertEquals(warnings.length, 1, `warnings: ${JSON.stringify(warnings)}`);
      const w = warnings[0]!;
      assert(!w.includes("\n"), `warning spans several lines: ${w}`);
      assert(w.includes(`backend ${backend} unavailable (`) && w.includes("falling back to cpu"), w);
      assert(/\(\S.*\)/.test(w), `warning gives no cause: ${w}`);
      assertEquals([a.backend, b.backend, c.backend], ["cpu", "cpu", "cpu"]);
    } else {
      assertEquals(warnings, []);
      assertEquals(rt.backend, backend);
    }
    assertEquals(rt.requested, backend);
    await rt.dispose();
  });

  Deno.test(`Runtime with strict: true throws BackendError when ${backend} cannot start`, async () => {
    const warnings: string[] = [];
    const rt = new Runtime({ backend, strict: true, warn: (m) => warnings.push(m) });
    try {
      const s = await rt.compile(affine());
      assertEquals(s.backend, backend); // it started: nothing to refuse
    } catch (e) {
      assert(e instanceof BackendError, `expected BackendError, got ${e}`);
      assertEquals(e.backend, backend);
      assert(e.message.startsWith(`Backend ${backend} cannot start: `) && !e.message.includes("\n"), e.message);
      assert(e.cause !== undefined, "BackendError keeps the cause");
    }
    assertEquals(warnings, []);
    await rt.dispose();
  });
}

Deno.test("Runtime rejects invalid threads and unknown backends with RangeError", () => {
  for (const threads of [-1, 1.5, Number.NaN, Infinity]) {
    assertThrows(() => new Runtime({ threads }), RangeError, `threads must be a non-negative integer, got ${threads}`);
  }
  assertThrows(() => new Runtime({ backend: "tpu" as Backend }), RangeError, `Unknown backend "tpu"`);
  assertEquals(new Runtime({ threads: 2 }).backend, "cpu");
});

const runtime = new Runtime({ threads: 1 });

const BAD_FEEDS: ReadonlyArray<readonly [string, Record<string, ReturnType<typeof fromNumbers>>, string, RegExp]> = [
  [
    "a wrong dtype",
    { ...feeds(2), x: fromNumbers(new Array(10).fill(0), [2, 5], "float64") },
    "x",
    /input "x" expected float32\[batch, 5\], got float64\[2, 5\]/,
  ],
  [
    "a wrong rank",
    { ...feeds(2), x: fromNumbers(new Array(10).fill(0), [10]) },
    "x",
    /input "x" expected float32\[batch, 5\], got float32\[10\]/,
  ],
  [
    "a wrong concrete dim",
    { ...feeds(2), x: fromNumbers(new Array(8).fill(0), [2, 4]) },
    "x",
    /input "x" expected float32\[batch, 5\], got float32\[2, 4\]/,
  ],
  [
    "an inconsistent symbolic dim",
    { ...feeds(2), s: fromNumbers([1, 1, 1], [3, 1]) },
    "s",
    /input "s" has batch = 3 but input "x" set batch = 2/,
  ],
  ["a missing input", { x: feeds(2).x }, "s", /input "s" is missing; expected float32\[batch, 1\]/],
  [
    "an unknown input",
    { ...feeds(2), z: fromNumbers([1], [1]) },
    "z",
    /Graph affine has no input "z"; its inputs are x, s/,
  ],
];

for (const [what, bad, input, pattern] of BAD_FEEDS) {
  Deno.test(`CompiledGraph.run() throws InputError naming the input and expected shape for ${what}`, async () => {
    const s = await runtime.compile(affine());
    const e = await assertRejects(() => s.run(bad), InputError, pattern);
    assertEquals((e as InputError).inputName, input);
  });
}

Deno.test("CompiledGraph.run() throws GraphError for an output the graph lacks, and returns only those asked", async () => {
  const s = await runtime.compile(affine());
  await assertRejects(() => s.run(feeds(1), ["nope"]), GraphError, /No output named "nope"; outputs are y/);
  assertEquals(Object.keys(await s.run(feeds(3), ["y"])), ["y"]);
});

Deno.test("Runtime.compile() reuses sessions for the same graph object and for a rebuilt identical graph", async () => {
  const rt = new Runtime({ threads: 1 });
  const g = affine();
  const s1 = await rt.compile(g);
  assert(s1 === await rt.compile(g), "same graph object gave a new session");
  const rebuilt = affine();
  assert(rebuilt !== g, "test needs a distinct object");
  assert(s1 === await rt.compile(rebuilt), "identical graph gave a new session");
  assert(s1 === await rt.compile(GraphBuilder.from(g).build()), "copied graph gave a new session");
  assertEquals(rt.cachedSessions, 1);
  const changed = await rt.compile(affine(0.75));
  assert(changed !== s1, "a graph with another bias shared a session");
  assertEquals(rt.cachedSessions, 2);
  // The sessions really differ: the bias shows in the output.
  const y1 = (await s1.run(feeds(1))).y!, y2 = (await changed.run(feeds(1))).y!;
  assertClose([Number(y2.data[0]) - Number(y1.data[0])], [2 * 0.25], 1e-6);
  await rt.dispose();
  assertEquals(rt.cachedSessions, 0);
  // After dispose the same graph object compiles to a new, working session.
  const fresh = await rt.compile(g);
  assert(fresh !== s1, "dispose() kept a released session for the same graph object");
  assertEquals(Array.from((await fresh.run(feeds(1))).y!.data as Float32Array), Array.from(y1.data as Float32Array));
  await rt.dispose();
});

Deno.test("Runtime.compile() rejects with GraphError when ONNX Runtime refuses a graph, and does not cache it", async () => {
  // Abs accepts any dtype in its shape rule, but ORT has no bool kernel for it.
  const b = new GraphBuilder("badkernel");
  b.output(b.op1("Abs", [b.input("x", "bool", [2])]), "y");
  const rt = new Runtime({ threads: 1 });
  await assertRejects(() => rt.compile(b.build()), GraphError, /graph badkernel.*ONNX Runtime rejected the graph/);
  assertEquals(rt.cachedSessions, 0);
  await rt.dispose();
});

const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const elu = (x: number, alpha: number) => (x > 0 ? x : alpha * Math.expm1(x));

Deno.test("Runtime runs float64 Softplus and Elu graphs (lowered) to plain TypeScript values within 1e-14", async () => {
  const b = new GraphBuilder("act64");
  const x = b.input("x", "float64", ["batch", 4]);
  b.output(b.op1("Softplus", [x]), "sp");
  b.output(b.op1("Elu", [x], { alpha: attr.float(0.5) }), "elu");
  b.output(b.op1("Elu", [b.op1("Softplus", [x])]), "nested");
  const s = await runtime.compile(b.build());
  const xs = [-40, -3.5, -1, -0.25, 0, 1e-3, 0.7, 2, 5, 30, 200, 700];
  const out = await s.run({ x: tensor(Float64Array.from(xs), [3, 4]) });
  for (const name of ["sp", "elu", "nested"]) assertEquals(out[name]!.dtype, "float64");
  assertClose(out.sp!.data as Float64Array, xs.map(softplus), 1e-14, "softplus");
  assertClose(out.elu!.data as Float64Array, xs.map((v) => elu(v, 0.5)), 1e-14, "elu");
  assertClose(out.nested!.data as Float64Array, xs.map((v) => elu(softplus(v), 1)), 1e-14, "elu(softplus)");
  // Each moderate value on its own scale, not just relative to the largest.
  for (const [i, v] of xs.entries()) {
    if (Math.abs(v) > 5) continue;
    assertClose(Number(out.sp!.data[i]), softplus(v), 1e-14, `softplus(${v})`);
  }
});

/** Runs a process that compiles one graph on `backend`; returns the backend it got and its non-empty stderr lines. */
async function childRun(backend: Backend, env: Record<string, string> = {}, strict = false) {
  const session = new URL("./session.ts", import.meta.url).href;
  const graph = new URL("../onnx/builder.ts", import.meta.url).href;
  const code = `
    import { Runtime } from "${session}";
    import { GraphBuilder } from "${graph}";
    const b = new GraphBuilder("id");
    b.output(b.op1("Identity", [b.input("x", "float32", [1])]), "y");
    const rt = new Runtime({ backend: "${backend}", strict: ${strict} });
    try {
      const c = await rt.compile(b.build());
      console.log(c.backend);
    } catch (e) {
      console.log(e.name + ": " + e.message);
    }
    await rt.dispose();`;
  const config = new URL("../../deno.json", import.meta.url).pathname;
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", "--config", config, code],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).split("\n").filter((l) => l.trim() !== "");
  assert(success, text(stderr).join("\n"));
  return { got: text(stdout)[0], stderr: text(stderr) };
}

/** Where a process that compiles one graph with `env` left ORT's telemetry files: its queue under HOME, its /tmp log. */
async function telemetryTraces(env: Record<string, string>): Promise<string[]> {
  const home = await Deno.makeTempDir();
  try {
    const session = new URL("./session.ts", import.meta.url).href;
    const graph = new URL("../onnx/builder.ts", import.meta.url).href;
    const code = `
      import { Runtime } from "${session}";
      import { GraphBuilder } from "${graph}";
      const b = new GraphBuilder("id");
      b.output(b.op1("Identity", [b.input("x", "float32", [1])]), "y");
      const rt = new Runtime({ backend: "cpu" });
      await rt.compile(b.build());
      await rt.dispose();
      console.log(Deno.pid);`;
    const denoDir = Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "", ".cache", "deno");
    const config = new URL("../../deno.json", import.meta.url).pathname;
    const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", "--config", config, code],
      // A clean environment: this process set ORT_DISABLE_TELEMETRY when it imported session.ts.
      clearEnv: true,
      env: { ...env, PATH: Deno.env.get("PATH") ?? "", HOME: home, DENO_DIR: denoDir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(success, new TextDecoder().decode(stderr));
    const pid = new TextDecoder().decode(stdout).trim();
    const traces = [join(home, ".cache", "Microsoft"), `/tmp/mat-debug-${pid}.log`];
    const found = traces.filter((p) => {
      try {
        return Deno.statSync(p) !== undefined;
      } catch {
        return false;
      }
    });
    await Deno.remove(`/tmp/mat-debug-${pid}.log`).catch(() => {});
    return found;
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test({
  name: "Runtime turns ONNX Runtime's telemetry off unless the user set ORT_DISABLE_TELEMETRY",
  // Where the files go (and that ORT writes them at all) is its Linux build's behaviour.
  ignore: Deno.build.os !== "linux",
}, async () => {
  assertEquals(await telemetryTraces({}), []);
  // The check can fail: with the user's own setting ORT writes both.
  assertEquals((await telemetryTraces({ ORT_DISABLE_TELEMETRY: "0" })).length, 2);
});

Deno.test("a process that asks for webgpu without an adapter prints the one fallback line and no native lines", async () => {
  const { got, stderr } = await childRun("webgpu");
  if (got === "cpu") {
    assertEquals(stderr.length, 1, stderr.join("\n"));
    assert(/^quadjoint: backend webgpu unavailable \(.+\); falling back to cpu$/.test(stderr[0]!), stderr[0]);
    assert(!/onnxruntime_src|\.cc:\d+/.test(stderr[0]!), `the reason keeps ORT's source location: ${stderr[0]}`);
  } else {
    assertEquals([got, stderr], ["webgpu", []]);
  }
});

Deno.test("a process that asks for cuda without the setup-gpu libraries says to run setup-gpu, in one line", async () => {
  const empty = await Deno.makeTempDir();
  try {
    const { got, stderr } = await childRun("cuda", { QUADJOINT_GPU_LIBS: empty });
    assertEquals([got, stderr], [
      "cpu",
      [
        `quadjoint: backend cuda unavailable (run deno task setup-gpu: ${empty}/libcublasLt.so.13 not found); ` +
        "falling back to cpu",
      ],
    ]);
    // A search path of folders: the message names the library and the path.
    const two = `${empty}:${empty}/`;
    const searched = await childRun("cuda", { QUADJOINT_GPU_LIBS: two });
    assertEquals(searched.stderr, [
      `quadjoint: backend cuda unavailable (run deno task setup-gpu: libcublasLt.so.13 in ${two} not found); ` +
      "falling back to cpu",
    ]);
    const strict = await childRun("cuda", { QUADJOINT_GPU_LIBS: join(empty, "absent") }, true);
    assertEquals([strict.got, strict.stderr], [
      `BackendError: Backend cuda cannot start: run deno task setup-gpu: ${join(empty, "absent")} not found`,
      [],
    ]);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

const GPU_LIBS = new URL("../../.gpu/lib/", import.meta.url).pathname;
const gpuLibsInstalled = [...CUDA_PRELOAD, ...PROVIDER_LIBS].every((name) => {
  try {
    return Deno.statSync(join(GPU_LIBS, name)).isFile;
  } catch {
    return false;
  }
});
const hasDriver = (() => {
  try {
    return Deno.statSync("/proc/driver/nvidia/version").isFile;
  } catch {
    return false;
  }
})();
const NEEDS_SETUP = "[needs deno task setup-gpu; skipped without .gpu/lib]";

Deno.test({
  name:
    `a process that asks for cuda with the libraries but no NVIDIA driver names the driver, in one line ${NEEDS_SETUP}`,
  ignore: !gpuLibsInstalled || hasDriver,
  async fn() {
    const { got, stderr } = await childRun("cuda");
    assertEquals([got, stderr], [
      "cpu",
      ["quadjoint: backend cuda unavailable (no NVIDIA driver: libcuda.so.1 not found); falling back to cpu"],
    ]);
    const strict = await childRun("cuda", {}, true);
    assertEquals([strict.got, strict.stderr], [
      "BackendError: Backend cuda cannot start: no NVIDIA driver: libcuda.so.1 not found",
      [],
    ]);
  },
});

// A stand-in driver whose every call answers CUDA_ERROR_NO_DEVICE: the CUDA runtime takes its entry points through
// cuGetProcAddress, and the provider itself links cuTensorMapEncodeTiled.
const FAKE_DRIVER = `
#include <string.h>
typedef int CUresult;
static CUresult no_device(void) { return 100; }
CUresult cuDriverGetVersion(int *v) { if (v) *v = 13000; return 0; }
CUresult cuGetProcAddress_v2(const char *s, void **p, int v, unsigned long long f, int *st) {
  (void)v; (void)f;
  if (st) *st = 1;
  if (!p) return 1;
  *p = strcmp(s, "cuDriverGetVersion") == 0 ? (void *)cuDriverGetVersion
     : strcmp(s, "cuGetProcAddress") == 0 ? (void *)cuGetProcAddress_v2 : (void *)no_device;
  return 0;
}
CUresult cuGetProcAddress(const char *s, void **p, int v, unsigned long long f) { return cuGetProcAddress_v2(s, p, v, f, 0); }
CUresult cuInit(unsigned int f) { (void)f; return 100; }
CUresult cuTensorMapEncodeTiled(void) { return 100; }
`;

const hasCc = await new Deno.Command("cc", { args: ["--version"], stdout: "null", stderr: "null" }).output()
  .then((o) => o.success, () => false);

Deno.test({
  name: "a process that asks for cuda on a driver without devices loads the provider and reports ORT's reason in one " +
    `line ${NEEDS_SETUP} (and a C compiler)`,
  ignore: !gpuLibsInstalled || !hasCc,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(join(dir, "cuda.c"), FAKE_DRIVER);
      const driver = join(dir, "libcuda.so.1");
      const cc = await new Deno.Command("cc", {
        args: ["-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", driver, join(dir, "cuda.c")],
        stderr: "piped",
      }).output();
      assert(cc.success, new TextDecoder().decode(cc.stderr));
      // The reason comes from the CUDA provider's own check (cudaSetDevice), so the provider, the CUDA
      // libraries and onnxruntime-node's core have loaded together.
      const { got, stderr } = await childRun("cuda", { QUADJOINT_CUDA_DRIVER: driver });
      assertEquals([got, stderr], [
        "cpu",
        [
          "quadjoint: backend cuda unavailable (CUDA failure 100: no CUDA-capable device is detected); " +
          "falling back to cpu",
        ],
      ]);
      const strict = await childRun("cuda", { QUADJOINT_CUDA_DRIVER: driver }, true);
      assertEquals([strict.got, strict.stderr], [
        "BackendError: Backend cuda cannot start: CUDA failure 100: no CUDA-capable device is detected",
        [],
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("backendFailureReason() keeps ORT's CUDA failure without the source location, with a hint for old drivers", () => {
  const ort = (code: number, what: string) =>
    "/onnxruntime_src/onnxruntime/core/providers/cuda/cuda_call.cc:154 std::conditional_t<THRW, void, " +
    "onnxruntime::common::Status> onnxruntime::CudaCall(…) [with ERRTYPE = cudaError] " +
    `CUDA failure ${code}: ${what} ; GPU=-1 ; hostname=vm ; file=cuda_execution_provider.cc ; line=352 ; ` +
    "expr=cudaSetDevice(info_.device_id); \n\n";
  assertEquals(
    backendFailureReason(ort(100, "no CUDA-capable device is detected")),
    "CUDA failure 100: no CUDA-capable device is detected",
  );
  assertEquals(
    backendFailureReason(ort(35, "CUDA driver version is insufficient for CUDA runtime version")),
    "CUDA failure 35: CUDA driver version is insufficient for CUDA runtime version (the CUDA 13 libraries need an " +
      "NVIDIA driver ≥ 580)",
  );
});

Deno.test("Runtime rejects an invalid CUDA device index with RangeError", () => {
  for (const device of [-1, 0.5, Number.NaN]) {
    assertThrows(() => new Runtime({ backend: "cuda", device }), RangeError, `device must be a non-negative integer`);
  }
  assertEquals(new Runtime({ device: 1 }).deviceName, undefined);
});

Deno.test("Runtime: a large float32 Gemm run with 2–3 rows (one-row products) gives each row what a 5-row run gives it", async () => {
  const rt = new Runtime({ threads: 1 });
  const b = new GraphBuilder("few_rows");
  const x = b.input("x", "float32", ["batch", 256]);
  const w = b.input("w", "float32", [512, 256]);
  b.output(b.op1("Tanh", [b.op1("Gemm", [x, w, b.input("c", "float32", [512])], { transB: attr.int(1) })]), "y");
  const s = await rt.compile(b.build());
  const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed + 0.37 * i));
  const theta = { w: tensor(values(512 * 256, 1).map((v) => v / 16), [512, 256]), c: tensor(values(512, 2), [512]) };
  const xs = values(5 * 256, 3);
  const five = (await s.run({ ...theta, x: tensor(xs, [5, 256]) })).y!.data as Float32Array;
  for (const rows of [2, 3, 2]) {
    const few = (await s.run({ ...theta, x: tensor(xs.slice(0, rows * 256), [rows, 256]) })).y!;
    assertEquals(few.dims, [rows, 512]);
    assertClose(Array.from(few.data as Float32Array), Array.from(five.subarray(0, rows * 512)), 1e-6, `${rows} rows`);
  }
  assertEquals(s.fewRowSessions, 2, "one session for 2 rows and one for 3, made once each");
  await rt.dispose();
});

Deno.test("CompiledGraph.release() also frees a few-row session still being made; later runs throw", async () => {
  const rt = new Runtime({ threads: 1 });
  const b = new GraphBuilder("few_rows_release");
  const x = b.input("x", "float32", ["batch", 256]);
  b.output(b.op1("Gemm", [x, b.input("w", "float32", [512, 256])], { transB: attr.int(1) }), "y");
  const s = await rt.compile(b.build());
  const w = tensor(new Float32Array(512 * 256).fill(0.01), [512, 256]);
  const rows = (n: number) => ({ w, x: tensor(new Float32Array(n * 256).fill(1), [n, 256]) });
  await s.run(rows(2));
  // A run with a new row count starts making its session, then the graph is released: that session goes too.
  const during = s.run(rows(3));
  await s.release();
  await assertRejects(() => during, GraphError, "ONNX Runtime failed");
  assertEquals(s.fewRowSessions, 0, "no session left behind");
  // Afterwards no run makes a new session (before: a 2-row run quietly did, unreleased) or reaches ORT.
  await assertRejects(() => s.run(rows(2)), GraphError, "released");
  await assertRejects(() => s.run(rows(5)), GraphError, "released");
  await rt.dispose();
});

Deno.test("Runtime.compile() after a graph's release gives a fresh session, not the released one", async () => {
  const rt = new Runtime({ threads: 1 });
  const graph = () => {
    const b = new GraphBuilder("again");
    b.output(b.op1("Neg", [b.input("x", "float32", [2])]), "y");
    return b.build();
  };
  const g = graph();
  const first = await rt.compile(g);
  await first.release();
  const x = tensor(Float32Array.of(1, 2), [2]);
  for (const again of [await rt.compile(g), await rt.compile(graph())]) {
    assert(again !== first && !again.released, "a new session");
    assertEquals(Array.from((await again.run({ x })).y!.data as Float32Array), [-1, -2]);
  }
  await rt.dispose();
});

Deno.test("linkProviders() links each provider library beside the binding, replacing a stale link, leaving no temporaries", async () => {
  const { linkProviders } = await import("./_cuda_libs.ts");
  const root = await Deno.makeTempDir();
  try {
    const [lib, bin, old] = [`${root}/lib`, `${root}/bin`, `${root}/old`];
    for (const d of [lib, bin, old]) await Deno.mkdir(d);
    for (const name of PROVIDER_LIBS) {
      await Deno.writeTextFile(join(lib, name), "new");
      await Deno.writeTextFile(join(old, name), "old");
      await Deno.symlink(join(old, name), join(bin, name)); // a link to another install
    }
    assertEquals(linkProviders(lib, bin), undefined);
    assertEquals(linkProviders(lib, bin), undefined, "a second run finds them in place");
    for (const name of PROVIDER_LIBS) assertEquals(await Deno.readTextFile(join(bin, name)), "new");
    assertEquals([...Deno.readDirSync(bin)].map((e) => e.name).sort(), [...PROVIDER_LIBS].sort());
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/**
 * A fresh process whose first runtime has `flushDenormals: flush` squares 2^20 float32 values whose squares are
 * subnormal (in ORT on 2 threads: an elementwise op that size is split between the calling thread and the pool's),
 * halves a double into the subnormal range in JavaScript, then asks a second runtime for the other mode.
 */
async function denormalProbe(flush: boolean): Promise<{ squares: number[]; js: number; refused: string }> {
  const session = new URL("./session.ts", import.meta.url).href;
  const builder = new URL("../onnx/builder.ts", import.meta.url).href;
  const tensors = new URL("../onnx/tensor.ts", import.meta.url).href;
  const code = `
    import { Runtime } from "${session}";
    import { GraphBuilder } from "${builder}";
    import { tensor } from "${tensors}";
    const square = () => {
      const b = new GraphBuilder("square");
      const x = b.input("x", "float32", ["n"]);
      b.output(b.op1("Mul", [x, x]), "y");
      return b.build();
    };
    const rt = new Runtime({ threads: 2, flushDenormals: ${flush} });
    const n = 1 << 20;
    const x = new Float32Array(n).map((_, i) => (i % 2 === 0 ? 1e-20 : 3e-20));
    const { y } = await (await rt.compile(square())).run({ x: tensor(x, [n]) });
    const distinct = [...new Set(y.data)].sort((p, q) => p - q);
    const js = new Float64Array([2.2e-308])[0] / 4;
    let refused = "";
    try {
      await new Runtime({ flushDenormals: ${!flush} }).compile(square());
    } catch (e) {
      refused = e.name + ": " + e.message;
    }
    console.log(JSON.stringify({ squares: distinct, js, refused }));
    await rt.dispose();`;
  const config = new URL("../../deno.json", import.meta.url).pathname;
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", "--config", config, code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(success, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

Deno.test("flushDenormals: subnormal results are zero by default, in ONNX Runtime and (process-wide) in JavaScript", async () => {
  const { squares, js, refused } = await denormalProbe(true);
  assertEquals(squares, [0], "every square flushed, on every thread");
  assertEquals(js, 0);
  assert(refused.startsWith("RangeError: flushDenormals: false cannot take effect"), refused);
});

Deno.test("flushDenormals: false keeps subnormals, and a later runtime cannot switch the process to flushing", async () => {
  const { squares, js, refused } = await denormalProbe(false);
  assertClose(squares, [1e-40, 9e-40], 1e-3, "subnormal squares");
  assert(squares.every((s) => s > 0 && s < 1.2e-38), `subnormal squares, got ${squares}`);
  assertEquals(js, 2.2e-308 / 4);
  assert(refused.startsWith("RangeError: flushDenormals: true cannot take effect"), refused);
});

function withoutTf32Override(env: Record<string, string>): Record<string, string> {
  const { NVIDIA_TF32_OVERRIDE: _, ...rest } = env;
  return rest;
}

/** A child process's TF32 mode: NVIDIA_TF32_OVERRIDE after a cuda runtime with `tf32` (falling back, no libraries), and the refusal of the other mode. */
async function tf32Probe(tf32: boolean): Promise<{ override: string | null; refused: string }> {
  const empty = await Deno.makeTempDir();
  try {
    const session = new URL("./session.ts", import.meta.url).href;
    const graph = new URL("../onnx/builder.ts", import.meta.url).href;
    const code = `
      import { Runtime } from "${session}";
      import { GraphBuilder } from "${graph}";
      const id = () => {
        const b = new GraphBuilder("id");
        b.output(b.op1("Identity", [b.input("x", "float32", [1])]), "y");
        return b.build();
      };
      await new Runtime({ backend: "cuda", tf32: ${tf32}, warn: () => {} }).compile(id());
      const override = Deno.env.get("NVIDIA_TF32_OVERRIDE") ?? null;
      let refused = "";
      try {
        await new Runtime({ backend: "cuda", tf32: ${!tf32}, warn: () => {} }).compile(id());
      } catch (e) {
        refused = e.name + ": " + e.message;
      }
      // The CPU never asks: a cpu runtime with the other mode is fine.
      await new Runtime({ tf32: ${!tf32} }).compile(id());
      console.log(JSON.stringify({ override, refused }));`;
    const config = new URL("../../deno.json", import.meta.url).pathname;
    const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", "--config", config, code],
      // This process's own cuda runtimes set the variable, and children inherit it: start the child without it.
      clearEnv: true,
      env: { ...withoutTf32Override(Deno.env.toObject()), QUADJOINT_GPU_LIBS: empty },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(success, new TextDecoder().decode(stderr));
    return JSON.parse(new TextDecoder().decode(stdout));
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
}

Deno.test("tf32: a cuda runtime keeps float32 off TF32 by default (NVIDIA_TF32_OVERRIDE=0), process-wide", async () => {
  const { override, refused } = await tf32Probe(false);
  assertEquals(override, "0");
  assert(refused.startsWith("RangeError: tf32: true cannot take effect"), refused);
});

Deno.test("tf32: true leaves the CUDA libraries' TF32 default alone, and a later runtime cannot turn it off", async () => {
  const { override, refused } = await tf32Probe(true);
  assertEquals(override, null);
  assert(refused.startsWith("RangeError: tf32: false cannot take effect"), refused);
});

Deno.test("loadedDriverVersion() reads the driver's version from the real name of the mapped libcuda.so", () => {
  const maps = [
    "7f0000000000-7f0000001000 r--p 00000000 fd:00 123 /usr/lib/x86_64-linux-gnu/libc.so.6",
    "7f1000000000-7f1000001000 r-xp 00000000 fd:00 456 /usr/local/nvidia/lib64/libcuda.so.1",
  ].join("\n");
  const links: Record<string, string> = {
    "/usr/local/nvidia/lib64/libcuda.so.1": "/usr/local/nvidia/lib64/libcuda.so.580.159.04",
  };
  assertEquals(loadedDriverVersion(maps, (p) => links[p]), "580.159.04");
  // Mapped under its versioned name already; a name without a version, or no libcuda at all, tells nothing.
  assertEquals(loadedDriverVersion(" /opt/drv/libcuda.so.575.51", () => undefined), "575.51");
  assertEquals(loadedDriverVersion(" /opt/drv/libcuda.so.1", () => undefined), undefined);
  assertEquals(loadedDriverVersion(maps.split("\n")[0]!), undefined);
});
