"""The word-index preprocessing that Keras's IMDB and Reuters loaders share.

A review (or a newswire) is a list of word ranks (1 = the most frequent word). ``load_data``
shuffles the samples with ``numpy.random.RandomState(seed)``, then maps each sequence as Keras
does: ``[start_char] + [w + index_from for w in x]``; drops sequences of ``maxlen`` words or
more; and replaces ranks outside ``[skip_top, num_words)`` with ``oov_char`` (or removes them
when ``oov_char`` is None). The sequences come back as a 1-D object array of lists, as in Keras.
"""

from __future__ import annotations

import numpy


def shuffled(rng, *arrays):
    order = numpy.arange(len(arrays[0]))
    rng.shuffle(order)
    return [a[order] for a in arrays]


def _offset(xs, start_char, index_from):
    if start_char is not None:
        return [[start_char] + [int(w) + index_from for w in x] for x in xs]
    return [[int(w) + index_from for w in x] for x in xs]


def _drop_long(xs, labels, maxlen, what):
    kept = [i for i, x in enumerate(xs) if len(x) < maxlen]
    if not kept:
        raise ValueError(f"{what}.load_data: no sequence is shorter than maxlen={maxlen}; increase maxlen")
    return [xs[i] for i in kept], labels[numpy.asarray(kept, dtype=numpy.int64)]


def _vocabulary(xs, num_words, skip_top, oov_char):
    if not num_words:
        num_words = max((max(x) for x in xs if x), default=0)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def as_object_array(xs):
    out = numpy.empty(len(xs), dtype=object)
    for i, x in enumerate(xs):
        out[i] = x
    return out


def preprocess(parts, what, num_words=None, skip_top=0, maxlen=None, start_char=1, oov_char=2, index_from=3):
    """``parts``: a list of (sequences, labels) splits, already shuffled; the same splits after
    Keras's mapping (the vocabulary limit is taken over all splits together, as Keras does)."""
    mapped = []
    for xs, labels in parts:
        xs = _offset(xs, start_char, index_from)
        if maxlen:
            xs, labels = _drop_long(xs, labels, maxlen, what)
        mapped.append((xs, labels))
    sizes = [len(xs) for xs, _ in mapped]
    everything = _vocabulary([x for xs, _ in mapped for x in xs], num_words, skip_top, oov_char)
    out, start = [], 0
    for (_, labels), n in zip(mapped, sizes):
        out.append((as_object_array(everything[start:start + n]), labels))
        start += n
    return out


def check_pairs(name, xs, labels):
    from ..._files import FileFormatError

    if xs.ndim != 1 or labels.ndim != 1 or len(xs) != len(labels):
        raise FileFormatError(name, f"sequences {xs.shape} and labels {labels.shape} do not pair up")
    for i, x in enumerate(xs):
        if not isinstance(x, (list, numpy.ndarray)) or not all(isinstance(w, (int, numpy.integer)) for w in x):
            raise FileFormatError(name, f"sample {i} is not a list of integer word ranks")
    if labels.dtype.kind not in "iu":
        raise FileFormatError(name, f"labels have dtype {labels.dtype}, expected integers")
