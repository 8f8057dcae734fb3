"""Assertions for tests of minidl ops."""

from __future__ import annotations

import numpy

from .. import backend
from ..gradcheck import gradcheck, gradgradcheck
from ..tensor import Tensor


def _np(x):
    if isinstance(x, Tensor):
        return backend.as_numpy(x.array)
    if hasattr(x, "detach"):  # a torch tensor
        return x.detach().cpu().numpy()
    return backend.as_numpy(x) if hasattr(x, "shape") else numpy.asarray(x)


def assert_close(actual, expected, rtol=1e-6, atol=1e-8, what="values"):
    """Assert equal shapes and values within ``atol + rtol·|expected|``; the message names the
    worst element."""
    a, e = _np(actual), _np(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {a.shape} != expected {e.shape}")
    if a.size == 0:
        return
    a64, e64 = a.astype(numpy.float64), e.astype(numpy.float64)
    both_nan = numpy.isnan(a64) & numpy.isnan(e64)
    with numpy.errstate(invalid="ignore"):  # inf - inf: equal infinities are handled below
        excess = numpy.abs(a64 - e64) - (atol + rtol * numpy.abs(e64))
    excess = numpy.where(both_nan | (a64 == e64), -1.0, numpy.nan_to_num(excess, nan=numpy.inf))
    if (excess > 0).any():
        i = numpy.unravel_index(int(numpy.argmax(excess)), a.shape)
        raise AssertionError(
            f"{what}: {(excess > 0).sum()} of {a.size} elements differ; worst at {tuple(int(j) for j in i)}: "
            f"{a64[i]!r} vs expected {e64[i]!r} (rtol={rtol}, atol={atol})"
        )


def assert_gradients_match(fn, *inputs, atol=1e-5, rtol=1e-3, eps=1e-6, second_order=True, seed=0):
    """``gradcheck`` and (unless ``second_order=False``) ``gradgradcheck`` of ``fn(*inputs)``
    with random upstream gradients; raises with a report naming the input and element."""
    gradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)
    if second_order:
        gradgradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)


def assert_not_mutated(fn, *inputs):
    """Run ``fn(*inputs)`` and assert that no input Tensor's values changed. Returns the result."""
    before = [t.array.copy() if isinstance(t, Tensor) else None for t in inputs]
    out = fn(*inputs)
    for i, (t, b) in enumerate(zip(inputs, before)):
        if b is not None and not bool((t.array == b).all()):
            raise AssertionError(f"{getattr(fn, '__name__', fn)} modified its input {i} (shape {t.shape})")
    return out
