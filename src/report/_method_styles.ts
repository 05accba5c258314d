/**
 * Each method's fixed style — a colour of the Okabe–Ito palette (told apart
 * with every common colour-vision deficiency), a marker shape and a stroke
 * dash — and the Vega-Lite channels that draw it, so methods whose results
 * coincide still show as distinct marks drawn over each other rather than as
 * one line. Every chart takes its method styles from here.
 *
 * @module
 */

/** How one method is drawn. */
export interface MethodStyle {
  /** Line and marker colour. */
  readonly colour: string;
  /** Vega marker shape. */
  readonly shape: string;
  /** Stroke dash of its lines: dash and gap lengths in pixels (`[1, 0]` is solid). */
  readonly dash: readonly number[];
}

/** Okabe & Ito (2008), "Color Universal Design": the palette's colours by name. */
export const OKABE_ITO = {
  blue: "#0072B2",
  orange: "#E69F00",
  green: "#009E73",
  vermillion: "#D55E00",
  purple: "#CC79A7",
  sky: "#56B4E9",
  black: "#000000",
  yellow: "#F0E442",
} as const;

/** Fixed styles of the well-known methods, in legend order. */
const METHOD_STYLES: ReadonlyArray<readonly [string, MethodStyle]> = [
  ["direct", { colour: OKABE_ITO.blue, shape: "circle", dash: [1, 0] }],
  ["adjoint", { colour: OKABE_ITO.orange, shape: "square", dash: [6, 3] }],
  ["seminorm", { colour: OKABE_ITO.green, shape: "triangle-up", dash: [2, 2] }],
  ["gq", { colour: OKABE_ITO.vermillion, shape: "diamond", dash: [8, 3, 2, 3] }],
  ["gq-step", { colour: OKABE_ITO.purple, shape: "cross", dash: [4, 2, 1, 2] }],
  ["sde-direct", { colour: OKABE_ITO.sky, shape: "triangle-down", dash: [10, 4] }],
  ["sde-adjoint", { colour: OKABE_ITO.black, shape: "triangle-right", dash: [1, 3] }],
];
// Other methods take the palette's colours the known methods present leave free (yellow, faint on white, last),
// and shapes and dashes no known method has, from lists of co-prime lengths so their combinations repeat late.
const SPARE_COLOURS = [
  OKABE_ITO.sky,
  OKABE_ITO.purple,
  OKABE_ITO.green,
  OKABE_ITO.orange,
  OKABE_ITO.blue,
  OKABE_ITO.black,
  OKABE_ITO.vermillion,
  "#999999",
  OKABE_ITO.yellow,
];
const SPARE_SHAPES = ["triangle-left", "wedge", "arrow", "triangle", "stroke"];
const SPARE_DASHES = [[3, 3], [12, 4], [1, 2], [6, 2, 2, 2], [9, 3, 3, 3], [4, 4, 1, 4], [2, 6]];

/**
 * The style of each method present in `methods`: known methods first in the
 * order direct, adjoint, seminorm, gq, gq-step, sde-direct, sde-adjoint,
 * then the others by name with spare styles.
 *
 * @example Styles stay fixed whatever else is present
 * ```ts
 * import { methodStyles } from "./specs.ts";
 * const s = methodStyles(["gq", "mine", "adjoint"]);
 * if (s.map(([m]) => m).join() !== "adjoint,gq,mine") throw new Error();
 * if (s[1]![1].shape !== "diamond" || s[1]![1].colour !== "#D55E00") throw new Error("gq changed style");
 * ```
 */
export function methodStyles(methods: Iterable<string>): [string, MethodStyle][] {
  const present = new Set(methods);
  const out: [string, MethodStyle][] = [];
  for (const [m, style] of METHOD_STYLES) {
    if (present.delete(m)) out.push([m, style]);
  }
  const taken = new Set(out.map(([, style]) => style.colour));
  const free = SPARE_COLOURS.filter((c) => !taken.has(c));
  [...present].sort().forEach((m, i) => {
    out.push([m, {
      colour: free[i % free.length]!,
      shape: SPARE_SHAPES[i % SPARE_SHAPES.length]!,
      dash: SPARE_DASHES[i % SPARE_DASHES.length]!,
    }]);
  });
  return out;
}

/**
 * The colour scale for the methods present in `methods` (see
 * {@linkcode methodStyles} for the order).
 *
 * @example
 * ```ts
 * import { methodColourScale } from "./specs.ts";
 * const s = methodColourScale(["gq", "mine", "adjoint"]);
 * if (s.domain.join() !== "adjoint,gq,mine") throw new Error(s.domain.join());
 * if (s.range[1] !== "#D55E00") throw new Error("gq is not vermillion");
 * ```
 */
export function methodColourScale(methods: Iterable<string>): { domain: string[]; range: string[] } {
  const styles = methodStyles(methods);
  return { domain: styles.map(([m]) => m), range: styles.map(([, s]) => s.colour) };
}

/**
 * The method channels: colour, marker shape and stroke dash of the method
 * field with {@linkcode methodStyles}, one legend for all three.
 */
export function methodChannels(records: readonly { method: string }[]) {
  const styles = methodStyles(records.map((r) => r.method));
  const domain = styles.map(([m]) => m);
  const channel = <T>(range: T[]) => ({
    field: "method",
    type: "nominal" as const,
    title: "method",
    scale: { domain, range },
    // Full-strength symbols, whatever faint band a layer draws under the markers.
    legend: { symbolOpacity: 1, symbolStrokeWidth: 1.5 },
  });
  return {
    color: channel(styles.map(([, s]) => s.colour)),
    shape: channel(styles.map(([, s]) => s.shape)),
    strokeDash: channel(styles.map(([, s]) => [...s.dash])),
  };
}

/** The colour channel of the method field alone (charts that tell methods apart by position, not by line). */
export function methodColour(records: readonly { method: string }[]) {
  return methodChannels(records).color;
}
