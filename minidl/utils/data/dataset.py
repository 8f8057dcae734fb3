"""Map-style and iterable datasets, and ways to combine and split them (``torch.utils.data.dataset``).

A map-style dataset is anything with ``__len__`` and ``__getitem__(i)``; an ``IterableDataset``
is a stream of samples (``__iter__``), for data that cannot be indexed.
"""

from __future__ import annotations

import bisect
import math
import numbers

import numpy

from ... import backend
from ...dtypes import int64
from ...tensor import Tensor, as_tensor
from ._random import own_rng, rng_from_global_seed

__all__ = ["ConcatDataset", "Dataset", "IterableDataset", "Subset", "TensorDataset", "random_split"]


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of datasets that are streams: subclasses define ``__iter__`` (no indexing, and
    the DataLoader takes no sampler or shuffle for them)."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __getitem__(self, index):
        raise TypeError(f"{type(self).__name__} is an IterableDataset: iterate over it, it has no __getitem__")

    def __add__(self, other):
        raise TypeError("IterableDataset: + joins map-style datasets only")


class TensorDataset(Dataset):
    """Samples are rows: item ``i`` is ``(t[i] for t in tensors)``; all first dims must match.

    NumPy arrays are accepted and wrapped without copying.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor")
        wrapped = []
        for i, t in enumerate(tensors):
            if isinstance(t, numpy.ndarray):
                t = as_tensor(t)
            elif not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: argument {i} is a {type(t).__name__}, expected a Tensor or an array")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-d; every tensor needs a first dim of samples")
            wrapped.append(t)
        sizes = [t.shape[0] for t in wrapped]
        if any(n != sizes[0] for n in sizes):
            shapes = ", ".join(str(tuple(t.shape)) for t in wrapped)
            raise ValueError(
                f"TensorDataset: size mismatch between tensors: first dims {sizes} differ (shapes {shapes})"
            )
        self.tensors = tuple(wrapped)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]

    def _get_batch(self, index):
        """The collated batch for ``index`` (a slice or an int array): one indexing per tensor."""
        return tuple(_take(t, index) for t in self.tensors)


def batch_fetcher(dataset):
    """``index -> batch`` that indexes whole tensors at once, where ``dataset`` allows it, else None.

    Only a TensorDataset (or a Subset of one) whose ``__getitem__`` is not overridden qualifies:
    a subclass that transforms its samples must go through its own ``__getitem__``.
    """
    if isinstance(dataset, TensorDataset) and type(dataset).__getitem__ is TensorDataset.__getitem__:
        return dataset._get_batch
    if isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__:
        inner = batch_fetcher(dataset.dataset)
        if inner is not None:
            positions = numpy.asarray(dataset.indices, dtype=int64)
            return lambda index: inner(positions[index])
    return None


def _take(t: Tensor, index):
    """Rows ``index`` of ``t`` as a new Tensor (a copy, so batches never alias the dataset)."""
    if t.requires_grad:
        return t[index]
    if isinstance(index, slice):
        return Tensor._make(t.array[index].copy(), False)
    if t.device.type != "cpu":
        index = backend.to_device(index, t.device)
    return Tensor._make(t.array[index], False)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index):
        if isinstance(index, (list, tuple)):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """The samples of several datasets, one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: give at least one dataset")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"ConcatDataset: index out of range for a dataset of {n} samples")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        offset = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][index - offset]


def random_split(dataset, lengths, generator=None, seed=None):
    """Split ``dataset`` at random into ``Subset``s of the given ``lengths``.

    ``lengths`` are sizes that add up to ``len(dataset)``, or fractions that add up to 1 (each
    gets ``floor(f · N)`` samples and the remainder goes one by one to the first subsets).
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(f, float) and 0 <= f <= 1 for f in lengths) and math.isclose(sum(lengths), 1):
        sizes = [math.floor(n * f) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if any(not isinstance(k, numbers.Integral) or k < 0 for k in lengths):
        raise ValueError(
            f"random_split: lengths must be non-negative integers or fractions summing to 1, got {lengths}"
        )
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} add up to {sum(lengths)}, but the dataset has {n} samples")
    rng = own_rng(generator, seed, "random_split") or rng_from_global_seed()
    order = rng.permutation(n).tolist()
    subsets, start = [], 0
    for k in lengths:
        subsets.append(Subset(dataset, order[start : start + k]))
        start += k
    return subsets


