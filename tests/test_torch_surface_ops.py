"""The tensor ops PyTorch programs use (tril/triu, topk, roll, repeat_interleave, meshgrid, sinh/cosh,
norm, mm/bmm, x[index] = v recorded): one spec table, one property over it (float64, random
shapes, random upstream gradient: gradcheck and gradgradcheck), torch as the oracle of values and
gradients."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl.testing import assert_close, assert_gradients_match, shapes, tensors


@dataclass
class Spec:
    name: str
    draw: Callable  # data -> (inputs, options)
    ours: Callable  # (lib, *inputs, **options) -> output; lib is minidl or torch
    second_order: bool = True


def _matrixish(data, min_dims=2, **kw):
    return data.draw(tensors(shape=shapes(min_dims=min_dims, max_dims=4), **kw)), {}


def _tri(lower):
    def draw(data):
        (x, _), k = _matrixish(data), data.draw(st.integers(-3, 3))
        return (x,), {"diagonal": k}

    def ours(lib, x, diagonal):
        return (lib.tril if lower else lib.triu)(x, diagonal)

    return Spec("tril" if lower else "triu", draw, ours)


def _topk_draw(data):
    x = data.draw(tensors(shape=shapes(min_dims=1, max_dims=3), distinct=True))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    k = data.draw(st.integers(0, x.shape[dim]))
    return (x,), {"k": k, "dim": dim, "largest": data.draw(st.booleans())}


def _roll_draw(data):
    x = data.draw(tensors(shape=shapes(min_dims=1, max_dims=3)))
    if data.draw(st.booleans()):
        return (x,), {"shifts": data.draw(st.integers(-7, 7)), "dims": None}
    dims = data.draw(st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim, unique=True))
    return (x,), {"shifts": tuple(data.draw(st.integers(-6, 6)) for _ in dims), "dims": tuple(dims)}


def _repeat_draw(data):
    x = data.draw(tensors(shape=shapes(min_dims=1, max_dims=3)))
    dim = data.draw(st.sampled_from([None] + list(range(x.ndim))))
    n = x.numel() if dim is None else x.shape[dim]
    if data.draw(st.booleans()):
        return (x,), {"repeats": data.draw(st.integers(0, 3)), "dim": dim}
    counts = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    return (x,), {"repeats": ("tensor", counts), "dim": dim}


def _repeat(lib, x, repeats, dim):
    if isinstance(repeats, tuple):
        repeats = lib.tensor(repeats[1], dtype=lib.int64)
    return lib.repeat_interleave(x, repeats, dim=dim)


def _meshgrid_draw(data):
    n = data.draw(st.integers(1, 3))
    xs = tuple(data.draw(tensors(shape=st.tuples(st.integers(1, 4)))) for _ in range(n))
    return xs, {"indexing": data.draw(st.sampled_from(["ij", "xy"]))}


def _meshgrid(lib, *xs, indexing):
    grids = lib.meshgrid(*xs, indexing=indexing)
    return lib.stack([g * (i + 1) for i, g in enumerate(grids)])  # one output, each grid weighted


def _norm_draw(data):
    x = data.draw(tensors(shape=shapes(min_dims=1, max_dims=3), away_from=0.0, away_by=0.1))
    p = data.draw(st.sampled_from([2, "fro", 1, 3, math.inf, -math.inf]))
    dim = data.draw(st.sampled_from([None] + list(range(x.ndim))))
    if p in (math.inf, -math.inf):  # max|x| needs a unique maximum
        x = data.draw(tensors(shape=st.just(x.shape), distinct=True, low=0.2, high=3.0))
    return (x,), {"p": p, "dim": dim, "keepdim": data.draw(st.booleans())}


def _mm_draw(data):
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    return (data.draw(tensors(shape=(n, k))), data.draw(tensors(shape=(k, m)))), {}


def _bmm_draw(data):
    b, n, k, m = (data.draw(st.integers(1, 3)) for _ in range(4))
    return (data.draw(tensors(shape=(b, n, k))), data.draw(tensors(shape=(b, k, m)))), {}


def _setitem_draw(data):
    x = data.draw(tensors(shape=shapes(min_dims=2, max_dims=3)))
    col = data.draw(st.integers(0, x.shape[1] - 1))
    v = data.draw(tensors(shape=(x.shape[0],) + x.shape[2:]))
    return (x, v), {"col": col}


def _setitem(lib, x, v, col):
    y = x * 2.0  # a non-leaf of the graph
    y[y > 1.0] = 0.0  # a bool mask (the places change only by more than the finite-difference step)
    y[:, col] = v * 3.0  # a column from another tensor of the graph
    return y * x


SPECS = [
    _tri(True),
    _tri(False),
    Spec("topk", _topk_draw, lambda lib, x, **o: lib.topk(x, **o).values),
    Spec("roll", _roll_draw, lambda lib, x, **o: lib.roll(x, **o)),
    Spec("repeat_interleave", _repeat_draw, _repeat),
    Spec("meshgrid", _meshgrid_draw, _meshgrid),
    Spec("sinh", lambda d: ((d.draw(tensors()),), {}), lambda lib, x: lib.sinh(x)),
    Spec("cosh", lambda d: ((d.draw(tensors()),), {}), lambda lib, x: lib.cosh(x)),
    Spec("norm", _norm_draw, lambda lib, x, **o: lib.norm(x, **o)),
    Spec("mm", _mm_draw, lambda lib, a, b: lib.mm(a, b)),
    Spec("bmm", _bmm_draw, lambda lib, a, b: lib.bmm(a, b)),
    Spec("setitem", _setitem_draw, _setitem),
]


def _away_from_kinks(spec, inputs):
    """The mask of ``setitem`` compares 2x with 1: keep x off 0.5 by more than the step."""
    if spec.name == "setitem":
        x = inputs[0].array
        x[np.abs(x - 0.5) < 1e-2] += 0.05


@settings(max_examples=12, deadline=None)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@given(data=st.data())
def test_gradients(spec, data):
    inputs, options = spec.draw(data)
    _away_from_kinks(spec, inputs)
    assert_gradients_match(lambda *xs: spec.ours(minidl, *xs, **options), *inputs, second_order=spec.second_order)


@settings(max_examples=8, deadline=None)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@given(data=st.data())
def test_matches_torch(spec, data):
    torch = pytest.importorskip("torch")
    inputs, options = spec.draw(data)
    _away_from_kinks(spec, inputs)
    theirs = [torch.tensor(x.array.copy(), requires_grad=True) for x in inputs]
    y, t = spec.ours(minidl, *inputs, **options), spec.ours(torch, *theirs, **options)
    assert y.shape == tuple(t.shape), f"{spec.name}: shape {y.shape} vs torch {tuple(t.shape)}"
    assert_close(y, t.detach().numpy(), rtol=1e-10, atol=1e-12, what=spec.name)
    g = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(minidl.tensor(g))
    t.backward(torch.tensor(g))
    for a, b in zip(inputs, theirs):
        assert_close(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-12, what=f"{spec.name} gradient")


def test_topk_indices_and_sorted_order_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).permutation(24).reshape(2, 3, 4).astype(np.float32)
    for k, dim, largest in ((2, -1, True), (3, 1, False), (1, 0, True)):
        ours = minidl.topk(minidl.tensor(x), k, dim=dim, largest=largest)
        theirs = torch.topk(torch.tensor(x), k, dim, largest)
        assert ours.indices.tolist() == theirs.indices.tolist() and ours.values.tolist() == theirs.values.tolist()
        assert ours.indices.dtype == minidl.int64
    values, indices = minidl.tensor([1.0, 3.0, 2.0]).topk(2)
    assert values.tolist() == [3.0, 2.0] and indices.tolist() == [1, 2]


def test_bad_arguments_name_the_op():
    with pytest.raises(RuntimeError, match="topk: k \\(5\\) is out of range for dim -1 of size 3"):
        minidl.topk(minidl.ones(3), 5)
    with pytest.raises(RuntimeError, match="tril: input tensor must have at least 2 dimensions"):
        minidl.tril(minidl.ones(3))
    with pytest.raises(RuntimeError, match="bmm: expects two 3-D tensors with the same batch size"):
        minidl.bmm(minidl.ones(2, 2, 2), minidl.ones(3, 2, 2))
    with pytest.raises(RuntimeError, match="mm: expects two 2-D tensors"):
        minidl.mm(minidl.ones(2, 2, 2), minidl.ones(2, 2))
    with pytest.raises(RuntimeError, match="repeat_interleave: repeats must have 3 entries"):
        minidl.repeat_interleave(minidl.ones(3), minidl.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="roll: shifts \\(1, 2\\) and dims \\(0,\\) must have the same length"):
        minidl.roll(minidl.ones(3), (1, 2), (0,))


def test_norm_of_zero_has_a_zero_gradient_as_in_torch():
    x = minidl.zeros(3, dtype=minidl.float64, requires_grad=True)
    minidl.norm(x).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


def test_write_into_a_tensor_of_the_graph_is_recorded():
    x = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1.0
    y[1] = 10.0
    assert y.grad_fn is not None and y.tolist() == [1.0, 10.0, 3.0]
    (y * y).sum().backward()
    assert x.grad.tolist() == [2.0, 0.0, 6.0]  # the overwritten element passes no gradient
    out = minidl.zeros(2, 3)  # a constant that receives a value of the graph
    w = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out[0] = w * 2
    out.sum().backward()
    assert out.requires_grad and w.grad.tolist() == [2.0, 2.0, 2.0]


def test_an_op_that_saved_the_overwritten_tensor_raises_as_in_torch():
    torch = pytest.importorskip("torch")
    messages = []
    for lib in (minidl, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()  # saves its output for backward
        y[0] = 0.0
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
        messages.append(str(info.value))
    assert all("modified by an inplace operation" in m for m in messages)


def test_writes_that_are_refused():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf tensor that requires grad"):
        x[0] = 5.0
    with minidl.no_grad():
        x[0] = 5.0  # the optimizer's way: allowed, not recorded
    assert x.tolist() == [5.0, 2.0] and x.is_leaf
    h = (x * 2).reshape(2, 1)
    with pytest.raises(RuntimeError, match="into a view"):
        h[0] = 0.0
