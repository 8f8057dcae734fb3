"""Collectives on Tensors and arrays, with ``torch.distributed``'s names and argument order.

With p ranks holding x_0, ..., x_{p−1} (same shape and dtype on every rank):

    all_reduce(t, op=SUM)               t ← x_0 + x_1 + ... + x_{p−1} on every rank, in place
    broadcast(t, src)                   t ← x_src on every rank, in place
    all_gather(tensor_list, t)          tensor_list[r] ← x_r on every rank
    all_gather_into_tensor(out, t)      out ← concat_r x_r along dim 0   (out: (p·N, ...))
    reduce_scatter_tensor(out, t, op)   out ← the r-th of p equal dim-0 blocks of Σ_r x_r  (t: (p·N, ...))
    reduce_scatter(out, input_list, op) out ← Σ_r input_list_r[rank]

Each one copies its Tensor's values into one contiguous NumPy buffer (from the GPU if that is
where they are), hands the buffer to MPI (``Allreduce`` with ``MPI.IN_PLACE``, ``Bcast``,
``Allgather``, ``Reduce_scatter_block``: the buffer interface, no pickle) and writes the result
back. They are not recorded by autograd (as in PyTorch). float16 travels as float32 (MPI has no
half type), bool as uint8.
"""

from __future__ import annotations

import numpy

from .. import backend
from ..tensor import Tensor
from .process_group import ReduceOp, resolve

_KINDS = "fiub"


def _array_of(x, where, name="tensor"):
    if isinstance(x, Tensor):
        return x.array
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return x
    raise TypeError(f"{where}: {name} must be a Tensor or an array, got {type(x).__name__}")


def _wire_dtype(dtype, where):
    """The dtype a buffer of ``dtype`` travels in."""
    dtype = numpy.dtype(dtype)
    if dtype.kind not in _KINDS:
        raise TypeError(f"{where}: dtype {dtype} cannot be sent (numbers and bools only)")
    if dtype == numpy.float16:
        return numpy.dtype(numpy.float32)
    if dtype.kind == "b":
        return numpy.dtype(numpy.uint8)
    return dtype


def send_buffer(x, where, name="tensor"):
    """A contiguous host array with the values of ``x`` (no copy when ``x`` already is one)."""
    arr = _array_of(x, where, name)
    host = backend.as_numpy(arr)
    wire = _wire_dtype(host.dtype, where)
    if host.dtype == wire and host.flags.c_contiguous:
        return host
    return numpy.array(host, dtype=wire, order="C")  # keeps a 0-d array 0-d, as ascontiguousarray would not


def _writable(x, where):
    arr = _array_of(x, where)
    if isinstance(arr, numpy.ndarray) and not arr.flags.writeable:
        raise ValueError(f"{where}: the {type(x).__name__} of shape {arr.shape} is read-only; the result is "
                         "written into it in place")
    return arr


class _InPlace:
    """The buffer an in-place collective works on, and writing it back into ``x``."""

    def __init__(self, x, where):
        self.target = _writable(x, where)
        self.buf = send_buffer(x, where)
        self.direct = self.buf is self.target  # a contiguous NumPy array of a wire dtype: MPI writes into it

    def write_back(self, values=None):
        values = self.buf if values is None else values
        if values is self.target:
            return
        if values.dtype != self.target.dtype:
            values = values.astype(self.target.dtype)
        device = backend.device_of(self.target)
        self.target[...] = values.reshape(self.target.shape) if device == backend.CPU else \
            backend.to_device(values.reshape(self.target.shape), device)


def _check_op(op, dtype, where):
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{where}: op must be a ReduceOp (SUM, AVG, PRODUCT, MIN, MAX), got {op!r}")
    if op is ReduceOp.AVG and numpy.dtype(dtype).kind not in "fc":
        raise TypeError(f"{where}: ReduceOp.AVG needs a floating tensor, got {numpy.dtype(dtype)}")


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """``tensor ← op(x_0, ..., x_{p−1})`` on every rank, in place (``AVG``: the sum divided by p)."""
    g = resolve(group, "all_reduce")
    _no_async(async_op, "all_reduce")
    _check_op(op, _array_of(tensor, "all_reduce").dtype, "all_reduce")
    work = _InPlace(tensor, "all_reduce")
    g.allreduce(work.buf, op)
    if op is ReduceOp.AVG:
        work.buf /= g.size
    work.write_back()


def broadcast(tensor, src, group=None, async_op=False):
    """``tensor ← x_src`` on every rank, in place."""
    g = resolve(group, "broadcast")
    _no_async(async_op, "broadcast")
    _check_rank(src, g, "broadcast", "src")
    work = _InPlace(tensor, "broadcast")
    g.bcast(work.buf, src)
    work.write_back()


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """``output ← concat(x_0, ..., x_{p−1})`` along dim 0; output: (p·N, ...), input: (N, ...)."""
    g = resolve(group, "all_gather_into_tensor")
    _no_async(async_op, "all_gather_into_tensor")
    send = send_buffer(input_tensor, "all_gather_into_tensor", "input_tensor")
    out = _InPlace(output_tensor, "all_gather_into_tensor")
    _check_stacked(out.buf.shape, send.shape, g.size, "all_gather_into_tensor", "output_tensor", "input_tensor")
    _check_dtypes(out.target.dtype, _array_of(input_tensor, "").dtype, "all_gather_into_tensor")
    g.allgather(send, out.buf)
    out.write_back()


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """``tensor_list[r] ← x_r`` for every rank r (a list of p tensors shaped like ``tensor``)."""
    g = resolve(group, "all_gather")
    _no_async(async_op, "all_gather")
    if len(tensor_list) != g.size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} entries for a world of {g.size}")
    send = send_buffer(tensor, "all_gather")
    for i, t in enumerate(tensor_list):
        a = _writable(t, "all_gather")
        if tuple(a.shape) != send.shape:
            raise ValueError(f"all_gather: tensor_list[{i}] has shape {tuple(a.shape)}, the tensor {send.shape}")
    recv = numpy.empty((g.size, *send.shape), dtype=send.dtype)  # (p, *shape)
    g.allgather(send, recv)
    for t, values in zip(tensor_list, recv):
        _Target(t, "all_gather").write(values)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """``output ← block_rank(op_r x_r)``: the input (p·N, ...) reduced over ranks, then cut into p
    blocks along dim 0; rank r keeps block r, shaped (N, ...)."""
    g = resolve(group, "reduce_scatter_tensor")
    _no_async(async_op, "reduce_scatter_tensor")
    _check_op(op, _array_of(input, "reduce_scatter_tensor", "input").dtype, "reduce_scatter_tensor")
    send = send_buffer(input, "reduce_scatter_tensor", "input")
    out = _InPlace(output, "reduce_scatter_tensor")
    _check_stacked(send.shape, out.buf.shape, g.size, "reduce_scatter_tensor", "input", "output")
    g.reduce_scatter(send, out.buf, op)
    if op is ReduceOp.AVG:
        out.buf /= g.size
    out.write_back()


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """``output ← op_r input_list_r[rank]`` (``input_list``: p tensors shaped like ``output``)."""
    g = resolve(group, "reduce_scatter")
    if len(input_list) != g.size:
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} entries for a world of {g.size}")
    stacked = numpy.stack([send_buffer(t, "reduce_scatter", "input_list") for t in input_list])  # (p, *shape)
    reduce_scatter_tensor(output, stacked.reshape((-1,) + stacked.shape[2:]), op, g, async_op)  # (p·N, ...)


class _Target:
    def __init__(self, x, where):
        self.target = _writable(x, where)

    def write(self, values):
        device = backend.device_of(self.target)
        values = values.astype(self.target.dtype, copy=False)
        self.target[...] = values if device == backend.CPU else backend.to_device(values, device)


def _no_async(async_op, where):
    if async_op:
        raise NotImplementedError(f"{where}: async_op=True is not supported; collectives here are blocking")


def _check_rank(r, g, where, name):
    if isinstance(r, bool) or not isinstance(r, (int, numpy.integer)) or not 0 <= r < g.size:
        raise ValueError(f"{where}: {name}={r!r} is not a rank of a world of {g.size}")


def _check_dtypes(a, b, where):
    if numpy.dtype(a) != numpy.dtype(b):
        raise TypeError(f"{where}: output dtype {a} and input dtype {b} differ")


def _check_stacked(big, small, p, where, big_name, small_name):
    """``big`` must be ``small`` with dim 0 multiplied by p."""
    ok = len(big) == len(small) and len(big) > 0 and big[0] == p * small[0] and big[1:] == small[1:]
    if not ok:
        raise ValueError(f"{where}: {big_name} of shape {big} must be {small_name} of shape {small} with dim 0 "
                         f"times the world size {p}")
