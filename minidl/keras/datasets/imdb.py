"""``keras.datasets.imdb``: 50,000 movie reviews labelled positive (1) or negative (0), each a
list of word ranks, as Keras prepares them (see ``_sequences`` for the mapping).

    (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data(num_words=20000)
    x_train = keras.utils.pad_sequences(x_train, maxlen=200)

The file is Keras's ``imdb.npz``, looked up as ``imdb/imdb.npz`` or ``imdb.npz`` in
``$MINIDL_DATA``, then in the download cache, else downloaded there; its SHA-256 is checked.
Maas et al. (2011), "Learning Word Vectors for Sentiment Analysis".
"""

from __future__ import annotations

import numpy

from ..._files import max_load_bytes
from ...datasets.download import locate
from . import _files, _sequences

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_MD5 = "md5:bfafd718b763782e994055a2d397834f"


def _find(path, sha, subdir="imdb"):
    return locate(subdir, path, sha, [ORIGIN + path], verify_local=True)


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, **kwargs):
    """``(x_train, y_train), (x_test, y_test)``: object arrays of word-rank lists (25,000 each)
    and int64 labels, exactly as ``keras.datasets.imdb.load_data``."""
    if kwargs:
        raise TypeError(f"imdb.load_data: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
    file = _find(path, SHA256)
    arrays = _files.read_npz(file, max_load_bytes())
    x_train, y_train, x_test, y_test = _files.require(arrays, ["x_train", "y_train", "x_test", "y_test"], str(file))
    _sequences.check_pairs(str(file), x_train, y_train)
    _sequences.check_pairs(str(file), x_test, y_test)
    rng = numpy.random.RandomState(seed)
    train = _sequences.shuffled(rng, x_train, y_train)
    test = _sequences.shuffled(rng, x_test, y_test)
    (x_train, y_train), (x_test, y_test) = _sequences.preprocess(
        [train, test], "imdb", num_words, skip_top, maxlen, start_char, oov_char, index_from)
    return (x_train, y_train), (x_test, y_test)


def get_word_index(path="imdb_word_index.json"):
    """The dict word -> rank (1 = most frequent) of the reviews (Keras's ``imdb_word_index.json``)."""
    from ..._files import read_json

    return read_json(_find(path, WORD_INDEX_MD5))
