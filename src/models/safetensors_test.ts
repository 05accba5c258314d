import { tensor } from "../onnx/tensor.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../util/testing.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  SafetensorsError,
  writeSafetensors,
} from "./safetensors.ts";

/** Bytes of a safetensors file from a header object and data bytes, as another writer would lay them out. */
function handMade(header: unknown, data: number[], pad = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(pad));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

Deno.test("encodeSafetensors() lays out the length, a space-padded JSON header and little-endian data back to back", () => {
  const bytes = encodeSafetensors({ a: tensor(Float32Array.of(1), [1]), b: tensor(Int32Array.of(-2, 3), [2]) }, {
    k: "v",
  });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals(n % 8, 0, "data start 8-byte aligned");
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assertEquals(JSON.parse(text), {
    __metadata__: { k: "v" },
    a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
    b: { dtype: "I32", shape: [2], data_offsets: [4, 12] },
  });
  assert(/^\{.*\} *$/.test(text), "JSON then spaces");
  // 1.0f = 0x3f800000; -2 = 0xfffffffe; 3.
  assertEquals(Array.from(bytes.subarray(8 + n)), [0, 0, 128, 63, 254, 255, 255, 255, 3, 0, 0, 0]);
});

Deno.test("decodeSafetensors() round-trips every dtype, scalars and empty tensors, in order, with metadata", () => {
  const tensors = {
    "l1.weight": tensor(Float32Array.of(0.1, -2.5, 3e-8, 7), [2, 2]),
    "l1.bias": tensor(Float64Array.of(Math.PI), []),
    steps: tensor(BigInt64Array.of(-1n, 2n ** 40n), [2]),
    idx: tensor(Int32Array.of(5), [1, 1]),
    mask: tensor(Uint8Array.of(1, 0, 1), [3]),
    empty: tensor(new Float32Array(0), [0, 4]),
  };
  const back = decodeSafetensors(encodeSafetensors(tensors, { format: "x/1" }));
  assertEquals(Object.keys(back.tensors), Object.keys(tensors));
  for (const [name, t] of Object.entries(tensors)) {
    assertEquals(back.tensors[name], t, name);
  }
  assertEquals(back.metadata, { format: "x/1" });
  assertEquals(decodeSafetensors(encodeSafetensors({})).tensors, {});
});

Deno.test("decodeSafetensors() reads another writer's layout: metadata anywhere, offsets out of name order, an unaligned header", () => {
  const bytes = handMade(
    {
      b: { dtype: "F64", shape: [1], data_offsets: [4, 12] },
      __metadata__: { format: "pt" },
      a: { dtype: "F32", shape: [], data_offsets: [0, 4] },
    },
    [0, 0, 0, 64, ...new Uint8Array(Float64Array.of(-0.5).buffer)],
    3,
  );
  const { tensors, metadata } = decodeSafetensors(bytes);
  assertEquals(tensors.a, tensor(Float32Array.of(2), []));
  assertEquals(tensors.b, tensor(Float64Array.of(-0.5), [1]));
  assertEquals(metadata, { format: "pt" });
});

Deno.test("decodeSafetensors() refuses bad lengths, JSON, dtypes, shapes and offsets, naming the tensor", () => {
  const f32 = (offsets: number[], shape = [1]) => ({ a: { dtype: "F32", shape, data_offsets: offsets } });
  const cases: [Uint8Array, string][] = [
    [Uint8Array.of(1, 2, 3), "fewer than the 8-byte header length"],
    [handMade({}, []).subarray(0, 9), "runs past"],
    [handMade("x", []), "not a JSON object"],
    [Uint8Array.of(2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7b), "not JSON"],
    [handMade({ a: { dtype: "F16", shape: [1], data_offsets: [0, 2] } }, [0, 0]), 'dtype "F16"'],
    [handMade(f32([0, 4], [-1]), [0, 0, 0, 0]), "shape [-1]"],
    [handMade(f32([0, 8]), new Array(8).fill(0)), "needs 4 bytes"],
    [handMade(f32([4, 8]), new Array(8).fill(0)), "starts at byte 4"],
    [handMade(f32([0, 4]), new Array(8).fill(0)), "the data has 8"],
    [handMade({ __metadata__: { n: 1 } }, []), '"n" is 1'],
  ];
  for (const [bytes, says] of cases) {
    const e = assertThrows(() => decodeSafetensors(bytes, "w.safetensors"), SafetensorsError);
    assert(e.message.startsWith("Cannot read safetensors w.safetensors: ") && e.message.includes(says), e.message);
  }
  assertThrows(() => encodeSafetensors({ __metadata__: tensor(Float32Array.of(1), [1]) }), RangeError);
});

Deno.test("writeSafetensors() writes atomically and readSafetensors() reads it back or names the missing file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const w = tensor(Float32Array.of(1, 2, 3), [3]);
    await writeSafetensors(`${dir}/sub/w.safetensors`, { w });
    assertEquals((await readSafetensors(`${dir}/sub/w.safetensors`)).tensors.w, w);
    assertEquals([...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name), ["w.safetensors"], "no temporary left");
    // The file is written from the tensors' own arrays, subarrays included, byte for byte what the encoder gives.
    const big = new Float64Array(10).map((_, i) => i / 3);
    const tensors = { a: tensor(big.subarray(2, 8), [2, 3]), b: w, c: tensor(Float64Array.of(), [0]) };
    await writeSafetensors(`${dir}/parts.safetensors`, tensors, { id: "x" });
    assertEquals(await Deno.readFile(`${dir}/parts.safetensors`), encodeSafetensors(tensors, { id: "x" }));
    await assertRejects(() => readSafetensors(`${dir}/none.safetensors`), SafetensorsError, "none.safetensors");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
