/**
 * `noise: { kind: karhunen-loeve, cosines: m }` — Wong–Zakai training: the
 * SDE becomes the ODE dz/dt = f + g ⊙ ξ(t) with ξ the derivative of a
 * Karhunen–Loève expansion of Brownian motion cut at m cosines, drawn anew
 * per batch and sample (src/sde/karhunen_loeve.ts). m = 0 trains the drift
 * alone.
 *
 * @module
 */
import { z } from "zod";
import { noiseKind } from "./noise_kind.ts";

/** Karhunen–Loève noise settings. */
export const KarhunenLoeveNoiseSchema = z.object({
  kind: z.literal("karhunen-loeve"),
  cosines: z.number().int().min(0).default(10).describe("Cosines m of the expansion (0: the drift alone). Default 10"),
}).strict();

/** The Karhunen–Loève noise kind. */
export const karhunenLoeveNoise = noiseKind({
  kind: "karhunen-loeve",
  schema: KarhunenLoeveNoiseSchema,
  example: { kind: "karhunen-loeve", cosines: 3 },
  route: (c, method, solve) => ({ kind: "wong-zakai", method, cosines: c.cosines, solve }),
  macsPerSample: (c) => 2 * c.cosines,
});
