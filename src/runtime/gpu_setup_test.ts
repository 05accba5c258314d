import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../util/testing.ts";
import { CUDA_MAJOR, CUDA_PRELOAD, GPU_WHEELS, ortBinDir, type WheelPin } from "./_cuda_libs.ts";
import { type DynamicInfo, readDynamicInfo } from "./_elf.ts";
import {
  type GpuManifest,
  MANIFEST_FORMAT,
  ortVersionProblem,
  preloadProblems,
  readManifest,
  sha256File,
  sonameProblems,
  staleWheels,
} from "./gpu_setup.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SETUP = join(ROOT, "src/runtime/gpu_setup.ts");
const INSTALLED = join(ROOT, ".gpu/manifest.json");
const installed = (() => {
  try {
    return Deno.statSync(INSTALLED).isFile;
  } catch {
    return false;
  }
})();

Deno.test("ortVersionProblem() accepts equal versions and names both when they differ", () => {
  assertEquals(ortVersionProblem("1.30.0", "1.30.0"), undefined);
  const p = ortVersionProblem("1.30.0", "1.31.0")!;
  assert(p.includes("onnxruntime-node is 1.31.0") && p.includes("onnxruntime-gpu wheel is 1.30.0"), p);
});

Deno.test("the pinned onnxruntime-gpu wheel is onnxruntime-node's version", async () => {
  const node = JSON.parse(await Deno.readTextFile(join(ortBinDir(), "../../../../package.json"))).version;
  assertEquals(ortVersionProblem(GPU_WHEELS.find((w) => w.name === "onnxruntime-gpu")!.version, node), undefined);
});

const info = (soname: string | undefined, needed: string[]): DynamicInfo => ({
  ...(soname !== undefined ? { soname } : {}),
  needed,
});

/** A consistent CUDA 13 set: the provider needs cuBLAS, cuBLASLt, the runtime and the driver. */
function cuda13(): Map<string, DynamicInfo> {
  return new Map([
    [
      "libonnxruntime_providers_cuda.so",
      info(undefined, ["libcublasLt.so.13", "libcublas.so.13", "libcudart.so.13", "libcuda.so.1", "libc.so.6"]),
    ],
    ["libcublasLt.so.13", info("libcublasLt.so.13", ["libc.so.6"])],
    ["libcublas.so.13", info("libcublas.so.13", ["libcublasLt.so.13"])],
    ["libcudart.so.13", info("libcudart.so.13", [])],
  ]);
}

Deno.test("sonameProblems() passes a consistent set and ignores the driver and system libraries", () => {
  assertEquals(sonameProblems(cuda13(), 13), []);
});

Deno.test("sonameProblems() names a NEEDED CUDA soname of another major version and the provider's CUDA", () => {
  const libs = cuda13();
  libs.set("libcublas.so.12", info("libcublas.so.12", ["libcublasLt.so.13"]));
  libs.delete("libcublas.so.13");
  assertEquals(sonameProblems(libs, 13), [
    "libonnxruntime_providers_cuda.so needs libcublas.so.13, which is not installed (installed: libcublas.so.12)",
  ]);
  const cuda12 = cuda13();
  cuda12.set("libonnxruntime_providers_cuda.so", info(undefined, ["libcudart.so.12"]));
  assertEquals(sonameProblems(cuda12, 13), [
    "libonnxruntime_providers_cuda.so needs libcudart.so.12, which is not installed (installed: libcudart.so.13)",
    "libonnxruntime_providers_cuda.so is built for libcudart.so.12, the pins are for CUDA 13",
  ]);
});

Deno.test("preloadProblems() refuses a library preloaded before one it needs, or one not installed", () => {
  assertEquals(preloadProblems(["libcublasLt.so.13", "libcublas.so.13", "libcudart.so.13"], cuda13()), []);
  assertEquals(preloadProblems(["libcublas.so.13", "libcublasLt.so.13"], cuda13()), [
    "libcublas.so.13 is preloaded before libcublasLt.so.13, which it needs",
  ]);
  assertEquals(preloadProblems(["libcufft.so.12"], cuda13()), [
    "libcufft.so.12 is in the preload order but not installed",
  ]);
});

Deno.test("readDynamicInfo() reads NEEDED, SONAME and RUNPATH of onnxruntime-node's binding, and refuses a non-ELF file", async () => {
  const binding = await readDynamicInfo(join(ortBinDir(), "onnxruntime_binding.node"));
  assert(binding.needed.includes("libonnxruntime.so.1"), JSON.stringify(binding));
  assertEquals(binding.runpath, "$ORIGIN/");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "x.so"), "not a library at all, just text that is long enough to be read");
    await assertRejects(() => readDynamicInfo(join(dir, "x.so")), TypeError, "is not an ELF file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("staleWheels() picks the wheels whose libraries are missing or differ from the manifest", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pins: WheelPin[] = [
      { name: "a", version: "1", sha256: "aa", libs: ["liba.so.1"] },
      { name: "b", version: "2", sha256: "bb", libs: ["libb.so.2", "libb2.so.2"] },
    ];
    for (const [name, text] of [["liba.so.1", "A"], ["libb.so.2", "BB"], ["libb2.so.2", "B2"]]) {
      await Deno.writeTextFile(join(dir, name!), text!);
    }
    const libs = await Promise.all(pins.flatMap((p) =>
      p.libs.map(async (name) => ({
        name,
        wheel: p.name,
        size: (await Deno.stat(join(dir, name))).size,
        sha256: await sha256File(join(dir, name)),
        needed: [],
      }))
    ));
    const manifest: GpuManifest = {
      format: MANIFEST_FORMAT,
      onnxruntime: "1.30.0",
      cuda: 13,
      wheels: pins.map(({ name, version, sha256 }) => ({ name, version, sha256 })),
      libs,
      preload: [],
      providers: { dir, files: [] },
    };
    assertEquals(await staleWheels(manifest, dir, pins), [], "everything in place");
    assertEquals((await staleWheels(undefined, dir, pins)).map((p) => p.name), ["a", "b"], "no manifest");
    const repinned = [pins[0]!, { ...pins[1]!, version: "3" }];
    assertEquals((await staleWheels(manifest, dir, repinned)).map((p) => p.name), ["a", "b"], "other pins");
    await Deno.writeTextFile(join(dir, "libb2.so.2"), "B3"); // same size, other bytes
    assertEquals((await staleWheels(manifest, dir, pins)).map((p) => p.name), ["b"], "a changed library");
    await Deno.remove(join(dir, "liba.so.1"));
    assertEquals((await staleWheels(manifest, dir, pins)).map((p) => p.name), ["a", "b"], "a missing library");
    // The manifest round-trips through readManifest; anything else reads as none.
    await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(manifest));
    assertEquals(await readManifest(join(dir, "manifest.json")), manifest);
    await Deno.writeTextFile(join(dir, "manifest.json"), "{ not json");
    assertEquals(await readManifest(join(dir, "manifest.json")), undefined);
    assertEquals(await readManifest(join(dir, "absent.json")), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function setup(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--config", join(ROOT, "deno.json"), "--allow-all", SETUP, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = (b: Uint8Array) => new TextDecoder().decode(b).split("\n").filter((l) => l.trim() !== "");
  return { code: out.code, stdout: lines(out.stdout), stderr: lines(out.stderr) };
}

Deno.test("setup-gpu stops with one line and exit 1 when pip is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await setup(["--dir", dir], { QUADJOINT_PYTHON: join(dir, "no-python3") });
    assertEquals(r.code, 1);
    assertEquals(r.stderr.length, 1, r.stderr.join("\n"));
    assert(
      /^setup-gpu: pip not found \(.*no-python3 -m pip does not run\): install Python 3 with pip/.test(r.stderr[0]!),
      r.stderr[0],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const hasPip = await new Deno.Command("python3", { args: ["-m", "pip", "--version"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);

Deno.test({
  name: "setup-gpu stops with one line and exit 1 when pip cannot reach an index",
  ignore: !hasPip,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // No index and no local wheel folder: what pip sees without a network.
      const r = await setup(["--dir", dir], { PIP_NO_INDEX: "1", PIP_FIND_LINKS: dir, PIP_CONFIG_FILE: "/dev/null" });
      assertEquals(r.code, 1);
      assertEquals(r.stderr.length, 1, r.stderr.join("\n"));
      assert(
        r.stderr[0]!.startsWith(
          "setup-gpu: pip could not download onnxruntime-gpu==1.30.0 (no network, or PyPI unreachable?): ERROR",
        ),
        r.stderr[0],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "setup-gpu run again with the libraries in place only verifies [needs deno task setup-gpu; skipped without .gpu/]",
  ignore: !installed,
  async fn() {
    const before = await Deno.readTextFile(INSTALLED);
    const r = await setup([], {});
    assertEquals([r.code, r.stderr], [0, []]);
    assertEquals(r.stdout.length, 1, r.stdout.join("\n"));
    assert(/verified: 17 libraries .* CUDA 13, onnxruntime 1\.30\.0; nothing to do$/.test(r.stdout[0]!), r.stdout[0]);
    assertEquals(await Deno.readTextFile(INSTALLED), before, "the manifest was rewritten");
    // The installed libraries agree with each other and with the preload order.
    const manifest = (await readManifest(INSTALLED))!;
    const libs = new Map<string, DynamicInfo>();
    for (const l of manifest.libs) libs.set(l.name, await readDynamicInfo(join(ROOT, ".gpu/lib", l.name)));
    assertEquals(sonameProblems(libs, CUDA_MAJOR), []);
    assertEquals(preloadProblems(CUDA_PRELOAD, libs), []);
    assertEquals(manifest.libs.find((l) => l.name === "libonnxruntime_providers_cuda.so")?.needed, [
      "libcublasLt.so.13",
      "libcublas.so.13",
      "libcurand.so.10",
      "libcudart.so.13",
      "libcuda.so.1",
    ]);
  },
});
