"""The one seam between minidl and its array libraries.

Every array a Tensor holds is either a NumPy array (device ``"cpu"``) or a CuPy array
(device ``"cuda"`` / ``"cuda:N"``). Ops never name NumPy: they ask this module for the
array module of their inputs (``get_array_module``) and call it ``xp``. This is the only
file that imports CuPy, and it does so lazily, so minidl works without it.

A third device, ``"strict"``, holds ``StrictArray``s: NumPy arrays in host memory behind a
wrapper that, like a CuPy array, refuses to turn into a NumPy array implicitly
(``numpy.asarray``, ``numpy.exp(a)``, ``a + ndarray`` all raise). Its array module
(``strict``) offers NumPy's API and gives back ``StrictArray``s. Tests run the ops on it so
that an op which silently falls back to NumPy fails on a machine without a GPU too.
"""

from __future__ import annotations

import os

import numpy

_cupy = None
_cupy_error: Exception | None = None

GPU_INSTALL_HINT = (
    "install CuPy for your CUDA version, e.g. `pip install minidl[gpu]` "
    "(or CuPy for CUDA 12 or 13: `pip install cupy-cuda12x` / `pip install cupy-cuda13x`)"
)
NO_GPU_HINT = "check that an NVIDIA GPU and its driver are present (`nvidia-smi`), or use device 'cpu'"


def _load_cupy():
    """Import CuPy once; remember why it failed so errors can say so."""
    global _cupy, _cupy_error
    if _cupy is None and _cupy_error is None:
        try:
            import cupy  # noqa: PLC0415 - optional dependency, imported lazily on purpose

            _cupy = cupy
        except Exception as exc:  # ImportError, or a CUDA library that fails to load
            _cupy_error = exc
    return _cupy


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    cp = _load_cupy()
    if cp is None:
        return False
    try:
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


class Device:
    """A place where arrays live: ``Device("cpu")``, ``Device("cuda")``, ``Device("cuda:1")``,
    or ``Device("strict")`` (host memory behind ``StrictArray``, for tests)."""

    __slots__ = ("type", "index")

    def __init__(self, spec: str | Device = "cpu"):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device must be a string like 'cpu' or 'cuda:0', got {spec!r}")
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda", "strict") or (kind != "cuda" and idx) or (idx and not idx.isdigit()):
            raise ValueError(
                f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N' (or 'strict', the test backend)"
            )
        self.type = kind
        self.index = int(idx) if idx else (0 if kind == "cuda" else None)

    def __eq__(self, other):
        if isinstance(other, str):
            other = Device(other)
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"


CPU = Device("cpu")
STRICT = Device("strict")


# ---- the strict host array module ----------------------------------------------------------
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


class DeviceGenerator:
    """The draws minidl makes off the host, built from the few methods that CuPy's
    ``cupy.random.Generator`` and NumPy's share (``random``, ``standard_normal``, ``integers``,
    ``permutation``), so the strict device draws exactly as the GPU does."""

    def __init__(self, rng):
        self._rng = rng

    def random(self, size=None, dtype=numpy.float64):
        return self._rng.random(size, dtype=dtype)

    def standard_normal(self, size=None, dtype=numpy.float64):
        return self._rng.standard_normal(size, dtype=dtype)

    def uniform(self, low=0.0, high=1.0, size=None):
        return low + (high - low) * self._rng.random(size)

    def normal(self, loc=0.0, scale=1.0, size=None):
        return loc + scale * self._rng.standard_normal(size)

    def integers(self, low, high=None, size=None, dtype=numpy.int64):
        return self._rng.integers(low, high, size=size, dtype=dtype)

    def permutation(self, x):
        return self._rng.permutation(x)


def get_array_module(*arrays):
    """The array module (``numpy`` or ``cupy``) that owns ``arrays``; NumPy for plain Python values."""
    for a in arrays:
        if isinstance(a, numpy.ndarray) or a is None:
            continue
        if type(a) is StrictArray:
            return strict
        mod = type(a).__module__
        if mod.startswith("cupy"):
            return _load_cupy()
    return numpy


def device_of(array) -> Device:
    """The device an array lives on."""
    if isinstance(array, numpy.ndarray) or numpy.isscalar(array):
        return CPU
    if type(array) is StrictArray:
        return STRICT
    if type(array).__module__.startswith("cupy"):
        return Device(f"cuda:{array.device.id}")
    raise TypeError(f"not an array minidl can hold: {type(array).__name__}")


def require_cuda(device: Device):
    """CuPy module for ``device``, or a clear error saying what is missing."""
    cp = _load_cupy()
    if cp is None:
        raise RuntimeError(f"device '{device}' needs CuPy, which is not installed ({_cupy_error}); {GPU_INSTALL_HINT}")
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise RuntimeError(
            f"device '{device}': CuPy is installed but no CUDA GPU is usable ({exc}); {NO_GPU_HINT}"
        ) from exc
    if count == 0:
        raise RuntimeError(f"device '{device}': CuPy is installed but sees no CUDA GPU; {NO_GPU_HINT}")
    if device.index >= count:
        raise RuntimeError(f"device '{device}' does not exist: {count} CUDA device(s) visible")
    return cp


def array_module_for(device: Device):
    """The array module that creates arrays on ``device``."""
    if device.type == "strict":
        return strict
    return numpy if device.type == "cpu" else require_cuda(device)


def to_device(array, device: Device | str):
    """Copy ``array`` to ``device`` (no copy when it is already there)."""
    device = Device(device)
    if device_of(array) == device:
        return array
    if device.type == "cpu":
        return array.get()
    if device.type == "strict":
        host = array.get() if hasattr(array, "get") else numpy.asarray(array)
        return StrictArray(numpy.array(host))
    cp = require_cuda(device)
    with cp.cuda.Device(device.index):
        return cp.asarray(array)


def as_numpy(array):
    """A NumPy array with the values of ``array`` (copied from the GPU when needed)."""
    if isinstance(array, numpy.ndarray):
        return array
    if type(array) is StrictArray:
        return array._a
    if type(array).__module__.startswith("cupy"):
        return array.get()
    return numpy.asarray(array)


def sliding_windows(x, kernel_size, stride, dilation, axes):
    """A read-only strided view of every window of ``x`` (no copy).

    ``axes`` are the spatial axes, ``kernel_size``/``stride``/``dilation`` one int per axis.
    Each spatial axis of size S becomes the window count O = (S − d·(k−1) − 1) // s + 1 and
    the window offsets are appended at the end: (N, C, H, W) with axes (2, 3) gives
    (N, C, OH, OW, KH, KW), where view[n, c, i, j, a, b] = x[n, c, i·sh + a·dh, j·sw + b·dw].
    """
    shape, strides = list(x.shape), list(x.strides)
    for a, k, s, d in zip(axes, kernel_size, stride, dilation):
        shape[a] = (x.shape[a] - d * (k - 1) - 1) // s + 1
        strides[a] = x.strides[a] * s
    shape += list(kernel_size)
    strides += [x.strides[a] * d for a, d in zip(axes, dilation)]
    if isinstance(x, numpy.ndarray):
        return numpy.lib.stride_tricks.as_strided(x, tuple(shape), tuple(strides), writeable=False)
    if type(x) is StrictArray:
        return StrictArray(numpy.lib.stride_tricks.as_strided(x._a, tuple(shape), tuple(strides), writeable=False))
    return _load_cupy().lib.stride_tricks.as_strided(x, tuple(shape), tuple(strides))


def retain_host_memory() -> bool:
    """Let freed NumPy buffers stay in the process heap for the next training step.

    glibc's malloc gives blocks above a threshold straight back to the kernel and trims the
    heap whenever its free top grows past a second threshold. A training step allocates and
    frees tens of MB of activations and gradients, so by default every step faults that memory
    in again (in a small CNN on 2 cores, about 40% of the step goes to the kernel). Fixing the
    thresholds at 32 MB (smaller blocks come from the heap) and 256 MB (free heap kept) makes
    the heap act as a memory pool, as CuPy's pool does on the GPU. glibc only (a no-op
    elsewhere); returns whether it was applied. Done on import unless the environment
    variable ``MINIDL_RETAIN_HOST_MEMORY`` is ``0``; it lasts for the life of the process.
    """
    import ctypes  # noqa: PLC0415 - only needed here

    try:
        mallopt = ctypes.CDLL(None).mallopt  # glibc's, through the process's own symbols
    except Exception:  # no C library symbols to look up, or a libc without mallopt
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    return bool(mallopt(m_trim_threshold, 256 << 20)) and bool(mallopt(m_mmap_threshold, 32 << 20))


def synchronize():
    """Wait for all queued GPU work (nothing to wait for on the CPU)."""
    cp = _load_cupy()
    if cp is not None and cupy_available():
        cp.cuda.Stream.null.synchronize()


# ---- random numbers: one generator per device, seeded together by manual_seed ----
_host_rng = numpy.random.default_rng()
_device_rngs: dict = {}
_seed: int | None = None


def manual_seed(seed: int):
    """Seed every generator minidl draws from (host and, if present, GPU)."""
    global _host_rng, _seed
    _seed = int(seed)
    _host_rng = numpy.random.default_rng(_seed)
    _device_rngs.clear()


def rng_for(device: Device):
    """The random generator for ``device``: a ``numpy.random.Generator`` on the CPU, a
    ``DeviceGenerator`` (over CuPy's generator, or strict arrays) elsewhere."""
    if device.type == "cpu":
        return _host_rng
    key = str(device)
    if device.type == "strict":
        if key not in _device_rngs:
            seed = _seed if _seed is not None else int(_host_rng.integers(2**31))
            _device_rngs[key] = DeviceGenerator(_StrictGenerator(numpy.random.default_rng(seed + 1)))
        return _device_rngs[key]
    if key not in _device_rngs:
        cp = require_cuda(device)
        with cp.cuda.Device(device.index):
            seed = _seed if _seed is not None else int(_host_rng.integers(2**31))
            _device_rngs[key] = DeviceGenerator(cp.random.default_rng(seed + device.index))
    return _device_rngs[key]


if os.environ.get("MINIDL_RETAIN_HOST_MEMORY", "1") != "0":
    retain_host_memory()
