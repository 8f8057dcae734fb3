"""The DataLoader: a dataset cut into batches (``torch.utils.data.dataloader``).

    loader = DataLoader(ds, batch_size=32, shuffle=True)
    for xb, yb in loader:                          # xb: (32, ...), yb: (32,)
        ...

Each epoch the loader takes lists of indices from its batch sampler (by default
``BatchSampler(RandomSampler(ds) if shuffle else SequentialSampler(ds), batch_size,
drop_last)``), reads those samples and merges them with ``collate_fn`` (``default_collate``).
A ``TensorDataset`` (or a ``Subset`` of one) with the default collate is batched by indexing its
tensors once per batch instead of sample by sample. Loading runs in the calling process:
``num_workers``, ``pin_memory`` and the other worker options are accepted and have no effect.
"""

from __future__ import annotations

import numbers

import numpy

from ...dtypes import int64
from ._collate import default_collate, default_convert
from ._random import own_rng
from .dataset import IterableDataset, batch_fetcher
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "default_convert"]


def _check_flag(name, value, allow_none=False):
    if value is None and allow_none:
        return value
    if not isinstance(value, (bool, numpy.bool_)):
        raise TypeError(f"DataLoader: {name} must be True or False, got {value!r}")
    return bool(value)


def _check_arguments(dataset, batch_size, shuffle, sampler, batch_sampler, drop_last, collate_fn, num_workers):
    if not hasattr(dataset, "__getitem__") or (not hasattr(dataset, "__len__") and not hasattr(dataset, "__iter__")):
        raise TypeError(f"DataLoader: the dataset must define __len__ and __getitem__ (or be an IterableDataset), "
                        f"got {type(dataset).__name__}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0
    ):
        raise ValueError(f"DataLoader: batch_size must be a positive integer or None, got {batch_size!r}")
    _check_flag("shuffle", shuffle, allow_none=True)
    _check_flag("drop_last", drop_last)
    if collate_fn is not None and not callable(collate_fn):
        raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
    if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
        raise ValueError(f"DataLoader: num_workers must be a non-negative integer, got {num_workers!r}")
    if isinstance(dataset, IterableDataset):
        for name, value in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
            if value not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, "
                                 f"but got {name}={value!r}")
        return
    if sampler is not None and shuffle:
        raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
    if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
        raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                         "sampler, and drop_last")
    if batch_size is None and drop_last:
        raise ValueError("DataLoader: batch_size=None option disables auto-batching and is mutually exclusive "
                         "with drop_last")


class DataLoader:
    """Iterate over ``dataset`` in batches, in PyTorch's ``DataLoader``'s terms.

    - ``batch_size``: samples per batch; ``None`` turns batching off (each sample is yielded
      alone, NumPy arrays turned into Tensors).
    - ``shuffle``: a new random order each epoch (a ``RandomSampler``), drawn from ``generator``
      (a ``numpy.random.Generator``), else from a Generator seeded once with ``seed`` (minidl's
      own keyword), else from minidl's global generator (so ``minidl.manual_seed`` repeats it).
    - ``sampler``: the order of the indices (not with ``shuffle``); ``batch_sampler``: lists of
      indices, one per batch (not with ``batch_size``, ``shuffle``, ``sampler``, ``drop_last``).
    - ``drop_last``: leave out the last batch when it is smaller than ``batch_size``.
    - ``collate_fn``: merges a list of samples into a batch (``default_collate`` by default).
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", seed=None):
        _check_arguments(dataset, batch_size, shuffle, sampler, batch_sampler, drop_last, collate_fn, num_workers)
        self.dataset = dataset
        self.drop_last = bool(drop_last)
        self.num_workers, self.pin_memory, self.timeout = num_workers, pin_memory, timeout
        self.worker_init_fn, self.prefetch_factor = worker_init_fn, prefetch_factor
        self.persistent_workers = persistent_workers
        self.generator = own_rng(generator, seed, "DataLoader")
        self._iterable = isinstance(dataset, IterableDataset)
        if batch_sampler is not None:
            batch_size = None
        elif sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=self.generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, self.drop_last)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self._auto_collation = batch_sampler is not None or (self._iterable and batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._default_collate = collate_fn is default_collate

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)  # a TypeError when the stream has no length, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    def __iter__(self):
        if self._iterable:
            yield from self._iter_stream()
            return
        if self.batch_sampler is None:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])
            return
        fetch = batch_fetcher(self.dataset) if self._default_collate else None
        for indices in self.batch_sampler:
            if fetch is not None:
                yield fetch(_as_index(indices))
            else:
                yield self.collate_fn([self.dataset[i] for i in indices])

    def _iter_stream(self):
        if self.batch_size is None:
            for sample in self.dataset:
                yield self.collate_fn(sample)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __repr__(self):
        size = len(self.dataset) if hasattr(self.dataset, "__len__") else "?"
        return (f"DataLoader({type(self.dataset).__name__} of {size}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")


def _as_index(indices):
    """A batch's indices as a slice when they run consecutively (one view, no gather), else an int array."""
    indices = numpy.asarray(indices, dtype=int64)
    if indices.ndim != 1:
        raise ValueError(f"DataLoader: a batch sampler gave indices of shape {indices.shape}, expected a list of ints")
    n = len(indices)
    consecutive = n == 1 or bool((numpy.diff(indices) == 1).all())
    if n and indices[0] >= 0 and consecutive:
        return slice(int(indices[0]), int(indices[-1]) + 1)
    return indices

