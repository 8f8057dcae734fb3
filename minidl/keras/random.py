"""``keras.random``: random tensors from minidl's generator (seeded by
``keras.utils.set_random_seed`` / ``minidl.manual_seed``), outside the autograd graph.

    eps = keras.random.normal(shape=(batch, dim))          # N(0, 1), float32

A ``seed`` (an int or a ``SeedGenerator``) makes one call reproducible on its own, as in Keras.
"""

from __future__ import annotations

import numpy

from .. import backend
from ..tensor import Tensor
from .variables import eager


class SeedGenerator:
    """A stateful seed: each use draws from its own NumPy generator."""

    def __init__(self, seed=None, **kwargs):
        self.rng = numpy.random.default_rng(seed)


def _rng(seed):
    if seed is None:
        return backend.rng_for(backend.CPU)
    if isinstance(seed, SeedGenerator):
        return seed.rng
    return numpy.random.default_rng(int(seed))


def _out(array, dtype):
    return eager(Tensor._make(numpy.asarray(array, dtype=dtype or "float32"), False))


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return _out(_rng(seed).normal(mean, stddev, size=tuple(shape)), dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    return _out(_rng(seed).uniform(minval, maxval, size=tuple(shape)), dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    rng = _rng(seed)
    values = rng.normal(size=tuple(shape))
    bad = numpy.abs(values) > 2
    while bad.any():
        values[bad] = rng.normal(size=int(bad.sum()))
        bad = numpy.abs(values) > 2
    return _out(mean + stddev * values, dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    return _out(_rng(seed).integers(minval, maxval, size=tuple(shape)), dtype)


def shuffle(x, axis=0, seed=None):
    from .ops import take

    n = x.shape[axis]
    return take(x, _rng(seed).permutation(n), axis=axis)


def dropout(inputs, rate, noise_shape=None, seed=None):
    from .. import functional as F
    from .ops.core import _t

    return eager(F.dropout(_t(inputs), rate, True))
