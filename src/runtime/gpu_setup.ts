/**
 * `deno task setup-gpu [--dir DIR]`: installs what the `cuda` backend needs
 * into the project's ignored `.gpu/` folder, with no system changes.
 *
 * 1. pip downloads the pinned wheels ({@linkcode GPU_WHEELS}: onnxruntime-gpu
 *    of onnxruntime-node's version, and NVIDIA's CUDA 13 runtime, cuBLAS,
 *    cuRAND, cuFFT, NVRTC and cuDNN) into `.gpu/wheels/`, `--no-deps`, for one
 *    fixed Python and platform tag, and their SHA-256s are checked;
 * 2. only the shared libraries are unpacked, into `.gpu/lib/`;
 * 3. the versions are checked: the onnxruntime-gpu wheel is onnxruntime-node's
 *    version, every CUDA soname the provider and the libraries NEED is one
 *    that was installed (so the CUDA major versions agree), and the preload
 *    order loads each library after those it needs;
 * 4. the provider libraries are linked beside onnxruntime-node's
 *    `libonnxruntime.so.1` (the runtime links them again when `deno install`
 *    has replaced `node_modules`);
 * 5. `.gpu/manifest.json` records versions, files, sizes and SHA-256s.
 *
 * A second run with everything in place only verifies (hashes the libraries
 * against the manifest) and changes nothing. Errors are one line and exit 1.
 * `QUADJOINT_PYTHON` names the Python whose pip is used (default `python3`).
 *
 * Why one file: the command and the checks it runs (versions, sonames,
 * preload order, manifest) are one procedure, and the checks are exported
 * here for their tests; the pins and the loading live in `_cuda_libs.ts`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { writeFileAtomic } from "../util/files.ts";
import {
  CUDA_MAJOR,
  CUDA_PRELOAD,
  DRIVER_LIB,
  GPU_WHEELS,
  gpuDir,
  linkProviders,
  ortBinDir,
  ortNodeDir,
  PIP_TARGET,
  PROVIDER_LIBS,
  type WheelPin,
} from "./_cuda_libs.ts";
import { type DynamicInfo, readDynamicInfo } from "./_elf.ts";

/** Format of `.gpu/manifest.json`. */
export const MANIFEST_FORMAT = 1;

/** What `.gpu/manifest.json` holds. */
export interface GpuManifest {
  /** {@linkcode MANIFEST_FORMAT}. */
  readonly format: number;
  /** onnxruntime-gpu's version, equal to onnxruntime-node's. */
  readonly onnxruntime: string;
  /** The CUDA major version of the provider and the libraries. */
  readonly cuda: number;
  /** The wheels the libraries came from. */
  readonly wheels: readonly { name: string; version: string; sha256: string }[];
  /** The libraries in the lib folder, with the wheel each came from. */
  readonly libs: readonly { name: string; wheel: string; size: number; sha256: string; needed: readonly string[] }[];
  /** Opened in this order before the first CUDA session. */
  readonly preload: readonly string[];
  /** Where the provider libraries are linked. */
  readonly providers: { readonly dir: string; readonly files: readonly string[] };
}

/** A failure of setup-gpu, printed as one line. */
export class SetupError extends Error {
  /** Makes the error; `message` is the whole line after "setup-gpu: ". */
  constructor(message: string) {
    super(message);
    this.name = "SetupError";
  }
}

/** Why the onnxruntime-gpu wheel does not fit onnxruntime-node, or `undefined` when the versions are equal. */
export function ortVersionProblem(wheelVersion: string, nodeVersion: string): string | undefined {
  if (wheelVersion === nodeVersion) return undefined;
  return `onnxruntime-node is ${nodeVersion} but the pinned onnxruntime-gpu wheel is ${wheelVersion}: ` +
    `the provider must come from the same release (update GPU_WHEELS in src/runtime/_cuda_libs.ts)`;
}

const CUDA_SONAME = /^lib(?:cu|nvrtc|nvJitLink|cudnn)[A-Za-z_-]*\.so\.[\d.]+$/;

function stem(soname: string): string {
  return soname.replace(/\.so\..*$/, "");
}

/**
 * Problems with the NVIDIA sonames the installed libraries NEED: each must be
 * one of those installed (the driver's `libcuda.so.1` excepted), and the
 * provider must be built for CUDA `cudaMajor` (it NEEDs `libcudart.so.<major>`).
 * `libs` maps each installed file name to its dynamic section.
 */
export function sonameProblems(libs: ReadonlyMap<string, DynamicInfo>, cudaMajor: number): string[] {
  const problems: string[] = [];
  const have = new Set([...libs].map(([name, info]) => info.soname ?? name));
  for (const [name, info] of libs) {
    for (const need of info.needed) {
      if (need === DRIVER_LIB || !CUDA_SONAME.test(need) || have.has(need)) continue;
      const near = [...have].filter((s) => stem(s) === stem(need));
      problems.push(
        `${name} needs ${need}, which is not installed` + (near.length > 0 ? ` (installed: ${near.join(", ")})` : ""),
      );
    }
  }
  const provider = libs.get("libonnxruntime_providers_cuda.so");
  const cudart = provider?.needed.find((n) => stem(n) === "libcudart");
  if (provider !== undefined && cudart !== `libcudart.so.${cudaMajor}`) {
    problems.push(
      `libonnxruntime_providers_cuda.so is built for ${
        cudart ?? "no CUDA runtime"
      }, the pins are for CUDA ${cudaMajor}`,
    );
  }
  return problems;
}

/** Problems with a preload order: a library listed before one it needs, or one missing from `libs`. */
export function preloadProblems(order: readonly string[], libs: ReadonlyMap<string, DynamicInfo>): string[] {
  const problems: string[] = [];
  const byName = new Map([...libs].map(([name, info]) => [info.soname ?? name, name]));
  order.forEach((name, i) => {
    const info = libs.get(name);
    if (info === undefined) return problems.push(`${name} is in the preload order but not installed`);
    for (const need of info.needed) {
      const dep = byName.get(need);
      if (dep !== undefined && order.includes(dep) && order.indexOf(dep) > i) {
        problems.push(`${name} is preloaded before ${dep}, which it needs`);
      }
    }
  });
  return problems;
}

/** The SHA-256 of a file, read in chunks. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** The manifest at `path`, or `undefined` when it is missing, unreadable or of another format. */
export async function readManifest(path: string): Promise<GpuManifest | undefined> {
  try {
    const m = JSON.parse(await Deno.readTextFile(path));
    return m?.format === MANIFEST_FORMAT && Array.isArray(m.libs) && Array.isArray(m.wheels) ? m : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The wheels whose libraries must be unpacked again: all of them without a
 * manifest of these pins; else those with a library missing from `libDir` or
 * differing from the manifest in size or SHA-256.
 */
export async function staleWheels(
  manifest: GpuManifest | undefined,
  libDir: string,
  pins: readonly WheelPin[],
): Promise<WheelPin[]> {
  const samePins = manifest !== undefined && manifest.wheels.length === pins.length &&
    pins.every((p) =>
      manifest.wheels.some((w) => w.name === p.name && w.version === p.version && w.sha256 === p.sha256)
    );
  if (!samePins) return [...pins];
  const stale: WheelPin[] = [];
  for (const pin of pins) {
    for (const name of pin.libs) {
      const rec = manifest.libs.find((l) => l.name === name);
      const path = join(libDir, name);
      let ok = false;
      try {
        ok = rec !== undefined && (await Deno.stat(path)).size === rec.size && await sha256File(path) === rec.sha256;
      } catch { /* missing */ }
      if (!ok) {
        stale.push(pin);
        break;
      }
    }
  }
  return stale;
}

function wheelPrefix(pin: WheelPin): string {
  return `${pin.name.replace(/[-.]+/g, "_")}-${pin.version}-`;
}

function lastLine(bytes: Uint8Array): string {
  const lines = new TextDecoder().decode(bytes).split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return lines.findLast((l) => l.startsWith("ERROR")) ?? lines.at(-1) ?? "no output";
}

async function run(cmd: string, args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" }).output();
}

async function checkPip(python: string): Promise<void> {
  let out: Deno.CommandOutput | undefined;
  try {
    out = await run(python, ["-m", "pip", "--version"]);
  } catch { /* not found */ }
  if (!out?.success) {
    throw new SetupError(
      `pip not found (${python} -m pip does not run): install Python 3 with pip (e.g. apt-get install python3-pip) ` +
        `or set QUADJOINT_PYTHON`,
    );
  }
}

/** The wheel file of `pin` in `wheelDir`, downloaded by pip when missing or not the pinned file. */
async function fetchWheel(pin: WheelPin, wheelDir: string, python: string, log: (m: string) => void) {
  const find = () => {
    try {
      return [...Deno.readDirSync(wheelDir)].map((e) => e.name)
        .find((n) => n.startsWith(wheelPrefix(pin)) && n.endsWith(".whl"));
    } catch {
      return undefined;
    }
  };
  let file = find();
  if (file !== undefined && await sha256File(join(wheelDir, file)) !== pin.sha256) {
    log(`setup-gpu: ${file} is not the pinned file; downloading it again`);
    await Deno.remove(join(wheelDir, file));
    file = undefined;
  }
  if (file === undefined) {
    await checkPip(python);
    log(`setup-gpu: downloading ${pin.name}==${pin.version}`);
    const platforms = PIP_TARGET.platforms.flatMap((p) => ["--platform", p]);
    const out = await run(python, [
      ...["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check"],
      ...["--python-version", PIP_TARGET.pythonVersion, "--implementation", PIP_TARGET.implementation, ...platforms],
      ...["-d", wheelDir, `${pin.name}==${pin.version}`],
    ]);
    file = find();
    if (!out.success || file === undefined) {
      throw new SetupError(
        `pip could not download ${pin.name}==${pin.version} (no network, or PyPI unreachable?): ${
          lastLine(out.stderr)
        }`,
      );
    }
    const sha = await sha256File(join(wheelDir, file));
    if (sha !== pin.sha256) {
      throw new SetupError(`${file} has SHA-256 ${sha}, the pin says ${pin.sha256}`);
    }
  }
  return join(wheelDir, file);
}

// Unpacks the named members (by file name, wherever they lie) into a folder; Python's zipfile streams them.
const UNZIP = `
import os, shutil, sys, zipfile
wheel, dest, names = sys.argv[1], sys.argv[2], set(sys.argv[3:])
found = set()
with zipfile.ZipFile(wheel) as z:
    for member in z.namelist():
        name = member.rsplit("/", 1)[-1]
        if name in names:
            tmp = os.path.join(dest, name + ".tmp-setup")
            with z.open(member) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
            os.replace(tmp, os.path.join(dest, name))
            found.add(name)
missing = sorted(names - found)
if missing:
    print("the wheel lacks " + ", ".join(missing), file=sys.stderr)
    sys.exit(3)
`;

async function unpack(wheel: string, pin: WheelPin, libDir: string, python: string): Promise<void> {
  const out = await run(python, ["-c", UNZIP, wheel, libDir, ...pin.libs]);
  if (!out.success) throw new SetupError(`cannot unpack ${wheel}: ${lastLine(out.stderr)}`);
}

/** Options of {@linkcode setupGpu}. */
export interface SetupOptions {
  /** The folder to install into. @default the project's `.gpu/` */
  dir?: string;
  /** Python whose pip downloads the wheels. @default $QUADJOINT_PYTHON or "python3" */
  python?: string;
  /** Progress lines. @default console.log */
  log?: (message: string) => void;
}

/** Installs and verifies the CUDA libraries; returns the manifest written (or verified). */
export async function setupGpu(options: SetupOptions = {}): Promise<GpuManifest> {
  const dir = options.dir ?? gpuDir();
  const python = options.python ?? (Deno.env.get("QUADJOINT_PYTHON") || "python3");
  const log = options.log ?? ((m: string) => console.log(m));
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    throw new SetupError(`the CUDA libraries are set up for linux x86_64 only, this is ${Deno.build.os}`);
  }
  const ortPin = GPU_WHEELS.find((w) => w.name === "onnxruntime-gpu")!;
  const nodeVersion = JSON.parse(await Deno.readTextFile(join(ortNodeDir(), "package.json"))).version as string;
  const versionProblem = ortVersionProblem(ortPin.version, nodeVersion);
  if (versionProblem !== undefined) throw new SetupError(versionProblem);

  const libDir = join(dir, "lib"), wheelDir = join(dir, "wheels"), manifestPath = join(dir, "manifest.json");
  await Deno.mkdir(libDir, { recursive: true });
  const before = await readManifest(manifestPath);
  const stale = await staleWheels(before, libDir, GPU_WHEELS);
  for (const pin of stale) {
    const wheel = await fetchWheel(pin, wheelDir, python, log);
    log(`setup-gpu: unpacking ${pin.libs.length} ${pin.libs.length === 1 ? "library" : "libraries"} of ${pin.name}`);
    await unpack(wheel, pin, libDir, python);
  }

  const libs = new Map<string, DynamicInfo>();
  for (const pin of GPU_WHEELS) {
    for (const name of pin.libs) libs.set(name, await readDynamicInfo(join(libDir, name)));
  }
  const problems = [...sonameProblems(libs, CUDA_MAJOR), ...preloadProblems(CUDA_PRELOAD, libs)];
  if (problems.length > 0) throw new SetupError(problems.join("; "));
  const binDir = ortBinDir();
  const unlinked = linkProviders(libDir, binDir);
  if (unlinked !== undefined) throw new SetupError(unlinked);
  try {
    Deno.dlopen("libz.so.1", {}).close();
  } catch {
    log("setup-gpu: warning: cuDNN needs libz.so.1, which is not installed (apt-get install zlib1g)");
  }

  if (stale.length === 0 && before !== undefined) {
    const bytes = before.libs.reduce((n, l) => n + l.size, 0);
    log(
      `setup-gpu: ${libDir} verified: ${before.libs.length} libraries (${(bytes / 2 ** 30).toFixed(1)} GiB), ` +
        `CUDA ${before.cuda}, onnxruntime ${before.onnxruntime}; nothing to do`,
    );
    return before;
  }
  const manifest: GpuManifest = {
    format: MANIFEST_FORMAT,
    onnxruntime: ortPin.version,
    cuda: CUDA_MAJOR,
    wheels: GPU_WHEELS.map(({ name, version, sha256 }) => ({ name, version, sha256 })),
    libs: await Promise.all(GPU_WHEELS.flatMap((pin) =>
      pin.libs.map(async (name) => {
        const path = join(libDir, name);
        const needed = libs.get(name)!.needed.filter((n) => CUDA_SONAME.test(n) || n === DRIVER_LIB);
        return { name, wheel: pin.name, size: (await Deno.stat(path)).size, sha256: await sha256File(path), needed };
      })
    )),
    preload: CUDA_PRELOAD,
    providers: { dir: binDir, files: [...PROVIDER_LIBS] },
  };
  await writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2) + "\n", { what: "GPU manifest" });
  log(`setup-gpu: ${manifest.libs.length} libraries in ${libDir} (CUDA ${CUDA_MAJOR}); wrote ${manifestPath}`);
  return manifest;
}

if (import.meta.main) {
  const args = [...Deno.args];
  const at = args.indexOf("--dir");
  const dir = at >= 0 ? args[at + 1] : undefined;
  if ((at >= 0 && dir === undefined) || args.length !== (at >= 0 ? 2 : 0)) {
    console.error("usage: deno task setup-gpu [--dir DIR]");
    Deno.exit(2);
  }
  try {
    await setupGpu(dir !== undefined ? { dir } : {});
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`setup-gpu: ${e instanceof SetupError ? msg : msg.split("\n")[0]}`);
    Deno.exit(1);
  }
}
