"""Activation functions by Keras name: ``Dense(64, activation='relu')``.

Each name maps to a function of one Tensor built from ``minidl.functional``; ``softmax`` and
``log_softmax`` act on the last axis, as in Keras.
"""

from __future__ import annotations

from .. import functional as F


def linear(x):
    """y = x"""
    return x


def relu(x):
    """y = max(x, 0)"""
    return F.relu(x)


def relu6(x):
    """y = min(max(x, 0), 6), gradient 0 at the kinks 0 and 6 (as tf.nn.relu6)"""
    return F.hardtanh(x, 0.0, 6.0)


def sigmoid(x):
    """y = 1 / (1 + e⁻ˣ)"""
    return F.sigmoid(x)


def tanh(x):
    """y = tanh x"""
    return F.tanh(x)


def softmax(x):
    """y_i = e^{x_i} / Σ_j e^{x_j} over the last axis"""
    return F.softmax(x, -1)


def log_softmax(x):
    """y_i = x_i − log Σ_j e^{x_j} over the last axis"""
    return F.log_softmax(x, -1)


def elu(x):
    """y = x if x > 0 else eˣ − 1"""
    return F.elu(x, 1.0)


def selu(x):
    """y = λ · elu_α(x) with Klambauer et al.'s λ ≈ 1.0507, α ≈ 1.6733"""
    return 1.0507009873554805 * F.elu(x, 1.6732632423543772)


def gelu(x, approximate=False):
    """y = x · Φ(x), exact by default as in Keras; ``approximate=True``: the tanh formula
    x/2 · (1 + tanh(√(2/π)(x + 0.044715x³)))"""
    return F.gelu(x, approximate="tanh" if approximate else "none")


def silu(x):
    """y = x · σ(x) (also called swish)"""
    return F.silu(x)


def softplus(x):
    """y = log(1 + eˣ)"""
    return F.softplus(x)


def softsign(x):
    """y = x / (1 + |x|)"""
    return x / (F.abs(x) + 1.0)


def leaky_relu(x):
    """y = x if x > 0 else 0.2 x (Keras's default negative_slope)"""
    return F.leaky_relu(x, 0.2)


def exponential(x):
    """y = eˣ"""
    return F.exp(x)


_ACTIVATIONS = {
    "linear": linear,
    "relu": relu,
    "relu6": relu6,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "silu": silu,
    "swish": silu,
    "softplus": softplus,
    "softsign": softsign,
    "leaky_relu": leaky_relu,
    "exponential": exponential,
}


_CUSTOM: dict = {}  # names of user functions while a model is being loaded (``custom_objects``)


def get(identifier):
    """The activation function for a Keras name, a callable (returned as is) or None (linear)."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _CUSTOM:
        return _CUSTOM[identifier]
    if isinstance(identifier, str) and identifier in _ACTIVATIONS:
        return _ACTIVATIONS[identifier]
    raise ValueError(
        f"Unknown activation {identifier!r}. Valid names: {', '.join(sorted(_ACTIVATIONS))} (or pass a callable)"
    )


def serialize(activation):
    """The Keras name of an activation function (for a model's JSON config)."""
    if activation is None:
        return "linear"
    for name, fn in _ACTIVATIONS.items():
        if fn is activation:
            return name
    name = getattr(activation, "__name__", None)
    if name is None:
        raise ValueError(f"cannot serialize the activation {activation!r}: give it a name or use a Keras name")
    return name


def name_of(activation):
    """'softmax', 'sigmoid', ... for the built-in functions; None for anything else."""
    for name, fn in _ACTIVATIONS.items():
        if fn is activation:
            return name
    return None
