/**
 * Named sets of graphs on disk: `<root>/<name>/<key>.onnx`.
 *
 * A trained model is usually several graphs (encoder, dynamics, decoder, …);
 * a model set keeps them together under one name so that a pipeline stage can
 * save them and a later one, or another process, load them back. Files are
 * plain ONNX models, readable by any ONNX tool.
 *
 * Writing is atomic per file and all-or-nothing up to the last step: every
 * graph is encoded and written to a temporary file first, and only then are the
 * temporaries renamed over their targets. A failure before the renames (a graph
 * that cannot be encoded, a full disk) leaves the files already there
 * untouched and removes the temporaries. A rename that fails (rare within one
 * folder: a target that is a folder, permissions) stops there: the error names
 * the keys already replaced, the other files are unchanged and no temporary
 * is left behind.
 *
 * @module
 */
import type { Graph } from "../onnx/graph.ts";
import { encodeModel, readModel } from "../onnx/proto.ts";

/** Options for {@linkcode writeModels} and {@linkcode readModels}. */
export interface ModelStoreOptions {
  /** Folder holding the model sets. @default "models" */
  root?: string;
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const EXTENSION = ".onnx";

/**
 * Checks a model-set name or graph key: letters, digits, `.`, `_` and `-`,
 * not starting with `.`, so it is one path component and never `..`.
 */
function checkName(what: string, value: string): void {
  if (typeof value !== "string" || !NAME.test(value)) {
    throw new RangeError(
      `${what} ${JSON.stringify(value)} is not a valid file name: use letters, digits, ".", "_" and "-", ` +
        `not starting with "." (no path separators)`,
    );
  }
}

function setDir(name: string, root: string): string {
  return `${root.replace(/\/+$/, "")}/${name}`;
}

function checkOptions(options: ModelStoreOptions): string {
  for (const key of Object.keys(options)) {
    if (key !== "root") throw new RangeError(`Unknown model store option "${key}": the only option is root`);
  }
  const root = options.root ?? "models";
  if (typeof root !== "string" || root === "") {
    throw new RangeError(`Model store root must be a non-empty path, got ${JSON.stringify(root)}`);
  }
  return root;
}

/**
 * Writes each graph of `graphs` to `<root>/<name>/<key>.onnx`, creating the
 * folders as needed. Files of keys not in `graphs` are left alone.
 *
 * @example Save two graphs and load them back
 * ```ts
 * import { GraphBuilder } from "../onnx/builder.ts";
 * import { readModels, writeModels } from "./model_store.ts";
 * const b = new GraphBuilder("neg");
 * b.output(b.op1("Neg", [b.input("x", "float32", ["batch"])]), "y");
 * const root = await Deno.makeTempDir();
 * await writeModels("demo", { encoder: b.build(), decoder: b.build() }, { root });
 * const loaded = await readModels("demo", { root });
 * if (Object.keys(loaded).join() !== "decoder,encoder") throw new Error("keys lost");
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function writeModels(
  name: string,
  graphs: Readonly<Record<string, Graph>>,
  options: ModelStoreOptions = {},
): Promise<void> {
  const root = checkOptions(options);
  checkName("Model set name", name);
  const keys = Object.keys(graphs);
  if (keys.length === 0) throw new RangeError(`Model set "${name}" needs at least one graph, got none`);
  for (const key of keys) checkName(`Graph key in model set "${name}"`, key);
  // Encode everything before touching the disk: a graph that cannot be encoded writes nothing.
  const encoded = keys.map((key) => {
    try {
      return encodeModel(graphs[key]!);
    } catch (e) {
      throw new TypeError(`Cannot encode graph "${key}" of model set "${name}": ${(e as Error).message}`, {
        cause: e,
      });
    }
  });
  const dir = setDir(name, root);
  await Deno.mkdir(dir, { recursive: true });
  const tag = crypto.randomUUID();
  const temps: string[] = [];
  try {
    for (const [i, key] of keys.entries()) {
      const tmp = `${dir}/${key}${EXTENSION}.tmp-${tag}`;
      temps.push(tmp);
      await Deno.writeFile(tmp, encoded[i]!);
    }
  } catch (e) {
    await Promise.all(temps.map((t) => Deno.remove(t).catch(() => {})));
    throw new Error(`Cannot write model set "${name}" to ${dir}: ${(e as Error).message}`, { cause: e });
  }
  for (const [i, key] of keys.entries()) {
    try {
      await Deno.rename(temps[i]!, `${dir}/${key}${EXTENSION}`);
    } catch (e) {
      await Promise.all(temps.slice(i).map((t) => Deno.remove(t).catch(() => {})));
      const replaced = keys.slice(0, i).map((k) => `"${k}"`).join(", ") || "none";
      throw new Error(
        `Cannot write graph "${key}" of model set "${name}" to ${dir}/${key}${EXTENSION}: ${(e as Error).message}. ` +
          `Already replaced: ${replaced}; the others are unchanged`,
        { cause: e },
      );
    }
  }
}

/**
 * Reads every `<key>.onnx` of `<root>/<name>/`, keyed and sorted by key.
 * Each file is decoded and checked like {@linkcode readModel}; errors name the file.
 *
 * @throws {Deno.errors.NotFound} when the set does not exist or holds no `.onnx` files
 */
export async function readModels(name: string, options: ModelStoreOptions = {}): Promise<Record<string, Graph>> {
  const root = checkOptions(options);
  checkName("Model set name", name);
  const dir = setDir(name, root);
  const keys: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(EXTENSION)) keys.push(entry.name.slice(0, -EXTENSION.length));
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Model set "${name}" not found: no folder ${dir}`, { cause: e });
    }
    throw e;
  }
  if (keys.length === 0) throw new Deno.errors.NotFound(`Model set "${name}" has no .onnx files in ${dir}`);
  keys.sort();
  const out: Record<string, Graph> = {};
  for (const key of keys) out[key] = await readModel(`${dir}/${key}${EXTENSION}`);
  return out;
}
