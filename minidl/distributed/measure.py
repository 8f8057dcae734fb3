"""Measurements behind the cost model of notebooks/11_distributed.ipynb and
benchmarks/bench_distributed.py:

    mpiexec -n 2 python -m minidl.distributed.measure [--fast] [--model cnn|mlp] [--batch 64]

prints one JSON object (from rank 0) with

- ``exchange``: seconds for one ring step, every rank sending n bytes to its right neighbour
  while receiving n bytes from its left (``Sendrecv``), for a range of n; the fit t = α + β·n
  of those times (least squares, α and β kept ≥ 0) is the model's α and β;
- ``allreduce``: seconds for ``MPI_Allreduce`` and for ``ring_all_reduce`` of n float32 values,
  and the largest difference between their results;
- ``train``: data-parallel training of the seed CNN (Keras's MNIST convnet, in ``minidl.nn``;
  random inputs of MNIST's shape, which is all the speed depends on) or an MLP, with a global
  batch of B samples shared by the ranks: seconds per step, samples per second, and the seconds
  inside the gradient all-reduce.

Each time is the slowest rank's; the microbenchmarks keep the fastest repetition (disturbances by
other processes only add time), the training steps the median. ``run(p, ...)`` starts
this under ``mpiexec`` (or, for p = 1, in this process) and returns the dictionary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy

import minidl
from minidl import nn
from minidl.nn import functional as F

from .ddp import DistributedDataParallel
from .process_group import ReduceOp, default_group, destroy_process_group, init_process_group, run_mpiexec
from .ring import ring_all_reduce


def _slowest(g, seconds):
    """The largest of the ranks' times."""
    t = numpy.array([seconds])
    g.allreduce(t, ReduceOp.MAX)
    return float(t[0])


def _best_times(g, fns, repeats):
    """For each function, the fastest of ``repeats`` runs (each the slowest rank's time). The
    functions take turns, so that a disturbance (other processes on a shared machine only ever
    add time) does not fall on all the runs of one of them."""
    for fn in fns:  # warm-up: the first messages set up the shared-memory transport
        fn()
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            g.barrier()
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], _slowest(g, time.perf_counter() - t0))
    return best


def exchange_times(g, sizes, repeats):
    """Seconds of one ring step (send n bytes right, receive n bytes from the left) per size n."""
    right, left = (g.rank + 1) % g.size, (g.rank - 1) % g.size
    fns = []
    for n in sizes:
        send, recv = numpy.ones(n, dtype=numpy.uint8), numpy.empty(n, dtype=numpy.uint8)
        fns.append(lambda s=send, r=recv: g.sendrecv(s, right, r, left))
    return _best_times(g, fns, repeats)


def fit_alpha_beta(nbytes, seconds):
    """α, β ≥ 0 of t = α + β·n, fitted to the relative errors (weights 1/t), so that the small
    messages, which α decides, count as much as the large ones, which β decides."""
    n, t = numpy.asarray(nbytes, dtype=float), numpy.asarray(seconds, dtype=float)
    beta, alpha = numpy.polyfit(n, t, 1, w=1 / t)
    if alpha < 0:  # the latency cannot be negative: refit through the origin
        alpha, beta = 0.0, float(numpy.median(t / n))
    if beta < 0:
        alpha, beta = float(t.mean()), 0.0
    return float(alpha), float(beta)


def allreduce_times(g, sizes, repeats):
    """Seconds of MPI's Allreduce and of ring_all_reduce on n float32 values, per size, and the
    largest difference between their sums."""
    rows, fns = [], []
    for n in sizes:
        x = numpy.random.default_rng([g.rank, n]).standard_normal(n).astype(numpy.float32)
        a, b = x.copy(), x.copy()
        g.allreduce(a, ReduceOp.SUM)
        ring_all_reduce(b, g)
        rows.append({"n": int(n), "max_diff": float(numpy.abs(a - b).max()) if n else 0.0})
        mpi_buf, ring_buf = x.copy(), x.copy()  # reduced in place again and again: the sums double each time
        fns += [lambda v=mpi_buf: g.allreduce(v, ReduceOp.SUM), lambda v=ring_buf: ring_all_reduce(v, g)]
    times = _best_times(g, fns, repeats)
    for i, row in enumerate(rows):
        row["mpi_s"], row["ring_s"] = times[2 * i], times[2 * i + 1]
    return rows


def seed_cnn():
    """The seed CNN (225,034 parameters): (N, 1, 28, 28) -> conv 3x3 32, relu, pool 2 -> conv 3x3
    64, relu, pool 2 -> (N, 1600) -> dense 128, relu -> dense 10."""
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))


def mlp():
    """(N, 1, 28, 28) -> 784 -> 512 -> 512 -> 10."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 10))


def train_throughput(g, model="cnn", batch=64, steps=5, warmup=1):
    """Data-parallel SGD steps with a global batch of ``batch`` samples (batch/p per rank). Each
    step is timed in three parts: forward and backward (``compute_s``, with the update), waiting
    at a barrier for the slowest rank (``wait_s``: on shared cores the ranks drift apart) and the
    gradient reduction (``comm_s``: ``reduce_gradients()``, of which ``allreduce_s`` inside
    ``MPI_Allreduce``)."""
    if batch % g.size:
        raise ValueError(f"measure: the batch {batch} must divide among {g.size} ranks")
    minidl.manual_seed(0)
    ddp = DistributedDataParallel(seed_cnn() if model == "cnn" else mlp(), process_group=g)
    opt = minidl.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    rng = numpy.random.default_rng([1, g.rank])
    x = minidl.tensor(rng.standard_normal((batch // g.size, 1, 28, 28)).astype(numpy.float32))
    y = minidl.tensor(rng.integers(0, 10, batch // g.size))
    parts = []  # per step: (compute, wait, comm, MPI_Allreduce, whole step)
    for i in range(warmup + steps):
        inside = ddp.communication_seconds
        g.barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(ddp(x), y).backward()
        t1 = time.perf_counter()
        g.barrier()
        t2 = time.perf_counter()
        ddp.reduce_gradients()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        if i >= warmup:
            parts.append((t1 - t0 + t4 - t3, t2 - t1, t3 - t2, ddp.communication_seconds - inside, t4 - t0))
    compute_s, wait_s, comm_s, allreduce_s, step_s = (_slowest(g, float(numpy.median(c))) for c in zip(*parts))
    return {"model": model, "world_size": g.size, "batch": batch, "step_s": step_s, "samples_per_s": batch / step_s,
            "compute_s": compute_s, "wait_s": wait_s, "comm_s": comm_s, "allreduce_s": allreduce_s,
            "comm_share": comm_s / step_s,
            "parameters": int(sum(p.numel() for p in ddp.parameters())), "buckets": len(ddp.buckets)}


def measure(g, fast=False, model="cnn", batch=64, what=("exchange", "allreduce", "train")):
    """The dictionary described in the module's docstring (``exchange`` and ``allreduce`` need p ≥ 2)."""
    repeats = 10 if fast else 40
    out = {"world_size": g.size}
    if g.size > 1 and "exchange" in what:
        sizes = [2**k for k in range(0, 23, 2)]  # 1 B .. 4 MiB
        seconds = exchange_times(g, sizes, repeats)
        alpha, beta = fit_alpha_beta(sizes, seconds)
        out["exchange"] = {"bytes": sizes, "seconds": seconds, "alpha_s": alpha, "beta_s_per_byte": beta}
    if g.size > 1 and "allreduce" in what:
        sizes = [0, 10, 1000, 100_000] + ([] if fast else [1_000_000, 4_000_000])
        out["allreduce"] = allreduce_times(g, sizes, repeats)
    if "train" in what:
        out["train"] = train_throughput(g, model, batch, steps=3 if fast else 10)
    return out


ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(p, fast=False, model="cnn", batch=64, what=("exchange", "allreduce", "train"), timeout=600):
    """``measure`` in p new processes with one BLAS thread each (the cores are what the ranks
    share): ``mpiexec -n p`` for p > 1, one plain process with a ``"local"`` group for p = 1
    (no MPI needed). Returns the dictionary rank 0 printed."""
    args = [sys.executable, "-m", "minidl.distributed.measure", "--model", model, "--batch", str(batch),
            "--what", ",".join(what)] + (["--fast"] if fast else [])
    env = {**os.environ, **ONE_THREAD}
    if p == 1:
        done = subprocess.run([*args, "--local"], capture_output=True, text=True, timeout=timeout, env=env)
    else:
        done = run_mpiexec(p, *args, timeout=timeout, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"measure: {p} process(es) failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def main(argv):
    opts = {"--model": "cnn", "--batch": "64", "--what": "exchange,allreduce,train"}
    for i, a in enumerate(argv):
        if a in opts:
            opts[a] = argv[i + 1]
    init_process_group("local" if "--local" in argv else "mpi")
    g = default_group()
    out = measure(g, "--fast" in argv, opts["--model"], int(opts["--batch"]), tuple(opts["--what"].split(",")))
    if g.rank == 0:
        print(json.dumps(out), flush=True)
    destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
