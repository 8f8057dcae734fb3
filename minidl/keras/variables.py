"""Keras variables and eager values.

``Variable`` is what ``add_weight`` returns: a ``minidl.nn.Parameter`` (so optimizers, autograd
and ``state_dict`` see it as one) with Keras's methods:

    v.assign(value)  v.assign_add(delta)  v.assign_sub(delta)   in place, never recorded by autograd
    v.numpy()        a NumPy copy, also when v is trainable
    v.name, v.path   "kernel", "dense/kernel";  v.trainable;  v.value (the Tensor itself)

``EagerTensor`` is the class of the Tensors a Keras layer, loss or ``keras.ops`` function
returns: a plain Tensor (same data, same autograd graph) whose ``numpy()`` works even when it
requires grad, as ``model(x).numpy()`` does in TensorFlow. Results of further Tensor operations
are ordinary Tensors again.
"""

from __future__ import annotations

import numpy

from .. import backend
from ..autograd import no_grad
from ..nn.module import Parameter
from ..tensor import Tensor


def _array_like(value, like):
    data = value.array if isinstance(value, Tensor) else numpy.asarray(backend.as_numpy(value))
    if tuple(data.shape) != tuple(like.shape):
        try:
            data = backend.get_array_module(data).broadcast_to(data, like.shape)
        except ValueError:
            raise ValueError(f"assign: a value of shape {tuple(data.shape)} does not fit the variable of shape "
                             f"{tuple(like.shape)}") from None
    return backend.to_device(data.astype(like.dtype, copy=False), like.device)


class Variable(Parameter):
    """A Keras weight: a Parameter with ``assign``, ``numpy()`` and a name (see the module docstring)."""

    __slots__ = ("_keras_name", "_keras_path")

    def __new__(cls, data=None, requires_grad=True, name="variable", path=None):
        v = super().__new__(cls, data, requires_grad)
        v._keras_name = name
        v._keras_path = path or name
        return v

    def __init__(self, data=None, requires_grad=True, name="variable", path=None):
        pass

    @property
    def name(self):
        return self._keras_name

    @property
    def path(self):
        return self._keras_path

    @property
    def trainable(self):
        return self.requires_grad

    @property
    def value(self):
        return self

    def numpy(self):
        return backend.as_numpy(self.array).copy()

    def assign(self, value):
        """Overwrite the values in place (not recorded by autograd); returns the variable."""
        with no_grad():
            self.array[...] = _array_like(value, self)
        self._version[0] += 1
        return self

    def assign_add(self, delta):
        return self.assign(self.array + _array_like(delta, self))

    def assign_sub(self, delta):
        return self.assign(self.array - _array_like(delta, self))

    def __repr__(self):
        return f"<Variable path={self.path}, shape={tuple(self.shape)}, dtype={self.dtype.name}, value={self.numpy()}>"


class EagerTensor(Tensor):
    """A Tensor returned by a Keras layer, loss or op: ``numpy()`` gives the values (a copy)
    even when the tensor is part of an autograd graph."""

    __slots__ = ()

    def numpy(self):
        return backend.as_numpy(self.array).copy()


def eager(out):
    """Mark the Tensors of a layer's output (nested lists, tuples, dicts) as ``EagerTensor``."""
    if type(out) is Tensor:
        out.__class__ = EagerTensor
    elif isinstance(out, (list, tuple)):
        for t in out:
            eager(t)
    elif isinstance(out, dict):
        for t in out.values():
            eager(t)
    return out
