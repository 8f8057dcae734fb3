"""Layers that wrap another layer: ``Bidirectional`` (a recurrent layer run forwards and
backwards) and ``TimeDistributed`` (one layer applied to every time step).

    x = keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True))(x)   # (B, T, 128)

Bidirectional makes the backward layer from the forward one's config with ``go_backwards``
flipped (Keras's names ``forward_<name>`` / ``backward_<name>``); with ``return_sequences`` the
backward sequence is reversed again so that both are in time order, then they are merged
(``merge_mode``: 'concat', 'sum', 'mul', 'ave', or None for the pair).
"""

from __future__ import annotations

from ... import functional as F
from .base import LAYER_CLASSES, Layer

_MERGES = ("concat", "sum", "mul", "ave", None)


def _layer_from(config):
    from ..saving import layer_from_config

    return layer_from_config(config)


class Bidirectional(Layer):
    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if isinstance(layer, dict):
            layer = _layer_from(layer)
        if not isinstance(layer, Layer) or not hasattr(layer, "go_backwards"):
            raise ValueError(f"Bidirectional: expected a recurrent layer (LSTM, GRU, SimpleRNN), got {layer!r}")
        if merge_mode not in _MERGES:
            raise ValueError(f"Bidirectional: merge_mode must be one of {_MERGES}, got {merge_mode!r}")
        if weights is not None:
            raise NotImplementedError("Bidirectional: weights= is not supported (use set_weights)")
        super().__init__(name=kwargs.pop("name", None) or f"bidirectional_{layer.name}", **kwargs)
        if isinstance(backward_layer, dict):
            backward_layer = _layer_from(backward_layer)
        if backward_layer is None:
            config = dict(layer.get_config(), name=f"backward_{layer.name}", go_backwards=not layer.go_backwards)
            config.pop("batch_input_shape", None)
            backward_layer = type(layer).from_config(config)
        if backward_layer.return_sequences != layer.return_sequences:
            raise ValueError("Bidirectional: the backward layer must have the same return_sequences")
        layer.name = layer.name if layer.name.startswith("forward_") else f"forward_{layer.name}"
        self.merge_mode = merge_mode
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state
        self._track(layer, "forward_layer")
        self._track(backward_layer, "backward_layer")
        self.supports_masking = True

    def build(self, input_shape):
        self.forward_layer._build_from(input_shape)
        self.backward_layer._build_from(input_shape)

    def _merge(self, a, b):
        if self.merge_mode == "concat":
            return F.cat([a, b], -1)
        if self.merge_mode == "sum":
            return a + b
        if self.merge_mode == "mul":
            return a * b
        if self.merge_mode == "ave":
            return (a + b) * 0.5
        return [a, b]

    def call(self, inputs, training=None, mask=None, initial_state=None):
        if initial_state is not None:
            raise NotImplementedError("Bidirectional: initial_state is not supported")
        yf = self.forward_layer(inputs, training=training, mask=mask)
        yb = self.backward_layer(inputs, training=training, mask=mask)
        states_f = states_b = []
        if self.return_state:
            (yf, *states_f), (yb, *states_b) = yf, yb
        if self.return_sequences:
            yb = yb[:, ::-1]  # back into time order
        out = self._merge(yf, yb)
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + list(states_f) + list(states_b)
        return out

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences and not self.return_state else None

    def get_config(self):
        config = super().get_config()
        config.pop("name", None)
        forward = self.forward_layer.get_config()
        forward["name"] = forward["name"][len("forward_"):]
        return {**config, "name": self.name, "merge_mode": self.merge_mode,
                "layer": {"class_name": type(self.forward_layer).__name__, "config": forward},
                "backward_layer": {"class_name": type(self.backward_layer).__name__,
                                   "config": self.backward_layer.get_config()}}


class TimeDistributed(Layer):
    """y[:, t] = layer(x[:, t]) for every step t: (B, T, ...) -> (B, T, ...'), one shared layer."""

    def __init__(self, layer, **kwargs):
        if isinstance(layer, dict):
            layer = _layer_from(layer)
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed: expected a keras layer, got {layer!r}")
        super().__init__(**kwargs)
        self._track(layer, "layer")
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f'TimeDistributed "{self.name}": inputs need a time axis (B, T, ...), got {input_shape}')
        self.layer._build_from((None,) + tuple(input_shape[2:]))

    def call(self, inputs, training=None):
        B, T = inputs.shape[0], inputs.shape[1]
        flat = F.reshape(inputs, (B * T,) + tuple(inputs.shape[2:]))  # (B·T, ...)
        y = self.layer(flat, training=training)
        return F.reshape(y, (B, T) + tuple(y.shape[1:]))  # (B, T, ...')

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return tuple(input_shape[:2]) + tuple(inner[1:])

    def get_config(self):
        return {**super().get_config(), "layer": {"class_name": type(self.layer).__name__,
                                                  "config": self.layer.get_config()}}


LAYER_CLASSES.setdefault("Bidirectional", Bidirectional)
