"""Tiny Shakespeare: 1,115,394 characters of Shakespeare's plays in one plain-text file (65
distinct characters), the corpus of Karpathy's char-rnn, for character-level language models.

    text = tiny_shakespeare.load_data()
    vocab = CharVocab(text)                  # 65 characters, sorted
    ids = vocab.encode(text)                 # int64 (1115394,)
    x, y = windows(ids[:1000], 32)           # inputs and next-character targets, (968, 32) each

``input.txt`` is looked up in ``root``, ``$MINIDL_DATA/tinyshakespeare``, the cache, else
downloaded; it must have the SHA-256 below (the one published for char-rnn's file). The text is
public domain; char-rnn is MIT-licensed.
"""

from __future__ import annotations

import numpy

from .._files import read_text
from ..tokenizers import CharTokenizer
from .download import locate

SUBDIR = "tinyshakespeare"
FILENAME = "input.txt"
SHA256 = "sha256:86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
URLS = ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",)


def load_data(root=None, download=True) -> str:
    """The whole text as one string."""
    path = locate(SUBDIR, FILENAME, SHA256, URLS, root, download, verify_local=True)
    return read_text(path)


class CharVocab(CharTokenizer):
    """``minidl.tokenizers.CharTokenizer`` with ``encode`` giving an int64 array (the whole play
    at once) and ``len(vocab)`` its size; ``chars`` is the sorted list of characters."""

    def __len__(self):
        return self.vocab_size

    @property
    def chars(self):
        return self.itos

    def encode(self, text: str) -> numpy.ndarray:
        return numpy.array(super().encode(text), dtype=numpy.int64)

    def decode(self, ids) -> str:
        return super().decode(numpy.asarray(ids).ravel())


def windows(ids, length: int, step: int = 1):
    """``(x, y)`` of shape (M, length): every ``step``-th window of ``ids`` and the same window
    shifted by one (the next character to predict at each position)."""
    ids = numpy.asarray(ids)
    if ids.ndim != 1 or length < 1 or step < 1 or len(ids) < length + 1:
        raise ValueError(f"windows: need a 1-D sequence longer than length={length} (step={step}), got {ids.shape}")
    starts = numpy.arange(0, len(ids) - length, step)
    offsets = starts[:, None] + numpy.arange(length)[None, :]  # (M, length)
    return ids[offsets], ids[offsets + 1]
