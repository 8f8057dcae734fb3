"""Reductions over ``dim`` (an int, a tuple, or None for all dims) with ``keepdim``.

Shapes: x is (D0, ..., Dn-1); y drops the reduced dims (or keeps them as 1 with keepdim).
Backward first puts ``dy`` back into the keepdim shape, then broadcasts it over the
reduced dims.

Notebook: notebooks/01_autograd.ipynb, section 1 (the sum in L = Σ (h − t)²) and section 3 (a
broadcast's gradient is a sum: the two are each other's backward).
"""

from __future__ import annotations

import builtins
from collections import namedtuple

from ..autograd import Function
from ..tensor import Tensor
from ._common import dropped_shape, normalize_dims, reduced_shape


def _axis(dims):
    return None if dims is None else dims


class Sum(Function):
    """y = Σ_dim x        dL/dx = broadcast(dy)   (dy reshaped to keepdim shape, then expanded)"""

    def forward(ctx, x, dims, keepdim):
        ctx.in_shape = x.shape
        ctx.keep_shape = reduced_shape(x.shape, dims)
        return x.sum(axis=_axis(dims), keepdims=keepdim)

    def backward(ctx, dy):
        return dy.reshape(ctx.keep_shape).expand(ctx.in_shape), None, None


class Amax(Function):
    """y = max_dim x        dL/dx = dy · [x = y] / #ties   (ties share the gradient equally)"""

    largest = True

    def forward(ctx, x, dims, keepdim):
        if x.size == 0:
            raise ValueError(f"{type(ctx).__name__}: cannot reduce an empty tensor of shape {x.shape}")
        axis = _axis(dims)
        y = x.max(axis=axis, keepdims=True) if ctx.largest else x.min(axis=axis, keepdims=True)
        mask = x == y
        ctx.weight = (mask / mask.sum(axis=axis, keepdims=True)).astype(x.dtype)
        ctx.keep_shape = y.shape
        return y if keepdim else y.reshape(dropped_shape(x.shape, dims))

    def backward(ctx, dy):
        return dy.reshape(ctx.keep_shape) * ctx.weight, None, None


class Amin(Amax):
    """y = min_dim x        dL/dx = dy · [x = y] / #ties"""

    largest = False


class LogSumExp(Function):
    """y = log Σ_dim exp(x), computed as m + log Σ exp(x − m) with m = max x (no overflow)
    dL/dx = dy · exp(x − y) = dy · softmax(x)"""

    def forward(ctx, x, dims, keepdim):
        xp = ctx.xp
        axis = _axis(dims)
        m = x.max(axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # rows of -inf stay -inf instead of NaN
        s = xp.exp(x - m).sum(axis=axis, keepdims=True)
        empty = s == 0  # only where every element is -inf: log(0) would warn, the answer is -inf
        y = xp.where(empty, -xp.inf, xp.log(xp.where(empty, 1, s)) + m)
        ctx.keep_shape = y.shape
        out = y if keepdim else y.reshape(dropped_shape(x.shape, dims))
        ctx.save_for_backward(x, out)  # the returned array itself, so that y stays in the graph
        return out

    def backward(ctx, dy):
        x, y = ctx.saved_tensors
        return dy.reshape(ctx.keep_shape) * (x - y.reshape(ctx.keep_shape)).exp(), None, None


def sum(x, dim=None, keepdim=False):  # noqa: A001 - PyTorch's name
    """Sum over ``dim`` (all elements when None)."""
    return Sum.apply(x, normalize_dims(dim, x.ndim, "sum"), keepdim)


def mean(x, dim=None, keepdim=False):
    """Arithmetic mean over ``dim``: y = Σx / N        dL/dx = dy / N, broadcast over the reduced dims"""
    dims = normalize_dims(dim, x.ndim, "mean")
    if x.dtype.kind not in "fc":
        raise TypeError(f"mean: input dtype should be floating point, got {x.dtype}")
    n = _count(x.shape, dims)
    return Sum.apply(x, dims, keepdim) / n


def _count(shape, dims):
    n = 1
    for i, s in enumerate(shape):
        if dims is None or i in dims:
            n *= s
    return n


def var(x, dim=None, keepdim=False, correction=1, unbiased=None):
    """Variance y = Σ(x − x̄)² / (N − correction); ``unbiased=False`` means correction 0.

    dL/dx = dy · 2 (x − x̄) / (N − correction) (composed: autograd derives it). Shapes as ``sum``."""
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = normalize_dims(dim, x.ndim, "var")
    n = _count(x.shape, dims)
    d = x - mean(x, dims, keepdim=True)
    return sum(d * d, dims, keepdim) / builtins.max(n - correction, 0)


def std(x, dim=None, keepdim=False, correction=1, unbiased=None):
    """Standard deviation: y = √var        dL/dx = dy · (x − x̄) / ((N − correction) · y)   (composed)"""
    return var(x, dim, keepdim, correction=correction, unbiased=unbiased).sqrt()


def amax(x, dim=None, keepdim=False):
    """Largest value over ``dim``; tied maxima share the gradient."""
    return Amax.apply(x, normalize_dims(dim, x.ndim, "amax"), keepdim)


def amin(x, dim=None, keepdim=False):
    """Smallest value over ``dim``; tied minima share the gradient."""
    return Amin.apply(x, normalize_dims(dim, x.ndim, "amin"), keepdim)


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def max(x, dim=None, keepdim=False):  # noqa: A001
    """``max(x)``: the largest element. ``max(x, dim)``: ``(values, indices)`` along ``dim``."""
    if dim is None:
        return amax(x)
    return MaxResult(amax(x, dim, keepdim), argmax(x, dim, keepdim))


def min(x, dim=None, keepdim=False):  # noqa: A001
    """``min(x)``: the smallest element. ``min(x, dim)``: ``(values, indices)`` along ``dim``."""
    if dim is None:
        return amin(x)
    return MaxResult(amin(x, dim, keepdim), argmin(x, dim, keepdim))


def logsumexp(x, dim=None, keepdim=False):
    """log Σ exp(x) over ``dim``, stable for large inputs."""
    return LogSumExp.apply(x, normalize_dims(dim, x.ndim, "logsumexp"), keepdim)


def _arg(x, dim, keepdim, largest, op):
    if dim is None:
        flat = x.data.reshape(-1)
        idx = flat.argmax() if largest else flat.argmin()
        return Tensor._make(idx.reshape((1,) * x.ndim if keepdim else ()).astype("int64"), False)
    (d,) = normalize_dims(dim, x.ndim, op)
    idx = x.data.argmax(axis=d) if largest else x.data.argmin(axis=d)
    if keepdim:
        idx = idx.reshape(reduced_shape(x.shape, (d,)))
    return Tensor._make(idx.astype("int64"), False)


def argmax(x, dim=None, keepdim=False):
    """Index of the largest value (of the flattened tensor when ``dim`` is None)."""
    return _arg(x, dim, keepdim, True, "argmax")


def argmin(x, dim=None, keepdim=False):
    """Index of the smallest value (of the flattened tensor when ``dim`` is None)."""
    return _arg(x, dim, keepdim, False, "argmin")
