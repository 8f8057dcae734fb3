"""Datasets with Keras-style ``load_data()``: MNIST, Fashion-MNIST (IDX files), the 8x8 digits
(embedded, offline), the UCI sentiment sentences and Tiny Shakespeare; text tools (Tokenizer,
pad_sequences). Files come from a local folder, ``$MINIDL_DATA``, or a verified download cache."""

from . import digits, fashion_mnist, mnist, sentiment, text, tiny_shakespeare
from .download import ChecksumError
from .idx import IDXError, read_idx, write_idx
from .mnist import MNIST
from .text import Tokenizer, pad_sequences, text_to_word_sequence

__all__ = [
    "ChecksumError", "IDXError", "MNIST", "Tokenizer", "digits", "fashion_mnist", "mnist", "pad_sequences",
    "read_idx", "sentiment", "text", "text_to_word_sequence", "tiny_shakespeare", "write_idx",
]
