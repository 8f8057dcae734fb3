"""Convolution and pooling layers on channels-last data, as Keras:
images (N, H, W, C), sequences (N, L, C).

The arithmetic is ``minidl.functional``'s conv2d / conv1d / max_pool2d / avg_pool2d, which work
channels-first (PyTorch's layout), so each layer moves the channel axis to position 1 and back:

    (N, H, W, C) -> permute (0, 3, 1, 2) -> (N, C, H, W) -> conv2d -> (N, OC, OH, OW) -> (N, OH, OW, OC)

and a Conv2D kernel kept in Keras's layout (KH, KW, C_in, C_out) is handed to conv2d as
kernel.permute(3, 2, 0, 1), i.e. PyTorch's (C_out, C_in, KH, KW).

Padding 'same' follows TensorFlow: the output size is ⌈size / stride⌉ and the total padding
max((out − 1)·stride + (k − 1)·dilation + 1 − size, 0) is split with the extra element on the
bottom/right.
"""

from __future__ import annotations

import math

from ... import functional as F
from .. import activations, initializers, regularizers
from .base import Layer
from .core import _int_tuple
from .shapes import InputSpec


def conv_output_length(size, kernel, padding, stride, dilation=1):
    """Output length of a convolution or pooling window along one axis (None stays None)."""
    if size is None:
        return None
    span = (kernel - 1) * dilation + 1
    if padding == "same":
        return math.ceil(size / stride)
    return max((size - span) // stride + 1, 0)


def same_padding(size, kernel, stride, dilation=1):
    """(before, after) padding that gives TensorFlow's 'same' output size ⌈size / stride⌉."""
    span = (kernel - 1) * dilation + 1
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def _check_padding(padding, where):
    padding = padding.lower() if isinstance(padding, str) else padding
    if padding not in ("valid", "same"):
        raise ValueError(f"{where}: padding must be 'valid' or 'same', got {padding!r}")
    return padding


def _check_data_format(data_format, where):
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{where}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return data_format


def _to_channels_first(x, nd):
    return F.permute(x, (0, nd + 1) + tuple(range(1, nd + 1)))  # (N, *spatial, C) -> (N, C, *spatial)


def _to_channels_last(x, nd):
    return F.permute(x, (0,) + tuple(range(2, nd + 2)) + (1,))  # (N, C, *spatial) -> (N, *spatial, C)


def _pad_same(x, sizes, kernel, stride, dilation, value=0.0):
    """Pad the spatial axes of a channels-first x for 'same'; returns (x, True if padded)."""
    pads = [same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernel, stride, dilation)]
    if not any(p for pair in pads for p in pair):
        return x, False
    flat = []
    for before, after in reversed(pads):  # F.pad lists the last axis first
        flat += [before, after]
    return F.pad(x, tuple(flat), value=value), True


class _Conv(Layer):
    rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        where = type(self).__name__
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"{where}: filters must be a positive integer, got {filters!r}")
        self.filters = filters
        self.kernel_size = _int_tuple(kernel_size, self.rank, "kernel_size", where)
        self.strides = _int_tuple(strides, self.rank, "strides", where)
        self.dilation_rate = _int_tuple(dilation_rate, self.rank, "dilation_rate", where)
        self.padding = _check_padding(padding, where)
        self.data_format = _check_data_format(data_format, where)
        if self.padding == "same" and any(s > 1 for s in self.strides) and any(d > 1 for d in self.dilation_rate):
            raise ValueError(f"{where}: strides > 1 together with dilation_rate > 1 are not supported")
        if groups < 1 or filters % groups:
            raise ValueError(f"{where}: filters ({filters}) must be divisible by groups ({groups})")
        self.groups = groups
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def build(self, input_shape):
        where = f'{type(self).__name__} "{self.name}"'
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{where}: expected inputs of {self.rank + 2} dims (batch, {'spatial, ' * self.rank}channels), "
                f"got shape {input_shape}"
            )
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(f"{where}: the channel axis of the input must be known, got shape {input_shape}")
        if channels % self.groups:
            raise ValueError(f"{where}: input channels ({channels}) must be divisible by groups ({self.groups})")
        shape = self.kernel_size + (channels // self.groups, self.filters)  # (KH, KW, C_in, C_out)
        self.add_weight("kernel", shape, self.kernel_initializer, regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): channels})

    def _torch_kernel(self):
        nd = self.rank
        return F.permute(self.kernel, (nd + 1, nd) + tuple(range(nd)))  # (*K, C_in, C_out) -> (C_out, C_in, *K)

    def _affine(self, x):
        nd = self.rank
        if self.data_format == "channels_last":
            x = _to_channels_first(x, nd)  # (N, C, *spatial)
        padding = 0
        if self.padding == "same" and all(s == 1 for s in self.strides):
            padding = "same"  # conv2d pads like TensorFlow here (the extra element bottom/right)
        elif self.padding == "same":
            x, _ = _pad_same(x, x.shape[2:], self.kernel_size, self.strides, self.dilation_rate)
        conv = F.conv2d if nd == 2 else F.conv1d
        strides = self.strides if nd == 2 else self.strides[0]
        dilation = self.dilation_rate if nd == 2 else self.dilation_rate[0]
        bias = self.bias if self.use_bias else None
        y = conv(x, self._torch_kernel(), bias, strides, padding, dilation, self.groups)  # (N, C_out, *out)
        return _to_channels_last(y, nd) if self.data_format == "channels_last" else y

    def call(self, inputs):
        return self.activation(self._affine(inputs))

    def logits(self, inputs, training=None, mask=None):
        kind = activations.name_of(self.activation)
        if kind == "sigmoid" or (kind == "softmax" and self.data_format == "channels_last"):
            return self._affine(inputs), kind
        return None

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            spatial = input_shape[1:-1]
        else:
            spatial = input_shape[2:]
        out = tuple(conv_output_length(n, k, self.padding, s, d)
                    for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        if self.data_format == "channels_last":
            return (input_shape[0],) + out + (self.filters,)
        return (input_shape[0], self.filters) + out

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }


class Conv2D(_Conv):
    """y = activation(conv(x, kernel) + bias)        (N, H, W, C) -> (N, OH, OW, filters)

    kernel (KH, KW, C_in, filters) ~ glorot_uniform, bias (filters,) = 0.
    ``padding``: 'valid' (none) or 'same' (output ⌈H / stride⌉ × ⌈W / stride⌉)."""

    rank = 2


class Conv1D(_Conv):
    """y = activation(conv(x, kernel) + bias)        (N, L, C) -> (N, OL, filters)

    kernel (K, C_in, filters), bias (filters,)."""

    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", **kwargs):
        if isinstance(padding, str) and padding.lower() == "causal":
            raise NotImplementedError("Conv1D: padding='causal' is not supported")
        super().__init__(filters, kernel_size, strides, padding, **kwargs)


class _Pooling2D(Layer):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        where = type(self).__name__
        self.pool_size = _int_tuple(pool_size, 2, "pool_size", where)
        self.strides = self.pool_size if strides is None else _int_tuple(strides, 2, "strides", where)
        self.padding = _check_padding(padding, where)
        self.data_format = _check_data_format(data_format, where)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        x = _to_channels_first(inputs, 2) if self.data_format == "channels_last" else inputs  # (N, C, H, W)
        y = self._pool(x)
        return _to_channels_last(y, 2) if self.data_format == "channels_last" else y

    def compute_output_shape(self, input_shape):
        spatial = input_shape[1:3] if self.data_format == "channels_last" else input_shape[2:]
        out = tuple(conv_output_length(n, k, self.padding, s) for n, k, s in zip(spatial, self.pool_size, self.strides))
        if self.data_format == "channels_last":
            return (input_shape[0],) + out + (input_shape[3],)
        return (input_shape[0], input_shape[1]) + out

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """Largest value of each pool_size window, moving by strides (default pool_size).
    'same' pads with −inf, so padding never wins."""

    def _pool(self, x):
        if self.padding == "same":
            x, _ = _pad_same(x, x.shape[2:], self.pool_size, self.strides, (1, 1), value=-math.inf)
        return F.max_pool2d(x, self.pool_size, self.strides)


class AveragePooling2D(_Pooling2D):
    """Mean of each pool_size window. With 'same', the padded positions are not counted (the
    mean is over the real values in the window, as TensorFlow does)."""

    def _pool(self, x):
        if self.padding != "same":
            return F.avg_pool2d(x, self.pool_size, self.strides)
        padded, was_padded = _pad_same(x, x.shape[2:], self.pool_size, self.strides, (1, 1))
        total = F.avg_pool2d(padded, self.pool_size, self.strides)
        if not was_padded:
            return total
        from ...tensor import Tensor

        xp = _xp(x)
        ones = Tensor._make(xp.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype), False)
        count, _ = _pad_same(ones, x.shape[2:], self.pool_size, self.strides, (1, 1))
        share = F.avg_pool2d(count, self.pool_size, self.strides)  # (1, 1, OH, OW): share of real values
        return total / share


def _xp(t):
    from ... import backend

    return backend.get_array_module(t.array)


class _GlobalPooling(Layer):
    rank = 1

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _check_data_format(data_format, type(self).__name__)
        self.keepdims = keepdims
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _axes(self):
        start = 1 if self.data_format == "channels_last" else 2
        return tuple(range(start, start + self.rank))

    def compute_output_shape(self, input_shape):
        axes = self._axes()
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over time: (N, T, C) -> (N, C). With a mask (from Embedding(mask_zero=True)) only
    the unmasked steps are averaged."""

    rank = 1

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(data_format, keepdims, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        axis = self._axes()[0]
        if mask is None:
            return F.mean(inputs, axis, keepdim=self.keepdims)
        from ...tensor import Tensor

        m = mask.array.astype(inputs.dtype)  # (N, T)
        m = m[:, :, None] if self.data_format == "channels_last" else m[:, None, :]
        weights = Tensor._make(m, False)
        total = F.sum(inputs * weights, axis, keepdim=self.keepdims)
        count = Tensor._make(_xp(inputs).maximum(m.sum(axis=axis, keepdims=self.keepdims), 1.0), False)
        return total / count


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width: (N, H, W, C) -> (N, C)."""

    rank = 2

    def call(self, inputs):
        return F.mean(inputs, self._axes(), keepdim=self.keepdims)


class GlobalMaxPooling1D(_GlobalPooling):
    """Largest value over time: (N, T, C) -> (N, C)."""

    rank = 1

    def call(self, inputs):
        return F.amax(inputs, self._axes(), keepdim=self.keepdims)


class GlobalMaxPooling2D(_GlobalPooling):
    """Largest value over height and width: (N, H, W, C) -> (N, C)."""

    rank = 2

    def call(self, inputs):
        return F.amax(inputs, self._axes(), keepdim=self.keepdims)
