/**
 * Writes `pipelines/schema.json`, the JSON Schema of pipeline files generated
 * from the zod schema, so editors validate and complete them. Run after any
 * change to `schema.ts`:
 *
 * ```sh
 * deno run --allow-write=pipelines/schema.json src/pipeline/write_schema.ts
 * ```
 *
 * A test fails when the committed file is stale.
 *
 * @module
 */
import { z } from "zod";
import { PipelineSchema } from "./schema.ts";

/** Where the generated schema lives, relative to the repository root. */
export const SCHEMA_PATH = "pipelines/schema.json";

/**
 * The JSON Schema text (draft 2020-12) of a pipeline file as written: fields
 * with defaults are optional. Cross-field rules (see schema.ts) are not
 * expressible here and are checked by `parsePipeline` only.
 */
export function renderJsonSchema(): string {
  const schema = z.toJSONSchema(PipelineSchema, { io: "input", target: "draft-2020-12" });
  const titled = {
    $schema: schema.$schema,
    title: "quadjoint pipeline",
    description: "A declarative quadjoint experiment: data, model, solve, gradient, train, evaluate, sweep, report",
    ...schema,
  };
  return JSON.stringify(titled, null, 2) + "\n";
}

if (import.meta.main) {
  const url = new URL(`../../${SCHEMA_PATH}`, import.meta.url);
  await Deno.writeTextFile(url, renderJsonSchema());
  console.log(`Wrote ${SCHEMA_PATH}`);
}
