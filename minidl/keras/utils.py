"""Small helpers with Keras's names."""

from __future__ import annotations

import numpy

from .. import backend
from ..datasets.text import pad_sequences  # noqa: F401  (keras.utils.pad_sequences)
from .file_utils import get_file  # noqa: F401  (keras.utils.get_file)
from .plotting import model_to_dot, plot_model  # noqa: F401  (keras.utils.plot_model)
from .saving_scope import (  # noqa: F401  (keras.utils's names)
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    register_keras_serializable,
)
from .trainer import pack_x_y_sample_weight, unpack_x_y_sample_weight  # noqa: F401


def to_categorical(y, num_classes=None, dtype="float32"):
    """Integer labels (N,) -> one-hot rows (N, num_classes) (num_classes = max + 1 by default)."""
    y = numpy.asarray(backend.as_numpy(y))
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    if y.size and (y.min() < 0 or numpy.any(numpy.mod(y, 1) != 0)):
        raise ValueError("to_categorical: labels must be non-negative integers")
    y = y.astype(numpy.int64)
    n = int(y.max()) + 1 if num_classes is None else int(num_classes)
    if y.size and y.max() >= n:
        raise ValueError(f"to_categorical: label {int(y.max())} does not fit num_classes={n}")
    out = numpy.zeros(y.shape + (n,), dtype=dtype)
    numpy.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


def set_random_seed(seed):
    """Seed minidl's generators (weights, dropout, shuffling) and NumPy's global one."""
    from ..creation import manual_seed

    manual_seed(int(seed))
    numpy.random.seed(int(seed) % 2**32)
