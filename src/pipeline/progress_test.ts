import { assert, assertEquals } from "../util/testing.ts";
import { formatDuration, Progress } from "./progress.ts";

Deno.test("formatDuration() shows seconds, minutes and hours", () => {
  assertEquals(formatDuration(4.24), "4.2s");
  assertEquals(formatDuration(185), "3m05s");
  assertEquals(formatDuration(3720), "1h02m");
  assertEquals(formatDuration(NaN), "?");
});

Deno.test("Progress on a terminal rewrites one line with cell, epoch, loss, NFE, elapsed and time left", () => {
  const out: string[] = [];
  let now = 0;
  const p = new Progress(10, { tty: true, write: (s) => out.push(s), now: () => now });
  p.skip(2); // resumed work: 8 units left to do in this session
  p.startCell(2, 3, "width-8");
  now = 1000;
  p.update({ step: 1, steps: 4, stepName: "epoch", detail: "batch 2/5", loss: 0.25, done: false });
  const inStep = out.at(-1)!;
  assert(inStep.startsWith("\r\x1b[K"), "rewrites the line in place");
  assert(inStep.includes("batch 2/5") && inStep.includes("left ?"), inStep);
  now = 4000;
  p.update({
    step: 1,
    steps: 4,
    stepName: "epoch",
    loss: 0.25,
    nfeForwardPerBatch: 20,
    nfeBackwardPerBatch: 31,
    nodesPerBatch: 3,
    done: true,
  });
  assertEquals(
    out.at(-1),
    "\r\x1b[Kcell 2/3 width-8 | epoch 1/4 | loss 0.2500 | NFE/batch 20/31 (3 nodes) | elapsed 4.0s | left 28.0s",
  );
  // A message after a finished step keeps that step's line on screen.
  p.log("done");
  assertEquals(out.slice(-2), ["\n", "done\n"]);
  // One after an in-step update replaces it.
  p.update({ step: 2, steps: 4, stepName: "epoch", detail: "batch 1/5", done: false });
  p.log("warning");
  assertEquals(out.slice(-2), ["\r\x1b[K", "warning\n"]);
});

Deno.test("Progress on a terminal keeps each finished cell's last line when the next cell starts", () => {
  const out: string[] = [];
  const p = new Progress(4, { tty: true, write: (s) => out.push(s), now: () => 0 });
  p.startCell(1, 2, "a");
  p.update({ step: 1, steps: 2, stepName: "epoch", detail: "batch 1/2", done: false });
  p.startCell(2, 2, "b");
  p.update({ step: 2, steps: 2, stepName: "epoch", loss: 0.5, done: true });
  p.finish();
  const screen = out.join("").split("\n").map((l) => l.split("\r\x1b[K").at(-1));
  assertEquals(screen.map((l) => l!.split(" | ").slice(0, 2).join(" | ")), [
    "cell 1/2 a: started",
    "cell 1/2 a | epoch 1/2",
    "cell 2/2 b: started",
    "cell 2/2 b | epoch 2/2",
    "",
  ]);
});

Deno.test("Progress off a terminal writes plain lines only for finished steps", () => {
  const out: string[] = [];
  const p = new Progress(2, { tty: false, write: (s) => out.push(s), now: () => 0 });
  p.update({ step: 1, steps: 2, stepName: "point", done: false });
  assertEquals(out, []);
  p.update({ step: 1, steps: 2, stepName: "point", metric: { name: "accuracy", value: 0.95 }, done: true });
  assertEquals(out.length, 1);
  assert(!out[0]!.includes("\r") && out[0]!.endsWith("\n") && out[0]!.includes("accuracy 0.9500"), out[0]);
  p.finish();
  assertEquals(out.length, 1, "no dangling line to end");
});

Deno.test("Progress weighs units by cost, so a cheap first cell does not hide an expensive one", () => {
  const out: string[] = [];
  let now = 0;
  // Two cells of 2 epochs: the second costs 9× as much per epoch. Total weighted units 2·1 + 2·9 = 20.
  const p = new Progress(20, { tty: false, write: (s) => out.push(s), now: () => now });
  p.startCell(1, 2, "cheap", 1);
  now = 1000;
  p.update({ step: 1, steps: 2, stepName: "epoch", done: true });
  // 1 s for 1 weighted unit: 19 units, 19 s, left (a plain count of epochs would say 3 s).
  assert(out.at(-1)!.includes("left 19.0s"), out.at(-1));
  now = 2000;
  p.update({ step: 2, steps: 2, stepName: "epoch", done: true });
  p.startCell(2, 2, "expensive", 9);
  now = 11000;
  p.update({ step: 1, steps: 2, stepName: "epoch", done: true });
  // 11 s for 11 weighted units: 9 left.
  assert(out.at(-1)!.includes("left 9.0s"), out.at(-1));
});

Deno.test("Progress drops a failed cell's unrun units from the total, so the time left reaches 0", () => {
  const lines: string[] = [];
  let t = 0;
  const p = new Progress(20, { tty: false, write: (s) => lines.push(s), now: () => t });
  p.startCell(1, 2, "a", 1, 10);
  t = 1000;
  p.update({ step: 1, steps: 10, stepName: "epoch", done: true });
  p.endCell(); // failed after 1 of its 10 epochs
  p.startCell(2, 2, "b", 1, 10);
  for (let e = 1; e <= 10; e++) {
    t += 1000;
    p.update({ step: e, steps: 10, stepName: "epoch", done: true });
  }
  assert(lines.at(-1)!.includes("left 0.0s"), lines.at(-1)!);
  assertEquals(p.remaining, 0);
});
