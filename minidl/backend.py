"""The one seam between minidl and its array libraries.

Every array a Tensor holds is either a NumPy array (device ``"cpu"``) or a CuPy array
(device ``"cuda"`` / ``"cuda:N"``). Ops never name NumPy: they ask this module for the
array module of their inputs (``get_array_module``) and call it ``xp``. This is the only
file that imports CuPy, and it does so lazily, so minidl works without it.

Other array libraries can be plugged in as further device kinds with
``register_array_library`` (an object that says how to move arrays in and out of host memory,
cut strided windows and draw random numbers). ``minidl.testing.use_strict_device()`` registers
one that way, the test device ``"strict"``: host arrays that, like CuPy's, refuse to turn into
NumPy arrays implicitly. Importing this module changes nothing in the process: the host
allocator setting (``retain_host_memory``) is applied at the first use of an array module.
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
    or the name of a registered array library (``register_array_library``), such as the test
    device ``"strict"``."""

    __slots__ = ("type", "index")

    def __init__(self, spec: str | Device = "cpu"):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device must be a string like 'cpu' or 'cuda:0', got {spec!r}")
        kind, _, idx = spec.partition(":")
        if (kind not in ("cpu", "cuda") and kind not in _LIBRARIES) or (kind != "cuda" and idx) or (
                idx and not idx.isdigit()):
            raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'{_registered_hint(kind)}")
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


# ---- further array libraries (device kinds) ------------------------------------------------------
_LIBRARIES: dict = {}  # device kind -> library object (see register_array_library)
_LIBRARY_BY_TYPE: dict = {}  # array type -> library object


def register_array_library(library):
    """Make ``library.kind`` (a name such as ``"strict"``) a device whose arrays are
    ``library.array_type``. The library object provides:

        xp                          the array module ops call (NumPy's API)
        from_host(a)                a copy of the NumPy array ``a`` as one of its arrays
        to_host(a)                  the NumPy values of its array ``a`` (no copy needed)
        as_strided(a, shape, strides)   a read-only strided view
        generator(seed)             a random generator with DeviceGenerator's methods

    Registering the same kind again replaces it."""
    _LIBRARIES[library.kind] = library
    _LIBRARY_BY_TYPE[library.array_type] = library


def _registered_hint(kind):
    if _LIBRARIES:
        return " or " + ", ".join(repr(k) for k in sorted(_LIBRARIES))
    if kind == "strict":
        return " (the test device 'strict' exists after minidl.testing.use_strict_device())"
    return ""


def is_device_array(array) -> bool:
    """True for an array that lives off NumPy's host memory: CuPy's, or a registered library's."""
    return (type(array) in _LIBRARY_BY_TYPE or hasattr(array, "__cuda_array_interface__")
            or type(array).__module__.startswith("cupy"))


class DeviceGenerator:
    """The draws minidl makes off the host, built from the few methods that CuPy's
    ``cupy.random.Generator`` and NumPy's share (``random``, ``standard_normal``, ``integers``,
    ``permutation``), so a registered array library draws exactly as the GPU does."""

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


# ---- the array module of an array, devices ---------------------------------------------------------
def get_array_module(*arrays):
    """The array module (``numpy`` or ``cupy``) that owns ``arrays``; NumPy for plain Python values."""
    if not _host_memory_checked:
        _first_host_use()
    for a in arrays:
        if isinstance(a, numpy.ndarray) or a is None:
            continue
        library = _LIBRARY_BY_TYPE.get(type(a))
        if library is not None:
            return library.xp
        mod = type(a).__module__
        if mod.startswith("cupy"):
            return _load_cupy()
    return numpy


def device_of(array) -> Device:
    """The device an array lives on."""
    if isinstance(array, numpy.ndarray) or numpy.isscalar(array):
        return CPU
    library = _LIBRARY_BY_TYPE.get(type(array))
    if library is not None:
        return Device(library.kind)
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
    if not _host_memory_checked:
        _first_host_use()
    if device.type in _LIBRARIES:
        return _LIBRARIES[device.type].xp
    return numpy if device.type == "cpu" else require_cuda(device)


def to_device(array, device: Device | str):
    """Copy ``array`` to ``device`` (no copy when it is already there)."""
    device = Device(device)
    if device_of(array) == device:
        return array
    if device.type == "cpu":
        return array.get()
    if device.type in _LIBRARIES:
        host = array.get() if hasattr(array, "get") else numpy.asarray(array)
        return _LIBRARIES[device.type].from_host(host)
    cp = require_cuda(device)
    with cp.cuda.Device(device.index):
        return cp.asarray(array)


def as_numpy(array):
    """A NumPy array with the values of ``array`` (copied from the GPU when needed)."""
    if isinstance(array, numpy.ndarray):
        return array
    library = _LIBRARY_BY_TYPE.get(type(array))
    if library is not None:
        return library.to_host(array)
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
    library = _LIBRARY_BY_TYPE.get(type(x))
    if library is not None:
        return library.as_strided(x, tuple(shape), tuple(strides))
    return _load_cupy().lib.stride_tricks.as_strided(x, tuple(shape), tuple(strides))


def writable_unless_repeated(y):
    """NumPy marks every view of a ``broadcast_to`` result read-only, even one that no longer
    repeats memory: ``x.expand(2, 2, 1).select(1, 0)`` has shape (2, 1) and strides (8, 0), and
    each element is a distinct location. PyTorch lets such a view be written, so the view ops
    give it back its write flag; a view where a dim of size > 1 has stride 0 stays read-only
    (one write would change several elements). NumPy refuses the flag where the memory itself
    is read-only, and then the view stays as it is."""
    if type(y) is numpy.ndarray and not y.flags.writeable and y.base is not None:
        if not any(st == 0 and n > 1 for st, n in zip(y.strides, y.shape)):
            try:
                y.flags.writeable = True
            except ValueError:
                pass
    return y


def retain_host_memory() -> bool:
    """Let freed NumPy buffers stay in the process heap for the next training step.

    glibc's malloc gives blocks above a threshold straight back to the kernel and trims the
    heap whenever its free top grows past a second threshold. A training step allocates and
    frees tens of MB of activations and gradients, so by default every step faults that memory
    in again (in a small CNN on 2 cores, about 40% of the step goes to the kernel). Fixing the
    thresholds at 32 MB (smaller blocks come from the heap) and 256 MB (free heap kept) makes
    the heap act as a memory pool, as CuPy's pool does on the GPU. glibc only (a no-op
    elsewhere); returns whether it was applied. Done once, at the first use of an array module
    (``get_array_module`` / ``array_module_for``), unless the environment variable
    ``MINIDL_RETAIN_HOST_MEMORY`` is ``0`` then; it lasts for the life of the process.
    """
    import ctypes  # noqa: PLC0415 - only needed here

    try:
        mallopt = ctypes.CDLL(None).mallopt  # glibc's, through the process's own symbols
    except Exception:  # no C library symbols to look up, or a libc without mallopt
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    return bool(mallopt(m_trim_threshold, 256 << 20)) and bool(mallopt(m_mmap_threshold, 32 << 20))


_host_memory_checked = False


def _first_host_use():
    """Apply ``retain_host_memory`` once, unless ``MINIDL_RETAIN_HOST_MEMORY=0``."""
    global _host_memory_checked
    _host_memory_checked = True
    if os.environ.get("MINIDL_RETAIN_HOST_MEMORY", "1") != "0":
        retain_host_memory()


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
    ``DeviceGenerator`` (over CuPy's generator, or a registered library's) elsewhere."""
    if device.type == "cpu":
        return _host_rng
    key = str(device)
    if device.type in _LIBRARIES:
        if key not in _device_rngs:
            seed = _seed if _seed is not None else int(_host_rng.integers(2**31))
            _device_rngs[key] = _LIBRARIES[device.type].generator(seed + 1)
        return _device_rngs[key]
    if key not in _device_rngs:
        cp = require_cuda(device)
        with cp.cuda.Device(device.index):
            seed = _seed if _seed is not None else int(_host_rng.integers(2**31))
            _device_rngs[key] = DeviceGenerator(cp.random.default_rng(seed + device.index))
    return _device_rngs[key]

