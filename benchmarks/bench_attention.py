"""Attention speed, minidl against PyTorch in one run (float32, 2 CPU threads).

    python benchmarks/bench_attention.py
    python benchmarks/bench_attention.py --repeats 40 sdpa

Workloads (forward + backward, a random upstream gradient):
  sdpa          scaled_dot_product_attention, Q, K, V of (32, 8, 100, 64)
  sdpa_causal   the same with is_causal=True
  composed      minidl's composed reference (matmul, softmax, matmul) against torch's fused op
  layer         one TransformerEncoderLayer(d_model 64, 8 heads, ffn 512, batch_first), seq 100,
                batch 32, training mode, dropout 0
  layer_drop    the same layer with the default dropout 0.1 (each framework draws its own masks)

The two frameworks run in alternating blocks, so that a busy machine slows both alike; the median
of each is printed with the ratio minidl / torch (target: at most 1.5 for sdpa and layer). On a
machine shared with other work the figures, the 2-thread BLAS ones most of all, are noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import minidl  # noqa: E402
import minidl.functional as MF  # noqa: E402
import minidl.nn as mnn  # noqa: E402

SHAPE = (32, 8, 100, 64)  # (N, H, L, D)
N, L, E, HEADS, FFN = 32, 100, 64, 8, 512


def _arrays(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


# ---- steps: each maker returns a zero-argument function that runs forward + backward ------------
def minidl_sdpa(fn=MF.scaled_dot_product_attention, **kw):
    *qkv, dy = _arrays([SHAPE] * 4)
    q, k, v = (minidl.tensor(a, requires_grad=True) for a in qkv)
    dy = minidl.tensor(dy)

    def step():
        q.grad = k.grad = v.grad = None
        fn(q, k, v, **kw).backward(dy)

    return step


def torch_sdpa(torch, **kw):
    *qkv, dy = _arrays([SHAPE] * 4)
    q, k, v = (torch.tensor(a, requires_grad=True) for a in qkv)
    dy = torch.tensor(dy)

    def step():
        q.grad = k.grad = v.grad = None
        torch.nn.functional.scaled_dot_product_attention(q, k, v, **kw).backward(dy)

    return step


def minidl_layer(dropout=0.0):
    layer = mnn.TransformerEncoderLayer(E, HEADS, dim_feedforward=FFN, dropout=dropout, batch_first=True)
    x, dy = _arrays([(N, L, E)] * 2)
    x, dy = minidl.tensor(x, requires_grad=True), minidl.tensor(dy)

    def step():
        layer.zero_grad()
        x.grad = None
        layer(x).backward(dy)

    return step


def torch_layer(torch, dropout=0.0):
    layer = torch.nn.TransformerEncoderLayer(E, HEADS, dim_feedforward=FFN, dropout=dropout, batch_first=True)
    x, dy = _arrays([(N, L, E)] * 2)
    x, dy = torch.tensor(x, requires_grad=True), torch.tensor(dy)

    def step():
        layer.zero_grad()
        x.grad = None
        layer(x).backward(dy)

    return step


WORKLOADS = {
    "sdpa": (minidl_sdpa, torch_sdpa, {}),
    "sdpa_causal": (minidl_sdpa, torch_sdpa, {"is_causal": True}),
    "composed": (lambda: minidl_sdpa(MF.scaled_dot_product_attention_composed), torch_sdpa, None),
    "layer": (minidl_layer, torch_layer, {}),
    "layer_drop": (lambda: minidl_layer(0.1), lambda torch: torch_layer(torch, 0.1), None),
}


def compare(step_a, step_b, repeats, rounds=4):
    """Median seconds of two steps, timed in alternating blocks of ``repeats // rounds`` runs.

    Blocks, not single steps, alternate: after a call each library's worker threads keep spinning
    for a while, and would steal the cores from the other library's next step. The first step
    of each block is a warm-up and is not counted."""
    times_a, times_b = [], []
    per_block = max(1, repeats // rounds)
    for _ in range(rounds):
        for step, times in ((step_a, times_a), (step_b, times_b)):
            step()
            for _ in range(per_block):
                t = time.perf_counter()
                step()
                times.append(time.perf_counter() - t)
    return statistics.median(times_a), statistics.median(times_b)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS), help=", ".join(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {list(WORKLOADS)}")
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    minidl.manual_seed(0)
    print(f"float32, 2 threads, median of {args.repeats} runs in 4 alternating blocks; numpy {np.__version__}, "
          f"torch {torch.__version__}")
    print(f"{'workload':<14}{'minidl ms':>11}{'torch ms':>11}{'ratio':>8}")
    for name in args.workloads:
        make_minidl, make_torch, kw = WORKLOADS[name]
        ours = make_minidl(**kw) if kw is not None else make_minidl()
        theirs = make_torch(torch, **kw) if kw is not None else make_torch(torch)
        t_ours, t_theirs = compare(ours, theirs, args.repeats)
        print(f"{name:<14}{t_ours * 1e3:>11.2f}{t_theirs * 1e3:>11.2f}{t_ours / t_theirs:>8.2f}")


if __name__ == "__main__":
    main()
