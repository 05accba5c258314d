/**
 * zod field types the pipeline schema and the kind files share.
 *
 * @module
 */
import { z } from "zod";

/** A positive number. */
export const positive = z.number().positive();
/** A positive integer. */
export const positiveInt = z.number().int().positive();
/** A seed: an integer in [0, 2³¹ − 1]. */
export const seed = z.number().int().min(0).max(2 ** 31 - 1);
