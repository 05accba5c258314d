/**
 * The provenance of a run as a report table: what produced the results
 * (pipeline file and its hash, settings, versions, machine, commit).
 *
 * @module
 */
import type { Provenance, SettingValue } from "../results/records.ts";
import type { CellValue, ReportTable } from "./summary.ts";

/** How provenance fields read in the report, in the order shown. */
const PROVENANCE_LABELS: ReadonlyArray<readonly [keyof Provenance, string]> = [
  ["pipelineFile", "pipeline file"],
  ["pipelineSha256", "pipeline file SHA-256"],
  ["quick", "--quick"],
  ["seeds", "seeds"],
  ["solver", "solver"],
  ["rtol", "rtol"],
  ["atol", "atol"],
  ["backwardSolve", "backward solve"],
  ["batchSize", "batch size"],
  ["epochs", "epochs"],
  ["backend", "backend"],
  ["backendRequested", "backend requested"],
  ["threads", "ONNX Runtime threads (0: its default)"],
  ["flushDenormals", "subnormals flushed to zero"],
  ["cpuModel", "CPU"],
  ["cpuCores", "logical cores"],
  ["os", "OS"],
  ["quadjointVersion", "quadjoint"],
  ["denoVersion", "Deno"],
  ["v8Version", "V8"],
  ["onnxruntimeVersion", "ONNX Runtime"],
  ["gitCommit", "git commit"],
  ["gitDirty", "uncommitted changes"],
];

function settingText(v: SettingValue | undefined): CellValue {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) {
    return v.map((x) => (x === null ? "—" : typeof x === "object" ? JSON.stringify(x) : String(x))).join(", ");
  }
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number" || typeof v === "string") return String(v);
  // A field of a newer version (an object): shown as its JSON rather than mistaken for a number.
  return JSON.stringify(v);
}

/**
 * The provenance of a run as a two-column table (what, value); missing
 * values show as dashes.
 *
 * @example
 * ```ts
 * import { provenanceTable } from "./_provenance_table.ts";
 * const t = provenanceTable({ gitCommit: "abc123", quick: false, seeds: [0, 1] } as never);
 * if (t.rows.find((r) => r.what === "git commit")?.value !== "abc123") throw new Error();
 * if (t.rows.find((r) => r.what === "seeds")?.value !== "0, 1") throw new Error();
 * ```
 */
export function provenanceTable(p: Provenance): ReportTable {
  const known = new Set<string>(PROVENANCE_LABELS.map(([k]) => k));
  const rows = [
    ...PROVENANCE_LABELS.map(([k, what]) => ({ what, value: settingText(p[k]) })),
    // Fields of a newer version this one does not know still show, under their own names.
    ...Object.entries(p).filter(([k]) => !known.has(k)).map(([k, v]) => ({
      what: k,
      value: settingText(v as SettingValue),
    })),
  ];
  return {
    columns: [{ key: "what", label: "what" }, { key: "value", label: "value" }],
    rows,
    note: "A setting that differs between cells lists its distinct values in cell order.",
  };
}
