/**
 * The CUDA libraries behind the `cuda` backend: which wheels `deno task
 * setup-gpu` installs (pinned), where they live, and how a process loads them
 * before its first CUDA session.
 *
 * onnxruntime-node's Linux binary can drive ONNX Runtime's CUDA execution
 * provider, but the provider libraries are not in the npm package, and the
 * provider (taken from PyPI's `onnxruntime-gpu` wheel) has no RUNPATH: the
 * CUDA runtime, cuBLAS, cuRAND, cuFFT and cuDNN it needs are found only if
 * they are already loaded. So, as onnxruntime's Python `preload_dlls()` does,
 * {@linkcode prepareCuda} opens each library by absolute path, in dependency
 * order, with `Deno.dlopen` (needs `--allow-ffi`); the dynamic linker then
 * matches the provider's NEEDED sonames to the loaded copies. The provider
 * itself is loaded by ONNX Runtime from the directory of
 * `libonnxruntime.so.1`, where setup-gpu links it (and where this module
 * links it again when `deno install` has replaced `node_modules`).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

/** One pinned PyPI wheel and the library files taken from it. */
export interface WheelPin {
  /** PyPI project name. */
  readonly name: string;
  /** Exact version. */
  readonly version: string;
  /** SHA-256 of the wheel pip downloads for {@linkcode PIP_TARGET}. */
  readonly sha256: string;
  /** Library file names taken from the wheel (wherever they lie in it). */
  readonly libs: readonly string[];
}

/** The CUDA major version the pinned onnxruntime-gpu wheel was built for (its `cuda_version`, 13.0). */
export const CUDA_MAJOR = 13;

/**
 * The wheels, pinned. onnxruntime-gpu 1.30.0 declares `nvidia-cuda-runtime~=13.0`,
 * `nvidia-cuda-nvrtc~=13.0`, `nvidia-cufft~=12.0`, `nvidia-curand~=10.0` and
 * `nvidia-cudnn-cu13~=9.0`, and its CUDA provider NEEDs cuBLAS 13; the picks are
 * the CUDA 13.0 releases, which run on any driver that supports CUDA 13 (≥ 580).
 */
export const GPU_WHEELS: readonly WheelPin[] = [
  {
    name: "onnxruntime-gpu",
    version: "1.30.0",
    sha256: "4fbf0c5d7b5fb99266c2e8a802e3e64af68bdc383e0f3c7349b985f1087eedaa",
    libs: ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"],
  },
  {
    name: "nvidia-cuda-runtime",
    version: "13.0.96",
    sha256: "7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548",
    libs: ["libcudart.so.13"],
  },
  {
    name: "nvidia-cublas",
    version: "13.1.0.3",
    sha256: "ee8722c1f0145ab246bccb9e452153b5e0515fd094c3678df50b2a0888b8b171",
    libs: ["libcublasLt.so.13", "libcublas.so.13"],
  },
  {
    name: "nvidia-curand",
    version: "10.4.0.35",
    sha256: "1aee33a5da6e1db083fe2b90082def8915f30f3248d5896bcec36a579d941bfc",
    libs: ["libcurand.so.10"],
  },
  {
    name: "nvidia-cufft",
    version: "12.0.0.61",
    sha256: "6c44f692dce8fd5ffd3e3df134b6cdb9c2f72d99cf40b62c32dde45eea9ddad3",
    libs: ["libcufft.so.12"],
  },
  {
    name: "nvidia-cuda-nvrtc",
    version: "13.0.88",
    sha256: "ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575",
    libs: ["libnvrtc-builtins.so.13.0", "libnvrtc.so.13"],
  },
  {
    name: "nvidia-cudnn-cu13",
    version: "9.14.0.64",
    sha256: "024ce8f7571d322991ecadbe82907df2e89b5f36597d03436413ec6dd7c9fe54",
    // libcudnn.so.9 opens its sub-libraries itself, through its RUNPATH $ORIGIN.
    libs: [
      "libcudnn.so.9",
      "libcudnn_graph.so.9",
      "libcudnn_ops.so.9",
      "libcudnn_cnn.so.9",
      "libcudnn_adv.so.9",
      "libcudnn_heuristic.so.9",
      "libcudnn_engines_precompiled.so.9",
      "libcudnn_engines_runtime_compiled.so.9",
    ],
  },
];

/** pip's target for the downloads, so that every machine gets the same files (and SHA-256s). */
export const PIP_TARGET = {
  pythonVersion: "3.11",
  implementation: "cp",
  platforms: ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
} as const;

/** The provider libraries ONNX Runtime loads from the directory of `libonnxruntime.so.1`. */
export const PROVIDER_LIBS = ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"] as const;

/**
 * The libraries opened before the first CUDA session, each after those it needs
 * (cuBLAS needs cuBLASLt; libnvrtc, without RUNPATH, opens its builtins by soname).
 */
export const CUDA_PRELOAD: readonly string[] = [
  "libcublasLt.so.13",
  "libcublas.so.13",
  "libnvrtc-builtins.so.13.0",
  "libnvrtc.so.13",
  "libcurand.so.10",
  "libcufft.so.12",
  "libcudart.so.13",
  "libcudnn.so.9",
];

/** The NVIDIA driver's library, opened first (a missing one means no driver). */
export const DRIVER_LIB = "libcuda.so.1";

/** An environment variable, `undefined` when unset, empty or unreadable (no --allow-env). */
export function env(name: string): string | undefined {
  try {
    const v = Deno.env.get(name);
    return v === undefined || v === "" ? undefined : v;
  } catch {
    return undefined; // no --allow-env: the defaults
  }
}

/** The project's `.gpu/` folder (wheels, `lib/`, `manifest.json`). */
export function gpuDir(): string {
  return fromFileUrl(new URL("../../.gpu/", import.meta.url));
}

/**
 * Where the CUDA libraries are: `$QUADJOINT_GPU_LIBS`, else `.gpu/lib` of this project. The variable may list
 * several folders, separated by `:`; each library is taken from the first that holds it (so the CUDA libraries of
 * an installed PyTorch, `…/site-packages/nvidia/cu13/lib` and `…/nvidia/cudnn/lib`, can serve beside a folder that
 * holds only the two provider libraries).
 */
export function gpuLibDir(): string {
  return env("QUADJOINT_GPU_LIBS") ?? join(gpuDir(), "lib");
}

/** The driver library to open: `$QUADJOINT_CUDA_DRIVER` (a path), else `libcuda.so.1` from the system's search path. */
export function driverLib(): string {
  return env("QUADJOINT_CUDA_DRIVER") ?? DRIVER_LIB;
}

/** onnxruntime-node's package folder. */
export function ortNodeDir(): string {
  // Resolves to …/onnxruntime-node/dist/index.js.
  return dirname(dirname(fromFileUrl(import.meta.resolve("onnxruntime-node"))));
}

/** The folder holding onnxruntime-node's `libonnxruntime.so.1` for this platform. */
export function ortBinDir(): string {
  return join(ortNodeDir(), "bin", "napi-v6", Deno.build.os, Deno.build.arch === "x86_64" ? "x64" : "arm64");
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n").find((l) => l.trim() !== "")?.trim() ?? "unknown error";
}

/** The real path of `path`, or `undefined` when it does not resolve. */
export function realPath(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Makes each provider library in `binDir` a link to the one in `libDir`,
 * replacing a missing, dangling or different entry; returns what could not be
 * linked, or `undefined` when all are in place.
 */
export function linkProviders(libDir: string, binDir: string): string | undefined {
  for (const name of PROVIDER_LIBS) {
    const target = join(libDir, name), link = join(binDir, name);
    const want = realPath(target);
    if (want === undefined) return `${target} not found`;
    if (realPath(link) === want) continue;
    try {
      // A link under a name of its own, renamed over the old one: processes linking at once never see none, nor
      // collide (a rename replaces atomically).
      const fresh = `${link}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
      Deno.symlinkSync(want, fresh);
      try {
        Deno.renameSync(fresh, link);
      } catch (e) {
        Deno.removeSync(fresh);
        throw e;
      }
    } catch (e) {
      return `${name} is not beside libonnxruntime.so.1 in ${binDir} and cannot be linked there (${firstLine(e)})`;
    }
  }
  return undefined;
}

/** Whether the CUDA libraries are loaded, or why not. */
export type CudaReady = { readonly ok: true } | { readonly ok: false; readonly why: string };

// Libraries stay loaded for the life of the process; the handles are kept so nothing closes them.
const opened: Deno.DynamicLibrary<Record<string, never>>[] = [];
const preparedFor = new Map<string, CudaReady>();

function isPermission(e: unknown): boolean {
  return e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied;
}

/**
 * Loads the NVIDIA driver and the CUDA libraries of {@linkcode gpuLibDir} (each from the first folder of it that
 * holds it) in
 * dependency order and links the provider libraries beside onnxruntime-node's
 * `libonnxruntime.so.1`. Done once per library folder and process; the
 * reason on failure is one line, phrased to follow "backend cuda unavailable (…)".
 */
export function prepareCuda(): CudaReady {
  const libDir = gpuLibDir();
  const known = preparedFor.get(libDir);
  if (known !== undefined) return known;
  const ready = prepare(libDir);
  preparedFor.set(libDir, ready);
  return ready;
}

function prepare(searchPath: string): CudaReady {
  const fail = (why: string): CudaReady => ({ ok: false, why });
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return fail(`CUDA is set up for linux x86_64 only, this is ${Deno.build.os} ${Deno.build.arch}`);
  }
  const dirs = searchPath.split(":").filter((d) => d !== "");
  for (const dir of dirs) {
    try {
      if (!Deno.statSync(dir).isDirectory) return fail(`run deno task setup-gpu: ${dir} is not a folder`);
    } catch (e) {
      if (isPermission(e)) return fail(`reading ${dir} needs --allow-read`);
      return fail(`run deno task setup-gpu: ${dir} not found`);
    }
  }
  const where = new Map<string, string>();
  for (const name of [...CUDA_PRELOAD, ...PROVIDER_LIBS]) {
    const dir = dirs.find((d) => realPath(join(d, name)) !== undefined);
    if (dir === undefined) {
      const missing = dirs.length === 1 ? join(dirs[0]!, name) : `${name} in ${dirs.join(":")}`;
      return fail(`run deno task setup-gpu: ${missing} not found`);
    }
    where.set(name, dir);
  }
  const driver = driverLib();
  try {
    opened.push(Deno.dlopen(driver, {}));
  } catch (e) {
    if (isPermission(e)) return fail("loading the CUDA libraries needs --allow-ffi");
    const msg = firstLine(e);
    if (/cannot open shared object file|no such file/i.test(msg)) return fail(`no NVIDIA driver: ${driver} not found`);
    return fail(`the NVIDIA driver ${driver} does not load: ${msg}`);
  }
  for (const name of CUDA_PRELOAD) {
    try {
      opened.push(Deno.dlopen(join(where.get(name)!, name), {}));
    } catch (e) {
      return fail(`${name} does not load: ${firstLine(e)}`);
    }
  }
  let binDir: string;
  try {
    binDir = ortBinDir();
  } catch (e) {
    return fail(`onnxruntime-node's folder cannot be found: ${firstLine(e)}`);
  }
  const unlinked = linkProviders(where.get(PROVIDER_LIBS[1])!, binDir);
  return unlinked === undefined ? { ok: true } : fail(`run deno task setup-gpu: ${unlinked}`);
}
