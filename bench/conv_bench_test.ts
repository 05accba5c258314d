import { assertEquals } from "../src/util/testing.ts";
import { kernelMsPerRun, paperDynamics } from "./conv_bench.ts";

Deno.test("kernelMsPerRun() sums each run's node kernels in ms, leaving out other events and kernels outside runs", () => {
  const events = [
    { cat: "Session", name: "model_run", ts: 100, dur: 50 },
    { cat: "Node", name: "conv_kernel_time", ts: 105, dur: 20 },
    { cat: "Node", name: "conv_fence_before", ts: 104, dur: 1 },
    { cat: "Node", name: "relu_kernel_time", ts: 130, dur: 5 },
    { cat: "Session", name: "model_run", ts: 200, dur: 10 },
    { cat: "Node", name: "conv_kernel_time", ts: 202, dur: 7 },
    { cat: "Node", name: "conv_kernel_time", ts: 400, dur: 99 },
  ];
  assertEquals(kernelMsPerRun(events), [0.025, 0.007]);
});

Deno.test("paperDynamics() is the pipeline's conv kind: 10+1 → h → h → 10 channels on [10, 14, 14] states", () => {
  const { dynamics, init } = paperDynamics(6);
  assertEquals(dynamics.stateShape, [10, 14, 14]);
  assertEquals(
    ["conv0.weight", "conv1.weight", "conv2.weight"].map((n) => init[n]!.dims),
    [[6, 11, 3, 3], [6, 7, 3, 3], [10, 7, 3, 3]],
  );
});
