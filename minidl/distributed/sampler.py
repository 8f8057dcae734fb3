"""Which samples each rank reads: ``DistributedSampler``, with PyTorch's semantics.

For a dataset of n samples and p replicas, every rank gets the same number of indices,

    num_samples = ⌈n / p⌉            (drop_last=False: the order is padded by repeating its start)
    num_samples = ⌊n / p⌋            (drop_last=True: the tail that does not divide is left out)

and rank r takes every p-th index of the (shuffled, padded) order, starting at r:
``order[r : p·num_samples : p]``. Equal counts matter: every rank must run the same number of
steps, or one would wait forever in an all-reduce the others never join. With ``shuffle`` the
order is a permutation drawn from ``seed + epoch`` (the same on every rank; call
``set_epoch(epoch)`` before each epoch for a new one). The permutation comes from NumPy, so it is
not the one ``torch.randperm`` draws; the partition has the same form.

minidl's ``DataLoader`` takes no sampler: read a rank's share through a ``Subset``,
``DataLoader(Subset(dataset, list(sampler)), batch_size)``, made again after each ``set_epoch``
(``shard_dataset`` does both).
"""

from __future__ import annotations

import math
import numbers

import numpy

from ..data import Subset
from .process_group import default_group


class DistributedSampler:
    """Indices of ``dataset`` for replica ``rank`` of ``num_replicas`` (both default to the
    default process group's rank and world size). Iterating gives this rank's ``len(self)``
    indices for the current epoch."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            group = default_group("DistributedSampler (num_replicas and rank not given)")
            num_replicas = group.size if num_replicas is None else num_replicas
            rank = group.rank if rank is None else rank
        for name, value in (("num_replicas", num_replicas), ("rank", rank), ("seed", seed)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"DistributedSampler: {name} must be an integer, got {value!r}")
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be at least 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)  # = ⌊n / p⌋
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch):
        """Use the permutation of ``seed + epoch`` from now on (the same on every rank)."""
        self.epoch = int(epoch)

    def order(self):
        """The order all ranks share this epoch: shuffled or not, then padded or cut to
        ``total_size`` (shape (total_size,))."""
        n = len(self.dataset)
        if self.shuffle:
            indices = numpy.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            indices = numpy.arange(n)
        if self.drop_last:
            return indices[: self.total_size]
        pad = self.total_size - n
        if pad and n:
            indices = numpy.concatenate([indices, numpy.resize(indices, pad)])  # repeats the start as often as needed
        return indices

    def __iter__(self):
        return iter(self.order()[self.rank : self.total_size : self.num_replicas].tolist())

    def __len__(self):
        return self.num_samples

    def __repr__(self):
        return (f"DistributedSampler(rank={self.rank}, num_replicas={self.num_replicas}, shuffle={self.shuffle}, "
                f"seed={self.seed}, drop_last={self.drop_last}, epoch={self.epoch}, num_samples={self.num_samples})")


def shard_dataset(dataset, sampler=None, **kwargs):
    """This rank's share of ``dataset`` for the sampler's current epoch, as a ``Subset`` to give
    to a ``DataLoader`` (``kwargs`` make a ``DistributedSampler`` when none is given)."""
    sampler = DistributedSampler(dataset, **kwargs) if sampler is None else sampler
    return Subset(dataset, list(sampler))
