import { assert, assertEquals } from "../src/util/testing.ts";
import { readResults } from "../src/results/file.ts";
import { findPeerPython } from "./_peer_server.ts";
import { relativeError, run } from "./gpu_bench.ts";

Deno.test("relativeError() is max |a − b| over max |b|, and the plain difference against zeros", () => {
  assertEquals(relativeError([1, 2, 4], [1, 2, 5]), 0.2);
  assertEquals(relativeError([0.5, 0], [0, 0]), 0.5);
});

Deno.test("the GPU check's script runs end to end with cpu standing in for cuda, and writes gpu.json", async () => {
  const dir = await Deno.makeTempDir();
  const log = console.log;
  const lines: string[] = [];
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    await run({ backend: "cpu", widths: [8], dir, peers: false });
  } finally {
    console.log = log;
  }
  try {
    assert(lines.includes("gradient check: pass (worst 0.00e+0, bound 0.0001)"), lines.join("\n"));
    const file = await readResults(`${dir}/gpu.json`);
    const rows = file.results.gradientTimings ?? [];
    assertEquals(rows.map((r) => `${r.method} ${r.width} ${r.batch}`), [
      ...["direct", "adjoint", "seminorm", "gq"].map((m) => `${m} (cpu) 8 2`),
      ...["direct", "adjoint", "seminorm", "gq"].map((m) => `${m} (cpu) 8 200`),
    ]);
    assert(rows.every((r) => r.gradientSeconds > 0), "a time is missing");
    assertEquals(file.meta?.gradientCheck, "pass");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const torch = await findPeerPython(["torch", "torchdiffeq"]);

Deno.test({
  name: "the GPU check's torch part runs torch beside quadjoint on the same device (cpu standing in) [needs torch]",
  ignore: torch === undefined,
  async fn() {
    const dir = await Deno.makeTempDir();
    const log = console.log;
    const lines: string[] = [];
    console.log = (...a: unknown[]) => lines.push(a.join(" "));
    try {
      await run({ backend: "cpu", widths: [8], dir });
    } finally {
      console.log = log;
    }
    try {
      const file = await readResults(`${dir}/gpu.json`);
      const rows = file.results.peerGradients ?? [];
      assertEquals(rows.map((r) => `${r.method} ${r.width} ${r.batch}`), [
        ...["direct", "adjoint", "seminorm", "gq"].map((m) => `${m} 8 2`),
        ...["direct", "adjoint", "seminorm", "gq"].map((m) => `${m} 8 200`),
      ]);
      // The same θ and z0 on both sides: the gradients agree (float32, rtol 1e-3 solves), GQ rows aside when the
      // authors' package is not given.
      for (const r of rows.filter((r) => r.method !== "gq")) {
        assert(r.ratio !== null && r.ratio > 0, `${r.method}: no ratio (${r.peerError})`);
        assert(r.dthetaRelativeError !== null && r.dthetaRelativeError < 1e-4, `${r.method}: ${r.dthetaRelativeError}`);
      }
      assert(String(file.meta?.torch).startsWith("torch "), String(file.meta?.torch));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
