"""Fashion-MNIST (Zalando): 70,000 greyscale 28x28 images of clothing in 10 classes, in MNIST's IDX
format. ``load_data()`` returns ``(x_train, y_train), (x_test, y_test)`` uint8 arrays, images
(N, 28, 28) and labels (N,), like ``tf.keras.datasets.fashion_mnist.load_data()``.

Files are looked up in ``root``, ``$MINIDL_DATA/fashion-mnist``, the cache, else downloaded; every
file must have its SHA-256 below. The label files' values are the ones the dataset's copies agree
on; the image files' values are those that independent projects publish for the original files
(whose MD5s, from the Fashion-MNIST README, are 8d4fb7e6c68d591d4c3dfef9ec88bf0d for train-images
and bef4ecab320f06d8554ea6380940ec79 for t10k-images).

Xiao, Rasul and Vollgraf (2017), arXiv:1708.07747; MIT License, Copyright (c) 2017 Zalando SE.
"""

from __future__ import annotations

from .mnist import _load

_MIRRORS = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
FILES = {
    "train-images-idx3-ubyte.gz": "sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "sha256:346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "sha256:67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def load_data(root=None, download=True):
    """Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)`` (uint8 arrays)."""
    train = _load("fashion-mnist", FILES, _MIRRORS, root, download, "train")
    test = _load("fashion-mnist", FILES, _MIRRORS, root, download, "test")
    return train, test
