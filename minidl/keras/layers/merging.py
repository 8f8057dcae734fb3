"""Layers that merge a list of tensors: ``Concatenate``, ``Add``, ``Subtract``, ``Multiply``,
``Average``, ``Maximum``, ``Minimum``, ``Dot``, and their functional forms (``concatenate(
[a, b])``, ``add([a, b])``, ...), as in Keras's functional API:

    x = keras.layers.concatenate([title_features, body_features, tags_input])     # (N, 128+32+12)

Elementwise merges need inputs of one shape (a size-1 axis broadcasts, as in Keras); nothing
else is broadcast or cast silently.
"""

from __future__ import annotations

from ... import functional as F
from .base import Layer


class _Merge(Layer):
    op_name = "merge"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _check(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) < 2 or not all(isinstance(s, tuple) for s in shapes):
            raise ValueError(f'{type(self).__name__} "{self.name}" must be called on a list of at least 2 tensors')

    def build(self, input_shape):
        self._check(input_shape)
        ranks = {len(s) for s in input_shape}
        if len(ranks) > 1:
            raise ValueError(f'{type(self).__name__} "{self.name}": inputs of different ranks {list(input_shape)}')
        for axis in range(1, len(input_shape[0])):
            sizes = {s[axis] for s in input_shape if s[axis] not in (None, 1)}
            if len(sizes) > 1:
                raise ValueError(f'{type(self).__name__} "{self.name}": inputs of shapes {list(input_shape)} do not '
                                 "match (they must be equal, or 1 where they broadcast)")

    def call(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = self._merge(out, x)
        return out

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return tuple(next((s[a] for s in input_shape if s[a] not in (None, 1)), input_shape[0][a])
                     for a in range(len(input_shape[0])))

    def compute_mask(self, inputs, mask=None):
        return None


class Add(_Merge):
    """y = x₁ + x₂ + …"""

    @staticmethod
    def _merge(a, b):
        return a + b


class Multiply(_Merge):
    """y = x₁ ⊙ x₂ ⊙ …"""

    @staticmethod
    def _merge(a, b):
        return a * b


class Maximum(_Merge):
    """y = max(x₁, x₂, …) elementwise"""

    @staticmethod
    def _merge(a, b):
        return F.maximum(a, b)


class Minimum(_Merge):
    """y = min(x₁, x₂, …) elementwise"""

    @staticmethod
    def _merge(a, b):
        return F.minimum(a, b)


class Average(_Merge):
    """y = (x₁ + … + x_n) / n"""

    def call(self, inputs):
        return super().call(inputs) / float(len(inputs))

    @staticmethod
    def _merge(a, b):
        return a + b


class Subtract(_Merge):
    """y = x₁ − x₂ (exactly two inputs)"""

    def _check(self, shapes):
        super()._check(shapes)
        if len(shapes) != 2:
            raise ValueError(f'Subtract "{self.name}" takes exactly 2 inputs, got {len(shapes)}')

    @staticmethod
    def _merge(a, b):
        return a - b


class Concatenate(Layer):
    """y = [x₁, x₂, …] joined along ``axis`` (the others must match)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.supports_masking = True

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2 or \
                not all(isinstance(s, tuple) for s in input_shape):
            raise ValueError(f'Concatenate "{self.name}" must be called on a list of at least 2 tensors')
        rank = len(input_shape[0])
        if any(len(s) != rank for s in input_shape):
            raise ValueError(f'Concatenate "{self.name}": inputs of different ranks {list(input_shape)}')
        axis = self.axis % rank
        for a in range(1, rank):
            sizes = {s[a] for s in input_shape if s[a] is not None}
            if a != axis and len(sizes) > 1:
                raise ValueError(f'Concatenate "{self.name}" (axis={self.axis}): inputs of shapes {list(input_shape)} '
                                 "differ on another axis")
        parts = [s[axis] for s in input_shape]
        total = None if any(p is None for p in parts) else sum(parts)
        out = list(input_shape[0])
        out[axis] = total
        return tuple(out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        return F.cat(list(inputs), self.axis)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(Layer):
    """y = Σ over ``axes`` of x₁ · x₂ (rows of (N, D) inputs: (N, 1)); ``normalize`` uses the cosine."""

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)) and axes[0] != axes[1]:
            raise NotImplementedError("Dot: different axes for the two inputs are not supported")
        self.axes = axes if isinstance(axes, int) else int(axes[0])
        self.normalize = bool(normalize)

    def call(self, inputs):
        a, b = inputs
        if self.normalize:
            a = a / F.sqrt(F.sum(a * a, self.axes, True) + 1e-12)
            b = b / F.sqrt(F.sum(b * b, self.axes, True) + 1e-12)
        out = F.sum(a * b, self.axes)
        return F.unsqueeze(out, -1) if out.ndim == 1 else out

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _functional(cls):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(list(inputs))

    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"``{cls.__name__}(**kwargs)(inputs)``: {cls.__doc__}"
    return merge


add, subtract, multiply, average = _functional(Add), _functional(Subtract), _functional(Multiply), _functional(Average)
maximum, minimum = _functional(Maximum), _functional(Minimum)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis)(inputs)``: the inputs joined along ``axis``."""
    return Concatenate(axis=axis, **kwargs)(list(inputs))


def dot(inputs, axes, normalize=False, **kwargs):
    """``Dot(axes, normalize)(inputs)``."""
    return Dot(axes, normalize, **kwargs)(list(inputs))
