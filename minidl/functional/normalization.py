"""Normalization: layer norm (per sample, over the trailing ``normalized_shape`` dims) and batch
norm (per channel, over the batch and spatial dims).

    x̂ = (x − μ) / √(σ² + ε),    y = x̂ · w + b        (σ² the biased variance)

``layer_norm`` is fused (one forward, one backward); ``layer_norm_composed`` is the same equation
built from primitives and is the reference the tests compare against. ``batch_norm`` is composed.
"""

from __future__ import annotations

import numbers

from ..autograd import Function, is_grad_enabled, no_grad
from ..tensor import Tensor
from .elementwise import sqrt
from .reduce import mean, var


class LayerNorm(Function):
    """Over the trailing dims ``dims`` (M elements per sample):
        μ = Σ x / M,   σ² = Σ (x − μ)² / M,   r = 1/√(σ² + ε),   x̂ = (x − μ)·r,   y = x̂·w + b
    Backward, with g = dy·w and means over ``dims``:
        dL/dx = r · (g − mean(g) − x̂ · mean(g·x̂))
        dL/dw = Σ_lead dy·x̂,   dL/db = Σ_lead dy
    Shapes: x, y, dy (*, *normalized_shape); w, b normalized_shape; μ, r (*, 1, ..., 1).
    Internally the samples are rows of a (R, M) view, and the arrays are updated in place: a
    layer norm is memory-bound, so fewer passes and fewer fresh arrays is what makes it fast."""

    def forward(ctx, x, w, b, dims, eps):
        xp = ctx.xp
        M = 1
        for d in dims:
            M *= x.shape[d]
        x2 = x.reshape(-1, M)  # (R, M): one sample per row
        ones = xp.ones(M, dtype=x.dtype)
        xhat = x2 - (xp.einsum("rm,m->r", x2, ones) / M)[:, None]  # x − μ, (R, M)
        rstd = 1.0 / xp.sqrt(xp.einsum("rm,rm->r", xhat, xhat) / M + eps)  # (R,)
        xhat *= rstd[:, None]  # x̂
        ctx.dims, ctx.eps, ctx.M = dims, eps, M
        ctx.xhat, ctx.rstd = xhat, rstd
        ctx.save_for_backward(x, w)
        if w is not None:
            y = xhat * w.reshape(M)
            if b is not None:
                y += b.reshape(M)
        else:
            y = xhat + b.reshape(M) if b is not None else xhat.copy()
        return y.reshape(x.shape)

    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        if is_grad_enabled():
            return ctx._backward_graph(x, w, dy)
        xp, M = ctx.xp, ctx.M
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        xhat, rstd = ctx.xhat, ctx.rstd  # (R, M), (R,)
        dy2 = dy.data.reshape(-1, M)  # (R, M)
        dx = dw = db = buffer = None
        if need_w:
            buffer = dy2 * xhat
            dw = Tensor._make(buffer.sum(axis=0).reshape(w.shape), False)
        if need_b:
            db = Tensor._make(dy2.sum(axis=0).reshape(w.shape if w is not None else x.shape[x.ndim - len(ctx.dims):]),
                              False)
        if need_x:
            g = dy2 if w is None else dy2 * w.data.reshape(M)  # (R, M)
            mean_g = xp.einsum("rm,m->r", g, xp.ones(M, dtype=g.dtype)) / M  # (R,)
            mean_gx = xp.einsum("rm,rm->r", g, xhat) / M  # (R,)
            dx = buffer if buffer is not None else xp.empty_like(xhat)
            xp.multiply(xhat, mean_gx[:, None], out=dx)
            dx += mean_g[:, None]
            xp.subtract(g, dx, out=dx)
            dx *= rstd[:, None]
            dx = Tensor._make(dx.reshape(x.shape), False)
        return dx, dw, db, None, None

    def _backward_graph(ctx, x, w, dy):
        """The same backward with Tensor ops, x̂ and r rebuilt from x: used while building a graph
        (double backward), so that the gradient is itself differentiable with respect to x."""
        dims = ctx.dims
        d = x - x.mean(dims, keepdim=True)
        rstd = ((d * d).mean(dims, keepdim=True) + ctx.eps) ** -0.5
        xhat = d * rstd
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx = dw = db = None
        if need_x:
            g = dy if w is None else dy * w
            dx = rstd * (g - g.mean(dims, keepdim=True) - xhat * (g * xhat).mean(dims, keepdim=True))
        lead = tuple(range(x.ndim - len(dims)))
        if need_w:
            dw = (dy * xhat).sum(lead) if lead else dy * xhat
        if need_b:
            db = dy.sum(lead) if lead else dy
        return dx, dw, db, None, None


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
    return LayerNorm.apply(input, weight, bias, dims, eps)


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


def batch_norm(
    input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    """Normalize each channel of x (N, C, *) over the batch and the spatial dims (PyTorch's rules):

    training: μ, σ² are the batch mean and biased variance over (N, *); the running statistics
        (when given) are updated in place: r_μ ← (1 − m)·r_μ + m·μ, r_σ² ← (1 − m)·r_σ² + m·σ²·n/(n − 1)
        (the unbiased variance, n = N·prod(*)).
    evaluation: μ, σ² are ``running_mean`` and ``running_var``.
    y = (x − μ) / √(σ² + ε) · weight + bias, with μ, σ², weight, bias of shape (C,) broadcast as
    (1, C, 1, ...). Composed from primitives, so its gradient flows through μ and σ² in training."""
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
    stat_shape = (1, C) + (1,) * (input.ndim - 2)  # broadcasts over (N, C, *)
    dims = (0,) + tuple(range(2, input.ndim))
    if training:
        n = input.numel() // C if C else 0
        if n <= 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got input shape "
                f"{tuple(input.shape)}"
            )
        mu = mean(input, dims, keepdim=True)  # (1, C, 1, ...)
        sigma2 = var(input, dims, keepdim=True, correction=0)  # (1, C, 1, ...)
        with no_grad():
            if running_mean is not None:
                running_mean.copy_(running_mean.data * (1.0 - momentum) + mu.data.reshape(C) * momentum)
            if running_var is not None:
                unbiased = sigma2.data.reshape(C) * (n / (n - 1))
                running_var.copy_(running_var.data * (1.0 - momentum) + unbiased * momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are required when training=False")
        mu, sigma2 = running_mean.reshape(stat_shape), running_var.reshape(stat_shape)
    y = (input - mu) / sqrt(sigma2 + eps)
    if weight is not None:
        y = y * weight.reshape(stat_shape)
    if bias is not None:
        y = y + bias.reshape(stat_shape)
    return y
