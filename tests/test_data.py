"""Datasets, DataLoader, default_collate and random_split."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
from minidl import backend
from minidl.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


def _dataset(n, device="cpu"):
    """Row i of X is (i, i + 0.5), label i: every sample says which index it came from."""
    X = np.stack([np.arange(n), np.arange(n) + 0.5], axis=1).astype(np.float32)
    return TensorDataset(minidl.tensor(X, device=device), minidl.arange(n, device=device))


def _labels(batches):
    return [backend.as_numpy(yb.array).tolist() for _, yb in batches]


class ListDataset(Dataset):
    """A plain map-style dataset (no fast path): sample i is (array row, int label)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([i, i + 0.5], dtype=np.float32), int(i)


# (dataset size, batch size, shuffle, drop_last)
LOADER_SPECS = [
    (10, 3, False, False),
    (10, 3, True, True),
    (9, 3, True, False),
    (1, 4, False, True),
    (0, 2, False, False),
]


@given(
    n=st.integers(0, 23),
    batch_size=st.integers(1, 8),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**16),
    fast=st.booleans(),
)
def test_batches_cover_the_dataset_once_per_epoch(n, batch_size, shuffle, drop_last, seed, fast):
    ds = _dataset(n) if fast else ListDataset(n)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    for _epoch in range(2):
        batches = list(loader)
        assert len(batches) == len(loader) == (n // batch_size if drop_last else -(-n // batch_size))
        labels = [i for b in _labels(batches) for i in b]
        sizes = [len(b[1]) for b in batches]
        assert all(s == batch_size for s in sizes[:-1])
        if drop_last:
            assert not sizes or sizes[-1] == batch_size
            assert len(set(labels)) == len(labels) == n - n % batch_size
        else:
            assert sorted(labels) == list(range(n))
        if not shuffle:
            assert labels == list(range(len(labels)))
        for xb, yb in batches:  # features travel with their labels
            np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy().astype(np.float32))
            assert xb.dtype == minidl.float32 and yb.dtype == minidl.int64


@pytest.mark.parametrize(("n", "batch_size", "shuffle", "drop_last"), LOADER_SPECS)
def test_length_matches_torch(n, batch_size, shuffle, drop_last):
    torch = pytest.importorskip("torch")
    theirs = torch.utils.data.DataLoader(list(range(n)), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last)
    ours = DataLoader(ListDataset(n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last)
    assert len(ours) == len(theirs) == len(list(ours))


def test_fast_path_equals_collating_sample_by_sample():
    ds = _dataset(11)
    fast = list(DataLoader(ds, batch_size=4, shuffle=True, seed=5))
    slow = list(DataLoader(ds, batch_size=4, shuffle=True, seed=5, collate_fn=default_collate))
    for (a, b), (c, d) in zip(fast, slow):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())
        assert a.dtype == c.dtype and b.dtype == d.dtype


def test_subset_of_tensor_dataset_uses_its_indices():
    sub = Subset(_dataset(10), [7, 2, 5, 9, 0])
    assert _labels(DataLoader(sub, batch_size=2)) == [[7, 2], [5, 9], [0]]
    assert sub[1][1].item() == 2 and len(sub) == 5


def test_overridden_getitem_is_respected():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return x * 2, y

    (xb, _), *_ = DataLoader(Doubled(*_dataset(4).tensors), batch_size=4)
    assert xb.numpy()[:, 0].tolist() == [0.0, 2.0, 4.0, 6.0]


def test_batches_do_not_alias_the_dataset():
    ds = _dataset(6)
    for shuffle in (False, True):
        for xb, _ in DataLoader(ds, batch_size=3, shuffle=shuffle, seed=0):
            xb.array[...] = -1
    assert ds.tensors[0].numpy()[:, 0].tolist() == list(range(6))


def test_batches_follow_the_dataset_device(device):
    xb, yb = next(iter(DataLoader(_dataset(5, device), batch_size=2, shuffle=True, seed=0)))
    assert xb.device == minidl.device(device) and yb.device == minidl.device(device)


def test_gradients_reach_a_dataset_tensor_that_requires_grad():
    X = minidl.zeros(5, 2, requires_grad=True)
    (xb,) = next(iter(DataLoader(TensorDataset(X), batch_size=2, shuffle=True, seed=1)))
    xb.sum().backward()
    assert X.grad.numpy().sum() == 4.0


# ---- shuffling reproducibility ---------------------------------------------------------------
def test_shuffle_is_reproducible_with_seed_and_differs_between_epochs():
    ds = _dataset(20)
    a, b = DataLoader(ds, batch_size=5, shuffle=True, seed=3), DataLoader(ds, batch_size=5, shuffle=True, seed=3)
    epochs_a = [_labels(a) for _ in range(3)]
    assert epochs_a == [_labels(b) for _ in range(3)]
    assert epochs_a[0] != epochs_a[1]
    assert _labels(DataLoader(ds, batch_size=5, shuffle=True, seed=4)) != epochs_a[0]


def test_shuffle_follows_manual_seed():
    loader = DataLoader(_dataset(20), batch_size=5, shuffle=True)
    minidl.manual_seed(11)
    first = [_labels(loader) for _ in range(2)]
    minidl.manual_seed(11)
    assert [_labels(loader) for _ in range(2)] == first
    assert first[0] != first[1]


def test_generator_is_used_and_advanced():
    ds = _dataset(12)
    one = _labels(DataLoader(ds, batch_size=12, shuffle=True, generator=np.random.default_rng(0)))
    assert one == [np.random.default_rng(0).permutation(12).tolist()]


# ---- default_collate --------------------------------------------------------------------------
Point = namedtuple("Point", ["x", "y"])


def test_collate_numbers_and_arrays():
    assert default_collate([1, 2, 3]).dtype == minidl.int64
    assert default_collate([1.0, 2.5]).dtype == minidl.float32
    assert default_collate([1, 2.5]).tolist() == [1.0, 2.5]
    assert default_collate([True, False]).dtype == minidl.bool
    assert default_collate([np.float64(1.0), np.float64(2.0)]).dtype == minidl.float64
    batch = default_collate([np.zeros((2, 3), np.float64), np.ones((2, 3), np.float64)])
    assert batch.shape == (2, 2, 3) and batch.dtype == minidl.float64
    t = default_collate([minidl.ones(3), minidl.zeros(3)])
    assert t.shape == (2, 3) and t.tolist()[0] == [1.0, 1.0, 1.0]
    assert default_collate(["a", "b"]) == ["a", "b"]


def test_collate_nested_structures():
    samples = [
        {"image": np.full((2,), i, np.float32), "meta": (i, [float(i), "s"]), "p": Point(i, 2 * i)} for i in range(3)
    ]
    batch = default_collate(samples)
    assert set(batch) == {"image", "meta", "p"}
    assert batch["image"].shape == (3, 2)
    ids, (vals, names) = batch["meta"]
    assert isinstance(batch["meta"], tuple) and ids.tolist() == [0, 1, 2] and vals.tolist() == [0.0, 1.0, 2.0]
    assert names == ["s", "s", "s"]
    assert isinstance(batch["p"], Point) and batch["p"].y.tolist() == [0, 2, 4]
    xb, yb = default_collate([(np.zeros(2), 0), (np.ones(2), 1)])
    assert xb.shape == (2, 2) and yb.tolist() == [0, 1]
    assert isinstance(default_collate([[1, 2], [3, 4]]), list)


def test_dict_samples_through_a_loader():
    class Dicts(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": np.array([i, i], np.float32), "y": i}

    batches = list(DataLoader(Dicts(), batch_size=2))
    assert [b["y"].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert batches[0]["x"].shape == (2, 2)


COLLATE_ERRORS = [
    ([np.zeros(2), np.zeros(3)], ValueError, "different shapes \\(2,\\) \\(sample 0\\) and \\(3,\\) \\(sample 1\\)"),
    ([minidl.zeros(2), minidl.zeros(2, 2)], ValueError, "different shapes"),
    ([minidl.zeros(2), np.zeros(2)], TypeError, "mixes Tensors"),
    ([1, "a"], TypeError, "mixes numbers"),
    ([{"a": 1}, {"b": 1}], ValueError, "sample 1 has keys"),
    ([(1, 2), (1,)], ValueError, "sample 1 has 1 fields"),
    ([object(), object()], TypeError, "got object"),
    ([], ValueError, "non-empty"),
    ([np.array(["a"]), np.array(["b"])], TypeError, "dtype <U1"),
]


@pytest.mark.parametrize(("batch", "error", "message"), COLLATE_ERRORS)
def test_collate_errors(batch, error, message):
    with pytest.raises(error, match=message):
        default_collate(batch)


# ---- datasets and errors ----------------------------------------------------------------------
def test_tensor_dataset():
    ds = TensorDataset(np.arange(6).reshape(3, 2), minidl.tensor([0, 1, 0]))
    x, y = ds[1]
    assert len(ds) == 3 and x.tolist() == [2, 3] and y.item() == 1
    with pytest.raises(ValueError, match="size mismatch between tensors: first dims \\[3, 2\\]"):
        TensorDataset(minidl.zeros(3, 2), minidl.zeros(2))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(minidl.tensor(1.0))
    with pytest.raises(TypeError, match="argument 1 is a list"):
        TensorDataset(minidl.zeros(2), [1, 2])


def test_loader_errors():
    ds = _dataset(4)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=2.5)
    with pytest.raises(TypeError, match="shuffle"):
        DataLoader(ds, shuffle="yes")
    with pytest.raises(ValueError, match="either generator or seed"):
        DataLoader(ds, shuffle=True, seed=1, generator=np.random.default_rng(1))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        DataLoader(ds, shuffle=True, generator=3)
    with pytest.raises(TypeError, match="__len__ and __getitem__"):
        DataLoader(iter(range(3)))
    with pytest.raises(TypeError, match="collate_fn"):
        DataLoader(ds, collate_fn="stack")


def test_random_split_and_concat():
    ds = _dataset(10)
    a, b = random_split(ds, [7, 3], seed=0)
    labels = [a[i][1].item() for i in range(7)] + [b[i][1].item() for i in range(3)]
    assert sorted(labels) == list(range(10)) and labels != list(range(10))
    again, _ = random_split(ds, [7, 3], seed=0)
    assert again.indices == a.indices
    assert [len(s) for s in random_split(ds, [0.5, 0.3, 0.2], seed=1)] == [5, 3, 2]
    assert [len(s) for s in random_split(_dataset(7), [0.5, 0.5], seed=1)] == [4, 3]
    with pytest.raises(ValueError, match="add up to 9"):
        random_split(ds, [5, 4])
    both = ConcatDataset([a, b])
    assert len(both) == 10 and both[7][1].item() == b[0][1].item() and both[-1][1].item() == b[2][1].item()
    assert len(a + b) == 10
    with pytest.raises(IndexError, match="out of range"):
        both[10]
