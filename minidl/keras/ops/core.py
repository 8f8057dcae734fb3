"""``keras.ops`` (creation, elementwise, reductions, shapes; ``keras.ops.nn`` has the rest):
the backend-agnostic tensor functions Keras 3 programs use instead of ``tf.*``,
here on minidl Tensors (differentiable wherever minidl's ops are). Arguments may be Tensors,
NumPy arrays, lists or numbers; results are Tensors whose ``numpy()`` always works, and
``convert_to_numpy`` gives an array. Names and arguments are Keras's (``axis``, ``keepdims``).

    x = keras.ops.convert_to_tensor([[1.0, 2.0]])
    keras.ops.mean(keras.ops.square(x), axis=-1)        # Tensor([2.5])

The functions that have no gradient (comparisons, ``argmax``, ``floor``, ``round``, ``one_hot``,
``top_k`` indices, ...) return Tensors outside the autograd graph, as their derivative is zero
or undefined. Each function is built from ``minidl.functional`` (where the equations are).
"""

from __future__ import annotations

import builtins

import numpy

from ... import backend
from ... import functional as F
from ...tensor import Tensor
from ..layers.symbolic import as_input_tensor  # noqa: F401  (used by ops.nn)
from ..variables import eager


def _t(x, dtype=None):
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == numpy.dtype(dtype) else F.cast(x, numpy.dtype(dtype))
    if isinstance(x, (int, float, bool)) and dtype is None:
        dtype = "float32" if isinstance(x, float) else None
    array = numpy.asarray(backend.as_numpy(x) if hasattr(x, "dtype") else x, dtype=dtype)
    if array.dtype == numpy.float64 and dtype is None and not isinstance(x, numpy.ndarray):
        array = array.astype(numpy.float32)  # Python floats become float32, as in Keras
    return Tensor._make(array, False)


def _pair(a, b):
    """Two operands as Tensors; a number takes the other operand's dtype (no silent promotion)."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and numpy.ndim(b) == 0:
        return a, Tensor._make(backend.array_module_for(a.device).asarray(b, dtype=a.dtype), False)
    if isinstance(b, Tensor) and not isinstance(a, Tensor) and numpy.ndim(a) == 0:
        return Tensor._make(backend.array_module_for(b.device).asarray(a, dtype=b.dtype), False), b
    return _t(a), _t(b)


def _const(array):
    return eager(Tensor._make(array, False))


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


# ---- creation and conversion ---------------------------------------------------------------------
def convert_to_tensor(x, dtype=None, sparse=None):
    return eager(_t(x, dtype))


def convert_to_numpy(x):
    return backend.as_numpy(x.array).copy() if isinstance(x, Tensor) else numpy.asarray(x)


def cast(x, dtype):
    return eager(F.cast(_t(x), numpy.dtype(dtype)))


def shape(x):
    """The shape as a tuple of ints (also for a symbolic keras.Input, with None for the batch)."""
    return tuple(x.shape)


def ndim(x):
    return len(x.shape)


def dtype(x):
    return numpy.dtype(x.dtype).name


def zeros(shape, dtype="float32"):
    return _const(numpy.zeros(shape, dtype))


def ones(shape, dtype="float32"):
    return _const(numpy.ones(shape, dtype))


def full(shape, fill_value, dtype=None):
    return _const(numpy.full(shape, fill_value, dtype or ("float32" if isinstance(fill_value, float) else None)))


def zeros_like(x, dtype=None):
    return _const(numpy.zeros(tuple(x.shape), dtype or _t(x).dtype))


def ones_like(x, dtype=None):
    return _const(numpy.ones(tuple(x.shape), dtype or _t(x).dtype))


def arange(start, stop=None, step=1, dtype=None):
    """Like numpy.arange; integers give int32 (Keras's default), floats float32."""
    values = numpy.arange(start, stop, step)
    return _const(values.astype(dtype or ("int32" if values.dtype.kind == "i" else "float32")))


def linspace(start, stop, num=50, endpoint=True, dtype="float32"):
    return _const(numpy.linspace(start, stop, num, endpoint=endpoint).astype(dtype))


def eye(N, M=None, k=0, dtype="float32"):  # noqa: N803 - Keras's argument names
    return _const(numpy.eye(N, M, k, dtype=dtype))


def tril(x, k=0):
    x = _t(x)
    mask = numpy.tril(numpy.ones(x.shape[-2:], bool), k)
    return eager(F.where(Tensor._make(backend.to_device(mask, x.device)), x, zeros_like(x)))


def triu(x, k=0):
    x = _t(x)
    mask = numpy.triu(numpy.ones(x.shape[-2:], bool), k)
    return eager(F.where(Tensor._make(backend.to_device(mask, x.device)), x, zeros_like(x)))


# ---- elementwise ---------------------------------------------------------------------------------
def add(a, b):
    return eager(F.add(*_pair(a, b)))


def subtract(a, b):
    return eager(F.sub(*_pair(a, b)))


def multiply(a, b):
    return eager(F.mul(*_pair(a, b)))


def divide(a, b):
    return eager(F.div(*_pair(a, b)))


true_divide = divide


def power(a, b):
    return eager(F.pow(*_pair(a, b)))


def maximum(a, b):
    return eager(F.maximum(*_pair(a, b)))


def minimum(a, b):
    return eager(F.minimum(*_pair(a, b)))


def negative(x):
    return eager(F.neg(_t(x)))


def abs(x):  # noqa: A001 - Keras's name
    return eager(F.abs(_t(x)))


absolute = abs


def square(x):
    x = _t(x)
    return eager(F.mul(x, x))


def sqrt(x):
    return eager(F.sqrt(_t(x)))


def rsqrt(x):
    return eager(F.div(1.0, F.sqrt(_t(x))))


def exp(x):
    return eager(F.exp(_t(x)))


def expm1(x):
    return eager(F.exp(_t(x)) - 1.0)


def log(x):
    return eager(F.log(_t(x)))


def log1p(x):
    return eager(F.log(_t(x) + 1.0))


def sin(x):
    return eager(F.sin(_t(x)))


def cos(x):
    return eager(F.cos(_t(x)))


def tan(x):
    x = _t(x)
    return eager(F.sin(x) / F.cos(x))


def tanh(x):
    return eager(F.tanh(_t(x)))


def sign(x):
    return eager(F.sign(_t(x)))


def clip(x, x_min, x_max):
    return eager(F.clamp(_t(x), x_min, x_max))


def where(condition, x1=None, x2=None):
    if x1 is None and x2 is None:
        return tuple(_const(i) for i in numpy.nonzero(convert_to_numpy(condition)))
    cond = _t(condition)
    a, b = _pair(x1, x2)
    return eager(F.where(cond if cond.dtype == bool else F.cast(cond, numpy.dtype(bool)), a, b))


def _no_grad(fn, x, *args):
    x = _t(x)
    return _const(getattr(backend.get_array_module(x.array), fn)(x.array, *args))


def floor(x):
    return _no_grad("floor", x)


def ceil(x):
    return _no_grad("ceil", x)


def round(x, decimals=0):  # noqa: A001 - Keras's name
    return _no_grad("round", x, decimals)


def _compare(fn, a, b):
    a, b = _pair(a, b)
    return _const(getattr(backend.get_array_module(a.array), fn)(a.array, b.array))


def equal(a, b):
    return _compare("equal", a, b)


def not_equal(a, b):
    return _compare("not_equal", a, b)


def greater(a, b):
    return _compare("greater", a, b)


def greater_equal(a, b):
    return _compare("greater_equal", a, b)


def less(a, b):
    return _compare("less", a, b)


def less_equal(a, b):
    return _compare("less_equal", a, b)


def logical_and(a, b):
    return _compare("logical_and", a, b)


def logical_or(a, b):
    return _compare("logical_or", a, b)


def logical_not(x):
    return _no_grad("logical_not", x)


def isnan(x):
    return _no_grad("isnan", x)


def stop_gradient(x):
    return eager(_t(x).detach())


# ---- reductions ----------------------------------------------------------------------------------
def sum(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    return eager(F.sum(_t(x), _axes(axis), keepdims))


def mean(x, axis=None, keepdims=False):
    return eager(F.mean(_t(x), _axes(axis), keepdims))


def max(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    return eager(F.amax(_t(x), _axes(axis), keepdims))


def min(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    return eager(F.amin(_t(x), _axes(axis), keepdims))


def var(x, axis=None, keepdims=False):
    return eager(F.var(_t(x), _axes(axis), keepdims, correction=0))


def std(x, axis=None, keepdims=False):
    return eager(F.std(_t(x), _axes(axis), keepdims, correction=0))


def prod(x, axis=None, keepdims=False):
    x = _t(x)
    return eager(F.exp(F.sum(F.log(F.abs(x)), _axes(axis), keepdims)) * _no_grad("prod", sign(x), axis))


def logsumexp(x, axis=None, keepdims=False):
    return eager(F.logsumexp(_t(x), _axes(axis), keepdims))


def argmax(x, axis=None, keepdims=False):
    return _const(backend.get_array_module(_t(x).array).argmax(_t(x).array, axis=axis, keepdims=keepdims))


def argmin(x, axis=None, keepdims=False):
    return _const(backend.get_array_module(_t(x).array).argmin(_t(x).array, axis=axis, keepdims=keepdims))


def any(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    return _const(numpy.any(convert_to_numpy(x), axis=axis, keepdims=keepdims))


def all(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    return _const(numpy.all(convert_to_numpy(x), axis=axis, keepdims=keepdims))


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - Keras's name
    if ord not in (None, 2, "fro", "euclidean"):
        raise NotImplementedError(f"ops.norm: ord={ord!r} (only the Euclidean / Frobenius norm)")
    x = _t(x)
    return eager(F.sqrt(F.sum(x * x, _axes(axis), keepdims)))


def cumsum(x, axis=None):
    x = _t(x)
    if axis is None:
        x, axis = F.reshape(x, (-1,)), 0
    n = x.shape[axis]
    ones_tri = Tensor._make(backend.to_device(numpy.tril(numpy.ones((n, n), x.dtype)), x.device))  # (n, n)
    moved = F.transpose(x, axis, -1) if axis not in (-1, x.ndim - 1) else x
    out = F.matmul(moved, F.transpose(ones_tri, 0, 1))
    return eager(F.transpose(out, axis, -1) if axis not in (-1, x.ndim - 1) else out)


def top_k(x, k, sorted=True):  # noqa: A002 - Keras's name
    """(values, indices) of the k largest entries along the last axis; values keep their gradient."""
    x = _t(x)
    order = numpy.argsort(-backend.as_numpy(x.array), axis=-1, kind="stable")[..., :k]
    indices = Tensor._make(backend.to_device(order, x.device))
    return take_along_axis(x, indices, -1), eager(indices)


# ---- shapes --------------------------------------------------------------------------------------
def reshape(x, newshape):
    return eager(F.reshape(_t(x), tuple(newshape)))


def transpose(x, axes=None):
    x = _t(x)
    return eager(F.permute(x, tuple(reversed(range(x.ndim))) if axes is None else tuple(axes)))


def expand_dims(x, axis):
    return eager(F.unsqueeze(_t(x), axis))


def squeeze(x, axis=None):
    return eager(F.squeeze(_t(x), axis))


def concatenate(xs, axis=0):
    return eager(F.cat([_t(x) for x in xs], axis))


def stack(xs, axis=0):
    return eager(F.stack([_t(x) for x in xs], axis))


def split(x, indices_or_sections, axis=0):
    x = _t(x)
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise ValueError(f"ops.split: axis {axis} of size {n} does not split into {indices_or_sections} parts")
        return [eager(t) for t in F.split(x, n // indices_or_sections, axis)]
    bounds = [0] + list(indices_or_sections) + [n]
    return [eager(t) for t in F.split(x, [b - a for a, b in zip(bounds[:-1], bounds[1:])], axis)]


def tile(x, repeats):
    x = _t(x)
    repeats = (1,) * (x.ndim - len(repeats)) + tuple(repeats)
    return eager(F.repeat(x, repeats))


def repeat(x, repeats, axis=None):
    x = _t(x)
    if axis is None:
        x, axis = F.reshape(x, (-1,)), 0
    axis = axis % x.ndim
    idx = numpy.repeat(numpy.arange(x.shape[axis]), repeats)
    return eager(F.index_select(x, axis, Tensor._make(backend.to_device(idx, x.device))))


def broadcast_to(x, shape):
    return eager(F.broadcast_to(_t(x), tuple(shape)))


def take(x, indices, axis=None):
    x, idx = _t(x), _t(indices)
    if axis is None:
        x, axis = F.reshape(x, (-1,)), 0
    flat = F.index_select(x, axis, F.reshape(idx, (-1,)))
    axis = axis % x.ndim
    return eager(F.reshape(flat, tuple(x.shape[:axis]) + tuple(idx.shape) + tuple(x.shape[axis + 1:])))


def take_along_axis(x, indices, axis=None):
    x, idx = _t(x), _t(indices)
    xp = backend.get_array_module(x.array)
    axis = axis % x.ndim
    grids = list(xp.meshgrid(*[xp.arange(n) for n in idx.shape], indexing="ij"))
    grids[axis] = idx.array
    return eager(F.getitem(x, tuple(grids)))


def slice(x, start_indices, shape):  # noqa: A001 - Keras's name
    index = tuple(builtins.slice(s, s + n) for s, n in zip(start_indices, shape))
    return eager(F.getitem(_t(x), index))


def one_hot(x, num_classes, axis=-1, dtype="float32"):
    labels = convert_to_numpy(x).astype(numpy.int64)
    out = numpy.eye(num_classes, dtype=dtype)[labels]
    return _const(out if axis == -1 else numpy.moveaxis(out, -1, axis))


