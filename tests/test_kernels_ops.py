"""The fused kernels of softmax, log_softmax, layer_norm, batch_norm and cross_entropy equal their
references: values and input gradients over generated shapes, dims, dtypes (float32, float64),
memory layouts (contiguous, transposed, strided views), with and without gradients, every option
and reduction; second derivatives through each kernel (which defers to its reference); running
statistics; reference mode turning the kernels off; every device."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import dispatch
from minidl.kernels import activation as activation_kernels
from minidl.kernels import loss as loss_kernels
from minidl.kernels import normalization as normalization_kernels
from minidl.tensor import Tensor
from minidl.testing import assert_close, assert_gradients_match, assert_kernel_matches_reference

TOLERANCE = {"float32": {"rtol": 1e-4, "atol": 1e-5}, "float64": {"rtol": 1e-10, "atol": 1e-12}}
LAYOUTS = ["contiguous", "transposed", "strided"]


def _array(rng, shape, dtype, layout, low=-3.0, high=3.0):
    """Values in [low, high] of ``shape``, stored contiguously, as the transpose of a contiguous
    array, or as every other element of a wider one."""
    if layout == "transposed":
        return rng.uniform(low, high, shape[::-1]).astype(dtype).T
    if layout == "strided" and shape:
        return rng.uniform(low, high, shape[:-1] + (2 * shape[-1],)).astype(dtype)[..., ::2]
    return rng.uniform(low, high, shape).astype(dtype)


@st.composite
def inputs(draw, shape, dtype=None, low=-3.0, high=3.0):
    """(x, dtype): a Tensor of ``shape`` in a drawn dtype, layout and requires_grad."""
    dtype = dtype or draw(st.sampled_from(["float32", "float64"]), label="dtype")
    layout = draw(st.sampled_from(LAYOUTS), label="layout")
    requires_grad = draw(st.booleans(), label="requires_grad")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    return Tensor._make(_array(rng, shape, dtype, layout, low, high), requires_grad), dtype


def _param(rng, shape, dtype, low=0.5, high=2.0):
    return Tensor._make(rng.uniform(low, high, shape).astype(dtype), True)


def _runs_kernel(op, *args, reference=False, **kwargs):
    """Whether ``op(...)``'s graph holds a kernel (a KernelFunction), not only reference ops, with
    kernels on (even under MINIDL_REFERENCE=1) or, with ``reference=True``, in reference mode."""
    x = next(a for a in args if isinstance(a, Tensor))
    with minidl.enable_grad(), minidl.reference_mode(reference):
        out = op(*((a.detach().requires_grad_(True) if a is x else a) for a in args), **kwargs)
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


# ---- softmax and log_softmax ------------------------------------------------------------------
@pytest.mark.parametrize("op", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple), data=st.data())
def test_softmax_kernel_equals_reference(op, shape, data):
    x, dtype = data.draw(inputs(shape, low=-20, high=20), label="x")
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    assert _runs_kernel(op, x, dim)
    assert_kernel_matches_reference(op, x, dim, **TOLERANCE[dtype])


@pytest.mark.parametrize("op", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
@settings(max_examples=10)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data())
def test_softmax_kernel_second_derivatives(op, shape, data):
    x, _ = data.draw(inputs(shape, dtype="float64"), label="x")
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    with minidl.reference_mode(False):  # the kernel, even under MINIDL_REFERENCE=1
        assert_gradients_match(lambda t: op(t, dim), x.detach().requires_grad_(True))


# ---- layer_norm --------------------------------------------------------------------------------
@st.composite
def layer_norm_cases(draw, dtype=None):
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple), label="shape")
    k = draw(st.integers(1, len(shape)), label="k")
    normalized = shape[len(shape) - k :]
    assume(int(np.prod(normalized)) >= 2)
    x, dtype = draw(inputs(shape, dtype), label="x")
    axes = tuple(range(len(shape) - k, len(shape)))
    assume(x.array.astype(np.float64).std(axis=axes).min() > 0.1)  # 1/σ stays moderate
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="param seed"))
    affine = draw(st.sampled_from(["both", "weight", "bias", "none"]), label="affine")
    w = _param(rng, normalized, dtype) if affine in ("both", "weight") else None
    b = _param(rng, normalized, dtype, -1, 1) if affine in ("both", "bias") else None
    eps = draw(st.sampled_from([1e-5, 0.1]), label="eps")
    return x, normalized, w, b, eps, dtype


@given(case=layer_norm_cases())
def test_layer_norm_kernel_equals_reference(case):
    x, normalized, w, b, eps, dtype = case
    assert _runs_kernel(F.layer_norm, x, normalized, w, b, eps)
    assert_kernel_matches_reference(F.layer_norm, x, normalized, w, b, eps, **TOLERANCE[dtype])


@settings(max_examples=10)
@given(case=layer_norm_cases(dtype="float64"))
def test_layer_norm_kernel_second_derivatives(case):
    x, normalized, w, b, eps, _ = case
    params = [t for t in (w, b) if t is not None]

    def fn(x, *p):
        it = iter(p)
        weight = next(it) if w is not None else None
        bias = next(it) if b is not None else None
        return F.layer_norm(x, normalized, weight, bias, eps)

    with minidl.reference_mode(False):
        assert_gradients_match(fn, x.detach().requires_grad_(True), *params)


# ---- batch_norm --------------------------------------------------------------------------------
@st.composite
def batch_norm_cases(draw, dtype=None):
    ndim = draw(st.integers(2, 4), label="ndim")
    shape = (draw(st.integers(2, 4)), draw(st.integers(1, 4))) + tuple(draw(st.integers(1, 4)) for _ in range(ndim - 2))
    x, dtype = draw(inputs(shape, dtype), label="x")
    training = draw(st.booleans(), label="training")
    if training:
        axes = (0,) + tuple(range(2, ndim))
        assume(x.array.astype(np.float64).std(axis=axes).min() > 0.1)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="param seed"))
    C = shape[1]
    affine = draw(st.booleans(), label="affine")
    w, b = (_param(rng, (C,), dtype), _param(rng, (C,), dtype, -1, 1)) if affine else (None, None)
    running = (not training) or draw(st.booleans(), label="running stats")
    stats = (Tensor._make(rng.uniform(-1, 1, C).astype(dtype), False),
             Tensor._make(rng.uniform(0.5, 2, C).astype(dtype), False)) if running else (None, None)
    options = {"training": training, "momentum": draw(st.sampled_from([0.1, 0.5])),
               "eps": draw(st.sampled_from([1e-5, 0.01]))}
    return x, stats, w, b, options, dtype


def _clone(t):
    return None if t is None else t.clone()


@given(case=batch_norm_cases())
def test_batch_norm_kernel_equals_reference(case):
    x, (rm, rv), w, b, options, dtype = case
    assert _runs_kernel(F.batch_norm, x, _clone(rm), _clone(rv), w, b, **options) == options["training"]
    assert_kernel_matches_reference(F.batch_norm, x, _clone(rm), _clone(rv), w, b, **options, **TOLERANCE[dtype])
    updated = []
    for reference in (False, True):  # both update the running statistics in place, alike
        stats = (_clone(rm), _clone(rv))
        with minidl.reference_mode(reference):
            F.batch_norm(x, *stats, w, b, **options)
        updated.append(stats)
    for kernel_stat, reference_stat in zip(*updated):
        if kernel_stat is not None:
            assert_close(kernel_stat, reference_stat, **TOLERANCE[dtype], what="running statistics")


@settings(max_examples=10)
@given(case=batch_norm_cases(dtype="float64"))
def test_batch_norm_kernel_second_derivatives(case):
    x, (rm, rv), w, b, options, _ = case
    x = x.detach().requires_grad_(True)
    with minidl.reference_mode(False):
        if w is None:
            assert_gradients_match(lambda x: F.batch_norm(x, _clone(rm), _clone(rv), **options), x)
        else:
            assert_gradients_match(lambda x, w, b: F.batch_norm(x, _clone(rm), _clone(rv), w, b, **options), x, w, b)


# ---- cross_entropy -----------------------------------------------------------------------------
@st.composite
def cross_entropy_cases(draw, dtype=None):
    input_dims = draw(st.integers(1, 4), label="input dims")
    N, C = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    shape = (C,) if input_dims == 1 else (N, C) + tuple(draw(st.integers(1, 3)) for _ in range(input_dims - 2))
    x, dtype = draw(inputs(shape, dtype, low=-5, high=5), label="x")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="target seed"))
    target_shape = () if input_dims == 1 else (N,) + shape[2:]
    target = rng.integers(0, C, target_shape)
    ignore_index = draw(st.sampled_from([-100, 0, C - 1]), label="ignore_index")
    if draw(st.booleans(), label="ignore some"):
        target = np.where(rng.random(target_shape) < 0.3, ignore_index, target)
    weight = _param(rng, (C,), dtype, 0.2, 2.0).detach() if draw(st.booleans(), label="weight") else None
    options = {"weight": weight, "ignore_index": ignore_index,
               "reduction": draw(st.sampled_from(["none", "mean", "sum"]), label="reduction"),
               "label_smoothing": draw(st.sampled_from([0.0, 0.1, 0.5]), label="label_smoothing")}
    return x, Tensor._make(np.asarray(target, dtype=np.int64), False), options, dtype


@given(case=cross_entropy_cases())
def test_cross_entropy_kernel_equals_reference(case):
    x, target, options, dtype = case
    assert _runs_kernel(F.cross_entropy, x, target, **options)
    assert_kernel_matches_reference(F.cross_entropy, x, target, **options, **TOLERANCE[dtype])


@settings(max_examples=10)
@given(case=cross_entropy_cases(dtype="float64"))
def test_cross_entropy_kernel_second_derivatives(case):
    x, target, options, _ = case
    assume(options["reduction"] != "mean" or bool((target.array != options["ignore_index"]).any()))
    with minidl.reference_mode(False):
        assert_gradients_match(lambda x: F.cross_entropy(x, target, **options), x.detach().requires_grad_(True))


def test_probability_targets_go_to_the_reference():
    rng = np.random.default_rng(2)
    x = minidl.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    p = F.softmax(minidl.tensor(rng.standard_normal((3, 4))), 1)
    assert dispatch.kernel_for_call(F.cross_entropy, x, p) is None
    assert dispatch.kernel_for_call(F.cross_entropy, x, minidl.tensor([0, 1, 3])) is loss_kernels.cross_entropy


@pytest.mark.parametrize("name", ["layer_norm", "batch_norm", "cross_entropy", "softmax", "log_softmax"])
def test_float16_goes_to_the_reference_which_sums_in_float32(name):
    torch = pytest.importorskip("torch")
    op, args = CALLS[name]
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((4, 3000)) * 3 + 100).astype(np.float16)  # sums past float16's 65504
    if name == "batch_norm":
        a = np.ascontiguousarray(a.T)  # (3000, 4): 3000 values per channel
    x = minidl.tensor(a)
    assert dispatch.kernel_for_call(op, *args(x)) is None
    ours = op(*args(x))
    theirs = getattr(torch.nn.functional, name)(*[torch.tensor(v.numpy()) if isinstance(v, Tensor) else v
                                                   for v in args(minidl.tensor(a.astype(np.float32)))])
    assert ours.dtype == np.float16
    assert_close(ours, theirs, rtol=2e-2, atol=5e-2)  # float16 inputs are 0.06 apart near 100


# ---- the switch and the devices --------------------------------------------------------------------
CALLS = {
    "softmax": (F.softmax, lambda x: (x, -1)),
    "log_softmax": (F.log_softmax, lambda x: (x, 0)),
    "layer_norm": (F.layer_norm, lambda x: (x, (x.shape[-1],))),
    "batch_norm": (F.batch_norm, lambda x: (x, None, None, None, None, True)),
    "cross_entropy": (F.cross_entropy, lambda x: (x, minidl.tensor([0, 2, 1, 3], device=x.device))),
}


@pytest.mark.parametrize("name", CALLS)
def test_reference_mode_turns_each_kernel_off(name):
    op, args = CALLS[name]
    x = minidl.tensor(np.random.default_rng(0).standard_normal((4, 5)), dtype="float64", requires_grad=True)
    assert _runs_kernel(op, *args(x))
    assert not _runs_kernel(op, *args(x), reference=True)
    with minidl.reference_mode():
        assert dispatch.kernel_for_call(op, *args(x)) is not None  # registered, but not run


def test_each_op_has_exactly_its_kernel():
    assert dispatch.kernels_for(F.softmax) == [activation_kernels.softmax]
    assert dispatch.kernels_for(F.log_softmax) == [activation_kernels.log_softmax]
    assert dispatch.kernels_for(F.layer_norm) == [normalization_kernels.layer_norm]
    assert dispatch.kernels_for(F.batch_norm) == [normalization_kernels.batch_norm]
    assert dispatch.kernels_for(F.cross_entropy) == [loss_kernels.cross_entropy]


@pytest.mark.parametrize("name", CALLS)
def test_kernel_equals_reference_on_each_device(name, device):
    op, args = CALLS[name]
    a = np.random.default_rng(1).standard_normal((4, 5))
    for dtype in ("float32", "float64"):
        x = minidl.tensor(a, dtype=dtype, requires_grad=True, device=device)
        assert_kernel_matches_reference(op, *args(x), **TOLERANCE[dtype])
