"""Shapes of Keras layers: ``(None, 28, 28, 1)`` with ``None`` for the batch and unknown sizes,
printed as Keras prints them, and ``InputSpec``, what a built layer accepts."""

from __future__ import annotations

import numpy


def shape_str(shape):
    """(None, 26, 26, 32) as Keras prints it; a list of shapes for several outputs."""
    if isinstance(shape, list):
        return "[" + ", ".join(shape_str(s) for s in shape) + "]"
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def is_shape(obj):
    """True for one shape tuple such as (None, 28, 28, 1)."""
    return isinstance(obj, (tuple, list)) and all(d is None or isinstance(d, (int, numpy.integer)) for d in obj)


def normalize_shape(shape):
    return tuple(None if d is None else int(d) for d in shape)


class InputSpec:
    """What a built layer accepts: ``ndim`` (exact) or ``min_ndim``, and fixed sizes of some axes
    (``axes={-1: 1600}``). Checked on every call, with an error naming the layer."""

    def __init__(self, ndim=None, min_ndim=None, axes=None):
        self.ndim, self.min_ndim, self.axes = ndim, min_ndim, dict(axes or {})

    def check(self, layer_name, shape, index=0):
        where = f'Input {index} of layer "{layer_name}" is incompatible with the layer'
        if self.ndim is not None and len(shape) != self.ndim:
            raise ValueError(
                f"{where}: expected ndim={self.ndim}, found ndim={len(shape)}. Full shape received: {shape_str(shape)}"
            )
        if self.min_ndim is not None and len(shape) < self.min_ndim:
            raise ValueError(
                f"{where}: expected min_ndim={self.min_ndim}, found ndim={len(shape)}. "
                f"Full shape received: {shape_str(shape)}"
            )
        for axis, size in self.axes.items():
            if size is None or not -len(shape) <= axis < len(shape):
                continue
            if shape[axis] is not None and shape[axis] != size:
                raise ValueError(
                    f"{where}: expected axis {axis} of input shape to have value {size}, "
                    f"but received input with shape {shape_str(shape)}"
                )
