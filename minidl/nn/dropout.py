"""Channel dropout: ``Dropout1d``, ``Dropout2d``, ``Dropout3d`` and their functions.

Element-wise ``Dropout`` zeroes single activations; in a convolutional feature map neighbouring
activations are strongly correlated, so zeroing one of them removes little information.
Channel dropout (Tompson et al., 2015, "Efficient Object Localization Using Convolutional
Networks") zeroes whole feature maps instead::

    y[n, c, ...] = x[n, c, ...] · m[n, c] / (1 − p),    m[n, c] ~ Bernoulli(1 − p)
    dL/dx[n, c, ...] = dL/dy[n, c, ...] · m[n, c] / (1 − p)

x: (N, C, *spatial) or unbatched (C, *spatial), with 1, 2 or 3 spatial dims; y: x's shape
(as in PyTorch, a 3-d input to ``dropout2d`` is read as (N, C, L)).
The mask is drawn with shape (N, C, 1, ..., 1) and broadcast over the spatial dims, so the
backward is autograd's of one multiplication. ``training=False`` or p = 0 returns x itself.
"""

from __future__ import annotations

import numbers

from .. import backend
from ..tensor import Tensor
from .module import Module

__all__ = ["Dropout1d", "Dropout2d", "Dropout3d", "dropout1d", "dropout2d", "dropout3d"]


def _channel_dropout(x, p, training, spatial, name):
    """y = x · m / (1 − p) with one Bernoulli(1 − p) draw m per (sample, channel)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p}")
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{name}: expected a {spatial + 1}-d (unbatched) or {spatial + 2}-d (batched) input, "
                         f"got shape {tuple(x.shape)}")
    if spatial == 2 and x.ndim == 3:  # PyTorch reads a 3-d input to dropout2d as (N, C, L), not (C, H, W)
        spatial = 1
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point input, got dtype {x.dtype}")
    if not training or p == 0:
        return x
    channels = x.shape[: x.ndim - spatial]  # (N, C) or (C,)
    mask_shape = channels + (1,) * spatial  # (N, C, 1, ..., 1)
    xp = backend.get_array_module(x.array)
    if p == 1:
        return x * Tensor._make(xp.zeros(mask_shape, dtype=x.dtype), False)
    draw_dtype = xp.float32 if x.dtype.itemsize <= 4 else xp.float64
    keep = backend.rng_for(x.device).random(mask_shape, dtype=draw_dtype) >= p
    scale = (keep.astype(x.dtype) * (1.0 / (1.0 - p))).astype(x.dtype, copy=False)
    return x * Tensor._make(scale, False)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) with probability p; scale the rest by 1/(1 − p)."""
    return _channel_dropout(input, p, training, 1, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) or (C, H, W) with probability p; scale the rest by 1/(1 − p)."""
    return _channel_dropout(input, p, training, 2, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) with probability p; scale the rest by 1/(1 − p)."""
    return _channel_dropout(input, p, training, 3, "dropout3d")


class _DropoutNd(Module):
    _spatial = 2

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return _channel_dropout(x, self.p, self.training, self._spatial, type(self).__name__)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """Channel dropout on (N, C, L) or (C, L) (see the module's docstring)."""

    _spatial = 1


class Dropout2d(_DropoutNd):
    """Channel dropout on (N, C, H, W) or (C, H, W) (see the module's docstring)."""

    _spatial = 2


class Dropout3d(_DropoutNd):
    """Channel dropout on (N, C, D, H, W) or (C, D, H, W) (see the module's docstring)."""

    _spatial = 3
