"""Every file format minidl reads, corrupted byte by byte (a flipped byte, a truncation, an inserted
byte, at every position and at random ones): loading either gives back exactly the saved content
or raises FileFormatError (a ValueError) whose message names the file; never a raw zlib.error,
BadZipFile, EOFError, KeyError, UnicodeDecodeError, TypeError or MemoryError.

Formats: tensors (.npz from minidl.save), IDX (raw and gzip), the digits table (.csv.gz, read
without its checksum, so the gzip and CSV checks are what is tested), the sentiment sentences and
Tiny Shakespeare (verified by checksum), the Keras files (see _keras_formats) and the BPE
tokenizer's JSON."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl._files import FileFormatError, write_json
from minidl.datasets import digits, read_idx, sentiment, tiny_shakespeare, write_idx


def _npz_format(folder):
    path = folder / "state.npz"
    minidl.save({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "step": np.int64(7)}, path)

    def load(p):
        return {k: v.numpy() for k, v in minidl.load(p).items()}
    return path, load


def _idx_format(folder, suffix):
    path = folder / f"images{suffix}"
    write_idx(path, np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    return path, read_idx


def _digits_format(folder):
    path = folder / "digits.csv.gz"
    rows = [",".join(str((r * 7 + c) % 17) for c in range(64)) + f",{r % 10}" for r in range(4)]
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    return path, lambda p: digits.load_arrays(p, checksum=None)


def _sha(path):
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _sentiment_format(folder):
    root = folder / "sentiment-root"
    sub = root / sentiment.SUBDIR
    sub.mkdir(parents=True, exist_ok=True)
    for name in sentiment.FILES:
        (sub / name).write_text(f"Good {name}.\t1\nBad one\u0085 really.\t0\n", encoding="utf-8")
    sums = {name: _sha(sub / name) for name in sentiment.FILES}

    def load(p):
        with mock.patch.dict(sentiment.FILES, sums):
            s, y, src = sentiment.load_sentences(root=root, download=False)
        return s, y.tolist(), src
    return sub / "imdb_labelled.txt", load


def _shakespeare_format(folder):
    root = folder / "shakespeare-root"
    (root / tiny_shakespeare.SUBDIR).mkdir(parents=True, exist_ok=True)
    path = root / tiny_shakespeare.SUBDIR / tiny_shakespeare.FILENAME
    path.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n", encoding="utf-8")
    sha = _sha(path)

    def load(p):
        with mock.patch.object(tiny_shakespeare, "SHA256", sha):
            return tiny_shakespeare.load_data(root=root, download=False)
    return path, load


def _keras_model():
    from minidl import keras

    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _keras_content(model):
    import json

    return json.dumps(model.get_config(), sort_keys=True), model.get_weights()


def _keras_formats(folder):
    """The three Keras files: a whole model (.keras), its weights (.weights.npz), its config (JSON)."""
    from minidl.keras import load_model, saving

    model = _keras_model()
    model.save(folder / "model.keras")
    model.save_weights(folder / "model.weights.npz")
    write_json(folder / "model.json", {"class_name": "Sequential", "config": model.get_config()})

    def load_weights(p):
        twin = _keras_model()
        twin.load_weights(p)
        return twin.get_weights()
    return {
        "keras": (folder / "model.keras", lambda p: _keras_content(load_model(p))),
        "weights.npz": (folder / "model.weights.npz", load_weights),
        "model.json": (folder / "model.json", lambda p: _keras_content(saving.load_model_config(p))[0]),
    }


def _tokenizer_format(folder):
    from minidl.tokenizers import ByteBPETokenizer

    path = folder / "tokenizer.json"
    ByteBPETokenizer.train("to be or not to be, that is the question " * 3, vocab_size=270).save(path)

    def load(p):
        tok = ByteBPETokenizer.load(p)
        return [list(m) for m in tok.merges], tok.pattern
    return path, load


FORMATS = {
    "npz": _npz_format,
    "idx": lambda folder: _idx_format(folder, ".idx"),
    "idx.gz": lambda folder: _idx_format(folder, ".idx.gz"),
    "digits.csv.gz": _digits_format,
    "sentiment": _sentiment_format,
    "tiny_shakespeare": _shakespeare_format,
    "keras": lambda folder: _keras_formats(folder)["keras"],
    "weights.npz": lambda folder: _keras_formats(folder)["weights.npz"],
    "model.json": lambda folder: _keras_formats(folder)["model.json"],
    "tokenizer.json": _tokenizer_format,
}


@pytest.fixture(scope="module")
def formats(tmp_path_factory):
    """``{format: (path, loader, good bytes, content)}``, each file written once."""
    out = {}
    for name, make in FORMATS.items():
        path, load = make(tmp_path_factory.mktemp(name.replace(".", "_")))
        out[name] = (path, load, path.read_bytes(), load(path))
    return out


def _same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    return type(a) is type(b) and a == b


#: Raw IDX files and JSON configs carry no checksum: a changed data byte (or the signed/unsigned type
#: code, or a digit of "units") cannot be noticed, so for them a load may also succeed with other
#: values, of the kind the predicate says. (MNIST's loaders verify the published SHA-256 of every
#: file before reading it; the .keras archive's members are CRC-checked.)
UNCHECKED = {
    "idx": lambda got, content: got.shape == content.shape and got.dtype.itemsize == content.dtype.itemsize,
    "model.json": lambda got, content: isinstance(got, str),
    "tokenizer.json": lambda got, content: isinstance(got, tuple) and isinstance(got[1], str),
}


def _check(formats, name, data):
    """Load ``data`` written over the format's file: the same content, or FileFormatError naming it."""
    path, load, _, content = formats[name]
    path.write_bytes(data)
    try:
        got = load(path)
    except FileFormatError as exc:
        assert str(path) in str(exc), f"{name}: the error does not name the file: {exc}"
        return "error"
    if name in UNCHECKED:
        assert UNCHECKED[name](got, content), f"{name}: a corrupted file loaded as {got!r}"
        return "same" if _same(got, content) else "other values"
    assert _same(got, content), f"{name}: a corrupted file loaded with different content"
    return "same"


def flip(data, i, mask):
    return data[:i] + bytes([data[i] ^ mask]) + data[i + 1:]


def _positions(n):
    """Every byte of a small file; of a larger one, every byte of its first 256 and last 512 (zip
    and gzip headers, central directories, trailers) and every fifth byte between."""
    if n <= 1024:
        return range(n)
    return sorted(set(range(256)) | set(range(n - 512, n)) | set(range(256, n - 512, 5)))


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_byte_flipped_and_every_truncation(formats, name):
    good = formats[name][2]
    outcomes = []
    for i in _positions(len(good)):
        outcomes.append(_check(formats, name, flip(good, i, (0x01, 0x80, 0xFF)[i % 3])))
        outcomes.append(_check(formats, name, good[:i]))
    assert "error" in outcomes  # the sweep reached the checks
    assert _check(formats, name, good) == "same"


@settings(max_examples=max(settings().max_examples, 150))
@given(name=st.sampled_from(list(FORMATS)), edits=st.lists(
    st.tuples(st.sampled_from(["flip", "truncate", "insert"]), st.floats(0, 1), st.integers(0, 255)),
    min_size=1, max_size=4))
def test_random_corruptions(formats, name, edits):
    data = formats[name][2]
    for kind, where, byte in edits:
        i = min(int(where * len(data)), max(len(data) - 1, 0))
        if kind == "flip" and data:
            data = flip(data, i, byte or 1)
        elif kind == "truncate":
            data = data[:i]
        else:
            data = data[:i] + bytes([byte]) + data[i:]
    _check(formats, name, data)
