"""Checks of minidl.distributed that need several processes; run them with

    mpiexec -n 2 python -m minidl.distributed._selftest        (one JSON line per rank)

or in one process (``python -m minidl.distributed._selftest --local``). Each check returns the
numbers it measured; tests/test_distributed.py asserts on them. The checks:

- ``ring``: ``ring_all_reduce`` against ``MPI_Allreduce`` (float64 and float32, sizes below p,
  odd, and large);
- ``collectives``: broadcast, all_gather, reduce_scatter and the AVG/MAX reductions against the
  values every rank can compute for itself;
- ``sampler``: the ranks' indices from ``DistributedSampler``, gathered: a partition of the
  padded order;
- ``ddp`` (p a divisor of 8): p ranks with B/p samples each against one process with all B (float64 MLP, SGD with
  momentum, ranks started from different parameters): the loss trajectories, and the largest
  parameter difference between the ranks; the same with ``no_sync`` accumulation;
- ``unused``: parameters that only some ranks, or none, produced a gradient for;
- ``keras``: ``fit`` with ``DistributedOptimizer``, ``BroadcastParameters`` and ``MetricAverage``
  on shards against one process's ``fit`` on the whole data.
"""

from __future__ import annotations

import json
import sys

import numpy

import minidl
from minidl import backend, nn
from minidl.distributed import (
    DistributedDataParallel,
    DistributedSampler,
    ReduceOp,
    all_gather,
    all_gather_into_tensor,
    all_reduce,
    broadcast,
    destroy_process_group,
    init_process_group,
    reduce_scatter_tensor,
    ring_all_reduce,
)
from minidl.distributed.process_group import default_group
from minidl.nn import functional as F


def check_ring(g):
    """Largest |ring − Allreduce| over sizes and dtypes."""
    worst = 0.0
    for dtype in (numpy.float64, numpy.float32):
        for n in (1, g.size + 1, 1001, 50_000):
            x = numpy.random.default_rng([g.rank, n]).standard_normal(n).astype(dtype)
            ring, mpi = x.copy(), x.copy()
            ring_all_reduce(ring, g)
            g.allreduce(mpi, ReduceOp.SUM)
            worst = max(worst, float(numpy.max(numpy.abs(ring - mpi)) / max(1.0, numpy.max(numpy.abs(mpi)))))
    return {"max_rel_diff": worst}


def check_collectives(g):
    """Each collective's result against what it must be (every rank knows every rank's input)."""
    p, r = g.size, g.rank
    inputs = [numpy.arange(6, dtype=numpy.float64).reshape(2, 3) * (q + 1) for q in range(p)]  # rank q's (2, 3)
    errors = {}
    t = minidl.tensor(inputs[r])
    all_reduce(t, ReduceOp.AVG, g)
    errors["all_reduce_avg"] = float(numpy.abs(backend.as_numpy(t.array) - sum(inputs) / p).max())
    t = minidl.tensor(inputs[r])
    all_reduce(t, ReduceOp.MAX, g)
    errors["all_reduce_max"] = float(numpy.abs(backend.as_numpy(t.array) - numpy.max(inputs, axis=0)).max())
    b = inputs[r].copy()
    broadcast(b, p - 1, g)
    errors["broadcast"] = float(numpy.abs(b - inputs[p - 1]).max())
    out = [minidl.zeros(2, 3, dtype=minidl.float64) for _ in range(p)]
    all_gather(out, minidl.tensor(inputs[r]), g)
    errors["all_gather"] = max(float(numpy.abs(backend.as_numpy(o.array) - i).max()) for o, i in zip(out, inputs))
    whole = numpy.zeros((2 * p, 3))
    all_gather_into_tensor(whole, inputs[r], g)
    errors["all_gather_into_tensor"] = float(numpy.abs(whole - numpy.concatenate(inputs)).max())
    mine = numpy.zeros((2, 3))
    reduce_scatter_tensor(mine, numpy.concatenate(inputs) + r, ReduceOp.SUM, g)  # rank q adds q to all p blocks
    expected = sum(numpy.concatenate(inputs) + q for q in range(p))[2 * r : 2 * r + 2]
    errors["reduce_scatter_tensor"] = float(numpy.abs(mine - expected).max())
    return errors


def check_sampler(g):
    """Every rank's indices, gathered: counts per index and per rank (n = 5p + 1, not a multiple of p)."""
    result, n = {}, 5 * g.size + 1
    for drop_last in (False, True):
        s = DistributedSampler(range(n), shuffle=True, seed=3, drop_last=drop_last)
        s.set_epoch(2)
        mine = numpy.array(list(s), dtype=numpy.int64)
        every = numpy.zeros((g.size, len(mine)), dtype=numpy.int64)  # (p, num_samples)
        g.allgather(mine, every)
        counts = numpy.bincount(every.reshape(-1), minlength=n)
        result["drop_last" if drop_last else "padded"] = {
            "n": n, "per_rank": len(mine), "distinct": int((counts > 0).sum()), "max_count": int(counts.max()),
            "order_matches": bool((every.T.reshape(-1) == s.order()[: every.size]).all()),
        }
    return result


# ---- training: p ranks with B/p samples against one process with B ---------------------------------
def _mlp(seed):
    minidl.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).double()


def _data(n=24):
    rng = numpy.random.default_rng(7)
    return rng.standard_normal((n, 5)), rng.integers(0, 3, n)


def _train(model, x, y, steps, batch, reduce=None, micro=1):
    """SGD with momentum for ``steps`` steps on consecutive batches; each batch in ``micro``
    micro-batches whose gradients accumulate. Returns the mean loss of every step."""
    opt = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for step in range(steps):
        xb, yb = x[step * batch : (step + 1) * batch], y[step * batch : (step + 1) * batch]
        opt.zero_grad()
        total = 0.0
        for m, (xm, ym) in enumerate(zip(numpy.array_split(xb, micro), numpy.array_split(yb, micro))):
            last = m == micro - 1
            with (reduce.no_sync() if reduce is not None and not last else _nothing()):
                loss = F.cross_entropy(model(minidl.tensor(xm)), minidl.tensor(ym))
                loss.backward()
                total += float(loss.array)
        if reduce is not None:
            reduce.reduce_gradients()
        opt.step()
        losses.append(total)
    return losses


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _flat(model):
    return numpy.concatenate([backend.as_numpy(p.array).reshape(-1) for p in model.parameters()])


def check_ddp(g, steps=4, batch=8, micro=1):
    """Loss trajectory of DDP (this rank's rows r, r+p, ... of each batch) against one process
    with the whole batches; largest parameter difference across the ranks afterwards."""
    x, y = _data(steps * batch)
    ddp = DistributedDataParallel(_mlp(seed=100 + g.rank), bucket_cap_mb=0.001, process_group=g)  # small buckets
    start = _flat(ddp.module).copy()
    mine = numpy.arange(len(x)).reshape(steps, batch)[:, g.rank :: g.size].reshape(-1)  # (steps·B/p,)
    local = _train(ddp, x[mine], y[mine], steps, batch // g.size, ddp, micro)
    ranks_loss = numpy.array(local)
    all_reduce(ranks_loss, ReduceOp.AVG, g)  # the mean of the halves' means: the whole batch's mean
    single = _mlp(seed=0)
    with minidl.no_grad():
        offset = 0
        for p in single.parameters():  # the start rank 0 broadcast
            p.array[...] = start[offset : offset + p.numel()].reshape(p.shape)
            offset += p.numel()
    whole = _train(single, x, y, steps, batch, None, micro)
    params = _flat(ddp.module)
    every = numpy.zeros((g.size, params.size))
    g.allgather(params, every)
    return {"ranks_loss": ranks_loss.tolist(), "single_loss": whole, "buckets": len(ddp.buckets),
            "max_loss_diff": float(numpy.abs(ranks_loss - numpy.asarray(whole)).max()),
            "max_param_diff_across_ranks": float(numpy.abs(every - every[0]).max()),
            "max_param_diff_to_single": float(numpy.abs(params - _flat(single)).max())}


def check_unused(g):
    """Three heads: ``a`` used by every rank, ``b`` by rank 0 only, ``c`` by none. Returns the
    error of b's gradient against rank 0's gradient / p, and which gradients are None."""
    minidl.manual_seed(1)
    heads = nn.ModuleDict({"a": nn.Linear(3, 2), "b": nn.Linear(3, 2), "c": nn.Linear(3, 2)}).double()
    ddp = DistributedDataParallel(heads, process_group=g)
    x = minidl.tensor(numpy.full((4, 3), 1.0 + g.rank))
    loss = heads["a"](x).sum() + (heads["b"](x).sum() if g.rank == 0 else 0.0)
    loss.backward()
    mine_b = None if heads["b"].weight.grad is None else backend.as_numpy(heads["b"].weight.grad.array).copy()
    ddp.reduce_gradients()
    rank0_b = numpy.zeros((2, 3)) if mine_b is None else mine_b
    broadcast(rank0_b, 0, g)
    return {"b_error": float(numpy.abs(backend.as_numpy(heads["b"].weight.grad.array) - rank0_b / g.size).max()),
            "none": sorted(n for n, p in heads.named_parameters() if p.grad is None)}


def check_keras(g, epochs=3, batch=8):
    """``fit`` on p shards with batch B/p against ``fit`` on all the data with batch B."""
    from minidl import keras

    from . import keras as dist_keras

    rng = numpy.random.default_rng(11)
    x, y = rng.standard_normal((32, 4)).astype("float32"), rng.integers(0, 3, 32)

    def model(seed):
        minidl.manual_seed(seed)
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)])
        return m

    m = model(200 + g.rank)
    m.compile(optimizer=dist_keras.DistributedOptimizer(keras.optimizers.SGD(0.1, momentum=0.9)),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    xr, yr = dist_keras.shard(x, y)
    hist = m.fit(xr, yr, batch_size=batch // g.size, epochs=epochs, shuffle=False, verbose=0,
                 callbacks=[dist_keras.BroadcastParameters(), dist_keras.MetricAverage()])
    start = model(200)  # rank 0's start, which BroadcastParameters gave every rank
    start.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    single = start.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False, verbose=0)
    w = numpy.concatenate([a.reshape(-1) for a in m.get_weights()]).astype(numpy.float64)
    every = numpy.zeros((g.size, w.size))
    g.allgather(w, every)
    ws = numpy.concatenate([a.reshape(-1) for a in start.get_weights()])
    return {"ranks_loss": hist.history["loss"], "single_loss": single.history["loss"],
            "max_weight_diff_across_ranks": float(numpy.abs(every - every[0]).max()),
            "max_weight_diff_to_single": float(numpy.abs(w - ws).max()),
            "optimizer_class": type(m.optimizer).__name__}


def main(argv):
    init_process_group("local" if "--local" in argv else "mpi")
    g = default_group()
    report = {"rank": g.rank, "world_size": g.size, "ring": check_ring(g), "collectives": check_collectives(g),
              "sampler": check_sampler(g), "ddp": check_ddp(g), "ddp_no_sync": check_ddp(g, micro=2),
              "unused": check_unused(g)}
    if "--no-keras" not in argv:
        report["keras"] = check_keras(g)
    print(json.dumps(report), flush=True)
    destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
