"""The fused kernels of softmax, log_softmax, layer_norm, batch_norm and cross_entropy against their
references (``minidl.reference_mode()``) and PyTorch, on the seed models' shapes, in one run.

    python benchmarks/bench_ops.py                 # every workload, forward+backward and forward
    python benchmarks/bench_ops.py softmax_attn    # some of them
    python benchmarks/bench_ops.py --repeats 40

Workloads (float32; torch on ``--threads`` threads, 1 by default: NumPy runs these elementwise
ops and reductions on one thread, and on a shared 2-core machine torch's second thread mostly
waits for a core, which made torch's figures 100x slower than its one-thread ones):
    softmax_act    softmax over the last dim of Transformer activations (32, 100, 64)
    softmax_attn   softmax over the last dim of attention scores (32·8 heads, 100, 100)
    log_softmax    log_softmax of the CNN logits (32, 10)
    layer_norm     layer_norm over 64 features of (32, 100, 64), with weight and bias
    batch_norm     batch_norm of the CNN's first feature maps (32, 32, 26, 26), training, affine
    batch_norm_eval  the same in evaluation (running statistics)
    cross_entropy  cross_entropy of the CNN logits (32, 10) against class indices, 'mean'

For each: the median milliseconds of the kernel, the reference and torch, for forward+backward
("train") and forward only without a graph ("infer"), and the ratios kernel/reference and
kernel/torch. A kernel is worth keeping where kernel/reference is clearly below 1.
"""

from __future__ import annotations

import argparse
import os
import sys

from _timing import in_reference_mode, median_ms, set_threads

set_threads(2)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import minidl  # noqa: E402
from minidl import functional as F  # noqa: E402


def _workloads(rng):
    """name -> (minidl op of the inputs, torch op of the inputs, input arrays, which need grad)."""
    t = rng.integers(0, 10, 32)
    act, scores = rng.standard_normal((32, 100, 64)), rng.standard_normal((256, 100, 100)) * 3
    maps = rng.standard_normal((32, 32, 26, 26))
    w64, b64 = rng.uniform(0.5, 2, 64), rng.standard_normal(64)
    w32, b32 = rng.uniform(0.5, 2, 32), rng.standard_normal(32)
    mean32, var32 = rng.standard_normal(32) * 0.1, rng.uniform(0.5, 2, 32)
    logits = rng.standard_normal((32, 10)) * 2
    return {
        "softmax_act": (lambda m, x: m.softmax(x, -1), (act,), (True,)),
        "softmax_attn": (lambda m, x: m.softmax(x, -1), (scores,), (True,)),
        "log_softmax": (lambda m, x: m.log_softmax(x, -1), (logits,), (True,)),
        "layer_norm": (lambda m, x, w, b: m.layer_norm(x, (64,), w, b), (act, w64, b64), (True, True, True)),
        "batch_norm": (lambda m, x, w, b, rm, rv: m.batch_norm(x, rm, rv, w, b, True),
                       (maps, w32, b32, mean32, var32), (True, True, True, False, False)),
        "batch_norm_eval": (lambda m, x, w, b, rm, rv: m.batch_norm(x, rm, rv, w, b, False),
                            (maps, w32, b32, mean32, var32), (True, True, True, False, False)),
        "cross_entropy": (lambda m, x, t: m.cross_entropy(x, t), (logits, t), (True, False)),
    }


def _minidl_steps(op, arrays, grads):
    xs = [minidl.tensor(a.astype(np.float32) if a.dtype.kind == "f" else a, requires_grad=g)
          for a, g in zip(arrays, grads)]
    out = op(F, *xs)
    upstream = minidl.tensor(np.random.default_rng(1).standard_normal(out.shape).astype(np.float32))

    def train():
        for x in xs:
            x.grad = None
        op(F, *xs).backward(upstream)

    def infer():
        with minidl.no_grad():
            op(F, *xs)

    return train, infer


def _torch_steps(torch, op, arrays, grads):
    xs = [torch.tensor(a.astype(np.float32) if a.dtype.kind == "f" else a, requires_grad=g)
          for a, g in zip(arrays, grads)]
    out = op(torch.nn.functional, *xs)
    upstream = torch.tensor(np.random.default_rng(1).standard_normal(tuple(out.shape)).astype(np.float32))

    def train():
        for x in xs:
            x.grad = None
        op(torch.nn.functional, *xs).backward(upstream)

    def infer():
        with torch.no_grad():
            op(torch.nn.functional, *xs)

    return train, infer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="workloads to run (default: all)")
    parser.add_argument("--repeats", type=int, default=21, help="timed calls per implementation and mode")
    parser.add_argument("--threads", type=int, default=1, help="torch's intra-op threads")
    args = parser.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    workloads = _workloads(np.random.default_rng(0))
    names = args.names or list(workloads)
    unknown = sorted(set(names) - set(workloads))
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {sorted(workloads)}")
    print(f"{'workload':<16} {'mode':<6} {'kernel ms':>10} {'reference':>10} {'torch':>8}"
          f" {'kernel/ref':>11} {'kernel/torch':>13} {'ref/torch':>10}")
    for name in names:
        op, arrays, grads = workloads[name]
        ours = _minidl_steps(op, arrays, grads)
        theirs = _torch_steps(torch, op, arrays, grads) if torch is not None else (None, None)
        for mode, fast, ref_step, torch_step in zip(("train", "infer"), ours, ours, theirs):
            fns = [fast, in_reference_mode(ref_step)] + ([torch_step] if torch_step else [])
            ms = median_ms(fns, args.repeats) + ([] if torch_step else [float("nan")])
            k, r, t = ms
            print(f"{name:<16} {mode:<6} {k:>10.3f} {r:>10.3f} {t:>8.3f} {k / r:>11.2f} {k / t:>13.2f} {r / t:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
