"""``keras.datasets``: the loaders Keras programs call, with Keras's signatures, shapes and dtypes.

    mnist, fashion_mnist     uint8 images (N, 28, 28), uint8 labels (N,)
    cifar10                  uint8 images (N, 32, 32, 3), uint8 labels (N, 1)
    imdb, reuters            object arrays of word-rank lists, int64 labels

Each file is looked up in ``$MINIDL_DATA`` (under the dataset's folder or directly), then in the
download cache (``$MINIDL_CACHE`` or ``~/.cache/minidl``), else downloaded there; every file must
have its published checksum. An offline machine without the file gets an error that says where
to put it.
"""

from . import cifar10, fashion_mnist, imdb, mnist, reuters

__all__ = ["cifar10", "fashion_mnist", "imdb", "mnist", "reuters"]
