"""Reductions and the softmax family: one spec table, one property test over it (forward against
NumPy for every ``dim``/``keepdim``, gradcheck and gradgradcheck in float64, inputs not mutated,
gradient shapes), fused softmax against its composed reference, and error messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import tensor
from minidl.testing import assert_close, assert_gradients_match, assert_not_mutated, reduction_dims, shapes, tensors


def _axis(dim):
    return dim if dim is None or isinstance(dim, int) else tuple(dim)


def _logsumexp(a, dim, keepdim):
    m = a.max(axis=_axis(dim), keepdims=True)
    y = np.log(np.exp(a - m).sum(axis=_axis(dim), keepdims=True)) + m
    return y if keepdim else np.squeeze(y, axis=_axis(dim))


def _softmax(a, dim):
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def _reduced_count(shape, dim):
    if dim is None:
        return int(np.prod(shape))
    dims = (dim,) if isinstance(dim, int) else dim
    return int(np.prod([shape[d] for d in dims]))


@dataclass(frozen=True)
class Spec:
    name: str
    fn: Callable  # fn(x, dim, keepdim)
    ref: Callable  # ref(array, dim, keepdim)
    dims: str = "many"  # "many": None, an int or a tuple; "one": a single int
    distinct: bool = False  # values pairwise apart (max, min: no ties)
    differentiable: bool = True
    min_count: int = 1  # at least this many elements reduced (var, std)


SPECS = [
    Spec("sum", lambda x, d, k: x.sum(d, k), lambda a, d, k: a.sum(axis=_axis(d), keepdims=k)),
    Spec("mean", lambda x, d, k: F.mean(x, d, k), lambda a, d, k: a.mean(axis=_axis(d), keepdims=k)),
    Spec(
        "var",
        lambda x, d, k: x.var(d, k),
        lambda a, d, k: a.var(axis=_axis(d), keepdims=k, ddof=1),
        distinct=True,
        min_count=2,
    ),
    Spec(
        "var_biased",
        lambda x, d, k: F.var(x, d, k, unbiased=False),
        lambda a, d, k: a.var(axis=_axis(d), keepdims=k),
        distinct=True,
        min_count=2,
    ),
    Spec(
        "std",
        lambda x, d, k: x.std(d, k),
        lambda a, d, k: a.std(axis=_axis(d), keepdims=k, ddof=1),
        distinct=True,
        min_count=2,
    ),
    Spec(
        "std_correction0",
        lambda x, d, k: F.std(x, d, k, correction=0),
        lambda a, d, k: a.std(axis=_axis(d), keepdims=k),
        distinct=True,
        min_count=2,
    ),
    Spec("amax", lambda x, d, k: x.amax(d, k), lambda a, d, k: a.max(axis=_axis(d), keepdims=k), distinct=True),
    Spec("amin", lambda x, d, k: F.amin(x, d, k), lambda a, d, k: a.min(axis=_axis(d), keepdims=k), distinct=True),
    Spec(
        "max_values",
        lambda x, d, k: x.max(d, k).values,
        lambda a, d, k: a.max(axis=d, keepdims=k),
        dims="one",
        distinct=True,
    ),
    Spec(
        "min_values",
        lambda x, d, k: F.min(x, d, k)[0],
        lambda a, d, k: a.min(axis=d, keepdims=k),
        dims="one",
        distinct=True,
    ),
    Spec(
        "max_indices",
        lambda x, d, k: x.max(d, k).indices,
        lambda a, d, k: a.argmax(axis=d, keepdims=k),
        dims="one",
        distinct=True,
        differentiable=False,
    ),
    Spec(
        "min_indices",
        lambda x, d, k: x.min(d, k)[1],
        lambda a, d, k: a.argmin(axis=d, keepdims=k),
        dims="one",
        distinct=True,
        differentiable=False,
    ),
    Spec(
        "argmax",
        lambda x, d, k: x.argmax(d, k),
        lambda a, d, k: a.argmax(axis=d, keepdims=k),
        dims="one_or_none",
        distinct=True,
        differentiable=False,
    ),
    Spec(
        "argmin",
        lambda x, d, k: F.argmin(x, d, k),
        lambda a, d, k: a.argmin(axis=d, keepdims=k),
        dims="one_or_none",
        distinct=True,
        differentiable=False,
    ),
    Spec("logsumexp", lambda x, d, k: x.logsumexp(d, k), _logsumexp),
    Spec("softmax", lambda x, d, k: F.softmax(x, d), lambda a, d, k: _softmax(a, d), dims="one"),
    Spec(
        "log_softmax",
        lambda x, d, k: x.log_softmax(d),
        lambda a, d, k: np.log(_softmax(a, d)),
        dims="one",
    ),
    Spec(
        "softmax_reference",
        lambda x, d, k: F.softmax.reference(x, d),
        lambda a, d, k: _softmax(a, d),
        dims="one",
    ),
    Spec(
        "log_softmax_reference",
        lambda x, d, k: F.log_softmax.reference(x, d),
        lambda a, d, k: np.log(_softmax(a, d)),
        dims="one",
    ),
]


def _draw_dim(data, spec, ndim):
    if spec.dims == "many":
        return data.draw(reduction_dims(ndim), label="dim")
    if spec.dims == "one_or_none" and data.draw(st.booleans(), label="dim is None"):
        return None
    return data.draw(st.integers(-ndim, ndim - 1), label="dim")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@given(data=st.data())
def test_reduction(spec, data):
    min_dims = 0 if spec.dims == "many" else 1
    shape = data.draw(shapes(min_dims=min_dims, max_dims=3, max_side=3), label="shape")
    x = data.draw(tensors(shape=shape, distinct=spec.distinct), label="x")
    dim = _draw_dim(data, spec, x.ndim)
    keepdim = data.draw(st.booleans(), label="keepdim")
    assume(_reduced_count(shape, dim) >= spec.min_count)
    array = x.array.copy()

    def fn(t):
        return spec.fn(t, dim, keepdim)

    out = assert_not_mutated(fn, x)
    expected = np.asarray(spec.ref(array, dim, keepdim))
    assert_close(out, expected, rtol=1e-12, atol=1e-12)
    if not spec.differentiable:
        assert out.dtype == np.int64 and not out.requires_grad and out.grad_fn is None
        return
    assert out.dtype == np.float64 and out.requires_grad
    assert_gradients_match(fn, x)
    out.backward(tensor(np.random.default_rng(0).standard_normal(out.shape)))
    assert x.grad.shape == x.shape and x.grad.dtype == x.dtype


@pytest.mark.parametrize("fused, composed", [(op, op.reference) for op in (F.softmax, F.log_softmax)])
@given(data=st.data())
def test_softmax_equals_its_reference(fused, composed, data):
    x = data.draw(tensors(shape=shapes(min_dims=1, max_dims=3, max_side=4), low=-20, high=20), label="x")
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1), label="dim")
    upstream = tensor(np.random.default_rng(1).standard_normal(x.shape))
    y1, y2 = fused(x, dim), composed(x, dim)
    assert_close(y1, y2, rtol=1e-12, atol=1e-12)
    (g1,) = minidl.grad(y1, x, upstream, create_graph=True)
    (g2,) = minidl.grad(y2, x, upstream, create_graph=True)
    assert_close(g1, g2, rtol=1e-10, atol=1e-12, what="first derivatives")
    (h1,) = minidl.grad((g1 * g1).sum(), x)
    (h2,) = minidl.grad((g2 * g2).sum(), x)
    assert_close(h1, h2, rtol=1e-9, atol=1e-10, what="second derivatives")


# ---- particular cases ---------------------------------------------------------------------------
def test_max_without_dim_is_the_largest_element():
    x = tensor([[1.0, 5.0], [3.0, -2.0]], requires_grad=True)
    m = x.max()
    assert m.shape == () and m.item() == 5.0
    assert F.min(x).item() == -2.0
    m.backward()
    assert_close(x.grad, [[0.0, 1.0], [0.0, 0.0]])


def test_max_with_dim_is_a_named_pair():
    x = tensor([[1.0, 5.0, 2.0], [3.0, -2.0, 4.0]])
    values, indices = x.max(dim=1)
    assert values.tolist() == [5.0, 4.0] and indices.tolist() == [1, 2]
    r = x.min(0, keepdim=True)
    assert r.values.shape == (1, 3) and r.indices.tolist() == [[0, 1, 0]]


def test_amax_ties_share_the_gradient():
    x = tensor([2.0, 2.0, 1.0], dtype="float64", requires_grad=True)
    x.amax().backward()
    assert_close(x.grad, [0.5, 0.5, 0.0])


def test_argmax_of_flattened_tensor():
    x = tensor([[1.0, 5.0], [7.0, -2.0]])
    assert x.argmax().item() == 2
    assert x.argmin().item() == 3
    assert x.argmax(keepdim=True).shape == (1, 1)


def test_logsumexp_and_softmax_are_stable():
    x = tensor([1000.0, 1000.0, -1000.0], dtype="float64", requires_grad=True)
    assert_close(x.logsumexp(0), 1000.0 + np.log(2.0), rtol=1e-14)
    assert_close(F.softmax(x, 0), [0.5, 0.5, 0.0])
    assert_close(F.log_softmax(x, 0), [-np.log(2.0), -np.log(2.0), -2000.0 - np.log(2.0)], rtol=1e-12)
    x.logsumexp(0).backward()
    assert_close(x.grad, [0.5, 0.5, 0.0])


def test_logsumexp_of_all_minus_inf_is_minus_inf():
    x = tensor([[-np.inf, -np.inf], [0.0, 0.0]], dtype="float64")
    assert_close(x.logsumexp(1), [-np.inf, np.log(2.0)])


def test_mean_of_integer_tensor_raises():
    with pytest.raises(TypeError, match="mean.*int64"):
        minidl.arange(4).mean()


def test_sum_of_bool_and_int_tensors():
    assert minidl.arange(4).sum().item() == 6
    assert (minidl.arange(4) > 1).sum().item() == 2


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "logsumexp", "var", "softmax", "argmax"])
def test_dim_out_of_range_names_the_op(op):
    x = minidl.ones(2, 3)
    with pytest.raises(IndexError, match=rf"{op}.*dim 2.*2 dimensions"):
        getattr(x, op)(2)


def test_repeated_dim_raises():
    with pytest.raises(ValueError, match=r"sum.*repeats"):
        minidl.ones(2, 3).sum((1, -1))


def test_amax_of_empty_tensor_raises():
    with pytest.raises(IndexError, match=r"amax.*empty.*\(0, ?3\)"):  # PyTorch: IndexError
        minidl.ones(0, 3).amax()
