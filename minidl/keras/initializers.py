"""Keras's weight initialisers, for weights in Keras's layouts.

Fans follow Keras (``compute_fans``), which differ from PyTorch's because the layouts differ:
a Dense kernel is (in, out) and a Conv2D kernel (KH, KW, C_in, C_out), so

    fan_in  = shape[-2] · prod(shape[:-2])      fan_out = shape[-1] · prod(shape[:-2])

(for a 2-D kernel simply shape[0] and shape[1]). The random draws go through
``minidl.nn.init`` on the weight's device, so ``minidl.manual_seed`` makes them repeatable.
"""

from __future__ import annotations

import math

from ..creation import empty as _empty
from ..nn import init as _init


def compute_fans(shape):
    """(fan_in, fan_out) of a weight of ``shape`` in Keras's layout."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """``init(shape, dtype, device)`` returns a new Tensor of that shape filled by the rule."""

    def __call__(self, shape, dtype=None, device=None):
        t = _empty(*tuple(shape), dtype=dtype or "float32", device=device)
        self.fill(t)
        return t

    def fill(self, t):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Zeros(Initializer):
    """w = 0"""

    def fill(self, t):
        _init.zeros_(t)


class Ones(Initializer):
    """w = 1"""

    def fill(self, t):
        _init.ones_(t)


class Constant(Initializer):
    """w = value"""

    def __init__(self, value=0.0):
        self.value = float(value)

    def fill(self, t):
        _init.constant_(t, self.value)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    """w ~ U(minval, maxval); Keras's 'uniform' (used by Embedding) is U(−0.05, 0.05)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def fill(self, t):
        _init.uniform_(t, self.minval, self.maxval)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    """w ~ N(mean, stddev²), stddev 0.05 by default."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def fill(self, t):
        _init.normal_(t, self.mean, self.stddev)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """w ~ N(mean, stddev²) redrawn outside mean ± 2·stddev."""

    def fill(self, t):
        _init.trunc_normal_(t, self.mean, self.stddev, self.mean - 2 * self.stddev, self.mean + 2 * self.stddev)


class VarianceScaling(Initializer):
    """Var(w) = scale / n with n = fan_in, fan_out or their mean (``mode``); the distribution is
    'truncated_normal' (std corrected for the truncation at 2σ), 'untruncated_normal' or
    'uniform' (limit √(3 · scale / n))."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                "VarianceScaling: distribution must be 'truncated_normal', 'untruncated_normal' or 'uniform', "
                f"got {distribution!r}"
            )
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def fill(self, t):
        fan_in, fan_out = compute_fans(t.shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            _init.uniform_(t, -limit, limit)
        elif self.distribution == "untruncated_normal":
            _init.normal_(t, 0.0, math.sqrt(variance))
        else:
            std = math.sqrt(variance) / 0.87962566103423978  # std of N(0, 1) truncated to [−2, 2]
            _init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


class GlorotUniform(VarianceScaling):
    """w ~ U(−a, a), a = √(6 / (fan_in + fan_out))   (Keras's default kernel initialiser)"""

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotNormal(VarianceScaling):
    """truncated N(0, 2 / (fan_in + fan_out))"""

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeUniform(VarianceScaling):
    """w ~ U(−a, a), a = √(6 / fan_in)"""

    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeNormal(VarianceScaling):
    """truncated N(0, 2 / fan_in)"""

    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class LecunUniform(VarianceScaling):
    """w ~ U(−a, a), a = √(3 / fan_in)"""

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class LecunNormal(VarianceScaling):
    """truncated N(0, 1 / fan_in)"""

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix (rows × last axis), times ``gain``; Keras's default for
    recurrent kernels."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def fill(self, t):
        if t.ndim < 2:
            raise ValueError(f"Orthogonal: the weight needs at least 2 dims, got shape {tuple(t.shape)}")
        flat = t.reshape(-1, t.shape[-1]) if t.ndim > 2 else t
        _init.orthogonal_(flat, self.gain)
        if flat is not t:
            t.array[...] = flat.array.reshape(t.shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """The identity matrix times ``gain`` (2-D weights)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def fill(self, t):
        _init.eye_(t)
        t.array *= self.gain

    def get_config(self):
        return {"gain": self.gain}


_BY_NAME = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "uniform": RandomUniform,
    "random_uniform": RandomUniform,
    "normal": RandomNormal,
    "random_normal": RandomNormal,
    "truncated_normal": TruncatedNormal,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal,
    "identity": Identity,
    "variance_scaling": VarianceScaling,
}
_CLASSES = {cls.__name__: cls for cls in set(_BY_NAME.values())}


def get(identifier):
    """An Initializer from a Keras name ('glorot_uniform'), a config dict, an Initializer or a
    callable ``(shape, dtype, device) -> Tensor``."""
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, (str, type))):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown initializer config {identifier!r}. Valid classes: {', '.join(sorted(_CLASSES))}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        key = identifier if identifier in _BY_NAME else _snake(identifier)
        if key in _BY_NAME:
            return _BY_NAME[key]()
    raise ValueError(f"Unknown initializer {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}")


def serialize(initializer):
    """``{'class_name': ..., 'config': {...}}`` for a model's JSON config."""
    if not isinstance(initializer, Initializer):
        raise ValueError(f"cannot serialize the initializer {initializer!r} (not a keras Initializer)")
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


def _snake(name):
    import re

    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()
