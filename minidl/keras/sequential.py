"""``Sequential``: layers applied one after the other.

    model = keras.Sequential([keras.layers.Dense(64, activation='relu', input_shape=(20,)),
                              keras.layers.Dense(10, activation='softmax')])
"""

from __future__ import annotations

from . import saving
from .layers.base import Layer
from .layers.input_layer import InputLayer
from .layers.shapes import is_shape, normalize_shape, shape_str
from .layers.symbolic import KerasTensor
from .training import Model


class Sequential(Model):
    """Layers applied one after the other: ``Sequential([layer, ...])`` or ``.add(layer)``.

    The input shape comes from the first layer's ``input_shape=``, a leading ``keras.Input``,
    ``build(input_shape)`` or the first data seen; until then the layers have no weights."""

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._layer_list = []
        self._declared_input_shape = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self._layer_list)

    def add(self, layer):
        """Append a layer (or set the input with a ``keras.Input``)."""
        if isinstance(layer, KerasTensor):
            if layer.node is None or not isinstance(layer.node.layer, InputLayer):
                raise ValueError("Sequential.add: only a keras.Input(...) tensor can be added, not the output of a "
                                 "layer (use the functional API for graphs)")
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._layer_list:
                raise ValueError("Sequential: an Input must come before the other layers")
            self._declared_input_shape = layer._batch_input_shape
            self._input_dtype = layer.input_dtype
            self.build(self._declared_input_shape) if self._layer_list else None
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a keras layer, got {type(layer).__name__}")
        if any(existing.name == layer.name for existing in self._layer_list):
            raise ValueError(f'Sequential: all layers must have unique names; "{layer.name}" is already in the model')
        if not self._layer_list and self._declared_input_shape is None and layer._batch_input_shape is not None:
            self._declared_input_shape = layer._batch_input_shape
        self._layer_list.append(layer)
        layer._set_device(self._device)
        self.add_module(layer.name, layer)
        self.built = False
        if self._declared_input_shape is not None:
            self.build(self._declared_input_shape)

    def pop(self):
        """Remove the last layer."""
        if not self._layer_list:
            raise IndexError("Sequential.pop: there are no layers")
        layer = self._layer_list.pop()
        delattr(self, layer.name)
        if self._layer_list and self._build_input_shape is not None:
            self.built = False
            self.build(self._build_input_shape)
        return layer

    def _takes_indices(self, i=0):
        return bool(self._layer_list) and getattr(self._layer_list[0], "accepts_indices", False)

    def build(self, input_shape=None):
        if input_shape is None:
            input_shape = self._declared_input_shape
        if input_shape is None:
            raise ValueError(f'Sequential "{self.name}": build() needs an input shape')
        if not self._layer_list:
            raise ValueError(f'Sequential "{self.name}" has no layers')
        shape = normalize_shape(input_shape)
        for i, layer in enumerate(self._layer_list):
            if not layer.built:
                layer._build_from(shape)
            layer._check_input(shape)
            out = layer.compute_output_shape(shape)
            layer._output_shape = out
            if not is_shape(out) and i < len(self._layer_list) - 1:
                raise ValueError(
                    f'Sequential: layer "{layer.name}" returns several tensors ({shape_str(out)}), which only the last '
                    "layer of a Sequential may do (use the functional API)"
                )
            shape = out
        self._build_input_shape = normalize_shape(input_shape)
        self._output_shape = shape
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = normalize_shape(input_shape)
        for layer in self._layer_list:
            shape = layer.compute_output_shape(shape)
        return shape

    def _check_input(self, shape):
        if self._build_input_shape is None or not is_shape(shape):
            return
        expected = self._expected_shapes()[0]
        if len(shape) != len(expected) or any(e is not None and e != g for e, g in zip(expected[1:], shape[1:])):
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected shape={shape_str(expected)}, '
                f"found shape={shape_str(tuple(shape))}"
            )

    def call(self, inputs, training=None, mask=None):
        out, _, _ = self._forward(inputs, training, mask, False)
        return out

    def _forward(self, x, training, mask, want_logits):
        layers = self._layer_list
        for i, layer in enumerate(layers):
            if want_logits and i == len(layers) - 1:
                out, z, kind = layer._call_logits(x, training=training, mask=mask)
                return out, z, kind
            y = layer(x, training=training, mask=mask)
            mask = layer.compute_mask(x, mask)
            x = y
        return x, None, None

    def _run(self, xs, training, want_logits=False):
        inputs, training = self._prepare(xs[0], training)
        return self._forward(inputs, training, None, want_logits)

    def get_config(self):
        layers = [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self._layer_list]
        return {"name": self.name, "layers": layers,
                "build_input_shape": None if self._build_input_shape is None else list(self._build_input_shape)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        layers = [saving.layer_from_config(c, custom_objects) for c in config["layers"]]
        model = cls(layers, name=config.get("name"))
        if config.get("build_input_shape") is not None and not model.built:
            model.build(tuple(config["build_input_shape"]))
        return model
