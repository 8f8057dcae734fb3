"""Creating tensors: ``zeros``, ``ones``, ``full``, ``empty`` and their ``*_like`` forms,
``arange``, ``linspace``, ``eye``, random ``rand``/``randn``/``randint``/``randperm``, and
``manual_seed``. ``tensor(data)`` itself, the copy of existing data, is in ``minidl.tensor``.
"""

from __future__ import annotations

import numbers

import numpy

from . import backend
from .backend import CPU, Device
from .dtypes import bool_, check_grad_dtype, get_default_dtype, int64, resolve_dtype
from .tensor import Tensor, new_leaf, shape_args


def _xp_for(device):
    return backend.array_module_for(Device(device) if device is not None else CPU)


def _fill(shape, value, dtype, device, requires_grad, where):
    shape = shape_args(shape)
    xp = _xp_for(device)
    dev = Device(device) if device is not None else CPU
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
    dev = Device(device) if device is not None else CPU
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


def randperm(n, device=None):
    """A random permutation of 0..n-1 (int64)."""
    return _random(lambda g, s: g.permutation(n), (n,), int64, device, False, "randperm")


def manual_seed(seed: int):
    """Seed every random generator minidl uses, so that runs repeat exactly."""
    backend.manual_seed(seed)
