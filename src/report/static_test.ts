import { assert, assertEquals, assertRejects, assertThrows } from "../util/testing.ts";
import { sampleGradientErrors, sampleRuns } from "./_sample_data.ts";
import type { RunRecord } from "../results/records.ts";
import { gradientErrorSpec, trainingTimeSpec } from "./specs.ts";
import { renderPng, renderRgba, renderSvg, writeChartFiles } from "./static.ts";

/** Items of the data marks of one type in a Vega SVG: the children of each `mark-<type> role-mark` group. */
function markItems(svg: string, type: string): number {
  const groups = [...svg.matchAll(new RegExp(`<g class="mark-${type} role-mark[^"]*"[^>]*>(.*?)</g>`, "gs"))];
  return groups.reduce((n, g) => n + (g[1]!.match(/<(path|line|rect|text)\b/g)?.length ?? 0), 0);
}

function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);
}

Deno.test("renderSvg() draws the training-time chart with its axis titles, legend and one point per mean", async () => {
  const svg = await renderSvg(trainingTimeSpec(sampleRuns()));
  assert(svg.startsWith("<svg"), svg.slice(0, 40));
  const t = texts(svg);
  for (const want of ["Training time vs width", "width", "training time (s)", "method", "gq", "adjoint", "direct"]) {
    assert(t.includes(want), `missing text "${want}" in ${JSON.stringify(t)}`);
  }
  assertEquals(markItems(svg, "symbol"), 16);
  assertEquals(markItems(svg, "line"), 4);
  assertEquals(markItems(svg, "area"), 4);
});

Deno.test("renderSvg() still draws a chart when some values are missing", async () => {
  const runs: RunRecord[] = [
    ...sampleRuns(),
    { method: "seminorm", width: 1000, seed: 0, trainSeconds: null },
    { method: "seminorm", width: 2000, seed: 0, trainSeconds: NaN },
    { method: "seminorm", width: 3000, seed: 0 },
  ];
  const svg = await renderSvg(trainingTimeSpec(runs));
  assertEquals(markItems(svg, "symbol"), 16);
});

Deno.test("renderSvg() draws one panel per gradient quantity on a log axis", async () => {
  const warnings: string[] = [];
  const svg = await renderSvg(gradientErrorSpec(sampleGradientErrors()), { onWarning: (w) => warnings.push(w) });
  assertEquals(warnings, []);
  const t = texts(svg);
  for (const q of ["dL/dz0", "dL/da", "dL/dT", "relative error"]) assert(t.includes(q), `missing "${q}"`);
  assertEquals(markItems(svg, "symbol"), 4 * 3 * 6 - 3);
});

Deno.test("renderSvg() rejects a spec that does not compile, saying so", async () => {
  await assertRejects(
    () => renderSvg({ data: { values: [] }, mark: "nope" } as never),
    TypeError,
    /renderSvg\(\): the Vega-Lite spec does not compile/,
  );
});

Deno.test("renderPng() writes a PNG at twice the SVG size by default and at a given width", async () => {
  const svg = await renderSvg(trainingTimeSpec(sampleRuns()));
  const svgWidth = Number(/width="(\d+)"/.exec(svg)![1]);
  const png = renderPng(svg);
  assertEquals([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const ihdr = new DataView(png.buffer, png.byteOffset + 16, 8);
  assertEquals(ihdr.getUint32(0), 2 * svgWidth);
  assert(png.length > 20_000, `PNG of ${png.length} bytes is too small for a chart`);
  const small = renderPng(svg, { width: 400 });
  assertEquals(new DataView(small.buffer, small.byteOffset + 16, 4).getUint32(0), 400);
  assertThrows(() => renderPng(svg, { width: 0 }), RangeError, /"width".*0/);
});

Deno.test("renderRgba() renders sans-serif text with a system font", () => {
  const dark = (svg: string) => {
    const { pixels } = renderRgba(svg, { width: 200 });
    let n = 0;
    for (let i = 0; i < pixels.length; i += 4) if (pixels[i]! < 128) n++;
    return n;
  };
  const frame = (body: string) =>
    `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><rect width="200" height="40" fill="white"/>${body}</svg>`;
  assertEquals(dark(frame("")), 0);
  const inked = dark(frame(`<text x="5" y="28" font-family="sans-serif" font-size="20px">training time</text>`));
  assert(inked > 200, `text drew only ${inked} dark pixels: no usable font`);
});

Deno.test("writeChartFiles() writes <name>.svg and <name>.png and refuses a path as name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const spec = trainingTimeSpec(sampleRuns());
    const paths = await writeChartFiles(`${dir}/charts`, "time", spec);
    assertEquals(paths, { svg: `${dir}/charts/time.svg`, png: `${dir}/charts/time.png` });
    assert((await Deno.readTextFile(paths.svg)).includes("training time (s)"));
    assertEquals([...(await Deno.readFile(paths.png)).subarray(1, 4)], [0x50, 0x4e, 0x47]);
    await assertRejects(() => writeChartFiles(dir, "../escape", spec), RangeError, /"\.\.\/escape"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
