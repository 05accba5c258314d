/**
 * Errors raised while building, decoding, transforming or running graphs.
 *
 * Each carries the place at fault (node, op, input or file) as fields, so
 * callers can react to them and messages can name them.
 *
 * @module
 */

/** Where in a graph something went wrong. */
export interface GraphErrorPlace {
  /** Graph name. */
  graph?: string;
  /** Name of the node at fault. */
  nodeName?: string;
  /** Op type of the node at fault. */
  opType?: string;
  /** Name of the value (input, output, initializer) at fault. */
  valueName?: string;
  /** File the graph came from. */
  file?: string;
}

/**
 * A graph is malformed: a bad shape or dtype, a missing input, an op
 * quadjoint has no rule for. The message names the node and op.
 */
export class GraphError extends TypeError {
  /** Where the error is. */
  readonly place: GraphErrorPlace;
  /** Makes the error; the place is prefixed to the message. */
  constructor(message: string, place: GraphErrorPlace = {}) {
    super(`${describePlace(place)}${message}`);
    this.name = "GraphError";
    this.place = place;
  }
}

/** An `.onnx` file or byte string that cannot be decoded. */
export class OnnxDecodeError extends SyntaxError {
  /** File or source that failed. */
  readonly source: string;
  /** Makes the error for `source` (a file path or a label). */
  constructor(message: string, source: string, options?: ErrorOptions) {
    super(`Cannot decode ONNX model ${source}: ${message}`, options);
    this.name = "OnnxDecodeError";
    this.source = source;
  }
}

function describePlace(p: GraphErrorPlace): string {
  const parts: string[] = [];
  if (p.file) parts.push(`file ${p.file}`);
  if (p.graph) parts.push(`graph ${p.graph}`);
  if (p.nodeName !== undefined || p.opType) {
    parts.push(`node ${p.nodeName ?? "?"}${p.opType ? ` (${p.opType})` : ""}`);
  }
  if (p.valueName) parts.push(`value ${p.valueName}`);
  return parts.length ? `${parts.join(", ")}: ` : "";
}
