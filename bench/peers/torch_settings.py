"""Torch's thread count and subnormal mode for the peer servers, set to match quadjoint's runtime."""

import torch


def add_torch_arguments(parser) -> None:
    """Adds --threads and --flush-denormals to a server's argument parser."""
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (quadjoint's ORT threads)")
    parser.add_argument("--flush-denormals", type=int, choices=(0, 1), default=1,
                        help="torch.set_flush_denormal: 1 flushes subnormals to zero, as quadjoint's runtime does by default")


def apply_torch_arguments(args) -> bool:
    """Sets torch's threads (one inter-op thread) and subnormal mode; returns whether subnormals are flushed."""
    torch.set_num_threads(args.threads)
    # False where the CPU cannot flush (no SSE3): the servers' hello reports what took effect.
    flushes = torch.set_flush_denormal(args.flush_denormals == 1) and args.flush_denormals == 1
    torch.set_num_interop_threads(1)
    return flushes
