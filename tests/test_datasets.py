"""Datasets: IDX parsing (and its errors), locating files, verified downloads (tested with
local file:// URLs), and the real MNIST files from MINIDL_DATA."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from minidl.datasets import IDXError, mnist, read_idx, write_idx
from minidl.datasets.download import ChecksumError, fetch, locate


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("suffix", [".idx", ".idx.gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    a = (np.arange(24) - 5).reshape(2, 3, 4).astype(np.dtype(dtype).newbyteorder("="))
    path = tmp_path / f"a{suffix}"
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_idx_errors(tmp_path):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(IDXError, match="magic"):
        read_idx(bad)
    truncated = tmp_path / "short.idx"
    truncated.write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 3)
    with pytest.raises(IDXError, match=r"\(10,\)"):
        read_idx(truncated)
    badgz = tmp_path / "bad.idx.gz"
    badgz.write_bytes(b"not gzip")
    with pytest.raises(IDXError, match="bad.idx.gz"):
        read_idx(badgz)


def test_locate_prefers_root_then_env_then_cache(tmp_path, monkeypatch):
    (tmp_path / "root" / "set").mkdir(parents=True)
    (tmp_path / "root" / "set" / "f.bin").write_bytes(b"x")
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    assert locate("set", "f.bin", "0" * 64, [], root=tmp_path / "root") == tmp_path / "root" / "set" / "f.bin"
    with pytest.raises(FileNotFoundError, match="f.bin"):
        locate("set", "f.bin", "0" * 64, [], download=False)


def test_download_verifies_checksum(tmp_path, monkeypatch):
    payload = gzip.compress(b"some bytes")
    src = tmp_path / "src.gz"
    src.write_bytes(payload)
    good = hashlib.sha256(payload).hexdigest()
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    got = locate("set", "file.gz", good, [src.as_uri()])
    assert got.read_bytes() == payload and got.parent == tmp_path / "cache" / "set"
    # a second call uses the cache (the source may be gone)
    src.unlink()
    assert locate("set", "file.gz", good, [src.as_uri()]) == got
    # a wrong checksum is refused and leaves nothing behind
    src.write_bytes(payload)
    with pytest.raises(ChecksumError):
        fetch(src.as_uri(), tmp_path / "other" / "x.gz", "f" * 64)
    assert not (tmp_path / "other" / "x.gz").exists()
    with pytest.raises(OSError, match="could not download"):
        locate("set2", "file.gz", "f" * 64, [src.as_uri()])


def test_mnist_from_shared_data(data_dir):
    (x, y), (xt, yt) = mnist.load_data(root=data_dir, download=False)
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8
    assert xt.shape == (10000, 28, 28) and yt.shape == (10000,)
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(x.mean() - 33.318) < 1e-3
    ds = mnist.MNIST(root=data_dir, train=False, download=False, limit=100)
    image, label = ds[0]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32 and 0 <= image.min() <= image.max() <= 1
    assert label == int(yt[0]) and len(ds) == 100
