/**
 * VJP rules of elementwise ops. Binary ops return cotangents with the output's
 * broadcast shape; the engine sums them back to each input's shape.
 *
 * Composite activations (HardSwish, Mish, Celu, Gelu) are differentiated
 * through their rewrites into primitives in onnx/lower.ts, so their rules
 * are one line each and the algebra lives in the rules of the primitives.
 *
 * @module
 */
import type { Value } from "../../onnx/builder.ts";
import { floatAttr } from "../../onnx/graph.ts";
import { GraphError } from "../../onnx/errors.ts";
import { LOWERINGS, SELU_ALPHA, SELU_GAMMA } from "../../onnx/lower.ts";
import { castTo, type Cotangent, ew, scalar, type VjpContext, type VjpRule } from "../rule.ts";

type Unary = (ctx: VjpContext, g: NonNullable<Cotangent>) => Cotangent;

/** A rule for a one-input op from its local derivative. */
function unary(opType: string, f: Unary): VjpRule {
  return { opType, vjp: (ctx) => [ctx.dy[0] ? f(ctx, ctx.dy[0]) : null] };
}

const x0 = (ctx: VjpContext) => ctx.inputs[0]!;
const y0 = (ctx: VjpContext) => ctx.outputs[0]!;

/** Where(x > 0, g, h): the derivative of a piecewise op with its kink at 0. */
function positive(ctx: VjpContext, g: NonNullable<Cotangent>, otherwise: NonNullable<Cotangent>) {
  const { b } = ctx;
  const cond = b.op1("Greater", [x0(ctx), scalar(b, x0(ctx).dtype, 0)]);
  return b.op1("Where", [cond, g, otherwise]);
}

/** Rules for elementwise ops. */
export const ELEMENTWISE_RULES: readonly VjpRule[] = [
  unary("Identity", (_ctx, g) => g),
  unary("Neg", ({ b }, g) => ew.neg(b, g)),
  unary("Exp", (ctx, g) => ew.mul(ctx.b, g, y0(ctx))),
  unary("Log", (ctx, g) => ew.div(ctx.b, g, x0(ctx))),
  unary("Sqrt", (ctx, g) => ew.div(ctx.b, g, ew.mul(ctx.b, scalar(ctx.b, g.dtype, 2), y0(ctx)))),
  unary("Reciprocal", (ctx, g) => ew.neg(ctx.b, ew.mul(ctx.b, g, ew.mul(ctx.b, y0(ctx), y0(ctx))))),
  unary("Abs", (ctx, g) => ew.mul(ctx.b, g, ctx.b.op1("Sign", [x0(ctx)]))),
  unary("Tanh", (ctx, g) => {
    const { b } = ctx;
    const y = y0(ctx);
    return ew.mul(b, g, ew.sub(b, scalar(b, g.dtype, 1), ew.mul(b, y, y)));
  }),
  unary("Sigmoid", (ctx, g) => {
    const { b } = ctx;
    const y = y0(ctx);
    return ew.mul(b, g, ew.mul(b, y, ew.sub(b, scalar(b, g.dtype, 1), y)));
  }),
  unary("Softplus", (ctx, g) => ew.mul(ctx.b, g, ctx.b.op1("Sigmoid", [x0(ctx)]))),
  unary("Relu", (ctx, g) => positive(ctx, g, scalar(ctx.b, g.dtype, 0))),
  unary("LeakyRelu", (ctx, g) => {
    const alpha = floatAttr(ctx.node, "alpha", 0.01);
    return positive(ctx, g, ew.mul(ctx.b, g, scalar(ctx.b, g.dtype, alpha)));
  }),
  unary("Elu", (ctx, g) => {
    // For x ≤ 0, y = α(eˣ − 1), so dy/dx = αeˣ = y + α.
    const alpha = floatAttr(ctx.node, "alpha", 1);
    const { b } = ctx;
    return positive(ctx, g, ew.mul(b, g, ew.add(b, y0(ctx), scalar(b, g.dtype, alpha))));
  }),
  unary("Selu", (ctx, g) => {
    // For x ≤ 0, y = γα(eˣ − 1), so dy/dx = γαeˣ = y + γα.
    const alpha = floatAttr(ctx.node, "alpha", SELU_ALPHA), gamma = floatAttr(ctx.node, "gamma", SELU_GAMMA);
    const { b } = ctx;
    const pos = ew.mul(b, g, scalar(b, g.dtype, gamma));
    return positive(ctx, pos, ew.mul(b, g, ew.add(b, y0(ctx), scalar(b, g.dtype, gamma * alpha))));
  }),
  unary("Softsign", (ctx, g) => {
    const { b } = ctx;
    const d = ew.add(b, scalar(b, g.dtype, 1), b.op1("Abs", [x0(ctx)]));
    return ew.div(b, g, ew.mul(b, d, d));
  }),
  unary("HardSigmoid", (ctx, g) => {
    // Slope α where 0 < αx + β < 1, else flat.
    const { b, node } = ctx;
    const alpha = floatAttr(node, "alpha", 0.2), beta = floatAttr(node, "beta", 0.5);
    const lin = ew.add(b, ew.mul(b, x0(ctx), scalar(b, g.dtype, alpha)), scalar(b, g.dtype, beta));
    const inside = b.op1("And", [
      b.op1("Greater", [lin, scalar(b, g.dtype, 0)]),
      b.op1("Less", [lin, scalar(b, g.dtype, 1)]),
    ]);
    return b.op1("Where", [inside, ew.mul(b, g, scalar(b, g.dtype, alpha)), scalar(b, g.dtype, 0)]);
  }),
  unary("Erf", (ctx, g) => {
    // d erf(x)/dx = 2/√π · exp(−x²).
    const { b } = ctx;
    const x = x0(ctx);
    const e = b.op1("Exp", [ew.neg(b, ew.mul(b, x, x))]);
    return ew.mul(b, g, ew.mul(b, e, scalar(b, g.dtype, 2 / Math.sqrt(Math.PI))));
  }),
  // Composites, through their rewrites into ops above: x·hardsigmoid, x·tanh(softplus), α·elu(x/α), Gelu's two forms.
  ...["HardSwish", "Mish", "Celu", "Gelu"].map((opType): VjpRule => ({
    opType,
    vjp: (ctx) => ctx.viaLowering(LOWERINGS.get(opType)!),
  })),
  {
    opType: "PRelu",
    vjp: ({ b, inputs: [x, slope], dy: [g], wants }) => {
      if (!g) return [null, null];
      const pos = b.op1("Greater", [x!, scalar(b, x!.dtype, 0)]);
      const zero = scalar(b, g.dtype, 0);
      return [
        wants(0) ? b.op1("Where", [pos, g, ew.mul(b, g, slope!)]) : null,
        wants(1) ? b.op1("Where", [pos, zero, ew.mul(b, g, x!)]) : null,
      ];
    },
  },
  {
    opType: "Clip",
    vjp: ({ b, node, inputs, dy: [g], wants }) => {
      const [x, lo, hi] = inputs;
      if (!g) return inputs.map(() => null);
      // y = min(max(x, lo), hi): x's cotangent where lo ≤ x and max(x, lo) ≤ hi (bounds included, as torch),
      // lo's where x < lo ≤ hi, hi's where max(x, lo) > hi (so hi wins when lo > hi, as ONNX says).
      const d = x!.dtype;
      const bound = (v: typeof lo, name: string, fallback: number) =>
        v ?? (b.opset < 11 && node.attributes[name] ? scalar(b, d, floatAttr(node, name, fallback)) : undefined);
      const min = bound(lo, "min", -Infinity), max = bound(hi, "max", Infinity);
      const zero = scalar(b, g.dtype, 0);
      const m = min ? b.op1("Max", [x!, min]) : x!;
      // Not(Less) rather than GreaterOrEqual, which only exists from opset 12.
      const not = (v: Value) => b.op1("Not", [v]);
      const overMax = max ? b.op1("Greater", [m, max]) : undefined;
      const underMax = overMax ? not(overMax) : undefined;
      const both = (c: Value | undefined, e: Value | undefined) => (c && e ? b.op1("And", [c, e]) : c ?? e);
      const keep = (c: Value | undefined) => (c ? b.op1("Where", [c, g, zero]) : g);
      const belowMin = min ? b.op1("Less", [x!, min]) : undefined;
      const aboveMin = belowMin ? not(belowMin) : undefined;
      return [
        wants(0) ? keep(both(aboveMin, underMax)) : null,
        lo && wants(1) ? keep(both(belowMin, underMax)) : null,
        hi && wants(2) ? keep(overMax) : null,
      ].slice(0, inputs.length);
    },
  },
  unary("Sin", (ctx, g) => ew.mul(ctx.b, g, ctx.b.op1("Cos", [x0(ctx)]))),
  unary("Cos", (ctx, g) => ew.neg(ctx.b, ew.mul(ctx.b, g, ctx.b.op1("Sin", [x0(ctx)])))),
  {
    opType: "Cast",
    vjp: (ctx) => {
      const g = ctx.dy[0], x = x0(ctx);
      if (!g) return [null];
      return [castTo(ctx.b, g, x.dtype)];
    },
  },
  { opType: "Add", vjp: ({ dy: [g] }) => [g ?? null, g ?? null] },
  { opType: "Sub", vjp: ({ b, dy: [g] }) => (g ? [g, ew.neg(b, g)] : [null, null]) },
  { opType: "Sum", vjp: ({ inputs, dy: [g] }) => inputs.map(() => g ?? null) },
  {
    opType: "Mul",
    vjp: ({ b, inputs: [x, y], dy: [g], wants }) =>
      g ? [wants(0) ? ew.mul(b, g, y!) : null, wants(1) ? ew.mul(b, g, x!) : null] : [null, null],
  },
  {
    opType: "Div",
    vjp: ({ b, inputs: [, y], outputs: [q], dy: [g], wants }) => {
      if (!g) return [null, null];
      const gx = ew.div(b, g, y!);
      // d(x/y)/dy = −x/y² = −q/y.
      return [gx, wants(1) ? ew.neg(b, ew.mul(b, gx, q!)) : null];
    },
  },
  {
    opType: "Pow",
    vjp: ({ b, node, inputs: [x, p], outputs: [y], dy: [g], wants }) => {
      if (!g) return [null, null];
      if (p!.dtype !== x!.dtype && wants(1)) {
        throw new GraphError(`Pow with a ${p!.dtype} exponent cannot be differentiated with respect to it`, {
          nodeName: node.name,
          opType: node.opType,
        });
      }
      // d(xᵖ)/dx = p·x^(p−1); computed as a power so that x = 0 with p ≥ 1 stays finite, and 0 where p = 0
      // (x⁰ is constant; 0·0⁻¹ would be NaN at x = 0), as torch has it.
      const zero = scalar(b, x!.dtype, 0);
      const pf = p!.dtype === x!.dtype ? p! : castTo(b, p!, x!.dtype);
      const pm1 = ew.sub(b, pf, scalar(b, x!.dtype, 1));
      const slope = b.op1("Where", [b.op1("Equal", [pf, zero]), zero, ew.mul(b, pf, b.op1("Pow", [x!, pm1]))]);
      const gx = ew.mul(b, g, slope);
      // d(xᵖ)/dp = xᵖ·log x, and 0 at x = 0 with p ≥ 0 (the limit, where 0·log 0 would be NaN).
      const gp = wants(1)
        ? ew.mul(
          b,
          g,
          b.op1("Where", [
            // Not(Less), not GreaterOrEqual: that op needs opset 12.
            b.op1("And", [b.op1("Equal", [x!, zero]), b.op1("Not", [b.op1("Less", [pf, zero])])]),
            zero,
            ew.mul(b, y!, b.op1("Log", [x!])),
          ]),
        )
        : null;
      return [gx, gp];
    },
  },
  {
    opType: "Where",
    vjp: ({ b, inputs: [c, x], dy: [g], wants }) => {
      if (!g) return [null, null, null];
      const zero = scalar(b, x!.dtype, 0);
      return [
        null,
        wants(1) ? b.op1("Where", [c!, g, zero]) : null,
        wants(2) ? b.op1("Where", [c!, zero, g]) : null,
      ];
    },
  },
  ...["Max", "Min"].map((opType): VjpRule => ({
    opType,
    vjp: ({ b, inputs, outputs: [y], dy: [g] }) => {
      if (!g) return inputs.map(() => null);
      // The cotangent goes to the inputs equal to the result (ties share it equally).
      const zero = scalar(b, g.dtype, 0), one = scalar(b, g.dtype, 1);
      const hits = inputs.map((x) => b.op1("Where", [b.op1("Equal", [x!, y!]), one, zero]));
      const count = hits.reduce((acc, h) => ew.add(b, acc, h));
      const share = ew.div(b, g, count);
      return hits.map((h) => ew.mul(b, share, h));
    },
  })),
];
