import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { DataFileError } from "./file_error.ts";
import { encodeIdx, type IdxArray, parseIdx, readIdx } from "./idx.ts";

const fixtures = new URL("../../tests/fixtures/data/", import.meta.url).pathname;

/** The fixture's pixel formula (tests/fixtures/data/make_data.py). */
function pixel(i: number, r: number, c: number): number {
  const label = i % 4;
  const on = (label === 0 && (r === 1 || r === 2)) || (label === 1 && (c === 1 || c === 2)) ||
    (label === 2 && (r === 3 || r === 4)) || (label === 3 && (c === 3 || c === 4));
  return on ? 200 + (i % 50) : (7 * i + 3 * r + 5 * c) % 40;
}

Deno.test("readIdx() reads the fixture's images and labels, compressed with gzip or not", () => {
  const images = readIdx(`${fixtures}images-idx3-ubyte`);
  assertEquals([images.dtype, images.dims], ["uint8", [40, 6, 6]]);
  for (const [i, r, c] of [[0, 1, 3], [5, 2, 1], [39, 5, 4], [17, 0, 0]] as const) {
    assertEquals(images.data[i * 36 + r * 6 + c], pixel(i, r, c), `pixel ${i} ${r} ${c}`);
  }
  const labels = readIdx(`${fixtures}labels-idx1-ubyte.gz`);
  assertEquals([labels.dtype, labels.dims, Array.from(labels.data.slice(0, 6))], ["uint8", [40], [0, 1, 2, 3, 0, 1]]);
  const test = readIdx(`${fixtures}test-images-idx3-ubyte.gz`);
  assertEquals([test.dims, test.data[3 * 36 + 2 * 6 + 3]], [[16, 6, 6], pixel(43, 2, 3)]);
  assertEquals(Array.from(readIdx(`${fixtures}test-labels-idx1-ubyte`).data.slice(0, 3)), [0, 1, 2]);
});

Deno.test("readIdx() reads big-endian float32 data", () => {
  const a = readIdx(`${fixtures}floats-idx2`);
  assertEquals([a.dtype, a.dims, Array.from(a.data)], ["float32", [3, 2], [0.5, -1.25, 3, Math.fround(1e-3), -7, 2.5]]);
});

Deno.test("encodeIdx() and parseIdx() round-trip every IDX element type", () => {
  const cases: IdxArray[] = [
    { dtype: "uint8", dims: [2, 2], data: Uint8Array.of(0, 1, 254, 255) },
    { dtype: "int8", dims: [3], data: Int8Array.of(-128, 0, 127) },
    { dtype: "int16", dims: [1, 3], data: Int16Array.of(-30000, 2, 30000) },
    { dtype: "int32", dims: [2], data: Int32Array.of(-(2 ** 31), 2 ** 31 - 1) },
    { dtype: "float32", dims: [2], data: Float32Array.of(1.5, -0.25) },
    { dtype: "float64", dims: [1, 1, 2], data: Float64Array.of(Math.PI, -1e300) },
  ];
  for (const a of cases) {
    const b = parseIdx(encodeIdx(a), "x");
    assertEquals([b.dtype, b.dims, Array.from(b.data)], [a.dtype, a.dims, Array.from(a.data)], a.dtype);
  }
});

Deno.test("parseIdx() says what was expected of a truncated, foreign or corrupt file", () => {
  const bytes = Deno.readFileSync(`${fixtures}images-idx3-ubyte`);
  assertThrows(
    () => parseIdx(bytes.subarray(0, bytes.length - 10), "cut"),
    DataFileError,
    "cut: holds 1430 bytes of data; dims [40, 6, 6] of uint8 need 1440",
  );
  assertThrows(
    () => parseIdx(new TextEncoder().encode("a,b\n"), "f.csv"),
    DataFileError,
    "it starts with 61 2c 62 0a, not 00 00",
  );
  assertThrows(() => parseIdx(Uint8Array.of(0, 0, 0x07, 1, 0, 0, 0, 1, 5), "d"), DataFileError, "dtype code 0x7");
  const gz = Deno.readFileSync(`${fixtures}labels-idx1-ubyte.gz`);
  assertThrows(() => parseIdx(gz.subarray(0, 20), "l.gz"), DataFileError, "l.gz: is not valid gzip");
  const e = assertThrows(() => readIdx(`${fixtures}nothing-idx3-ubyte`), DataFileError) as DataFileError;
  assert(e.problem === "unreadable" && e.message.endsWith("file not found"), e.message);
});

const FASHION = "/usr/share/datasets/fashion-mnist";
const installed = (() => {
  try {
    return Deno.statSync(`${FASHION}/t10k-labels-idx1-ubyte.gz`).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "readIdx() reads Debian's Fashion-MNIST test split (when dataset-fashion-mnist is installed)",
  ignore: !installed,
  fn() {
    const images = readIdx(`${FASHION}/t10k-images-idx3-ubyte.gz`);
    const labels = readIdx(`${FASHION}/t10k-labels-idx1-ubyte.gz`);
    assertEquals([images.dtype, images.dims, labels.dims], ["uint8", [10000, 28, 28], [10000]]);
    const counts = new Array(10).fill(0);
    for (const l of labels.data) counts[l]++;
    assertEquals(counts, new Array(10).fill(1000), "1000 test images per class");
  },
});

Deno.test("parseIdx() reads every member of a multi-member gzip file, as gzip -dc does", async () => {
  const raw = Deno.readFileSync(`${fixtures}images-idx3-ubyte`);
  const gzip = async (part: Uint8Array) =>
    new Uint8Array(
      await new Response(new Blob([part.slice()]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
    );
  const [a, b] = [await gzip(raw.subarray(0, 1000)), await gzip(raw.subarray(1000))];
  const both = new Uint8Array(a.length + b.length);
  both.set(a);
  both.set(b, a.length);
  assertEquals(parseIdx(both, "two-members.gz"), parseIdx(raw, "plain"));
});
