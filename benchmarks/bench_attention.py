"""Attention speed: minidl's fused kernel, minidl's reference (``minidl.reference_mode()``) and
PyTorch, in one run (float32, 2 CPU threads by default). This is the benchmark that decides whether the
kernel of minidl/kernels/attention.py stays.

    python benchmarks/bench_attention.py
    python benchmarks/bench_attention.py --repeats 30 sdpa layer
    python benchmarks/bench_attention.py --threads 1 --clock cpu   # CPU time: steadier on a busy machine

Workloads (forward + backward, a random upstream gradient):
  sdpa          scaled_dot_product_attention, Q, K, V of (32, 8, 100, 64) (the Transformer block's)
  sdpa_causal   the same with is_causal=True
  sdpa_mask     the same with a bool mask (100, 100)
  sdpa_small    Q, K, V of (2, 2, 8, 4): where per-op overhead is everything
  layer         the Transformer block: TransformerEncoderLayer(d_model 64, 8 heads, ffn 512,
                batch_first), seq 100, batch 32, training mode, dropout 0
  layer_drop    the same layer with the default dropout 0.1 (each framework draws its own masks)

For each: the median of the kernel (default mode), of the reference (the same step under
``reference_mode()``) and of PyTorch, with the ratios reference / kernel (what the kernel buys)
and kernel / torch. The three run in alternating blocks, each warmed up first, so that a busy
machine slows all alike; on a machine shared with other work the figures are still noisy.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from _timing import in_reference_mode, median_times, set_threads, threads_from_argv

THREADS = threads_from_argv()
set_threads(THREADS, force=True)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import minidl  # noqa: E402
import minidl.functional as MF  # noqa: E402
import minidl.nn as mnn  # noqa: E402

SHAPE = (32, 8, 100, 64)  # (N, H, L, D)
SMALL = (2, 2, 8, 4)
N, L, E, HEADS, FFN = 32, 100, 64, 8, 512


def _arrays(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _random_bool_mask(L):
    rng = np.random.default_rng(1)
    allowed = rng.random((L, L)) > 0.3
    allowed[:, 0] = True
    return allowed


# ---- steps: each maker returns a zero-argument function that runs forward + backward ------------
def sdpa_step(lib, shape, mask=None, **kw):
    """One forward + backward of ``lib``'s scaled_dot_product_attention (lib: minidl or torch)."""
    *qkv, dy = _arrays([shape] * 4)
    q, k, v = (lib.tensor(a, requires_grad=True) for a in qkv)
    dy = lib.tensor(dy)
    fn = MF.scaled_dot_product_attention if lib is minidl else lib.nn.functional.scaled_dot_product_attention
    if mask is not None:
        kw["attn_mask"] = lib.tensor(mask)

    def step():
        q.grad = k.grad = v.grad = None
        fn(q, k, v, **kw).backward(dy)

    return step


def layer_step(lib, dropout=0.0):
    nn = mnn if lib is minidl else lib.nn
    layer = nn.TransformerEncoderLayer(E, HEADS, dim_feedforward=FFN, dropout=dropout, batch_first=True)
    x, dy = _arrays([(N, L, E)] * 2)
    x, dy = lib.tensor(x, requires_grad=True), lib.tensor(dy)

    def step():
        layer.zero_grad()
        x.grad = None
        layer(x).backward(dy)

    return step


WORKLOADS = {
    "sdpa": lambda lib: sdpa_step(lib, SHAPE),
    "sdpa_causal": lambda lib: sdpa_step(lib, SHAPE, is_causal=True),
    "sdpa_mask": lambda lib: sdpa_step(lib, SHAPE, mask=_random_bool_mask(SHAPE[2])),
    "sdpa_small": lambda lib: sdpa_step(lib, SMALL),
    "layer": lambda lib: layer_step(lib),
    "layer_drop": lambda lib: layer_step(lib, 0.1),
}


# ---- timing ---------------------------------------------------------------------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS), help=", ".join(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and for NumPy's BLAS (default 2)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall-clock time (default) or the process's CPU time")
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {list(WORKLOADS)}")
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    minidl.manual_seed(0)
    print(f"float32, {args.threads} threads, {args.clock} clock, median of {args.repeats} runs in 3 alternating "
          f"blocks; numpy {np.__version__}, torch {torch.__version__}; load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} CPUs")
    header = f"{'kernel ms':>11}{'reference ms':>14}{'torch ms':>10}{'ref/kernel':>12}{'kernel/torch':>14}"
    print(f"{'workload':<13}{header}")
    for name in args.workloads:
        make = WORKLOADS[name]
        ours = make(minidl)
        kernel, reference, theirs = median_times([ours, in_reference_mode(ours), make(torch)], args.repeats,
                                                 clock=clock)
        print(f"{name:<13}{kernel * 1e3:>11.2f}{reference * 1e3:>14.2f}{theirs * 1e3:>10.2f}"
              f"{reference / kernel:>12.2f}{kernel / theirs:>14.2f}", flush=True)


if __name__ == "__main__":
    main()
