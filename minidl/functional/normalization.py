"""Normalization: layer norm (per sample, over the trailing ``normalized_shape`` dims) and batch
norm (per channel, over the batch and spatial dims).

    x̂ = (x − μ) / √(σ² + ε),    y = x̂ · w + b        (σ² the biased variance)

Both are one fused op, ``Normalize`` (one forward, one backward, in place); ``layer_norm_composed``
and ``batch_norm_composed`` are the same equations built from primitives, kept as the references
the tests compare against.
"""

from __future__ import annotations

import numbers

from ..autograd import Function, is_grad_enabled, no_grad
from ..tensor import Tensor
from .elementwise import sqrt
from .reduce import mean, var


def _bcast(v, axis):
    """A (K,) array shaped to broadcast along ``axis`` of an (A, K, B) view."""
    return v[None, :, None] if axis == 1 else v[None, None, :]


class Normalize(Function):
    """Standardize x over axes 0 and 2 of its (A, K, B) view, then scale and shift along
    ``affine_axis``. Layer norm is the view (1, R, M) (R samples of M elements, affine over M);
    batch norm is (N, C, S) (statistics and affine per channel C, over the batch and S = H·W).
    With n = A·B values per statistic:

        μ = Σ x / n,   σ² = Σ (x − μ)² / n,   r = 1/√(σ² + ε),   x̂ = (x − μ)·r,   y = x̂·w + b
    Backward, with g = dy·w and means over axes 0 and 2:
        dL/dx = r · (g − mean(g) − x̂ · mean(g·x̂))
        dL/dw = Σ dy·x̂,   dL/db = Σ dy    (over the axes w does not run along)
    Shapes: x, y, dy as given (viewed as (A, K, B)); μ, σ², r (K,); w, b as given (the size of
    the affine axis). A normalization is memory-bound, so the arrays are updated in place and
    the sums are einsums (no temporaries, no BLAS threads)."""

    def forward(ctx, x, w, b, view, affine_axis, eps, stats):
        xp = ctx.xp
        x3 = x.reshape(view)  # (A, K, B)
        n = view[0] * view[2]
        mu = xp.einsum("akb->k", x3) / n  # (K,)
        xhat = x3 - mu[None, :, None]  # x − μ, (A, K, B)
        var = xp.einsum("akb,akb->k", xhat, xhat) / n  # (K,), biased
        rstd = 1.0 / xp.sqrt(var + eps)
        xhat *= rstd[None, :, None]  # x̂
        if stats is not None:
            stats.extend((mu, var))  # for batch norm's running statistics
        ctx.view, ctx.axis, ctx.eps = view, affine_axis, eps
        ctx.xhat, ctx.rstd = xhat, rstd
        ctx.save_for_backward(x, w)
        if w is not None:
            y = xhat * _bcast(w.reshape(-1), affine_axis)
            if b is not None:
                y += _bcast(b.reshape(-1), affine_axis)
        else:
            y = xhat + _bcast(b.reshape(-1), affine_axis) if b is not None else xhat.copy()
        return y.reshape(x.shape)

    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        if is_grad_enabled():
            return ctx._backward_graph(x, w, dy)
        xp, axis = ctx.xp, ctx.axis
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        xhat, rstd = ctx.xhat, ctx.rstd  # (A, K, B), (K,)
        dy3 = dy.data.reshape(ctx.view)  # (A, K, B)
        sums = "akb->k" if axis == 1 else "akb->b"  # Σ over the axes w does not run along
        dx = dw = db = None
        if need_w:
            dw = Tensor._make(xp.einsum(sums.replace("akb", "akb,akb"), dy3, xhat).reshape(w.shape), False)
        if need_b:
            db_shape = ctx.inputs[2].shape
            db = Tensor._make(xp.einsum(sums, dy3).reshape(db_shape), False)
        if need_x:
            g = dy3 if w is None else dy3 * _bcast(w.data.reshape(-1), axis)  # (A, K, B)
            n = ctx.view[0] * ctx.view[2]
            mean_g = xp.einsum("akb->k", g) / n  # (K,)
            mean_gx = xp.einsum("akb,akb->k", g, xhat) / n  # (K,)
            dx = xp.multiply(xhat, mean_gx[None, :, None])
            dx += mean_g[None, :, None]
            xp.subtract(g, dx, out=dx)
            dx *= rstd[None, :, None]
            dx = Tensor._make(dx.reshape(x.shape), False)
        return dx, dw, db, None, None, None, None

    def _backward_graph(ctx, x, w, dy):
        """The same backward with Tensor ops, x̂ and r rebuilt from x: used while building a graph
        (double backward), so that the gradient is itself differentiable with respect to x."""
        view, axis = ctx.view, ctx.axis
        bshape = (1, view[1], 1) if axis == 1 else (1, 1, view[2])
        x3, dy3 = x.reshape(view), dy.reshape(view)
        d = x3 - x3.mean((0, 2), keepdim=True)
        rstd = ((d * d).mean((0, 2), keepdim=True) + ctx.eps) ** -0.5
        xhat = d * rstd
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx = dw = db = None
        rest = (0, 2) if axis == 1 else (0, 1)
        if need_x:
            g = dy3 if w is None else dy3 * w.reshape(bshape)
            dx = rstd * (g - g.mean((0, 2), keepdim=True) - xhat * (g * xhat).mean((0, 2), keepdim=True))
            dx = dx.reshape(x.shape)
        if need_w:
            dw = (dy3 * xhat).sum(rest).reshape(w.shape)
        if need_b:
            db = dy3.sum(rest).reshape(ctx.inputs[2].shape)
        return dx, dw, db, None, None, None, None


def _layer_norm_dims(input, normalized_shape, weight, bias, op):
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    shape = tuple(int(n) for n in normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k :]) != shape:
        raise ValueError(
            f"{op}: normalized_shape {shape} must match the last dims of the input, got input shape "
            f"{tuple(input.shape)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"{op}: {name} of shape {tuple(t.shape)} does not match normalized_shape {shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point input, got dtype {input.dtype}")
    return tuple(range(input.ndim - k, input.ndim))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize each sample over its last ``len(normalized_shape)`` dims, then scale and shift:
    y = (x − μ) / √(σ² + ε) · weight + bias (fused forward and backward)."""
    dims = _layer_norm_dims(input, normalized_shape, weight, bias, "layer_norm")
    M = 1
    for d in dims:
        M *= input.shape[d]
    return Normalize.apply(input, weight, bias, (1, input.numel() // M if M else 0, M), 2, eps, None)


def layer_norm_composed(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Reference layer norm from primitives: (x − mean) / √(var + ε) · weight + bias."""
    dims = _layer_norm_dims(input, normalized_shape, weight, bias, "layer_norm")
    mu = mean(input, dims, keepdim=True)
    y = (input - mu) / sqrt(var(input, dims, keepdim=True, correction=0) + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def _check_batch_norm(input, running_mean, running_var, weight, bias, training):
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, *), got {tuple(input.shape)}")
    if input.dtype.kind != "f":
        raise TypeError(f"batch_norm: expected a floating point input, got dtype {input.dtype}")
    C = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (C,):
            raise ValueError(
                f"batch_norm: {name} of shape {tuple(t.shape)} does not match the {C} channels of the input "
                f"of shape {tuple(input.shape)} (expected ({C},))"
            )
    n = input.numel() // C if C else 0
    if training and n <= 1:
        raise ValueError(
            f"batch_norm: expected more than 1 value per channel when training, got input shape {tuple(input.shape)}"
        )
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are required when training=False")
    return C, n


def _update_running(running_mean, running_var, mu, sigma2, n, momentum):
    """r_μ ← (1 − m)·r_μ + m·μ,  r_σ² ← (1 − m)·r_σ² + m·σ²·n/(n − 1), in place (arrays μ, σ² of shape (C,))."""
    with no_grad():
        if running_mean is not None:
            running_mean.copy_(running_mean.data * (1.0 - momentum) + mu * momentum)
        if running_var is not None:
            running_var.copy_(running_var.data * (1.0 - momentum) + sigma2 * (n / (n - 1) * momentum))


def batch_norm(
    input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    """Normalize each channel of x (N, C, *) over the batch and the spatial dims (PyTorch's rules):

    training: μ, σ² are the batch mean and biased variance over (N, *); the running statistics
        (when given) are updated in place: r_μ ← (1 − m)·r_μ + m·μ, r_σ² ← (1 − m)·r_σ² + m·σ²·n/(n − 1)
        (the unbiased variance, n = N·prod(*)).
    evaluation: μ, σ² are ``running_mean`` and ``running_var``.
    y = (x − μ) / √(σ² + ε) · weight + bias, with μ, σ², weight, bias of shape (C,) broadcast as
    (1, C, 1, ...). Training is the fused ``Normalize`` op (its gradient flows through μ and σ²);
    evaluation is composed as y = x·s + t with s = weight/√(σ² + ε), t = bias − μ·s of shape (C,).
    ``batch_norm_composed`` is the reference."""
    C, n = _check_batch_norm(input, running_mean, running_var, weight, bias, training)
    if training:
        stats = []
        view = (input.shape[0], C, n // input.shape[0])  # (N, C, S)
        y = Normalize.apply(input, weight, bias, view, 1, eps, stats)
        _update_running(running_mean, running_var, stats[0], stats[1], n, momentum)
        return y
    stat_shape = (1, C) + (1,) * (input.ndim - 2)  # broadcasts over (N, C, *)
    scale = 1.0 / sqrt(running_var + eps)  # (C,)
    if weight is not None:
        scale = scale * weight
    shift = -running_mean * scale  # (C,)
    if bias is not None:
        shift = shift + bias
    return input * scale.reshape(stat_shape) + shift.reshape(stat_shape)


def batch_norm_composed(
    input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    """Reference batch norm from primitives: (x − μ) / √(σ² + ε) · weight + bias, with μ, σ² the
    batch statistics (training) or the running ones (evaluation)."""
    C, n = _check_batch_norm(input, running_mean, running_var, weight, bias, training)
    stat_shape = (1, C) + (1,) * (input.ndim - 2)  # broadcasts over (N, C, *)
    dims = (0,) + tuple(range(2, input.ndim))
    if training:
        mu = mean(input, dims, keepdim=True)  # (1, C, 1, ...)
        sigma2 = var(input, dims, keepdim=True, correction=0)  # (1, C, 1, ...)
        _update_running(running_mean, running_var, mu.data.reshape(C), sigma2.data.reshape(C), n, momentum)
    else:
        mu, sigma2 = running_mean.reshape(stat_shape), running_var.reshape(stat_shape)
    y = (input - mu) / sqrt(sigma2 + eps)
    if weight is not None:
        y = y * weight.reshape(stat_shape)
    if bias is not None:
        y = y + bias.reshape(stat_shape)
    return y
