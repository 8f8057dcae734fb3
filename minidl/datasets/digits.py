"""The 8x8 handwritten digits that ship with scikit-learn, embedded here so demos run offline.

1797 greyscale images of the digits 0-9, each 8x8 pixels whose values count the "on" pixels of a
4x4 block of a 32x32 bitmap, so they run from 0 to 16 (not 255: divide by 16 to scale into [0, 1]).

``load_data()`` returns ``(x_train, y_train), (x_test, y_test)`` like the Keras loaders: images
uint8 (N, 8, 8) with values 0..16, labels uint8 (N,). The split is fixed: a permutation from
``numpy.random.RandomState(seed)`` (whose stream NumPy keeps stable across versions), the first
``round(1797 * test_split)`` indices for the test set (359 with the defaults).

Source: ``data/digits.csv.gz``, byte for byte the file scikit-learn bundles
(``sklearn/datasets/data/digits.csv.gz``: one row per image, 64 pixel values then the label). It is
the test set of the "Optical Recognition of Handwritten Digits" dataset of the UCI Machine Learning
Repository, by E. Alpaydin and C. Kaynak (1998), https://doi.org/10.24432/C50P49, licensed under
Creative Commons Attribution 4.0 (CC BY 4.0).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy

from .._files import FileFormatError, decode_text, read_bytes
from .download import verify

PATH = Path(__file__).with_name("data") / "digits.csv.gz"
SHA256 = "sha256:09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
NUM_SAMPLES = 1797
_MAX_BYTES = 64 << 20  # the table is 0.5 MB of text; a copy claiming more is not the digits


def load_arrays(path=None, checksum=SHA256):
    """All 1797 digits in file order: images uint8 (1797, 8, 8) in 0..16 and labels uint8 (1797,).

    ``path`` defaults to the embedded file; a file whose checksum differs is refused."""
    path = Path(path) if path is not None else PATH
    if checksum is not None:
        verify(path, checksum)
    text = decode_text(read_bytes(path, max_bytes=_MAX_BYTES, gz=True), path, "ascii")
    if not text.strip():
        raise FileFormatError(path, "digits: the table is empty")
    try:
        table = numpy.loadtxt(io.StringIO(text), delimiter=",", ndmin=2)
    except ValueError as exc:
        raise FileFormatError(path, f"cannot read the digits table: {exc}") from exc
    if table.shape[1] != 65 or (checksum is not None and table.shape[0] != NUM_SAMPLES):
        raise FileFormatError(path, f"digits: a table of shape {table.shape}, expected ({NUM_SAMPLES}, 65)")
    if table.size and (table.min() < 0 or table[:, :64].max() > 16 or table[:, 64].max() > 9
                       or (table != numpy.round(table)).any()):
        raise FileFormatError(path, "digits: values outside 0..16 (pixels) or 0..9 (labels)")
    images = table[:, :64].astype(numpy.uint8).reshape(-1, 8, 8)  # (N, 8, 8)
    labels = table[:, 64].astype(numpy.uint8)
    return images, labels


def load_data(test_split=0.2, seed=0, path=None):
    """Digits as ``(x_train, y_train), (x_test, y_test)``: uint8 images (N, 8, 8) in 0..16 and uint8
    labels, split by a fixed permutation (``seed``); ``test_split`` is the test fraction."""
    if not 0.0 < test_split < 1.0:
        raise ValueError(f"digits.load_data: test_split must be in (0, 1), got {test_split}")
    images, labels = load_arrays(path)
    order = numpy.random.RandomState(seed).permutation(len(labels))
    n_test = int(round(len(labels) * test_split))
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])
