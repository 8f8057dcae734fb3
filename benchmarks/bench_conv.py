"""Time the seed CNN's convolution and pooling layers: kernel, reference and PyTorch, in one run.

Seed CNN (batch 32, 1x28x28): Conv 32 3x3 + ReLU, MaxPool 2, Conv 64 3x3 + ReLU, MaxPool 2,
Flatten, Linear 1600->128 + ReLU, Linear 128->10. Each piece is timed in training (forward +
backward of a random upstream gradient) and in inference (forward under no_grad), as the median
of several runs after a warm-up, both libraries on the same number of CPU threads. Columns:

    kernel     the fast kernel of minidl/kernels/conv.py, called directly (single layers only)
    minidl     what minidl runs by default (the kernel where its ``when`` picks it, else the reference)
    reference  the same under minidl.reference_mode(): unfold + matmul / max of minidl/functional/conv.py
    torch      torch.nn.functional

The ``when`` tests in minidl/kernels/conv.py are chosen from the kernel/reference column.

    .venv/bin/python benchmarks/bench_conv.py [--repeats 20] [--batch 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from _timing import median_times, set_threads


def _layers(batch):
    """(name, arrays with requires_grad flags, minidl fn, kernel fn or None, torch fn) per piece."""
    import numpy as np
    import torch

    from minidl import functional as F
    from minidl.kernels import conv as K

    rng = np.random.default_rng(0)

    def arr(*shape, scale=1.0, relu=False):
        a = rng.standard_normal(shape) * scale
        return (np.maximum(a, 0) if relu else a).astype(np.float32)

    tf = torch.nn.functional
    conv1 = [(arr(batch, 1, 28, 28), False), (arr(32, 1, 3, 3, scale=1 / 3), True), (arr(32, scale=0.1), True)]
    conv2 = [(arr(batch, 32, 13, 13), True), (arr(64, 32, 3, 3, scale=1 / 17), True), (arr(64, scale=0.1), True)]

    def stack(f, conv):
        def net(x, w1, b1, w2, b2):
            h = f.max_pool2d(f.relu(conv(x, w1, b1)), 2)
            return f.max_pool2d(f.relu(conv(h, w2, b2)), 2)

        return net

    return [
        ("conv1 1->32 3x3 (28x28)", conv1, F.conv2d, K.channels_last_conv2d, tf.conv2d),
        ("maxpool1 2x2 (32x26x26)", [(arr(batch, 32, 26, 26, relu=True), True)],
         lambda x: F.max_pool2d(x, 2), lambda x: K.strided_max_pool2d(x, 2), lambda x: tf.max_pool2d(x, 2)),
        ("conv2 32->64 3x3 (13x13)", conv2, F.conv2d, K.channels_last_conv2d, tf.conv2d),
        ("maxpool2 2x2 (64x11x11)", [(arr(batch, 64, 11, 11, relu=True), True)],
         lambda x: F.max_pool2d(x, 2), lambda x: K.strided_max_pool2d(x, 2), lambda x: tf.max_pool2d(x, 2)),
        ("conv+relu+pool x2", conv1 + conv2[1:], stack(F, F.conv2d), None, stack(tf, tf.conv2d)),
    ]  # fmt: skip


def _step(fn, arrays, lib, train, reference=False):
    """A closure that runs ``fn`` once on fresh leaves: forward + backward, or forward in no_grad."""
    import numpy as np
    import torch

    import minidl

    make = minidl.tensor if lib == "minidl" else torch.tensor
    leaves = [make(a, requires_grad=g and train) for a, g in arrays]
    mode = minidl.reference_mode(reference) if lib == "minidl" else contextlib.nullcontext()
    no_grad = minidl.no_grad if lib == "minidl" else torch.no_grad
    upstream = {}

    def step():
        with mode:
            if not train:
                with no_grad():
                    return fn(*leaves)
            for t in leaves:
                t.grad = None
            y = fn(*leaves)
            if y.shape not in upstream:
                g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
                upstream[y.shape] = minidl.tensor(g) if lib == "minidl" else torch.from_numpy(g)
            y.backward(upstream[y.shape])

    return step


def _training_steps(batch):
    """The whole seed-CNN training step (cross-entropy, backward, Adam): minidl by default, minidl in
    reference mode, torch."""
    import numpy as np
    import torch

    import minidl

    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, batch)
    steps = []
    for lib_nn, optim, make in ((minidl.nn, minidl.optim, minidl.tensor), (torch.nn, torch.optim, torch.from_numpy)):
        model = lib_nn.Sequential(
            lib_nn.Conv2d(1, 32, 3), lib_nn.ReLU(), lib_nn.MaxPool2d(2), lib_nn.Conv2d(32, 64, 3), lib_nn.ReLU(),
            lib_nn.MaxPool2d(2), lib_nn.Flatten(), lib_nn.Linear(1600, 128), lib_nn.ReLU(), lib_nn.Linear(128, 10),
        )  # fmt: skip
        opt, loss_fn, xs, ts = optim.Adam(model.parameters(), lr=1e-3), lib_nn.CrossEntropyLoss(), make(x), make(t)

        def step(model=model, opt=opt, loss_fn=loss_fn, xs=xs, ts=ts):
            opt.zero_grad()
            loss_fn(model(xs), ts).backward()
            opt.step()

        steps.append(step)
    default, torch_step = steps

    def reference_step():
        with minidl.reference_mode():
            default()

    return [default, reference_step, torch_step]


def _table(title, rows):
    print(f"\n{title} (ms)")
    print(f"{'piece':<34} {'kernel':>8} {'minidl':>8} {'reference':>9} {'torch':>8}   "
          f"{'kern/ref':>8} {'md/torch':>8} {'ref/torch':>8}")  # fmt: skip
    for name, times in rows:
        kernel, default, ref, torch_ = (None if t is None else t * 1e3 for t in times)
        k = "" if kernel is None else f"{kernel:8.2f}"
        ratios = ("" if kernel is None else f"{kernel / ref:8.2f}") + f" {default / torch_:8.2f} {ref / torch_:8.2f}"
        print(f"{name:<34} {k:>8} {default:8.2f} {ref:9.2f} {torch_:8.2f}   {ratios:>26}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    set_threads(args.threads, force=True)
    import torch

    torch.set_num_threads(args.threads)
    print(f"batch {args.batch}, {args.threads} threads, {args.repeats} runs of each")
    medians, minima = [], []
    for train in (True, False):
        for name, arrays, f_md, f_kernel, f_th in _layers(args.batch):
            fns = [] if f_kernel is None else [_step(f_kernel, arrays, "minidl", train)]
            fns += [_step(f_md, arrays, "minidl", train), _step(f_md, arrays, "minidl", train, reference=True),
                    _step(f_th, arrays, "torch", train)]  # fmt: skip
            med, low = median_times(fns, args.repeats, rounds=4, warmup=0.1, with_minima=True)
            pad = [None] if f_kernel is None else []
            name = f"{name} {'train' if train else 'inference'}"
            medians.append((name, pad + med))
            minima.append((name, pad + low))
    med, low = median_times(_training_steps(args.batch), args.repeats, rounds=4, warmup=0.1, with_minima=True)
    medians.append(("full training step (Adam)", [None] + med))
    minima.append(("full training step (Adam)", [None] + low))
    _table("median", medians)
    _table("minimum (the steadier figure on a busy machine)", minima)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    sys.exit(main())
