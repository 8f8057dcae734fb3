"""Normalization, as in the papers: layer norm (Ba, Kiros & Hinton, 2016) standardizes each sample
over its trailing ``normalized_shape`` dims; batch norm (Ioffe & Szegedy, 2015) standardizes each
channel over the batch and the spatial dims. Both then scale and shift:

    x̂ = (x − μ) / √(σ² + ε),    y = x̂ ⊙ γ + β        (σ² the biased variance)

Each function here is the reference: composed of mean, var, sqrt and arithmetic, so autograd
derives the backward (and its derivatives). Fused kernels of both live in
``minidl/kernels/normalization.py``; ``minidl.reference_mode()`` turns them off.
"""

from __future__ import annotations

import numbers

from ..autograd import no_grad
from ..dispatch import reference_op
from .elementwise import sqrt
from .reduce import mean, var


def check_layer_norm(input, normalized_shape, weight, bias, op):
    """The dims layer norm reduces over (the last len(normalized_shape)), after checking the shapes."""
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


@reference_op
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization: each sample standardized over its last k = len(normalized_shape) dims.

        μ = mean(x),   σ² = mean((x − μ)²)          over the last k dims (M values each)
        x̂ = (x − μ) / √(σ² + ε),   y = x̂ ⊙ γ + β     (γ = weight, β = bias; absent ones skipped)

    Backward (autograd's, from this graph; the fused kernel writes it out), with g = dy ⊙ γ and the
    means over the last k dims:
        dL/dx = (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)) / √(σ² + ε)
        dL/dγ = Σ dy ⊙ x̂,   dL/dβ = Σ dy          (sums over the leading dims)
    Shapes: x, y, dy (*, D1, ..., Dk) with (D1, ..., Dk) = normalized_shape; γ, β (D1, ..., Dk);
    μ, σ² (*, 1, ..., 1). Notebook: notebooks/04_attention.ipynb, section 5 ("The Transformer
    encoder block from the pieces"), where LayerNorm(z) is written out and checked."""
    dims = check_layer_norm(input, normalized_shape, weight, bias, "layer_norm")
    mu = mean(input, dims, keepdim=True)  # (*, 1, ..., 1)
    sigma2 = var(input, dims, keepdim=True, correction=0)  # (*, 1, ..., 1), biased
    y = (input - mu) / sqrt(sigma2 + eps)  # x̂, (*, D1, ..., Dk)
    if weight is not None:
        y = y * weight  # γ broadcasts over the leading dims
    if bias is not None:
        y = y + bias
    return y


def check_batch_norm(input, running_mean, running_var, weight, bias, training):
    """(C, n): the channels and the values per channel, after checking every argument's shape."""
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


def update_running_stats(running_mean, running_var, mu, sigma2, n, momentum):
    """r_μ ← (1 − m)·r_μ + m·μ,  r_σ² ← (1 − m)·r_σ² + m·σ²·n/(n − 1), in place.

    μ, σ²: arrays of shape (C,), the batch mean and biased variance of n values per channel; the
    running variance takes the unbiased one (PyTorch's rule)."""
    with no_grad():
        if running_mean is not None:
            running_mean.copy_(running_mean.array * (1.0 - momentum) + mu * momentum)
        if running_var is not None:
            running_var.copy_(running_var.array * (1.0 - momentum) + sigma2 * (n / (n - 1) * momentum))


@reference_op
def batch_norm(
    input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    """Batch normalization of x (N, C, *): each channel standardized over the batch and spatial dims.

    training:   μ = mean(x),  σ² = mean((x − μ)²)   over (N, *), n = N·prod(*) values per channel;
                the running statistics (when given) are updated in place:
                r_μ ← (1 − m)·r_μ + m·μ,   r_σ² ← (1 − m)·r_σ² + m·σ²·n/(n − 1)   (m = momentum)
    evaluation: μ = running_mean, σ² = running_var (constants).
                x̂ = (x − μ) / √(σ² + ε),   y = x̂ ⊙ γ + β
    Backward (autograd's; in training the gradient flows through μ and σ²), with g = dy ⊙ γ and
    means over (N, *):
        training:   dL/dx = (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)) / √(σ² + ε)
        evaluation: dL/dx = g / √(σ² + ε)
        dL/dγ = Σ dy ⊙ x̂,   dL/dβ = Σ dy          (sums over (N, *))
    Shapes: x, y, dy (N, C, *); running_mean, running_var, γ, β (C,), broadcast as (1, C, 1, ...).
    Notebook: not used in the notebooks (the CNN of notebooks/02_convolution.ipynb, section 6 has
    no normalization layer); ``nn.BatchNorm2d`` and ``keras.layers.BatchNormalization`` call it."""
    C, n = check_batch_norm(input, running_mean, running_var, weight, bias, training)
    stat_shape = (1, C) + (1,) * (input.ndim - 2)  # broadcasts over (N, C, *)
    dims = (0,) + tuple(range(2, input.ndim))  # N and the spatial dims
    if training:
        mu = mean(input, dims, keepdim=True)  # (1, C, 1, ...)
        sigma2 = var(input, dims, keepdim=True, correction=0)  # (1, C, 1, ...), biased
        update_running_stats(running_mean, running_var, mu.array.reshape(C), sigma2.array.reshape(C), n, momentum)
    else:
        mu, sigma2 = running_mean.reshape(stat_shape), running_var.reshape(stat_shape)  # (1, C, 1, ...)
    y = (input - mu) / sqrt(sigma2 + eps)  # x̂, (N, C, *)
    if weight is not None:
        y = y * weight.reshape(stat_shape)
    if bias is not None:
        y = y + bias.reshape(stat_shape)
    return y
