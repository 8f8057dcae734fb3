"""Activation checkpointing gives the gradients of the plain computation and keeps fewer activations."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.utils.checkpoint import checkpoint


class Stack(nn.Module):
    def __init__(self, width=16, depth=4, dropout=0.0, checkpointed=False):
        super().__init__()
        self.blocks = nn.ModuleList(
            [nn.Sequential(nn.Linear(width, 4 * width), nn.Tanh(), nn.Dropout(dropout), nn.Linear(4 * width, width))
             for _ in range(depth)]
        )
        self.checkpointed = checkpointed

    def forward(self, x):
        for block in self.blocks:
            x = x + (checkpoint(block, x) if self.checkpointed else block(x))
        return x


def _grads(model, x):
    model.zero_grad()
    x = x.detach().requires_grad_()
    (model(x) ** 2).sum().backward()
    return x.grad.numpy(), {n: p.grad.numpy() for n, p in model.named_parameters()}


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_same_gradients_as_without_checkpointing(dropout):
    minidl.manual_seed(0)
    model = Stack(dropout=dropout).double()
    x = minidl.tensor(np.random.default_rng(0).standard_normal((5, 16)))
    minidl.manual_seed(1)
    gx, gp = _grads(model, x)
    model.checkpointed = True
    minidl.manual_seed(1)  # the same dropout masks: the recomputation replays the generator
    cx, cp = _grads(model, x)
    np.testing.assert_allclose(cx, gx, rtol=1e-12)
    for name in gp:
        np.testing.assert_allclose(cp[name], gp[name], rtol=1e-12, err_msg=name)


def test_gradcheck_and_second_derivatives_through_a_checkpoint():
    w = minidl.tensor(np.random.default_rng(1).standard_normal((3, 3)), requires_grad=True)
    x = minidl.tensor(np.random.default_rng(2).standard_normal((2, 3)), requires_grad=True)
    f = lambda x, w: checkpoint(lambda a, b: (a @ b).tanh(), x, w)  # noqa: E731
    assert minidl.gradcheck(f, (x, w))
    assert minidl.gradgradcheck(f, (x, w))
    (g,) = minidl.grad(f(x, w).sum(), [w])  # grad() as well as backward()
    (h,) = minidl.grad(((x @ w).tanh()).sum(), [w])
    np.testing.assert_allclose(g.numpy(), h.numpy(), rtol=1e-12)


def test_non_tensor_arguments_and_errors():
    x = minidl.randn(2, 3, requires_grad=True)
    y = checkpoint(lambda a, k: a * k, x, 3.0)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3.0)
    with pytest.raises(TypeError, match="at least one Tensor"):
        checkpoint(lambda k: k, 3.0)
    with pytest.raises(TypeError, match="must return one Tensor"):
        checkpoint(lambda a: (a, a), x)


def _peak_bytes(checkpointed):
    minidl.manual_seed(0)
    model = Stack(width=64, depth=8, checkpointed=checkpointed)
    x = minidl.randn(256, 64, requires_grad=True)
    tracemalloc.start()
    loss = (model(x) ** 2).sum()
    held = tracemalloc.get_traced_memory()[0]  # after the forward: what backward will need
    loss.backward()
    tracemalloc.stop()
    return held


def test_fewer_activations_are_kept():
    plain, ckpt = _peak_bytes(False), _peak_bytes(True)
    # per block: the 4x-wide hidden activations (256x256 float32 twice, 512 KiB) are not kept
    assert ckpt < 0.4 * plain, (ckpt, plain)
