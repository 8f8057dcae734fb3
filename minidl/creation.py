"""Creating tensors: ``zeros``, ``ones``, ``full``, ``empty`` and their ``*_like`` forms,
``arange``, ``linspace``, ``eye``, random ``rand``/``randn``/``randint``/``randperm``/``normal``,
``multinomial`` sampling, ``manual_seed``, and the legacy typed constructors (``LongTensor``...).
``tensor(data)`` itself, the copy of existing data, is in ``minidl.tensor``.
"""

from __future__ import annotations

import numbers

import numpy

from . import backend
from .backend import Device
from .dtypes import (
    bool_,
    check_grad_dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    resolve_dtype,
    uint8,
)
from .tensor import Tensor, get_default_device, new_leaf, shape_args, tensor


def _xp_for(device):
    return backend.array_module_for(Device(device) if device is not None else get_default_device())


def _fill(shape, value, dtype, device, requires_grad, where):
    shape = shape_args(shape)
    xp = _xp_for(device)
    dev = Device(device) if device is not None else get_default_device()
    if dev.type == "cuda":
        with xp.cuda.Device(dev.index):
            array = xp.full(shape, value, dtype=resolve_dtype(dtype))
    else:
        array = xp.full(shape, value, dtype=resolve_dtype(dtype))
    if requires_grad:
        check_grad_dtype(array.dtype, where)
    return Tensor._make(array, bool(requires_grad))


def zeros(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return _fill(size, 0, dtype, device, requires_grad, "zeros")


def ones(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of ones."""
    return _fill(size, 1, dtype, device, requires_grad, "ones")


def empty(*size, dtype=None, device=None, requires_grad=False):
    """A new tensor (zero-filled here, as values are unspecified in PyTorch)."""
    return _fill(size, 0, dtype, device, requires_grad, "empty")


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor filled with ``fill_value`` (dtype from the value when not given)."""
    if dtype is None and isinstance(fill_value, (bool, numpy.bool_)):
        dtype = bool_
    elif dtype is None and isinstance(fill_value, numbers.Integral):
        dtype = int64
    return _fill(size, fill_value, dtype, device, requires_grad, "full")


def _like(t, value, dtype, device, requires_grad, where):
    return _fill(t.shape, value, dtype or t.dtype, device or t.device, requires_grad, where)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    """Zeros with the shape (and by default dtype and device) of ``t``."""
    return _like(t, 0, dtype, device, requires_grad, "zeros_like")


def ones_like(t, dtype=None, device=None, requires_grad=False):
    """Ones with the shape, dtype and device of ``t``."""
    return _like(t, 1, dtype, device, requires_grad, "ones_like")


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    """``fill_value`` with the shape, dtype and device of ``t``."""
    return _like(t, fill_value, dtype, device, requires_grad, "full_like")


def empty_like(t, dtype=None, device=None, requires_grad=False):
    """A new tensor with the shape, dtype and device of ``t``."""
    return _like(t, 0, dtype, device, requires_grad, "empty_like")


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` up to (not including) ``end``; int64 unless an argument is a float."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = int64 if is_int else get_default_dtype()
    array = numpy.arange(start, end, step, dtype=numpy.dtype(dtype))
    return new_leaf(array, device, requires_grad, "arange")


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    array = numpy.linspace(start, end, steps, dtype=resolve_dtype(dtype))
    return new_leaf(array, device, requires_grad, "linspace")


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The n×m identity matrix."""
    return new_leaf(numpy.eye(n, m, dtype=resolve_dtype(dtype)), device, requires_grad, "eye")


def _random(draw, size, dtype, device, requires_grad, where):
    dev = Device(device) if device is not None else get_default_device()
    shape = shape_args(size)
    array = draw(backend.rng_for(dev), shape).astype(resolve_dtype(dtype), copy=False)
    if requires_grad:
        check_grad_dtype(array.dtype, where)
    return Tensor._make(array, bool(requires_grad))


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1)."""
    return _random(lambda g, s: g.random(s), size, dtype, device, requires_grad, "rand")


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal samples."""
    return _random(lambda g, s: g.standard_normal(s), size, dtype, device, requires_grad, "randn")


def randint(low, high=None, size=None, dtype=None, device=None):
    """Integers uniformly drawn from [low, high): ``randint(high, size)`` or ``randint(low, high, size)``."""
    if size is None:
        if high is None:
            raise TypeError("randint: size is required")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    return _random(lambda g, s: g.integers(low, high, size=s), size, dtype or int64, device, False, "randint")


def randperm(n, device=None, dtype=None):
    """A random permutation of 0..n-1 (int64)."""
    return _random(lambda g, s: g.permutation(n), (n,), dtype or int64, device, False, "randperm")


def rand_like(t, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1) with the shape (and by default dtype and device) of ``t``."""
    return rand(t.shape, dtype=dtype or _float_of(t), device=device or t.device, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False):
    """Standard normal samples with the shape (and by default dtype and device) of ``t``."""
    return randn(t.shape, dtype=dtype or _float_of(t), device=device or t.device, requires_grad=requires_grad)


def randint_like(t, low=0, high=None, dtype=None, device=None):
    """Integers from [low, high) with the shape of ``t``: ``randint_like(t, high)`` or ``(t, low, high)``."""
    if high is None:
        low, high = 0, low
    return randint(low, high, t.shape, dtype=dtype or t.dtype, device=device or t.device)


def _float_of(t):
    if t.dtype.kind not in "fc":  # PyTorch: "normal_kernel_cpu" not implemented for 'Long'
        raise RuntimeError(f"rand_like/randn_like: {t.dtype} tensors hold no random floats; pass dtype=")
    return t.dtype


def normal(mean=0.0, std=1.0, size=None, *, dtype=None, device=None, requires_grad=False, generator=None):
    """Samples of N(mean, std²): ``normal(mean_tensor, std_tensor)`` (broadcast together),
    ``normal(mean_tensor, std=1.0)``, ``normal(0.0, std_tensor)`` or ``normal(0.0, 1.0, size)``."""
    if generator is not None:
        raise TypeError("normal: generator= is not supported; seed with minidl.manual_seed")
    tensors = [v for v in (mean, std) if isinstance(v, Tensor)]
    if not tensors:
        if size is None:
            raise TypeError("normal: with a float mean and std, size= is required")
        z = randn(size, dtype=dtype, device=device)
        return new_leaf(z.array * std + mean, None, requires_grad, "normal").to(z.dtype)
    like = tensors[0]
    m = mean.array if isinstance(mean, Tensor) else mean
    s = std.array if isinstance(std, Tensor) else std
    xp = backend.get_array_module(like.array)
    if isinstance(std, Tensor) and std.numel() and bool((s < 0).any()):
        raise RuntimeError(f"normal: expects all elements of std >= 0.0 (std of shape {std.shape})")
    shape = numpy.broadcast_shapes(numpy.shape(m), numpy.shape(s))
    z = randn(shape, dtype=dtype or (like.dtype if like.dtype.kind == "f" else None), device=like.device)
    return Tensor._make(xp.asarray(z.array * s + m, dtype=z.dtype), bool(requires_grad))


def multinomial(input, num_samples, replacement=False, *, generator=None):  # noqa: A002 - PyTorch's name
    """Indices drawn from the categories of each row of ``input`` (non-negative weights, not
    necessarily normalised): (n,) -> (num_samples,), (m, n) -> (m, num_samples), int64.

    With replacement, inverse-CDF sampling; without, the Gumbel-top-k trick (argsort of
    log p + Gumbel noise), which draws the same distribution as sampling one at a time."""
    if generator is not None:
        raise TypeError("multinomial: generator= is not supported; seed with minidl.manual_seed")
    if input.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {input.shape}")
    xp = backend.get_array_module(input.array)
    p = input.array.astype(xp.float64).reshape(-1, input.shape[-1])  # (m, n)
    n, k = p.shape[1], int(num_samples)
    if not bool(xp.isfinite(p).all()) or bool((p < 0).any()):
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    if bool((p.sum(axis=1) <= 0).any()):
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
    if k <= 0 or (not replacement and k > int((p > 0).sum(axis=1).min())):
        raise RuntimeError(f"multinomial: cannot sample {k} samples from {n} categories without replacement "
                           "(not enough categories with a non-zero probability)" if k > 0
                           else f"multinomial: num_samples must be positive, got {k}")
    u = backend.rng_for(input.device).random((p.shape[0], k if replacement else n))
    if replacement:
        cdf = xp.cumsum(p, axis=1)
        cdf = cdf / cdf[:, -1:]  # (m, n), ends at 1
        idx = (u[:, :, None] >= cdf[:, None, :]).sum(axis=2)  # (m, k): the first category whose cdf exceeds u
        idx = xp.minimum(idx, n - 1)
    else:
        with numpy.errstate(divide="ignore"):
            keys = xp.where(p > 0, xp.log(p) - xp.log(-xp.log(u)), -xp.inf)  # log p + Gumbel(0, 1)
        idx = xp.argsort(-keys, axis=1, kind="stable")[:, :k]  # (m, k)
    out = idx.astype(xp.int64)
    return Tensor._make(out.reshape(k) if input.ndim == 1 else out, False)


def manual_seed(seed: int):
    """Seed every random generator minidl uses, so that runs repeat exactly."""
    backend.manual_seed(seed)


class _LegacyTensorType(type):
    """``isinstance(t, minidl.LongTensor)`` is a dtype test, as in PyTorch."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and (cls.dtype is None or obj.dtype == cls.dtype)


class _LegacyTensor(metaclass=_LegacyTensorType):
    """``FloatTensor(data)`` copies data into a tensor of that dtype; ``FloatTensor(2, 3)`` is a
    new (here zero-filled) tensor of that shape."""

    dtype = None

    def __new__(cls, *args, device=None):
        if not args:
            return zeros(0, dtype=cls.dtype, device=device)
        if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in args):
            return zeros(*args, dtype=cls.dtype, device=device)
        if len(args) != 1:
            raise TypeError(f"{cls.__name__}(): expects sizes (ints) or one sequence of data, got {args!r}")
        return tensor(args[0], dtype=cls.dtype, device=device)


class FloatTensor(_LegacyTensor):
    dtype = float32


class DoubleTensor(_LegacyTensor):
    dtype = float64


class HalfTensor(_LegacyTensor):
    dtype = float16


class LongTensor(_LegacyTensor):
    dtype = int64


class IntTensor(_LegacyTensor):
    dtype = int32


class ShortTensor(_LegacyTensor):
    dtype = int16


class CharTensor(_LegacyTensor):
    dtype = int8


class ByteTensor(_LegacyTensor):
    dtype = uint8


class BoolTensor(_LegacyTensor):
    dtype = bool_
