"""Symbolic tensors of the functional API: ``keras.Input`` returns a ``KerasTensor``; calling a
layer on one records a ``Node`` (the layer and its arguments) instead of computing, and
``keras.Model(inputs, outputs)`` replays the recorded nodes. Also the helpers that walk nested
structures of tensors, and ``as_input_tensor`` that turns data into a layer's input Tensor."""

from __future__ import annotations

import numpy

from ... import backend
from ...tensor import Tensor
from .shapes import normalize_shape, shape_str


class KerasTensor:
    """A placeholder with a shape (None for the batch) that records which layer produced it.

    ``keras.Input(shape=(28, 28, 1))`` makes one; calling a layer on it returns another;
    ``keras.Model(inputs, outputs)`` turns the recorded calls into a model."""

    def __init__(self, shape, dtype="float32", node=None, index=0, name=None):
        self.shape = normalize_shape(shape)
        self.dtype = dtype
        self.node, self.index, self.name = node, index, name

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={shape_str(self.shape)}, dtype={self.dtype}, name={self.name}>"


class Node:
    """One call of a layer on symbolic inputs: ``outputs = layer(*args, **kwargs)``."""

    def __init__(self, layer, args, kwargs, outputs):
        self.layer, self.args, self.kwargs, self.outputs = layer, args, kwargs, outputs

    @property
    def input_tensors(self):
        return [t for t in flatten((self.args, self.kwargs)) if isinstance(t, KerasTensor)]


def flatten(structure):
    """The leaves of nested lists, tuples and dicts, in order."""
    if isinstance(structure, (list, tuple)):
        for s in structure:
            yield from flatten(s)
    elif isinstance(structure, dict):
        for s in structure.values():
            yield from flatten(s)
    else:
        yield structure


def map_structure(fn, structure):
    """Apply ``fn`` to every leaf of nested lists, tuples and dicts."""
    if isinstance(structure, list):
        return [map_structure(fn, s) for s in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def has_symbolic(structure):
    return any(isinstance(t, KerasTensor) for t in flatten(structure))


def as_input_tensor(x, device=None, dtype="float32"):
    """A NumPy array, list or number as a Tensor on ``device``: floating values in ``dtype``
    (Keras casts floating inputs to the layer's dtype), integers as int64, bools as they are.
    A floating Tensor of another dtype is cast (differentiably); other Tensors pass unchanged."""
    if isinstance(x, Tensor):
        if x.dtype.kind == "f" and x.dtype != numpy.dtype(dtype):
            return x.to(dtype=dtype)
        return x
    array = x if hasattr(x, "dtype") and hasattr(x, "shape") else numpy.asarray(x)
    kind = array.dtype.kind
    if kind == "f":
        array = array.astype(dtype, copy=False)
    elif kind in "iu":
        array = array.astype(numpy.int64, copy=False)
    elif kind != "b":
        raise TypeError(f"cannot use an array of dtype {array.dtype} as a layer input")
    if device is not None:
        array = backend.to_device(array, device)
    return Tensor._make(array, False)
