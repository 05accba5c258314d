import { assert, assertEquals } from "../src/util/testing.ts";
import { probeGradientMemory } from "./_gradient_memory.ts";

Deno.test("probeGradientMemory() measures one gradient of the benchmark MLP in a fresh process", async () => {
  const peak = await probeGradientMemory({ method: "gq", width: 5, dim: 4, batch: 2, t1: 1 });
  assertEquals(peak.error, undefined);
  // ONNX Runtime's sessions alone take megabytes; a gradient of a width-5 MLP stays well under a GiB.
  assert(peak.peakRssBytes! > 2 ** 20 && peak.peakRssBytes! < 2 ** 30, `peak ${peak.peakRssBytes} bytes`);
});

Deno.test("probeGradientMemory() gives null and the reason when the child fails", async () => {
  const peak = await probeGradientMemory({ method: "nope" as "gq", width: 5, dim: 4, batch: 2, t1: 1 });
  assertEquals(peak.peakRssBytes, null);
  assert(/memory probe failed.*Unknown gradient method "nope"/.test(peak.error!), peak.error);
});
