"""Datasets and the DataLoader that cuts them into batches (PyTorch's ``torch.utils.data`` names).

    ds = TensorDataset(X, y)                       # X: (N, ...), y: (N,)
    loader = DataLoader(ds, batch_size=32, shuffle=True, seed=0)
    for xb, yb in loader:                          # xb: (32, ...), yb: (32,)
        ...

A dataset is anything with ``__len__`` and ``__getitem__(i)``. The loader visits every index
once per epoch (in order, or in a fresh random order each epoch with ``shuffle=True``), groups
the samples ``batch_size`` at a time and merges each group with ``collate_fn``
(``default_collate`` stacks Tensors, arrays and numbers into Tensors).
"""

from __future__ import annotations

import bisect
import math
import numbers
from collections.abc import Mapping, Sequence

import numpy

from . import backend
from . import functional as F
from .dtypes import get_default_dtype, int64
from .tensor import Tensor, as_tensor


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])


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


def _batch_fetcher(dataset):
    """``index -> batch`` that indexes whole tensors at once, where ``dataset`` allows it, else None.

    Only a TensorDataset (or a Subset of one) whose ``__getitem__`` is not overridden qualifies:
    a subclass that transforms its samples must go through its own ``__getitem__``.
    """
    if isinstance(dataset, TensorDataset) and type(dataset).__getitem__ is TensorDataset.__getitem__:
        return dataset._get_batch
    if isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__:
        inner = _batch_fetcher(dataset.dataset)
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


# ---- random orders -------------------------------------------------------------------------
def _own_rng(generator, seed, where):
    """A numpy Generator from ``generator`` or ``seed``; None when neither is given."""
    if generator is not None and seed is not None:
        raise ValueError(f"{where}: give either generator or seed, not both")
    if generator is not None:
        if not isinstance(generator, numpy.random.Generator):
            raise TypeError(
                f"{where}: generator must be a numpy.random.Generator, got {type(generator).__name__} "
                "(use seed= for an integer seed)"
            )
        return generator
    if seed is not None:
        return numpy.random.default_rng(seed)
    return None


def _rng_from_global_seed():
    """A fresh Generator seeded from minidl's host generator, so ``minidl.manual_seed`` repeats it."""
    return numpy.random.default_rng(int(backend.rng_for(backend.CPU).integers(2**63)))


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
    rng = _own_rng(generator, seed, "random_split") or _rng_from_global_seed()
    order = rng.permutation(n).tolist()
    subsets, start = [], 0
    for k in lengths:
        subsets.append(Subset(dataset, order[start : start + k]))
        start += k
    return subsets


# ---- collation -----------------------------------------------------------------------------
def _stack_arrays(arrays, what):
    first = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != first:
            raise ValueError(
                f"default_collate: cannot stack {what} of different shapes {tuple(first)} (sample 0) and "
                f"{tuple(a.shape)} (sample {i}); pad them to one shape or pass a collate_fn"
            )
    return backend.get_array_module(arrays[0]).stack(arrays)


def _kinds(batch):
    return sorted({type(b).__name__ for b in batch})


def _collate_tensors(batch):
    elem = batch[0]
    if not all(isinstance(b, Tensor) for b in batch):
        raise TypeError(f"default_collate: a batch mixes Tensors with {_kinds(batch)}")
    if any(b.device != elem.device for b in batch):
        raise ValueError("default_collate: samples are on different devices")
    if any(b.requires_grad for b in batch):
        _stack_arrays([b.array for b in batch], "Tensors")  # the shape check and its message
        return F.stack(list(batch))
    return Tensor._make(_stack_arrays([b.array for b in batch], "Tensors"), False)


def _collate_arrays(batch):
    if not all(isinstance(b, numpy.ndarray) for b in batch):
        raise TypeError(f"default_collate: a batch mixes arrays with {_kinds(batch)}")
    if batch[0].dtype.kind in "OUSV":
        raise TypeError(f"default_collate: arrays of dtype {batch[0].dtype} cannot become a Tensor")
    return Tensor._make(_stack_arrays(batch, "arrays"), False)


def _collate_numbers(batch):
    if not all(isinstance(b, (numbers.Number, numpy.generic)) for b in batch):
        raise TypeError(f"default_collate: a batch mixes numbers with {_kinds(batch)}")
    if all(isinstance(b, numpy.generic) for b in batch):
        values = numpy.asarray(batch)
    elif all(isinstance(b, (bool, numpy.bool_)) for b in batch):
        values = numpy.asarray(batch, dtype=bool)
    elif all(isinstance(b, numbers.Integral) for b in batch):
        values = numpy.asarray(batch, dtype=int64)
    elif all(isinstance(b, numbers.Real) for b in batch):
        values = numpy.asarray(batch, dtype=get_default_dtype())
    else:
        raise TypeError(f"default_collate: cannot make a Tensor from numbers of types {_kinds(batch)}")
    if values.dtype.kind not in "biuf":
        raise TypeError(f"default_collate: numbers of dtype {values.dtype} cannot become a Tensor")
    return Tensor._make(values, False)


def _collate_mappings(batch):
    elem = batch[0]
    keys = list(elem.keys())
    for i, b in enumerate(batch):
        if not isinstance(b, Mapping) or set(b.keys()) != set(keys):
            got = sorted(b.keys()) if isinstance(b, Mapping) else type(b).__name__
            raise ValueError(f"default_collate: sample {i} has keys {got}, sample 0 has {sorted(keys)}")
    out = {k: default_collate([b[k] for b in batch]) for k in keys}
    try:
        return type(elem)(out)
    except TypeError:
        return out


def _collate_sequences(batch):
    elem = batch[0]
    for i, b in enumerate(batch):
        if not isinstance(b, (tuple, list)) or len(b) != len(elem):
            size = len(b) if isinstance(b, (tuple, list)) else type(b).__name__
            raise ValueError(f"default_collate: sample {i} has {size} fields, sample 0 has {len(elem)}")
    fields = [default_collate(list(samples)) for samples in zip(*batch)]
    if hasattr(elem, "_fields"):  # a namedtuple
        return type(elem)(*fields)
    return tuple(fields) if isinstance(elem, tuple) else fields


def default_collate(batch):
    """Merge a list of samples into one batch, recursively:

    - Tensors and NumPy arrays of one shape → a Tensor with a new first dim (dtype kept);
    - numbers → a 1-d Tensor: bools → bool, ints → int64, floats → the default float dtype
      (float32); NumPy scalars keep their dtype;
    - strings → a list of strings;
    - dicts → a dict of collated values; tuples and lists → a tuple/list of collated fields.
    """
    if not isinstance(batch, Sequence) or len(batch) == 0:
        raise ValueError("default_collate: expected a non-empty list of samples")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _collate_tensors(batch)
    if isinstance(elem, numpy.ndarray):
        return _collate_arrays(batch)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, (numbers.Number, numpy.generic)):
        return _collate_numbers(batch)
    if isinstance(elem, Mapping):
        return _collate_mappings(batch)
    if isinstance(elem, (tuple, list)):
        return _collate_sequences(batch)
    raise TypeError(
        f"default_collate: samples must be Tensors, NumPy arrays, numbers, strings, dicts, tuples or lists; "
        f"got {type(elem).__name__}"
    )


# ---- the loader ----------------------------------------------------------------------------
class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` samples.

    - ``shuffle``: a new random order each epoch, drawn from the loader's own NumPy Generator:
      ``generator`` (a ``numpy.random.Generator``), else one seeded with ``seed``, else, each
      epoch, one seeded from minidl's global generator (so ``minidl.manual_seed`` repeats it).
    - ``drop_last``: leave out the last batch when it is smaller than ``batch_size``.
    - ``collate_fn``: merges a list of samples into a batch (``default_collate`` by default).
      A ``TensorDataset`` (or a ``Subset`` of one) with the default collate is batched by
      indexing its tensors once per batch instead of sample by sample.
    - ``num_workers`` and ``pin_memory`` are accepted for compatibility: loading runs in the
      calling process.
    """

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=False,
        *,
        drop_last=False,
        collate_fn=None,
        generator=None,
        seed=None,
        num_workers=0,
        pin_memory=False,
    ):
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(
                f"DataLoader: the dataset must define __len__ and __getitem__, got {type(dataset).__name__}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(shuffle, (bool, numpy.bool_)):
            raise TypeError(f"DataLoader: shuffle must be True or False, got {shuffle!r}")
        if not isinstance(drop_last, (bool, numpy.bool_)):
            raise TypeError(f"DataLoader: drop_last must be True or False, got {drop_last!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a non-negative integer, got {num_workers!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self._rng = _own_rng(generator, seed, "DataLoader")

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = None
        if self.shuffle:
            order = (self._rng or _rng_from_global_seed()).permutation(n)
        fetch = _batch_fetcher(self.dataset) if self.collate_fn is None else None
        collate = self.collate_fn or default_collate
        bs = self.batch_size
        stop = n - n % bs if self.drop_last else n
        for start in range(0, stop, bs):
            end = min(start + bs, n)
            if fetch is not None:
                yield fetch(slice(start, end) if order is None else order[start:end])
            else:
                indices = range(start, end) if order is None else order[start:end].tolist()
                yield collate([self.dataset[i] for i in indices])

    def __repr__(self):
        return (
            f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last})"
        )
