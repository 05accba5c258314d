/**
 * Einsum equations: parsing (explicit `->` or implicit output, `...` for
 * broadcast dims), the shape rule, and writing an equation back, shared by
 * shape inference and Einsum's VJP rule.
 *
 * Ellipsis dims get labels `…0`, `…1`, … (right-aligned, as numpy
 * broadcasts them); {@linkcode formatEinsum} gives them unused letters.
 *
 * @module
 */
import type { Dim, Shape } from "./graph.ts";

/** An equation with every operand's labels spelled out, one label per dim. */
export interface EinsumSpec {
  readonly inputs: readonly (readonly string[])[];
  readonly output: readonly string[];
}

const LETTER = /^[a-zA-Z]$/;

/** Labels of one term of `rank` dims, its `...` expanded into the last of `ellipsisRank` ellipsis labels. */
function term(text: string, rank: number | undefined, ellipsisRank: number): string[] {
  const parts = text.split("...");
  if (parts.length > 2) throw new RangeError(`"${text}" has more than one ellipsis`);
  for (const ch of parts.join("")) {
    if (!LETTER.test(ch)) throw new RangeError(`"${ch}" in "${text}" is not a letter`);
  }
  const head = [...parts[0]!], tail = parts.length === 2 ? [...parts[1]!] : [];
  if (parts.length === 1) {
    if (rank !== undefined && head.length !== rank) {
      throw new RangeError(`term "${text}" has ${head.length} labels for an operand of rank ${rank}`);
    }
    return head;
  }
  const n = rank === undefined ? ellipsisRank : rank - head.length - tail.length;
  if (n < 0) throw new RangeError(`term "${text}" has more labels than its operand's rank ${rank}`);
  const dots = Array.from({ length: n }, (_, i) => `…${ellipsisRank - n + i}`);
  return [...head, ...dots, ...tail];
}

/** Parses `equation` for operands of the given ranks. Throws RangeError on a malformed equation. */
export function parseEinsum(equation: string, ranks: readonly number[]): EinsumSpec {
  const eq = equation.replaceAll(" ", "");
  const [lhs, rhs, extra] = eq.split("->");
  if (extra !== undefined) throw new RangeError(`equation "${equation}" has more than one "->"`);
  const terms = lhs!.split(",");
  if (terms.length !== ranks.length) {
    throw new RangeError(`equation "${equation}" has ${terms.length} operand terms for ${ranks.length} inputs`);
  }
  const explicit = (t: string) => t.replace("...", "").length;
  const ellipsisRank = Math.max(0, ...terms.map((t, i) => (t.includes("...") ? ranks[i]! - explicit(t) : 0)));
  // As ONNX Runtime takes them: every "..." of one rank (it refuses others, and a rank-0 one beside a wider one
  // crashed it), and an explicit output keeps the "..." its inputs have.
  terms.forEach((t, i) => {
    if (t.includes("...") && ranks[i]! - explicit(t) !== ellipsisRank && ranks[i]! - explicit(t) >= 0) {
      throw new RangeError(
        `equation "${equation}": the "..." of operand ${i} stands for ${ranks[i]! - explicit(t)} dims, ` +
          `another operand's for ${ellipsisRank}; ONNX Runtime needs them equal`,
      );
    }
  });
  if (rhs !== undefined && ellipsisRank > 0 && !rhs.includes("...")) {
    throw new RangeError(`equation "${equation}": its output must keep the "..." its inputs have`);
  }
  const inputs = terms.map((t, i) => term(t, ranks[i], ellipsisRank));
  let output: string[];
  if (rhs !== undefined) output = term(rhs, undefined, ellipsisRank);
  else {
    // Implicit output: the ellipsis dims, then the letters used exactly once, in alphabetical order.
    const counts = new Map<string, number>();
    for (const l of inputs.flat()) counts.set(l, (counts.get(l) ?? 0) + 1);
    const dots = Array.from({ length: ellipsisRank }, (_, i) => `…${i}`);
    const once = [...counts].filter(([l, n]) => n === 1 && LETTER.test(l)).map(([l]) => l).sort();
    output = [...dots, ...once];
  }
  const known = new Set(inputs.flat());
  for (const l of output) if (!known.has(l)) throw new RangeError(`output label "${l}" appears in no input`);
  if (new Set(output).size !== output.length) throw new RangeError(`equation "${equation}" repeats an output label`);
  return { inputs, output };
}

/** The size of every label, checked across operands (ellipsis dims broadcast, letters must agree). */
export function einsumSizes(spec: EinsumSpec, shapes: readonly Shape[]): Map<string, Dim> {
  const sizes = new Map<string, Dim>();
  spec.inputs.forEach((labels, i) => {
    labels.forEach((l, k) => {
      const d = shapes[i]![k]!;
      const prev = sizes.get(l);
      const dots = l.startsWith("…");
      if (prev === undefined || (dots && prev === 1)) sizes.set(l, d);
      else if (d === prev || (dots && d === 1)) return;
      else if (typeof d === "number" && typeof prev === "number") {
        throw new RangeError(`label "${dots ? "..." : l}" has sizes ${prev} and ${d} (operand ${i})`);
      } else if (typeof d === "number") sizes.set(l, d);
    });
  });
  return sizes;
}

/** Writes an equation back with explicit output, ellipsis labels replaced by letters no other label uses. */
export function formatEinsum(inputs: readonly (readonly string[])[], output: readonly string[]): string {
  const used = new Set([...inputs.flat(), ...output].filter((l) => LETTER.test(l)));
  const free = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"].filter((l) => !used.has(l));
  const names = new Map<string, string>();
  const letter = (l: string) => {
    if (LETTER.test(l)) return l;
    if (!names.has(l)) {
      const f = free.shift();
      if (f === undefined) throw new RangeError("einsum equation needs more than 52 labels");
      names.set(l, f);
    }
    return names.get(l)!;
  };
  return `${inputs.map((t) => t.map(letter).join("")).join(",")}->${output.map(letter).join("")}`;
}
