import { assert, assertEquals, assertThrows } from "../../util/testing.ts";
import { DATA_KINDS } from "../data_kinds/registry.ts";
import { type PipelineConfig, PipelineSchema } from "../schema.ts";
import { CELL_KINDS, cellKindOf } from "./registry.ts";

/** The smallest pipeline around a data kind's example: a model and a train stage when the kind trains one. */
function pipelineOf(kind: typeof DATA_KINDS[number]): PipelineConfig {
  if ("stochastic" in kind && kind.stochastic) {
    return PipelineSchema.parse({
      name: "cell-check",
      data: kind.example,
      model: { dynamics: { kind: "mlp", width: 4, time: "concat" } },
      solve: { dt: 0.05 },
      noise: { kind: "karhunen-loeve" },
      gradient: { method: "gq" },
      train: { epochs: 3 },
    });
  }
  return PipelineSchema.parse({
    name: "cell-check",
    data: kind.example,
    ...(kind.training ? { model: { dynamics: { kind: "mlp", width: 4 } }, train: { epochs: 3 } } : {}),
    solve: {},
    gradient: { method: "gq" },
    ...(kind.training ? {} : { evaluate: { metrics: ["gradient-error"] } }),
  });
}

for (const kind of DATA_KINDS) {
  Deno.test(`exactly one cell kind runs data kind "${kind.kind}", with positive units and cost`, () => {
    const config = pipelineOf(kind);
    assertEquals(CELL_KINDS.filter((c) => c.takes(config)).length, 1);
    const cell = cellKindOf(config);
    const stochastic = "stochastic" in kind && kind.stochastic;
    assertEquals(cell.kind, kind.training ? "training" : stochastic ? "sde-training" : "analytic");
    const units = cell.units(config), cost = cell.unitCost(config);
    assert(Number.isInteger(units) && units > 0, `units ${units}`);
    assert(Number.isFinite(cost) && cost > 0, `unit cost ${cost}`);
    if (kind.training || stochastic) assertEquals(units, 3, "a training cell's units are its epochs");
    assert(cell.metricLabel(config).length > 0);
  });
}

Deno.test("cellKindOf() of an unknown data kind names the known ones", () => {
  const config = { ...pipelineOf(DATA_KINDS[0]), data: { kind: "mnist" } } as unknown as PipelineConfig;
  assertThrows(
    () => cellKindOf(config),
    RangeError,
    `Unknown data kind "mnist": use one of ${DATA_KINDS.map((k) => k.kind).join(", ")}`,
  );
});
