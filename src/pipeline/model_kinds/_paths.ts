/**
 * Model files named in a pipeline (`model.encoder.file`, `model.dynamics.file`, `model.diffusion.file`, `model.head.file`)
 * are relative to the pipeline file: {@linkcode resolveModelFiles} makes them
 * absolute when the file is parsed (parse.ts), before validation, so every
 * later stage — the schema's checks, sweep cells, the task stage — sees one
 * absolute path.
 *
 * @module
 */
import { dirname, isAbsolute, resolve } from "node:path";

const SLOTS = ["encoder", "dynamics", "diffusion", "head"] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function resolveFile(slot: unknown, base: string): void {
  if (isObject(slot) && typeof slot.file === "string" && slot.file !== "" && !isAbsolute(slot.file)) {
    slot.file = resolve(base, slot.file);
  }
}

function resolveModel(model: unknown, base: string): void {
  if (isObject(model)) { for (const s of SLOTS) resolveFile(model[s], base); }
}

function resolveStages(raw: Record<string, unknown>, base: string): void {
  resolveModel(raw.model, base);
  if (isObject(raw.quick)) resolveStages(raw.quick, base);
  if (!isObject(raw.sweep)) return;
  for (const [key, values] of Object.entries(raw.sweep)) {
    if (!Array.isArray(values)) continue;
    values.forEach((v, i) => {
      if (key === "model") resolveModel(v, base);
      else if (SLOTS.some((s) => key === `model.${s}`)) resolveFile(v, base);
      else if (SLOTS.some((s) => key === `model.${s}.file`) && typeof v === "string" && v !== "" && !isAbsolute(v)) {
        values[i] = resolve(base, v);
      }
    });
  }
}

/**
 * A copy of a pipeline file's contents (before validation) with every
 * `model.encoder.file`, `model.dynamics.file`, `model.diffusion.file` and `model.head.file` — in the model stage, in
 * `quick` and in sweep values — made absolute against the folder of
 * `pipelineFile`. Anything that is not a relative path string is left for the
 * schema to judge.
 *
 * @example
 * ```ts
 * import { resolveModelFiles } from "./_paths.ts";
 * const raw = { model: { dynamics: { kind: "onnx", file: "f.onnx" } }, sweep: { "model.dynamics.file": ["g.onnx"] } };
 * const out = resolveModelFiles(raw, "/work/p/run.yaml") as typeof raw;
 * if (out.model.dynamics.file !== "/work/p/f.onnx" || out.sweep["model.dynamics.file"][0] !== "/work/p/g.onnx") {
 *   throw new Error("not resolved");
 * }
 * ```
 */
export function resolveModelFiles(raw: unknown, pipelineFile: string): unknown {
  if (!isObject(raw)) return raw;
  const out = structuredClone(raw);
  resolveStages(out, resolve(dirname(pipelineFile)));
  return out;
}
