/**
 * The one registry of VJP rules, built from one array (a repeated op type is
 * an error when the module loads).
 *
 * @module
 */
import { CONV_RULES } from "./rules/conv.ts";
import { ELEMENTWISE_RULES } from "./rules/elementwise.ts";
import { LINALG_RULES } from "./rules/linalg.ts";
import { NN_RULES } from "./rules/nn.ts";
import { SHAPE_RULES } from "./rules/shape.ts";
import { makeRegistry, type VjpRule } from "./rule.ts";

/** Every VJP rule quadjoint has, by op type. */
export const VJP_RULES: ReadonlyMap<string, VjpRule> = makeRegistry([
  ...ELEMENTWISE_RULES,
  ...LINALG_RULES,
  ...SHAPE_RULES,
  ...NN_RULES,
  ...CONV_RULES,
]);
