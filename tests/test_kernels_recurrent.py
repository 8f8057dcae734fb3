"""The fused recurrent kernels (minidl/kernels/recurrent.py) equal their references
(minidl/functional/recurrent.py) in value and gradient, over generated shapes, float32 and float64,
non-contiguous inputs, any subset of inputs requiring grad, both directions; second derivatives
through each kernel (which defer to the reference); the kernels' own checks. The kernels are
switched on explicitly, so this holds with ``MINIDL_REFERENCE=1`` too."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import dispatch
from minidl.kernels import recurrent as K
from minidl.testing import assert_gradients_match, assert_kernel_matches_reference

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
TOLERANCE = {"float32": {"rtol": 2e-4, "atol": 2e-5}, "float64": {"rtol": 1e-9, "atol": 1e-11}}


def _array(rng, shape, dtype, contiguous, scale=1.0):
    """A (B, ...) array of ``shape``: contiguous, or every other element of a larger array."""
    if contiguous:
        return (scale * rng.standard_normal(shape)).astype(dtype)
    wide = (scale * rng.standard_normal(shape[:-1] + (2 * shape[-1],))).astype(dtype)
    return wide[..., ::2]  # a strided view


def _make(rng, dtype, contiguous, grads, shape, scale=1.0):
    t = minidl.Tensor._make(_array(rng, shape, dtype, contiguous, scale), False)
    return t.requires_grad_(bool(grads.pop(0)))


def _inputs(rng, kind, T, B, I, H, dtype, contiguous, grads, bias, cell):
    G = GATES[kind]
    make = lambda *s, scale=1.0: _make(rng, dtype, contiguous, grads, s, scale)  # noqa: E731
    x = make(B, I) if cell else make(T, B, I)
    states = [make(B, H, scale=0.5) for _ in range(2 if kind == "lstm" else 1)]
    w = [make(G * H, I, scale=0.5), make(G * H, H, scale=0.5)]
    w += [make(G * H, scale=0.5), make(G * H, scale=0.5)] if bias else [None, None]
    return x, states, w


def _call(kind, cell, x, states, w, reverse):
    """(op, args, kwargs) of one call of the reference op that ``kind`` and ``cell`` name."""
    hx = tuple(states) if kind == "lstm" else states[0]
    if cell:
        op = {"lstm": F.lstm_cell, "gru": F.gru_cell, "rnn_tanh": F.rnn_tanh_cell, "rnn_relu": F.rnn_relu_cell}[kind]
        return op, (x, hx, *w), {}
    if kind.startswith("rnn"):
        return F.rnn_layer, (x, hx, *w, kind[4:]), {"reverse": reverse}
    return {"lstm": F.lstm_layer, "gru": F.gru_layer}[kind], (x, hx, *w), {"reverse": reverse}


@given(kind=st.sampled_from(sorted(GATES)), cell=st.booleans(), T=st.integers(1, 5), B=st.integers(1, 4),
       I=st.integers(1, 5), H=st.integers(1, 4), dtype=st.sampled_from(["float32", "float64"]),
       contiguous=st.booleans(), grads=st.lists(st.booleans(), min_size=7, max_size=7), bias=st.booleans(),
       reverse=st.booleans(), seed=st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_kernel_matches_reference(kind, cell, T, B, I, H, dtype, contiguous, grads, bias, reverse, seed):
    rng = np.random.default_rng(seed)
    x, states, w = _inputs(rng, kind, T, B, I, H, dtype, contiguous, list(grads), bias, cell)
    op, args, kwargs = _call(kind, cell, x, states, w, reverse)
    assert_kernel_matches_reference(op, *args, **TOLERANCE[dtype], seed=seed, **kwargs)


@pytest.mark.parametrize("cell", [False, True], ids=["layer", "cell"])
@pytest.mark.parametrize("kind", sorted(GATES))
def test_second_derivatives_through_the_kernel(kind, cell):
    """gradgradcheck with the kernel running: its backward, differentiated, is the reference's."""
    rng = np.random.default_rng(7)
    x, states, w = _inputs(rng, kind, 3, 2, 2, 2, "float64", True, [True] * 7, True, cell)
    if kind == "rnn_relu":  # away from the kink of relu: gradcheck steps must not cross it
        w[2] = minidl.tensor(w[2].array + 3.0, requires_grad=True)
    n = len(states)

    def f(x, *rest):
        op, args, kwargs = _call(kind, cell, x, list(rest[:n]), list(rest[n:]), reverse=True)
        assert dispatch.kernel_for_call(op, *args, **kwargs) is not None
        return op(*args, **kwargs)

    with minidl.reference_mode(False):
        assert_gradients_match(f, x, *states, *w)


def test_kernels_are_registered_against_their_references():
    for op, kernel in ((F.lstm_layer, K.lstm_layer_kernel), (F.gru_layer, K.gru_layer_kernel),
                       (F.rnn_layer, K.rnn_layer_kernel), (F.lstm_cell, K.lstm_cell_kernel),
                       (F.gru_cell, K.gru_cell_kernel), (F.rnn_tanh_cell, K.rnn_tanh_cell_kernel),
                       (F.rnn_relu_cell, K.rnn_relu_cell_kernel)):
        assert dispatch.kernels_for(op) == [kernel]


def test_modified_output_is_an_error_in_backward():
    """The fused layer keeps its output as its saved activations: changing it in place is caught."""
    x = minidl.randn(3, 2, 2, requires_grad=True)
    w = [minidl.randn(2, 2, requires_grad=True), minidl.randn(2, 2)]
    with minidl.reference_mode(False):
        out, _ = F.rnn_layer(x, minidl.zeros(2, 2), *w)
    loss = (out * out).sum()
    with minidl.no_grad():
        out.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_kernels_check_their_arguments_as_the_references_do():
    x, h = minidl.randn(4, 2, 3), minidl.randn(2, 5)
    wrong = (minidl.randn(20, 4), minidl.randn(20, 5))
    for reference in (False, True):
        with minidl.reference_mode(reference):
            with pytest.raises(ValueError, match=r"lstm_layer: input of shape \(4, 2, 3\): each step of shape"):
                F.lstm_layer(x, (h, h), *wrong)
            with pytest.raises(ValueError, match=r"gru_cell: w_ih \(8, 3\) and w_hh \(9, 3\) must both have"):
                F.gru_cell(x[0], minidl.randn(2, 3), minidl.randn(8, 3), minidl.randn(9, 3))
            with pytest.raises(ValueError, match="rnn_layer: unknown nonlinearity 'sigmoid'"):
                F.rnn_layer(x, h, minidl.randn(5, 3), minidl.randn(5, 5), nonlinearity="sigmoid")
            with pytest.raises(TypeError, match="rnn_tanh_cell: all tensors must have the same dtype"):
                F.rnn_tanh_cell(x[0], h.double(), minidl.randn(5, 3), minidl.randn(5, 5))
