import { checkPage } from "../../tests/browser.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../util/testing.ts";
import { sampleEpochs, sampleGradientErrors, sampleMemory, sampleRuns } from "./_sample_data.ts";
import { escapeHtml, renderReport, type ReportContent, writeReport } from "./html.ts";
import {
  type ChartSpec,
  gradientErrorSpec,
  lossCurveSpec,
  memorySpec,
  nfeSpec,
  testMetricSpec,
  trainingTimeSpec,
} from "./specs.ts";
import { speedSummary } from "./summary.ts";

const HOSTILE = `</script><script>throw new Error("injected")</script><b title="x">&amp;'`;

/** A report with every chart type, the summary table, and hostile text everywhere text goes. */
function fullReport(): { content: ReportContent; specs: ChartSpec[] } {
  const runs = sampleRuns(), epochs = sampleEpochs();
  const time = trainingTimeSpec(runs, { title: `Training time ${HOSTILE}` });
  const specs = [
    time,
    testMetricSpec(runs, { metricLabel: "test accuracy" }),
    lossCurveSpec(epochs),
    lossCurveSpec(epochs, { x: "seconds" }),
    gradientErrorSpec(sampleGradientErrors()),
    memorySpec(sampleMemory()),
    nfeSpec(runs),
  ];
  const table = speedSummary(runs, { metricLabel: "accuracy", caption: `Summary ${HOSTILE}` });
  const content: ReportContent = {
    title: `Nested spheres ${HOSTILE}`,
    subtitle: `Subtitle ${HOSTILE}`,
    sections: [
      { title: `Speed ${HOSTILE}`, text: `First ${HOSTILE}\n\nSecond paragraph.`, charts: specs.slice(0, 2), table },
      { title: "Training curves", charts: specs.slice(2, 4) },
      { title: "Gradients and memory", charts: specs.slice(4) },
      { title: "Notes only", text: "No charts here." },
    ],
    meta: { [`commit ${HOSTILE}`]: `abc ${HOSTILE}`, seeds: 2, gpu: false, missing: null },
  };
  return { content, specs };
}

Deno.test("renderReport() draws every chart type in headless Chromium without errors or warnings", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/report.html`;
    await writeReport(path, renderReport(fullReport().content));
    const screenshotPath = Deno.env.get("QUADJOINT_REPORT_SCREENSHOT");
    const r = await checkPage(path, screenshotPath ? { screenshotPath } : {});
    assertEquals(r.errors, []);
    assertEquals(r.warnings, []);
    assertEquals([r.chartsDrawn, r.chartsExpected], [7, 7]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("renderReport() escapes every piece of text", () => {
  const html = renderReport(fullReport().content);
  // The hostile string appears only escaped in the markup, and never raw.
  assert(!html.includes(HOSTILE), "raw text in the HTML");
  assert(!html.includes('throw new Error("injected")</script>'), "a script element could be closed by data");
  const escaped = escapeHtml(HOSTILE);
  for (
    const where of ["<title>Nested spheres ", "<h1>Nested spheres ", "<h2>Speed ", "<p>First ", "<caption>Summary "]
  ) {
    assert(html.includes(where + escaped), `text not escaped after ${where}`);
  }
  assert(html.includes(`<dt>commit ${escaped}</dt><dd>abc ${escaped}</dd>`), "meta not escaped");
  assert(html.includes("<dt>missing</dt><dd>—</dd>"), "null meta not shown as a dash");
  assertEquals(escapeHtml(`<a href="x">'&'</a>`), "&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;");
});

Deno.test("renderReport() embeds the specs unchanged and loads nothing from outside the file", () => {
  const { content, specs } = fullReport();
  const html = renderReport(content);
  const block = /<script type="application\/json" id="quadjoint-specs">(.*?)<\/script>/s.exec(html);
  assert(block, "no specs block");
  assertEquals(JSON.parse(block[1]!), JSON.parse(JSON.stringify(specs)));
  assertEquals(html.match(/data-chart="\d+"/g)?.length, 7);
  // Outside the inlined code, nothing points elsewhere.
  const markup = html.replace(/(<script[^>]*>).*?<\/script>/gs, "$1</script>");
  assert(markup.length < 20_000, "a script element was not stripped");
  assert(!/\bsrc=|<link\b|<img\b|@import|url\(/i.test(markup), "the report references an outside resource");
  // The three bundles are inlined, in dependency order.
  const at = ["/* vega */", "/* vega-lite */", "/* vega-embed */"].map((m) => html.indexOf(m));
  assert(at.every((i, k) => i > 0 && (k === 0 || i > at[k - 1]!)), `bundles missing or out of order: ${at}`);
  assert(html.length > 700_000, `only ${html.length} characters: bundles not inlined`);
});

Deno.test("renderReport() names the field at fault in bad content", () => {
  assertThrows(() => renderReport({ title: 1 } as never), TypeError, /"title" must be a string, got 1/);
  assertThrows(() => renderReport({ title: "t", sections: [], extra: 1 } as never), TypeError, /unknown field "extra"/);
  assertThrows(
    () => renderReport({ title: "t", sections: [{ title: "a" }, { text: "b" }] } as never),
    TypeError,
    /sections\[1\]\.title/,
  );
  assertThrows(
    () => renderReport({ title: "t", sections: [{ title: "a", charts: [null] }] } as never),
    TypeError,
    /sections\[0\]\.charts\[0\]/,
  );
});

Deno.test("writeReport() replaces the file whole and leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/nested/report.html`;
    await writeReport(path, "first");
    await writeReport(path, "second");
    assertEquals(await Deno.readTextFile(path), "second");
    assertEquals([...Deno.readDirSync(`${dir}/nested`)].map((e) => e.name), ["report.html"]);
    await Deno.mkdir(`${dir}/dir.html`);
    await assertRejects(() => writeReport(`${dir}/dir.html`, "x"), Error, /Cannot write report .*dir\.html/);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["dir.html", "nested"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
