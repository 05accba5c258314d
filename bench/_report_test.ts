import { assertEquals, assertThrows } from "../src/util/testing.ts";
import { readResults } from "../src/results/file.ts";
import { formatTable, median, writeBenchResults, writeJson } from "./_report.ts";
import { selectBenchmarks } from "./main.ts";

Deno.test("median() takes the middle value, or the mean of the middle two, whatever the order", () => {
  assertEquals(median([5, 1, 3]), 3);
  assertEquals(median([4, 1, 3, 2]), 2.5);
  assertEquals(median([7]), 7);
  assertThrows(() => median([]), RangeError, /none/);
});

Deno.test("formatTable() right-aligns columns to their widest cell, in the order given", () => {
  const text = formatTable("T", [{ a: 1, b: "xyz" }, { a: 12345, b: "q" }], ["b", "a"]);
  assertEquals(text.split("\n"), ["T", "  b      a", "---  -----", "xyz      1", "  q  12345"]);
});

Deno.test("writeJson() writes the report atomically under dir, leaving no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await writeJson("demo", { rows: [1, 2] }, `${dir}/bench`);
    assertEquals(path, `${dir}/bench/demo.json`);
    const report = JSON.parse(await Deno.readTextFile(path));
    assertEquals([report.benchmark, report.rows], ["demo", [1, 2]]);
    assertEquals([...Deno.readDirSync(`${dir}/bench`)].map((e) => e.name), ["demo.json"]);
    await assertThrowsAsync(() => writeJson("../escape", {}, dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeBenchResults() writes a results file that readResults() accepts, with the machine in meta", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const timing = {
      method: "gq",
      solver: "dopri5",
      width: 8,
      batch: 2,
      dim: 4,
      t1: 1,
      params: 100,
      tolerance: 1e-3,
      gradientSeconds: 0.01,
      nfeForwardPerGradient: 20,
      nfeBackwardPerGradient: 30,
      nodesPerGradient: 3,
      vjpCallsPerGradient: 10,
      heldBytes: 4096,
    };
    const path = await writeBenchResults("demo", "Demo", { gradientTimings: [timing] }, { dir });
    const file = await readResults(path);
    assertEquals([file.title, file.meta?.benchmark, file.results.gradientTimings], ["Demo", "demo", [timing]]);
    assertEquals(typeof file.meta?.cpus, "number");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function assertThrowsAsync(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof RangeError && /Report name/.test(e.message)) return;
    throw e;
  }
  throw new Error("expected a RangeError for a report name with a path in it");
}

Deno.test("selectBenchmarks() runs all but the on-request ones by default and rejects an unknown name, listing the known ones", () => {
  // The long ones (minutes, torch, a GPU) run only when named.
  assertEquals(selectBenchmarks([]), ["onnx", "gradients", "vjp"]);
  assertEquals(selectBenchmarks(["peers"]), ["peers"]);
  assertEquals(selectBenchmarks(["onnx", "onnx"]), ["onnx"]);
  assertThrows(
    () => selectBenchmarks(["onnx", "nope"]),
    RangeError,
    /Unknown benchmark "nope"; known benchmarks are onnx/,
  );
});
