"""keras.datasets and keras.utils.get_file: Keras's signatures, shapes and dtypes, files read
without pickle's code execution, downloads kept only with the right checksum (file: URLs)."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from minidl import keras
from minidl._files import FileFormatError
from minidl.datasets.download import ChecksumError
from minidl.keras.datasets import _files, cifar10, imdb, reuters

DATA = os.environ.get("MINIDL_DATA")


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _object_array(lists):
    out = np.empty(len(lists), dtype=object)
    for i, x in enumerate(lists):
        out[i] = x
    return out


def _fake_imdb(path):
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(1, 50, rng.integers(3, 12))) for _ in range(10)]
    np.savez(path, x_train=_object_array([[int(w) for w in s] for s in seqs[:6]]), y_train=np.arange(6) % 2,
             x_test=_object_array([[int(w) for w in s] for s in seqs[6:]]), y_test=np.arange(4) % 2)
    return seqs


@pytest.mark.skipif(not DATA or not os.path.isdir(os.path.join(DATA or "", "mnist")), reason="needs MINIDL_DATA")
def test_mnist_load_data_has_keras_shapes_and_dtypes():
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8 and y_test.shape == (10000,)


def test_imdb_downloads_with_checksum_and_maps_like_keras(tmp_path, monkeypatch):
    source = tmp_path / "src" / "imdb.npz"
    source.parent.mkdir()
    seqs = _fake_imdb(source)
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    monkeypatch.setattr(imdb, "ORIGIN", source.parent.as_uri() + "/")
    monkeypatch.setattr(imdb, "SHA256", _sha(source))
    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=20)
    assert x_train.dtype == object and len(x_train) == 6 and len(x_test) == 4 and y_train.dtype.kind == "i"
    assert (tmp_path / "cache" / "imdb" / "imdb.npz").is_file()
    order = np.arange(6)
    np.random.RandomState(113).shuffle(order)  # Keras's shuffle of the training split
    first = seqs[order[0]]
    assert x_train[0] == [1] + [w + 3 if w + 3 < 20 else 2 for w in first]
    (short, _), _ = imdb.load_data(maxlen=8, start_char=None, index_from=0)
    assert all(len(x) < 8 for x in short)


def test_a_download_with_the_wrong_checksum_is_not_kept(tmp_path, monkeypatch):
    source = tmp_path / "imdb.npz"
    _fake_imdb(source)
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    monkeypatch.setattr(imdb, "ORIGIN", tmp_path.as_uri() + "/")
    with pytest.raises(OSError, match="imdb.npz"):
        imdb.load_data()  # the published checksum does not match the fake file
    assert not (tmp_path / "cache" / "imdb" / "imdb.npz").exists()


def test_reuters_splits_by_test_split(tmp_path, monkeypatch):
    path = tmp_path / "reuters.npz"
    np.savez(path, x=_object_array([[1, 2, 3]] * 10), y=np.arange(10) % 3)
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))
    monkeypatch.setattr(reuters, "SHA256", _sha(path))
    (x_train, y_train), (x_test, y_test) = reuters.load_data(test_split=0.3)
    # without num_words Keras takes the largest rank as the limit, so that rank itself becomes oov_char
    assert len(x_train) == 7 and len(x_test) == 3 and x_train[0] == [1, 4, 5, 2]


def test_a_pickle_that_calls_a_function_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    path = tmp_path / "evil.npz"
    array = np.empty(1, dtype=object)
    array[0] = Evil()
    np.savez(path, x=array, y=np.zeros(1, np.int64))
    with pytest.raises(FileFormatError, match="posix.system|os.system|nt.system"):
        _files.read_npz(path)


def _fake_cifar(path):
    rng = np.random.default_rng(1)
    with tarfile.open(path, "w:gz") as tar:
        for name in cifar10.TRAIN + ("test_batch",):
            batch = {b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [3, 7]}
            raw = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


def test_cifar10_reads_the_archive_in_keras_layout(tmp_path, monkeypatch):
    path = tmp_path / "cifar-10-python.tar.gz"
    _fake_cifar(path)
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))
    with pytest.raises(ChecksumError):
        cifar10.load_data()  # a local file must have the published checksum
    monkeypatch.setattr(cifar10, "SHA256", _sha(path))
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert x_train.shape == (10, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (10, 1) and y_train.dtype == np.uint8 and x_test.shape == (2, 32, 32, 3)
    assert y_test[:, 0].tolist() == [3, 7]


def test_get_file_caches_checks_and_untars(tmp_path):
    src = tmp_path / "words.txt"
    src.write_text("hello")
    digest = _sha(src)
    path = keras.utils.get_file("words.txt", origin=src.as_uri(), file_hash=digest, cache_dir=tmp_path / "c")
    assert open(path).read() == "hello" and path.startswith(str(tmp_path / "c" / "datasets"))
    with pytest.raises(ChecksumError):
        keras.utils.get_file("other.txt", origin=src.as_uri(), file_hash="0" * 64, cache_dir=tmp_path / "c")
    assert not (tmp_path / "c" / "datasets" / "other.txt").exists()
    archive = tmp_path / "pack.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="pack/words.txt")
    folder = keras.utils.get_file("pack", origin=archive.as_uri(), untar=True, cache_dir=tmp_path / "c")
    assert open(os.path.join(folder, "words.txt")).read() == "hello"
