"""The one seam between minidl and its array libraries.

Every array a Tensor holds is either a NumPy array (device ``"cpu"``) or a CuPy array
(device ``"cuda"`` / ``"cuda:N"``). Ops never name NumPy: they ask this module for the
array module of their inputs (``get_array_module``) and call it ``xp``. This is the only
file that imports CuPy, and it does so lazily, so minidl works without it.
"""

from __future__ import annotations

import os

import numpy

_cupy = None
_cupy_error: Exception | None = None

GPU_INSTALL_HINT = (
    "install CuPy for your CUDA version, e.g. `pip install minidl[gpu]` "
    "(or `pip install cupy-cuda12x` / `pip install cupy-cuda13x`)"
)


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
    """A place where arrays live: ``Device("cpu")``, ``Device("cuda")``, ``Device("cuda:1")``."""

    __slots__ = ("type", "index")

    def __init__(self, spec: str | Device = "cpu"):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device must be a string like 'cpu' or 'cuda:0', got {spec!r}")
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda") or (kind == "cpu" and idx) or (idx and not idx.isdigit()):
            raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")
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


def get_array_module(*arrays):
    """The array module (``numpy`` or ``cupy``) that owns ``arrays``; NumPy for plain Python values."""
    for a in arrays:
        if isinstance(a, numpy.ndarray) or a is None:
            continue
        mod = type(a).__module__
        if mod.startswith("cupy"):
            return _load_cupy()
    return numpy


def device_of(array) -> Device:
    """The device an array lives on."""
    if isinstance(array, numpy.ndarray) or numpy.isscalar(array):
        return CPU
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
        raise RuntimeError(f"device '{device}': CuPy is installed but no CUDA GPU is usable ({exc})") from exc
    if device.index >= count:
        raise RuntimeError(f"device '{device}' does not exist: {count} CUDA device(s) visible")
    return cp


def array_module_for(device: Device):
    """The array module that creates arrays on ``device``."""
    return numpy if device.type == "cpu" else require_cuda(device)


def to_device(array, device: Device | str):
    """Copy ``array`` to ``device`` (no copy when it is already there)."""
    device = Device(device)
    if device_of(array) == device:
        return array
    if device.type == "cpu":
        return array.get()
    cp = require_cuda(device)
    with cp.cuda.Device(device.index):
        return cp.asarray(array)


def as_numpy(array):
    """A NumPy array with the values of ``array`` (copied from the GPU when needed)."""
    if isinstance(array, numpy.ndarray):
        return array
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
    """The random generator for ``device`` (a ``numpy.random.Generator`` or CuPy's)."""
    if device.type == "cpu":
        return _host_rng
    key = str(device)
    if key not in _device_rngs:
        cp = require_cuda(device)
        with cp.cuda.Device(device.index):
            seed = _seed if _seed is not None else int(_host_rng.integers(2**31))
            _device_rngs[key] = cp.random.default_rng(seed + device.index)
    return _device_rngs[key]


if os.environ.get("MINIDL_RETAIN_HOST_MEMORY", "1") != "0":
    retain_host_memory()
