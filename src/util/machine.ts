/**
 * The machine's CPU as Node's `os.cpus()` reports it. Run provenance and the
 * benchmarks' results record it: speed ratios depend on the CPU (ORT's MLAS
 * ran 2× faster than torch's MKL on an AMD EPYC with AVX-512, a quarter
 * slower on the machine before it).
 *
 * @module
 */
import os from "node:os";

/** The CPU's model name and core count; null where they cannot be read (no `--allow-sys`). */
export function machineCpu(): { model: string | null; cores: number | null } {
  try {
    const cpus = os.cpus();
    return { model: cpus[0]?.model.trim() || null, cores: cpus.length || null };
  } catch {
    return { model: null, cores: navigator.hardwareConcurrency ?? null };
  }
}
