import type { Tensor } from "../onnx/tensor.ts";
import { fromNumbers, tensor } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assert, assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { convDynamics } from "./conv.ts";
import type { Params } from "./dynamics.ts";

const runtime = new Runtime({ threads: 1 });

const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

/** [C, H, W] images, one per batch entry, as nested arrays. */
type Image = number[][][];

/** 3×3 convolution with padding 1 and bias, by direct loops. */
function conv3x3(x: Image, w: Tensor, b: Tensor): Image {
  const [cout, cin] = w.dims as [number, number];
  const h = x[0]!.length, wd = x[0]![0]!.length;
  assertEquals(x.length, cin);
  return Array.from(
    { length: cout },
    (_, o) =>
      Array.from({ length: h }, (_, r) =>
        Array.from({ length: wd }, (_, c) => {
          let s = Number(b.data[o]);
          for (let i = 0; i < cin; i++) {
            for (let dr = -1; dr <= 1; dr++) {
              for (let dc = -1; dc <= 1; dc++) {
                const rr = r + dr, cc = c + dc;
                if (rr < 0 || rr >= h || cc < 0 || cc >= wd) continue;
                s += x[i]![rr]![cc]! * Number(w.data[((o * cin + i) * 3 + dr + 1) * 3 + dc + 1]);
              }
            }
          }
          return s;
        })),
  );
}

function referenceConvDynamics(z: Image, t: number | undefined, p: Params): Image {
  const withT = (x: Image): Image => (t === undefined ? x : [...x, x[0]!.map((row) => row.map(() => t))]);
  const act = (x: Image) => x.map((ch) => ch.map((row) => row.map(softplus)));
  const h1 = act(conv3x3(withT(z), p["conv0.weight"]!, p["conv0.bias"]!));
  const h2 = act(conv3x3(withT(h1), p["conv1.weight"]!, p["conv1.bias"]!));
  return conv3x3(withT(h2), p["conv2.weight"]!, p["conv2.bias"]!);
}

function images(t: Tensor): Image[] {
  const [n, c, h, w] = t.dims as [number, number, number, number];
  return Array.from(
    { length: n },
    (_, a) =>
      Array.from(
        { length: c },
        (_, k) =>
          Array.from({ length: h }, (_, r) =>
            Array.from({ length: w }, (_, col) => Number(t.data[((a * c + k) * h + r) * w + col]))),
      ),
  );
}

for (const time of ["none", "concat"] as const) {
  Deno.test(`convDynamics() in float64 (lowered Conv) equals direct convolution loops within 1e-12 (time ${time})`, async () => {
    const model = convDynamics({ channels: 2, hidden: 5, height: 5, width: 4, time, dtype: "float64", seed: 3 });
    assertEquals(model.dynamics.stateShape, [2, 5, 4]);
    const z = tensor(new Random(6).fillNormal(new Float64Array(3 * 2 * 5 * 4)), [3, 2, 5, 4]);
    const s = await runtime.compile(model.dynamics.graph);
    const dz = (await s.run({ t: fromNumbers([0.75], [], "float64"), z, ...model.init })).dz!;
    assertEquals(dz.dims, [3, 2, 5, 4]);
    const want = images(z).map((img) => referenceConvDynamics(img, time === "concat" ? 0.75 : undefined, model.init));
    assertClose(Array.from(dz.data as Float64Array), want.flat(3), 1e-12, "dz");
  });
}

Deno.test("convDynamics() in float32 (native Conv) agrees with float64 within 1e-5", async () => {
  const opts = { channels: 3, hidden: 4, height: 6, width: 6, time: "concat", seed: 9 } as const;
  const m32 = convDynamics(opts), m64 = convDynamics({ ...opts, dtype: "float64" });
  const z32 = tensor(new Random(1).fillNormal(new Float32Array(2 * 3 * 6 * 6)), [2, 3, 6, 6]);
  const p64 = Object.fromEntries(
    Object.entries(m32.init).map(([k, v]) => [k, tensor(Float64Array.from(v.data as Float32Array), v.dims)]),
  );
  const run = async (g: typeof m32, feeds: Record<string, Tensor>) =>
    Array.from((await (await runtime.compile(g.dynamics.graph)).run(feeds)).dz!.data as Float64Array);
  const a = await run(m32, { t: fromNumbers([0.5], []), z: z32, ...m32.init });
  const b = await run(m64, {
    t: fromNumbers([0.5], [], "float64"),
    z: tensor(Float64Array.from(z32.data as Float32Array), z32.dims),
    ...p64,
  });
  assertClose(a, b, 1e-5, "float32 vs float64");
});

Deno.test("convDynamics() initialises like nn.Conv2d: U(±1/√(in·9)), reproducibly", () => {
  const a = convDynamics({ channels: 10, hidden: 32, height: 7, width: 7, time: "concat", seed: 2 });
  const b = convDynamics({ channels: 10, hidden: 32, height: 7, width: 7, time: "concat", seed: 2 });
  const fanIn: Record<string, number> = { conv0: 11 * 9, conv1: 33 * 9, conv2: 33 * 9 };
  for (const p of a.dynamics.params) {
    const data = Array.from(a.init[p.name]!.data as Float32Array);
    const bound = 1 / Math.sqrt(fanIn[p.name.split(".")[0]!]!);
    assert(data.every((v) => Math.abs(v) <= bound), `${p.name} exceeds ±${bound}`);
    if (data.length > 1000) assert(Math.max(...data.map(Math.abs)) > 0.99 * bound, `${p.name} should fill its range`);
    assertEquals(data, Array.from(b.init[p.name]!.data as Float32Array));
  }
  assertEquals(a.init["conv0.weight"]!.dims, [32, 11, 3, 3]);
});

Deno.test("convDynamics() rejects bad options naming the field", () => {
  const ok = { channels: 1, hidden: 2, height: 3, width: 3 };
  assertThrows(() => convDynamics({ ...ok, hidden: 0 }), RangeError, /hidden must be a positive integer, got 0/);
  assertThrows(() => convDynamics({ ...ok, height: 2.5 }), RangeError, /height/);
  assertThrows(() => convDynamics({ ...ok, activation: "swish" as "relu" }), RangeError, /activation.*"swish"/);
});
