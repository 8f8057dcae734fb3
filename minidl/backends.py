"""``minidl.backends`` and ``minidl.accelerator``: the questions PyTorch programs ask about the
hardware before they pick a device (``torch.backends.mps.is_available()``, ...).

minidl computes with NumPy on the CPU and with CuPy on CUDA GPUs. It has no Metal (mps) backend
and does not call cuDNN or oneDNN, so those report unavailable. The cuDNN flags programs set
(``cudnn.benchmark = True``, ``cudnn.deterministic = True``) are kept as plain attributes: in
PyTorch they choose among cuDNN algorithms, and minidl, which runs none, is deterministic on the
CPU either way.
"""

from __future__ import annotations

from . import backend
from . import cuda as _cuda
from .backend import Device


class _Backend:
    """One entry of ``minidl.backends``: ``is_available()``, ``is_built()`` and its flags."""

    def __init__(self, name, available, **flags):
        self.name, self._available = name, available
        self.__dict__.update(flags)

    def is_available(self) -> bool:
        return bool(self._available())

    def is_built(self) -> bool:
        return bool(self._available())

    def __repr__(self):
        return f"<minidl.backends.{self.name}>"


class _Matmul:
    allow_tf32 = False  # CuPy computes float32 matmuls in float32
    allow_fp16_reduced_precision_reduction = False


cuda = _Backend("cuda", _cuda.is_available, matmul=_Matmul())
cudnn = _Backend("cudnn", lambda: False, enabled=True, benchmark=False, deterministic=False, allow_tf32=False)
mps = _Backend("mps", lambda: False)  # Apple's Metal: neither NumPy nor CuPy reaches it
mkldnn = _Backend("mkldnn", lambda: False, enabled=False)


class accelerator:  # noqa: N801 - PyTorch's name (torch.accelerator, a module there)
    """``minidl.accelerator``: the GPU when CuPy sees one (PyTorch 2.6's device-generic names)."""

    @staticmethod
    def is_available() -> bool:
        return backend.cupy_available()

    @staticmethod
    def current_accelerator():
        return Device("cuda") if backend.cupy_available() else None

    @staticmethod
    def device_count() -> int:
        return _cuda.device_count()
