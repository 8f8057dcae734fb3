"""``minidl.utils.data``: datasets, samplers and the DataLoader, laid out as ``torch.utils.data``.

    from minidl.utils.data import DataLoader, TensorDataset, random_split
    train, val = random_split(TensorDataset(X, y), [0.9, 0.1])
    for xb, yb in DataLoader(train, batch_size=32, shuffle=True):
        ...

Modules: ``dataset`` (Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset,
random_split), ``sampler`` (the samplers), ``dataloader`` (DataLoader, default_collate).
``minidl.data`` is the same package under minidl's older name.
"""

from . import dataloader, dataset, sampler
from ._collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "dataloader",
    "dataset",
    "default_collate",
    "default_convert",
    "random_split",
    "sampler",
]
