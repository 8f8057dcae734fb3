"""Reference ops, kernels registered against them, reference mode, and grad() stopping at its inputs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import minidl
from minidl import dispatch
from minidl.autograd import Function
from minidl.testing import assert_kernel_matches_reference

calls = {"forward": 0, "backward": 0}


@dispatch.reference_op
def softplus(x):
    """y = log(1 + eˣ), composed of Tensor ops (the reference)."""
    return (x.exp() + 1).log()


class SoftplusKernel(dispatch.KernelFunction):
    def forward(ctx, x):
        calls["forward"] += 1
        ctx.save_for_backward(x)
        return ctx.xp.logaddexp(0, x)

    def kernel_backward(ctx, dy):
        calls["backward"] += 1
        (x,) = ctx.saved_tensors
        return dy.array / (1 + ctx.xp.exp(-x.array))

    def reference_forward(ctx):
        return softplus.reference(ctx.inputs[0])


def softplus_kernel(x):
    return SoftplusKernel.apply(x)


dispatch.register_kernel(softplus, softplus_kernel, when=lambda x: x.ndim > 0)


@dispatch.reference_op
def double(x):
    return x * 2


class WrongDouble(dispatch.KernelFunction):
    def forward(ctx, x):
        return x * 2

    def kernel_backward(ctx, dy):
        return dy.array * 3  # wrong on purpose


dispatch.register_kernel(double, WrongDouble.apply)


def _x(*shape, seed=0):
    rng = np.random.default_rng(seed)
    return minidl.tensor(rng.standard_normal(shape), dtype=minidl.float64, requires_grad=True)


@minidl.reference_mode(False)  # as without MINIDL_REFERENCE=1, whatever the environment says
def test_kernel_runs_unless_reference_mode():
    x = _x(3, 4)
    before = calls["forward"]
    softplus(x)
    assert calls["forward"] == before + 1
    with minidl.reference_mode():
        assert minidl.is_reference_mode()
        softplus(x)
        with minidl.reference_mode(False):  # kernels back on inside
            softplus(x)
    assert calls["forward"] == before + 2
    assert not minidl.is_reference_mode()


def test_when_chooses_the_reference_for_other_arguments():
    before = calls["forward"]
    softplus(_x())  # 0-d: the kernel's ``when`` says no
    assert calls["forward"] == before
    assert dispatch.kernel_for_call(softplus, _x()) is None
    assert dispatch.kernel_for_call(softplus, _x(2)) is softplus_kernel


def test_reference_mode_is_a_decorator():
    @minidl.reference_mode()
    def inside():
        return minidl.is_reference_mode()

    outside = minidl.is_reference_mode()
    with minidl.reference_mode(False):
        assert inside() and not minidl.is_reference_mode()
    assert minidl.is_reference_mode() == outside


def test_environment_variable_turns_reference_mode_on():
    code = "import minidl; print(minidl.is_reference_mode())"
    env = dict(os.environ, MINIDL_REFERENCE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
    env["MINIDL_REFERENCE"] = "0"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_kernel_matches_reference_and_second_derivatives_defer_to_it():
    x = _x(5, 3)
    assert_kernel_matches_reference(softplus, x)
    assert minidl.gradcheck(softplus, (x,))
    before = calls["backward"]
    assert minidl.gradgradcheck(softplus, (x,))
    assert calls["backward"] == before  # create_graph: the reference graph was differentiated instead
    (g,) = minidl.grad(softplus(x).sum(), x, create_graph=True)
    (h,) = minidl.grad(g.sum(), x)
    s = 1 / (1 + np.exp(-x.detach().numpy()))
    np.testing.assert_allclose(h.numpy(), s * (1 - s), rtol=1e-12)


def test_a_wrong_kernel_is_caught():
    with pytest.raises(AssertionError, match="gradient of input 0"):
        assert_kernel_matches_reference(double, _x(4))
    with pytest.raises(AssertionError, match="no kernel of softplus accepts"):
        assert_kernel_matches_reference(softplus, _x())
    with pytest.raises(AssertionError, match="has no registered kernel"):
        assert_kernel_matches_reference(dispatch.reference_op(lambda x: x), _x(2))


def test_register_kernel_needs_a_reference_op():
    with pytest.raises(TypeError, match="not marked @reference_op"):
        dispatch.register_kernel(lambda x: x, softplus_kernel)
    with pytest.raises(ValueError, match="already registered"):
        dispatch.register_kernel(softplus, softplus_kernel)


class Counted(Function):
    runs = 0

    def forward(ctx, x):
        return x * 3

    def backward(ctx, dy):
        Counted.runs += 1
        return dy * 3


def test_grad_of_a_non_leaf_stops_there():
    x = _x(3)
    y = Counted.apply(x)  # runs its backward only if asked past y
    z = (y * y).sum()
    Counted.runs = 0
    (gy,) = minidl.grad(z, y, retain_graph=True)
    np.testing.assert_allclose(gy.numpy(), 2 * y.detach().numpy())
    assert Counted.runs == 0
    z.backward()  # now through y to x
    assert Counted.runs == 1
    np.testing.assert_allclose(x.grad.numpy(), 18 * x.detach().numpy())
