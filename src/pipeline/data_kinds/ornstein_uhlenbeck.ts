/**
 * `data.kind: ornstein-uhlenbeck` — the paper's OU process dx = (μt − θx) dt
 * + (σ + φt) dW from x0 ~ U[−3, 3], sample paths per initial value, observed
 * on a regular grid: data of a stochastic process, trained as a neural SDE.
 * Generation solves the SDE, so `generate` returns a promise.
 *
 * @module
 */
import { z } from "zod";
import { ornsteinUhlenbeck } from "../../data/ornstein_uhlenbeck.ts";
import { positive, positiveInt, seed } from "../fields.ts";
import { dataKind } from "./data_kind.ts";

/** The OU process's settings. */
export const OrnsteinUhlenbeckDataSchema = z.object({
  kind: z.literal("ornstein-uhlenbeck"),
  train: positiveInt.default(200).describe("Training initial values. Default 200"),
  test: positiveInt.default(20).describe("Test initial values. Default 20"),
  paths: z.number().int().min(2).default(45).describe("Sample paths per initial value. Default 45"),
  end: positive.default(10).describe("Last observation time. Default 10"),
  every: positive.default(0.1).describe("Gap between observation times. Default 0.1"),
  dt: positive.default(0.01).describe("Step of the SDE solver that makes the data (divides every). Default 0.01"),
  seed: seed.default(0).describe("Seed of initial values and paths. Default 0"),
}).strict();

/** The OU data kind. */
export const ornsteinUhlenbeckData = dataKind({
  kind: "ornstein-uhlenbeck",
  schema: OrnsteinUhlenbeckDataSchema,
  classification: false,
  stochastic: true,
  example: { kind: "ornstein-uhlenbeck", train: 4, test: 2, paths: 6, end: 1, every: 0.5, dt: 0.05 },
  generate: ({ train, test, paths, end, every, dt, seed }) =>
    ornsteinUhlenbeck({ train, test, paths, end, every, dt, seed }),
  training: undefined,
});
