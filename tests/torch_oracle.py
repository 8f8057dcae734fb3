"""PyTorch as the oracle of the tests/test_torch_semantics_*.py files: run one expression in both
libraries and demand the same answer (values, dtype, shape, gradients) or an error from both.

Used only by tests that first ran ``pytest.importorskip("torch")``.
"""

from __future__ import annotations

import numpy as np
import torch

import minidl
from minidl.testing import assert_close


class Raised:
    """The outcome of a call that raised (``exc`` is the exception)."""

    def __init__(self, exc):
        self.exc = exc

    def __repr__(self):
        return f"Raised({type(self.exc).__name__}: {self.exc})"


def outcome(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - any error is an outcome to compare
        return Raised(exc)


def dtype_name(t):
    return str(t.dtype).replace("torch.", "")


def as_numpy(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    if isinstance(t, minidl.Tensor):
        return t.detach().numpy()
    return np.asarray(t)


def assert_same(ours, theirs, rtol=1e-6, atol=1e-8, what="result", names=()):
    """Both raised (ours names the op or the values in its message), or both gave tensors (or
    tuples of them) of one shape, one dtype and close values (NaN = NaN, inf = inf)."""
    if isinstance(theirs, Raised) or isinstance(ours, Raised):
        assert isinstance(ours, Raised), f"{what}: PyTorch raised {theirs!r}, minidl returned {ours!r}"
        assert isinstance(theirs, Raised), f"{what}: minidl raised {ours!r}, PyTorch returned {theirs!r}"
        message = str(ours.exc)
        assert not names or any(n in message for n in names), f"{what}: error {message!r} names none of {names}"
        return
    if isinstance(theirs, (tuple, list)):
        assert len(ours) == len(theirs), f"{what}: {len(ours)} results, PyTorch {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, rtol, atol, f"{what}[{i}]")
        return
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, minidl.Tensor), f"{what}: got {type(ours).__name__}, PyTorch a tensor"
        assert dtype_name(ours) == dtype_name(theirs), f"{what}: dtype {ours.dtype}, PyTorch {theirs.dtype}"
        assert tuple(ours.shape) == tuple(theirs.shape), f"{what}: shape {ours.shape}, PyTorch {tuple(theirs.shape)}"
        assert_close(as_numpy(ours), as_numpy(theirs), rtol=rtol, atol=atol, what=what)
        return
    assert ours == theirs, f"{what}: {ours!r}, PyTorch {theirs!r}"


def pair(array, requires_grad=False):
    """The same values as a (minidl, torch) pair of leaf tensors."""
    array = np.array(array)
    m = minidl.tensor(array, dtype=array.dtype, requires_grad=requires_grad)
    t = torch.tensor(array, requires_grad=requires_grad)
    return m, t


def value_and_grads(lib, fn, arrays, upstream_seed=0):
    """fn(*leaves) and the gradients of Σ fn · g (g a random upstream gradient) for float64 inputs:
    a tuple (value, grad_1, ...) with ``Raised`` where a step raised."""
    leaves = [
        (minidl.tensor(a, dtype=minidl.float64, requires_grad=True) if lib == "minidl"
         else torch.tensor(a, dtype=torch.float64, requires_grad=True))
        for a in arrays
    ]
    y = outcome(fn, *leaves)
    if isinstance(y, Raised) or not y.requires_grad:
        return (y,) + (None,) * len(leaves)
    g = np.random.default_rng(upstream_seed).standard_normal(tuple(y.shape))
    g = minidl.tensor(g, dtype=minidl.float64) if lib == "minidl" else torch.tensor(g, dtype=torch.float64)
    done = outcome(lambda: (y * g).sum().backward())
    if isinstance(done, Raised):
        return (y,) + (done,) * len(leaves)
    return (y,) + tuple(leaf.grad for leaf in leaves)


def assert_same_value_and_grads(ours_fn, theirs_fn, arrays, rtol=1e-7, atol=1e-10, names=()):
    ours = value_and_grads("minidl", ours_fn, arrays)
    theirs = value_and_grads("torch", theirs_fn, arrays)
    assert_same(ours[0], theirs[0], rtol, atol, "value", names)
    for i, (a, b) in enumerate(zip(ours[1:], theirs[1:])):
        if b is None and a is None:
            continue
        if b is None:  # PyTorch gives no gradient (an input that does not reach the output)
            assert a is None or not np.any(as_numpy(a)), f"gradient of input {i}: {a}, PyTorch none"
            continue
        assert_same(a, b, rtol, atol, f"gradient of input {i}")
