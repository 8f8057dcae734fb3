"""``keras.datasets.cifar10``: 60,000 colour images 32x32 in 10 classes.

    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    # x: uint8 (50000, 32, 32, 3) and (10000, 32, 32, 3) (channels last); y: uint8 (N, 1)

The archive ``cifar-10-python.tar.gz`` (Krizhevsky, 2009) is looked up as
``cifar10/cifar-10-python.tar.gz`` or ``cifar-10-python.tar.gz`` in ``$MINIDL_DATA``, then in the
download cache, else downloaded there (SHA-256 checked). Its batches are read from the archive
in memory; they are Python pickles, read by the restricted unpickler of ``_files`` (arrays,
lists, dicts and strings only).
"""

from __future__ import annotations

import tarfile

import numpy

from ..._files import CORRUPT_FILE_ERRORS, FileFormatError, check_size, max_load_bytes
from ...datasets.download import locate
from . import _files

ARCHIVE = "cifar-10-python.tar.gz"
URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _batch(archive, members, name, source, limit):
    member = members.get(name)
    if member is None:
        raise FileFormatError(source, f"the archive has no member .../{name}")
    check_size(source, name, member.size, limit)
    batch = _files.safe_unpickle(archive.extractfile(member).read(), f"{source}:{member.name}", encoding="bytes")
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise FileFormatError(source, f"{name} is not a CIFAR batch (a dict with data and labels)")
    data, labels = numpy.asarray(batch[b"data"]), numpy.asarray(batch[b"labels"])
    if data.dtype != numpy.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise FileFormatError(source, f"{name}: data {data.shape} {data.dtype} and {labels.shape} labels do not "
                                      "fit CIFAR's (N, 3072) uint8 images")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise FileFormatError(source, f"{name}: labels outside 0-9")
    return data.reshape(-1, 3, 32, 32), labels.astype(numpy.uint8)


def read_archive(path, max_bytes=None):
    """The train and test splits of a CIFAR-10 python archive, in Keras's layout."""
    limit = max_load_bytes(max_bytes)
    source = str(path)
    try:
        with tarfile.open(path, "r:gz") as archive:
            members = {m.name.rsplit("/", 1)[-1]: m for m in archive.getmembers() if m.isfile()}
            train = [_batch(archive, members, n, source, limit) for n in TRAIN]
            test = _batch(archive, members, "test_batch", source, limit)
    except FileFormatError:
        raise
    except (tarfile.TarError, *CORRUPT_FILE_ERRORS) as exc:
        raise FileFormatError(source, f"not a readable CIFAR-10 archive ({type(exc).__name__}: {exc})") from None
    x_train = numpy.concatenate([x for x, _ in train]).transpose(0, 2, 3, 1)  # (N, 3, 32, 32) -> (N, 32, 32, 3)
    y_train = numpy.concatenate([y for _, y in train]).reshape(-1, 1)
    x_test, y_test = test[0].transpose(0, 2, 3, 1), test[1].reshape(-1, 1)
    return (numpy.ascontiguousarray(x_train), y_train), (numpy.ascontiguousarray(x_test), y_test)


def load_data():
    """``(x_train, y_train), (x_test, y_test)`` as ``keras.datasets.cifar10.load_data``."""
    return read_archive(locate("cifar10", ARCHIVE, SHA256, URLS, verify_local=True))
