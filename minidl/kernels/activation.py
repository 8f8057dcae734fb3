"""Fused kernels of ``minidl/functional/activation.py``: softmax, log-softmax, GELU (tanh form)
and the embedding lookup.

The softmax references build a graph of five ops (max, subtract, exp, sum, divide); the kernels
compute the same equations in a few passes over arrays, in place, and write out the derived
backward instead of letting autograd walk that graph.

    softmax:      y = e^{x − m} / Σ e^{x − m}        dL/dx = y ⊙ (dy − Σ dy ⊙ y)
    log-softmax:  y = x − m − log Σ e^{x − m}        dL/dx = dy − e^y ⊙ Σ dy

(sums along ``dim``, kept as size 1 there; x, y, dy of the same shape). GELU's tanh form is a
graph of about ten elementwise ops (and twenty in backward) in the reference, here four passes
and a tanh forward; the embedding's backward sums the rows of dy per index after one sort
instead of scattering them one by one with ``add.at``. Worth keeping: ``benchmarks/bench_ops.py``
times the softmaxes against the references on the Transformer's shapes, ``benchmarks/bench_gpt.py``
all of them in the GPT train step.
"""

from __future__ import annotations

import math

from ..dispatch import KernelFunction, register_kernel
from ..functional import activation as reference
from ..tensor import Tensor
from ._parallel import run_pieces


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


# ---- GELU, tanh form ----------------------------------------------------------------------
_C = math.sqrt(2.0 / math.pi)
_A = 0.044715


class GeluTanhKernel(KernelFunction):
    """y = ½ x (1 + t),  t = tanh(u),  u = √(2/π) (x + a x³),  a = 0.044715

    dL/dx = dy · y',  y' = ½ (1 + t) + ½ x (1 − t²) · √(2/π) (1 + 3a x²)      x, t, y, dy: the same shape

    The forward computes y' along with y, while x and t are at hand, and keeps it (one array, as
    the reference keeps every intermediate of its graph): the backward is then one product.
    With p = ½ (1 + t), 1 − t² = 4 p (1 − p), so y' = p + 2 p (1 − p) · x √(2/π) (1 + 3a x²).
    On the CPU the passes run over ``_CHUNK`` elements at a time, so that the few arrays of a
    chunk stay in cache from one pass to the next instead of streaming through memory each time,
    and the chunks are shared out over the kernels' threads (minidl/kernels/_parallel.py)."""

    def forward(ctx, x):
        xp = ctx.xp
        flat = xp.ascontiguousarray(x).reshape(-1)
        slope, y = xp.empty_like(flat), xp.empty_like(flat)
        run_pieces(lambda c: _gelu_tanh_forward(xp, flat[c], y[c], slope[c]), _chunks(flat.size, xp), xp)
        ctx.slope = slope
        return y.reshape(x.shape)

    def kernel_backward(ctx, dy):
        g = dy.array.reshape(ctx.slope.shape)
        if g.dtype != ctx.slope.dtype:
            g = g.astype(ctx.slope.dtype)
        return (g * ctx.slope).reshape(dy.shape)  # dy · y'

    def reference_forward(ctx):
        return reference.gelu.reference(ctx.inputs[0], approximate="tanh")


# elements per pass on the CPU: 512 KiB of float32, a few arrays fit a core's L2 cache; smaller
# chunks are as fast on one thread but make two threads wait on each other for the GIL
_CHUNK = 1 << 17


def _chunks(n, xp):
    """Slices of n elements, ``_CHUNK`` at a time with NumPy (one slice on a GPU)."""
    step = _CHUNK if getattr(xp, "__name__", "") == "numpy" else max(n, 1)
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _gelu_tanh_forward(xp, x, y, slope):
    """y = ½ x (1 + t) and its derivative y' = p + 2 p (1 − p) · x √(2/π) (1 + 3a x²), p = ½ (1 + t),
    t = tanh(√(2/π) (x + a x³)), into y and slope (same shape as x)."""
    x2 = x * x
    p = x2 * (_A * _C)
    p += _C  # √(2/π) (1 + a x²)
    p *= x  # u
    xp.tanh(p, out=p)  # t
    p += 1.0
    p *= 0.5  # p = ½ (1 + t)
    xp.multiply(x, p, out=y)  # y = x p
    x2 *= 6.0 * _A * _C
    x2 += 2.0 * _C
    x2 *= x  # 2 x √(2/π) (1 + 3a x²)
    xp.subtract(1.0, p, out=slope)  # 1 − p
    slope *= p
    slope *= x2  # 2 p (1 − p) · x √(2/π) (1 + 3a x²)
    slope += p


def gelu_tanh(x, approximate="none"):
    """``gelu(x, approximate="tanh")`` through ``GeluTanhKernel``."""
    return GeluTanhKernel.apply(x)


def _gelu_when(x, approximate="none"):
    return approximate == "tanh" and isinstance(x, Tensor) and x.dtype in ("float32", "float64") and x.ndim > 0


# ---- embedding ----------------------------------------------------------------------------
class EmbeddingKernel(KernelFunction):
    """y = W[idx]        idx: (*) integers, W: (V, D), y: (*, D)

    dL/dW[v] = Σ_{p: idx_p = v} dy_p: the R = prod(*) rows of dy, ordered by their index with one
    stable sort, are summed per run of equal indices (``add.reduceat``, rows in their original
    order within a run, as ``add.at`` adds them); rows at ``padding_idx`` get no gradient."""

    def forward(ctx, idx, w, padding_idx):
        ctx.idx, ctx.padding_idx, ctx.rows = idx, padding_idx, w.shape[0]
        return ctx.xp.take(w, idx, axis=0)  # (*, D)

    def kernel_backward(ctx, dy):
        xp = ctx.xp
        D = dy.shape[-1]
        flat = ctx.idx.reshape(-1)  # (R,)
        g = dy.array.reshape(flat.shape[0], D)  # (R, D)
        dw = xp.zeros((ctx.rows, D), dtype=g.dtype)
        if flat.shape[0] and hasattr(xp.add, "reduceat"):
            order = xp.argsort(flat, kind="stable")
            ids = flat[order]  # (R,) sorted
            first = xp.ones(ids.shape, dtype=bool)
            first[1:] = ids[1:] != ids[:-1]
            starts = xp.flatnonzero(first)  # where each run of one index begins
            dw[ids[starts]] = xp.add.reduceat(g[order], starts, axis=0)  # (runs, D)
        elif flat.shape[0]:
            xp.add.at(dw, flat, g)  # array libraries without reduceat
        if ctx.padding_idx is not None:
            dw[ctx.padding_idx] = 0
        return None, dw, None

    def reference_forward(ctx):
        return reference.embedding.reference(ctx.inputs[0], ctx.inputs[1], ctx.padding_idx)


def fast_embedding(input, weight, padding_idx=None):  # noqa: A002
    """``embedding`` (same signature and checks) through ``EmbeddingKernel``."""
    idx, padding_idx = reference.check_embedding_args(input, weight, padding_idx)
    return EmbeddingKernel.apply(idx, weight, padding_idx)


def _embedding_when(input, weight, padding_idx=None):  # noqa: A002
    return isinstance(input, Tensor) and isinstance(weight, Tensor) and weight.ndim == 2 and (
        weight.dtype.kind == "f"
    )


register_kernel(reference.gelu, gelu_tanh, when=_gelu_when)
register_kernel(reference.embedding, fast_embedding, when=_embedding_when)
