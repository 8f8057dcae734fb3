"""Matrix products. Shapes: a (..., N, K) @ b (..., K, M) -> (..., N, M), the leading
(batch) dims broadcasting as in NumPy.

Notebooks: z = xW + b in notebooks/01_autograd.ipynb, section 1; conv as unfold + matmul in
notebooks/02_convolution.ipynb, section 2; QKᵀ and PV in notebooks/04_attention.ipynb, section 1."""

from __future__ import annotations

import math

from ..autograd import Function
from ..dispatch import reference_op
from .elementwise import abs, where
from .reduce import amax, amin, sum
from .shape import cast, reshape, transpose


class MatMul(Function):
    """Y = A B        dL/dA = dY Bᵀ,  dL/dB = Aᵀ dY   (batch dims summed back by the base class)"""

    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b  # (..., N, K) @ (..., K, M) -> (..., N, M)

    def backward(ctx, dy):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        da = dy @ b.mT if need_a else None  # (..., N, M) @ (..., M, K) -> (..., N, K)
        db = a.mT @ dy if need_b else None  # (..., K, N) @ (..., N, M) -> (..., K, M)
        return da, db


def matmul(a, b):
    """Matrix product with ``torch.matmul``'s rules: 1-D operands are promoted to a row (left)
    or a column (right) and the added dim is removed again; batch dims broadcast."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both arguments need at least 1 dim, got shapes {a.shape} and {b.shape}")
    _same_dtype("matmul", ("a", a), ("b", b))
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied ({k_a} != {k_b})")
    if a.ndim >= 2 and b.ndim >= 2:
        return MatMul.apply(a, b)
    a2 = reshape(a, (1, k_a)) if a.ndim == 1 else a  # (K,) -> (1, K)
    b2 = reshape(b, (k_b, 1)) if b.ndim == 1 else b  # (K,) -> (K, 1)
    y = MatMul.apply(a2, b2)
    if a.ndim == 1:
        y = reshape(y, y.shape[:-2] + y.shape[-1:])  # drop the row dim
    if b.ndim == 1:
        y = reshape(y, y.shape[:-1])  # drop the column dim
    return y


def _same_dtype(op, *named):
    """Matrix products do not promote: mixed dtypes are an error naming them, as in PyTorch."""
    dtypes = {t.dtype for _, t in named}
    if len(dtypes) > 1:
        listed = ", ".join(f"{name} {t.dtype} {tuple(t.shape)}" for name, t in named)
        raise RuntimeError(f"{op}: expected all operands to have the same dtype, got {listed}; convert with .to(dtype)")


@reference_op
def linear(x, weight, bias=None):
    """y = x Wᵀ + b        x: (*, in), W: (out, in), b: (out,) -> y: (*, out)

    dL/dx = dy W,  dL/dW = Σ_* dyᵀ x,  dL/db = Σ_* dy   (composed of matmul: autograd derives them)
    x, W and b must share a dtype (PyTorch raises for mixed precision rather than promote).
    A kernel (minidl/kernels/linalg.py) may run instead."""
    check_linear_args(x, weight, bias)
    y = matmul(x, transpose(weight, 0, 1))  # (*, in) @ (in, out) -> (*, out)
    return y if bias is None else y + bias


def check_linear_args(x, weight, bias):
    """The errors of ``linear`` for operands that do not fit (shared with its kernel)."""
    _same_dtype("linear", ("input", x), ("weight", weight), *((("bias", bias),) if bias is not None else ()))
    if x.shape[-1] != weight.shape[-1]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
            f"({x.shape[-1]} input features, weight expects {weight.shape[-1]})"
        )
    if bias is not None and bias.shape not in ((weight.shape[0],), (1,), ()):
        raise ValueError(f"linear: bias of shape {tuple(bias.shape)} does not fit weight of shape "
                         f"{tuple(weight.shape)} ({weight.shape[0]} output features)")


def dot(a, b):
    """Inner product of two 1-D tensors: y = Σ_i a_i b_i        dL/da = dy · b,  dL/db = dy · a"""
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"dot: expects two 1-D tensors of equal length, got {a.shape} and {b.shape}")
    return matmul(a, b)


def mm(a, b):
    """The product of two matrices, nothing broadcast: a (N, K) @ b (K, M) -> (N, M) (``torch.mm``)."""
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expects two 2-D tensors, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    return matmul(a, b)


def bmm(a, b):
    """Batched matrix product, nothing broadcast: a (B, N, K) @ b (B, K, M) -> (B, N, M) (``torch.bmm``)."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: expects two 3-D tensors with the same batch size, got shapes {tuple(a.shape)} "
                           f"and {tuple(b.shape)}")
    return matmul(a, b)


class Norm2(Function):
    """y = ‖x‖₂ = √(Σ x²) over ``dims``        dL/dx = dy · x / y, and 0 where y = 0 (PyTorch's subgradient)

    x: any shape -> y: x's shape with ``dims`` removed (kept as 1 with ``keepdim``)."""

    def forward(ctx, x, dims, keepdim):
        ctx.save_for_backward(x)
        ctx.dims, ctx.keepdim = dims, keepdim
        return ctx.xp.sqrt((x * x).sum(axis=dims, keepdims=keepdim))

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        y = sum(x * x, ctx.dims, True).sqrt()  # recomputed from x, so that double backward sees it
        if not ctx.keepdim:
            dy = reshape(dy, y.shape)  # (kept dims of size 1) broadcasts against x
        zero = y == 0
        return where(zero, 0.0, dy * x / where(zero, 1.0, y)), None, None


def norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    """The p-norm over ``dim`` (all elements when None): ‖x‖_p = (Σ |x|^p)^(1/p); ``p=2``/``"fro"`` is
    ``Norm2``, ``p=1`` Σ|x|, ``p=inf`` max|x|, ``p=-inf`` min|x|, ``p=0`` the count of non-zeros.

    dL/dx for general p: dy · sign(x) |x|^(p−1) / y^(p−1) (composed: autograd derives it)."""
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"norm: expected a floating point tensor, got {x.dtype} (shape {x.shape})")
    dims = None if dim is None else tuple(d % max(x.ndim, 1) for d in ((dim,) if isinstance(dim, int) else dim))
    if p in ("fro", 2, 2.0):
        return Norm2.apply(x, dims, keepdim)
    if p in (math.inf, "inf"):
        return amax(abs(x), dims, keepdim)
    if p in (-math.inf, "-inf"):
        return amin(abs(x), dims, keepdim)
    if p == 0:
        return sum(cast(x != 0, x.dtype), dims, keepdim)
    if p == 1:
        return sum(abs(x), dims, keepdim)
    if not isinstance(p, (int, float)):
        raise ValueError(f"norm: p must be a number, 'fro', inf or -inf, got {p!r}")
    return sum(abs(x) ** p, dims, keepdim) ** (1.0 / p)
