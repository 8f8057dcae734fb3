"""Time the convolution and pooling layers of the seed CNN, minidl against PyTorch, in one run.

Seed CNN (batch 32, 1x28x28): Conv 32 3x3 + ReLU, MaxPool 2, Conv 64 3x3 + ReLU, MaxPool 2,
Flatten, Linear 1600->128 + ReLU, Linear 128->10. Each row times forward + backward (random
upstream gradient) of one piece, as the median of several runs after a warm-up; both libraries
use 2 CPU threads. When minidl.nn and minidl.optim provide the layers, the full training step
(cross-entropy, backward, Adam) is timed too. minidl keeps freed host memory in the heap
(``minidl.backend.retain_host_memory``); run with MINIDL_RETAIN_HOST_MEMORY=0 to see the steps
without it, when every step faults its arrays in again.

    .venv/bin/python benchmarks/bench_conv.py [--repeats 30] [--batch 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def _set_threads(n: int):
    # BLAS reads these when NumPy is first imported, so they are set before any import of it
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def median_times(fns, repeats, rounds=5):
    """Median and minimum seconds of each function. The functions take turns in blocks (``rounds``
    blocks each): a busy spell on the machine then slows all of them alike, while within a block
    only one library's thread pool is awake (two pools spinning at once would fight for the cores)."""
    times = [[] for _ in fns]
    per_round = max(1, repeats // rounds)
    for _ in range(rounds):
        for fn, ts in zip(fns, times):
            # a quarter second of warm-up: the other library's idle threads stop spinning
            # (OpenBLAS and OpenMP workers busy-wait for a while after their last task)
            start = time.perf_counter()
            while time.perf_counter() - start < 0.25:
                fn()
            for _ in range(per_round):
                start = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - start)
    return [(statistics.median(ts), min(ts)) for ts in times]


def cases(batch):
    """(name, make_minidl_fn, make_torch_fn) for each timed piece; each make_* returns a closure."""
    import numpy as np
    import torch

    import minidl
    from minidl import functional as F

    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    w1 = (rng.standard_normal((32, 1, 3, 3)) / 3).astype(np.float32)
    b1 = np.zeros(32, np.float32)
    w2 = (rng.standard_normal((64, 32, 3, 3)) / 17).astype(np.float32)
    b2 = np.zeros(64, np.float32)
    a1 = np.maximum(rng.standard_normal((batch, 32, 26, 26)), 0).astype(np.float32)  # a ReLU output
    p1 = rng.standard_normal((batch, 32, 13, 13)).astype(np.float32)
    a2 = np.maximum(rng.standard_normal((batch, 64, 11, 11)), 0).astype(np.float32)

    def md(a, grad):
        return minidl.tensor(a, requires_grad=grad)

    def th(a, grad):
        return torch.tensor(a, requires_grad=grad)

    def run(f, inputs, lib):
        def step():
            for t in inputs:
                t.grad = None
            y = f(*inputs)
            g = np.ones(y.shape, np.float32) / y.shape[0]
            y.backward(minidl.tensor(g) if lib == "minidl" else torch.from_numpy(g))

        return step

    def stack_md(x, w1, b1, w2, b2):
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1)), 2)
        return F.max_pool2d(F.relu(F.conv2d(h, w2, b2)), 2)

    def stack_th(x, w1, b1, w2, b2):
        tf = torch.nn.functional
        h = tf.max_pool2d(tf.relu(tf.conv2d(x, w1, b1)), 2)
        return tf.max_pool2d(tf.relu(tf.conv2d(h, w2, b2)), 2)

    tf = torch.nn.functional

    def pool_md(x):
        return F.max_pool2d(x, 2)

    def pool_th(x):
        return tf.max_pool2d(x, 2)

    specs = [
        ("conv1 1->32 3x3 (28x28)", (x0, False), (w1, True), (b1, True), F.conv2d, tf.conv2d),
        ("maxpool1 2x2 (32x26x26)", (a1, True), None, None, pool_md, pool_th),
        ("conv2 32->64 3x3 (13x13)", (p1, True), (w2, True), (b2, True), F.conv2d, tf.conv2d),
        ("maxpool2 2x2 (64x11x11)", (a2, True), None, None, pool_md, pool_th),
    ]
    out = []
    for name, *args, f_md, f_th in specs:
        arrays = [a for a in args if a is not None]
        out.append(
            (
                name,
                run(f_md, [md(a, g) for a, g in arrays], "minidl"),
                run(f_th, [th(a, g) for a, g in arrays], "torch"),
            )
        )
    stack = [(x0, False), (w1, True), (b1, True), (w2, True), (b2, True)]
    out.append(
        (
            "conv+relu+pool x2 stack",
            run(stack_md, [md(a, g) for a, g in stack], "minidl"),
            run(stack_th, [th(a, g) for a, g in stack], "torch"),
        )
    )
    full = _full_step(batch, rng)
    if full is not None:
        out.append(full)
    return out


def _full_step(batch, rng):
    """The whole seed-CNN training step, when minidl.nn and minidl.optim have what it needs."""
    import numpy as np
    import torch

    import minidl

    try:
        nn, optim = minidl.nn, __import__("minidl.optim", fromlist=["Adam"])
        needed = ("Sequential", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "CrossEntropyLoss")
        if not all(hasattr(nn, n) for n in needed) or not hasattr(optim, "Adam"):
            return None
    except ImportError:
        return None
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    t = rng.integers(0, 10, batch)

    def build(lib_nn):
        return lib_nn.Sequential(
            lib_nn.Conv2d(1, 32, 3), lib_nn.ReLU(), lib_nn.MaxPool2d(2),
            lib_nn.Conv2d(32, 64, 3), lib_nn.ReLU(), lib_nn.MaxPool2d(2),
            lib_nn.Flatten(), lib_nn.Linear(1600, 128), lib_nn.ReLU(), lib_nn.Linear(128, 10),
        )  # fmt: skip

    def stepper(model, opt, loss_fn, xs, ts):
        def step():
            opt.zero_grad()
            loss_fn(model(xs), ts).backward()
            opt.step()

        return step

    m_md = build(minidl.nn)
    m_th = build(torch.nn)
    return (
        "full training step (Adam)",
        stepper(m_md, optim.Adam(m_md.parameters(), lr=1e-3), minidl.nn.CrossEntropyLoss(),
                minidl.tensor(x), minidl.tensor(t)),
        stepper(m_th, torch.optim.Adam(m_th.parameters(), lr=1e-3), torch.nn.CrossEntropyLoss(),
                torch.from_numpy(x), torch.from_numpy(t)),
    )  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    _set_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    print(f"batch {args.batch}, {args.threads} threads, {args.repeats} runs each (forward + backward)")
    print(f"{'':<28} {'--------- median ---------':>28}   {'---------- min -----------':>28}")
    columns = f"{'minidl ms':>10} {'torch ms':>10} {'ratio':>6}"
    print(f"{'piece':<28} {columns}   {columns}")
    for name, f_md, f_th in cases(args.batch):
        (m_md, lo_md), (m_th, lo_th) = median_times([f_md, f_th], args.repeats)
        print(
            f"{name:<28} {m_md * 1e3:10.2f} {m_th * 1e3:10.2f} {m_md / m_th:6.2f}   "
            f"{lo_md * 1e3:10.2f} {lo_th * 1e3:10.2f} {lo_md / lo_th:6.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    sys.exit(main())
