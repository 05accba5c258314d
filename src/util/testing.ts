/**
 * Test assertions: float comparisons with relative error (naming the worst
 * index and both values when they fail), plus thin wrappers over
 * node:assert/strict, since JSR's @std/assert is not reachable here.
 *
 * @module
 */
import nodeAssert, { AssertionError } from "node:assert/strict";

/** Throws unless `condition` is truthy. */
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError({ message });
}

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Awaits `fn`, expecting a rejection of class `ErrorClass` (if given) whose message matches `pattern`; returns the error. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  ErrorClass?: new (...args: never[]) => Error,
  pattern?: RegExp | string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    checkError(e, ErrorClass, pattern);
    return e as Error;
  }
  throw new AssertionError({ message: "Expected the promise to reject" });
}

/** Calls `fn`, expecting it to throw like {@linkcode assertRejects}; returns the error. */
export function assertThrows(
  fn: () => unknown,
  ErrorClass?: new (...args: never[]) => Error,
  pattern?: RegExp | string,
): Error {
  try {
    fn();
  } catch (e) {
    checkError(e, ErrorClass, pattern);
    return e as Error;
  }
  throw new AssertionError({ message: "Expected the function to throw" });
}

function checkError(e: unknown, ErrorClass?: new (...args: never[]) => Error, pattern?: RegExp | string): void {
  if (ErrorClass && !(e instanceof ErrorClass)) {
    throw new AssertionError({
      message: `Expected ${ErrorClass.name}, got ${e instanceof Error ? e.name : typeof e}: ${e}`,
    });
  }
  const msg = e instanceof Error ? e.message : String(e);
  if (pattern !== undefined && !(typeof pattern === "string" ? msg.includes(pattern) : pattern.test(msg))) {
    throw new AssertionError({ message: `Error message "${msg}" does not match ${pattern}` });
  }
}

/** max_i |a_i − b_i| / max(|b|_∞, floor): one relative error for a whole vector. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-300): number {
  if (actual.length !== expected.length) {
    throw new RangeError(`Length mismatch: ${actual.length} vs ${expected.length}`);
  }
  let diff = 0, scale = floor;
  for (let i = 0; i < actual.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}

/** Throws unless `relativeError(actual, expected) <= tol`, naming the worst index. */
export function assertClose(
  actual: ArrayLike<number> | number,
  expected: ArrayLike<number> | number,
  tol: number,
  what = "value",
): void {
  const a = typeof actual === "number" ? [actual] : actual;
  const e = typeof expected === "number" ? [expected] : expected;
  // Two empty arrays would pass without comparing anything: a test that asserts nothing.
  if (e.length === 0) throw new AssertionError({ message: `${what}: nothing to compare (empty arrays)` });
  const err = relativeError(a, e);
  if (!(err <= tol)) {
    // A NaN difference is the worst of all, so the message points at it.
    const gap = (i: number) => {
      const d = Math.abs(a[i]! - e[i]!);
      return Number.isNaN(d) ? Infinity : d;
    };
    let worst = 0;
    for (let i = 1; i < a.length; i++) if (gap(i) > gap(worst)) worst = i;
    throw new AssertionError({
      message: `${what}: relative error ${err.toExponential(3)} exceeds ${tol.toExponential(1)} ` +
        `(worst at [${worst}]: got ${a[worst]}, expected ${e[worst]})`,
      actual: a[worst],
      expected: e[worst],
    });
  }
}

/**
 * Pipeline results without what differs between two runs of the same
 * configuration: timings (any `seconds` or `…Seconds` key), dates, format
 * markers, the checkout's git state (other work may change it meanwhile),
 * cell statuses (done, resumed or skipped) and any `also` keys, at every depth.
 */
export function comparableResults(results: unknown, also: readonly string[] = []): unknown {
  const drop = new Set(["seconds", "date", "format", "gitCommit", "gitDirty", "status", ...also]);
  const keep = (k: string) => !drop.has(k) && !k.endsWith("Seconds");
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (typeof v !== "object" || v === null) return v;
    return Object.fromEntries(Object.entries(v).filter(([k]) => keep(k)).map(([k, x]) => [k, strip(x)]));
  };
  return strip(results);
}

/** Every file under `dir` (at any depth) with its text, for comparing a folder before and after. */
export async function snapshotFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else out[p] = await Deno.readTextFile(p);
    }
  };
  await walk(dir);
  return out;
}
