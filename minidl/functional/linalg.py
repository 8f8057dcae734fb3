"""Matrix products. Shapes: a (..., N, K) @ b (..., K, M) -> (..., N, M), the leading
(batch) dims broadcasting as in NumPy.

Notebooks: z = xW + b in notebooks/01_autograd.ipynb, section 1; conv as unfold + matmul in
notebooks/02_convolution.ipynb, section 2; QKᵀ and PV in notebooks/04_attention.ipynb, section 1."""

from __future__ import annotations

from ..autograd import Function
from ..dispatch import reference_op
from .shape import reshape, transpose


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
