import { assertEquals, assertThrows } from "../src/util/testing.ts";
import { decodeWeights, encodeWeights, readWeights, WEIGHTS_FORMAT, writeWeights } from "./_peer_weights.ts";

Deno.test("encodeWeights() lays out a little-endian header length, a JSON header and 8-byte-aligned float32 data", () => {
  const bytes = encodeWeights({
    a: { dims: [2], data: Float32Array.of(1.5, -2) },
    b: { dims: [], data: Float64Array.of(3) },
  });
  const view = new DataView(bytes.buffer);
  const n = view.getUint32(0, true);
  assertEquals((4 + n) % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n)));
  assertEquals(header, {
    format: WEIGHTS_FORMAT,
    tensors: [
      { name: "a", shape: [2], offset: 0, count: 2 },
      { name: "b", shape: [], offset: 8, count: 1 },
    ],
  });
  assertEquals(bytes.length, 4 + n + 12);
  assertEquals([0, 4, 8].map((o) => view.getFloat32(4 + n + o, true)), [1.5, -2, 3]);
});

Deno.test("decodeWeights() gives back float32 values exactly, float64 ones rounded to float32, in order", () => {
  const w = Float32Array.of(0.1, -1e-30, 3.4e38, 7);
  const x = Float64Array.of(0.1, 1 / 3);
  const back = decodeWeights(encodeWeights({ w: { dims: [2, 2], data: w }, x: { dims: [2], data: x } }));
  assertEquals(Object.keys(back), ["w", "x"]);
  assertEquals(back.w!.dims, [2, 2]);
  assertEquals([...back.w!.data], [...w]);
  assertEquals([...back.x!.data], [Math.fround(0.1), Math.fround(1 / 3)]);
});

Deno.test("encodeWeights() refuses dims that do not match the values", () => {
  assertThrows(() => encodeWeights({ w: { dims: [3], data: new Float32Array(2) } }), RangeError, /"w" has 2 values/);
});

Deno.test("decodeWeights() refuses bytes that are not a weight file, or are cut short", () => {
  assertThrows(() => decodeWeights(Uint8Array.of(1, 0)), SyntaxError, /too short/);
  const other = new TextEncoder().encode(JSON.stringify({ format: "other", tensors: [] }));
  const bytes = new Uint8Array(4 + other.length);
  new DataView(bytes.buffer).setUint32(0, other.length, true);
  bytes.set(other, 4);
  assertThrows(() => decodeWeights(bytes, "x.bin"), SyntaxError, /x\.bin: format is "other"/);
  const full = encodeWeights({ w: { dims: [4], data: new Float32Array(4) } });
  assertThrows(() => decodeWeights(full.subarray(0, full.length - 4)), SyntaxError, /"w" runs past the end/);
});

Deno.test("writeWeights() and readWeights() round-trip through a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeWeights(`${dir}/w.bin`, { "l0.weight": { dims: [1, 3], data: Float32Array.of(1, 2, 3) } });
    const back = await readWeights(`${dir}/w.bin`);
    assertEquals([...back["l0.weight"]!.data], [1, 2, 3]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
