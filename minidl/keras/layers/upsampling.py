"""Layers that make images larger: ``Conv2DTranspose`` (a learned upsampling, the adjoint of a
strided convolution), ``UpSampling2D`` (repeat pixels) and ``ZeroPadding2D`` (channels last).

Conv2DTranspose, for a stride s and a kernel of size k (per spatial axis), is built from
minidl's convolution: the input gets s − 1 zeros between its pixels, k − 1 zeros on each border,
and is convolved with the kernel flipped in space and with its channel axes swapped:

    y = conv2d(pad(dilate_s(x), k − 1), flip(K))        H_out = (H − 1)·s + k   ('valid')

'same' keeps H_out = H·s by cropping (k − s) rows, ⌊(k − s)/2⌋ of them at the top (or padding
s − k zero rows at the bottom when k < s): the transpose of TensorFlow's 'same' convolution.
The kernel is stored in Keras's layout (KH, KW, filters, C_in).
"""

from __future__ import annotations

from ... import backend
from ... import functional as F
from ...tensor import Tensor
from .. import activations, initializers, regularizers
from .base import Layer
from .convolutional import _check_padding, _to_channels_first, _to_channels_last
from .core import _int_tuple
from .shapes import InputSpec


def _dilate(x, strides):
    """Insert s − 1 zeros between the pixels of a channels-first (N, C, H, W) tensor."""
    sh, sw = strides
    if sh == sw == 1:
        return x
    N, C, H, W = x.shape
    x = F.reshape(x, (N, C, H, 1, W, 1))
    x = F.pad(x, (0, sw - 1, 0, 0, 0, sh - 1))  # (N, C, H, sh, W, sw), the zeros after each pixel
    x = F.reshape(x, (N, C, H * sh, W * sw))
    return x[:, :, : (H - 1) * sh + 1, : (W - 1) * sw + 1]  # no zeros after the last pixel


class Conv2DTranspose(Layer):
    """The transposed convolution (see the module docstring)   (N, H, W, C_in) -> (N, H', W', filters)"""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        where = "Conv2DTranspose"
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"{where}: filters must be a positive integer, got {filters!r}")
        if output_padding is not None or _int_tuple(dilation_rate, 2, "dilation_rate", where) != (1, 1):
            raise NotImplementedError(f"{where}: output_padding and dilation_rate are not supported")
        if data_format not in (None, "channels_last"):
            raise NotImplementedError(f"{where}: only data_format='channels_last' is supported")
        self.filters = filters
        self.kernel_size = _int_tuple(kernel_size, 2, "kernel_size", where)
        self.strides = _int_tuple(strides, 2, "strides", where)
        self.padding = _check_padding(padding, where)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f'Conv2DTranspose "{self.name}": expected (batch, H, W, channels) with known channels, '
                             f"got {input_shape}")
        channels = input_shape[-1]
        shape = self.kernel_size + (self.filters, channels)  # (KH, KW, C_out, C_in), Keras's layout
        self.add_weight("kernel", shape, self.kernel_initializer, regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer)
        self.input_spec = InputSpec(ndim=4, axes={-1: channels})

    def _crop(self, y):
        """'same': crop (or pad) the full 'valid' output to H·s × W·s."""
        if self.padding == "valid":
            return y
        pads = []
        for k, s in zip(reversed(self.kernel_size), reversed(self.strides)):  # F.pad lists the last axis first
            extra = k - s
            before = max(extra, 0) // 2
            pads += [-before, -(extra - before)] if extra >= 0 else [0, -extra]
        return F.pad(y, tuple(pads))

    def call(self, inputs):
        x = _dilate(_to_channels_first(inputs, 2), self.strides)  # (N, C_in, (H−1)s+1, (W−1)s+1)
        kh, kw = self.kernel_size
        x = F.pad(x, (kw - 1, kw - 1, kh - 1, kh - 1))
        kernel = F.permute(self.kernel, (2, 3, 0, 1))[:, :, ::-1, ::-1]  # (C_out, C_in, KH, KW), flipped
        y = self._crop(F.conv2d(x, kernel))  # (N, C_out, H', W')
        if self.use_bias:
            y = y + F.reshape(self.bias, (1, -1, 1, 1))
        return self.activation(_to_channels_last(y, 2))

    def compute_output_shape(self, input_shape):
        N, H, W, _ = input_shape

        def size(n, k, s):
            if n is None:
                return None
            return n * s if self.padding == "same" else (n - 1) * s + k

        return (N, size(H, self.kernel_size[0], self.strides[0]), size(W, self.kernel_size[1], self.strides[1]),
                self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}


Convolution2DTranspose = Conv2DTranspose


class UpSampling2D(Layer):
    """y[n, i, j, c] = x[n, ⌊i / sh⌋, ⌊j / sw⌋, c]: every pixel repeated size times (nearest)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        if interpolation != "nearest":
            raise NotImplementedError(f"UpSampling2D: interpolation={interpolation!r} (only 'nearest')")
        if data_format not in (None, "channels_last"):
            raise NotImplementedError("UpSampling2D: only data_format='channels_last' is supported")
        self.size = _int_tuple(size, 2, "size", "UpSampling2D")
        self.interpolation = interpolation

    def call(self, inputs):
        y = inputs
        for axis, s in ((1, self.size[0]), (2, self.size[1])):
            n = y.shape[axis]
            index = backend.array_module_for(y.device).repeat(backend.array_module_for(y.device).arange(n), s)
            y = F.index_select(y, axis, Tensor._make(index))
        return y

    def compute_output_shape(self, input_shape):
        N, H, W, C = input_shape
        return (N, None if H is None else H * self.size[0], None if W is None else W * self.size[1], C)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}


class ZeroPadding2D(Layer):
    """Zeros around the image: ``padding`` = p, (ph, pw) or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise NotImplementedError("ZeroPadding2D: only data_format='channels_last' is supported")
        if isinstance(padding, int):
            padding = ((padding, padding), (padding, padding))
        elif all(isinstance(p, int) for p in padding):
            padding = ((padding[0], padding[0]), (padding[1], padding[1]))
        self.padding = tuple(tuple(int(v) for v in p) for p in padding)

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
        return F.pad(inputs, (0, 0, left, right, top, bottom))  # (N, H, W, C): C, then W, then H

    def compute_output_shape(self, input_shape):
        N, H, W, C = input_shape
        (top, bottom), (left, right) = self.padding
        return (N, None if H is None else H + top + bottom, None if W is None else W + left + right, C)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}
