"""Gradient clipping: rescale or clamp the ``.grad`` of parameters in place before a step."""

from __future__ import annotations

import math

from .. import backend
from ..tensor import Tensor
from .optimizer import iter_tensors


def _vector_norm(xp, a, p):
    """‖a‖_p of all elements of the array ``a`` (0-d array); p may be inf."""
    if p == math.inf:
        return xp.abs(a).max() if a.size else xp.zeros((), a.dtype)
    if p == -math.inf:
        return xp.abs(a).min() if a.size else xp.zeros((), a.dtype)
    if p == 0:
        return (a != 0).sum().astype(a.dtype)
    if p == 1:
        return xp.abs(a).sum()
    if p == 2:
        return xp.sqrt(xp.vdot(a.ravel(), a.ravel()))
    return (xp.abs(a) ** p).sum() ** (1.0 / p)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False):
    r"""Scale the gradients of ``parameters`` so that their joint norm is at most ``max_norm``.

    The joint norm treats all gradients as one vector::

        ‖g‖ = ( Σ_i ‖g_i‖_p^p )^{1/p}            (max_i ‖g_i‖_∞ when p = inf)
        g_i ← g_i · min(1, max_norm / (‖g‖ + 1e-6))

    Returns the norm before clipping as a 0-d Tensor (on the first gradient's device).
    Parameters whose ``grad`` is None are ignored. With ``error_if_nonfinite`` a NaN or infinite
    norm raises a RuntimeError instead of filling the gradients with NaN.
    """
    params = iter_tensors(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    grads = [p.grad.array for p in params if p.grad is not None]
    if not grads:
        return Tensor._make(backend.get_array_module().zeros((), "float32"), False)
    device = backend.device_of(grads[0])
    norms = []
    for g in grads:
        n = _vector_norm(backend.get_array_module(g), g, norm_type)
        norms.append(backend.to_device(n, device) if backend.device_of(g) != device else n)
    xp = backend.get_array_module(grads[0])
    total = _vector_norm(xp, xp.stack(norms), norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {float(total)}, so they "
            "cannot be clipped; set error_if_nonfinite=False to clip anyway"
        )
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for p in params:
        if p.grad is not None:
            g = p.grad.array
            c = coef if backend.device_of(g) == device else backend.to_device(coef, backend.device_of(g))
            g *= c
            p.grad._version[0] += 1
    return Tensor._make(xp.asarray(total), False)


def clip_grad_value_(parameters, clip_value: float):
    """Clamp every gradient element of ``parameters`` into ``[-clip_value, clip_value]``, in place."""
    clip_value = float(clip_value)
    if clip_value < 0 or math.isnan(clip_value):
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in iter_tensors(parameters):
        if p.grad is not None:
            g = p.grad.array
            backend.get_array_module(g).clip(g, -clip_value, clip_value, out=g)
            p.grad._version[0] += 1
