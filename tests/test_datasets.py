"""Datasets: IDX parsing (and its errors), locating files, verified downloads (tested with
local file:// URLs), checksums (SHA-256 and MD5), the loaders on the real files from MINIDL_DATA
and on small files written here (including corrupt and truncated ones), and the text tools
(Tokenizer, pad_sequences) against Keras's documented behaviour."""

from __future__ import annotations

import gzip
import hashlib
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl._files import FileFormatError
from minidl.datasets import (
    IDXError,
    Tokenizer,
    digits,
    fashion_mnist,
    mnist,
    pad_sequences,
    read_idx,
    sentiment,
    text_to_word_sequence,
    tiny_shakespeare,
    write_idx,
)
from minidl.datasets.download import ChecksumError, fetch, locate, parse_checksum


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


def test_idx_headers_claiming_huge_shapes_fail_in_bounded_memory(tmp_path, monkeypatch):
    import tracemalloc

    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (2**32 - 1, 2**32 - 1, 2**32 - 1))
    raw = tmp_path / "huge.idx"
    raw.write_bytes(header + bytes(100))
    gz = tmp_path / "huge.idx.gz"
    gz.write_bytes(gzip.compress(header + bytes(100)))
    middling = tmp_path / "lying.idx.gz"  # within the limit, but the data is not there
    middling.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + (200 << 20).to_bytes(4, "big") + bytes(10)))
    tracemalloc.start()
    try:
        with pytest.raises(IDXError, match=r"huge.idx: header says shape \(4294967295, 4294967295, 4294967295\)"):
            read_idx(raw)
        with pytest.raises(IDXError, match=r"huge.idx.gz: an IDX array of shape .* over the limit"):
            read_idx(gz)
        with pytest.raises(IDXError, match=r"lying.idx.gz: header says shape \(209715200,\) .* but the file has 10"):
            read_idx(middling)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    small = tmp_path / "small.idx"
    write_idx(small, np.zeros((10, 10), dtype=np.uint8))
    monkeypatch.setenv("MINIDL_MAX_LOAD_BYTES", "50")
    with pytest.raises(IDXError, match="MINIDL_MAX_LOAD_BYTES"):
        read_idx(small)
    assert read_idx(small, max_bytes=100).shape == (10, 10)


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


# ---- checksums and locate -------------------------------------------------------------------
def _sha(path):
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_parse_checksum():
    assert parse_checksum("AB" * 32) == ("sha256", "ab" * 32)
    assert parse_checksum("md5:" + "0f" * 16) == ("md5", "0f" * 16)
    assert parse_checksum("0f" * 16) == ("md5", "0f" * 16)
    for bad in ("sha256:" + "0" * 32, "md5:" + "0" * 64, "sha1:" + "0" * 40, "zz" * 32, "abc"):
        with pytest.raises(ValueError, match="checksum"):
            parse_checksum(bad)


def test_download_with_md5(tmp_path, monkeypatch):
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload")
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    md5 = "md5:" + hashlib.md5(b"payload").hexdigest()
    assert locate("set", "f.bin", md5, [src.as_uri()]).read_bytes() == b"payload"
    with pytest.raises(OSError, match="MD5 is"):
        locate("other", "f.bin", "md5:" + "0" * 32, [src.as_uri()])


def test_locate_verifies_local_files_and_replaces_broken_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "data"))
    (tmp_path / "data" / "set").mkdir(parents=True)
    local = tmp_path / "data" / "set" / "f.bin"
    local.write_bytes(b"right")
    good = _sha(local)
    assert locate("set", "f.bin", good, [], verify_local=True) == local
    local.write_bytes(b"wrong")  # a corrupt file in the user's folder is an error, never used
    with pytest.raises(ChecksumError, match="f.bin"):
        locate("set", "f.bin", good, [], verify_local=True)
    local.unlink()
    # a corrupt cached copy is fetched again
    src = tmp_path / "src.bin"
    src.write_bytes(b"right")
    cached = tmp_path / "cache" / "set" / "f.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"righ")
    assert locate("set", "f.bin", good, [src.as_uri()]).read_bytes() == b"right"


def test_offline_error_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "data"))
    missing = (tmp_path / "nothing-here").as_uri()  # a download that fails at once, as offline
    monkeypatch.setattr(fashion_mnist, "_MIRRORS", (missing + "/",))
    with pytest.raises(OSError, match=r"could not download .*put train-images-idx3-ubyte.gz in one of: .*data"):
        fashion_mnist.load_data(root=tmp_path / "root")
    with pytest.raises(FileNotFoundError, match="fashion-mnist"):
        fashion_mnist.load_data(download=False)
    monkeypatch.setattr(tiny_shakespeare, "URLS", (missing,))
    with pytest.raises(OSError, match="tinyshakespeare"):
        tiny_shakespeare.load_data()


# ---- Fashion-MNIST --------------------------------------------------------------------------
def _write_fashion(folder, n_train=6, n_test=4):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        arrays[f"{prefix}-images-idx3-ubyte.gz"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{prefix}-labels-idx1-ubyte.gz"] = rng.integers(0, 10, n, dtype=np.uint8)
    for name, a in arrays.items():
        write_idx(folder / name, a)
    return arrays


def test_fashion_mnist_on_written_files(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    arrays = _write_fashion(tmp_path / "fashion-mnist")
    # the real checksums refuse these files
    with pytest.raises(ChecksumError, match="train-images"):
        fashion_mnist.load_data(root=tmp_path)
    for name in arrays:
        monkeypatch.setitem(fashion_mnist.FILES, name, _sha(tmp_path / "fashion-mnist" / name))
    (x, y), (xt, yt) = fashion_mnist.load_data(root=tmp_path)
    assert x.shape == (6, 28, 28) and xt.shape == (4, 28, 28) and x.dtype == np.uint8 and y.dtype == np.uint8
    np.testing.assert_array_equal(x, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(yt, arrays["t10k-labels-idx1-ubyte.gz"])
    # a truncated file (whatever its checksum) is an IDX error, never used
    path = tmp_path / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    monkeypatch.setitem(fashion_mnist.FILES, path.name, _sha(path))
    with pytest.raises(IDXError, match="t10k-images"):
        fashion_mnist.load_data(root=tmp_path)
    # images and labels that do not pair up
    write_idx(path, arrays["t10k-images-idx3-ubyte.gz"][:3])
    monkeypatch.setitem(fashion_mnist.FILES, path.name, _sha(path))
    with pytest.raises(ValueError, match="do not pair up"):
        fashion_mnist.load_data(root=tmp_path)


def test_fashion_mnist_labels_from_shared_data(data_dir):
    for name, n in (("train-labels-idx1-ubyte.gz", 6000), ("t10k-labels-idx1-ubyte.gz", 1000)):
        path = locate("fashion-mnist", name, fashion_mnist.FILES[name], [], root=data_dir, download=False,
                      verify_local=True)
        assert np.bincount(read_idx(path)).tolist() == [n] * 10


# ---- digits ---------------------------------------------------------------------------------
def test_digits_embedded():
    images, labels = digits.load_arrays()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8 and images.max() == 16
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    (x, y), (xt, yt) = digits.load_data()
    assert x.shape == (1438, 8, 8) and xt.shape == (359, 8, 8) and y.shape == (1438,)
    (x2, _), (xt2, yt2) = digits.load_data()
    np.testing.assert_array_equal(xt, xt2)
    np.testing.assert_array_equal(yt, yt2)
    # train and test are a partition of the 1797 images
    both = np.concatenate([x, xt]).reshape(1797, 64)
    assert sorted(map(bytes, both)) == sorted(map(bytes, images.reshape(1797, 64)))
    with pytest.raises(ValueError, match="test_split"):
        digits.load_data(test_split=1.0)


def test_digits_refuses_corrupt_copies(tmp_path):
    good = digits.PATH.read_bytes()
    truncated = tmp_path / "digits.csv.gz"
    truncated.write_bytes(good[:-50])
    with pytest.raises(ChecksumError):
        digits.load_data(path=truncated)
    with pytest.raises(FileFormatError, match="digits.csv.gz: not a valid gzip file"):
        digits.load_arrays(path=truncated, checksum=None)
    odd = tmp_path / "odd.csv.gz"
    odd.write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    with pytest.raises(ValueError, match="shape"):
        digits.load_arrays(path=odd, checksum=None)
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress((",".join(["17"] * 64 + ["3"]) + "\n").encode()))
    with pytest.raises(ValueError, match="outside"):
        digits.load_arrays(path=bad, checksum=None)


# ---- text: Tokenizer and pad_sequences (Keras semantics) ------------------------------------
def test_text_to_word_sequence():
    assert text_to_word_sequence("Hello, World!  It's  a\tTEST.") == ["hello", "world", "it's", "a", "test"]
    assert text_to_word_sequence("A-b", lower=False) == ["A", "b"]
    assert text_to_word_sequence("a-b c", filters="") == ["a-b", "c"]


def test_tokenizer_by_hand():
    texts = ["The cat sat on the mat.", "The dog sat!", "A cat? A DOG."]
    tok = Tokenizer().fit_on_texts(texts)
    # counts: the 3, cat 2, sat 2, a 2, dog 2, on 1, mat 1; ties keep first appearance
    assert tok.word_index == {"the": 1, "cat": 2, "sat": 3, "dog": 4, "a": 5, "on": 6, "mat": 7}
    assert tok.word_counts["the"] == 3 and tok.word_docs["the"] == 2 and tok.document_count == 3
    assert tok.texts_to_sequences(["the cat ate the fish"]) == [[1, 2, 1]]
    # num_words=4 keeps indices 1..3; unknown and rare words are dropped without an oov token
    tok4 = Tokenizer(num_words=4).fit_on_texts(texts)
    assert tok4.texts_to_sequences(["the dog sat on a cat"]) == [[1, 3, 2]]
    assert tok4.sequences_to_texts([[1, 3, 2, 4]]) == ["the sat cat"]
    # with an oov token, it takes index 1 and stands for every word not kept
    tok_oov = Tokenizer(num_words=4, oov_token="<unk>").fit_on_texts(texts)
    assert tok_oov.word_index["<unk>"] == 1 and tok_oov.word_index["the"] == 2
    assert tok_oov.texts_to_sequences(["the dog sat on a cat", ""]) == [[2, 1, 1, 1, 1, 3], []]
    assert tok_oov.sequences_to_texts([[2, 1, 3, 0]]) == ["the <unk> cat <unk>"]  # Keras: 0 is not a word
    chars = Tokenizer(char_level=True).fit_on_texts(["abba", "Ca"])
    assert chars.word_index == {"a": 1, "b": 2, "c": 3}
    assert chars.texts_to_sequences(["cab"]) == [[3, 1, 2]]
    assert chars.sequences_to_texts([[3, 1, 2]]) == ["c a b"]
    # round trip through the JSON-ready config
    again = Tokenizer.from_config(tok_oov.get_config())
    assert again.word_index == tok_oov.word_index and again.document_count == 3
    with pytest.raises(TypeError, match="list of strings"):
        tok.texts_to_sequences("the cat")
    with pytest.raises(ValueError, match="num_words"):
        Tokenizer(num_words=0)


def test_pad_sequences_keras_examples():
    seqs = [[1], [2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(pad_sequences(seqs), [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, value=-1), [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, padding="post"), [[1, 0, 0], [2, 3, 0], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2), [[0, 1], [2, 3], [5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2, truncating="post"), [[0, 1], [2, 3], [4, 5]])
    out = pad_sequences([[], [7]], maxlen=3, padding="post")
    assert out.dtype == np.int32 and out.tolist() == [[0, 0, 0], [7, 0, 0]]
    vec = pad_sequences([np.ones((1, 2)), np.zeros((3, 2))], maxlen=2, dtype="float32")
    assert vec.shape == (2, 2, 2) and vec[0].tolist() == [[0, 0], [1, 1]]
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)
    for kwargs, match in (({"padding": "mid"}, "padding"), ({"truncating": "x"}, "truncating"),
                          ({"maxlen": -1}, "maxlen")):
        with pytest.raises(ValueError, match=match):
            pad_sequences(seqs, **kwargs)
    with pytest.raises(ValueError, match="sequence 1"):
        pad_sequences([[1], 5])


@given(
    seqs=st.lists(st.lists(st.integers(1, 9), max_size=6), max_size=5),
    maxlen=st.none() | st.integers(0, 7),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
)
def test_pad_sequences_property(seqs, maxlen, padding, truncating):
    out = pad_sequences(seqs, maxlen=maxlen, padding=padding, truncating=truncating)
    width = maxlen if maxlen is not None else max(map(len, seqs), default=0)
    assert out.shape == (len(seqs), width)
    for row, s in zip(out.tolist(), seqs):
        kept = (s[len(s) - width:] if truncating == "pre" else s[:width]) if len(s) > width else s
        fill = [0] * (width - len(kept))
        assert row == (fill + kept if padding == "pre" else kept + fill)


# ---- sentiment ------------------------------------------------------------------------------
_SENTENCES = {
    "amazon_cells": [("Great phone, works well.", 1), ("Battery died fast.", 0)],
    "imdb": [("A wonderful, moving film.  ", 1), ("Boring\u0085 and slow.  ", 0)],
    "yelp": [("Loved the food!", 1), ("Terrible service; cold food.", 0)],
}


def _write_sentiment(folder, monkeypatch):
    folder.mkdir(parents=True, exist_ok=True)
    for source, rows in _SENTENCES.items():
        path = folder / f"{source}_labelled.txt"
        path.write_text("".join(f"{s}\t{y}\n" for s, y in rows), encoding="utf-8")
        monkeypatch.setitem(sentiment.FILES, path.name, _sha(path))


def test_sentiment_on_written_files(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    _write_sentiment(tmp_path / "sentiment-labelled-sentences", monkeypatch)
    sentences, labels, sources = sentiment.load_sentences(root=tmp_path)
    assert len(sentences) == 6 and labels.tolist() == [1, 0, 1, 0, 1, 0] and sources[2] == "imdb"
    assert sentences[3] == "Boring\u0085 and slow."  # a C1 control character is not a line break
    (x, y), (xt, yt) = sentiment.load_data(num_words=5, maxlen=4, test_split=0.5, seed=0, root=tmp_path)
    assert x.shape == (3, 4) and xt.shape == (3, 4) and x.dtype == np.int32 and y.dtype == np.int64
    assert x.max() < 5 and sorted(y.tolist() + yt.tolist()) == [0, 0, 0, 1, 1, 1]
    # rebuild the training rows from the word index by hand
    word_index = sentiment.get_word_index(num_words=5, test_split=0.5, seed=0, root=tmp_path)
    train = np.random.RandomState(0).permutation(6)[3:]
    tok = Tokenizer(num_words=5, oov_token="<oov>").fit_on_texts([sentences[i] for i in train])
    assert tok.word_index == word_index
    np.testing.assert_array_equal(x, pad_sequences(tok.texts_to_sequences([sentences[i] for i in train]), 4))
    # a malformed line is an error
    bad = tmp_path / "sentiment-labelled-sentences" / "yelp_labelled.txt"
    bad.write_text("no label here\n", encoding="utf-8")
    monkeypatch.setitem(sentiment.FILES, bad.name, _sha(bad))
    with pytest.raises(ValueError, match="yelp_labelled.txt: line 1"):
        sentiment.load_data(root=tmp_path)
    monkeypatch.setitem(sentiment.FILES, bad.name, "sha256:" + "0" * 64)
    with pytest.raises(ChecksumError, match="yelp_labelled"):
        sentiment.load_data(root=tmp_path)
    with pytest.raises(ValueError, match="sources"):
        sentiment.load_sentences(root=tmp_path, sources=("twitter",))


def test_sentiment_from_zip_download(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    _write_sentiment(tmp_path / "src", monkeypatch)
    archive = tmp_path / "uci.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for source in _SENTENCES:
            z.write(tmp_path / "src" / f"{source}_labelled.txt", f"sentiment labelled sentences/{source}_labelled.txt")
        z.writestr("__MACOSX/sentiment labelled sentences/._yelp_labelled.txt", b"junk")
    monkeypatch.setattr(sentiment, "ZIP_URLS", (archive.as_uri(),))
    monkeypatch.setattr(sentiment, "ZIP_SHA256", _sha(archive))
    with pytest.raises(FileNotFoundError, match="amazon_cells_labelled.txt"):
        sentiment.load_sentences(download=False)
    sentences, labels, _ = sentiment.load_sentences()
    assert len(sentences) == 6
    assert (tmp_path / "cache" / "sentiment-labelled-sentences" / "imdb_labelled.txt").is_file()
    archive.unlink()  # the extracted files are used from the cache from now on
    assert sentiment.load_sentences(download=False)[0] == sentences
    # an archive whose members are not the published files is refused
    monkeypatch.setitem(sentiment.FILES, "imdb_labelled.txt", "sha256:" + "1" * 64)
    with pytest.raises(ChecksumError):
        sentiment.load_sentences()


def test_sentiment_from_shared_data(data_dir):
    sentences, labels, sources = sentiment.load_sentences(root=data_dir, download=False)
    assert len(sentences) == 3000 and labels.sum() == 1500 and sources.count("imdb") == 1000
    (x, y), (xt, yt) = sentiment.load_data(num_words=1000, maxlen=100, root=data_dir, download=False)
    assert x.shape == (2400, 100) and xt.shape == (600, 100) and y.shape == (2400,)
    assert x.min() == 0 and x.max() == 999 and 0.4 < yt.mean() < 0.6
    assert (x[:, 0] == 0).all()  # every sentence is shorter than 100 words: padded at the front
    word_index = sentiment.get_word_index(root=data_dir, download=False)
    assert word_index["<oov>"] == 1 and word_index["the"] == 2


# ---- Tiny Shakespeare -----------------------------------------------------------------------
def test_tiny_shakespeare(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    (tmp_path / "tinyshakespeare").mkdir()
    path = tmp_path / "tinyshakespeare" / "input.txt"
    path.write_text("First Citizen:\nSpeak.\n")
    with pytest.raises(ChecksumError):
        tiny_shakespeare.load_data(root=tmp_path)
    monkeypatch.setattr(tiny_shakespeare, "SHA256", _sha(path))
    text = tiny_shakespeare.load_data(root=tmp_path)
    vocab = tiny_shakespeare.CharVocab(text)
    assert vocab.chars[:3] == ["\n", " ", "."] and vocab.decode(vocab.encode(text)) == text
    x, y = tiny_shakespeare.windows(vocab.encode(text), 5, step=2)
    assert x.shape == y.shape == (9, 5)
    np.testing.assert_array_equal(x[1, 1:], y[1, :-1])
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("Q")
    with pytest.raises(ValueError, match="token 99 is outside"):
        vocab.decode([99])


def test_tiny_shakespeare_from_shared_data(data_dir):
    text = tiny_shakespeare.load_data(root=data_dir, download=False)
    assert len(text) == 1115394 and text.startswith("First Citizen:") and text.count("\n") == 40000
    assert len(tiny_shakespeare.CharVocab(text)) == 65
