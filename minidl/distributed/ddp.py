"""Data-parallel training: every rank holds the whole model, computes the gradient of its own part
of the batch, and the ranks average their gradients before each update.

With p ranks, rank r's loss L_r the mean over its B/p samples, and equal shares,

    ∇L = (1/B) Σ_i ∇ℓ_i = (1/p) Σ_r ∇L_r,

so p ranks with B/p samples each take the same step as one process with all B samples, as long
as they start from the same parameters (broadcast from rank 0 at construction) and apply the same
update to the same averaged gradient.

**When the gradients are reduced.** PyTorch's DDP hooks into autograd: each parameter's gradient,
once accumulated, marks its bucket ready, and a full bucket is all-reduced while the backward
pass goes on. minidl's autograd has no per-parameter hooks, so here the reduction is an explicit
step after the backward pass::

    loss = loss_fn(ddp(x), y)
    loss.backward()
    ddp.reduce_gradients()     # average every .grad over the ranks, bucket by bucket
    optimizer.step()

Nothing overlaps: the all-reduce starts when the backward has finished. The buckets are still
worth it: one ``MPI_Allreduce`` per bucket of up to ``bucket_cap_mb`` MiB costs one latency α
instead of one per parameter (notebooks/11_distributed.ipynb, the cost model α + β·n).
"""

from __future__ import annotations

import contextlib
import time

import numpy

from .. import backend
from ..nn.module import Module
from ..tensor import Tensor
from .collectives import _wire_dtype, broadcast
from .process_group import ReduceOp, resolve


class Bucket:
    """Parameters of one dtype and device whose gradients travel in one flat buffer."""

    def __init__(self, dtype, device):
        self.dtype, self.device = numpy.dtype(dtype), device
        self.slots = []  # (index of the parameter, the parameter, start, stop) in the flat buffer
        self.numel = 0

    @property
    def nbytes(self):
        return self.numel * self.dtype.itemsize

    def add(self, index, p):
        n = int(numpy.prod(p.shape, dtype=numpy.int64))
        self.slots.append((index, p, self.numel, self.numel + n))
        self.numel += n


def plan_buckets(params, cap_bytes):
    """Buckets of at most ``cap_bytes`` (a larger parameter gets one of its own), filled in the
    reverse of the registration order (PyTorch's order: roughly the order in which the backward
    pass produces the gradients), one open bucket per (dtype, device)."""
    buckets, open_ = [], {}
    for index in reversed(range(len(params))):
        p = params[index]
        key = (numpy.dtype(p.dtype), p.device)
        b = open_.get(key)
        size = int(numpy.prod(p.shape, dtype=numpy.int64)) * key[0].itemsize
        if b is None or (b.numel and b.nbytes + size > cap_bytes):
            b = open_[key] = Bucket(*key)
            buckets.append(b)
        b.add(index, p)
    return buckets


class GradientReducer:
    """Averages the ``.grad`` of ``params`` over the ranks of ``group``, one all-reduce per bucket:
    ``g ← (1/p) Σ_r g_r``. A parameter no rank produced a gradient for keeps ``grad = None``; one
    that only some ranks did counts as zero on the others. Each bucket's buffer ends with one
    "has a gradient" flag (0 or 1) per parameter, summed with the gradients, so that telling
    costs no collective of its own. The new gradients are views of their bucket's buffer.
    ``communication_seconds`` adds up the time spent inside the bucket all-reduces."""

    def __init__(self, params, group, bucket_cap_mb=25):
        if not bucket_cap_mb > 0:
            raise ValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        self.params, self.group = list(params), group
        self.buckets = plan_buckets(self.params, int(bucket_cap_mb * 1024 * 1024))
        self.communication_seconds = 0.0

    def reduce(self):
        if self.group.size == 1:
            return  # the mean over one rank is its own gradient
        for bucket in self.buckets:
            self._reduce_bucket(bucket)

    def _reduce_bucket(self, bucket):
        g, k = self.group, len(bucket.slots)
        wire = _wire_dtype(bucket.dtype, "reduce_gradients")
        flat = numpy.zeros(bucket.numel + k, dtype=wire)  # (numel gradients + k flags,)
        for j, (_, p, start, stop) in enumerate(bucket.slots):
            if p.grad is not None:
                flat[start:stop] = backend.as_numpy(p.grad.array).reshape(-1)
                flat[bucket.numel + j] = 1
        t0 = time.perf_counter()
        g.allreduce(flat, ReduceOp.SUM)
        self.communication_seconds += time.perf_counter() - t0
        used = flat[bucket.numel :] > 0  # (k,): a gradient on some rank
        flat /= g.size
        for j, (_, p, start, stop) in enumerate(bucket.slots):
            if used[j]:
                grad = flat[start:stop].reshape(p.shape).astype(bucket.dtype, copy=False)
                p.grad = Tensor._make(backend.to_device(grad, bucket.device), False)


def broadcast_parameters(tensors, group, src=0):
    """Every tensor (parameters, buffers) takes rank ``src``'s values, after a check that every
    rank has as many tensors and elements (a mismatch would otherwise pair the wrong tensors)."""
    tensors = list(tensors)
    mine = numpy.array([len(tensors), sum(int(numpy.prod(t.shape)) for t in tensors)], dtype=numpy.int64)
    every = numpy.empty((group.size, 2), dtype=numpy.int64)  # (p, [tensors, elements])
    group.allgather(mine, every)
    if (every != mine).any():
        raise RuntimeError("the ranks' models differ ([tensors, elements] per rank: "
                           f"{every.tolist()}); build the same model on every rank")
    for t in tensors:
        broadcast(t, src, group)


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training (``torch.nn.parallel.DistributedDataParallel``).

    - At construction: checks that every rank has a model of the same size, then broadcasts
      every parameter and buffer from rank 0, so all ranks start alike.
    - ``forward``: the module's forward (and, with ``broadcast_buffers``, rank 0's buffers first,
      e.g. batch-norm running statistics, as PyTorch does).
    - ``reduce_gradients()`` after ``loss.backward()``: every gradient becomes the mean over the
      ranks, one all-reduce per bucket of up to ``bucket_cap_mb`` MiB (``GradientReducer``).
    - ``no_sync()``: inside it ``reduce_gradients()`` does nothing, so gradients accumulate
      locally over several backward passes; the first call after it averages the sums.

    ``communication_seconds`` adds up the time spent inside the all-reduces.
    """

    def __init__(self, module, bucket_cap_mb=25, process_group=None, broadcast_buffers=True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a minidl Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        self.module = module
        self.process_group = resolve(process_group, "DistributedDataParallel")
        self.bucket_cap_mb = bucket_cap_mb
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        try:
            broadcast_parameters([*module.parameters(), *module.buffers()], self.process_group)
        except RuntimeError as exc:
            raise RuntimeError(f"DistributedDataParallel: {exc}") from None
        self.reducer = GradientReducer([p for p in module.parameters() if p.requires_grad], self.process_group,
                                       bucket_cap_mb)

    @property
    def buckets(self):
        return self.reducer.buckets

    @property
    def communication_seconds(self):
        return self.reducer.communication_seconds

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and self.training and self.process_group.size > 1:
            for b in self.module.buffers():
                broadcast(b, 0, self.process_group)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Accumulate gradients locally: ``reduce_gradients()`` is skipped inside."""
        before = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = before

    def reduce_gradients(self):
        """Average every parameter's ``.grad`` over the ranks (call it after ``loss.backward()``)."""
        if self.require_backward_grad_sync:
            self.reducer.reduce()

    def extra_repr(self):
        return f"world_size={self.process_group.size}, buckets={len(self.buckets)}, bucket_cap_mb={self.bucket_cap_mb}"
