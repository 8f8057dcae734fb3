"""Custom autograd Functions written the PyTorch way, beside minidl's own style; next_functions."""

import math

import numpy as np
import pytest
from hypothesis import given, settings

import minidl
from minidl.autograd import Function, once_differentiable
from minidl.testing import assert_close, assert_gradients_match, shapes, tensors


def legendre3(lib):
    """The tutorial's P3(x) = (5x³ − 3x)/2, dP3/dx = 1.5 (5x² − 1), in ``lib``'s Function."""

    class LegendrePolynomial3(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    return LegendrePolynomial3


P3 = legendre3(minidl)


@settings(max_examples=15, deadline=None)
@given(x=tensors(shape=shapes(max_dims=3), low=-2, high=2))
def test_torch_style_function_gradients(x):
    assert_gradients_match(P3.apply, x)  # its backward is Tensor ops: differentiable again


def test_torch_style_function_matches_torch():
    torch = pytest.importorskip("torch")
    x0 = np.linspace(-math.pi, math.pi, 7)
    ours, theirs = minidl.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    results = []
    for lib, x in ((minidl, ours), (torch, theirs)):
        y = legendre3(lib).apply(0.3 * x + 0.1)
        (g,) = lib.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), x)
        results.append((y.detach().numpy(), g.detach().numpy(), gg.numpy(), type(y.grad_fn).__name__))
    for a, b in zip(results[0][:3], results[1][:3]):
        assert_close(a, b, rtol=1e-12)
    assert results[0][3].startswith("LegendrePolynomial3")


def test_needs_input_grad_and_non_tensor_arguments():
    seen = []

    class Scale(Function):
        @staticmethod
        def forward(ctx, x, w, k):
            seen.append(ctx.needs_input_grad)
            ctx.save_for_backward(x, w)
            ctx.k = k
            return x * w * k

        @staticmethod
        def backward(ctx, dy):
            x, w = ctx.saved_tensors
            dx = dy * w * ctx.k if ctx.needs_input_grad[0] else None
            dw = dy * x * ctx.k if ctx.needs_input_grad[1] else None
            return dx, dw, None

    x, w = minidl.randn(3, dtype=minidl.float64, requires_grad=True), minidl.randn(3, dtype=minidl.float64)
    y = Scale.apply(x, w, 2.0)
    y.sum().backward()
    assert seen == [(True, False, False)] and not y.is_leaf
    assert_close(x.grad, 2.0 * w.numpy(), rtol=1e-12)
    assert not Scale.apply(w, w, 1.0).requires_grad  # nothing requires grad: nothing recorded


def test_non_differentiable_outputs_and_setup_context():
    class SortWithIndex(Function):
        @staticmethod
        def forward(x):
            idx = minidl.tensor(np.argsort(x.detach().numpy(), kind="stable"))
            return x[idx], idx

        @staticmethod
        def setup_context(ctx, inputs, output):
            values, idx = output
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            ctx.n = inputs[0].shape[0]

        @staticmethod
        def backward(ctx, dvalues, didx):
            (idx,) = ctx.saved_tensors
            assert not didx.numpy().any() and didx.shape == idx.shape  # materialized as zeros
            dx = minidl.zeros(ctx.n, dtype=dvalues.dtype)
            with minidl.no_grad():
                dx[idx] = dvalues
            return dx

    x = minidl.tensor([3.0, 1.0, 2.0], requires_grad=True)
    values, idx = SortWithIndex.apply(x)
    assert values.tolist() == [1.0, 2.0, 3.0] and idx.tolist() == [1, 2, 0] and not idx.requires_grad
    (values * minidl.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert x.grad.tolist() == [100.0, 1.0, 10.0]


def test_two_differentiable_outputs_are_refused_with_a_clear_error():
    class Both(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, a, b):
            return a * 2 + b * 3

    with pytest.raises(RuntimeError, match="Both.forward: returned 2 differentiable outputs"):
        Both.apply(minidl.ones(2, requires_grad=True))


def test_once_differentiable_refuses_a_second_derivative():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @once_differentiable
        def backward(ctx, dy):
            (x,) = ctx.saved_tensors
            return dy * 3 * x * x

    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    Cube.apply(x).sum().backward()
    assert x.grad.tolist() == [3.0, 12.0]
    (g,) = minidl.grad(Cube.apply(x).sum(), x, create_graph=True)
    assert g.tolist() == [3.0, 12.0]
    with pytest.raises(RuntimeError, match="differentiate twice a function that was marked with @once_differentiable"):
        g.sum().backward()


def test_saved_input_modified_in_place_raises_as_in_torch():
    h = minidl.tensor([1.0, 2.0], requires_grad=True) * 1.0
    y = P3.apply(h)
    with minidl.no_grad():
        h.add_(1.0)
    with pytest.raises(RuntimeError, match="has been modified by an inplace operation"):
        y.sum().backward()


def test_minidl_style_still_runs_on_arrays():
    class Square(Function):
        def forward(ctx, x):
            assert isinstance(x, np.ndarray)
            ctx.save_for_backward(x)
            return x * x

        def backward(ctx, dy):
            (x,) = ctx.saved_tensors
            return 2 * dy * x

    x = minidl.tensor([3.0], dtype=minidl.float64, requires_grad=True)
    assert_gradients_match(Square.apply, x)


def test_next_functions_as_in_torch():
    torch = pytest.importorskip("torch")
    for lib in (minidl, torch):
        a = lib.tensor([2.0, 3.0], requires_grad=True)
        b = lib.tensor([6.0, 4.0])
        y = a.exp()
        z = y.sin() - b.cos()  # b needs no gradient: its entry is (None, 0)
        (left, i), (right, j) = z.grad_fn.next_functions
        assert left.next_functions[0][0] is y.grad_fn and right is None and i == j == 0
        (leaf, _), = y.grad_fn.next_functions
        assert leaf.variable is a and leaf.next_functions == ()
        assert "AccumulateGrad" in type(leaf).__name__ + repr(leaf)
