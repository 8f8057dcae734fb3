"""``InputLayer`` and ``keras.Input``: the start of a model, a layer whose output is symbolic."""

from __future__ import annotations

import numpy

from ..naming import unique_name
from .base import Layer
from .symbolic import KerasTensor, Node


class InputLayer(Layer):
    """The input of a model: ``InputLayer(shape=(28, 28, 1))``; ``keras.Input`` makes one and
    returns its symbolic output."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, input_shape=None,
                 batch_input_shape=None, **kwargs):
        shape = shape if shape is not None else input_shape
        if batch_shape is None:
            batch_shape = batch_input_shape
        if batch_shape is None:
            if shape is None:
                raise ValueError("InputLayer: give the shape of one sample, e.g. InputLayer(shape=(28, 28, 1))")
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size,) + shape
        super().__init__(name=name or unique_name("input_layer"), dtype=None, batch_input_shape=batch_shape, **kwargs)
        self.input_dtype = numpy.dtype(dtype or "float32").name
        self.built = True
        self._build_input_shape = self._batch_input_shape
        node = Node(self, (), {}, None)
        node.outputs = KerasTensor(self._batch_input_shape, self.input_dtype, node, 0, name=self.name)
        self._inbound_nodes.append(node)

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {"batch_shape": list(self._batch_input_shape), "dtype": self.input_dtype, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, tensor=None):  # noqa: N802 - Keras name
    """A symbolic input of ``shape`` (one sample, without the batch): the start of a functional
    model, or the first entry of a ``Sequential`` list."""
    if tensor is not None:
        raise NotImplementedError("Input(tensor=...) is not supported")
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape)
    return layer._inbound_nodes[0].outputs
