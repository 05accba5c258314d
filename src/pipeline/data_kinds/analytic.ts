/**
 * `data.kind: analytic` — the paper's exponential problem dz/dt = a·z with
 * L = z(T)² at a grid of end times T. It trains no model: its cells measure
 * gradient errors against closed forms and held memory (analytic_stage.ts).
 *
 * @module
 */
import { z } from "zod";
import { exponentialProblem } from "../../data/analytic.ts";
import { positive, positiveInt, seed } from "../fields.ts";
import { dataKind } from "./data_kind.ts";

/** The exponential problem dz/dt = a·z with L = z(T)², at a grid of end times T. */
export const AnalyticDataSchema = z.object({
  kind: z.literal("analytic"),
  z0: z.number().default(10).describe("Initial state z(0). Default 10"),
  a: z.number().default(0.2).describe("Growth rate a in dz/dt = a·z. Default 0.2"),
  T: z.object({
    min: positive.default(19).describe("Smallest end time. Default 19"),
    max: positive.default(29).describe("Largest end time. Default 29"),
    count: positiveInt.default(11).describe("Number of end times, evenly spaced from min to max. Default 11"),
  }).strict().refine((T) => T.max >= T.min, { message: "T.max must be at least T.min", path: ["max"] })
    .default({ min: 19, max: 29, count: 11 })
    .describe("Grid of end times T. Default 19…29, 11 points"),
  seed: seed.default(0).describe("Seed (unused by this deterministic problem; kept for uniformity). Default 0"),
}).strict();

/** The analytic problem's data kind. */
export const analyticData = dataKind({
  kind: "analytic",
  schema: AnalyticDataSchema,
  classification: false,
  example: { kind: "analytic", T: { min: 1, max: 2, count: 2 } },
  generate: (c) => exponentialProblem({ z0: c.z0, a: c.a, T: c.T }),
  training: undefined,
});
