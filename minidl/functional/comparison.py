"""Comparisons and logic, elementwise: ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``~``, ``&``,
``|``, ``isnan`` and ``sign``. Their results are bool (or sign's -1/0/1) tensors with no gradient,
so they are plain functions, not ``Function``s."""

from __future__ import annotations

from ..backend import get_array_module
from ..tensor import Tensor
from ._common import data_of


def _compare(a, b, fn):
    ad, bd = data_of(a), data_of(b)
    xp = get_array_module(ad if isinstance(a, Tensor) else bd)
    return Tensor._make(xp.asarray(fn(ad, bd)), False)


def eq(a, b):
    """``a == b`` elementwise: a bool tensor, no gradient."""
    return _compare(a, b, lambda x, y: x == y)


def ne(a, b):
    """``a != b`` elementwise: a bool tensor, no gradient."""
    return _compare(a, b, lambda x, y: x != y)


def lt(a, b):
    """``a < b`` elementwise: a bool tensor, no gradient."""
    return _compare(a, b, lambda x, y: x < y)


def le(a, b):
    """``a <= b`` elementwise: a bool tensor, no gradient."""
    return _compare(a, b, lambda x, y: x <= y)


def gt(a, b):
    """``a > b`` elementwise: a bool tensor, no gradient."""
    return _compare(a, b, lambda x, y: x > y)


def ge(a, b):
    """``a >= b`` elementwise: a bool tensor, no gradient."""
    return _compare(a, b, lambda x, y: x >= y)


def logical_not(x):
    """Elementwise logical not (non-bool inputs: ``x == 0``)."""
    return _compare(x, None, lambda a, _: ~a if a.dtype.kind == "b" else a == 0)


def logical_and(a, b):
    """Elementwise logical and of bool tensors."""
    return _compare(a, b, lambda x, y: x & y)


def logical_or(a, b):
    """Elementwise logical or of bool tensors."""
    return _compare(a, b, lambda x, y: x | y)


def isnan(x):
    """Where ``x`` is NaN: a bool tensor."""
    return _compare(x, None, lambda a, _: a != a)


def sign(x):
    """Elementwise sign (-1, 0 or 1), without gradient."""
    return _compare(x, None, lambda a, _: (a > 0).astype(a.dtype) - (a < 0).astype(a.dtype))
