"""Parameter initialisation, in place and without recording gradients (PyTorch's ``nn.init``).

Fans: for a weight of shape (out, in, *kernel), fan_in = in · prod(kernel) and
fan_out = out · prod(kernel).
"""

from __future__ import annotations

import math

from .. import backend
from ..autograd import no_grad


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dims, got shape {tensor.shape}")
    receptive = 1
    for n in tensor.shape[2:]:
        receptive *= n
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor, mode):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def _write(tensor, array):
    with no_grad():
        tensor.array[...] = array.astype(tensor.dtype, copy=False)
        tensor._version[0] += 1
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with samples of U(a, b)."""
    return _write(tensor, backend.rng_for(tensor.device).uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with samples of N(mean, std²)."""
    return _write(tensor, backend.rng_for(tensor.device).normal(mean, std, size=tensor.shape))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Fill with N(mean, std²) samples redrawn until they fall in [a, b]."""
    rng = backend.rng_for(tensor.device)
    xp = backend.get_array_module(tensor.array)
    values = rng.normal(mean, std, size=tensor.shape)
    for _ in range(100):
        bad = (values < a) | (values > b)
        if not bool(bad.any()):
            break
        values = xp.where(bad, rng.normal(mean, std, size=tensor.shape), values)
    return _write(tensor, xp.clip(values, a, b))


def constant_(tensor, val):
    """Fill with ``val``."""
    with no_grad():
        tensor.array[...] = val
        tensor._version[0] += 1
    return tensor


def zeros_(tensor):
    """Fill with 0."""
    return constant_(tensor, 0.0)


def ones_(tensor):
    """Fill with 1."""
    return constant_(tensor, 1.0)


def eye_(tensor):
    """The identity matrix (2-D tensors)."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tensor.shape}")
    xp = backend.get_array_module(tensor.array)
    return _write(tensor, xp.eye(*tensor.shape))


def xavier_uniform_(tensor, gain=1.0):
    """U(−a, a) with a = gain · √(6 / (fan_in + fan_out))   (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std²) with std = gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(−bound, bound) with bound = gain · √(3 / fan)   (He et al., 2015)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std²) with std = gain / √fan."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def orthogonal_(tensor, gain=1.0):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian matrix (the tensor
    is viewed as rows × everything else), scaled by ``gain``."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: needs at least 2 dims, got shape {tensor.shape}")
    xp = backend.get_array_module(tensor.array)
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = backend.rng_for(tensor.device).normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diagonal(r))  # make the decomposition unique
    if rows < cols:
        q = q.T
    return _write(tensor, gain * q.reshape(tensor.shape))
