/**
 * Tries a GPU backend in a child process before this process does, so that
 * the native libraries' own lines (Dawn's "Couldn't load Vulkan…" when
 * `webgpu` has no adapter) land in the child's captured stderr and the
 * terminal sees only the runtime's one-line fallback warning.
 *
 * Run as a script, it reads a model from stdin and creates one session on the
 * backend named by its argument: exit 0 when it starts, else a line
 * `PROBE_FAILED <reason>` and exit 1.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { concatBytes } from "../util/files.ts";

const FAILED = "PROBE_FAILED ";

/** What the probe found: the backend starts, it cannot (with why), or the probe itself could not run. */
export type ProbeResult = { readonly starts: true } | { readonly starts: false; readonly why: string } | undefined;

/**
 * Whether `backend` starts a session for `model` in a child process;
 * `undefined` when no child can be started (no `--allow-run`, no Deno
 * executable, a failed import), in which case the caller tries in-process.
 */
export async function probeBackend(backend: string, model: Uint8Array): Promise<ProbeResult> {
  // fileURLToPath, not .pathname: a space or non-ASCII letter in the checkout's path is %-encoded there.
  const script = fileURLToPath(import.meta.url);
  const config = fileURLToPath(new URL("../../deno.json", import.meta.url));
  const args = ["run", "--quiet", "--allow-read", "--allow-env", "--allow-ffi", "--allow-sys"];
  try {
    if (Deno.statSync(config).isFile) args.push("--config", config);
  } catch { /* used as a library elsewhere: the child resolves as the parent does */ }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(Deno.execPath(), {
      args: [...args, script, backend],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch {
    return undefined;
  }
  const writer = child.stdin.getWriter();
  await writer.write(model).catch(() => {});
  await writer.close().catch(() => {});
  const { success, stdout } = await child.output();
  if (success) return { starts: true };
  const line = new TextDecoder().decode(stdout).split("\n").find((l) => l.startsWith(FAILED));
  return line === undefined ? undefined : { starts: false, why: line.slice(FAILED.length) };
}

/** The reason in an ONNX Runtime error, without the source location and assertion text that precede it. */
export function backendFailureReason(message: string): string {
  const first = message.split("\n").find((l) => l.trim() !== "")?.trim() ?? "unknown error";
  // "…/cuda_call.cc:154 std::conditional_t<…> … CUDA failure 100: no CUDA-capable device is detected ; GPU=-1 ; …"
  const cuda = /CUDA failure (\d+): (.+?)\s*;/.exec(first);
  if (cuda) {
    // 35: cudaErrorInsufficientDriver, the driver is older than the CUDA runtime the provider was built with.
    const hint = cuda[1] === "35" ? " (the CUDA 13 libraries need an NVIDIA driver ≥ 580)" : "";
    return `CUDA failure ${cuda[1]}: ${cuda[2]}${hint}`;
  }
  // "/onnxruntime_src/…/webgpu_context.cc:136 … was false. Failed to get a WebGPU adapter: No supported adapters"
  const reason = /(?:was false\.|failed\.)\s+(.+)$/.exec(first)?.[1];
  return reason ?? first;
}

if (import.meta.main) {
  const backend = Deno.args[0] ?? "";
  const chunks: Uint8Array[] = [];
  for await (const chunk of Deno.stdin.readable) chunks.push(chunk);
  const model = concatBytes(chunks);
  ort.env.logLevel = "fatal";
  try {
    const session = await ort.InferenceSession.create(model, { executionProviders: [backend], logSeverityLevel: 3 });
    await session.release();
  } catch (e) {
    console.log(FAILED + backendFailureReason(e instanceof Error ? e.message : String(e)));
    Deno.exit(1);
  }
}
