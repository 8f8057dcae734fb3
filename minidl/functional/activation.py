"""Activations. Softmax and log-softmax are fused (one forward, one backward, stable);
``softmax_composed`` and ``log_softmax_composed`` are the same equations built from
primitives, kept as the reference the tests compare against."""

from __future__ import annotations

from ..autograd import Function
from ._common import normalize_dim
from .elementwise import exp
from .reduce import amax, logsumexp
from .reduce import sum as _sum


class Softmax(Function):
    """y_i = exp(x_i − m) / Σ_j exp(x_j − m) along ``dim`` (m = max x: no overflow)
    dL/dx = y · (dy − Σ_dim dy · y)        x, y, dy: same shape"""

    def forward(ctx, x, dim):
        xp = ctx.xp
        e = xp.exp(x - x.max(axis=dim, keepdims=True))
        y = e / e.sum(axis=dim, keepdims=True)
        ctx.dim = dim
        ctx.save_for_backward(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        return y * (dy - (dy * y).sum(ctx.dim, keepdim=True)), None


class LogSoftmax(Function):
    """y = x − logsumexp(x) along ``dim``
    dL/dx = dy − softmax(x) · Σ_dim dy = dy − exp(y) · Σ_dim dy"""

    def forward(ctx, x, dim):
        xp = ctx.xp
        shifted = x - x.max(axis=dim, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.dim = dim
        ctx.save_for_backward(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        return dy - y.exp() * dy.sum(ctx.dim, keepdim=True), None


def softmax(x, dim):
    """softmax(x)_i = exp(x_i) / Σ_j exp(x_j) along ``dim`` (fused, stable)."""
    return Softmax.apply(x, normalize_dim(dim, x.ndim, "softmax"))


def log_softmax(x, dim):
    """log softmax(x) = x − logsumexp(x) along ``dim`` (fused, stable)."""
    return LogSoftmax.apply(x, normalize_dim(dim, x.ndim, "log_softmax"))


def softmax_composed(x, dim):
    """Reference softmax from primitives: exp(x − max) / Σ exp(x − max)."""
    e = exp(x - amax(x, dim, keepdim=True).detach())
    return e / _sum(e, dim, keepdim=True)


def log_softmax_composed(x, dim):
    """Reference log-softmax from primitives: x − logsumexp(x)."""
    return x - logsumexp(x, dim, keepdim=True)
