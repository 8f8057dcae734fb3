"""The backward pass's gradient sums: in place into the arrays it allocated, and indexing ops
(the pieces of a split) adding into one buffer (minidl/backprop.py, ``backward_into``).

Each test states the gradient in closed form and checks it, and checks that no array the caller
or a ``.grad`` holds is changed by a later accumulation."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import tensor
from minidl.testing import assert_close


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 4),
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    direct=st.booleans(),
    repeats=st.lists(st.integers(0, 3), min_size=0, max_size=5),
    seed=st.integers(0, 2**31 - 1),
)
def test_split_pieces_and_indexing_sum_to_the_closed_form_gradient(rows, sizes, direct, repeats, seed):
    """L = Σ_k <W_k, piece_k> (+ <V, x> when x is also used whole) (+ <U, x[:, idx]> with repeated
    columns): dL/dx puts W_k on the columns of piece k, adds V, and adds U's columns at idx with
    repeats summed."""
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    a = tensor(rng.standard_normal((rows, n)), requires_grad=True)
    x = a * 1.0  # a non-leaf: its gradient is summed by the pass before it reaches a
    expected = np.zeros((rows, n))
    loss = 0
    for piece, width, start in zip(x.split(sizes, dim=1), sizes, np.cumsum([0] + sizes[:-1])):
        w = rng.standard_normal((rows, width))
        loss = loss + (piece * tensor(w)).sum()
        expected[:, start:start + width] += w
    if direct:
        v = rng.standard_normal((rows, n))
        loss = loss + (x * tensor(v)).sum()
        expected += v
    idx = [i % n for i in repeats]
    if idx:
        u = rng.standard_normal((rows, len(idx)))
        loss = loss + (x[:, idx] * tensor(u)).sum()
        np.add.at(expected, (slice(None), idx), u)
    loss.backward()
    assert_close(a.grad, expected, atol=1e-12, rtol=1e-12)


def test_the_callers_gradient_and_retained_gradients_are_not_changed_by_later_sums():
    """The gradient given to backward(), and a retained .grad, are arrays the pass must not add
    into: only the sums it allocated itself are updated in place."""
    a = tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    h = a * 2.0
    h.retain_grad()
    y = h[:, :2]
    g = np.full((2, 2), 3.0)
    keep = g.copy()
    (y * tensor(g)).sum().backward(retain_graph=True)
    assert_close(h.grad, np.array([[3.0, 3.0, 0.0], [3.0, 3.0, 0.0]]))
    held = h.grad.array  # the array a user holds as h.grad
    first = held.copy()
    (y.sum() + h[:, 1:].sum() + h.sum()).backward()  # per column of h: 1+0+1, 1+1+1, 0+1+1
    assert np.array_equal(g, keep)
    assert np.array_equal(held, first), "an earlier .grad was changed in place"
    assert_close(h.grad, first + np.array([[2.0, 3.0, 2.0]]))
    assert_close(a.grad, 2.0 * (first + np.array([[2.0, 3.0, 2.0]])))


def test_a_gradient_reaching_one_node_four_times_is_their_sum_and_the_caller_keeps_its_array():
    """x feeds four consumers; the upstream gradient of each is a caller's array (backward on
    each output) and each is added in turn."""
    a = tensor(np.linspace(-1, 1, 8).reshape(2, 4), requires_grad=True)
    x = a.tanh()
    outs = [x * 1.0, x[:, :2], x[:, 2:], x.reshape(4, 2)]
    grads = [np.full(o.shape, float(i + 1)) for i, o in enumerate(outs)]
    copies = [g.copy() for g in grads]
    minidl.autograd.backward(outs, [tensor(g) for g in grads])
    total = grads[0].copy()
    total[:, :2] += grads[1]
    total[:, 2:] += grads[2]
    total += grads[3].reshape(2, 4)
    assert_close(a.grad, total * (1 - np.tanh(a.array) ** 2), atol=1e-12, rtol=1e-12)
    for g, c in zip(grads, copies):
        assert np.array_equal(g, c)


def test_split_gradients_under_create_graph_stay_differentiable():
    """With create_graph the pieces' gradients go through IndexAdd nodes (no in-place buffer), so
    the second derivative exists: L = Σ piece_0² · piece_1, d²L/dx² has the known entries."""
    x = tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    p0, p1 = x.split(1, dim=1)
    loss = (p0 * p0 * p1).sum()
    (g,) = minidl.autograd.grad(loss, x, create_graph=True)
    assert_close(g, np.array([[2 * 1.0 * 2.0, 1.0]]))  # (2 p0 p1, p0²)
    (h0,) = minidl.autograd.grad(g[0, 0], x)
    assert_close(h0, np.array([[2 * 2.0, 2 * 1.0]]))  # d(2 p0 p1)/d(p0, p1) = (2 p1, 2 p0)
