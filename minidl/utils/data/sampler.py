"""Samplers: the order in which a DataLoader visits a dataset (``torch.utils.data.sampler``).

A sampler is an iterable of indices (``SequentialSampler``: 0, 1, ..., N − 1;
``RandomSampler``: a random permutation, or draws with replacement); a batch sampler is an
iterable of lists of indices (``BatchSampler`` groups the indices of a sampler ``batch_size``
at a time). ``DataLoader(dataset, batch_size, shuffle)`` builds ``BatchSampler(RandomSampler or
SequentialSampler, batch_size, drop_last)`` itself; ``sampler=`` or ``batch_sampler=`` replace them.

Random samplers draw from their ``generator`` (a ``numpy.random.Generator``), else, each epoch,
from a Generator seeded from minidl's host generator (so ``minidl.manual_seed`` repeats them).
"""

from __future__ import annotations

import numbers

import numpy

from ._random import as_numpy_generator, rng_from_global_seed

__all__ = [
    "BatchSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
]


def _check_count(where, name, value, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < (0 if allow_zero else 1):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{where}: {name} should be a {kind} integer value, but got {name}={value!r}")
    return int(value)


def _check_flag(where, name, value):
    if not isinstance(value, (bool, numpy.bool_)):
        raise TypeError(f"{where}: {name} should be a boolean value, but got {name}={value!r}")
    return bool(value)


class Sampler:
    """Base class: an iterable of dataset indices (``__iter__``), usually with ``__len__``."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """The indices 0, 1, ..., len(data_source) − 1, in order."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """Indices in random order: a permutation of 0..N−1 each epoch (``num_samples`` > N: several
    permutations one after the other, then cut), or ``num_samples`` independent uniform draws
    with ``replacement=True``."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = _check_flag("RandomSampler", "replacement", replacement)
        self._num_samples = None if num_samples is None else _check_count("RandomSampler", "num_samples", num_samples)
        self.generator = as_numpy_generator(generator, "RandomSampler")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, k = len(self.data_source), self.num_samples
        rng = self.generator or rng_from_global_seed()
        if self.replacement:
            if n == 0 and k:
                raise ValueError("RandomSampler: cannot draw with replacement from an empty dataset")
            return iter(rng.integers(0, n, size=k).tolist())
        if n == 0:
            return iter([])
        order = [rng.permutation(n) for _ in range(-(-k // n))]
        return iter(numpy.concatenate(order)[:k].tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices``, in a fresh random order each epoch."""

    def __init__(self, indices, generator=None):
        self.indices = list(indices)
        self.generator = as_numpy_generator(generator, "SubsetRandomSampler")

    def __iter__(self):
        rng = self.generator or rng_from_global_seed()
        return iter([self.indices[i] for i in rng.permutation(len(self.indices)).tolist()])

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities ``weights[i] / Σ weights`` (with or
    without replacement)."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        where = "WeightedRandomSampler"
        self.num_samples = _check_count(where, "num_samples", num_samples)
        self.replacement = _check_flag(where, "replacement", replacement)
        w = numpy.asarray(getattr(weights, "data", weights), dtype=numpy.float64)
        if w.ndim != 1 or w.size == 0 or not numpy.all(numpy.isfinite(w)) or numpy.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"{where}: weights must be a non-empty 1-d sequence of finite non-negative numbers "
                             f"with a positive sum, got shape {w.shape}")
        if not self.replacement and self.num_samples > numpy.count_nonzero(w):
            raise ValueError(f"{where}: cannot draw {self.num_samples} samples without replacement from "
                             f"{numpy.count_nonzero(w)} nonzero weights")
        self.weights = w
        self.generator = as_numpy_generator(generator, where)

    def __iter__(self):
        rng = self.generator or rng_from_global_seed()
        p = self.weights / self.weights.sum()
        return iter(rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``; the last list is shorter unless
    ``drop_last`` leaves it out."""

    def __init__(self, sampler, batch_size, drop_last):
        self.batch_size = _check_count("BatchSampler", "batch_size", batch_size)
        self.drop_last = _check_flag("BatchSampler", "drop_last", drop_last)
        self.sampler = sampler

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
