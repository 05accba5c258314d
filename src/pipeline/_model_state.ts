/**
 * The ODE state a training configuration makes from its data — the data
 * itself, augmented, the conv encoder's image or an ONNX encoder's output —
 * and the ONNX heads and encoders it imports (models/imported_layer.ts), read
 * once while their file is unchanged. Problems are issues at the field at
 * fault (`model.encoder.file`, `model.head.file`, …), naming the file, so
 * the task stage reports them at validation (exit 2).
 *
 * @module
 */
import {
  type ImportedEncoder,
  type ImportedHead,
  importEncoderSync,
  importHeadSync,
} from "../models/imported_layer.ts";
import type { DataSizes } from "./data_kinds/data_kind.ts";
import type { PipelineIssue } from "./errors.ts";
import { fileCache } from "./file_cache.ts";
import type { PipelineConfig } from "./schema.ts";

/** The model section of a configuration. */
export type ModelConfig = NonNullable<PipelineConfig["model"]>;
type OnnxLayerConfig = Extract<ModelConfig["head"] | ModelConfig["encoder"], { kind: "onnx" }>;

/** Imported heads and encoders, read once for the checks and the cells while their file is unchanged. */
const cachedLayers = fileCache(8);

/** The importer of each slot an ONNX file can fill. */
const IMPORTERS = { head: importHeadSync, encoder: importEncoderSync } as const;

/** What each slot's importer gives. */
type ImportedLayerOf = { head: ImportedHead; encoder: ImportedEncoder };

/** The imported layer of `model.<slot>: { kind: onnx }`, read once while its file is unchanged. @throws the import's error */
export function importOnnxLayer<S extends keyof ImportedLayerOf>(
  slot: S,
  layer: OnnxLayerConfig,
  dtype: "float32" | "float64",
): ImportedLayerOf[S] {
  return cachedLayers(
    `onnx ${slot}`,
    [slot, layer.file, layer.freeze, dtype],
    [layer.file],
    () => IMPORTERS[slot](layer.file, { freeze: layer.freeze, dtype }),
  ) as ImportedLayerOf[S];
}

/**
 * Imports `model.<slot>: { kind: onnx }`, or says why not at
 * `model.<slot>.file` (or `.freeze`), naming the file.
 */
function importLayerOrIssue<S extends keyof ImportedLayerOf>(
  slot: S,
  layer: OnnxLayerConfig,
  dtype: "float32" | "float64",
): { layer: ImportedLayerOf[S] } | { issue: PipelineIssue } {
  try {
    return { layer: importOnnxLayer(slot, layer, dtype) };
  } catch (e) {
    let missing = false;
    try {
      Deno.statSync(layer.file);
    } catch {
      missing = true;
    }
    const message = missing
      ? `No such file ${layer.file} (give a path relative to the pipeline file, or an absolute one)`
      : (e as Error).message.includes(layer.file)
      ? (e as Error).message
      : `${layer.file}: ${(e as Error).message}`;
    return { issue: { path: `model.${slot}.${/Cannot freeze/.test(message) ? "freeze" : "file"}`, message } };
  }
}

/**
 * The checks of `model.head: { kind: onnx }`: the file reads as a head of
 * rows, and it takes the model's state and gives the data's outputs.
 */
export function onnxHeadIssues(
  head: OnnxLayerConfig,
  dtype: "float32" | "float64",
  { stateDim, words }: ModelState,
  outDim: number,
  dataKind: string,
): PipelineIssue[] {
  const read = importLayerOrIssue("head", head, dtype);
  if ("issue" in read) return [read.issue];
  const imported = read.layer;
  const issues: PipelineIssue[] = [];
  if (imported.stateDim !== stateDim) {
    issues.push({
      path: "model.head.file",
      message: `${head.file} takes states of shape [rows, ${imported.stateDim}], but the model's state has ` +
        `${stateDim} components (${words})`,
    });
  }
  if (imported.outDim !== outDim) {
    issues.push({
      path: "model.head.file",
      message: `${head.file} gives predictions of shape [rows, ${imported.outDim}], but data "${dataKind}" needs ` +
        `${outDim} outputs`,
    });
  }
  return issues;
}

/** The ODE state of a training configuration: its size, and where it comes from in words (for messages). */
export interface ModelState {
  readonly stateDim: number;
  /** The state's image shape [C, H, W] when it is an image. */
  readonly imageShape?: readonly number[];
  readonly words: string;
  /** The imported encoder of `model.encoder: { kind: onnx }`. */
  readonly encoder?: ImportedEncoder;
}

/**
 * The state the encoder makes from the data: the data itself (an image when
 * they are images), with zeros appended (a vector), the conv encoder's image,
 * or an ONNX encoder's output (read here, so its problems are issues at
 * `model.encoder.file`).
 */
export function modelState(config: PipelineConfig, sizes: DataSizes): ModelState | { issues: PipelineIssue[] } {
  const model = config.model!;
  const encoder = model.encoder;
  const { dataDim, imageShape } = sizes;
  const image = (shape: readonly number[] | undefined) => shape?.length === 3 ? { imageShape: shape } : {};
  if (encoder.kind === "identity") return { stateDim: dataDim, ...image(imageShape), words: "the data's inputs" };
  if (encoder.kind === "augment") {
    return { stateDim: dataDim + encoder.dims, words: "the data's inputs plus model.encoder's augmentation" };
  }
  if (encoder.kind === "conv") {
    if (imageShape === undefined) {
      return {
        issues: [{
          path: "model.encoder.kind",
          message: `Encoder "conv" takes images, but data "${config.data.kind}" gives vectors of ${dataDim} values`,
        }],
      };
    }
    const [, height, width] = imageShape as [number, number, number];
    if (height < 2 || width < 2) {
      return {
        issues: [{ path: "model.encoder.kind", message: `Encoder "conv" cannot pool ${height}×${width} images` }],
      };
    }
    const shape = [encoder.channels, Math.floor(height / 2), Math.floor(width / 2)];
    return { stateDim: shape[0]! * shape[1]! * shape[2]!, imageShape: shape, words: "model.encoder's output" };
  }
  const read = importLayerOrIssue("encoder", encoder, model.dtype);
  if ("issue" in read) return { issues: [read.issue] };
  const imported = read.layer;
  if (imported.dataDim !== dataDim) {
    return {
      issues: [{
        path: "model.encoder.file",
        message: `${encoder.file} takes data of shape [rows, ${imported.dataDim}], but data "${config.data.kind}" ` +
          `has ${dataDim} inputs`,
      }],
    };
  }
  return {
    stateDim: imported.stateShape.reduce((a, b) => a * b, 1),
    ...image(imported.stateShape),
    words: `the output of ${encoder.file}, flattened`,
    encoder: imported,
  };
}

/**
 * Values per sample of a training configuration's ODE state, and its image
 * shape when it is an image (the data's sizes when the encoder cannot be read:
 * taskIssues says why).
 */
export function modelStateSize(
  config: PipelineConfig,
  sizes: DataSizes,
): { stateDim: number; imageShape?: readonly number[] } {
  const state = modelState(config, sizes);
  if ("issues" in state) return { stateDim: sizes.dataDim };
  return { stateDim: state.stateDim, ...(state.imageShape ? { imageShape: state.imageShape } : {}) };
}
