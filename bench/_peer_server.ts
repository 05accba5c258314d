/**
 * The PyTorch peers' side of the peer benchmark: finding (or installing) a
 * Python with torch and torchdiffeq, and talking JSON lines to
 * bench/peers/peers.py, which stays up for the whole benchmark so torch is
 * imported once. The SDE benchmark's torchsde peer (bench/peers/torchsde_ou.py)
 * speaks the same protocol, through the same class, and finds its Python with
 * {@linkcode findPeerPython} (which installs nothing).
 *
 * torch is never a dependency of quadjoint, its tests or CI: when neither
 * `bench/.venv` nor `python3` has torch and torchdiffeq, the benchmark makes
 * `bench/.venv` (ignored by git) and pip-installs them from PyPI, saying so.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** A setup problem the benchmark reports in one line (no Python, failed install, server gone). */
export class PeerSetupError extends Error {
  override name = "PeerSetupError";
}

/** This folder (bench/). */
const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));

/** The benchmark's own virtual environment. */
export const VENV_DIR: string = join(BENCH_DIR, ".venv");

/** Its interpreter. */
export const VENV_PYTHON: string = join(VENV_DIR, "bin", "python");

/** The server script. */
export const SERVER_SCRIPT: string = join(BENCH_DIR, "peers", "peers.py");

/** The SDE benchmark's torchsde server (bench/sde_bench.ts). */
export const TORCHSDE_SCRIPT: string = join(BENCH_DIR, "peers", "torchsde_ou.py");

/** What pip installs into the venv (torchsde for the SDE benchmark's peer). */
export const PEER_PACKAGES: readonly string[] = ["torch", "torchdiffeq==0.2.5", "torchsde==0.2.6"];

async function output(
  cmd: string,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string } | undefined> {
  try {
    const r = await new Deno.Command(cmd, { args: [...args], stdin: "null", stdout: "piped", stderr: "piped" })
      .output();
    const dec = new TextDecoder();
    return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** "torch X, torchdiffeq Y" (or the given modules' versions) when `python` imports them all, else undefined. */
async function probe(
  python: string,
  modules: readonly string[] = ["torch", "torchdiffeq"],
): Promise<string | undefined> {
  const r = await output(python, [
    "-c",
    `import ${modules.join(", ")}; print(${modules.map((m) => `${m}.__version__`).join(", ")})`,
  ]);
  if (r === undefined || r.code !== 0) return undefined;
  const versions = r.stdout.trim().split(/\s+/);
  return modules.map((m, i) => `${m} ${versions[i]}`).join(", ");
}

/**
 * The first of bench/.venv's Python and `python3` that imports every one of
 * `modules`, with their versions ("torch X, torchsde Y"); undefined when
 * neither does. Installs nothing (see {@linkcode ensurePeerPython} for that).
 */
export async function findPeerPython(
  modules: readonly string[],
): Promise<{ python: string; versions: string } | undefined> {
  for (const python of [VENV_PYTHON, "python3"]) {
    if (python === VENV_PYTHON && !(await exists(python))) continue;
    const versions = await probe(python, modules);
    if (versions) return { python, versions };
  }
  return undefined;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A Python interpreter that imports torch and torchdiffeq: bench/.venv's if it
 * works, else `python3`'s, else a fresh bench/.venv with both pip-installed
 * from PyPI (printed before it starts: it downloads about 3 GB).
 *
 * @throws {PeerSetupError} when python3 is missing or the install fails.
 */
export async function ensurePeerPython(log: (line: string) => void = console.log): Promise<string> {
  if (await exists(VENV_PYTHON)) {
    const v = await probe(VENV_PYTHON);
    if (v) {
      log(`peers: using bench/.venv (${v})`);
      return VENV_PYTHON;
    }
  }
  const system = await output("python3", ["--version"]);
  if (system === undefined) {
    throw new PeerSetupError(
      "python3 is not on PATH: install Python 3 (with venv and pip) to run the PyTorch peers, or run another benchmark",
    );
  }
  const v = await probe("python3");
  if (v) {
    log(`peers: using python3 (${v})`);
    return "python3";
  }
  log(
    `peers: torch and torchdiffeq are not installed; creating bench/.venv and running pip install ` +
      `${PEER_PACKAGES.join(" ")} from PyPI. This downloads about 3 GB (torch pulls its CUDA wheels) and takes ` +
      `about 5.5 GB of disk; it happens once, and bench/.venv is ignored by git (delete it to undo).`,
  );
  if (!(await exists(VENV_PYTHON))) {
    const r = await output("python3", ["-m", "venv", VENV_DIR]);
    if (r === undefined || r.code !== 0) {
      // A half-made venv (e.g. without pip) would only fail again next time.
      await Deno.remove(VENV_DIR, { recursive: true }).catch(() => {});
      const why = r?.stderr.trim().split("\n").at(-1) ?? "python3 vanished";
      throw new PeerSetupError(
        `python3 -m venv bench/.venv failed (${why}): on Debian/Ubuntu install python3-venv, or install torch and ` +
          `torchdiffeq==0.2.5 for python3 yourself`,
      );
    }
  }
  const pip = await new Deno.Command(VENV_PYTHON, {
    args: ["-m", "pip", "install", ...PEER_PACKAGES],
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (pip.code !== 0) {
    throw new PeerSetupError(
      `pip install ${PEER_PACKAGES.join(" ")} into bench/.venv failed (exit code ${pip.code}; pip's output is above)`,
    );
  }
  const installed = await probe(VENV_PYTHON);
  if (!installed) throw new PeerSetupError("bench/.venv still cannot import torch and torchdiffeq after pip install");
  log(`peers: installed ${installed} into bench/.venv`);
  return VENV_PYTHON;
}

/** Splits a text stream into lines (without their line ends). */
function lineSplitter(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const p of parts) controller.enqueue(p);
    },
    flush(controller) {
      if (rest !== "") controller.enqueue(rest);
    },
  });
}

/** An answer from the server; `ok` false answers become errors. */
export type PeerAnswer = Record<string, unknown>;

/** The running peers.py server: one request at a time, one JSON line each way. */
export class PeerServer {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: ReadableStreamDefaultReader<string>;
  #closed = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter()).getReader();
  }

  /**
   * Starts peers.py (or another server speaking its protocol, `script`) with
   * `python`; its stderr goes to ours. `flushDenormals` sets torch's
   * subnormal mode (`torch.set_flush_denormal`) to quadjoint's runtime's, so
   * both sides do the same arithmetic; `device` (peers.py only) is torch's
   * device for the model and states, `cpu` unless given.
   */
  static start(
    python: string,
    options: {
      threads: number;
      flushDenormals: boolean;
      gqPath?: string | undefined;
      script?: string;
      device?: string;
    },
  ): PeerServer {
    const args = [
      options.script ?? SERVER_SCRIPT,
      "--threads",
      String(options.threads),
      "--flush-denormals",
      options.flushDenormals ? "1" : "0",
    ];
    if (options.gqPath) args.push("--gq-path", options.gqPath);
    if (options.device) args.push("--device", options.device);
    const threads = String(options.threads);
    const child = new Deno.Command(python, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
      env: { OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads },
    }).spawn();
    return new PeerServer(child);
  }

  /** Sends one request and waits for its answer; Error with the server's message when it fails. */
  async request(request: { cmd: string } & Record<string, unknown>): Promise<PeerAnswer> {
    if (this.#closed) throw new PeerSetupError(`peer server is closed; cannot send "${request.cmd}"`);
    try {
      await this.#writer.write(new TextEncoder().encode(JSON.stringify(request) + "\n"));
    } catch (e) {
      throw new PeerSetupError(`peer server stopped accepting requests (${(e as Error).message})`);
    }
    for (;;) {
      const { value, done } = await this.#lines.read();
      if (done) {
        const status = await this.#child.status;
        this.#closed = true;
        throw new PeerSetupError(`peer server exited with code ${status.code} during "${request.cmd}"`);
      }
      if (value.trim() === "") continue;
      let answer: PeerAnswer;
      try {
        answer = JSON.parse(value);
      } catch {
        throw new PeerSetupError(`peer server wrote a line that is not JSON: ${value.slice(0, 200)}`);
      }
      if (answer.ok !== true) throw new Error(`peer "${request.cmd}" failed: ${String(answer.error)}`);
      return answer;
    }
  }

  /** Asks the server to quit, and kills it if it has not exited within `graceMs`. */
  async close(graceMs = 5000): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        await this.#writer.write(new TextEncoder().encode(JSON.stringify({ cmd: "quit" }) + "\n"));
        await this.#writer.close();
      } catch { /* already gone */ }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      this.#child.status.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
    ]);
    clearTimeout(timer);
    if (!exited) {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
      await this.#child.status;
    }
    await this.#lines.cancel().catch(() => {});
  }
}
