"""Text to integer sequences, with the semantics of Keras's (legacy) text preprocessing:
``Tokenizer`` and ``pad_sequences``.

    tok = Tokenizer(num_words=1000, oov_token="<oov>")
    tok.fit_on_texts(["The cat sat.", "The dog sat down!"])
    tok.word_index          # {'<oov>': 1, 'the': 2, 'sat': 3, 'cat': 4, 'dog': 5, 'down': 6}
    tok.texts_to_sequences(["the cat ran"])     # [[2, 4, 1]]
    pad_sequences([[2, 4, 1], [3]], maxlen=4)   # [[0, 2, 4, 1], [0, 0, 0, 3]]

Index 0 is never a word: it is left for padding.
"""

from __future__ import annotations

from collections import Counter

import numpy

#: Keras's default filters: punctuation (except the apostrophe), tab and newline.
DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(text: str, filters: str = DEFAULT_FILTERS, lower: bool = True, split: str = " "):
    """The words of ``text``: lower-cased (if ``lower``), every character of ``filters`` replaced by
    ``split``, split on ``split``, empty pieces dropped. ``"Hello, World!"`` → ``['hello', 'world']``."""
    if lower:
        text = text.lower()
    if filters:
        text = text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in text.split(split) if w]


class Tokenizer:
    """Maps words to integers by frequency: the most frequent word of the fitted texts gets 1
    (2 when ``oov_token`` is set, which takes 1), ties keep the order of first appearance.

    ``texts_to_sequences`` keeps only words whose index is below ``num_words`` (so at most
    ``num_words - 1`` distinct words, as in Keras); other words become the ``oov_token``'s index
    when there is one, and are dropped otherwise. ``char_level=True`` treats every character as a
    word."""

    def __init__(self, num_words=None, filters=DEFAULT_FILTERS, lower=True, split=" ", char_level=False,
                 oov_token=None):
        if num_words is not None and (not isinstance(num_words, int) or num_words < 1):
            raise ValueError(f"Tokenizer: num_words must be a positive int or None, got {num_words!r}")
        self.num_words = num_words
        self.filters = filters
        self.lower = lower
        self.split = split
        self.char_level = char_level
        self.oov_token = oov_token
        self.word_counts: Counter = Counter()  # insertion order = order of first appearance
        self.word_docs: Counter = Counter()
        self.document_count = 0
        self.word_index: dict = {}
        self.index_word: dict = {}

    def _words(self, text):
        if not isinstance(text, str):
            raise TypeError(f"Tokenizer: texts must be strings, got {type(text).__name__}")
        if self.char_level:
            return list(text.lower() if self.lower else text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts):
        """Count the words of ``texts`` (an iterable of strings) and rebuild ``word_index``."""
        if isinstance(texts, str):
            raise TypeError("Tokenizer.fit_on_texts: expected a list of strings, got one string")
        for text in texts:
            words = self._words(text)
            self.document_count += 1
            self.word_counts.update(words)
            self.word_docs.update(set(words))
        # sorted() is stable: equal counts keep the order in which words first appeared
        vocab = [w for w, _ in sorted(self.word_counts.items(), key=lambda item: -item[1])]
        if self.oov_token is not None:
            vocab = [self.oov_token] + [w for w in vocab if w != self.oov_token]
        self.word_index = {w: i for i, w in enumerate(vocab, start=1)}
        self.index_word = {i: w for w, i in self.word_index.items()}
        return self

    def _index(self, word):
        i = self.word_index.get(word)
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        if i is not None and (self.num_words is None or i < self.num_words):
            return i
        return oov

    def texts_to_sequences(self, texts):
        """One list of word indices per text (see the class docstring for unknown/rare words)."""
        if isinstance(texts, str):
            raise TypeError("Tokenizer.texts_to_sequences: expected a list of strings, got one string")
        out = []
        for text in texts:
            seq = [self._index(w) for w in self._words(text)]
            out.append([i for i in seq if i is not None])
        return out

    def sequences_to_texts(self, sequences):
        """The words of each sequence joined by single spaces (also for ``char_level``, as Keras).
        Indices that are not kept (unknown, or ``>= num_words``) are dropped, or shown as the
        ``oov_token`` when there is one; as in Keras, that includes padding zeros, so strip those
        first."""
        out = []
        for seq in sequences:
            words = []
            for i in seq:
                i = int(i)
                word = self.index_word.get(i)
                if word is not None and (self.num_words is None or i < self.num_words):
                    words.append(word)
                elif self.oov_token is not None:
                    words.append(self.oov_token)
            out.append(" ".join(words))
        return out

    def get_config(self):
        """A JSON-ready dict from which ``Tokenizer.from_config`` rebuilds this tokenizer."""
        return {
            "num_words": self.num_words, "filters": self.filters, "lower": self.lower, "split": self.split,
            "char_level": self.char_level, "oov_token": self.oov_token, "document_count": self.document_count,
            "word_counts": list(self.word_counts.items()), "word_docs": list(self.word_docs.items()),
        }

    @classmethod
    def from_config(cls, config):
        tok = cls(config["num_words"], config["filters"], config["lower"], config["split"], config["char_level"],
                  config["oov_token"])
        tok.word_counts = Counter(dict(config["word_counts"]))
        tok.word_docs = Counter(dict(config["word_docs"]))
        tok.fit_on_texts([])
        tok.document_count = config["document_count"]
        return tok


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0):
    """Sequences of different lengths as one array of shape (len(sequences), maxlen), like Keras.

    ``maxlen`` defaults to the longest sequence. Longer sequences lose values from the start
    (``truncating='pre'``) or the end (``'post'``); shorter ones are filled with ``value`` before
    (``padding='pre'``) or after (``'post'``) their values. Elements may themselves be arrays of
    one common shape ``S``: the result is then (len(sequences), maxlen, *S)."""
    if padding not in ("pre", "post"):
        raise ValueError(f"pad_sequences: padding must be 'pre' or 'post', got {padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences: truncating must be 'pre' or 'post', got {truncating!r}")
    if isinstance(sequences, str) or not hasattr(sequences, "__len__"):
        raise ValueError("pad_sequences: sequences must be a list of sequences")
    seqs = []
    for k, s in enumerate(sequences):
        if not hasattr(s, "__len__") or isinstance(s, str):
            raise ValueError(f"pad_sequences: sequence {k} is not a sequence: {s!r}")
        seqs.append(numpy.asarray(s) if len(s) else None)
    if maxlen is None:
        maxlen = max((len(s) for s in seqs if s is not None), default=0)
    if not isinstance(maxlen, (int, numpy.integer)) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be a non-negative int, got {maxlen!r}")
    sample_shape = next((s.shape[1:] for s in seqs if s is not None), ())
    out = numpy.full((len(seqs), int(maxlen)) + sample_shape, value, dtype=dtype)
    if maxlen == 0:
        return out
    for k, s in enumerate(seqs):
        if s is None:
            continue
        if s.shape[1:] != sample_shape:
            raise ValueError(
                f"pad_sequences: sequence {k} has elements of shape {s.shape[1:]}, expected {sample_shape}"
            )
        kept = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            out[k, : len(kept)] = kept
        else:
            out[k, maxlen - len(kept):] = kept
    return out
