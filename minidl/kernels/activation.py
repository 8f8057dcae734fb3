"""Fused softmax and log-softmax: the references in ``minidl/functional/activation.py`` build a
graph of five ops (max, subtract, exp, sum, divide); these compute the same equations in one
pass over arrays, in place, and write out the derived backward instead of letting autograd
walk that graph.

    softmax:      y = e^{x − m} / Σ e^{x − m}        dL/dx = y ⊙ (dy − Σ dy ⊙ y)
    log-softmax:  y = x − m − log Σ e^{x − m}        dL/dx = dy − e^y ⊙ Σ dy

(sums along ``dim``, kept as size 1 there; x, y, dy of the same shape). Worth keeping:
``benchmarks/bench_ops.py`` times both against the references on the Transformer's shapes.
"""

from __future__ import annotations

from ..dispatch import KernelFunction, register_kernel
from ..functional import activation as reference


class SoftmaxKernel(KernelFunction):
    """Fused ``F.softmax``: forward and backward on arrays, each a few in-place passes."""

    def forward(ctx, x, dim):
        xp = ctx.xp
        y = x - x.max(axis=dim, keepdims=True)  # (*), a fresh array: the rest works in place
        xp.exp(y, out=y)
        y /= y.sum(axis=dim, keepdims=True)  # (*) / (*, 1, *)
        ctx.dim = dim
        ctx.save_for_backward(y)
        return y

    def kernel_backward(ctx, dy):
        (y,) = ctx.saved_tensors
        y = y.array
        dx = dy.array * y  # dy ⊙ y, (*)
        s = dx.sum(axis=ctx.dim, keepdims=True)  # Σ dy ⊙ y, (*, 1, *)
        dx -= y * s  # y ⊙ dy − y ⊙ Σ dy ⊙ y
        return dx, None

    def reference_forward(ctx):
        return reference.softmax.reference(ctx.inputs[0], ctx.dim)


class LogSoftmaxKernel(KernelFunction):
    """Fused ``F.log_softmax``: forward and backward on arrays."""

    def forward(ctx, x, dim):
        xp = ctx.xp
        y = x - x.max(axis=dim, keepdims=True)  # x − m, (*)
        lse = xp.log(xp.exp(y).sum(axis=dim, keepdims=True))  # log Σ e^{x − m}, (*, 1, *)
        y -= lse
        ctx.dim = dim
        ctx.save_for_backward(y)
        return y

    def kernel_backward(ctx, dy):
        (y,) = ctx.saved_tensors
        xp = ctx.xp
        dy = dy.array
        dx = xp.exp(y.array)  # softmax(x) = e^y, (*)
        dx *= dy.sum(axis=ctx.dim, keepdims=True)  # ⊙ Σ dy, (*, 1, *)
        xp.subtract(dy, dx, out=dx)
        return dx, None

    def reference_forward(ctx):
        return reference.log_softmax.reference(ctx.inputs[0], ctx.dim)


def softmax(x, dim):
    """Fused softmax along ``dim`` (same signature and checks as ``F.softmax``)."""
    return SoftmaxKernel.apply(x, reference.softmax_dim(x, dim))


def log_softmax(x, dim):
    """Fused log-softmax along ``dim`` (same signature and checks as ``F.log_softmax``)."""
    return LogSoftmaxKernel.apply(x, reference.softmax_dim(x, dim, "log_softmax"))


def _has_dims_and_values(x, dim):
    # 0-d and empty tensors: the reference handles them; so does float16, which it sums in
    # float32 as PyTorch does (the kernels sum in the input's dtype)
    return x.ndim > 0 and x.numel() > 0 and x.dtype != "float16"


register_kernel(reference.softmax, softmax, when=_has_dims_and_values)
register_kernel(reference.log_softmax, log_softmax, when=_has_dims_and_values)
