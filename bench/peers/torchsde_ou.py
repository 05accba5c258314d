"""The torchsde side of `deno task bench sde`: a long-running JSON-lines server.

quadjoint's SDE benchmark (bench/sde_bench.ts) starts this once, so torch and
torchsde are imported once, and interleaves its requests with its own epochs.
The protocol is peers.py's: one JSON object a line each way, {"ok": true, ...}
or {"ok": false, "error": "..."}; anything else goes to stderr; it exits on
{"cmd": "quit"} or end of input.

The problem is the paper's Ornstein–Uhlenbeck neural SDE (§5.6) as quadjoint
trains it (src/train/neural_sde.ts): dz = f(z, t) dt + g(z, t) ∘ dW,
Stratonovich, diagonal noise, float32, with f and g the time-dependent MLPs of
model.py (quadjoint's `mlpDynamics`, weights "l0.weight", … for f and
"g0.weight", … for g), trained by Adam on the sample-Gaussian KL
(src/sde/gaussian_kl.ts) through `torchsde.sdeint_adjoint` with
method="reversible_heun", adjoint_method="adjoint_reversible_heun" and a fixed
step dt, on a fresh `BrownianInterval` per batch.

Commands:
  hello    versions and thread count
  data     load the initial values and per-time target moments from a weight file
  model    load the initial drift and diffusion weights from a weight file
  outputs  f and g at given (t, z), for the agreement check
  losses   the loss of one batch at the initial weights, once per Brownian seed (forward only)
  epoch    time one epoch from the initial weights: the batches given, one Adam step each,
           then the test KL on a fixed Brownian path (as quadjoint's epoch does)
"""

import argparse
import os
import platform
import sys
import time

import torch
import torchsde
from torch import nn

sys.dont_write_bytecode = True  # leave no __pycache__ in the repository's bench/peers/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import MlpDynamics  # noqa: E402  (after the path insert)
from serve import serve  # noqa: E402
from torch_settings import add_torch_arguments, apply_torch_arguments  # noqa: E402
from weights import read_weights  # noqa: E402

DTYPE = torch.float32


class OuSde(nn.Module):
    """The neural SDE: drift and diffusion MLPs on the one-value state, Stratonovich, diagonal noise."""

    noise_type = "diagonal"
    sde_type = "stratonovich"

    def __init__(self, hidden):
        super().__init__()
        self.drift = MlpDynamics(1, hidden, "concat")
        self.diffusion = MlpDynamics(1, hidden, "concat")

    def f(self, t, y):
        return self.drift(t, y)

    def g(self, t, y):
        return self.diffusion(t, y)

    def evals(self):
        """Drift plus diffusion evaluations so far (quadjoint's calls count both)."""
        return self.drift.evals + self.diffusion.evals

    def load(self, weights):
        """Drift from "l*" and diffusion from "g*" (quadjoint's paramPrefix "g") weights."""
        self.drift.load(weights)
        self.diffusion.load({"l" + k[1:]: v for k, v in weights.items() if k.startswith("g")})


def gaussian_kl(ys, mean, variance, paths):
    """src/sde/gaussian_kl.ts's sampleGaussianKl: mean over times after the first and groups of
    KL(N(m*, v*) ‖ N(m, v)) = ½[log(v/v*) + (v* + (m* − m)²)/v − 1], m and v the population
    moments of each group's `paths` consecutive samples; ys is [times, groups·paths, 1],
    mean and variance [times, groups]."""
    y = ys[1:].reshape(ys.shape[0] - 1, -1, paths)
    m = y.mean(dim=2)
    v = y.var(dim=2, correction=0)
    vt, d = variance[1:], mean[1:] - m
    return (0.5 * (torch.log(v / vt) + (vt + d * d) / v - 1)).mean()


class TorchsdeOu:
    """The server's state: the data, the initial weights and the model being trained."""

    def __init__(self, threads, flush_denormals):
        self.threads = threads
        self.flush_denormals = flush_denormals
        self.data = None
        self.initial = None
        self.sde = None

    # --- commands -------------------------------------------------------------------------------

    def hello(self, request):
        return {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchsde": torchsde.__version__,
            "threads": torch.get_num_threads(),
            "flush_denormals": self.flush_denormals,
        }

    def load_data(self, request):
        d = read_weights(request["file"])
        # Observation times as float32, like a torch user's ts: torchsde steps in ts's dtype.
        self.data = {
            "ts": d["times"].to(DTYPE),
            "paths": int(request["paths"]),
            **{k: d[k] for k in ("train.x0", "train.mean", "train.variance", "test.x0", "test.mean", "test.variance")},
        }
        return {"times": len(self.data["ts"]), "train": len(self.data["train.x0"]), "test": len(self.data["test.x0"])}

    def model(self, request):
        self.initial = read_weights(request["weights"])
        self.sde = OuSde([int(w) for w in request["hidden"]])
        self.sde.load(self.initial)
        return {"params": sum(p.numel() for p in self.sde.parameters())}

    def outputs(self, request):
        sde = self._model()
        z = torch.tensor(request["z"], dtype=DTYPE).reshape(-1, 1)
        f, g = [], []
        with torch.no_grad():
            for t in request["t"]:
                tt = torch.tensor(float(t), dtype=DTYPE)
                f.append(sde.f(tt, z).reshape(-1).tolist())
                g.append(sde.g(tt, z).reshape(-1).tolist())
        return {"f": f, "g": g}

    def losses(self, request):
        sde, data = self._model(), self._data()
        sde.load(self.initial)
        y0, mean, variance = self._batch("train", request["indices"])
        out = []
        with torch.no_grad():
            for seed in request["seeds"]:
                bm = self._brownian(y0.shape[0], float(request["dt"]), int(seed))
                ys = torchsde.sdeint(sde, y0, data["ts"], bm=bm, method="reversible_heun", dt=float(request["dt"]))
                out.append(gaussian_kl(ys, mean, variance, data["paths"]).item())
        return {"losses": out}

    def epoch(self, request):
        """One epoch from the initial weights with a fresh Adam, timed from the first batch to the test KL."""
        sde, data = self._model(), self._data()
        sde.load(self.initial)
        dt, seed = float(request["dt"]), int(request["seed"])
        batches = [self._batch("train", b) for b in request["batches"]]
        test = self._batch("test", list(range(len(data["test.x0"]))))
        optimizer = torch.optim.Adam(sde.parameters(), lr=float(request["lr"]))  # betas (0.9, 0.999), eps 1e-8
        nfe_forward = nfe_backward = 0
        loss_sum = 0.0
        start = time.perf_counter()
        for i, (y0, mean, variance) in enumerate(batches):
            optimizer.zero_grad(set_to_none=True)
            bm = self._brownian(y0.shape[0], dt, seed * 1000 + i)
            before = sde.evals()
            ys = torchsde.sdeint_adjoint(
                sde,
                y0,
                data["ts"],
                bm=bm,
                method="reversible_heun",
                adjoint_method="adjoint_reversible_heun",
                dt=dt,
            )
            loss = gaussian_kl(ys, mean, variance, data["paths"])
            middle = sde.evals()
            loss.backward()
            optimizer.step()
            nfe_forward += middle - before
            nfe_backward += sde.evals() - middle
            loss_sum += loss.item()
        with torch.no_grad():
            y0, mean, variance = test
            bm = self._brownian(y0.shape[0], dt, seed * 1000 + 999)
            ys = torchsde.sdeint(sde, y0, data["ts"], bm=bm, method="reversible_heun", dt=dt)
            test_kl = gaussian_kl(ys, mean, variance, data["paths"]).item()
        seconds = time.perf_counter() - start
        return {
            "seconds": seconds,
            "train_loss": loss_sum / len(batches),
            "test_kl": test_kl,
            "nfe_forward": nfe_forward,
            "nfe_backward": nfe_backward,
        }

    # --- helpers --------------------------------------------------------------------------------

    def _model(self):
        if self.sde is None:
            raise RuntimeError("no model loaded: send a 'model' request first")
        return self.sde

    def _data(self):
        if self.data is None:
            raise RuntimeError("no data loaded: send a 'data' request first")
        return self.data

    def _batch(self, split, indices):
        """y0 [groups·paths, 1] (each initial value repeated once per path) and the groups' target moments."""
        d = self.data
        idx = torch.tensor([int(i) for i in indices], dtype=torch.long)
        y0 = d[f"{split}.x0"][idx].repeat_interleave(d["paths"]).reshape(-1, 1).to(DTYPE)
        return y0, d[f"{split}.mean"][:, idx], d[f"{split}.variance"][:, idx]

    def _brownian(self, size, dt, seed):
        ts = self.data["ts"]
        return torchsde.BrownianInterval(
            t0=ts[0], t1=ts[-1], size=(size, 1), dtype=DTYPE, entropy=seed, dt=dt, levy_area_approximation="none"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_torch_arguments(parser)
    args = parser.parse_args()
    flushes = apply_torch_arguments(args)
    server = TorchsdeOu(args.threads, flushes)
    handlers = {
        "hello": server.hello,
        "data": server.load_data,
        "model": server.model,
        "outputs": server.outputs,
        "losses": server.losses,
        "epoch": server.epoch,
    }
    serve(handlers)


if __name__ == "__main__":
    main()
