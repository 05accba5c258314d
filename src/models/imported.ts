/**
 * Dynamics from an exported ONNX model — what torch's `torch.onnx.export`
 * writes by default (dynamo exporter, weights in `<model>.onnx.data`) or the
 * TorchScript exporter, opsets 17 to 23 — made trainable.
 *
 * {@linkcode importDynamics} reads the file (external weights included),
 * renames its time and state inputs and its output to the contract's `t`,
 * `z`, `dz` (dynamics.ts), lifts its float weights into parameters
 * (lift.ts), adapts a time input of shape `[1]` or adds one to autonomous
 * dynamics (asDynamics), and refuses a model that would train nothing.
 *
 * @module
 */
import { pruneGraph } from "../autodiff/vjp.ts";
import { GraphBuilder } from "../onnx/builder.ts";
import { GraphError } from "../onnx/errors.ts";
import { formatShape, type Graph, renameValues } from "../onnx/graph.ts";
import { readModel, readModelSync } from "../onnx/proto.ts";
import { checkKeys } from "./_layers.ts";
import { asDynamics, DYNAMICS_NAMES, type DynamicsModel } from "./dynamics.ts";
import { liftInitializers } from "./lift.ts";

/** Options of {@linkcode importDynamics}. */
export interface ImportOptions {
  /**
   * `"input"`: f depends on time through a graph input (`names.time`, shape
   * `[]` or `[1]`). `"autonomous"`: the graph has no time input; say so, it
   * is never assumed. @default "input"
   */
  readonly time?: "input" | "autonomous";
  /**
   * The graph's names for the time and state inputs and the derivative
   * output. @default time "t"; state "z", or the one input that is neither
   * time nor a constant; derivative "dz", or the graph's only output
   */
  readonly names?: { readonly time?: string; readonly state?: string; readonly derivative?: string };
  /** Weights (float initializers) to keep constant: names, or a test on the name. @default none */
  readonly freeze?: readonly string[] | ((name: string) => boolean);
  /** Inputs that are per-sample constants (see `DynamicsOptions.constants`). @default [] */
  readonly constants?: readonly string[];
  /** Float type to convert the model to (`"float64"` for tight gradient checks). @default the model's own */
  readonly dtype?: "float32" | "float64";
  /**
   * Refuse a model left with no trainable parameter. Set false to import a
   * model only to solve with it. @default true
   */
  readonly requireParams?: boolean;
}

/** An imported dynamics model: the dynamics, initial θ, and which weights stayed constant. */
export interface ImportedDynamics extends DynamicsModel {
  /** The file (or graph) it came from, as errors name it. */
  readonly source: string;
  /** Weights kept constant because `freeze` named them. */
  readonly frozen: readonly string[];
  /** Float initializers kept constant because no gradient reaches them from dz (thresholds, shapes). */
  readonly noGradient: readonly string[];
}

const IMPORT_KEYS = ["time", "names", "freeze", "constants", "dtype", "requireParams"];
const NAME_KEYS = ["time", "state", "derivative"];

/**
 * Imports a dynamics function f(t, z) from an `.onnx` file (or a decoded
 * graph) with its weights as trainable parameters. Every float initializer
 * becomes a parameter unless frozen, or unless no gradient reaches it from
 * the output; frozen ones stay initializers.
 *
 * @throws {GraphError} naming the file when a name in `names` or `constants`
 * is not an input or output, there is no time input and `time` is not
 * `"autonomous"`, the state or output cannot be told apart, an input is
 * neither time, state nor constant, or no trainable parameter is left
 * (unless `requireParams` is false). {@linkcode readModel}'s errors for the
 * file and its external data.
 *
 * @example A torch export (dynamo exporter, weights in a .onnx.data file)
 * ```ts
 * import { importDynamics } from "../../mod.ts";
 * const path = new URL("../../tests/fixtures/torch_dynamics/dynamo_time.onnx", import.meta.url).pathname;
 * const { dynamics, init } = await importDynamics(path, { time: "input" });
 * if (dynamics.params.length !== 6 || !init["l1.weight"]) throw new Error("weights not lifted");
 * if (dynamics.graph.inputs[0]!.shape.length !== 0) throw new Error("t should be a scalar");
 * ```
 */
export async function importDynamics(source: string | Graph, options: ImportOptions = {}): Promise<ImportedDynamics> {
  checkImportOptions(options);
  return importGraph(typeof source === "string" ? await readModel(source) : source, source, options);
}

/**
 * {@linkcode importDynamics} without awaiting: the file and its external
 * data are read synchronously ({@linkcode readModelSync}), for checks that
 * run before any work starts (the pipeline's `model.dynamics: { kind: onnx }`).
 *
 * @throws as {@linkcode importDynamics} does.
 *
 * @example Import and freeze the first layer
 * ```ts
 * import { importDynamicsSync } from "../../mod.ts";
 * const path = new URL("../../tests/fixtures/torch_dynamics/dynamo_time.onnx", import.meta.url).pathname;
 * const { dynamics, frozen } = importDynamicsSync(path, { freeze: ["l1.weight", "l1.bias"] });
 * if (frozen.length !== 2 || dynamics.params.length !== 4) throw new Error("freeze not applied");
 * ```
 */
export function importDynamicsSync(source: string | Graph, options: ImportOptions = {}): ImportedDynamics {
  checkImportOptions(options);
  return importGraph(typeof source === "string" ? readModelSync(source) : source, source, options);
}

function checkImportOptions(options: ImportOptions): void {
  checkKeys(options, IMPORT_KEYS, "importDynamics");
  checkKeys(options.names ?? {}, NAME_KEYS, "importDynamics names");
  const { time = "input" } = options;
  if (time !== "input" && time !== "autonomous") {
    throw new RangeError(`Option time must be "input" or "autonomous", got ${JSON.stringify(time)}`);
  }
}

/** The import of a decoded `graph` that came from `source` (a path, for errors, or the graph itself). */
function importGraph(graph: Graph, source: string | Graph, options: ImportOptions): ImportedDynamics {
  const { time = "input", constants = [], requireParams = true } = options;
  const where = typeof source === "string" ? source : `graph ${graph.name}`;
  const file = typeof source === "string" ? { file: source } : {};
  try {
    const named = toContractNames(graph, time, constants, options.names ?? {});
    const lifted = liftInitializers(named, {
      ...(options.freeze !== undefined ? { freeze: options.freeze } : {}),
      ...(options.dtype !== undefined ? { dtype: options.dtype } : {}),
    });
    const dynamics = asDynamics(lifted.graph, { constants, time });
    if (requireParams && dynamics.params.length === 0) {
      const floats = [...lifted.frozen, ...lifted.noGradient];
      const why = floats.length === 0
        ? "it has no float initializers"
        : lifted.noGradient.length === 0
        ? `every weight is frozen (${lifted.frozen.join(", ")})`
        : `no gradient reaches dz from its float initializers (${lifted.noGradient.join(", ")})${
          lifted.frozen.length ? ` and the others are frozen (${lifted.frozen.join(", ")})` : ""
        }`;
      throw new GraphError(
        `The model has no trainable parameter: ${why}, so training would change nothing. Unfreeze a weight (or export one), or pass { requireParams: false } to import it only to solve with it`,
        { graph: graph.name },
      );
    }
    return { dynamics, init: lifted.init, source: where, frozen: lifted.frozen, noGradient: lifted.noGradient };
  } catch (e) {
    if (e instanceof GraphError && !e.place.file && typeof source === "string") {
      const prefix = new GraphError("", e.place).message;
      const message = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
      throw new GraphError(message, { ...e.place, ...file });
    }
    throw e;
  }
}

/**
 * The graph with its time input, state input and derivative output under the
 * contract's names, keeping only that output (and what it needs).
 */
function toContractNames(
  graph: Graph,
  time: "input" | "autonomous",
  constants: readonly string[],
  names: NonNullable<ImportOptions["names"]>,
): Graph {
  const place = { graph: graph.name };
  const inputs = graph.inputs.map((v) => v.name);
  const listed = graph.inputs.map((v) => `${v.name} ${formatShape(v.shape)}`).join(", ") || "none";
  const isInput = (n: string) => inputs.includes(n);
  for (const c of constants) {
    if (!isInput(c)) {
      throw new GraphError(`Constant "${c}" is not an input of the graph; its inputs are ${listed}`, place);
    }
  }
  let t: string | undefined;
  if (time === "input") {
    t = names.time ?? DYNAMICS_NAMES.time;
    if (!isInput(t)) {
      throw new GraphError(
        names.time !== undefined
          ? `names.time "${t}" is not an input of the graph; its inputs are ${listed}`
          : `The graph has no time input "t", so which input is the time is ambiguous; its inputs are ${listed}. Name it with { names: { time: "…" } }, or pass { time: "autonomous" } if f does not depend on time`,
        place,
      );
    }
  } else if (names.time !== undefined) {
    throw new GraphError(`names.time "${names.time}" was given for dynamics declared autonomous`, place);
  } else if (isInput(DYNAMICS_NAMES.time)) {
    const v = graph.inputs.find((i) => i.name === DYNAMICS_NAMES.time)!;
    throw new GraphError(
      `The graph has a time input "t" ${
        formatShape(v.shape)
      } but the dynamics were declared autonomous; drop { time: "autonomous" } to use it`,
      { ...place, valueName: DYNAMICS_NAMES.time },
    );
  }
  let z = names.state ?? DYNAMICS_NAMES.state;
  if (!isInput(z)) {
    const others = inputs.filter((n) => n !== t && !constants.includes(n));
    if (names.state !== undefined || others.length !== 1) {
      throw new GraphError(
        names.state !== undefined
          ? `names.state "${z}" is not an input of the graph; its inputs are ${listed}`
          : `The graph has no state input "z" and ${
            others.length === 0 ? "no other input" : `several candidates (${others.join(", ")})`
          }; its inputs are ${listed}. Name the state with { names: { state: "…" } }`,
        place,
      );
    }
    z = others[0]!;
  }
  const extra = inputs.filter((n) => n !== t && n !== z && !constants.includes(n));
  if (extra.length > 0) {
    throw new GraphError(
      `Input${extra.length > 1 ? "s" : ""} ${extra.map((n) => `"${n}"`).join(", ")} ${
        extra.length > 1 ? "are" : "is"
      } neither the time, the state nor a named constant; list per-sample inputs in constants, or export weights as initializers`,
      place,
    );
  }
  const outputs = graph.outputs.map((o) => o.name);
  let dz = names.derivative ?? DYNAMICS_NAMES.derivative;
  if (!outputs.includes(dz)) {
    if (names.derivative !== undefined || outputs.length !== 1) {
      throw new GraphError(
        `${
          names.derivative !== undefined ? `names.derivative "${dz}" is not an output` : `The graph has no output "dz"`
        }; its outputs are ${outputs.join(", ")}. Name the derivative with { names: { derivative: "…" } }`,
        place,
      );
    }
    dz = outputs[0]!;
  }
  const renames = new Map<string, string>([[z, DYNAMICS_NAMES.state], [dz, DYNAMICS_NAMES.derivative]]);
  if (t !== undefined) renames.set(t, DYNAMICS_NAMES.time);
  const taken = new Set([...inputs, ...graph.initializers.keys(), ...graph.nodes.flatMap((n) => n.outputs)]);
  for (const [from, to] of renames) {
    if (from !== to && taken.has(to)) {
      throw new GraphError(
        `Cannot rename "${from}" to "${to}": the graph already has a value "${to}" of another role`,
        { ...place, valueName: to },
      );
    }
  }
  const renamed = renameValues({ ...graph, outputs: graph.outputs.filter((o) => o.name === dz) }, renames);
  return GraphBuilder.from(pruneGraph(renamed)).build();
}
