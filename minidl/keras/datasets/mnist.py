"""``keras.datasets.mnist``: ``load_data()`` gives ``(x_train, y_train), (x_test, y_test)``,
uint8 images (60000, 28, 28) and (10000, 28, 28), uint8 labels, as Keras.

Read from the original IDX files (``minidl.datasets.mnist``: ``$MINIDL_DATA/mnist``, the cache,
else downloaded, SHA-256 checked), or from Keras's own ``mnist.npz`` when ``path`` names one
that exists (looked up as given and in ``$MINIDL_DATA``; its SHA-256 is checked too).
"""

from __future__ import annotations

from ..._files import max_load_bytes
from ...datasets import mnist as _mnist
from ...datasets.download import find_local, verify
from . import _files

NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path="mnist.npz"):
    """MNIST as ``keras.datasets.mnist.load_data()``."""
    local = find_local("mnist", path)
    if local is not None:
        verify(local, NPZ_SHA256)
        arrays = _files.read_npz(local, max_load_bytes())
        x_train, y_train, x_test, y_test = _files.require(arrays, ["x_train", "y_train", "x_test", "y_test"],
                                                          str(local))
        return (x_train, y_train), (x_test, y_test)
    return _mnist.load_data()
