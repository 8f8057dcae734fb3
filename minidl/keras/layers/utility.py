"""Small layers Keras programs use between the others: ``Lambda``, ``Identity``, ``Rescaling``,
``RepeatVector``, ``Permute``, ``GaussianNoise``, and ``TextVectorization`` (strings to token ids).
"""

from __future__ import annotations

import re
import string
from collections import Counter

import numpy

from ... import backend
from ... import functional as F
from ...tensor import Tensor
from ..variables import eager
from .base import Layer


class Lambda(Layer):
    """y = function(x) for a Python function of Tensors (not saved with the model's config)."""

    def __init__(self, function, output_shape=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        self.function, self.arguments = function, dict(arguments or {})
        self._declared_output_shape = output_shape

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def get_config(self):
        raise ValueError(f'Lambda layer "{self.name}" holds Python code, which is not saved: write a Layer subclass')


class Identity(Layer):
    """y = x"""

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


class Rescaling(Layer):
    """y = x · scale + offset (e.g. ``Rescaling(1./255)`` for pixels)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = float(scale), float(offset)

    def call(self, inputs):
        return inputs * self.scale + self.offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class RepeatVector(Layer):
    """(B, D) -> (B, n, D): the vector repeated n times."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = int(n)

    def call(self, inputs):
        return F.repeat(F.unsqueeze(inputs, 1), (1, self.n, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n) + tuple(input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Reorder the non-batch axes: ``Permute((2, 1))`` swaps the two axes after the batch."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..{len(self.dims)}, got {self.dims}")

    def call(self, inputs):
        return F.permute(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class GaussianNoise(Layer):
    """y = x + N(0, stddev²) noise in training, y = x in inference."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = float(stddev)

    def call(self, inputs, training=None):
        if not training or self.stddev == 0:
            return inputs
        noise = backend.rng_for(backend.CPU).normal(0.0, self.stddev, size=tuple(inputs.shape)).astype(inputs.dtype)
        return inputs + Tensor._make(backend.to_device(noise, inputs.device))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


_PUNCTUATION = re.compile("[" + re.escape(string.punctuation) + "]")


class TextVectorization(Layer):
    """Strings to token ids, as Keras's ``TextVectorization``:

    ``adapt(texts)`` builds the vocabulary: index 0 is the padding "", 1 the out-of-vocabulary
    "[UNK]", then the tokens by decreasing count (ties in order of first appearance), at most
    ``max_tokens`` entries in all. Calling the layer on a list (or array) of strings
    standardises each (``'lower_and_strip_punctuation'``, ``'lower'``, ``'strip_punctuation'``,
    None or a function), splits it on whitespace (or with a function) and gives
    ``output_mode='int'``: ids (N, L), padded with 0 / cut at the end to
    ``output_sequence_length`` (else to the longest); ``'multi_hot'`` / ``'count'``: (N, V)."""

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace",
                 ngrams=None, output_mode="int", output_sequence_length=None, vocabulary=None, **kwargs):
        super().__init__(**kwargs)
        if ngrams is not None:
            raise NotImplementedError("TextVectorization: ngrams are not supported")
        if output_mode not in ("int", "multi_hot", "count"):
            raise NotImplementedError(f"TextVectorization: output_mode={output_mode!r} (int, multi_hot or count)")
        self.max_tokens, self.standardize, self.split = max_tokens, standardize, split
        self.output_mode, self.output_sequence_length = output_mode, output_sequence_length
        self._vocab = ["", "[UNK]"]
        self._index = {}
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)
        self.built = True

    def _tokens(self, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        text = str(text)
        if callable(self.standardize):
            text = self.standardize(text)
        elif self.standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.lower()
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = _PUNCTUATION.sub("", text)
        if callable(self.split):
            return list(self.split(text))
        if self.split in ("whitespace", None):
            return text.split()
        if self.split == "character":
            return list(text)
        raise ValueError(f"TextVectorization: split={self.split!r} (whitespace, character or a function)")

    @staticmethod
    def _texts(data):
        if isinstance(data, (str, bytes)):
            return [data]
        array = numpy.asarray(data, dtype=object).reshape(-1)
        return list(array)

    def adapt(self, data, batch_size=None, steps=None):
        counts = Counter()
        for text in self._texts(data):
            counts.update(self._tokens(text))
        order = sorted(counts, key=lambda t: -counts[t])  # stable: ties keep their first appearance
        limit = None if self.max_tokens is None else self.max_tokens - 2
        self.set_vocabulary(order[:limit])

    def set_vocabulary(self, vocabulary):
        words = [w for w in vocabulary if w not in ("", "[UNK]")]
        self._vocab = ["", "[UNK]"] + list(words)
        self._index = {w: i for i, w in enumerate(self._vocab)}

    def get_vocabulary(self, include_special_tokens=True):
        return list(self._vocab) if include_special_tokens else self._vocab[2:]

    def vocabulary_size(self):
        return len(self._vocab)

    def __call__(self, inputs, *args, **kwargs):
        ids = [[self._index.get(t, 1) for t in self._tokens(text)] for text in self._texts(inputs)]
        if self.output_mode != "int":
            out = numpy.zeros((len(ids), len(self._vocab)), numpy.float32)
            for row, seq in zip(out, ids):
                numpy.add.at(row, seq, 1.0)
            if self.output_mode == "multi_hot":
                out = numpy.minimum(out, 1.0)
            out[:, 0] = 0.0
            return eager(Tensor._make(out))
        length = self.output_sequence_length or max((len(s) for s in ids), default=0)
        out = numpy.zeros((len(ids), length), numpy.int64)
        for row, seq in zip(out, ids):
            row[: min(len(seq), length)] = seq[:length]
        return eager(Tensor._make(out))

    def get_config(self):
        if callable(self.standardize) or callable(self.split):
            raise ValueError(f'TextVectorization "{self.name}": a function as standardize/split cannot be saved')
        return {**super().get_config(), "max_tokens": self.max_tokens, "standardize": self.standardize,
                "split": self.split, "output_mode": self.output_mode,
                "output_sequence_length": self.output_sequence_length, "vocabulary": self.get_vocabulary()[2:]}
