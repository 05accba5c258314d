import { assert, assertEquals } from "../util/testing.ts";
import { runPipeline } from "./engine.ts";
import { PipelineSchema } from "./schema.ts";

const TINY = {
  name: "tiny-runtime",
  data: { kind: "analytic", T: { min: 1, max: 2, count: 2 } },
  solve: { rtol: 1e-8, atol: 1e-8 },
  gradient: { method: "gq" },
  evaluate: { metrics: ["gradient-error"] },
};

Deno.test("PipelineSchema's runtime section fills defaults and refuses unknown backends, keys and devices", () => {
  assertEquals(PipelineSchema.parse(TINY).runtime, undefined);
  assertEquals(PipelineSchema.parse({ ...TINY, runtime: { backend: "cuda" } }).runtime, {
    backend: "cuda",
    device: 0,
    threads: 0,
    strict: false,
  });
  // Left out unless given, so files without it keep their cells' config hashes.
  assertEquals(PipelineSchema.parse({ ...TINY, runtime: { flushDenormals: false } }).runtime?.flushDenormals, false);
  assertEquals(PipelineSchema.parse({ ...TINY, runtime: { tf32: true } }).runtime?.tf32, true);
  for (
    const [runtime, path] of [
      [{ backend: "tpu" }, "runtime.backend"],
      [{ gpu: 1 }, "runtime"],
      [{ device: -1 }, "runtime.device"],
      [{ threads: 1.5 }, "runtime.threads"],
      [{ flushDenormals: "yes" }, "runtime.flushDenormals"],
      [{ tf32: 1 }, "runtime.tf32"],
    ] as const
  ) {
    const r = PipelineSchema.safeParse({ ...TINY, runtime });
    assert(!r.success, `accepted runtime ${JSON.stringify(runtime)}`);
    assertEquals(r.error.issues[0]?.path.join("."), path, JSON.stringify(r.error.issues));
  }
});

async function requested(runtime: Record<string, unknown>, backend?: "cpu") {
  const out = await Deno.makeTempDir();
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (m: string) => warnings.push(m);
  try {
    const config = PipelineSchema.parse({ ...TINY, runtime });
    const options = { out, threads: 1, report: false, progress: { write: () => {} } };
    const { results } = await runPipeline(config, backend !== undefined ? { ...options, backend } : options);
    return { requested: results.provenance?.backendRequested, ran: results.meta.backend, warnings };
  } finally {
    console.warn = warn;
    await Deno.remove(out, { recursive: true });
  }
}

Deno.test("runPipeline() takes the backend from the runtime section, and the backend option wins over it", async () => {
  const fromFile = await requested({ backend: "cuda" });
  assertEquals(fromFile.requested, "cuda");
  if (fromFile.ran === "cpu") {
    assertEquals(fromFile.warnings.length, 1, fromFile.warnings.join("\n"));
    assert(fromFile.warnings[0]!.startsWith("quadjoint: backend cuda unavailable ("), fromFile.warnings[0]);
  }
  assertEquals(await requested({ backend: "cuda" }, "cpu"), { requested: "cpu", ran: "cpu", warnings: [] });
});
