/**
 * Files stay small enough to read in one sitting: a library or benchmark file
 * over {@linkcode LIMIT} lines says at its top why it is one file
 * ("Why one file: …" in its module doc). Tests are exempt.
 *
 * @module
 */
import { assertEquals } from "../src/util/testing.ts";

/** Lines a file may have without saying why (the brief's "about 300"). */
const LIMIT = 330;

function sourceFiles(dir: URL, prefix: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.name.startsWith(".")) continue;
    const path = `${prefix}/${entry.name}`;
    if (entry.isDirectory) out.push(...sourceFiles(new URL(`${entry.name}/`, dir), path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) out.push(path);
  }
  return out;
}

/** The files over the limit whose module doc gives no reason. */
export function unexplainedLongFiles(files: readonly [string, string][], limit = LIMIT): string[] {
  return files
    .filter(([, text]) => text.split("\n").length > limit)
    .filter(([, text]) => {
      const doc = text.slice(0, text.indexOf("@module") + 1);
      return !/\* Why one file: \S/.test(doc);
    })
    .map(([path, text]) => `${path} (${text.split("\n").length} lines)`);
}

Deno.test(`every library and benchmark file over ${LIMIT} lines says why it is one file`, () => {
  const root = new URL("../", import.meta.url);
  const files = [...sourceFiles(new URL("src/", root), "src"), ...sourceFiles(new URL("bench/", root), "bench")]
    .map((p): [string, string] => [p, Deno.readTextFileSync(new URL(p, root))]);
  assertEquals(unexplainedLongFiles(files), []);
});

Deno.test("unexplainedLongFiles() flags a long file without a reason, and only that one", () => {
  const long = "x\n".repeat(20);
  const files: [string, string][] = [
    ["a.ts", `/**\n * A.\n *\n * @module\n */\n${long}`],
    ["b.ts", `/**\n * B.\n *\n * Why one file: one table.\n *\n * @module\n */\n${long}`],
    ["c.ts", "/** C. @module */\nshort"],
  ];
  assertEquals(unexplainedLongFiles(files, 10), ["a.ts (26 lines)"]);
});
