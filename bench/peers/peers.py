"""The PyTorch side of `deno task bench peers`: a long-running JSON-lines server.

quadjoint's benchmark (bench/peers_bench.ts) starts this once, so torch is
imported once, and interleaves its requests with its own runs. Each request is
one JSON object on a line of stdin; each answer is one JSON object on a line of
stdout ({"ok": true, ...} or {"ok": false, "error": "..."}). Anything else this
process prints goes to stderr. It exits on {"cmd": "quit"} or end of input.

Commands:
  hello     versions, thread count, and whether the authors' GQ imported
  model     build the MLP dynamics from a weight file (which also holds z0)
  gradient  time one gradient (forward solve + backward) by one method
  train_start  set up the crossing-trajectories training loop (model, data, Adam)
  train_epoch  time one epoch of it (quadjoint interleaves its own epochs between these)

Methods: "direct" (torchdiffeq.odeint, backpropagation through the solver),
"adjoint" (torchdiffeq.odeint_adjoint), "seminorm" (odeint_adjoint with
adjoint_options=dict(norm="seminorm")) and "gq" (the paper authors'
torch_gq_adjoint.odeint_adjoint_gq, importable when --gq-path is given).
Everything is float32 with dopri5. `--device cuda` puts the model, the states and the time grid on the GPU (the
GPU check, bench/gpu_bench.ts); each timed region then ends with torch.cuda.synchronize(), so it holds the kernels
it queued.
"""

import argparse
import os
import platform
import sys
import time

import torch
import torchdiffeq

sys.dont_write_bytecode = True  # leave no __pycache__ in the repository's bench/peers/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import MlpDynamics  # noqa: E402  (after the path insert)
from serve import serve  # noqa: E402
from torch_settings import add_torch_arguments, apply_torch_arguments  # noqa: E402
from weights import read_weights, write_weights  # noqa: E402

METHODS = ("direct", "adjoint", "seminorm", "gq")


class Peers:
    """The server's state: options, the optional GQ module and the current model."""

    def __init__(self, threads, gq_path, flush_denormals, device):
        self.threads = threads
        self.device = torch.device(device)
        self.flush_denormals = flush_denormals
        self.gq = None
        self.gq_error = None
        if gq_path:
            # The authors' package is a folder `torch_gq_adjoint/` inside the given checkout.
            sys.path.insert(0, os.path.abspath(gq_path))
            try:
                import torch_gq_adjoint

                self.gq = torch_gq_adjoint
            except Exception as e:  # any import failure only disables the GQ rows
                self.gq_error = f"cannot import torch_gq_adjoint from {gq_path}: {e}"
        else:
            self.gq_error = "no --gq-path given"
        self.func = None
        self.z0 = None
        self.training = None

    # --- commands -------------------------------------------------------------------------------

    def hello(self, request):
        return {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchdiffeq": torchdiffeq.__version__,
            "threads": torch.get_num_threads(),
            "flush_denormals": self.flush_denormals,
            "gq": self.gq is not None,
            "gq_error": self.gq_error,
            "device": self.device.type,
            "device_name": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else platform.processor(),
        }

    def _sync(self):
        """Waits for the kernels queued on the device (nothing to wait for on the CPU)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def model(self, request):
        weights = read_weights(request["weights"])
        self.func = MlpDynamics(int(request["dim"]), [int(w) for w in request["hidden"]], request.get("time", "concat"))
        self.func.load(weights)
        self.func.to(self.device)
        self.z0 = weights["z0"].to(self.device)
        return {"params": sum(p.numel() for p in self.func.parameters())}

    def gradient(self, request):
        if self.func is None:
            raise RuntimeError("no model loaded: send a 'model' request first")
        func, method = self.func, request["method"]
        t = torch.tensor([0.0, float(request["t1"])], dtype=torch.float32, device=self.device)
        for p in func.parameters():
            p.grad = None
        z0 = self.z0.clone().requires_grad_(True)
        start_evals = func.evals
        self._sync()
        start = time.perf_counter()
        states = self._solve(method, func, z0, t, request["rtol"], request["atol"])
        forward_evals = func.evals - start_evals
        loss = (states[-1] ** 2).mean()  # the benchmark's loss: mean of z(T)^2
        loss.backward()
        self._sync()
        seconds = time.perf_counter() - start
        backward_evals = func.evals - start_evals - forward_evals
        answer = {
            "seconds": seconds,
            "nfe_forward": forward_evals,
            "nfe_backward": backward_evals,
            "loss": loss.item(),
            "dz0": z0.grad.reshape(-1).tolist(),
        }
        if request.get("grad_out"):
            # Outside the timed region: the whole dL/dθ (and dL/dz0) for the agreement check.
            grads = {name: p.grad for name, p in func.named_parameters()}
            grads["z0"] = z0.grad
            write_weights(request["grad_out"], grads)
        return answer

    def train_start(self, request):
        """Full-batch training set-up: the model from a weight file, the data, Adam; `train_epoch` runs epochs."""
        weights = read_weights(request["weights"])
        func = MlpDynamics(int(request["dim"]), [int(w) for w in request["hidden"]], request.get("time", "concat"))
        func.load(weights)
        func.to(self.device)
        x = torch.tensor(request["x"], dtype=torch.float32, device=self.device)
        # z0 = [x, 0 ... 0]: the data followed by the augmented zeros.
        z0 = torch.cat([x, torch.zeros(x.shape[0], int(request["dim"]) - x.shape[1], device=self.device)], dim=1)
        betas = tuple(request.get("betas", (0.9, 0.999)))
        self.training = {
            "func": func,
            "z0": z0,
            "target": torch.tensor(request["target"], dtype=torch.float32, device=self.device),
            "t": torch.tensor([0.0, float(request["t1"])], dtype=torch.float32, device=self.device),
            "optimizer": torch.optim.Adam(func.parameters(), lr=request["lr"], betas=betas, eps=request.get("eps", 1e-8)),
            "method": request["method"],
            "rtol": request["rtol"],
            "atol": request["atol"],
        }
        return {"params": sum(p.numel() for p in func.parameters())}

    def train_epoch(self, request):
        """One epoch of the training `train_start` set up: one gradient by its method and one Adam step."""
        if self.training is None:
            raise RuntimeError("no training set up: send a 'train_start' request first")
        tr = self.training
        func, target = tr["func"], tr["target"]
        start_evals = func.evals
        self._sync()
        start = time.perf_counter()
        tr["optimizer"].zero_grad(set_to_none=True)
        states = self._solve(tr["method"], func, tr["z0"], tr["t"], tr["rtol"], tr["atol"])
        forward_evals = func.evals - start_evals
        # MSE on the first out_dim components at the last time, as quadjoint's "slice" head + mse.
        loss = ((states[-1][:, : target.shape[1]] - target) ** 2).mean()
        loss.backward()
        tr["optimizer"].step()
        self._sync()
        seconds = time.perf_counter() - start
        return {
            "seconds": seconds,
            "loss": loss.item(),
            "nfe_forward": forward_evals,
            "nfe_backward": func.evals - start_evals - forward_evals,
        }

    # --- solving --------------------------------------------------------------------------------

    def _solve(self, method, func, z0, t, rtol, atol):
        """The states at t (shape [len(t), *z0.shape]) by one of METHODS; backward() gives the gradients."""
        common = dict(rtol=float(rtol), atol=float(atol), method="dopri5")
        if method == "direct":
            return torchdiffeq.odeint(func, z0, t, **common)
        if method == "adjoint":
            return torchdiffeq.odeint_adjoint(func, z0, t, **common)
        if method == "seminorm":
            return torchdiffeq.odeint_adjoint(func, z0, t, adjoint_options=dict(norm="seminorm"), **common)
        if method == "gq":
            if self.gq is None:
                raise RuntimeError(f"the authors' GQ is unavailable ({self.gq_error})")
            return self.gq.odeint_adjoint_gq(func, z0, t, gtol=0.1, **common)
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_torch_arguments(parser)
    parser.add_argument("--gq-path", default=None, help="folder holding the authors' torch_gq_adjoint/ package")
    parser.add_argument("--device", default="cpu", help="torch device of the model and states: cpu or cuda[:N]")
    args = parser.parse_args()
    flushes = apply_torch_arguments(args)
    peers = Peers(args.threads, args.gq_path, flushes, args.device)
    handlers = {
        "hello": peers.hello,
        "model": peers.model,
        "gradient": peers.gradient,
        "train_start": peers.train_start,
        "train_epoch": peers.train_epoch,
    }
    serve(handlers)


if __name__ == "__main__":
    main()
