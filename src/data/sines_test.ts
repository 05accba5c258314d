import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { regularTimes, sineBatch, sines } from "./sines.ts";

Deno.test("sines() values follow x = x0 cos t + v0 sin t with x0, v0 in [−1, 1]", () => {
  for (const times of [10, 50, "irregular"] as const) {
    const { train, test } = sines({ times, seed: 4 });
    assertEquals(train.initial.dims, [15, 2]);
    assertEquals(test.sequences.length, 5);
    train.sequences.forEach((s, i) => {
      const x0 = train.initial.data[2 * i]!, v0 = train.initial.data[2 * i + 1]!;
      assert(Math.abs(x0) <= 1 && Math.abs(v0) <= 1, `x0 ${x0}, v0 ${v0}`);
      assertEquals(s.times[0], 0);
      assertEquals(s.values[0], x0);
      // x'' = −x, checked by a second difference at t = 1 (independent of the formula's form).
      const k = s.times.length - 1;
      const x = (t: number) => x0 * Math.cos(t) + v0 * Math.sin(t);
      assertClose(s.values[k]!, x(s.times[k]!), 1e-15, `${times}: last value`);
      const h = 1e-4;
      assertClose((x(1 + h) - 2 * x(1) + x(1 - h)) / (h * h), -x(1), 1e-6, "x'' = −x");
    });
  }
});

Deno.test("sines() regular times are evenly spaced on [0, 2π]; irregular ones are per-sequence and distinct", () => {
  const reg = sines({ times: 10 }).train.sequences;
  assertEquals(reg[0]!.times, regularTimes(10));
  assertClose(reg[0]!.times[9]!, 2 * Math.PI, 1e-15, "end time");
  assertClose(reg[0]!.times[1]!, (2 * Math.PI) / 9, 1e-15, "spacing");
  const irr = sines({ times: "irregular", timesPerSequence: 7, seed: 1 }).train.sequences;
  for (const s of irr) {
    assertEquals(s.times.length, 7);
    for (let k = 1; k < 7; k++) assert(s.times[k]! > s.times[k - 1]! && s.times[k]! <= 2 * Math.PI);
  }
  assert(irr[0]!.times[1] !== irr[1]!.times[1], "sequences have their own times");
});

Deno.test("sineBatch() masks exactly the observed entries of the union of times", () => {
  const { train } = sines({ times: "irregular", timesPerSequence: 5, seed: 2 });
  const idx = [3, 0, 7];
  const b = sineBatch(train, idx);
  const nt = b.times.length;
  assertEquals(b.values.dims, [nt, 3]);
  assertEquals(b.mask.dims, [nt, 3]);
  assertEquals(nt, 1 + 3 * 4, "t = 0 is shared, the other times are distinct");
  for (let k = 1; k < nt; k++) assert(b.times[k]! > b.times[k - 1]!, "sorted union");
  idx.forEach((i, j) => {
    const s = train.sequences[i]!;
    let observed = 0;
    for (let r = 0; r < nt; r++) {
      if (b.mask.data[r * 3 + j]) {
        observed++;
        const k = s.times.indexOf(b.times[r]!);
        assert(k >= 0, "masked-in time belongs to the sequence");
        assertEquals(b.values.data[r * 3 + j], s.values[k]);
      } else {
        assertEquals(b.values.data[r * 3 + j], 0);
      }
    }
    assertEquals(observed, s.times.length);
    assertEquals([b.initial.data[2 * j], b.initial.data[2 * j + 1]], [
      train.initial.data[2 * i],
      train.initial.data[2 * i + 1],
    ]);
  });
  const regular = sineBatch(sines({ times: 10 }).train, [0, 1]);
  assertEquals(regular.times.length, 10);
  assert(regular.mask.data.every((m) => m === 1), "regular data are fully observed");
  assertThrows(() => sineBatch(train, [15]), RangeError, "sineBatch index 15 is outside 0…14");
});

Deno.test("sines() is determined by the seed", () => {
  const a = sines({ times: "irregular", seed: 8 }), b = sines({ times: "irregular", seed: 8 });
  assertEquals(a.train.initial.data, b.train.initial.data);
  assertEquals(a.test.sequences[4]!.times, b.test.sequences[4]!.times);
  assert(sines({ seed: 9 }).train.initial.data[0] !== a.train.initial.data[0]);
  assertThrows(() => sines({ times: 20 as 10 }), RangeError, "got 20");
});
