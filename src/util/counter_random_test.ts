import { assert, assertEquals } from "./testing.ts";
import { CounterNormals, philox4x32 } from "./counter_random.ts";

const hex = (w: Uint32Array) => [...w].map((x) => x.toString(16).padStart(8, "0")).join(" ");

Deno.test("philox4x32() gives Random123's known-answer vectors for Philox4x32-10", () => {
  const out = new Uint32Array(4);
  assertEquals(hex(philox4x32([0, 0, 0, 0], [0, 0], out)), "6627e8d5 e169c58d bc57ac4c 9b00dbd8");
  const ones = 0xffffffff;
  assertEquals(hex(philox4x32([ones, ones, ones, ones], [ones, ones], out)), "408f276d 41c83b0e a20bc7c6 6d5451fd");
  assertEquals(
    hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], out)),
    "d16cfe09 94fdcceb 5001e420 24126ea1",
  );
});

Deno.test("CounterNormals.pair() is a pure function of seed and counter with standard normal moments", () => {
  const a = new CounterNormals(7), b = new CounterNormals(7), c = new CounterNormals(8);
  assertEquals([...a.pair(3, 4)], [...b.pair(3, 4)]);
  assert(a.pair(3, 4)[0] !== c.pair(3, 4)[0], "another seed gives other numbers");
  let sum = 0, sq = 0, n = 0, cross = 0;
  for (let i = 0; i < 50_000; i++) {
    const [x, y] = a.pair(i, 1);
    sum += x! + y!;
    sq += x! * x! + y! * y!;
    cross += x! * y!;
    n += 2;
  }
  // 4 standard errors of the mean (1/sqrt(n)) and of the variance (sqrt(2/n)).
  assert(Math.abs(sum / n) < 4 / Math.sqrt(n), `mean ${sum / n}`);
  assert(Math.abs(sq / n - 1) < 4 * Math.sqrt(2 / n), `variance ${sq / n}`);
  assert(Math.abs(cross / (n / 2)) < 4 / Math.sqrt(n / 2), `correlation of a pair ${cross / (n / 2)}`);
});
