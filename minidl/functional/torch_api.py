"""PyTorch's top-level functions (``minidl.add``, ``minidl.sum``, ``minidl.matmul``, ...): the ops of
``minidl.functional`` with the arguments that PyTorch's top level adds to them:

- ``out=``: the result is written into an existing tensor (resized when its shape differs, as
  PyTorch does) and returned; not allowed when a gradient is being recorded, as in PyTorch;
- NumPy's ``axis=`` and ``keepdims=`` for ``dim=`` and ``keepdim=`` in the reductions.

The ops themselves, with their equations, are in the modules they come from.
"""

from __future__ import annotations

import functools

from ..grad_mode import is_grad_enabled
from ..tensor import Tensor
from . import activation, elementwise, hyperbolic, indexing, linalg, reduce
from . import shape as shape_ops

_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def write_out(result, out, op):
    """``result`` written into ``out`` (PyTorch's ``out=``); ``out`` returned."""
    if out is None:
        return result
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): argument 'out' must be a Tensor, got {type(out).__name__}")
    if is_grad_enabled() and (result.requires_grad or out.requires_grad):
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad")
    if _RANK[result.dtype.kind] > _RANK[out.dtype.kind]:
        raise RuntimeError(f"{op}(): result type {result.dtype} can't be cast to the desired output type {out.dtype}")
    if out.device != result.device:
        raise RuntimeError(f"{op}(): out is on {out.device}, the result on {result.device}")
    if out.shape == result.shape:
        out._write(..., result)
    else:  # PyTorch resizes an out of another shape
        out.array = result.array.astype(out.dtype, copy=True)
        out._bump()
    return out


def _with_out(fn, name):
    @functools.wraps(fn)
    def op(*args, out=None, **kwargs):
        return write_out(fn(*args, **kwargs), out, name)

    return op


def dim_alias(dim, keepdim, axis, keepdims, op):
    """``dim``/``keepdim`` from PyTorch's names or NumPy's (``axis``/``keepdims``), not both."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}(): got both dim and its alias axis")
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return dim, keepdim


def _reduction(fn, name):
    @functools.wraps(fn)
    def op(input, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None, out=None):  # noqa: A002
        dim, keepdim = dim_alias(dim, keepdim, axis, keepdims, name)
        x = input if dtype is None else input.to(dtype)
        return write_out(fn(x, dim, keepdim), out, name)

    return op


def add(input, other, *, alpha=1, out=None):  # noqa: A002 - PyTorch's names
    """input + alpha · other (``torch.add``)."""
    return write_out(elementwise.add(input, other if alpha == 1 else elementwise.mul(other, alpha)), out, "add")


def sub(input, other, *, alpha=1, out=None):  # noqa: A002
    """input − alpha · other (``torch.sub``)."""
    return write_out(elementwise.sub(input, other if alpha == 1 else elementwise.mul(other, alpha)), out, "sub")


def softmax(input, dim, dtype=None):  # noqa: A002
    """``torch.softmax``: softmax along ``dim`` (see ``activation.softmax``)."""
    return activation.softmax(input if dtype is None else input.to(dtype), dim)


def log_softmax(input, dim, dtype=None):  # noqa: A002
    """``torch.log_softmax`` (see ``activation.log_softmax``)."""
    return activation.log_softmax(input if dtype is None else input.to(dtype), dim)


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None, *, axis=None, keepdims=None):  # noqa: A002
    """``torch.norm`` (see ``linalg.norm``)."""
    dim, keepdim = dim_alias(dim, keepdim, axis, keepdims, "norm")
    return write_out(linalg.norm(input, p, dim, keepdim, dtype), out, "norm")


def cat(tensors, dim=0, *, axis=None, out=None):
    """``torch.cat`` (see ``shape.cat``)."""
    dim, _ = dim_alias(None if axis is not None else dim, False, axis, None, "cat")
    return write_out(shape_ops.cat(tensors, dim), out, "cat")


def stack(tensors, dim=0, *, out=None):
    """``torch.stack`` (see ``shape.stack``)."""
    return write_out(shape_ops.stack(tensors, dim), out, "stack")


mul = _with_out(elementwise.mul, "mul")
div = _with_out(elementwise.div, "div")
pow = _with_out(elementwise.pow, "pow")  # noqa: A001 - PyTorch's name
matmul = _with_out(linalg.matmul, "matmul")
mm = _with_out(linalg.mm, "mm")
bmm = _with_out(linalg.bmm, "bmm")
exp = _with_out(elementwise.exp, "exp")
log = _with_out(elementwise.log, "log")
sqrt = _with_out(elementwise.sqrt, "sqrt")
abs = _with_out(elementwise.abs, "abs")  # noqa: A001
sin = _with_out(elementwise.sin, "sin")
cos = _with_out(elementwise.cos, "cos")
tanh = _with_out(elementwise.tanh, "tanh")
sigmoid = _with_out(elementwise.sigmoid, "sigmoid")
sinh = _with_out(hyperbolic.sinh, "sinh")
cosh = _with_out(hyperbolic.cosh, "cosh")
maximum = _with_out(elementwise.maximum, "maximum")
minimum = _with_out(elementwise.minimum, "minimum")
clamp = _with_out(elementwise.clamp, "clamp")
tril = _with_out(indexing.tril, "tril")
triu = _with_out(indexing.triu, "triu")
sum = _reduction(reduce.sum, "sum")  # noqa: A001
mean = _reduction(reduce.mean, "mean")
amax = _reduction(reduce.amax, "amax")
amin = _reduction(reduce.amin, "amin")
logsumexp = _reduction(reduce.logsumexp, "logsumexp")
argmax = _reduction(reduce.argmax, "argmax")
argmin = _reduction(reduce.argmin, "argmin")


def max(input, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None):  # noqa: A001, A002
    """``torch.max(x)``, ``torch.max(x, dim)`` (values and indices) or ``torch.max(a, b)`` (elementwise)."""
    if isinstance(dim, Tensor):
        return write_out(elementwise.maximum(input, dim), out, "max")
    dim, keepdim = dim_alias(dim, keepdim, axis, keepdims, "max")
    return reduce.max(input, dim, keepdim)


def min(input, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None):  # noqa: A001, A002
    """``torch.min(x)``, ``torch.min(x, dim)`` (values and indices) or ``torch.min(a, b)`` (elementwise)."""
    if isinstance(dim, Tensor):
        return write_out(elementwise.minimum(input, dim), out, "min")
    dim, keepdim = dim_alias(dim, keepdim, axis, keepdims, "min")
    return reduce.min(input, dim, keepdim)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None, out=None):  # noqa: A002
    """``torch.var(x, dim, unbiased, keepdim)`` or with ``correction=`` (see ``reduce.var``)."""
    dim, keepdim = dim_alias(dim, keepdim, axis, keepdims, "var")
    c = 1 if correction is None else correction
    return write_out(reduce.var(input, dim, keepdim, correction=c, unbiased=unbiased), out, "var")


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None, out=None):  # noqa: A002
    """``torch.std(x, dim, unbiased, keepdim)`` or with ``correction=`` (see ``reduce.std``)."""
    dim, keepdim = dim_alias(dim, keepdim, axis, keepdims, "std")
    c = 1 if correction is None else correction
    return write_out(reduce.std(input, dim, keepdim, correction=c, unbiased=unbiased), out, "std")
