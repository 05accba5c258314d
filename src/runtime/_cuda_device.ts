/**
 * Which NVIDIA device and driver a CUDA session runs on, for results and
 * reports: the device's name and the kernel driver's version, asked of the
 * driver's own libraries first (a virtual machine may publish no
 * `/proc/driver/nvidia`: an H200 machine here did not).
 *
 * @module
 */
import { join } from "node:path";
import { driverLib, env, realPath } from "./_cuda_libs.ts";

/**
 * The name of CUDA device `deviceId` ("NVIDIA H200"): from the driver (`cuDeviceGetName`, with CUDA's own
 * numbering, as ONNX Runtime's device id), else from the driver's
 * `/proc/driver/nvidia/gpus/<bus id>/information` files in PCI bus order
 * (through `CUDA_VISIBLE_DEVICES` when it lists indices); `undefined` when
 * neither answers. Meant for after a CUDA session started (the driver is
 * loaded then). From `/proc`, with several different GPUs, the name can be a
 * neighbour's: CUDA numbers devices fastest first unless `CUDA_DEVICE_ORDER=PCI_BUS_ID`.
 */
export function cudaDeviceName(deviceId: number): string | undefined {
  return driverDeviceName(deviceId) ?? procDeviceName(deviceId);
}

function driverDeviceName(deviceId: number): string | undefined {
  let lib;
  try {
    lib = Deno.dlopen(driverLib(), {
      cuInit: { parameters: ["u32"], result: "i32" },
      cuDeviceGet: { parameters: ["buffer", "i32"], result: "i32" },
      cuDeviceGetName: { parameters: ["buffer", "i32", "i32"], result: "i32" },
    });
  } catch {
    return undefined; // no driver, no --allow-ffi, or a driver without these entry points
  }
  try {
    const device = new Int32Array(1), name = new Uint8Array(256);
    if (lib.symbols.cuInit(0) !== 0 || lib.symbols.cuDeviceGet(device, deviceId) !== 0) return undefined;
    if (lib.symbols.cuDeviceGetName(name, name.length, device[0]!) !== 0) return undefined;
    const end = name.indexOf(0);
    return new TextDecoder().decode(name.subarray(0, end < 0 ? name.length : end)).trim() || undefined;
  } finally {
    lib.close(); // the handle kept in `opened` keeps the driver loaded
  }
}

function procDeviceName(deviceId: number): string | undefined {
  const root = "/proc/driver/nvidia/gpus";
  try {
    const buses = [...Deno.readDirSync(root)].map((e) => e.name).sort();
    const visible = env("CUDA_VISIBLE_DEVICES")?.split(",").map((s) => s.trim());
    const index = visible !== undefined && visible.every((s) => /^\d+$/.test(s)) ? Number(visible[deviceId]) : deviceId;
    const bus = buses[index];
    if (bus === undefined) return undefined;
    const info = Deno.readTextFileSync(join(root, bus, "information"));
    return /^Model:\s*(.+)$/m.exec(info)?.[1]?.trim();
  } catch {
    return undefined;
  }
}

/**
 * The NVIDIA kernel driver's version ("580.65.06"): from `/proc/driver/nvidia/version`, else (a virtual
 * machine may publish no `/proc/driver/nvidia`: an H200 machine here did not) from the file name of the
 * `libcuda.so` this process loaded, which the driver installs as `libcuda.so.<version>`, else from the
 * driver's management library (NVML's `nvmlSystemGetDriverVersion`, as nvidia-smi reads it); `undefined`
 * when none tells.
 */
export function nvidiaDriverVersion(): string | undefined {
  try {
    const v = /Kernel Module\s+(?:for\s+\S+\s+)?([\d.]+)/.exec(Deno.readTextFileSync("/proc/driver/nvidia/version"))
      ?.[1];
    if (v !== undefined) return v;
  } catch { /* not published: try the loaded library */ }
  return loadedDriverVersion(readMaps()) ?? nvmlDriverVersion();
}

function nvmlDriverVersion(): string | undefined {
  let lib;
  try {
    lib = Deno.dlopen("libnvidia-ml.so.1", {
      nvmlInit_v2: { parameters: [], result: "i32" },
      nvmlSystemGetDriverVersion: { parameters: ["buffer", "u32"], result: "i32" },
      nvmlShutdown: { parameters: [], result: "i32" },
    });
  } catch {
    return undefined; // no driver, or no --allow-ffi
  }
  try {
    if (lib.symbols.nvmlInit_v2() !== 0) return undefined;
    const text = new Uint8Array(96);
    const ok = lib.symbols.nvmlSystemGetDriverVersion(text, text.length) === 0;
    lib.symbols.nvmlShutdown();
    const end = text.indexOf(0);
    const v = new TextDecoder().decode(text.subarray(0, end < 0 ? text.length : end)).trim();
    return ok && /^\d+\.\d+/.test(v) ? v : undefined;
  } finally {
    lib.close();
  }
}

function readMaps(): string {
  try {
    return Deno.readTextFileSync("/proc/self/maps");
  } catch {
    return "";
  }
}

/** The version in the real file name of the `libcuda.so` mapped in `maps` (a `/proc/<pid>/maps` text). */
export function loadedDriverVersion(
  maps: string,
  resolve: (path: string) => string | undefined = realPath,
): string | undefined {
  for (const line of maps.split("\n")) {
    const path = /\s(\/\S*\/libcuda\.so[.\d]*)$/.exec(line)?.[1];
    if (path === undefined) continue;
    const version = /libcuda\.so\.(\d+\.\d+(?:\.\d+)?)$/.exec(resolve(path) ?? path)?.[1];
    if (version !== undefined) return version;
  }
  return undefined;
}
