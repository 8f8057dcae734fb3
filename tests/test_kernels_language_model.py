"""The kernels a GPT runs (minidl/kernels/linalg.py: linear; minidl/kernels/activation.py: GELU's
tanh form and the embedding lookup) equal their references: values and gradients over generated
shapes, dtypes (float32, float64), memory layouts (contiguous, transposed, strided views), with
and without gradients; second derivatives through each kernel (which defers to its reference);
the ``when`` tests; every device."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import dispatch
from minidl.kernels import activation as activation_kernels
from minidl.kernels import linalg as linalg_kernels
from minidl.tensor import Tensor
from minidl.testing import assert_gradients_match, assert_kernel_matches_reference

TOLERANCE = {"float32": {"rtol": 1e-4, "atol": 1e-5}, "float64": {"rtol": 1e-10, "atol": 1e-12}}
LAYOUTS = ["contiguous", "transposed", "strided"]


def _array(rng, shape, dtype, layout, low=-3.0, high=3.0):
    """Values in [low, high] of ``shape``: contiguous, the transpose of a contiguous array, or
    every other element of a wider one."""
    if layout == "transposed":
        return rng.uniform(low, high, shape[::-1]).astype(dtype).T
    if layout == "strided" and shape:
        return rng.uniform(low, high, shape[:-1] + (2 * shape[-1],)).astype(dtype)[..., ::2]
    return rng.uniform(low, high, shape).astype(dtype)


@st.composite
def tensors(draw, shape, dtype, requires_grad=None, low=-3.0, high=3.0):
    layout = draw(st.sampled_from(LAYOUTS), label="layout")
    if requires_grad is None:
        requires_grad = draw(st.booleans(), label="requires_grad")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    return Tensor._make(_array(rng, shape, dtype, layout, low, high), requires_grad)


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)
dtypes = st.sampled_from(["float32", "float64"])


# ---- linear -------------------------------------------------------------------------------------
@st.composite
def linear_cases(draw, dtype=None):
    dtype = dtype or draw(dtypes, label="dtype")
    lead = draw(st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple), label="leading dims")
    n_in, n_out = draw(st.integers(1, 5), label="in"), draw(st.integers(1, 5), label="out")
    x = draw(tensors(lead + (n_in,), dtype), label="x")
    w = draw(tensors((n_out, n_in), dtype), label="weight")
    b = draw(st.one_of(st.none(), tensors((n_out,), dtype)), label="bias")
    return x, w, b, dtype


@given(case=linear_cases(), train=st.booleans())
def test_linear_kernel_equals_reference(case, train):
    x, w, b, dtype = case
    assert dispatch.kernel_for_call(F.linear, x, w, b) is linalg_kernels.fused_linear
    with minidl.set_grad_enabled(train):
        assert_kernel_matches_reference(F.linear, x, w, b, **TOLERANCE[dtype])


@settings(max_examples=10)
@given(case=linear_cases(dtype="float64"))
def test_linear_kernel_second_derivatives(case):
    x, w, b, _ = case
    leaves = [t.detach().requires_grad_(True) for t in (x, w, b) if t is not None]
    with minidl.reference_mode(False):
        assert_gradients_match(lambda *t: F.linear(*t), *leaves)


def test_linear_goes_to_the_reference_for_what_the_kernel_does_not_take():
    x, w = minidl.zeros(2, 3), minidl.zeros(4, 3)
    assert dispatch.kernel_for_call(F.linear, x, w, minidl.zeros(1)) is None  # a broadcast bias
    assert dispatch.kernel_for_call(F.linear, x.to(dtype="int64"), w.to(dtype="int64")) is None
    assert dispatch.kernel_for_call(F.linear, x, minidl.zeros(4, 3, dtype="float64")) is None
    with pytest.raises(RuntimeError, match="linear: expected all operands to have the same dtype"):
        F.linear(x, minidl.zeros(4, 3, dtype="float64"))
    with pytest.raises(ValueError, match="linear: input of shape"):
        F.linear(x, minidl.zeros(4, 5))


# ---- GELU, tanh form ----------------------------------------------------------------------------
@given(shape=shapes, dtype=dtypes, data=st.data())
def test_gelu_tanh_kernel_equals_reference(shape, dtype, data):
    x = data.draw(tensors(shape, dtype, low=-6, high=6), label="x")
    assert dispatch.kernel_for_call(F.gelu, x, approximate="tanh") is activation_kernels.gelu_tanh
    assert_kernel_matches_reference(F.gelu, x, approximate="tanh", **TOLERANCE[dtype])


@settings(max_examples=20)
@given(shape=shapes, chunk=st.integers(1, 9), data=st.data())
def test_gelu_tanh_kernel_in_chunks_equals_reference(shape, chunk, data):
    """With the passes taken a few elements at a time (as large activations are on the CPU), over
    a transposed view: every chunk, the last partial one included, is computed and differentiated."""
    x = data.draw(tensors(shape, "float64", low=-6, high=6), label="x")
    x = x.detach().transpose(0, -1).requires_grad_(True) if x.ndim > 1 else x
    original = activation_kernels._CHUNK
    activation_kernels._CHUNK = chunk
    try:
        assert_kernel_matches_reference(F.gelu, x, approximate="tanh", **TOLERANCE["float64"])
    finally:
        activation_kernels._CHUNK = original


@settings(max_examples=10)
@given(shape=shapes, data=st.data())
def test_gelu_tanh_kernel_second_derivatives(shape, data):
    x = data.draw(tensors(shape, "float64", requires_grad=True), label="x")
    with minidl.reference_mode(False):
        assert_gradients_match(lambda t: F.gelu(t, approximate="tanh"), x)


def test_gelu_kernel_takes_only_the_tanh_form_of_float32_and_float64():
    x = minidl.zeros(3)
    assert dispatch.kernel_for_call(F.gelu, x) is None  # the exact (erf) form
    assert dispatch.kernel_for_call(F.gelu, x.to(dtype="float16"), approximate="tanh") is None
    with pytest.raises(ValueError, match="gelu: approximate"):
        F.gelu(x, approximate="fast")


# ---- embedding ----------------------------------------------------------------------------------
@st.composite
def embedding_cases(draw, dtype=None):
    dtype = dtype or draw(dtypes, label="dtype")
    V, D = draw(st.integers(1, 6), label="rows"), draw(st.integers(1, 4), label="dim")
    index_shape = draw(st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple), label="index shape")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="index seed"))
    idx = minidl.tensor(rng.integers(0, V, index_shape))  # few rows: most indices repeat
    weight = draw(tensors((V, D), dtype, requires_grad=True), label="weight")
    padding_idx = draw(st.one_of(st.none(), st.integers(-V, V - 1)), label="padding_idx")
    return idx, weight, padding_idx, dtype


@given(case=embedding_cases(), train=st.booleans())
def test_embedding_kernel_equals_reference(case, train):
    idx, weight, padding_idx, dtype = case
    assert dispatch.kernel_for_call(F.embedding, idx, weight, padding_idx) is activation_kernels.fast_embedding
    with minidl.set_grad_enabled(train):
        assert_kernel_matches_reference(F.embedding, idx, weight, padding_idx, **TOLERANCE[dtype])


@settings(max_examples=10)
@given(case=embedding_cases(dtype="float64"))
def test_embedding_kernel_second_derivatives(case):
    idx, weight, _, _ = case  # no padding_idx: its row's gradient is 0 by definition, not dL/dW
    with minidl.reference_mode(False):
        assert_gradients_match(lambda w: F.embedding(idx, w), weight)


def test_embedding_kernel_checks_its_arguments_as_the_reference_does():
    weight = minidl.zeros(3, 2)
    for bad, error in (([0, 3], "index 3 is out of range"), ([-1], "index -1 is out of range")):
        with pytest.raises(IndexError, match=f"embedding: {error}"):
            F.embedding(minidl.tensor(bad), weight)
    with pytest.raises(TypeError, match="embedding: indices must be an integer tensor"):
        F.embedding(minidl.tensor([0.0]), weight)


# ---- the switch and the devices ----------------------------------------------------------------
CALLS = {
    "linear": (F.linear, lambda x: (x, minidl.tensor(np.ones((3, 5)), dtype=x.dtype, device=x.device))),
    "gelu": (lambda x: F.gelu(x, approximate="tanh"), lambda x: (x,)),
    "embedding": (lambda w: F.embedding(minidl.tensor([[0, 3], [3, 1]], device=w.device), w), lambda x: (x,)),
}


def _kernel_in_graph(out):
    stack, seen = [out.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        if isinstance(fn, dispatch.KernelFunction):
            return True
        seen.add(id(fn))
        stack.extend(t.grad_fn for t in fn.inputs if t is not None)
    return False


@pytest.mark.parametrize("name", CALLS)
def test_reference_mode_turns_each_kernel_off(name):
    op, args = CALLS[name]
    x = minidl.tensor(np.random.default_rng(0).standard_normal((4, 5)), requires_grad=True)
    with minidl.reference_mode(False):
        assert _kernel_in_graph(op(*args(x)))
    with minidl.reference_mode():
        assert not _kernel_in_graph(op(*args(x)))


def test_each_op_has_exactly_its_kernel():
    assert dispatch.kernels_for(F.linear) == [linalg_kernels.fused_linear]
    assert dispatch.kernels_for(F.gelu) == [activation_kernels.gelu_tanh]
    assert dispatch.kernels_for(F.embedding) == [activation_kernels.fast_embedding]


@pytest.mark.parametrize("name", CALLS)
def test_kernel_equals_reference_on_each_device(name, device):
    op, args = CALLS[name]
    a = np.random.default_rng(1).standard_normal((4, 5))
    for dtype in ("float32", "float64"):
        x = minidl.tensor(a, dtype=dtype, requires_grad=True, device=device)
        fast = op(*args(x))
        with minidl.reference_mode():
            ref = op(*args(x))
        from minidl.testing import assert_close

        assert_close(fast, ref, **TOLERANCE[dtype])
