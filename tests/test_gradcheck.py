"""gradcheck and gradgradcheck catch wrong derivatives, say where, and refuse what they cannot
check (float32 inputs)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minidl
from minidl import Tensor, tensor
from minidl.autograd import Function
from minidl.gradcheck import GradcheckError, gradcheck, gradgradcheck


def leaf(shape, seed=0, low=-2.0, high=2.0):
    values = np.random.default_rng(seed).uniform(low, high, size=shape)
    return tensor(values, dtype=minidl.float64, requires_grad=True)


class Square(Function):
    """y = x²        dL/dx = dy · 2x"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * 2 * x


class WrongSquare(Function):
    """y = x², with the wrong derivative 3x."""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * 3 * x


class WrongSecondInput(Function):
    """y = a · b, with dL/db wrong (uses b instead of a)."""

    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    def backward(ctx, dy):
        a, b = ctx.saved_tensors
        return dy * b, dy * b


class OneWrongElement(Function):
    """y = 2x, except the derivative of element (1, 2) is reported as 0."""

    def forward(ctx, x):
        return 2 * x

    def backward(ctx, dy):
        mask = np.ones(dy.shape)
        mask[1, 2] = 0.0
        return dy * 2 * tensor(mask)


class ZeroGradSoftmax(Function):
    """Softmax with a backward that returns zeros: wrong, yet right for a ones upstream gradient
    (Σ_i y_i = 1, so the derivative of Σ_i y_i is exactly zero)."""

    def forward(ctx, x):
        xp = ctx.xp
        e = xp.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def backward(ctx, dy):
        return dy * 0.0


class ConstantSquare(Function):
    """y = x², whose backward uses a constant copy of x instead of the graph tensor: first
    derivatives are right, second derivatives are zero (wrong)."""

    def forward(ctx, x):
        ctx.x_constant = x.copy()
        return x * x

    def backward(ctx, dy):
        return dy * 2 * Tensor._make(ctx.x_constant)


def test_correct_gradients_pass():
    x = leaf((2, 3))
    assert gradcheck(Square.apply, (x,)) is True
    assert gradgradcheck(Square.apply, (x,)) is True
    assert gradcheck(lambda a, b: (a * b).sum(-1), (leaf((2, 3)), leaf((3,), seed=1))) is True


def test_wrong_backward_is_caught_and_reported():
    x = leaf((2, 3))
    with pytest.raises(GradcheckError) as info:
        gradcheck(WrongSquare.apply, (x,))
    message = str(info.value)
    assert "WrongSquare" in message
    assert "input 0" in message and "(2, 3)" in message
    assert re.search(r"element \(\d, \d\)", message)
    # the reported values are the analytical 3x and the numerical 2x of the worst element
    i, j = map(int, re.search(r"element \((\d), (\d)\)", message).groups())
    analytical, numerical = map(float, re.search(r"analytical (\S+) vs numerical (\S+),", message).groups())
    assert analytical / numerical == pytest.approx(1.5, rel=1e-4)


def test_report_names_the_right_input_and_element():
    a, b = leaf((2, 3)), leaf((2, 3), seed=1)
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(2, 3\)\)"):
        gradcheck(WrongSecondInput.apply, (a, b))
    x = leaf((2, 4))
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(2, 4\)\) at element \(1, 2\): analytical -?0 vs"):
        gradcheck(OneWrongElement.apply, (x,))


def test_only_inputs_that_require_grad_are_checked():
    a = leaf((2, 3))
    b = tensor(np.ones((2, 3)), dtype=minidl.float64)  # a constant: its (wrong) gradient is not asked for
    assert gradcheck(WrongSecondInput.apply, (a, b)) is True


def test_float32_input_is_refused():
    x = tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"input 0 has dtype float32.*float64"):
        gradcheck(Square.apply, (x,))
    with pytest.raises(TypeError, match="float32"):
        gradgradcheck(Square.apply, (x,))


def test_nothing_to_check_is_an_error():
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(Square.apply, (tensor([1.0], dtype=minidl.float64),))


def test_zero_backward_of_softmax_passes_a_ones_check_but_not_gradcheck():
    x = leaf((3, 4))
    y = ZeroGradSoftmax.apply(x)
    # the analytical ones-upstream VJP: zeros from the wrong backward
    (analytical,) = minidl.grad(y, x, tensor(np.ones(y.shape)), allow_unused=True)
    assert np.all(analytical.numpy() == 0)
    # the numerical ones-upstream VJP is also (close to) zero, because every row of y sums to 1
    eps = 1e-6
    numerical = np.zeros(x.shape)
    base = x.detach().numpy().copy()
    for idx in np.ndindex(*x.shape):
        plus, minus = base.copy(), base.copy()
        plus[idx] += eps
        minus[idx] -= eps
        f_plus = ZeroGradSoftmax.apply(tensor(plus)).numpy().sum()
        f_minus = ZeroGradSoftmax.apply(tensor(minus)).numpy().sum()
        numerical[idx] = (f_plus - f_minus) / (2 * eps)
    np.testing.assert_allclose(numerical, analytical.numpy(), atol=1e-8)  # a ones check would pass
    # a random upstream gradient exposes the wrong backward
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(ZeroGradSoftmax.apply, (x,))
    with pytest.raises(GradcheckError):
        gradcheck(ZeroGradSoftmax.apply, (x,), fast_mode=True)


def test_fast_mode_passes_right_and_catches_wrong_backward():
    x = leaf((3, 3))
    assert gradcheck(Square.apply, (x,), fast_mode=True) is True
    with pytest.raises(GradcheckError, match="input 0.*random direction"):
        gradcheck(WrongSquare.apply, (x,), fast_mode=True)


def test_raise_exception_false_returns_false():
    x = leaf((2, 2))
    assert gradcheck(WrongSquare.apply, (x,), raise_exception=False) is False
    assert gradcheck(WrongSquare.apply, (x,), raise_exception=False, fast_mode=True) is False
    assert gradgradcheck(ConstantSquare.apply, (x,), raise_exception=False) is False
    assert gradcheck(Square.apply, (x,), raise_exception=False) is True


def test_gradgradcheck_catches_a_backward_that_uses_a_constant():
    x = leaf((2, 3))
    assert gradcheck(ConstantSquare.apply, (x,)) is True  # first derivatives are right
    with pytest.raises(GradcheckError, match=r"gradgradcheck failed for the gradient of ConstantSquare.*input 0"):
        gradgradcheck(ConstantSquare.apply, (x,))
    with pytest.raises(GradcheckError, match="gradgradcheck"):
        gradgradcheck(ConstantSquare.apply, (x,), fast_mode=True)


def test_gradcheck_leaves_inputs_unchanged():
    x = leaf((2, 3))
    before = x.detach().numpy().copy()
    gradcheck(Square.apply, (x,))
    gradgradcheck(Square.apply, (x,))
    assert np.array_equal(x.detach().numpy(), before)
    assert x.grad is None


def test_gradcheck_with_several_outputs():
    x = leaf((3,))
    assert gradcheck(lambda t: (t.sin(), t.exp(), t.argmax()), (x,)) is True


def test_report_names_a_plain_function():
    def my_op(t):
        return WrongSquare.apply(t)

    with pytest.raises(GradcheckError, match="gradcheck failed for .*my_op"):
        gradcheck(my_op, (leaf((2,)),))


def test_seed_makes_the_check_repeatable():
    x = leaf((3, 3))
    messages = []
    for _ in range(2):
        with pytest.raises(GradcheckError) as info:
            gradcheck(WrongSquare.apply, (x,), fast_mode=True, seed=7)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
