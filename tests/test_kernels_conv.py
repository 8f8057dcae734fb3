"""The conv2d and max_pool2d kernels (minidl/kernels/conv.py) equal their references
(minidl/functional/conv.py) in value and gradient: hypothesis draws shapes, strides, padding,
dilation, groups, float32 and float64, memory layouts (contiguous, channels-last, sliced
views), with gradients on and in inference; second derivatives go through the kernels'
deferral to the reference; and the ``when`` tests pick the kernels only where meant."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import dispatch, tensor
from minidl.kernels import conv as K
from minidl.testing import assert_close, assert_kernel_matches_reference

TOLERANCE = {"float64": {"rtol": 1e-10, "atol": 1e-12}, "float32": {"rtol": 1e-4, "atol": 1e-5}}


def _view(array, layout, requires_grad):
    """A Tensor equal to ``array`` (N, C, H, W) whose memory is laid out as ``layout``: a plain
    contiguous leaf, a channels-last permuted view, or a slice of a larger tensor."""
    if layout == "contiguous":
        return tensor(array, requires_grad=requires_grad)
    if layout == "channels_last":
        base = tensor(np.ascontiguousarray(array.transpose(0, 2, 3, 1)), requires_grad=requires_grad)
        return base.permute(0, 3, 1, 2)  # (N, C, H, W) view of (N, H, W, C) memory
    big = np.zeros(array.shape[:-1] + (2 * array.shape[-1] + 1,), dtype=array.dtype)
    big[..., 1::2] = array
    return tensor(big, requires_grad=requires_grad)[..., 1::2]  # every other column


def _spatial(draw, n_dims=2, max_kernel=3):
    kernel, stride, dilation, padding, size = [], [], [], [], []
    for _ in range(n_dims):
        k, d = draw(st.integers(1, max_kernel)), draw(st.integers(1, 2))
        p = draw(st.integers(0, k // 2))
        kernel.append(k), dilation.append(d), padding.append(p), stride.append(draw(st.integers(1, 3)))
        size.append(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 7)))
    return tuple(kernel), tuple(stride), tuple(dilation), tuple(padding), tuple(size)


@st.composite
def conv_cases(draw, max_size=7):
    """(x, w, b, kwargs, layout, dtype) for conv2d: 1 to 9 input channels a group (the kernel copies
    its columns one kernel offset at a time below 8, in one strided copy from 8 on)."""
    groups, Cg, OCg = draw(st.integers(1, 2)), draw(st.sampled_from([1, 2, 8, 9])), draw(st.integers(1, 3))
    kernel, stride, dilation, padding, size = _spatial(draw)
    if draw(st.booleans()):
        stride, padding = 1, draw(st.sampled_from(["same", "valid"]))
        size = tuple(max(n, d * (k - 1) + 1) for n, k, d in zip(size, kernel, dilation))
    dtype = draw(st.sampled_from(["float64", "float32"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    N = draw(st.integers(1, 2))
    pads = (0, 0) if padding in ("same", "valid") else padding
    size = tuple(max(min(n, max_size), d * (k - 1) + 1 - 2 * p) for n, k, d, p in zip(size, kernel, dilation, pads))
    x = rng.standard_normal((N, groups * Cg) + size).astype(dtype)
    w = (rng.standard_normal((groups * OCg, Cg) + kernel) / 3).astype(dtype)
    b = rng.standard_normal(groups * OCg).astype(dtype) if draw(st.booleans()) else None
    kwargs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    return x, w, b, kwargs, draw(st.sampled_from(["contiguous", "channels_last", "sliced"])), dtype


def _conv_inputs(x, w, b, layout, requires_grad, input_grad=True):
    w_layout = "channels_last" if layout != "contiguous" else layout
    inputs = [_view(x, layout, requires_grad and input_grad), _view(w, w_layout, requires_grad)]
    if b is not None:
        inputs.append(tensor(b, requires_grad=requires_grad))
    return inputs


@settings(max_examples=25)
@given(case=conv_cases(), train=st.booleans(), input_grad=st.booleans())
def test_conv2d_kernel_matches_reference(case, train, input_grad):
    """Also without a gradient for the input (a first layer), where an NCHW upstream gradient
    takes the kernel's batched weight-gradient path."""
    x, w, b, kwargs, layout, dtype = case
    inputs = _conv_inputs(x, w, b, layout, requires_grad=True, input_grad=input_grad)
    with minidl.set_grad_enabled(train):
        assert_kernel_matches_reference(F.conv2d, *inputs, **kwargs, **TOLERANCE[dtype])


@st.composite
def pool_cases(draw):
    """(x, kwargs, layout, dtype) for max_pool2d, the values drawn with ties, and sometimes a NaN."""
    kernel, stride, dilation, padding, size = _spatial(draw)
    ceil_mode = draw(st.booleans())
    dtype = draw(st.sampled_from(["float64", "float32"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + size
    if draw(st.booleans()):  # few distinct values: ties in most windows, the first maximum takes the gradient
        x = rng.integers(-2, 3, shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    if draw(st.booleans()):
        x.reshape(-1)[draw(st.integers(0, x.size - 1))] = np.nan
    kwargs = {"kernel_size": kernel, "stride": draw(st.sampled_from([stride, None])), "padding": padding,
              "dilation": dilation, "ceil_mode": ceil_mode}  # fmt: skip
    return x, kwargs, draw(st.sampled_from(["contiguous", "channels_last", "sliced"])), dtype


@settings(max_examples=40)
@given(case=pool_cases(), train=st.booleans())
def test_max_pool2d_kernel_matches_reference(case, train):
    x, kwargs, layout, dtype = case
    with minidl.set_grad_enabled(train):
        assert_kernel_matches_reference(F.max_pool2d, _view(x, layout, True), **kwargs, **TOLERANCE[dtype])


@settings(max_examples=4)
@given(case=conv_cases(max_size=4))
def test_second_derivatives_defer_to_the_reference(case):
    """gradgradcheck of conv2d and of max_pool2d through their kernels (float64): the kernels'
    backward, differentiated, is the reference graph's; and it equals the kernels' own backward."""
    x, w, b, kwargs, layout, _ = case
    w, b = w[:2].astype("float64"), None if b is None else b[:2].astype("float64")  # one group: fewer elements
    x = x[:1, : w.shape[1]].astype("float64")  # (1, C, H, W)
    kwargs = {**kwargs, "groups": 1}
    inputs = [tensor(x, requires_grad=True), tensor(w, requires_grad=True)]
    if b is not None:
        inputs.append(tensor(b, requires_grad=True))
    assert dispatch.kernel_for_call(F.conv2d, *inputs, **kwargs) is K.channels_last_conv2d
    assert minidl.gradgradcheck(lambda *t: F.conv2d(*t, **kwargs), tuple(inputs))
    y = F.conv2d(*inputs, **kwargs)
    g = tensor(np.random.default_rng(0).standard_normal(y.shape))
    plain = minidl.grad(y, inputs, g, retain_graph=True)
    graph = minidl.grad(y, inputs, g, create_graph=True)
    for a, e in zip(plain, graph):
        assert_close(a, e, rtol=1e-10, atol=1e-12, what="conv2d kernel gradient vs its create_graph gradient")
    pooled = tensor(np.random.default_rng(1).permutation(36).reshape(1, 1, 6, 6) / 7.0, requires_grad=True)
    assert minidl.gradgradcheck(lambda t: F.max_pool2d(t, 3, 2, 1), (pooled,))


def test_when_picks_the_kernels_where_they_are_faster():
    def t(*shape):
        return minidl.zeros(*shape)

    assert dispatch.kernel_for_call(F.conv2d, t(2, 8, 5, 5), t(4, 8, 3, 3)) is K.channels_last_conv2d
    assert dispatch.kernel_for_call(F.conv2d, t(2, 16, 5, 5), t(4, 8, 3, 3), groups=2) is K.channels_last_conv2d
    assert dispatch.kernel_for_call(F.conv2d, t(2, 1, 5, 5), t(4, 1, 3, 3)) is K.channels_last_conv2d  # a first layer
    assert dispatch.kernel_for_call(F.conv2d, t(8, 5, 5), t(4, 8, 3, 3)) is None  # unbatched
    assert dispatch.kernel_for_call(F.max_pool2d, t(2, 3, 6, 6), 2) is K.strided_max_pool2d
    assert dispatch.kernel_for_call(F.max_pool2d, t(2, 3, 6, 6), 2, return_indices=True) is None
    assert dispatch.kernel_for_call(F.max_pool2d, t(3, 6, 6), 2) is None
    # a bad call reaches the reference's argument checks, whatever the kernels' tests make of it
    with pytest.raises(ValueError, match="conv2d: input of shape"):
        F.conv2d(t(2, 9, 5, 5), t(4, 8, 3, 3))
    with pytest.raises(ValueError, match="max_pool2d: padding"):
        F.max_pool2d(t(2, 3, 6, 6), 2, padding=2)


def test_kernel_output_is_channels_last_and_reference_mode_turns_it_off():
    rng = np.random.default_rng(3)
    x, w = tensor(rng.standard_normal((2, 8, 6, 6))), tensor(rng.standard_normal((4, 8, 3, 3)))
    with minidl.reference_mode(False):  # kernels on, also in a MINIDL_REFERENCE=1 run
        y = F.conv2d(x, w)
        pooled = F.max_pool2d(F.relu(y), 2)
    assert y.array.transpose(0, 2, 3, 1).flags.c_contiguous  # the kernel's memory order
    assert pooled.array.transpose(0, 2, 3, 1).flags.c_contiguous  # kept by relu and the pooling kernel
    with minidl.reference_mode():
        y_ref = F.conv2d(x, w)
        assert y_ref.array.flags.c_contiguous
        assert_close(F.max_pool2d(F.relu(y_ref), 2), pooled, rtol=1e-12)
    assert_close(y_ref, y, rtol=1e-12, atol=1e-12)
