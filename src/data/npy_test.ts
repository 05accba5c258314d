import { assertEquals, assertThrows } from "../util/testing.ts";
import { DataFileError } from "./file_error.ts";
import { parseNpy, readNpy, readNpz } from "./npy.ts";

const fixtures = new URL("../../tests/fixtures/data/", import.meta.url).pathname;

Deno.test("readNpy() reads NumPy's float32 Fortran-order array in C order, and its int64 labels", () => {
  const x = readNpy(`${fixtures}x.npy`);
  assertEquals([x.dtype, x.shape], ["f4", [12, 3]]);
  assertEquals(Array.from(x.data), Array.from({ length: 36 }, (_, k) => 10 * Math.floor(k / 3) + (k % 3)));
  const y = readNpy(`${fixtures}y.npy`);
  assertEquals([y.dtype, y.shape, Array.from(y.data.slice(0, 4))], ["i8", [12], [0, 1, 2, 0]]);
});

Deno.test("readNpz() reads np.savez and np.savez_compressed archives by array name", () => {
  const a = readNpz(`${fixtures}classes.npz`);
  assertEquals(Object.keys(a).sort(), ["x", "y"]);
  assertEquals([a.x!.dtype, a.x!.shape, a.y!.dtype, a.y!.shape], ["f8", [40, 3], "i8", [40]]);
  // y = [x0 > 0] + [x1 > 0], as the fixture script made it.
  a.y!.data.forEach((v, i) => assertEquals(v, Number(a.x!.data[3 * i]! > 0) + Number(a.x!.data[3 * i + 1]! > 0)));
  const r = readNpz(`${fixtures}regression.npz`);
  assertEquals([r.x!.dtype, r.x!.shape, r.y!.shape], ["f4", [30, 2], [30, 2]]);
  // y = [x0 + x1, x0 − 2 x1], computed by NumPy in float32.
  const [x0, x1] = [r.x!.data[0]!, r.x!.data[1]!];
  assertEquals([r.y!.data[0], r.y!.data[1]], [Math.fround(x0 + x1), Math.fround(x0 - 2 * x1)]);
  const s = readNpz(`${fixtures}series.npz`);
  assertEquals([s.y!.shape, s.t!.shape, s.mask!.shape, s.mask!.dtype], [[10, 6, 2], [10, 6], [10, 6], "b1"]);
});

Deno.test("parseNpy() refuses big-endian data, cut-short files and bytes that are not .npy", () => {
  assertThrows(
    () => readNpy(`${fixtures}big_endian.npy`),
    DataFileError,
    "big-endian dtype >f8: save it little-endian",
  );
  const bytes = Deno.readFileSync(`${fixtures}y.npy`);
  assertThrows(() => parseNpy(bytes.subarray(0, bytes.length - 8), "cut.npy"), DataFileError, "cut.npy: is cut short");
  assertThrows(() => parseNpy(new TextEncoder().encode("a,b\n1,2\n"), "t.npy"), DataFileError, "is not a .npy file");
  assertThrows(() => readNpz(`${fixtures}y.npy`), DataFileError, "is not a valid .npz (zip) file");
});

Deno.test("parseNpy() refuses a file with more data than its header's shape", () => {
  const bytes = Deno.readFileSync(`${fixtures}y.npy`);
  const longer = new Uint8Array(bytes.length + 16);
  longer.set(bytes);
  assertThrows(() => parseNpy(longer, "long.npy"), DataFileError, "long.npy: holds more data than its header says");
});
