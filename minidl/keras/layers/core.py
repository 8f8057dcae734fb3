"""Core layers: Dense, Activation, Flatten, Reshape, Dropout, Embedding (Keras's layouts)."""

from __future__ import annotations

import math

from ... import functional as F
from ...tensor import Tensor
from .. import activations, initializers, regularizers
from .base import Layer
from .shapes import InputSpec


def _int_tuple(value, n, name, where):
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{where}: {name} must be an int or a tuple of {n} ints, got {value}")
    return value


def dense_matmul(x, kernel):
    """x (..., in) @ kernel (in, out) -> (..., out) as one 2-D matrix product: the leading axes
    are folded into the rows first, so the product and its gradient for the kernel are each one
    BLAS call (a batched product would be one small product per row of the batch, and the
    kernel's gradient a sum over the batch)."""
    if x.ndim == 2:
        return F.matmul(x, kernel)  # (N, in) @ (in, out)
    lead = tuple(x.shape[:-1])
    y = F.matmul(F.reshape(x, (-1, x.shape[-1])), kernel)  # (N·T, in) @ (in, out) -> (N·T, out)
    return F.reshape(y, lead + (kernel.shape[-1],))  # (..., out)


class Dense(Layer):
    """y = activation(x · kernel + bias) on the last axis        (..., in) -> (..., units)

    kernel (in, units) ~ glorot_uniform, bias (units,) = 0 (Keras's layout and defaults; a
    PyTorch ``Linear`` holds kernelᵀ)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f'Dense "{self.name}": the last axis of the input must be known, got {input_shape}')
        d = input_shape[-1]
        self.add_weight("kernel", (d, self.units), self.kernel_initializer, regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, regularizer=self.bias_regularizer)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: d})

    def _affine(self, x):
        y = dense_matmul(x, self.kernel)  # (..., in) @ (in, units) -> (..., units)
        return y + self.bias if self.use_bias else y

    def call(self, inputs):
        return self.activation(self._affine(inputs))

    def logits(self, inputs, training=None, mask=None):
        kind = activations.name_of(self.activation)
        return (self._affine(inputs), kind) if kind in ("softmax", "sigmoid") else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }


class Activation(Layer):
    """y = activation(x), e.g. ``Activation('softmax')``."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.supports_masking = True

    def call(self, inputs):
        return self.activation(inputs)

    def logits(self, inputs, training=None, mask=None):
        kind = activations.name_of(self.activation)
        return (inputs, kind) if kind in ("softmax", "sigmoid") else None

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ReLU(Layer):
    """y = min(max(x, negative_slope · x if x < threshold), max_value)  (plain ReLU by default)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold
        self.supports_masking = True

    def call(self, inputs):
        if self.threshold == 0.0 and self.negative_slope == 0.0:
            y = F.relu(inputs)
        else:
            y = F.where(inputs >= self.threshold, inputs, (inputs - self.threshold) * self.negative_slope)
        return y if self.max_value is None else F.clamp(y, max=float(self.max_value))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Layer):
    """y = x if x > 0 else negative_slope · x   (Keras's default slope 0.3)"""

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = negative_slope
        self.supports_masking = True

    def call(self, inputs):
        return F.leaky_relu(inputs, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """softmax over ``axis`` (the last by default)"""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.supports_masking = True

    def call(self, inputs):
        return F.softmax(inputs, self.axis)

    def logits(self, inputs, training=None, mask=None):
        return (inputs, "softmax") if self.axis in (-1, inputs.ndim - 1) else None

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1·d2·...), in channels-last order as Keras (so a Dense after it
    sees the same feature order as in Keras)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = F.permute(inputs, (0,) + tuple(range(2, inputs.ndim)) + (1,))
        return F.reshape(inputs, (inputs.shape[0], -1))  # (N, d1·d2·...)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else math.prod(rest))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """(N, ...) -> (N, *target_shape); one entry of target_shape may be -1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1:
            raise ValueError(f"Reshape: at most one dimension of target_shape may be -1, got {self.target_shape}")

    def call(self, inputs):
        n = math.prod(inputs.shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if (-1 in self.target_shape and (known == 0 or n % known)) or (-1 not in self.target_shape and n != known):
            raise ValueError(
                f'Reshape "{self.name}": cannot reshape a sample of shape {tuple(inputs.shape[1:])} ({n} values) '
                f"into {self.target_shape}"
            )
        return F.reshape(inputs, (inputs.shape[0],) + self.target_shape)

    def compute_output_shape(self, input_shape):
        if -1 not in self.target_shape:
            return (input_shape[0],) + self.target_shape
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        return (input_shape[0],) + tuple(math.prod(rest) // known if d == -1 else d for d in self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Dropout(Layer):
    """Zero each value with probability ``rate`` during training and scale the rest by
    1/(1 − rate); identity in inference. ``noise_shape`` shares the mask along axes of size 1."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1], got {rate}")
        self.rate, self.noise_shape, self.seed = float(rate), noise_shape, seed
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        if self.noise_shape is None:
            return F.dropout(inputs, self.rate, True)
        shape = tuple(inputs.shape[i] if d is None else d for i, d in enumerate(self.noise_shape))
        ones = Tensor._make(_ones_like(inputs, shape), False)
        return inputs * F.dropout(ones, self.rate, True)  # one mask, broadcast along the size-1 axes

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape), "seed": self.seed}


def _ones_like(t, shape):
    from ... import backend

    return backend.get_array_module(t.array).ones(shape, dtype=t.dtype)


class Embedding(Layer):
    """y = embeddings[x]        integer indices (N, T) -> (N, T, output_dim)

    embeddings (input_dim, output_dim) ~ U(−0.05, 0.05) (Keras's 'uniform'). ``mask_zero``: index
    0 is padding, and the layers after it (RNNs, pooling, attention) skip those positions.
    ``input_length`` (Keras 2) is accepted and sets the input shape (None, input_length)."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 mask_zero=False, input_length=None, **kwargs):
        if input_length is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        if not isinstance(input_dim, int) or input_dim < 1 or not isinstance(output_dim, int) or output_dim < 1:
            raise ValueError(f"Embedding: input_dim and output_dim must be positive integers, got {input_dim}, "
                             f"{output_dim}")
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero, self.input_length = bool(mask_zero), input_length
        self.accepts_indices = True

    def build(self, input_shape):
        self.add_weight("embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
                        regularizer=self.embeddings_regularizer)

    def call(self, inputs):
        if inputs.dtype.kind == "f":
            inputs = Tensor._make(inputs.array.astype("int64"), False)  # Keras casts indices to int
        return F.embedding(inputs, self.embeddings)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return Tensor._make(inputs.array != 0, False) if isinstance(inputs, Tensor) else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "mask_zero": self.mask_zero,
            "input_length": self.input_length,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("input_length") is not None:
            config.pop("batch_input_shape", None)
        return cls(**config)
