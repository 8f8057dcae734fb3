"""``Tensor.data`` as PyTorch has it: a Tensor sharing memory, cut from the graph; the array is ``.array``."""

import numpy as np
import pytest

import minidl
from minidl.tensor import Tensor


def test_data_is_a_detached_tensor_sharing_memory():
    p = minidl.randn(3, 4, requires_grad=True)
    d = p.data
    assert isinstance(d, Tensor) and not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert np.shares_memory(d.array, p.array) and d.shape == p.shape and d.dtype == p.dtype
    d[0, 0] = 5.0  # writes go to p's memory
    assert p.array[0, 0] == 5.0


def test_sgd_step_through_data_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0, x, y = rng.standard_normal((3, 2)), rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    ours = minidl.tensor(w0, requires_grad=True)
    theirs = torch.tensor(w0, requires_grad=True)
    for lib, w in ((minidl, ours), (torch, theirs)):
        for _ in range(3):
            loss = ((lib.tensor(x) @ w - lib.tensor(y)) ** 2).mean()
            loss.backward()
            w.data.add_(w.grad, alpha=-0.1)  # the classic update without no_grad
            w.grad.data.zero_()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)


def test_changes_through_data_are_not_seen_by_autograd_as_in_torch():
    torch = pytest.importorskip("torch")
    results = []
    for lib in (minidl, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = (x * x).sum()  # saves x for backward
        x.data.mul_(2.0)  # not a version bump of x: backward uses the new values, no error
        y.backward()
        results.append(x.grad.tolist())
    assert results[0] == results[1] == [4.0, 8.0, 12.0]


def test_detach_shares_the_version_counter_and_raises():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # saves its output
    y.detach().add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


def test_assigning_data_takes_the_tensors_array():
    w = minidl.zeros(2, 3, requires_grad=True)
    t = minidl.ones(4, dtype=minidl.float64)
    w.data = t  # shape and dtype may change, as in PyTorch
    assert w.shape == (4,) and w.dtype == minidl.float64 and w.requires_grad
    assert np.shares_memory(w.array, t.array) and type(w.array) is np.ndarray


def test_assigning_data_refuses_what_is_not_a_tensor():
    w = minidl.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match="data: can only be set to a Tensor, got ndarray"):
        w.data = np.ones(2)
    with pytest.raises(RuntimeError, match="requires grad can't hold int64"):
        w.data = minidl.tensor([1, 2])
    assert w.dtype == minidl.float32 and w.shape == (2,)


def test_a_tensor_is_never_stored_where_an_array_belongs():
    t = minidl.ones(2)
    with pytest.raises(TypeError, match="got a Tensor of shape \\(2,\\) where an array belongs"):
        Tensor._make(t.data)


def test_parameter_data_and_module_to():
    lin = minidl.nn.Linear(3, 2)
    w = lin.weight
    assert isinstance(w.data, Tensor) and not isinstance(w.data, minidl.nn.Parameter)
    w.data = w.data * 0  # a new array, as PyTorch's `param.data = fn(param.data)`
    assert not lin.weight.array.any() and lin.weight is w
    lin.double()
    assert lin.weight.dtype == minidl.float64 and type(lin.weight.array) is np.ndarray
