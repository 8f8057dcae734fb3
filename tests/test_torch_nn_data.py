"""``minidl.utils.data`` laid out as ``torch.utils.data``: samplers, ``DataLoader(sampler=,
batch_sampler=, batch_size=None)``, iterable datasets, ``random_split`` with fractions, and the
submodules; PyTorch as the oracle of lengths, sizes and refusals."""

from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)


def _ds(n=10):
    return TensorDataset(minidl.arange(n).float().unsqueeze(1), minidl.arange(n))


def _labels(loader):
    return [yb.tolist() for _, yb in loader]


def test_the_package_reads_like_torch_utils_data():
    import minidl.data
    import minidl.utils.data.dataloader as dataloader
    import minidl.utils.data.sampler as sampler

    assert dataloader.DataLoader is DataLoader and sampler.RandomSampler is RandomSampler
    assert minidl.data.DataLoader is DataLoader and minidl.data.random_split is random_split
    assert minidl.utils.data.dataset.Subset is minidl.data.Subset


def test_samplers():
    ds = _ds(7)
    assert list(SequentialSampler(ds)) == list(range(7))
    rng = np.random.default_rng(0)
    order = list(RandomSampler(ds, generator=rng))
    assert sorted(order) == list(range(7))
    drawn = list(RandomSampler(ds, replacement=True, num_samples=20, generator=rng))
    assert len(drawn) == 20 and all(0 <= i < 7 for i in drawn)
    more = list(RandomSampler(ds, num_samples=10, generator=rng))
    assert len(more) == 10 and sorted(more[:7]) == list(range(7))
    assert sorted(SubsetRandomSampler([5, 1, 3], generator=rng)) == [1, 3, 5]
    weighted = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 50, generator=rng))
    assert set(weighted) <= {1, 3} and len(weighted) == 50
    assert sorted(WeightedRandomSampler([1, 1, 1], 3, replacement=False, generator=rng)) == [0, 1, 2]
    assert list(BatchSampler(SequentialSampler(range(7)), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(SequentialSampler(range(7)), 3, True)) == [[0, 1, 2], [3, 4, 5]]


def test_sampler_and_batch_sampler_in_the_loader():
    ds = _ds(10)
    assert _labels(DataLoader(ds, batch_size=4, sampler=[9, 8, 7, 1, 0])) == [[9, 8, 7, 1], [0]]
    loader = DataLoader(ds, batch_sampler=[[0, 2], [4, 6, 8], [1]])
    assert _labels(loader) == [[0, 2], [4, 6, 8], [1]] and len(loader) == 3
    loader = DataLoader(ds, batch_size=3, sampler=SubsetRandomSampler(range(6), generator=np.random.default_rng(1)))
    assert sorted(i for b in _labels(loader) for i in b) == list(range(6)) and len(loader) == 2
    x, y = next(iter(DataLoader(ds, batch_size=None)))
    assert x.shape == (1,) and y.item() == 0


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter((np.full(2, i, np.float32), i) for i in range(self.n))


def test_iterable_datasets_are_batched_in_order():
    loader = DataLoader(Stream(7), batch_size=3)
    assert [y.tolist() for _, y in loader] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [y.tolist() for _, y in DataLoader(Stream(7), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(3), shuffle=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(sampler=[0, 1], shuffle=True), "sampler option is mutually exclusive with shuffle"),
        (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
        (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
        (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
    ],
)
def test_refusals_match_torch(kwargs, message):
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=message):
        torch.utils.data.DataLoader(list(range(4)), **kwargs)
    with pytest.raises(ValueError, match=message):
        DataLoader(_ds(4), **kwargs)


@pytest.mark.parametrize("lengths", [[0.8, 0.2], [0.3, 0.3, 0.4], [0.5, 0.5], [3, 7], [0.1] * 10])
def test_random_split_sizes_match_torch(lengths):
    torch = pytest.importorskip("torch")
    theirs = [len(s) for s in torch.utils.data.random_split(range(10), lengths)]
    ours = random_split(_ds(10), lengths, generator=np.random.default_rng(0))
    assert [len(s) for s in ours] == theirs
    assert sorted(i for s in ours for i in s.indices) == list(range(10))


def test_the_loader_draws_from_its_generator():
    ds = _ds(12)
    a = _labels(DataLoader(ds, batch_size=12, shuffle=True, generator=np.random.default_rng(3)))
    assert a == [np.random.default_rng(3).permutation(12).tolist()]

    class Wrapped:  # a torch-style Generator that holds a NumPy one
        numpy_generator = np.random.default_rng(3)

    assert _labels(DataLoader(ds, batch_size=12, shuffle=True, generator=Wrapped())) == a
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        DataLoader(ds, shuffle=True, generator=42)


def test_a_map_dataset_with_dict_samples_and_a_custom_collate():
    class Pairs(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": np.full((2,), i, np.float32), "meta": {"id": i, "name": f"s{i}"}}

    batch = next(iter(DataLoader(Pairs(), batch_size=3)))
    assert batch["x"].shape == (3, 2) and batch["meta"]["id"].tolist() == [0, 1, 2]
    assert batch["meta"]["name"] == ["s0", "s1", "s2"]
    lengths = [len(b) for b in DataLoader(Pairs(), batch_size=2, collate_fn=lambda b: b)]
    assert lengths == [2, 2, 1]

