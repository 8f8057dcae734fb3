"""``minidl.cuda``: is a GPU usable, how many, wait for its queued work (PyTorch's names).

    if minidl.cuda.is_available():
        model.to("cuda")

Everything here goes through ``minidl.backend``, the only module that imports CuPy.
"""

from __future__ import annotations

from . import backend


def is_available() -> bool:
    """True when CuPy imports and sees at least one CUDA GPU."""
    return backend.cupy_available()


def device_count() -> int:
    """The number of CUDA GPUs CuPy sees (0 without CuPy or without a GPU)."""
    if not backend.cupy_available():
        return 0
    return int(backend._load_cupy().cuda.runtime.getDeviceCount())


def synchronize(device=None):
    """Wait until the GPU has finished all queued work (a no-op without a GPU).

    GPU kernels run asynchronously: time a step only after calling this."""
    if not backend.cupy_available():
        return
    if device is None:
        backend.synchronize()
        return
    device = backend.Device(device)
    cp = backend.require_cuda(device)
    with cp.cuda.Device(device.index):
        cp.cuda.Device(device.index).synchronize()


def manual_seed(seed: int):
    """Seed the GPU generators (and, as ``minidl.manual_seed`` does, the host's)."""
    backend.manual_seed(seed)


manual_seed_all = manual_seed
