"""``keras.datasets.fashion_mnist``: ``load_data()`` gives ``(x_train, y_train), (x_test,
y_test)``, uint8 images (N, 28, 28) and uint8 labels of 10 clothing classes, as Keras
(``minidl.datasets.fashion_mnist`` reads the IDX files: ``$MINIDL_DATA/fashion-mnist``, the
cache, else downloaded, SHA-256 checked)."""

from __future__ import annotations

from ...datasets import fashion_mnist as _fashion

CLASS_NAMES = _fashion.CLASS_NAMES


def load_data():
    """Fashion-MNIST as ``keras.datasets.fashion_mnist.load_data()``."""
    return _fashion.load_data()
