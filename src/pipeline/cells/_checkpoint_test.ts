import { encodeSafetensors } from "../../models/safetensors.ts";
import { tensor } from "../../onnx/tensor.ts";
import type { EpochTotals, TrainState } from "../../train/trainer.ts";
import { writeFileAtomic } from "../../util/files.ts";
import { assert, assertEquals, assertRejects } from "../../util/testing.ts";
import { Progress } from "../progress.ts";
import { type PipelineConfig, PipelineSchema } from "../schema.ts";
import type { CellContext } from "./cell_kind.ts";
import {
  cellCheckpoint,
  COST_RATIO,
  removeCheckpoint,
  saveCostMs,
  savedIfFails,
  saveDue,
  withFinalCheckpoint,
} from "./_checkpoint.ts";

function config(checkpoint?: { everyEpochs?: number; everySeconds?: number }): PipelineConfig {
  return PipelineSchema.parse({
    name: "checkpoints",
    data: { kind: "nested-spheres", trainPerClass: 4, testPerClass: 2 },
    model: { encoder: { kind: "augment", dims: 1 }, dynamics: { kind: "mlp", width: 4 }, head: { kind: "linear" } },
    solve: {},
    gradient: { method: "gq" },
    train: { epochs: 10, ...(checkpoint ? { checkpoint } : {}) },
  });
}

/** A cell context in `dir`, its log lines in `log`. */
function context(dir: string, cfg: PipelineConfig, resume: boolean, log: string[]): CellContext {
  return {
    cell: { id: "base", values: {}, config: cfg },
    dir,
    runtime: undefined as never,
    progress: new Progress(10, { tty: false, write: (s) => log.push(s) }),
    resume,
    signal: undefined,
    onEvent: undefined,
  };
}

/** A state after `epoch` epochs: float32 θ, float32 moments, values that depend on the epoch. */
function stateAt(epoch: number): TrainState<EpochTotals> {
  const w = Float32Array.from({ length: 6 }, (_, i) => Math.fround(Math.sin(epoch + i) / 3));
  const record = (e: number): EpochTotals => ({
    epoch: e,
    trainLoss: 1 / e,
    epochSeconds: 0.5,
    evaluationSeconds: 0.1,
    elapsedSeconds: e / 2,
    batches: 2,
    nfeForwardPerEpoch: 10,
    nfeBackwardPerEpoch: 12,
    nodesPerEpoch: 4,
  });
  return {
    epoch,
    params: { "l1.weight": tensor(w, [2, 3]), b: tensor(Float64Array.of(epoch, -epoch), [2]) },
    adam: {
      step: 2 * epoch,
      m: { "l1.weight": w.map((x) => x / 7), b: Float64Array.of(0.1 * epoch, 0.2) },
      v: { "l1.weight": w.map((x) => x * x), b: Float64Array.of(1e-3, epoch) },
    },
    history: Array.from({ length: epoch }, (_, i) => record(i + 1)),
  };
}

const files = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
const tensorFiles = (dir: string) => files(dir).filter((f) => f.endsWith(".safetensors"));

Deno.test("saveDue() by default saves once 50 times the last save's cost has passed, else as the schedule says", () => {
  assertEquals(COST_RATIO, 50);
  assert(saveDue(undefined, 1, 0, 0), "a save that costs nothing is due at once");
  assert(!saveDue(undefined, 5, 4999, 100) && saveDue(undefined, 5, 5000, 100), "50 × 100 ms");
  assert(saveDue({ everyEpochs: 3 }, 6, 0, 1e9) && !saveDue({ everyEpochs: 3 }, 7, 1e9, 0), "every 3rd epoch only");
  assert(!saveDue({ everySeconds: 2 }, 1, 1999, 0) && saveDue({ everySeconds: 2 }, 1, 2000, 1e9), "2 s");
  assert(saveDue({ everyEpochs: 4, everySeconds: 60 }, 4, 0, 0), "whichever comes first");
  assert(saveDue({ everyEpochs: 4, everySeconds: 60 }, 5, 60_000, 0), "whichever comes first");
});

Deno.test("cellCheckpoint() saves a small JSON and one tensor file, and --resume reads the state back bit for bit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log: string[] = [];
    const started = performance.now();
    const first = await cellCheckpoint(context(dir, config({ everyEpochs: 1 }), false, log), () => 1, started);
    assertEquals(first.resume, undefined);
    for (let e = 1; e <= 3; e++) await first.epochEnded(stateAt(e));
    assertEquals(files(dir).length, 2, files(dir).join());
    assert(/^checkpoint-3-[0-9a-f]{8}\.safetensors$/.test(tensorFiles(dir)[0]!), tensorFiles(dir)[0]);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/checkpoint.json`));
    assertEquals([json.cellId, json.state.format, json.state.epoch, json.state.adamStep], [
      "base",
      "quadjoint.train/3",
      3,
      6,
    ]);
    assertEquals(json.tensors.file, tensorFiles(dir)[0]);
    assertEquals(json.checkpointSeconds.length, 3);
    assert(json.wallSeconds >= 0 && json.wallSeconds <= (performance.now() - started) / 1000, "the cell's wall-clock");
    // The tensors are raw: about 4 bytes per float32 element, 8 per float64, and a small header.
    const size = (await Deno.stat(`${dir}/${json.tensors.file}`)).size;
    assert(size < 3 * (6 * 4 + 2 * 8) + 1024, `${size} bytes`);

    const again = await cellCheckpoint(context(dir, config({ everySeconds: 1e6 }), true, log), () => 1, started);
    assertEquals(again.resume, stateAt(3), "the schedule is not part of what must match");
    assert(again.resume!.adam.m["l1.weight"] instanceof Float32Array, "float32 moments stay float32");
    assert(log.some((l) => l.includes("resuming after epoch 3")), log.join());
    assertEquals([again.checkpointSeconds(3), again.checkpointSeconds(3)! > 0], [json.checkpointSeconds[2], true]);
    assert(again.wallSeconds()! >= json.wallSeconds, "the wall-clock goes on from the checkpoint's");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cellCheckpoint() follows the schedule and flush() saves the latest state once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ck = await cellCheckpoint(context(dir, config({ everyEpochs: 4 }), false, []), () => 1, performance.now());
    for (let e = 1; e <= 6; e++) await ck.epochEnded(stateAt(e));
    const saved = () => JSON.parse(Deno.readTextFileSync(`${dir}/checkpoint.json`)).state.epoch;
    assertEquals(saved(), 4);
    assertEquals([1, 2, 3, 4, 5, 6].map((e) => ck.checkpointSeconds(e)! > 0), [
      false,
      false,
      false,
      true,
      false,
      false,
    ]);
    const name = tensorFiles(dir)[0];
    await ck.flush();
    assertEquals(saved(), 6);
    assert(ck.checkpointSeconds(6)! > 0, "the flush is timed as epoch 6's checkpoint");
    assertEquals(tensorFiles(dir).length, 1);
    assert(tensorFiles(dir)[0] !== name, "the older tensor file is gone");
    const mtime = Deno.statSync(`${dir}/checkpoint.json`).mtime;
    await ck.flush();
    assertEquals(Deno.statSync(`${dir}/checkpoint.json`).mtime, mtime, "nothing new to save");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cellCheckpoint()'s default schedule waits 50 × the state's bytes at 500 MB/s before a big state's first save", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // 3 × 2.5M float32 values (θ and both moments): 30 MB, 60 ms at the assumed rate, so due after 3 s of training.
    const n = 2_500_000;
    const big = (epoch: number): TrainState<EpochTotals> => {
      const s = stateAt(epoch);
      const w = new Float32Array(n).fill(epoch);
      return { ...s, params: { w: tensor(w, [n]) }, adam: { step: epoch, m: { w: w.slice() }, v: { w: w.slice() } } };
    };
    assertEquals(saveCostMs(0, big(1)), 60, "30 MB at 500 MB/s");
    // However fast a save was (the page cache), the next waits for the estimate too; a slower one counts as it was.
    assertEquals([saveCostMs(5, big(1)), saveCostMs(100, big(1))], [60, 100]);
    const saved = (d: string) => JSON.parse(Deno.readTextFileSync(`${d}/checkpoint.json`)).state.epoch;
    await Deno.mkdir(`${dir}/big`);
    const startedMs = performance.now();
    const ck = await cellCheckpoint(context(`${dir}/big`, config(), false, []), () => 1, startedMs);
    await ck.epochEnded(big(1));
    // (Guarded only against a machine so loaded that 3 s pass here.)
    if (performance.now() - startedMs < 3000) assertEquals(files(`${dir}/big`), [], "no save before 3 s have passed");
    await ck.flush();
    assertEquals(saved(`${dir}/big`), 1, "flush() saves it");
    // A small state's estimate is about 12 µs (120 bytes): its first save is due a moment after training starts.
    await Deno.mkdir(`${dir}/small`);
    const small = await cellCheckpoint(context(`${dir}/small`, config(), false, []), () => 1, performance.now());
    await new Promise((r) => setTimeout(r, 2));
    await small.epochEnded(stateAt(1));
    assertEquals(saved(`${dir}/small`), 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("withFinalCheckpoint() saves the latest state when training fails, and rethrows the failure", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ck = await cellCheckpoint(context(dir, config({ everyEpochs: 100 }), false, []), () => 1, performance.now());
    await assertRejects(
      () =>
        withFinalCheckpoint(
          ck,
          (async () => {
            await ck.epochEnded(stateAt(1));
            await ck.epochEnded(stateAt(2));
            throw new RangeError("gradient is NaN");
          })(),
        ),
      RangeError,
      "gradient is NaN",
    );
    assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/checkpoint.json`)).state.epoch, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("withFinalCheckpoint() saves a stopped run's last epoch, a finished run's nothing; removeCheckpoint() clears the folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ck = await cellCheckpoint(context(dir, config({ everyEpochs: 2 }), false, []), () => 1, performance.now());
    const train = (epochs: number, stopped: boolean) =>
      withFinalCheckpoint(
        ck,
        (async () => {
          for (let e = 1; e <= epochs; e++) await ck.epochEnded(stateAt(e));
          return { stopped };
        })(),
      );
    await train(3, false);
    assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/checkpoint.json`)).state.epoch, 2, "the scheduled save");
    await train(3, true);
    assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/checkpoint.json`)).state.epoch, 3, "the stopped epoch");
    assertEquals(tensorFiles(dir).length, 1);
    await removeCheckpoint(dir);
    assertEquals(files(dir), []);
    await removeCheckpoint(dir); // nothing left to remove
    await removeCheckpoint(`${dir}/missing`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("savedIfFails() saves the last epoch when a finished cell's model write fails, and rethrows", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ck = await cellCheckpoint(context(dir, config({ everyEpochs: 100 }), false, []), () => 1, performance.now());
    for (let e = 1; e <= 3; e++) await ck.epochEnded(stateAt(e));
    assertEquals(files(dir), [], "the schedule saved nothing");
    await assertRejects(() => savedIfFails(ck, () => Promise.reject(new Error("disk full"))), Error, "disk full");
    assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/checkpoint.json`)).state.epoch, 3);
    assertEquals(await savedIfFails(ck, () => Promise.resolve(7)), 7);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cellCheckpoint() killed between the tensor file and the JSON resumes from the older, intact pair", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ck = await cellCheckpoint(context(dir, config(), false, []), () => 1, performance.now());
    await ck.epochEnded(stateAt(1));
    const older = tensorFiles(dir)[0]!;
    // What a save of epoch 2 leaves when killed after writing its tensors: a tensor file no JSON names.
    await writeFileAtomic(`${dir}/checkpoint-2-0123abcd.safetensors`, encodeSafetensors({}, { id: "0123abcd" }));
    const resumed = await cellCheckpoint(context(dir, config(), true, []), () => 1, performance.now());
    assertEquals(resumed.resume, stateAt(1));
    assertEquals(tensorFiles(dir), [older], "the stray file is removed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cellCheckpoint() with --resume starts over from an old-format, orphaned or mismatched checkpoint, naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/checkpoint.json`;
    const resume = async () => {
      const log: string[] = [];
      const ck = await cellCheckpoint(context(dir, config(), true, log), () => 1, performance.now());
      assertEquals(ck.resume, undefined);
      return log.join("");
    };
    const ck = await cellCheckpoint(context(dir, config(), false, []), () => 1, performance.now());
    await ck.epochEnded(stateAt(1));
    const json = JSON.parse(await Deno.readTextFile(path));

    // An earlier version's checkpoint: everything in the JSON.
    await Deno.writeTextFile(path, JSON.stringify({ ...json, state: { format: "quadjoint.train/2", epoch: 1 } }));
    let log = await resume();
    assert(log.includes(`checkpoint ${path} has format "quadjoint.train/2", not "quadjoint.train/3"`), log);
    assert(log.includes("starting over"), log);

    // The JSON names a tensor file that is gone.
    await Deno.writeTextFile(path, JSON.stringify({ ...json, tensors: { file: "checkpoint-1-ffffffff.safetensors" } }));
    log = await resume();
    assert(log.includes(`checkpoint ${path} names checkpoint-1-ffffffff.safetensors, which cannot be read`), log);

    // The tensor file is another save's.
    await Deno.writeTextFile(path, JSON.stringify({ ...json, tensors: { ...json.tensors, id: "00000000" } }));
    log = await resume();
    assert(log.includes("belongs to another checkpoint"), log);

    // A tensor file that is not a state's.
    const file = `${dir}/${json.tensors.file}`;
    await writeFileAtomic(file, encodeSafetensors({ w: tensor(Float32Array.of(1), [1]) }, { id: json.tensors.id }));
    await Deno.writeTextFile(path, JSON.stringify(json));
    log = await resume();
    assert(log.includes("holds no valid training state"), log);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
