"""Reductions over ``dim`` (an int, a tuple, or None for all dims) with ``keepdim``.

Shapes: x is (D0, ..., Dn-1); y drops the reduced dims (or keeps them as 1 with keepdim).
Backward first puts ``dy`` back into the keepdim shape, then broadcasts it over the
reduced dims.

Notebook: notebooks/01_autograd.ipynb, section 1 (the sum in L = Σ (h − t)²) and section 3 (a
broadcast's gradient is a sum: the two are each other's backward).

PyTorch's conventions, followed here: ``dim=()`` or ``dim=[]`` reduces every dim; a 0-d tensor
accepts ``dim`` 0 or -1 and stays 0-d; integer and bool sums are int64; float16 sums, means
and variances accumulate in float32 and return float16.
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple

from ..autograd import Function
from ..backend import get_array_module
from ..dtypes import float16, float32, get_default_dtype, int64
from ..tensor import Tensor
from ._common import dropped_shape, normalize_dims, reduced_shape
from .elementwise import where


def _dims(x, dim, op):
    """``None`` (every dim) or a sorted tuple of non-negative dims, with PyTorch's rules:
    an empty tuple or list means every dim; on a 0-d tensor dim 0 and -1 mean the one element."""
    if dim is not None and not isinstance(dim, int) and len(tuple(dim)) == 0:
        return None
    dims = normalize_dims(dim, x.ndim, op)
    return None if x.ndim == 0 else dims


def _check_nonempty(x, dims, op):
    """max/min have no identity: reducing over a dim of size 0 is an error (PyTorch's rule);
    reducing the other dims of an empty tensor gives an empty result."""
    if dims is None and x.numel() == 0:
        raise IndexError(f"{op}: cannot reduce an empty tensor of shape {tuple(x.shape)} over all dims; "
                         "give a dim whose size is not 0")
    for d in dims or ():
        if x.shape[d] == 0:
            raise IndexError(f"{op}: cannot reduce over dim {d} of size 0 (input shape {tuple(x.shape)})")


class Sum(Function):
    """y = Σ_dim x        dL/dx = broadcast(dy)   (dy reshaped to keepdim shape, then expanded)

    Accumulates in ``acc`` (float32 for float16, int64 for integers and bools) and returns
    ``out`` dtype."""

    def forward(ctx, x, dims, keepdim, acc, out):
        ctx.in_shape = x.shape
        ctx.keep_shape = reduced_shape(x.shape, dims)
        y = x.sum(axis=dims, dtype=acc, keepdims=keepdim)
        return y if y.dtype == out else y.astype(out)

    def backward(ctx, dy):
        return dy.reshape(ctx.keep_shape).expand(ctx.in_shape), None, None, None, None


class Amax(Function):
    """y = max_dim x        dL/dx = dy · [x = y] / #ties   (ties share the gradient equally)"""

    largest = True

    def forward(ctx, x, dims, keepdim, nan_picks=False):
        y = x.max(axis=dims, keepdims=True) if ctx.largest else x.min(axis=dims, keepdims=True)
        mask = x == y
        if nan_picks:  # full max()/min() of PyTorch: a NaN result takes its gradient from the NaNs
            mask |= (x != x) & (y != y)
        ctx.weight = (mask / mask.sum(axis=dims, keepdims=True)).astype(x.dtype)
        ctx.keep_shape = y.shape
        return y if keepdim else y.reshape(dropped_shape(x.shape, dims))

    def backward(ctx, dy):
        return dy.reshape(ctx.keep_shape) * ctx.weight, None, None, None


class Amin(Amax):
    """y = min_dim x        dL/dx = dy · [x = y] / #ties"""

    largest = False


class LogSumExp(Function):
    """y = log Σ_dim exp(x), computed as m + log Σ exp(x − m) with m = max x (no overflow)
    dL/dx = dy · exp(x − y) = dy · softmax(x)        (an empty sum gives −inf)"""

    def forward(ctx, x, dims, keepdim):
        xp = ctx.xp
        ctx.keep_shape = reduced_shape(x.shape, dims)
        if _count(x.shape, dims) == 0:
            y = xp.full(ctx.keep_shape, -xp.inf, dtype=x.dtype)
        else:
            m = x.max(axis=dims, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)  # rows of -inf stay -inf instead of NaN
            s = xp.exp(x - m).sum(axis=dims, keepdims=True)
            empty = s == 0  # only where every element is -inf: log(0) would warn, the answer is -inf
            y = xp.where(empty, -xp.inf, xp.log(xp.where(empty, 1, s)) + m).astype(x.dtype, copy=False)
        out = y if keepdim else y.reshape(dropped_shape(x.shape, dims))
        ctx.save_for_backward(x, out)  # the returned array itself, so that y stays in the graph
        return out

    def backward(ctx, dy):
        x, y = ctx.saved_tensors
        return dy.reshape(ctx.keep_shape) * (x - y.reshape(ctx.keep_shape)).exp(), None, None


def _sum_dtypes(dtype):
    """(accumulator, result) dtypes of a sum, as in PyTorch."""
    if dtype.kind in "biu":
        return int64, int64
    if dtype == float16:
        return float32, float16
    return dtype, dtype


def sum(x, dim=None, keepdim=False):  # noqa: A001 - PyTorch's name
    """Sum over ``dim`` (all elements when None or ``()``). Integer and bool tensors sum to int64;
    float16 accumulates in float32."""
    acc, out = _sum_dtypes(x.dtype)
    return Sum.apply(x, _dims(x, dim, "sum"), keepdim, acc, out)


def _scale(s, n):
    """s / n for a count n; n = 0 gives NaN (PyTorch's mean of nothing) without a warning."""
    return s * (1.0 / n if n > 0 else math.nan)


def _check_floating(x, op):
    if x.dtype.kind not in "fc":
        raise TypeError(
            f"{op}: input dtype should be floating point, got {x.dtype} (shape {tuple(x.shape)}); "
            "convert it first, e.g. x.float()"
        )


def mean(x, dim=None, keepdim=False):
    """Arithmetic mean over ``dim``: y = Σx / N        dL/dx = dy / N, broadcast over the reduced dims
    (float16: accumulated in float32, as PyTorch)"""
    _check_floating(x, "mean")
    dims = _dims(x, dim, "mean")
    if x.dtype == float16:
        return mean(x.to(float32), dims, keepdim).to(float16)
    return _scale(Sum.apply(x, dims, keepdim, x.dtype, x.dtype), _count(x.shape, dims))


def _count(shape, dims):
    n = 1
    for i, s in enumerate(shape):
        if dims is None or i in dims:
            n *= s
    return n


def var(x, dim=None, keepdim=False, correction=1, unbiased=None):
    """Variance y = Σ(x − x̄)² / (N − correction); ``unbiased=False`` means correction 0.

    dL/dx = dy · 2 (x − x̄) / (N − correction) (composed: autograd derives it). Shapes as ``sum``.
    float16 is computed in float32 and returned as float16, as PyTorch does."""
    _check_floating(x, "var")
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = _dims(x, dim, "var")
    if x.dtype == float16:
        return var(x.to(float32), dims, keepdim, correction).to(float16)
    n = _count(x.shape, dims)
    d = x - mean(x, dims, keepdim=True)
    s = Sum.apply(d * d, dims, keepdim, x.dtype, x.dtype)
    denom = builtins.max(n - correction, 0)
    if denom > 0 or n == 0:
        return _scale(s, denom)
    # N ≤ correction: Σd²/0, that is inf, or NaN where Σd² = 0 (computed without a warning)
    inf_or_nan = get_array_module(s.array).where(s.array != 0, math.inf, math.nan).astype(x.dtype)
    return s * Tensor._make(inf_or_nan, False)


def std(x, dim=None, keepdim=False, correction=1, unbiased=None):
    """Standard deviation: y = √var        dL/dx = dy · (x − x̄) / ((N − correction) · y)   (composed;
    0 where y = 0, as in PyTorch)

    float16: both computed in float32, as PyTorch (a variance past 65504 may have a representable root)."""
    if x.dtype == float16:
        return std(x.to(float32), dim, keepdim, correction, unbiased).to(float16)
    v = var(x, dim, keepdim, correction=correction, unbiased=unbiased)
    zero = Tensor._make(v.array == 0, False)  # constant data: PyTorch's gradient is 0 there, not 0 · ∞
    return where(zero, 0.0, where(zero, 1.0, v).sqrt())


def amax(x, dim=None, keepdim=False):
    """Largest value over ``dim``; tied maxima share the gradient equally (as ``torch.amax``)."""
    dims = _dims(x, dim, "amax")
    _check_nonempty(x, dims, "amax")
    return Amax.apply(x, dims, keepdim, False)


def amin(x, dim=None, keepdim=False):
    """Smallest value over ``dim``; tied minima share the gradient equally (as ``torch.amin``)."""
    dims = _dims(x, dim, "amin")
    _check_nonempty(x, dims, "amin")
    return Amin.apply(x, dims, keepdim, False)


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _pick(x, index, d, keepdim):
    """x[..., index, ...] along dim ``d`` for a keepdim-shaped integer ``index``: composed from
    indexing, so the gradient goes to the picked element only (PyTorch's max(dim) rule)."""
    xp = get_array_module(x.array)
    grid = [xp.arange(n).reshape((1,) * i + (n,) + (1,) * (x.ndim - i - 1)) for i, n in enumerate(index.shape)]
    grid[d] = index
    y = x[tuple(Tensor._make(g, False) for g in grid)]  # keepdim shape
    return y if keepdim else y.reshape(dropped_shape(x.shape, (d,)))


def _max_min(x, dim, keepdim, largest, op):
    if dim is None:
        _check_nonempty(x, None, op)
        return (Amax if largest else Amin).apply(x, None, False, True)
    (d,) = normalize_dims(dim, x.ndim, op)
    if x.ndim == 0:
        return MaxResult(x, _arg(x, d, keepdim, largest, op))
    _check_nonempty(x, (d,), op)
    index = _arg(x, d, True, largest, op)
    values = _pick(x, index.array, d, keepdim)
    return MaxResult(values, index if keepdim else index.reshape(dropped_shape(x.shape, (d,))))


def max(x, dim=None, keepdim=False):  # noqa: A001
    """``max(x)``: the largest element (ties share the gradient). ``max(x, dim)``: ``(values,
    indices)`` along ``dim``; the gradient goes to the returned index (the first maximum)."""
    return _max_min(x, dim, keepdim, True, "max")


def min(x, dim=None, keepdim=False):  # noqa: A001
    """``min(x)``: the smallest element (ties share the gradient). ``min(x, dim)``: ``(values,
    indices)`` along ``dim``; the gradient goes to the returned index (the first minimum)."""
    return _max_min(x, dim, keepdim, False, "min")


def logsumexp(x, dim=None, keepdim=False):
    """log Σ exp(x) over ``dim``, stable for large inputs; −inf over an empty dim. Integer and bool
    tensors give the default float dtype, as in PyTorch."""
    if x.dtype.kind in "biu":
        x = x.to(get_default_dtype())
    return LogSumExp.apply(x, _dims(x, dim, "logsumexp"), keepdim)


def _arg(x, dim, keepdim, largest, op):
    if x.dtype.kind == "b" and op.startswith("arg"):
        raise TypeError(f"{op}: not supported for bool input (shape {tuple(x.shape)}); convert it first, e.g. x.long()")
    if dim is None:
        if x.numel() == 0:
            raise IndexError(f"{op}: cannot reduce an empty tensor of shape {tuple(x.shape)} without a dim")
        flat = x.array.reshape(-1)
        idx = flat.argmax() if largest else flat.argmin()
        return Tensor._make(idx.reshape((1,) * x.ndim if keepdim else ()).astype("int64"), False)
    (d,) = normalize_dims(dim, x.ndim, op)
    if x.ndim == 0:
        return Tensor._make(get_array_module(x.array).zeros((), dtype=int64), False)
    if x.shape[d] == 0:
        raise IndexError(f"{op}: cannot reduce over dim {d} of size 0 (input shape {tuple(x.shape)})")
    idx = x.array.argmax(axis=d) if largest else x.array.argmin(axis=d)
    if keepdim:
        idx = idx.reshape(reduced_shape(x.shape, (d,)))
    return Tensor._make(idx.astype("int64"), False)


def argmax(x, dim=None, keepdim=False):
    """Index of the largest value (of the flattened tensor when ``dim`` is None)."""
    return _arg(x, dim, keepdim, True, "argmax")


def argmin(x, dim=None, keepdim=False):
    """Index of the smallest value (of the flattened tensor when ``dim`` is None)."""
    return _arg(x, dim, keepdim, False, "argmin")


def all(x, dim=None, keepdim=False):  # noqa: A001 - PyTorch's name
    """True where every element (over ``dim``, or all of them) is non-zero: a bool tensor, no gradient."""
    return _test(x, dim, keepdim, "all")


def any(x, dim=None, keepdim=False):  # noqa: A001
    """True where some element (over ``dim``, or any of them) is non-zero: a bool tensor, no gradient."""
    return _test(x, dim, keepdim, "any")


def _test(x, dim, keepdim, op):
    dims = normalize_dims(dim, x.ndim, op)
    a = x.array if x.dtype.kind == "b" else x.array != 0
    out = a.all(axis=dims, keepdims=keepdim) if op == "all" else a.any(axis=dims, keepdims=keepdim)
    return Tensor._make(get_array_module(a).asarray(out), False)
