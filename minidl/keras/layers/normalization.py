"""LayerNormalization and BatchNormalization over the channels-last axis, with Keras's weights
and defaults (epsilon 1e-3, BatchNormalization momentum 0.99)."""

from __future__ import annotations

from ... import functional as F
from .. import initializers, regularizers
from .base import Layer
from .shapes import InputSpec


def _axes(axis, ndim, where):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = tuple(sorted(a % ndim for a in axes))
    if not out or any(a == 0 for a in out):
        raise ValueError(f"{where}: axis {axis} is not a valid feature axis for inputs of {ndim} dims")
    return out


class LayerNormalization(Layer):
    """y = (x − mean) / √(var + epsilon) · gamma + beta, statistics over ``axis`` (the last by
    default) for each sample. gamma = 1, beta = 0 of the normalised axes' shape."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon, self.center, self.scale = axis, float(epsilon), center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.supports_masking = True

    def build(self, input_shape):
        ndim = len(input_shape)
        axes = _axes(self.axis, ndim, f'LayerNormalization "{self.name}"')
        if axes != tuple(range(axes[0], ndim)):
            raise ValueError(
                f'LayerNormalization "{self.name}": only trailing axes can be normalised, got axis={self.axis} '
                f"for inputs of {ndim} dims"
            )
        if any(input_shape[a] is None for a in axes):
            raise ValueError(f'LayerNormalization "{self.name}": the normalised axes must be known, got {input_shape}')
        self._normalized_shape = tuple(input_shape[a] for a in axes)
        if self.scale:
            self.add_weight("gamma", self._normalized_shape, self.gamma_initializer, regularizer=self.gamma_regularizer)
        if self.center:
            self.add_weight("beta", self._normalized_shape, self.beta_initializer, regularizer=self.beta_regularizer)
        self.input_spec = InputSpec(ndim=ndim, axes={a: input_shape[a] for a in axes})

    def call(self, inputs):
        gamma = self.gamma if self.scale else None
        beta = self.beta if self.center else None
        return F.layer_norm(inputs, self._normalized_shape, gamma, beta, self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis if isinstance(self.axis, int) else list(self.axis),
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
        }


class BatchNormalization(Layer):
    """Per feature (the ``axis``, channels-last by default):

        training:  y = (x − μ_B) / √(σ²_B + ε) · γ + β     with the batch's mean and variance,
                   moving_mean ← momentum · moving_mean + (1 − momentum) · μ_B   (same for the variance)
        inference: y = (x − moving_mean) / √(moving_variance + ε) · γ + β

    Weights in Keras's order: gamma, beta (trainable), moving_mean, moving_variance (not
    trainable). The arithmetic is ``minidl.functional.batch_norm`` with PyTorch's momentum
    1 − momentum; like PyTorch it folds the unbiased batch variance into the moving variance,
    where Keras uses the biased one (a factor n/(n − 1), n = values per feature in the batch).
    A layer with ``trainable = False`` always runs in inference mode, as in Keras."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise ValueError(f"BatchNormalization: axis must be a single int, got {axis!r}")
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.supports_masking = True

    def build(self, input_shape):
        ndim = len(input_shape)
        (axis,) = _axes(self.axis, ndim, f'BatchNormalization "{self.name}"')
        d = input_shape[axis]
        if d is None:
            raise ValueError(f'BatchNormalization "{self.name}": the feature axis must be known, got {input_shape}')
        self._axis = axis
        if self.scale:
            self.add_weight("gamma", (d,), self.gamma_initializer, regularizer=self.gamma_regularizer)
        if self.center:
            self.add_weight("beta", (d,), self.beta_initializer, regularizer=self.beta_regularizer)
        self.add_weight("moving_mean", (d,), self.moving_mean_initializer, trainable=False)
        self.add_weight("moving_variance", (d,), self.moving_variance_initializer, trainable=False)
        self.input_spec = InputSpec(ndim=ndim, axes={axis: d})

    def call(self, inputs, training=None):
        training = bool(training) and self.trainable
        nd = inputs.ndim
        a = self._axis
        order = (0, a) + tuple(i for i in range(1, nd) if i != a)  # the feature axis to position 1
        x = F.permute(inputs, order) if a != 1 else inputs
        y = F.batch_norm(
            x, self.moving_mean, self.moving_variance, self.gamma if self.scale else None,
            self.beta if self.center else None, training, 1.0 - self.momentum, self.epsilon,
        )
        if a == 1:
            return y
        inverse = [0] * nd
        for i, o in enumerate(order):
            inverse[o] = i
        return F.permute(y, tuple(inverse))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
        }
