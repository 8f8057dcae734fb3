"""``keras.datasets.reuters``: 11,228 Reuters newswires in 46 topics, each a list of word ranks,
split into train and test by ``test_split`` after a seeded shuffle, as Keras does.

    (x_train, y_train), (x_test, y_test) = keras.datasets.reuters.load_data(num_words=10000)

The file is Keras's ``reuters.npz`` (arrays ``x`` and ``y``), looked up as ``reuters/reuters.npz``
or ``reuters.npz`` in ``$MINIDL_DATA``, then in the download cache, else downloaded there (SHA-256
checked).
"""

from __future__ import annotations

import numpy

from ..._files import max_load_bytes, read_json
from ...datasets.download import locate
from . import _files, _sequences

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_MD5 = "md5:4d44cc38712099c9e383dc6e5f11a921"
LABELS = ("cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
          "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
          "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi",
          "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver",
          "wpi", "hog", "lead")


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113, start_char=1,
              oov_char=2, index_from=3):
    """``(x_train, y_train), (x_test, y_test)``: object arrays of word-rank lists and int64
    topic labels (0-45), exactly as ``keras.datasets.reuters.load_data``."""
    if not 0.0 <= test_split < 1.0:
        raise ValueError(f"reuters.load_data: test_split must be in [0, 1), got {test_split}")
    file = locate("reuters", path, SHA256, [ORIGIN + path], verify_local=True)
    xs, labels = _files.require(_files.read_npz(file, max_load_bytes()), ["x", "y"], str(file))
    _sequences.check_pairs(str(file), xs, labels)
    xs, labels = _sequences.shuffled(numpy.random.RandomState(seed), xs, labels)
    ((xs, labels),) = _sequences.preprocess([(xs, labels)], "reuters", num_words, skip_top, maxlen, start_char,
                                            oov_char, index_from)
    split = int(len(xs) * (1 - test_split))
    return (xs[:split], labels[:split]), (xs[split:], labels[split:])


def get_word_index(path="reuters_word_index.json"):
    """The dict word -> rank of the newswires (Keras's ``reuters_word_index.json``)."""
    return read_json(locate("reuters", path, WORD_INDEX_MD5, [ORIGIN + path], verify_local=True))


def get_label_names():
    """The 46 topic names, in label order."""
    return LABELS
