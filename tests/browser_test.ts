import type { EpochRecord, RunRecord } from "../src/results/records.ts";
import { experimentReport } from "../src/report/experiment.ts";
import { renderReport } from "../src/report/html.ts";
import { memorySpec } from "../src/report/specs.ts";
import { assert, assertEquals } from "../src/util/testing.ts";
import { checkPage } from "./browser.ts";

const good = memorySpec([{ method: "gq", tolerance: 1e-3, heldBytes: 1e5 }, {
  method: "gq",
  tolerance: 1e-5,
  heldBytes: 1e5,
}]);

async function withPage<T>(html: string, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/page.html`, html);
    return await fn(`${dir}/page.html`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("checkPage() reports a broken chart spec as an error and an undrawn chart", async () => {
  // The second spec names a mark type that does not exist: vega-embed rejects it.
  const broken = { ...good, layer: [{ mark: { type: "nope" } }] } as unknown as typeof good;
  // The third compiles but plots a field no record has: every row is filtered out and nothing is drawn.
  const empty = { ...good, transform: [{ filter: "isValid(datum.nope)" }] } as typeof good;
  const html = renderReport({ title: "t", sections: [{ title: "s", charts: [good, broken, empty] }] });
  const r = await withPage(html, (p) => checkPage(p, { timeoutMs: 2000 }));
  assertEquals([r.chartsDrawn, r.chartsExpected, r.undrawn], [1, 3, [1, 2]]);
  assert(r.errors.some((e) => /chart 2 failed/.test(e)), `no error for chart 2 in ${JSON.stringify(r.errors)}`);
});

Deno.test("checkPage() counts canvases with ink as drawn and collects uncaught page errors", async () => {
  const html = `<!DOCTYPE html><html><body>
<div data-chart><canvas id="a" width="50" height="50"></canvas></div>
<div data-chart><canvas id="b" width="50" height="50"></canvas></div>
<div data-chart><svg><g class="mark-rule role-axis-grid"><line x2="5"/></g></svg></div>
<script>
const c = document.getElementById("a").getContext("2d");
c.fillStyle = "#e45756"; c.fillRect(10, 10, 20, 20);
document.getElementById("b").getContext("2d").fillStyle = "white";
throw new RangeError("boom");
</script></body></html>`;
  const r = await withPage(html, (p) => checkPage(p, { timeoutMs: 500 }));
  // The blank canvas and the SVG holding only an axis grid do not count.
  assertEquals([r.chartsDrawn, r.chartsExpected, r.undrawn], [1, 3, [1, 2]]);
  assertEquals(r.errors, ["RangeError: boom"]);
});

Deno.test("checkPage() writes a screenshot when asked", async () => {
  const html = renderReport({ title: "t", sections: [{ title: "s", charts: [good] }] });
  await withPage(html, async (p) => {
    const shot = p.replace(/\.html$/, ".png");
    const r = await checkPage(p, { screenshotPath: shot });
    assertEquals([r.errors, r.chartsDrawn, r.screenshotPath], [[], 1, shot]);
    const png = await Deno.readFile(shot);
    assertEquals([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  });
});

/** Two methods × three widths × `seeds` seeds, with epochs; the seeds spread time, metric and loss. */
function seededResults(seeds: number): { runs: RunRecord[]; epochs: EpochRecord[] } {
  const runs: RunRecord[] = [], epochs: EpochRecord[] = [];
  for (const [method, factor] of [["gq", 1], ["adjoint", 3]] as const) {
    for (const width of [8, 32, 128]) {
      for (let seed = 0; seed < seeds; seed++) {
        const spread = 1 + 0.3 * seed;
        runs.push({ method, width, seed, trainSeconds: factor * width * spread, testMetric: 0.8 + 0.04 * seed });
        for (let epoch = 1; epoch <= 5; epoch++) {
          epochs.push({ method, width, seed, epoch, elapsedSeconds: epoch * factor, testLoss: spread / epoch });
        }
      }
    }
  }
  return { runs, epochs };
}

Deno.test("a report of several seeds draws each method's min–max spread as a band; one seed draws none", async () => {
  const bandFills = async (seeds: number) => {
    const content = experimentReport(seededResults(seeds), {
      title: `${seeds} seeds`,
      charts: ["training-time", "test-metric", "loss-curve"],
      metricLabel: "accuracy",
    });
    const titles = content.sections.flatMap((x) => x.charts ?? []).map((c) => c.title);
    const r = await withPage(renderReport(content), (p) => checkPage(p));
    assertEquals([r.errors, r.chartsDrawn, r.chartsExpected], [[], 4, 4]);
    // Training time, accuracy and loss vs epoch carry bands; loss vs seconds draws one line per seed instead.
    const banded = ["Training time vs width", "Test accuracy vs width", "Test loss vs epoch"];
    return banded.map((t) => {
      const marks = r.marks[titles.indexOf(t)]!;
      // One marker per method and width (and epoch), at the mean.
      assert((marks.symbol?.items ?? 0) >= 6, `${t}: markers ${JSON.stringify(marks)}`);
      return marks.area?.maxFill ?? 0;
    });
  };
  const three = await bandFills(3);
  assert(three.every((n) => n > 500), `bands of three seeds fill ${three} px`);
  const one = await bandFills(1);
  assert(one.every((n) => n < 50), `bands of one seed fill ${one} px`);
});
