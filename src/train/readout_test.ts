/**
 * Readouts: loss against a TypeScript reference, gradients against float64
 * central differences of the loss output.
 */
import { type Tensor, tensor, toNumbers } from "../onnx/tensor.ts";
import { Runtime } from "../runtime/session.ts";
import { Random } from "../util/random.ts";
import { assertClose, assertEquals, assertThrows } from "../util/testing.ts";
import { checkLossGradients } from "../autodiff/gradcheck.ts";
import { buildReadout, type HeadKind, initReadout, type LossKind } from "./readout.ts";

const rt = new Runtime({ threads: 1 });
const T = 2, B = 3, S = 3, O = 2;
const MASK = [1, 0, 1, 1, 1, 0];

/** The readout's loss computed in TypeScript from its definition. */
function reference(head: HeadKind, loss: LossKind, feeds: Record<string, Tensor>): number {
  const z = toNumbers(feeds.zs!), y = toNumbers(feeds.target!), m = toNumbers(feeds.mask!);
  const w = head === "linear" ? toNumbers(feeds["head.weight"]!) : [];
  const bias = head === "linear" ? toNumbers(feeds["head.bias"]!) : [];
  let num = 0, den = 0;
  for (let r = 0; r < T * B; r++) {
    const pred = Array.from({ length: O }, (_, o) => {
      if (head === "slice") return z[r * S + o]!;
      let s = bias[o]!;
      for (let k = 0; k < S; k++) s += z[r * S + k]! * w[o * S + k]!;
      return s;
    });
    const target = y.slice(r * O, (r + 1) * O);
    let per: number;
    if (loss === "mse") {
      per = pred.reduce((s, p, o) => s + (p - target[o]!) ** 2, 0);
    } else {
      const lse = Math.log(pred.reduce((s, p) => s + Math.exp(p), 0));
      per = -pred.reduce((s, p, o) => s + target[o]! * (p - lse), 0);
    }
    num += m[r]! * per;
    den += m[r]! * (loss === "mse" ? O : 1);
  }
  return num / den;
}

for (const head of ["slice", "linear"] as const) {
  for (const loss of ["mse", "cross-entropy"] as const) {
    Deno.test(`buildReadout() with a ${head} head and ${loss} gives the masked loss and its gradients`, async () => {
      const r = buildReadout({ stateDim: S, outDim: O, head, loss, dtype: "float64" });
      assertEquals(Object.keys(r.outputs.grads), ["zs", ...Object.keys(r.params)]);
      const rng = new Random(21);
      const normal = (dims: number[]) =>
        tensor(Float64Array.from({ length: dims.reduce((a, d) => a * d, 1) }, () => rng.normal()), dims);
      const onehot = Float64Array.from({ length: T * B * O }, (_, i) => (i % 5 === 0 ? 1 : 0));
      const feeds: Record<string, Tensor> = {
        zs: normal([T, B, S]),
        ...initReadout(r, rng, "float64"),
        target: loss === "mse" ? normal([T, B, O]) : tensor(onehot, [T, B, O]),
        mask: tensor(Float64Array.from(MASK), [T, B]),
      };
      const out = await checkLossGradients(rt, r, feeds);
      assertClose(toNumbers(out[r.outputs.loss]!)[0]!, reference(head, loss, feeds), 1e-14, "loss");
      assertEquals(out[r.outputs.pred!]!.dims, [T, B, O]);
    });
  }
}

Deno.test("buildReadout() rejects a slice head wider than the state", () => {
  assertThrows(
    () => buildReadout({ stateDim: 2, outDim: 3, head: "slice", loss: "mse", dtype: "float32" }),
    RangeError,
    "reads 3 outputs from a state of 2",
  );
});
