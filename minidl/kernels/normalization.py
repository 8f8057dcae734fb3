"""Fused layer norm and batch norm: one forward and one backward on arrays, in place.

The references in ``minidl/functional/normalization.py`` build about ten graph nodes (mean, var,
sqrt, subtract, divide, scale, shift) and let autograd walk back through them; a normalization is
memory-bound, so the kernels here make as few passes over the data as they can: the statistics
are einsums (no temporaries) and x̂ is updated in place. Layer norm's rows are the rows of a
matrix, so its sums along a row or a column are matrix-vector products instead (one BLAS call
each, ``LayerNormKernel``).

Both are one computation on an (A, K, B) view of x: statistics over axes 0 and 2, one per K.
Layer norm is the view (1, R, M) (R samples of M values, the affine along M); batch norm is
(N, C, S) (statistics and affine per channel C, S = prod of the spatial dims). With n = A·B:

    μ = Σ x / n,   σ² = Σ (x − μ)² / n,   r = 1/√(σ² + ε),   x̂ = (x − μ)·r,   y = x̂·w + b
    dL/dx = r · (g − mean(g) − x̂ · mean(g·x̂)),  g = dy·w        (means over axes 0 and 2)
    dL/dw = Σ dy·x̂,   dL/db = Σ dy                              (over the axes w does not run along)

Evaluation-mode batch norm is one multiply-add, y = x·s + t with s = w/√(r_σ² + ε) and
t = b − r_μ·s of shape (C,), composed of Tensor ops (so it needs no backward of its own).
``benchmarks/bench_ops.py`` times each against its reference.
"""

from __future__ import annotations

from ..dispatch import KernelFunction, register_kernel
from ..functional import normalization as reference
from ..functional.elementwise import sqrt


def _along(v, axis):
    """A (K,) array shaped to broadcast along ``axis`` (1 or 2) of an (A, K, B) view."""
    return v[None, :, None] if axis == 1 else v[None, None, :]


def _affine(xhat, w, b, shaped):
    """y = x̂ · w + b (either may be None), a new array; ``shaped`` broadcasts w and b along x̂."""
    if w is None:
        return xhat + shaped(b) if b is not None else xhat.copy()
    y = xhat * shaped(w)
    if b is not None:
        y += shaped(b)
    return y


class Normalize(KernelFunction):
    """Standardize over axes 0 and 2 of an (A, K, B) view, scale and shift along ``ctx.axis``."""

    def normalize(ctx, x, w, b, view, axis, eps):
        xp = ctx.xp
        x3 = x.reshape(view)  # (A, K, B)
        n = view[0] * view[2]
        mu = xp.einsum("akb->k", x3) / n  # (K,)
        xhat = x3 - mu[None, :, None]  # x − μ, (A, K, B), a fresh array
        var = xp.einsum("akb,akb->k", xhat, xhat) / n  # (K,), biased
        rstd = 1.0 / xp.sqrt(var + eps)  # (K,)
        xhat *= rstd[None, :, None]  # x̂
        ctx.view, ctx.axis, ctx.eps = view, axis, eps
        ctx.xhat, ctx.rstd, ctx.stats = xhat, rstd, (mu, var)
        ctx.save_for_backward(w)
        return _affine(xhat, w, b, lambda v: _along(v.reshape(-1), axis)).reshape(x.shape)

    def kernel_backward(ctx, dy):
        (w,) = ctx.saved_tensors
        xp, axis = ctx.xp, ctx.axis
        n = ctx.view[0] * ctx.view[2]  # values per statistic
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        xhat, rstd = ctx.xhat, ctx.rstd  # (A, K, B), (K,)
        dy3 = dy.array.reshape(ctx.view)  # (A, K, B)
        sums = "akb->k" if axis == 1 else "akb->b"  # Σ over the axes w does not run along
        dw = xp.einsum(sums.replace("akb", "akb,akb"), dy3, xhat).reshape(w.shape) if need_w else None
        db = xp.einsum(sums, dy3).reshape(ctx.inputs[2].shape) if need_b else None
        dx = None
        if need_x:
            g = dy3 if w is None else dy3 * _along(w.array.reshape(-1), axis)  # (A, K, B)
            mean_g = xp.einsum("akb->k", g) / n  # (K,)
            mean_gx = xp.einsum("akb,akb->k", g, xhat) / n  # (K,)
            dx = xp.multiply(xhat, mean_gx[None, :, None])
            dx += mean_g[None, :, None]
            xp.subtract(g, dx, out=dx)
            dx *= rstd[None, :, None]
            dx = dx.reshape(ctx.inputs[0].shape)
        return dx, dw, db, None, None


class LayerNormKernel(Normalize):
    """Fused ``F.layer_norm``: the (1, R, M) view, affine along M.

    The R rows of M values are an (R, M) matrix X, and every sum over a row or a column is a
    matrix-vector product (one BLAS call, no temporary):

        μ = X 1/M,   σ² = rowsum((X − μ)²)/M,   X̂ = (X − μ) · r,   Y = X̂ ∘ w + b
        P = dY ∘ X̂:   dw = 1ᵀ P,   db = 1ᵀ dY,   mean(g) = dY w / M,   mean(g·x̂) = P w / M
        dX = r · (dY ∘ w − mean(g) − X̂ · mean(g·x̂))          (g = dY ∘ w, row means)
    """

    def forward(ctx, x, w, b, normalized_shape, eps):
        M = 1
        for d in normalized_shape:
            M *= d
        ctx.normalized_shape = normalized_shape
        R = x.size // M if M else 0
        if not (R and M):  # nothing to sum over: the general path (and its NaNs, as the reference)
            return ctx.normalize(x, w, b, (1, R, M), 2, eps)
        xp = ctx.xp
        rows = x.reshape(R, M)
        mu = rows @ xp.full(M, 1.0 / M, dtype=x.dtype)  # (R,)
        xhat = rows - mu[:, None]  # X − μ, (R, M), a fresh array
        var = xp.einsum("rm,rm->r", xhat, xhat)
        var /= M  # (R,), biased
        rstd = 1.0 / xp.sqrt(var + eps)  # (R,)
        xhat *= rstd[:, None]  # X̂
        ctx.view, ctx.axis, ctx.eps = (1, R, M), 2, eps
        ctx.xhat, ctx.rstd = xhat, rstd
        ctx.save_for_backward(w)
        return _affine(xhat, w, b, lambda v: v.reshape(M)).reshape(x.shape)

    def kernel_backward(ctx, dy):
        R, M = ctx.view[1], ctx.view[2]
        if not (R and M):
            return super().kernel_backward(dy)
        (w,) = ctx.saved_tensors
        xp = ctx.xp
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        xhat, rstd = ctx.xhat, ctx.rstd  # (R, M), (R,)
        g = dy.array.reshape(R, M)  # dY
        ones = xp.ones(R, dtype=g.dtype)
        db = (ones @ g).reshape(ctx.inputs[2].shape) if need_b else None  # 1ᵀ dY
        if not (need_x or need_w):
            return None, None, db, None, None
        p = g * xhat  # P = dY ∘ X̂, (R, M)
        dw = (ones @ p).reshape(w.shape) if need_w else None  # 1ᵀ P
        dx = None
        if need_x:
            wv = w.array.reshape(M) if w is not None else xp.ones(M, dtype=g.dtype)
            mean_g = g @ wv
            mean_g /= M  # (R,)
            mean_gx = p @ wv
            mean_gx /= M  # (R,)
            xp.multiply(xhat, mean_gx[:, None], out=p)  # P is spent: X̂ · mean(g·x̂)
            p += mean_g[:, None]
            dx = g * wv if w is not None else g.copy()  # dY ∘ w
            dx -= p
            dx *= rstd[:, None]
            dx = dx.reshape(ctx.inputs[0].shape)
        return dx, dw, db, None, None

    def reference_forward(ctx):
        x, w, b = ctx.inputs[:3]
        return reference.layer_norm.reference(x, ctx.normalized_shape, w, b, ctx.eps)


class BatchNormKernel(Normalize):
    """Fused training-mode ``F.batch_norm``: the (N, C, S) view, statistics and affine per channel."""

    def forward(ctx, x, w, b, eps, stats):
        N, C = x.shape[:2]
        y = ctx.normalize(x, w, b, (N, C, x.size // (N * C)), 1, eps)
        stats.extend(ctx.stats)  # the batch μ and σ², for the running statistics
        return y

    def reference_forward(ctx):
        x, w, b = ctx.inputs[:3]  # the running statistics were updated once, in forward
        return reference.batch_norm.reference(x, None, None, w, b, training=True, eps=ctx.eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Fused layer norm (same signature and checks as ``F.layer_norm``)."""
    dims = reference.check_layer_norm(input, normalized_shape, weight, bias, "layer_norm")
    return LayerNormKernel.apply(input, weight, bias, tuple(input.shape[d] for d in dims), eps)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch norm (same signature and checks as ``F.batch_norm``): fused in training, y = x·s + t
    in evaluation."""
    C, n = reference.check_batch_norm(input, running_mean, running_var, weight, bias, training)
    if training:
        stats = []
        y = BatchNormKernel.apply(input, weight, bias, eps, stats)
        reference.update_running_stats(running_mean, running_var, stats[0], stats[1], n, momentum)
        return y
    stat_shape = (1, C) + (1,) * (input.ndim - 2)  # broadcasts over (N, C, *)
    scale = 1.0 / sqrt(running_var + eps)  # (C,)
    if weight is not None:
        scale = scale * weight
    shift = -running_mean * scale  # (C,)
    if bias is not None:
        shift = shift + bias
    return input * scale.reshape(stat_shape) + shift.reshape(stat_shape)


def _not_half(input, *args, **kwargs):
    # float16 goes to the reference, which sums in float32 as PyTorch does (an einsum here would
    # sum in float16, and overflow past 65504)
    return input.dtype != "float16"


register_kernel(reference.layer_norm, layer_norm, when=_not_half)
register_kernel(reference.batch_norm, batch_norm, when=_not_half)
