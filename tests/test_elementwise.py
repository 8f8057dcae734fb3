"""Elementwise primitives: one spec table, one property test over it (forward against NumPy,
gradcheck and gradgradcheck in float64 with broadcasting shapes, inputs not mutated, gradient
shapes), then dtype rules and error messages."""

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
from minidl.testing import assert_close, assert_gradients_match, assert_not_mutated, broadcastable_shapes, tensors


@dataclass(frozen=True)
class Domain:
    """Where an input's values are drawn: ``[low, high]``, kept ``away_by`` from ``away_from``."""

    low: float = -3.0
    high: float = 3.0
    away_from: object = None
    away_by: float = 0.05


ANY = Domain()
POSITIVE = Domain(0.2, 3.0)
NONZERO = Domain(away_from=0.0, away_by=0.2)


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _apart(*arrays, by=0.05):
    """No two inputs tie anywhere (after broadcasting): max/min stay differentiable."""
    a, b = np.broadcast_arrays(*arrays[:2])
    return bool((np.abs(a - b) > by).all())


@dataclass(frozen=True)
class Spec:
    name: str
    fn: Callable
    ref: Callable
    domains: tuple = (ANY,)
    valid: Callable | None = None  # extra condition on the input arrays (ties, kinks)

    @property
    def arity(self):
        return len(self.domains)


SPECS = [
    Spec("add", lambda a, b: a + b, np.add, (ANY, ANY)),
    Spec("add_scalar", lambda a: 2.5 + a, lambda a: 2.5 + a),
    Spec("sub", lambda a, b: a - b, np.subtract, (ANY, ANY)),
    Spec("rsub_scalar", lambda a: 1.5 - a, lambda a: 1.5 - a),
    Spec("mul", lambda a, b: a * b, np.multiply, (ANY, ANY)),
    Spec("mul_scalar", lambda a: a * -3.0, lambda a: a * -3.0),
    Spec("div", lambda a, b: a / b, np.divide, (ANY, NONZERO)),
    Spec("rdiv_scalar", lambda a: 2.0 / a, lambda a: 2.0 / a, (NONZERO,)),
    Spec("neg", lambda a: -a, np.negative),
    Spec("pow_int", lambda a: a**3, lambda a: a**3),
    Spec("pow_square", lambda a: F.pow(a, 2), lambda a: a**2),
    Spec("pow_frac", lambda a: a**1.5, lambda a: a**1.5, (POSITIVE,)),
    Spec("pow_negative", lambda a: a**-2.0, lambda a: a**-2.0, (NONZERO,)),
    Spec("rpow_scalar", lambda a: 2.0**a, lambda a: 2.0**a),
    Spec("pow_tensor", lambda a, b: a**b, np.power, (POSITIVE, ANY)),
    Spec("exp", F.exp, np.exp),
    Spec("log", F.log, np.log, (POSITIVE,)),
    Spec("sqrt", F.sqrt, np.sqrt, (POSITIVE,)),
    Spec("abs", F.abs, np.abs, (NONZERO,)),
    Spec("sin", F.sin, np.sin),
    Spec("cos", F.cos, np.cos),
    Spec("tanh", F.tanh, np.tanh),
    Spec("sigmoid", F.sigmoid, _sigmoid, (Domain(-8.0, 8.0),)),
    Spec("relu", F.relu, lambda a: np.maximum(a, 0), (NONZERO,)),
    Spec("maximum", F.maximum, np.maximum, (ANY, ANY), _apart),
    Spec("minimum", F.minimum, np.minimum, (ANY, ANY), _apart),
    Spec("clamp", lambda a: a.clamp(-1.0, 1.5), lambda a: np.clip(a, -1.0, 1.5), (Domain(away_from=(-1.0, 1.5)),)),
    Spec("clamp_min", lambda a: F.clamp(a, min=0.5), lambda a: np.maximum(a, 0.5), (Domain(away_from=0.5),)),
    Spec("clamp_max", lambda a: F.clamp(a, max=-0.5), lambda a: np.minimum(a, -0.5), (Domain(away_from=-0.5),)),
    Spec(
        "clamp_tensor_bounds",
        lambda a, lo: F.clamp(a, min=lo, max=lo + 1.0),
        lambda a, lo: np.minimum(np.maximum(a, lo), lo + 1.0),
        (ANY, ANY),
        lambda a, lo: _apart(a, lo) and _apart(a, lo + 1.0),
    ),
    Spec(
        "where",
        lambda a, b: F.where(a.detach() > 0, a, b),
        lambda a, b: np.where(a > 0, a, b),
        (NONZERO, ANY),
    ),
    Spec(
        "where_scalar",
        lambda a: F.where(a.detach() < 0.5, 0.25, a),
        lambda a: np.where(a < 0.5, 0.25, a),
        (Domain(away_from=0.5),),
    ),
    Spec(
        "masked_fill",
        lambda a, b: F.masked_fill(a * b, (a * b).detach() > 1.0, -2.0),
        lambda a, b: np.where(a * b > 1.0, -2.0, a * b),
        (ANY, ANY),
        lambda a, b: bool((np.abs(a * b - 1.0) > 0.05).all()),
    ),
]


def _draw_inputs(data, spec, dtype="float64", max_dims=3, max_side=3):
    shapes = data.draw(broadcastable_shapes(spec.arity, max_dims=max_dims, max_side=max_side), label="shapes")
    inputs = [
        data.draw(
            tensors(shape=s, dtype=dtype, low=d.low, high=d.high, away_from=d.away_from, away_by=d.away_by),
            label=f"input {i}",
        )
        for i, (s, d) in enumerate(zip(shapes, spec.domains))
    ]
    arrays = [t.array.copy() for t in inputs]
    if spec.valid is not None:
        assume(spec.valid(*arrays))
    return inputs, arrays


def _check_grad_shapes(out, inputs, seed=0):
    """backward with a random upstream gradient gives every input a gradient of its own shape."""
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(tensor(upstream, dtype=out.dtype))
    for i, t in enumerate(inputs):
        assert t.grad is not None, f"input {i} got no gradient"
        assert t.grad.shape == t.shape, f"input {i}: grad shape {t.grad.shape} != {t.shape}"
        assert t.grad.dtype == t.dtype


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@given(data=st.data())
def test_elementwise_op(spec, data):
    inputs, arrays = _draw_inputs(data, spec)
    out = assert_not_mutated(spec.fn, *inputs)
    expected = spec.ref(*arrays)
    assert_close(out, expected, rtol=1e-12, atol=1e-12)
    assert out.dtype == np.float64
    assert out.requires_grad
    assert_gradients_match(spec.fn, *inputs)
    _check_grad_shapes(out, inputs)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@given(data=st.data())
def test_elementwise_op_keeps_float32(spec, data):
    inputs, arrays = _draw_inputs(data, spec, dtype="float32", max_dims=2)
    out = spec.fn(*inputs)
    assert out.dtype == np.float32, f"{spec.name} turned float32 into {out.dtype}"
    assert_close(out, spec.ref(*arrays), rtol=1e-5, atol=1e-6)
    _check_grad_shapes(out, inputs)


# ---- particular cases ---------------------------------------------------------------------------
def test_sigmoid_is_stable_for_large_inputs():
    x = tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype="float64", requires_grad=True)
    y = F.sigmoid(x)
    assert_close(y, [0.0, _sigmoid(-50.0), 0.5, 1.0, 1.0], atol=1e-300)
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_maximum_and_minimum_split_the_gradient_at_ties():
    a = tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    b = tensor([1.0, 3.0], dtype="float64", requires_grad=True)
    (F.maximum(a, b) + F.minimum(a, b)).sum().backward()
    assert_close(a.grad, [1.0, 1.0])
    assert_close(b.grad, [1.0, 1.0])


def test_abs_and_relu_gradients_at_zero_are_zero():
    x = tensor([0.0], dtype="float64", requires_grad=True)
    (F.abs(x) + F.relu(x)).sum().backward()
    assert_close(x.grad, [0.0])


def test_where_broadcasts_condition_and_values():
    cond = tensor([[True], [False]])
    a = tensor([1.0, 2.0, 3.0], dtype="float64", requires_grad=True)
    b = tensor(-1.0, dtype="float64", requires_grad=True)
    y = F.where(cond, a, b)
    assert_close(y, [[1.0, 2.0, 3.0], [-1.0, -1.0, -1.0]])
    y.sum().backward()
    assert_close(a.grad, [1.0, 1.0, 1.0])
    assert_close(b.grad, 3.0)
    assert b.grad.shape == ()


def test_masked_fill_with_broadcast_mask():
    x = tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64", requires_grad=True)
    y = x.masked_fill(tensor([True, False]), 0.0)
    assert_close(y, [[0.0, 2.0], [0.0, 4.0]])
    y.sum().backward()
    assert_close(x.grad, [[0.0, 1.0], [0.0, 1.0]])


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="clamp"):
        F.clamp(tensor([1.0]))


# ---- dtype rules (as in PyTorch) ------------------------------------------------------------------
def test_integer_tensor_with_python_float_gives_default_float():
    i = minidl.arange(3)
    assert (i + 1).dtype == np.int64
    assert (i * 2).dtype == np.int64
    assert (i * 0.5).dtype == np.float32
    assert (0.5 + i).dtype == np.float32
    assert (i / 2).dtype == np.float32
    assert_close(i / 2, [0.0, 0.5, 1.0])
    assert (i - 1.5).dtype == np.float32
    assert (i * tensor([1.0, 2.0, 3.0])).dtype == np.float32
    assert (i**0.5).dtype == np.float32


def test_python_scalars_keep_the_tensor_dtype():
    x = tensor([1.0, 2.0])
    for y in (x + 1, x * 2.5, 1.5 - x, x / 3, 2.0**x, x**2, F.maximum(x, x)):
        assert y.dtype == np.float32


def test_float32_with_float64_promotes():
    assert (tensor([1.0]) * tensor([2.0], dtype="float64")).dtype == np.float64


# ---- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "op, name",
    [
        (lambda a, b: a + b, "Add"),
        (lambda a, b: a - b, "Sub"),
        (lambda a, b: a * b, "Mul"),
        (lambda a, b: a / b, "Div"),
        (lambda a, b: F.maximum(a, b), "Maximum"),
        (lambda a, b: a**b, "Pow"),
    ],
)
def test_shape_mismatch_names_op_and_both_shapes(op, name):
    a, b = minidl.ones(2, 3), minidl.ones(4, 3)
    with pytest.raises(ValueError, match=rf"{name}.*\(2, ?3\).*\(4, ?3\)"):
        op(a, b)


def test_masked_fill_mask_that_would_grow_the_input_raises():
    x = minidl.ones(3)
    with pytest.raises(ValueError, match=r"masked_fill.*\(2, 3\).*\(3,\)"):
        x.masked_fill(minidl.ones(2, 3, dtype=minidl.bool), 0.0)


def test_masked_fill_and_where_need_bool_conditions():
    x = minidl.ones(3)
    with pytest.raises(TypeError, match="masked_fill.*bool"):
        x.masked_fill(minidl.ones(3), 0.0)
    with pytest.raises(TypeError, match="where.*bool"):
        F.where(minidl.ones(3), x, x)


def test_comparisons_give_bool_tensors_without_grad():
    x = tensor([1.0, 2.0, 3.0], requires_grad=True)
    for y in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2):
        assert y.dtype == np.bool_ and not y.requires_grad and y.grad_fn is None
    assert (x > 1.5).tolist() == [False, True, True]
    assert ((x > 1.5) & (x < 2.5)).tolist() == [False, True, False]
    assert ((x < 1.5) | (x > 2.5)).tolist() == [True, False, True]
    assert (~(x > 1.5)).tolist() == [True, False, False]
