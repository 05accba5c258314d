import { Random } from "./random.ts";
import { assert, assertEquals, assertThrows } from "./testing.ts";

function draws(r: Random, n = 8): number[] {
  return Array.from({ length: n }, () => r.uniform());
}

Deno.test("Random gives the same stream for the same seed and different streams for different seeds", () => {
  assertEquals(draws(new Random(42)), draws(new Random(42)));
  const a = draws(new Random(1)), b = draws(new Random(2));
  assert(a.every((v, i) => v !== b[i]), "seeds 1 and 2 share a draw");
});

Deno.test("Random rejects a seed that is not an integer", () => {
  for (const seed of [0.5, Number.NaN, Infinity]) {
    assertThrows(() => new Random(seed), RangeError, `Seed must be an integer, got ${seed}`);
  }
});

Deno.test("Random.fork() gives reproducible streams distinct from the parent's and from each other", () => {
  const run = () => {
    const root = new Random(7);
    const a = root.fork(), b = root.fork();
    return [draws(a), draws(b), draws(root)];
  };
  const [a, b, rest] = run();
  assertEquals(run(), [a, b, rest]);
  const all = new Set([...a!, ...b!, ...rest!]);
  assertEquals(all.size, 24, "streams overlap");
  // Forking does not replay the parent's own next draws.
  const fresh = draws(new Random(7));
  assert(a!.every((v, i) => v !== fresh[i]), "the child repeats the parent's stream");
});

Deno.test("Random.uniformIn(), int() and permutation() stay in range", () => {
  const r = new Random(3);
  for (let i = 0; i < 2000; i++) {
    const u = r.uniformIn(-2, 5);
    assert(u >= -2 && u < 5, `uniformIn gave ${u}`);
    const k = r.int(7);
    assert(Number.isInteger(k) && k >= 0 && k < 7, `int(7) gave ${k}`);
  }
  const p = r.permutation(50);
  assertEquals([...p].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert(p.some((v, i) => v !== i), "permutation(50) is the identity");
});

Deno.test("Random.normal() has mean 0 and variance 1 within 4 standard errors", () => {
  const n = 40_000;
  const x = new Random(11).fillNormal(new Float64Array(n));
  const mean = x.reduce((a, v) => a + v, 0) / n;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  // Standard errors: 1/√n for the mean, √(2/n) for the variance of a normal sample.
  assert(Math.abs(mean) < 4 / Math.sqrt(n), `mean ${mean}`);
  assert(Math.abs(variance - 1) < 4 * Math.sqrt(2 / n), `variance ${variance}`);
  // Tails as a normal's: about 4.55 % beyond ±2.
  const tail = x.filter((v) => Math.abs(v) > 2).length / n;
  assert(Math.abs(tail - 0.0455) < 4 * Math.sqrt(0.0455 * 0.9545 / n), `P(|x| > 2) = ${tail}`);
});

Deno.test("Random.keyed() gives the same stream for the same seed and counter, made in any order", () => {
  const streams = [[0, 0], [0, 1], [1, 0], [0, 0, 1], [2 ** 32 - 1]];
  const first = streams.map((c) => draws(Random.keyed(5, c)));
  // Made again in another order, each stream is the same; missing counter words are 0.
  assertEquals([...streams].reverse().map((c) => draws(Random.keyed(5, c))), [...first].reverse());
  assertEquals(draws(Random.keyed(5, [0, 0, 0, 0])), first[0]);
  const all = new Set([...first.flat(), ...draws(Random.keyed(6, [0, 0])), ...draws(new Random(5))]);
  assertEquals(all.size, 8 * 7, "streams of other counters or seeds overlap");
  // The normals of a keyed stream are standard normals.
  const n = 20_000, x = Random.keyed(9, [3]).fillNormal(new Float64Array(n));
  const mean = x.reduce((a, v) => a + v, 0) / n;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  assert(Math.abs(mean) < 4 / Math.sqrt(n) && Math.abs(variance - 1) < 4 * Math.sqrt(2 / n), `${mean}, ${variance}`);
});

Deno.test("Random.keyed() rejects a seed or counter it cannot key", () => {
  assertThrows(() => Random.keyed(0.5, [0]), RangeError, "Seed must be an integer, got 0.5");
  for (const counter of [[-1], [2 ** 32], [0.5], [0, 0, 0, 0, 0]]) {
    assertThrows(
      () => Random.keyed(1, counter),
      RangeError,
      `counter must be up to four integers in [0, 2^32), got [${counter}]`,
    );
  }
});

Deno.test("Random.fillUniform() draws the numbers of uniformIn() in turn, and leaves the stream where they would", () => {
  const a = new Random(11), b = new Random(11);
  const filled = a.fillUniform(new Float64Array(5), -2, 3);
  assertEquals(Array.from(filled), Array.from({ length: 5 }, () => b.uniformIn(-2, 3)));
  assertEquals(a.uniform(), b.uniform(), "the next draw");
});
