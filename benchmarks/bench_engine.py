"""Engine overhead: microseconds per tiny op, minidl against PyTorch in the same run.

Every operand is 4x4 (or a 4-vector) and requires grad, so the time is almost all bookkeeping:
creating the output Tensor, recording the graph node, and in backward walking the graph and
accumulating gradients. Reported per op, as the median of ``--repeat`` timings of ``--number``
calls each:

    forward     y = op(a, b) with the graph recorded
    fwd+bwd     y = op(a, b); y.backward(g)          (one-op graph)
    chain/op    a chain of 100 ops, forward and backward, divided by 100

    python benchmarks/bench_engine.py             # about 20 s
    python benchmarks/bench_engine.py --quick     # a rough look in a few seconds

PyTorch runs with ``torch.set_num_threads(2)``; without PyTorch only minidl is timed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import minidl

try:
    import torch
except ImportError:  # the oracle is optional
    torch = None

CHAIN = 100


def median_us(fn, number, repeat):
    """Median over ``repeat`` runs of the time per call of ``fn`` (µs), each run ``number`` calls."""
    fn()  # warm up
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t0) / number * 1e6)
    return statistics.median(runs)


def workloads(lib):
    """The timed closures for one library: {name: (fn, calls per op)}."""
    if lib == "minidl":
        minidl.manual_seed(0)
        a = minidl.randn(4, 4, requires_grad=True)
        b = minidl.randn(4, 4, requires_grad=True)
        g = minidl.ones(4, 4)

        def backward(y):
            y.backward(g)
    else:
        torch.manual_seed(0)
        a = torch.randn(4, 4, requires_grad=True)
        b = torch.randn(4, 4, requires_grad=True)
        g = torch.ones(4, 4)

        def backward(y):
            y.backward(g)

    ops = {
        "add": lambda: a + b,
        "mul": lambda: a * b,
        "tanh": lambda: a.tanh(),
        "matmul": lambda: a @ b,
        "sum(dim)": lambda: a.sum(1),
        "getitem": lambda: a[1:3],
    }
    out = {}
    for name, op in ops.items():
        out[f"{name} forward"] = (op, 1)
        if name in ("add", "mul", "tanh", "matmul"):
            out[f"{name} fwd+bwd"] = (lambda op=op: backward(op()), 1)

    def chain_mul():
        h = a
        for _ in range(CHAIN):
            h = h * 1.001
        backward(h)

    def chain_mixed():
        h = a
        for _ in range(CHAIN // 4):
            h = (h @ b).tanh() * 0.5 + a
        backward(h)

    out["chain of mul (per op)"] = (chain_mul, CHAIN)
    out["chain matmul/tanh/mul/add (per op)"] = (chain_mixed, CHAIN)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000, help="calls per timing (chains: /100)")
    parser.add_argument("--repeat", type=int, default=7, help="timings per figure (the median is shown)")
    parser.add_argument("--quick", action="store_true", help="fewer calls, for a rough look")
    args = parser.parse_args(argv)
    if args.quick:
        args.number, args.repeat = 300, 3
    if torch is not None:
        torch.set_num_threads(2)

    ours = workloads("minidl")
    theirs = workloads("torch") if torch is not None else {}
    against = f" vs torch {torch.__version__} (2 threads)" if torch is not None else " (torch absent)"
    print(f"minidl {minidl.__version__}{against}")
    print(f"{'µs per op':38s} {'minidl':>10s} {'torch':>10s} {'ratio':>8s}")
    ratios = []
    for name, (fn, per) in ours.items():
        number = max(1, args.number // per)
        m = median_us(fn, number, args.repeat) / per
        if name in theirs:
            t = median_us(theirs[name][0], number, args.repeat) / per
            ratios.append(m / t)
            print(f"{name:38s} {m:10.2f} {t:10.2f} {m / t:7.1f}x")
        else:
            print(f"{name:38s} {m:10.2f} {'-':>10s} {'-':>8s}")
    if ratios:
        print(f"{'geometric mean of the ratios':38s} {'':10s} {'':10s} {statistics.geometric_mean(ratios):7.1f}x")


if __name__ == "__main__":
    main()
