"""MNIST from its original IDX files (Fashion-MNIST, in fashion_mnist.py, shares the reader).

``load_data()`` returns NumPy arrays like ``tf.keras.datasets.mnist.load_data()``:
``(x_train, y_train), (x_test, y_test)`` with images uint8 (N, 28, 28) and labels uint8 (N,).
``MNIST(train=True)`` is a Dataset of ``(image, label)`` pairs (float32 (1, 28, 28) in [0, 1]).

Files are looked up in ``root``, ``$MINIDL_DATA/mnist``, the cache, else downloaded; every file,
wherever found, must have its published SHA-256 (a corrupt or truncated file is an error).
MNIST: Yann LeCun and Corinna Cortes, CC BY-SA 3.0.
"""

from __future__ import annotations

import numpy

from .download import locate
from .idx import read_idx

_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
FILES = MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def _load(subdir, files, mirrors, root, download, split):
    prefix = "train" if split == "train" else "t10k"
    names = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
    paths = [locate(subdir, name, files[name], [m + name for m in mirrors], root, download, verify_local=True)
             for name in names]
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{subdir}: images {images.shape} and labels {labels.shape} do not pair up")
    return images, labels


def load_data(root=None, download=True):
    """MNIST as ``(x_train, y_train), (x_test, y_test)`` (uint8 arrays)."""
    train = _load("mnist", MNIST_FILES, _MIRRORS, root, download, "train")
    test = _load("mnist", MNIST_FILES, _MIRRORS, root, download, "test")
    return train, test


class MNIST:
    """MNIST as a Dataset: ``dataset[i] = (image, label)`` with image float32 (1, 28, 28) in
    [0, 1] and label an int. ``arrays()`` gives the whole split as two arrays."""

    def __init__(self, root=None, train=True, download=True, limit=None):
        images, labels = _load("mnist", MNIST_FILES, _MIRRORS, root, download, "train" if train else "test")
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        self.images = (images.astype(numpy.float32) / 255.0)[:, None, :, :]  # (N, 1, 28, 28)
        self.labels = labels.astype(numpy.int64)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])

    def arrays(self):
        return self.images, self.labels
