"""One optimizer step on the seed CNN's parameters, minidl against PyTorch in one run (float32, one thread).

    python benchmarks/bench_optim.py                 # Adam and SGD (momentum 0.9)
    python benchmarks/bench_optim.py --repeats 300

The parameters are those of the seed CNN (Conv 1->32 3x3, Conv 32->64 3x3, Linear 1600->128,
Linear 128->10: eight arrays, 225,034 numbers), each with a fixed random gradient; only
``optimizer.step()`` is timed (no forward, no backward). Prints the median time per step of each
library and the ratio minidl / torch.
"""

from __future__ import annotations

import argparse
import os
import sys

from _timing import median_times, set_threads

set_threads(1)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import minidl  # noqa: E402
from minidl import optim as moptim  # noqa: E402

# (shape of each parameter of the seed CNN, in model.parameters() order)
SEED_CNN_SHAPES = [(32, 1, 3, 3), (32,), (64, 32, 3, 3), (64,), (128, 1600), (128,), (10, 128), (10,)]

OPTIMIZERS = {
    "adam": ("Adam", dict(lr=1e-3)),
    "sgd": ("SGD", dict(lr=1e-3, momentum=0.9)),
}


def initial_values(seed=0):
    """Starting values and gradients (float32), the same for both libraries."""
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in SEED_CNN_SHAPES]
    grads = [rng.standard_normal(s).astype(np.float32) * 0.01 for s in SEED_CNN_SHAPES]
    return values, grads


def minidl_step(name, kwargs):
    values, grads = initial_values()
    params = [minidl.tensor(v, requires_grad=True) for v in values]
    for p, g in zip(params, grads):
        p.grad = minidl.tensor(g)
    return getattr(moptim, name)(params, **kwargs).step


def torch_step(torch, name, kwargs):
    values, grads = initial_values()
    params = [torch.tensor(v, requires_grad=True) for v in values]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g)
    return getattr(torch.optim, name)(params, **kwargs).step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", help=f"some of {', '.join(OPTIMIZERS)} (default: all)")
    parser.add_argument("--repeats", type=int, default=150)
    args = parser.parse_args(argv)
    unknown = [w for w in args.which if w not in OPTIMIZERS]
    if unknown:
        parser.error(f"unknown optimizer(s) {', '.join(unknown)}; choose from {', '.join(OPTIMIZERS)}")
    import torch

    torch.set_num_threads(1)
    print(f"{'step':<28} {'minidl ms':>10} {'torch ms':>10} {'ratio':>7}")
    for key in args.which or OPTIMIZERS:
        name, kwargs = OPTIMIZERS[key]
        ours, theirs = median_times([minidl_step(name, kwargs), torch_step(torch, name, kwargs)], args.repeats)
        label = f"{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
        print(f"{label:<28} {ours * 1e3:>10.3f} {theirs * 1e3:>10.3f} {ours / theirs:>7.2f}")


if __name__ == "__main__":
    main()
