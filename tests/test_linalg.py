"""Matrix products: one spec table, one property test over it (forward against NumPy,
gradcheck and gradgradcheck in float64 for 1-D, 2-D, batched and broadcast batch shapes,
inputs not mutated, gradient shapes), then error messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import tensor
from minidl.testing import assert_close, assert_gradients_match, assert_not_mutated, matmul_shapes, tensors


@dataclass(frozen=True)
class Spec:
    name: str
    shapes: Callable  # a strategy of input shapes
    fn: Callable
    ref: Callable


@st.composite
def linear_shapes(draw, bias=True):
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shapes = [lead + (n_in,), (n_out, n_in)]
    return shapes + [(n_out,)] if bias else shapes


@st.composite
def vector_pair(draw):
    n = draw(st.integers(1, 5))
    return [(n,), (n,)]


SPECS = [
    Spec("matmul", matmul_shapes().map(list), lambda a, b: a @ b, np.matmul),
    Spec("matmul_fn", matmul_shapes(max_batch_dims=1).map(list), F.matmul, np.matmul),
    Spec("matmul_2d", matmul_shapes(max_batch_dims=0).map(list), lambda a, b: (a @ b) * 2.0, lambda a, b: 2 * (a @ b)),
    Spec("linear", linear_shapes(), F.linear, lambda x, w, b: x @ w.T + b),
    Spec("linear_no_bias", linear_shapes(bias=False), F.linear, lambda x, w: x @ w.T),
    Spec("dot", vector_pair(), F.dot, np.dot),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@given(data=st.data())
def test_linalg_op(spec, data):
    in_shapes = data.draw(spec.shapes, label="shapes")
    inputs = [data.draw(tensors(shape=tuple(s)), label=f"input {i}") for i, s in enumerate(in_shapes)]
    arrays = [t.array.copy() for t in inputs]
    out = assert_not_mutated(spec.fn, *inputs)
    expected = np.asarray(spec.ref(*arrays))
    assert_close(out, expected, rtol=1e-12, atol=1e-12)
    assert out.dtype == np.float64
    assert_gradients_match(spec.fn, *inputs)
    out.backward(tensor(np.random.default_rng(0).standard_normal(out.shape)))
    for i, t in enumerate(inputs):
        assert t.grad.shape == t.shape, f"input {i}: grad shape {t.grad.shape} != {t.shape}"


def test_matmul_broadcast_batch_gradient_is_summed():
    a = minidl.randn(2, 1, 3, 4, dtype="float64", requires_grad=True)
    b = minidl.randn(5, 4, 2, dtype="float64", requires_grad=True)
    y = a @ b
    assert y.shape == (2, 5, 3, 2)
    y.sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape
    ones = np.ones((2, 5, 3, 2))
    assert_close(a.grad, (ones @ np.swapaxes(b.array, -1, -2)).sum(axis=1, keepdims=True), rtol=1e-12)
    assert_close(b.grad, (np.swapaxes(a.array, -1, -2) @ ones).sum(axis=0), rtol=1e-12)


def test_matmul_of_vectors_is_a_scalar():
    a = tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = a @ a
    assert y.shape == ()
    assert y.item() == 14.0
    y.backward()
    assert_close(a.grad, [2.0, 4.0, 6.0])


def test_matmul_keeps_float32():
    assert (minidl.ones(2, 3) @ minidl.ones(3)).dtype == np.float32


@pytest.mark.parametrize(
    "a, b",
    [((3, 4), (2, 3)), ((4,), (3,)), ((2, 3, 4), (5, 2)), ((3,), (2, 4))],
)
def test_matmul_mismatch_names_op_and_both_shapes(a, b):
    pattern = rf"matmul.*{_shape_re(a)}.*{_shape_re(b)}"
    with pytest.raises(ValueError, match=pattern):
        minidl.ones(*a) @ minidl.ones(*b)


def _shape_re(shape):
    return r"\(" + r",\s*".join(str(n) for n in shape) + (",?" if len(shape) == 1 else "") + r"\)"


def test_matmul_batch_dims_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"MatMul.*\(2, 3, 4\).*\(3, 4, 5\)"):
        minidl.ones(2, 3, 4) @ minidl.ones(3, 4, 5)


def test_matmul_of_a_0d_tensor_raises():
    with pytest.raises(ValueError, match="matmul.*at least 1 dim"):
        F.matmul(tensor(2.0), minidl.ones(2))


def test_linear_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"linear.*\(2, 3\).*\(4, 5\)"):
        F.linear(minidl.ones(2, 3), minidl.ones(4, 5))


def test_dot_needs_equal_vectors():
    with pytest.raises(ValueError, match=r"dot.*\(2,\).*\(3,\)"):
        F.dot(minidl.ones(2), minidl.ones(3))
    with pytest.raises(ValueError, match="dot.*1-D"):
        F.dot(minidl.ones(2, 2), minidl.ones(2))
