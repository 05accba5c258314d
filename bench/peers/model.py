"""The MLP dynamics that quadjoint's `mlpDynamics()` builds, in torch.

quadjoint's graph (src/models/mlp.ts): with time "concat", x = Concat([z, t broadcast
to [batch, 1]], axis 1), with time "none" x = z; then Gemm layers l0, l1, ... with weights [out, in] (nn.Linear's layout) and
softplus between layers, none after the last. The parameter names match the
ONNX graph inputs ("l0.weight", "l0.bias", ...), so weights load by name.
"""

import torch
from torch import nn


class MlpDynamics(nn.Module):
    """dz/dt = MLP([z, t]) (or MLP(z) with time "none"), softplus hidden layers, counting its evaluations."""

    def __init__(self, state_dim, hidden, time="concat"):
        super().__init__()
        if time not in ("concat", "none"):
            raise ValueError(f"time must be 'concat' or 'none', got {time!r}")
        self.timed = time == "concat"
        sizes = [state_dim + (1 if self.timed else 0), *hidden, state_dim]
        self.layer_count = len(sizes) - 1
        for i in range(self.layer_count):
            setattr(self, f"l{i}", nn.Linear(sizes[i], sizes[i + 1]))
        # `nfe` is read and reset by the authors' odeint_adjoint_gq (it sizes the
        # quadrature from it); `evals` is ours and is never reset by a library.
        self.nfe = 0
        self.evals = 0

    def forward(self, t, z):
        self.nfe += 1
        self.evals += 1
        h = z
        if self.timed:
            # t is a 0-d tensor; append it as the last input column, like timeColumn().
            t_column = t.to(z.dtype).reshape(1, 1).expand(z.shape[0], 1)
            h = torch.cat([z, t_column], dim=1)
        for i in range(self.layer_count):
            h = getattr(self, f"l{i}")(h)
            if i < self.layer_count - 1:
                h = nn.functional.softplus(h)
        return h

    def load(self, weights):
        """Copies {name: tensor} into the parameters; every parameter must be given with its shape."""
        with torch.no_grad():
            for name, param in self.named_parameters():
                if name not in weights:
                    raise KeyError(f"weight file lacks parameter {name!r}")
                value = weights[name]
                if tuple(value.shape) != tuple(param.shape):
                    raise ValueError(f"parameter {name!r} has shape {tuple(value.shape)}, expected {tuple(param.shape)}")
                param.copy_(value)
