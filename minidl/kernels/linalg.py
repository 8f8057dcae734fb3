"""A fast ``linear`` (its reference: ``minidl/functional/linalg.py``, ``matmul(x, Wᵀ) + b``).

The reference multiplies a (*, in) input by Wᵀ as a batched matmul over the leading dims, adds
the bias out of place, and in backward autograd forms Wᵀ's gradient as one (in, out) product per
leading index and sums them: for a (B, T, C) activation that is B products and a (B, in, out)
temporary. The kernel flattens the leading dims into rows first, so each of the three products
is one matrix multiplication, and adds the bias in place.

``benchmarks/bench_gpt.py`` shows what it buys in the GPT train step (every Linear of the model).
"""

from __future__ import annotations

import math

from ..dispatch import KernelFunction, register_kernel
from ..functional import linalg as reference
from ..tensor import Tensor


class LinearKernel(KernelFunction):
    """y = x Wᵀ + b on the rows of x: X = x.reshape(R, in), R = the product of the leading dims.

    Forward     Y = X Wᵀ (+ b, in place)          (R, in) @ (in, out) -> (R, out) -> (*, out)
    Backward    dX = dY W                          (R, out) @ (out, in) -> (*, in)
                dW = dYᵀ X                         (out, R) @ (R, in)
                db = 1ᵀ dY                         (R,) @ (R, out): a sum over rows, done by BLAS
    """

    def forward(ctx, x, w, b):
        rows = x.reshape(math.prod(x.shape[:-1]), x.shape[-1])  # (R, in): a view when x is contiguous
        y = rows @ w.T  # (R, in) @ (in, out) -> (R, out); Wᵀ is a transposed view, no copy
        if b is not None:
            y += b
        ctx.save_for_backward(x, w)
        return y.reshape(x.shape[:-1] + (w.shape[0],))  # (*, out)

    def kernel_backward(ctx, dy):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        R = math.prod(x.shape[:-1])
        g = dy.array.reshape(R, w.shape[0])  # (R, out)
        dx = (g @ w.array).reshape(x.shape) if need_x else None  # (R, out) @ (out, in) -> (*, in)
        dw = g.T @ x.array.reshape(R, x.shape[-1]) if need_w else None  # (out, R) @ (R, in) -> (out, in)
        db = ctx.xp.ones(g.shape[0], dtype=g.dtype) @ g if need_b else None  # (R,) @ (R, out) -> (out,)
        return dx, dw, db

    def reference_forward(ctx):
        return reference.linear.reference(*ctx.inputs)


def fused_linear(x, weight, bias=None):
    """``linear`` (same signature and checks) through ``LinearKernel``."""
    reference.check_linear_args(x, weight, bias)
    return LinearKernel.apply(x, weight, bias)


def _linear_when(x, weight, bias=None):
    """Float tensors with a 2-D weight and a bias of shape (out,) or none; anything else (and every
    error) goes to the reference."""
    if not (isinstance(x, Tensor) and isinstance(weight, Tensor) and x.ndim >= 1 and weight.ndim == 2):
        return False
    if x.dtype.kind != "f" or x.dtype != weight.dtype or x.shape[-1] != weight.shape[1]:
        return False
    return bias is None or (isinstance(bias, Tensor) and bias.shape == (weight.shape[0],) and bias.dtype == x.dtype)


register_kernel(reference.linear, fused_linear, when=_linear_when)
