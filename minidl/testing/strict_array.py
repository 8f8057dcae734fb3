"""The test device ``"strict"``: NumPy arrays in host memory behind a wrapper that, like a CuPy
array, refuses to turn into a NumPy array implicitly (``numpy.asarray``, ``numpy.exp(a)``,
``a + ndarray`` all raise). Its array module (``strict``) offers NumPy's API and gives back
``StrictArray``s. Tests run the ops on it so that an op which silently falls back to NumPy
fails on a machine without a GPU too.

``use_strict_device()`` registers it with ``minidl.backend`` (tests/conftest.py does, and
``benchmarks/gpu_check.py --device strict``); until then ``"strict"`` is not a device.
"""

from __future__ import annotations

import numpy

from .. import backend


def _refuse(what):
    raise TypeError(
        f"{what}: a strict array does not turn into a NumPy array implicitly (as a CuPy array would "
        "not); use the array module of the inputs (xp = ctx.xp or backend.get_array_module) or backend.as_numpy"
    )


def _unwrap(value, where, allow_host=False):
    """The NumPy value behind ``value`` (lists and tuples unwrapped item by item)."""
    if type(value) is StrictArray:
        return value._a
    if isinstance(value, numpy.ndarray) and not allow_host:
        raise TypeError(
            f"{where}: got a NumPy array of shape {value.shape} next to strict arrays "
            "(a host array would need an explicit copy to the device, as with CuPy)"
        )
    if type(value) in (list, tuple):
        return type(value)(_unwrap(v, where, allow_host) for v in value)
    return value


def _wrap(value):
    """``value`` with every NumPy array (and NumPy scalar, as CuPy gives 0-d arrays) wrapped."""
    if isinstance(value, numpy.ndarray):
        return StrictArray(value)
    if isinstance(value, numpy.generic):
        return StrictArray(numpy.asarray(value))
    if isinstance(value, tuple):
        items = [_wrap(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _strict_call(fn, where, allow_host=False):
    def call(*args, **kwargs):
        args = _unwrap(args, where, allow_host)
        kwargs = {k: _unwrap(v, where, allow_host) for k, v in kwargs.items()}
        return _wrap(fn(*args, **kwargs))

    call.__name__ = getattr(fn, "__name__", "call")
    return call


class _StrictArrayDevice:
    """What ``StrictArray.device`` gives: like ``cupy.cuda.Device``, an ``id`` and a context
    manager (that does nothing here)."""

    id = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __repr__(self):
        return "<strict device>"


_STRICT_ARRAY_DEVICE = _StrictArrayDevice()


class StrictArray:
    """A NumPy array that will not be used as one by accident (device ``"strict"``).

    Operators, indexing and methods work as on the array inside and give ``StrictArray``s;
    ``numpy.asarray(a)``, ``numpy.<function>(a)`` and mixing with plain NumPy arrays raise a
    ``TypeError``, as CuPy's arrays do. ``a.get()`` copies the values out, as in CuPy.
    """

    __slots__ = ("_a",)
    __array_priority__ = 2000
    __hash__ = None

    def __init__(self, array):
        self._a = array

    # refuse every implicit path into NumPy
    def __array__(self, dtype=None, copy=None):
        _refuse("numpy.asarray(strict array)")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _refuse(f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}"))

    def __array_function__(self, func, types, args, kwargs):
        _refuse(f"numpy.{func.__name__}")

    def get(self):
        """A NumPy copy of the values (CuPy's name)."""
        return self._a.copy()

    @property
    def device(self):
        return _STRICT_ARRAY_DEVICE

    def __getattr__(self, name):
        if name.startswith("__"):  # __array_interface__, __array_struct__, ...: no way into NumPy
            raise AttributeError(name)
        value = getattr(self._a, name)
        if callable(value):
            return _strict_call(value, f"strict array.{name}")
        return _wrap(value)

    def __repr__(self):
        return "strict_array(" + repr(self._a)[6:]

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __complex__(self):
        return complex(self._a)

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index, "strict array indexing")])

    def __setitem__(self, index, value):
        # CuPy copies a host value into a slice; that is explicit enough to allow
        self._a[_unwrap(index, "strict array indexing")] = _unwrap(value, "strict array assignment", True)

    def __neg__(self):
        return StrictArray(-self._a)

    def __pos__(self):
        return StrictArray(+self._a)

    def __abs__(self):
        return StrictArray(abs(self._a))

    def __invert__(self):
        return StrictArray(~self._a)


def _binary(name):
    op = getattr(numpy.ndarray, name)

    def method(self, other):
        result = op(self._a, _unwrap(other, f"strict array {name}"))
        if result is NotImplemented:
            return result
        return self if name.startswith("__i") and name not in ("__invert__",) else _wrap(result)

    method.__name__ = name
    return method


for _name in (
    "add radd sub rsub mul rmul truediv rtruediv floordiv rfloordiv mod rmod pow rpow matmul rmatmul "
    "and rand or ror xor rxor lshift rlshift rshift rrshift eq ne lt le gt ge "
    "iadd isub imul itruediv ifloordiv imod ipow iand ior ixor"
).split():
    setattr(StrictArray, f"__{_name}__", _binary(f"__{_name}__"))


class _StrictUfunc:
    """A NumPy ufunc over strict arrays, with its ``at``/``reduce``/``accumulate``/``outer``."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _strict_call(self._ufunc, f"strict.{self.__name__}")(*args, **kwargs)

    def __getattr__(self, name):
        value = getattr(self._ufunc, name)
        return _strict_call(value, f"strict.{self.__name__}.{name}") if callable(value) else value


class _StrictNamespace:
    """NumPy's functions (or a submodule's) taking and giving strict arrays; NumPy's types,
    dtypes and constants as they are."""

    def __init__(self, module, name):
        self._module, self.__name__ = module, name

    def __getattr__(self, name):
        value = getattr(self._module, name)
        if isinstance(value, numpy.ufunc):
            value = _StrictUfunc(value)
        elif isinstance(value, type(numpy)):
            value = _StrictNamespace(value, f"{self.__name__}.{name}")
        elif callable(value) and not isinstance(value, type):
            # asarray/array copy host data onto the device, as cupy.asarray does
            value = _strict_call(value, f"{self.__name__}.{name}", allow_host=name in _HOST_INPUT)
        setattr(self, name, value)  # look each name up once
        return value

    def __repr__(self):
        return f"<minidl strict array module {self.__name__}>"


_HOST_INPUT = {"asarray", "array", "ascontiguousarray", "asanyarray"}
strict = _StrictNamespace(numpy, "strict")


class _StrictGenerator:
    """A ``numpy.random.Generator`` whose draws are strict arrays."""

    def __init__(self, rng):
        self._rng = rng

    def __getattr__(self, name):
        value = getattr(self._rng, name)
        return _strict_call(value, f"strict rng.{name}") if callable(value) else value


class StrictLibrary:
    """The strict arrays as an array library for ``backend.register_array_library``."""

    kind = "strict"
    array_type = StrictArray
    xp = strict

    @staticmethod
    def from_host(array):
        return StrictArray(numpy.array(array))

    @staticmethod
    def to_host(array):
        return array._a

    @staticmethod
    def as_strided(array, shape, strides):
        return StrictArray(numpy.lib.stride_tricks.as_strided(array._a, shape, strides, writeable=False))

    @staticmethod
    def generator(seed):
        return backend.DeviceGenerator(_StrictGenerator(numpy.random.default_rng(seed)))


STRICT_LIBRARY = StrictLibrary()


def use_strict_device():
    """Register the device ``"strict"`` (again is harmless); returns ``backend.Device("strict")``."""
    backend.register_array_library(STRICT_LIBRARY)
    return backend.Device("strict")
