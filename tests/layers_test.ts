/**
 * The folders of `src/` are layers, and imports run one way: down.
 *
 * Order, lowest first (a folder that does not exist yet is simply skipped):
 * util → onnx → runtime → autodiff → models → solvers → gradients → sde → data
 * → train → results → report → pipeline. `bench/`, `tests/` and `mod.ts` sit
 * above every layer.
 *
 * Rules, checked on the real import/export-from statements of every `.ts` file
 * under `src/`, `bench/` and `tests/`, and of `mod.ts` (top-level statements
 * only: doc-comment `@example` imports are test code and are not read):
 *
 * 1. Order. A library file in `src/<layer>/` (subfolders included) imports
 *    only its own layer and lower ones, never a higher layer, `bench/`,
 *    `tests/` or `mod.ts`. Test files (`*_test.ts`) and doc-comment examples
 *    are exempt: they exercise a layer with the ones above it (the onnx tests
 *    run their graphs in ONNX Runtime, the VJP tests differentiate models).
 *    Helpers that only tests use but that are not `*_test.ts` files
 *    (`_test_problems.ts`, `gradcheck.ts`) are library files here.
 * 2. Private files. A file whose name starts with `_` belongs to its folder —
 *    `src/<layer>/` with its subfolders, `bench/`, or `tests/` — and only that
 *    folder's files and tests import it. There is no exception for tests: a
 *    helper that other folders need gets a name without `_` in the lowest
 *    layer it can live in (`src/util/testing.ts`, `src/autodiff/gradcheck.ts`),
 *    and rule 1 then places it.
 * 3. Placement. Every folder in `src/` is in the list above; a new folder is
 *    added to {@linkcode LAYERS} (and to CONTRIBUTING.md) at its place.
 */
import { readdirSync, readFileSync } from "node:fs";
import { posix } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../src/util/testing.ts";

/** The layers of `src/`, lowest first. */
export const LAYERS = [
  "util",
  "onnx",
  "runtime",
  "autodiff",
  "models",
  "solvers",
  "gradients",
  "sde",
  "data",
  "train",
  "results",
  "report",
  "pipeline",
] as const;

/**
 * The specifiers of a source's top-level import and export-from statements:
 * one-line statements starting a line with `import`/`export`, and multi-line
 * ones from `import {` / `export {` to the line `} from "…"`. Lines inside
 * block comments (doc comments and their examples) are skipped.
 */
export function importSpecifiers(source: string): string[] {
  const found: string[] = [];
  let inComment = false;
  let inBraces = false;
  for (const line of source.split(/\r?\n/)) {
    if (inComment) {
      if (line.includes("*/")) inComment = false;
      continue;
    }
    if (/^\s*\/\*/.test(line) && !line.includes("*/")) {
      inComment = true;
      continue;
    }
    if (inBraces) {
      if (line.startsWith("}")) {
        inBraces = false;
        const end = line.match(/^\}\s*from\s*["']([^"']+)["']/);
        if (end) found.push(end[1]!);
      }
      continue;
    }
    const one = line.match(/^import\s*["']([^"']+)["']/) ??
      line.match(/^(?:import|export)\s[^"'`=(]*?\bfrom\s*["']([^"']+)["']/);
    if (one) found.push(one[1]!);
    else if (/^(?:import(?:\s+type)?\s+(?:[\w$]+\s*,\s*)?|export(?:\s+type)?\s*)\{[^}]*$/.test(line)) inBraces = true;
  }
  return found;
}

type Place =
  | { readonly kind: "layer"; readonly folder: string; readonly rank: number }
  | { readonly kind: "unplaced"; readonly folder: string }
  | { readonly kind: "top"; readonly folder: string };

function placeOf(path: string, layers: readonly string[]): Place {
  const parts = path.split("/");
  if (parts[0] !== "src") return { kind: "top", folder: parts.length === 1 ? path : parts[0]! };
  if (parts.length === 2) return { kind: "unplaced", folder: "src" };
  const folder = parts[1]!;
  const rank = layers.indexOf(folder);
  return rank < 0 ? { kind: "unplaced", folder } : { kind: "layer", folder, rank };
}

/** The folder a `_` file is private to: `src/<layer>`, or the top folder (`bench`, `tests`), or `.` at the root. */
function privacyScope(path: string): string {
  const parts = path.split("/");
  if (parts.length === 1) return ".";
  return parts[0] === "src" && parts.length > 2 ? `src/${parts[1]}` : parts[0]!;
}

const describe = (p: Place, layers: readonly string[]) =>
  p.kind === "layer" ? `layer ${p.folder} (${p.rank + 1} of ${layers.length})` : `${p.folder} (above every layer)`;

/**
 * Problems with the imports of `files` (repository-relative path → source),
 * given the folders that exist directly under `src/`; empty when the layers
 * keep to themselves.
 */
export function checkLayers(
  files: Iterable<readonly [string, string]>,
  srcFolders: readonly string[],
  layers: readonly string[] = LAYERS,
): string[] {
  const problems: string[] = [];
  const order = layers.join(" → ");
  for (const folder of srcFolders) {
    if (!layers.includes(folder)) {
      problems.push(
        `src/${folder} is not in the layer list (${order}); add it at its place in LAYERS in tests/layers_test.ts ` +
          `and in CONTRIBUTING.md`,
      );
    }
  }
  for (const [file, source] of files) {
    const from = placeOf(file, layers);
    if (from.kind === "unplaced" && from.folder === "src") {
      problems.push(`${file} lies directly in src/; move it into a layer folder`);
    }
    const isTest = file.endsWith("_test.ts");
    for (const spec of importSpecifiers(source)) {
      if (!spec.startsWith("./") && !spec.startsWith("../")) continue;
      const target = posix.normalize(posix.join(posix.dirname(file), spec));
      if (target.startsWith("../")) continue;
      const to = placeOf(target, layers);
      const where = `${file} imports "${spec}" (${target})`;
      if (from.kind === "layer" && !isTest && to.kind !== "unplaced") {
        if (to.kind === "top" || to.rank > from.rank) {
          problems.push(
            `${where}: ${describe(from, layers)} may not import ${describe(to, layers)}; ` +
              `a layer imports only itself and lower layers (${order})`,
          );
        }
      }
      const name = posix.basename(target);
      const scope = privacyScope(target), own = privacyScope(file);
      if (name.startsWith("_") && scope !== own) {
        problems.push(
          `${where}: ${name} is private to ${scope}, and ${own} is another folder; ` +
            `give the helper a name without "_" in the lowest layer it can live in to share it`,
        );
      }
    }
  }
  return problems;
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Repository-relative paths of the `.ts` files under `dir` (dot folders and node_modules skipped). */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(posix.join(ROOT, dir), { withFileTypes: true })) {
    if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...tsFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

function repositoryFiles(): [string, string][] {
  const paths = [...tsFiles("src"), ...tsFiles("bench"), ...tsFiles("tests"), "mod.ts"];
  return paths.sort().map((p) => [p, readFileSync(posix.join(ROOT, p), "utf8")]);
}

Deno.test("src/ folders import only their own and lower layers, and no other folder's _ files", () => {
  const files = repositoryFiles();
  const srcFolders = readdirSync(posix.join(ROOT, "src"), { withFileTypes: true })
    .filter((e) => e.isDirectory()).map((e) => e.name);
  // The parser must see the real statements, or an empty result proves nothing.
  const edges = files.reduce((n, [, source]) => n + importSpecifiers(source).length, 0);
  assert(edges > 300, `only ${edges} import statements found in ${files.length} files`);
  const problems = checkLayers(files, srcFolders);
  assertEquals(problems, [], `${problems.length} layer problem(s):\n${problems.join("\n")}`);
});

Deno.test("importSpecifiers() reads one-line, multi-line and side-effect statements and skips doc comments", () => {
  const source = [
    "/**",
    " * @example",
    " * ```ts",
    ' * import { x } from "../pipeline/doc.ts";',
    " * ```",
    "/*",
    'import { y } from "../pipeline/block_comment.ts";',
    "*/",
    'import { a } from "./a.ts";',
    'import type { B } from "../onnx/b.ts";',
    'import * as c from "./c.ts";',
    'import "./side_effect.ts";',
    'export * from "./d.ts";',
    "export {",
    "  e,",
    "  type E,",
    '} from "../models/e.ts";',
    "import {",
    "  f,",
    '} from "./f.ts";',
    "export { g };",
    "export const MESSAGE = \"from './not_an_import.ts'\";",
    "export interface H {",
    "  readonly h: string;",
    "}",
    'const s = `import { z } from "./in_a_string.ts"`;',
    'const n = await import("./dynamic.ts");',
  ].join("\n");
  assertEquals(importSpecifiers(source), [
    "./a.ts",
    "../onnx/b.ts",
    "./c.ts",
    "./side_effect.ts",
    "./d.ts",
    "../models/e.ts",
    "./f.ts",
  ]);
  // mod.ts re-exports through both forms.
  const mod = importSpecifiers(readFileSync(posix.join(ROOT, "mod.ts"), "utf8"));
  assert(mod.includes("./src/models/dynamics.ts"), "mod.ts: export * from the dynamics contract");
  assert(mod.includes("./src/gradients/method.ts"), "mod.ts: multi-line export { … } from method.ts");
});

Deno.test("checkLayers() reports a back arrow, a private import from another folder and an unplaced folder", () => {
  const files: [string, string][] = [
    // (a) back arrow: a library file of autodiff reaching up into models.
    ["src/autodiff/fused.ts", 'import { type Dynamics } from "../models/dynamics.ts";'],
    // … and into tests/ (above every layer).
    ["src/report/html.ts", 'import { checkPage } from "../../tests/browser.ts";'],
    // (b) a test in train using autodiff's private helper.
    ["src/train/readout_test.ts", 'import { check } from "../autodiff/_gradcheck.ts";'],
    // (c) a file in a folder that has no place.
    ["src/extra/thing.ts", 'import { Random } from "../util/random.ts";'],
    // Allowed: downward, own private files, tests reaching up, doc-comment examples, bench and tests helpers.
    ["src/models/mlp.ts", 'import { GraphBuilder } from "../onnx/builder.ts";\nimport { x } from "./_layers.ts";'],
    ["src/pipeline/data_kinds/sines.ts", 'import { y } from "../_fields.ts";'],
    ["src/onnx/lower_test.ts", 'import { Runtime } from "../runtime/session.ts";'],
    ["src/gradients/ode_gradient.ts", '/**\n * ```ts\n * import { gq } from "../../mod.ts";\n * ```\n */'],
    ["bench/main.ts", 'import { r } from "./_report.ts";\nimport { gq } from "../src/gradients/method.ts";'],
    ["tests/browser_test.ts", 'import { checkPage } from "./browser.ts";'],
    ["mod.ts", 'export * from "./src/train/trainer.ts";'],
  ];
  const problems = checkLayers(files, ["util", "onnx", "autodiff", "models", "train", "report", "extra"]);
  assertEquals(problems.length, 4, problems.join("\n"));
  const [unplaced, back, up, privateUse] = problems as [string, string, string, string];
  assert(unplaced.startsWith("src/extra is not in the layer list"), unplaced);
  assert(
    back.startsWith('src/autodiff/fused.ts imports "../models/dynamics.ts" (src/models/dynamics.ts): ') &&
      back.includes("layer autodiff (4 of 13) may not import layer models (5 of 13)"),
    back,
  );
  assert(up.includes("layer report (12 of 13) may not import tests (above every layer)"), up);
  assert(
    privateUse.startsWith('src/train/readout_test.ts imports "../autodiff/_gradcheck.ts"') &&
      privateUse.includes("_gradcheck.ts is private to src/autodiff, and src/train is another folder"),
    privateUse,
  );
  // A private bench helper used from src is reported too.
  const fromSrc = checkLayers([["src/util/x.ts", 'import { r } from "../../bench/_report.ts";']], ["util"]);
  assertEquals(fromSrc.length, 2, fromSrc.join("\n"));
  assert(fromSrc[1]!.includes("_report.ts is private to bench"), fromSrc[1]);
});
