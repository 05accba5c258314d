/**
 * The SDE benchmark's peer: torchsde 0.2.6's `sdeint_adjoint` training the
 * same Ornstein–Uhlenbeck neural SDE, in bench/peers/torchsde_ou.py (a
 * JSON-lines server speaking peers.py's protocol, started once through
 * {@linkcode PeerServer}), fed quadjoint's initial weights and data through
 * weight files (_peer_weights.ts); and the pure helpers the benchmark's
 * agreement check and ratios need.
 *
 * The peer runs only when bench/.venv's Python (or `python3`) imports torch
 * and torchsde; this module installs nothing (`deno task bench peers` makes
 * bench/.venv with both).
 *
 * @module
 */
import type { OrnsteinUhlenbeckData, SdeSamples } from "../src/data/ornstein_uhlenbeck.ts";
import type { TargetMoments } from "../src/sde/gaussian_kl.ts";
import type { Tensor } from "../src/onnx/tensor.ts";
import type { SdeEpochTimingRecord } from "../src/results/records.ts";
import { findPeerPython, PeerServer, TORCHSDE_SCRIPT } from "./_peer_server.ts";
import { type WeightTensor, writeWeights } from "./_peer_weights.ts";

/** The peer's method name in `sdeEpochTimings`. */
export const TORCHSDE_METHOD = "torchsde sdeint_adjoint";

/**
 * The records with `ratioToTorchsde` (epochSeconds ÷ the torchsde record's at
 * the same width, 1 for that record itself) wherever such a record exists;
 * the others unchanged.
 *
 * @example
 * ```ts
 * import { TORCHSDE_METHOD, withTorchsdeRatios } from "./_torchsde_peer.ts";
 * const row = { width: 20, initialValues: 80, paths: 45, batchSize: 40, nfeForwardPerEpoch: 0, nfeBackwardPerEpoch: 0 };
 * const [a] = withTorchsdeRatios([
 *   { ...row, method: "sde-adjoint", epochSeconds: 3 },
 *   { ...row, method: TORCHSDE_METHOD, epochSeconds: 6 },
 * ]);
 * if (a!.ratioToTorchsde !== 0.5) throw new Error(`${a!.ratioToTorchsde}`);
 * ```
 */
export function withTorchsdeRatios(records: readonly SdeEpochTimingRecord[]): SdeEpochTimingRecord[] {
  return records.map((r) => {
    const peer = records.find((p) => p.method === TORCHSDE_METHOD && p.width === r.width);
    return peer ? { ...r, ratioToTorchsde: r.epochSeconds / peer.epochSeconds } : { ...r };
  });
}

/** Mean and sample standard deviation (n − 1; 0 for one value). */
export function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  if (xs.length === 0) throw new RangeError("meanSd() needs at least one value, got none");
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const ss = xs.reduce((s, x) => s + (x - mean) ** 2, 0);
  return { mean, sd: xs.length > 1 ? Math.sqrt(ss / (xs.length - 1)) : 0 };
}

/**
 * Welch's statistic (mean a − mean b) / √(sd_a²/n_a + sd_b²/n_b): how many
 * standard errors apart two samples' means are (|z| ≲ 2: consistent).
 * Infinity when the means differ and both samples are constant, 0 when neither differs.
 */
export function welchZ(a: readonly number[], b: readonly number[]): number {
  const x = meanSd(a), y = meanSd(b);
  const se = Math.sqrt(x.sd ** 2 / a.length + y.sd ** 2 / b.length);
  const d = x.mean - y.mean;
  if (se === 0) return d === 0 ? 0 : Math.sign(d) * Infinity;
  return d / se;
}

/**
 * A batch as quadjoint's trainer builds it: initial values `indices` of a
 * split, each repeated `paths` times (a group's samples consecutive), and
 * their target moments per time.
 */
export function replicateBatch(
  split: Pick<SdeSamples, "x0" | "mean" | "variance">,
  indices: ArrayLike<number>,
  paths: number,
): { y0: Float64Array; target: TargetMoments } {
  const idx = Array.from(indices);
  const y0 = new Float64Array(idx.length * paths);
  idx.forEach((j, g) => y0.fill(split.x0[j]!, g * paths, (g + 1) * paths));
  const pick = (per: readonly Float64Array[]) => per.map((v) => Float64Array.from(idx, (j) => v[j]!));
  return { y0, target: { mean: pick(split.mean), variance: pick(split.variance) } };
}

/**
 * The OU data as weight-file tensors: `times` and, per split, `x0` [n] and
 * the per-time `mean` and `variance` as [times, n] (torchsde_ou.py's `data`).
 */
export function ouDataTensors(data: Pick<OrnsteinUhlenbeckData, "times" | "train" | "test">): Record<
  string,
  WeightTensor
> {
  const T = data.times.length;
  const out: Record<string, WeightTensor> = { times: { dims: [T], data: Float64Array.from(data.times) } };
  for (const [name, split] of [["train", data.train], ["test", data.test]] as const) {
    const n = split.x0.length;
    const stack = (per: readonly Float64Array[]) => {
      const a = new Float64Array(T * n);
      per.forEach((v, k) => a.set(v, k * n));
      return a;
    };
    out[`${name}.x0`] = { dims: [n], data: split.x0 };
    out[`${name}.mean`] = { dims: [T, n], data: stack(split.mean) };
    out[`${name}.variance`] = { dims: [T, n], data: stack(split.variance) };
  }
  return out;
}

/** One timed torchsde epoch. */
export interface TorchsdeEpoch {
  /** Wall-clock seconds from the first batch to the test KL. */
  readonly seconds: number;
  /** Mean training loss of the batches. */
  readonly trainLoss: number;
  /** The test KL after the epoch. */
  readonly testKl: number;
  /** Drift and diffusion evaluations of the training batches' forward solves. */
  readonly nfeForward: number;
  /** Drift and diffusion evaluations of their backward passes. */
  readonly nfeBackward: number;
}

/** The running torchsde_ou.py server and the folder its files go to. */
export class TorchsdePeer {
  /** Versions of Python, torch and torchsde, and torch's thread count. */
  readonly versions: Record<string, string>;
  readonly #server: PeerServer;
  readonly #tmp: string;

  private constructor(server: PeerServer, tmp: string, versions: Record<string, string>) {
    this.#server = server;
    this.#tmp = tmp;
    this.versions = versions;
  }

  /**
   * Starts the peer with `threads` torch threads, or returns why it cannot
   * run (no Python that imports torch and torchsde) as one line.
   */
  static async start(threads: number): Promise<TorchsdePeer | string> {
    const found = await findPeerPython(["torch", "torchsde"]);
    if (!found) {
      return "neither bench/.venv nor python3 imports torch and torchsde: `deno task bench peers` creates " +
        "bench/.venv with them, or run `bench/.venv/bin/python -m pip install torchsde==0.2.6`";
    }
    const server = PeerServer.start(found.python, {
      threads,
      // The runtime's default mode (RuntimeOptions.flushDenormals), so both sides do the same arithmetic.
      flushDenormals: true,
      script: TORCHSDE_SCRIPT,
    });
    const tmp = await Deno.makeTempDir({ prefix: "quadjoint-torchsde-" });
    try {
      const hello = await server.request({ cmd: "hello" });
      const versions = {
        python: String(hello.python),
        torch: String(hello.torch),
        torchsde: String(hello.torchsde),
        torchThreads: String(hello.threads),
        torchFlushesDenormals: String(hello.flush_denormals),
      };
      return new TorchsdePeer(server, tmp, versions);
    } catch (e) {
      await server.close();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      return (e as Error).message;
    }
  }

  /** Sends the OU data (times, initial values, target moments). */
  async loadData(data: OrnsteinUhlenbeckData): Promise<void> {
    const file = `${this.#tmp}/data.bin`;
    await writeWeights(file, ouDataTensors(data));
    await this.#server.request({ cmd: "data", file, paths: data.paths });
  }

  /** Sends the initial drift ("l*") and diffusion ("g*") weights; returns the peer's parameter count. */
  async loadModel(width: number, params: Readonly<Record<string, Tensor>>): Promise<number> {
    const weights: Record<string, WeightTensor> = {};
    for (const [name, t] of Object.entries(params)) {
      if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
        throw new TypeError(`Cannot send the ${t.dtype} tensor "${name}" to torchsde`);
      }
      weights[name] = { dims: t.dims, data: t.data };
    }
    const file = `${this.#tmp}/weights.bin`;
    await writeWeights(file, weights);
    const a = await this.#server.request({ cmd: "model", weights: file, hidden: [width, width] });
    return a.params as number;
  }

  /** f(t, z) and g(t, z) at each time of `t` for the states `z`: [t][z] each. */
  async outputs(t: readonly number[], z: readonly number[]): Promise<{ f: number[][]; g: number[][] }> {
    const a = await this.#server.request({ cmd: "outputs", t, z });
    return { f: a.f as number[][], g: a.g as number[][] };
  }

  /** The loss of the training batch `indices` at the initial weights, forward only, once per Brownian seed. */
  async losses(indices: ArrayLike<number>, seeds: readonly number[], dt: number): Promise<number[]> {
    const a = await this.#server.request({ cmd: "losses", indices: Array.from(indices), seeds, dt });
    return a.losses as number[];
  }

  /** One epoch from the initial weights over `batches` (training indices), then the test KL. */
  async epoch(options: { batches: readonly ArrayLike<number>[]; seed: number; lr: number; dt: number }) {
    const a = await this.#server.request({
      cmd: "epoch",
      batches: options.batches.map((b) => Array.from(b)),
      seed: options.seed,
      lr: options.lr,
      dt: options.dt,
    });
    return {
      seconds: a.seconds as number,
      trainLoss: a.train_loss as number,
      testKl: a.test_kl as number,
      nfeForward: a.nfe_forward as number,
      nfeBackward: a.nfe_backward as number,
    } satisfies TorchsdeEpoch;
  }

  /** Stops the server and removes its files. */
  async close(): Promise<void> {
    await this.#server.close();
    await Deno.remove(this.#tmp, { recursive: true }).catch(() => {});
  }
}
