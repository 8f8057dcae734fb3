"""Convolution and pooling: one spec table, one property test over it (forward against direct
NumPy loops, gradcheck and gradgradcheck in float64, inputs not mutated, gradient shapes),
PyTorch parity over the same table (values and gradients), then return_indices, ties and NaN,
unbatched inputs, the seed CNN's layers in float32, and the error messages.

The ops run as a user calls them: through their kernels where a ``when`` picks one, or all
through the references with MINIDL_REFERENCE=1 (the suite passes both ways). That each kernel
equals its reference is tests/test_kernels_conv.py's subject."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import tensor
from minidl.testing import assert_close, assert_gradients_match, assert_not_mutated, conv_configs, tensors


# ---- NumPy references: direct loops over the output pixels (tiny sizes only) -----------------------
def _out(n, k, s, lo, hi, d):
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


def ref_unfold(x, kernel, dilation, pads, stride):
    N, C, H, W = x.shape
    (KH, KW), (dh, dw), (sh, sw) = kernel, dilation, stride
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    OH, OW = _out(H, KH, sh, *pads[0], dh), _out(W, KW, sw, *pads[1], dw)
    cols = np.zeros((N, C * KH * KW, OH * OW))
    for oh in range(OH):
        for ow in range(OW):
            patch = xp[:, :, oh * sh : oh * sh + dh * (KH - 1) + 1 : dh, ow * sw : ow * sw + dw * (KW - 1) + 1 : dw]
            cols[:, :, oh * OW + ow] = patch.reshape(N, -1)
    return cols


def ref_fold(cols, size, kernel, dilation, pads, stride):
    N, CKK, _ = cols.shape
    (H, W), (KH, KW), (dh, dw), (sh, sw) = size, kernel, dilation, stride
    (pt, pb), (pl, pr) = pads
    out = np.zeros((N, CKK // (KH * KW), H + pt + pb, W + pl + pr))
    OH, OW = _out(H, KH, sh, pt, pb, dh), _out(W, KW, sw, pl, pr, dw)
    for oh in range(OH):
        for ow in range(OW):
            rows = slice(oh * sh, oh * sh + dh * (KH - 1) + 1, dh)
            columns = slice(ow * sw, ow * sw + dw * (KW - 1) + 1, dw)
            out[:, :, rows, columns] += cols[:, :, oh * OW + ow].reshape(N, -1, KH, KW)
    return out[:, :, pt : pt + H, pl : pl + W]


def ref_conv2d(x, w, b, stride, pads, dilation, groups):
    N, C, H, W = x.shape
    OC, Cg, KH, KW = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    OH, OW = _out(H, KH, sh, *pads[0], dh), _out(W, KW, sw, *pads[1], dw)
    y = np.zeros((N, OC, OH, OW))
    for o in range(OC):
        g = o // (OC // groups)
        for oh in range(OH):
            for ow in range(OW):
                patch = xp[:, g * Cg : (g + 1) * Cg, oh * sh : oh * sh + dh * (KH - 1) + 1 : dh,
                           ow * sw : ow * sw + dw * (KW - 1) + 1 : dw]  # fmt: skip
                y[:, o, oh, ow] = (patch * w[o]).sum(axis=(1, 2, 3)) + (0.0 if b is None else b[o])
    return y


def _pool_out(n, k, s, p, d, ceil):
    span = d * (k - 1) + 1
    o = (n + 2 * p - span + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def ref_max_pool2d(x, kernel, stride, padding, dilation, ceil_mode):
    """Maxima over the in-bounds cells of each window, and their flat indices h·W + w."""
    N, C, H, W = x.shape
    OH, OW = (_pool_out(n, k, s, p, d, ceil_mode) for n, k, s, p, d in zip((H, W), kernel, stride, padding, dilation))
    y, idx = np.zeros((N, C, OH, OW)), np.zeros((N, C, OH, OW), dtype=np.int64)
    for oh in range(OH):
        for ow in range(OW):
            rows = [r for r in (oh * stride[0] - padding[0] + i * dilation[0] for i in range(kernel[0])) if 0 <= r < H]
            cols = [c for c in (ow * stride[1] - padding[1] + j * dilation[1] for j in range(kernel[1])) if 0 <= c < W]
            flat = np.array([r * W + c for r in rows for c in cols])
            cells = x.reshape(N, C, H * W)[:, :, flat]
            y[:, :, oh, ow] = cells.max(axis=2)
            idx[:, :, oh, ow] = flat[cells.argmax(axis=2)]
    return y, idx


def ref_avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override=None):
    N, C, H, W = x.shape
    OH, OW = (_pool_out(n, k, s, p, 1, ceil_mode) for n, k, s, p in zip((H, W), kernel, stride, padding))
    y = np.zeros((N, C, OH, OW))
    for oh in range(OH):
        for ow in range(OW):
            h0, w0 = oh * stride[0] - padding[0], ow * stride[1] - padding[1]
            h1, w1 = min(h0 + kernel[0], H + padding[0]), min(w0 + kernel[1], W + padding[1])
            size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
            divisor = divisor_override or (size if count_include_pad else (h1 - h0) * (w1 - w0))
            y[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3)) / divisor
    return y


def ref_adaptive_avg_pool2d(x, OH, OW):
    H, W = x.shape[-2:]
    y = np.zeros(x.shape[:-2] + (OH, OW))
    for i in range(OH):
        for j in range(OW):
            h0, h1 = (i * H) // OH, -((-(i + 1) * H) // OH)
            w0, w1 = (j * W) // OW, -((-(j + 1) * W) // OW)
            y[..., i, j] = x[..., h0:h1, w0:w1].mean(axis=(-2, -1))
    return y


# ---- the spec table ------------------------------------------------------------------------------
@dataclass
class Case:
    """One drawn example: ``fn(*inputs)`` against ``expected``, and ``torch_fn`` (the same call
    in torch, on torch tensors)."""

    fn: Callable
    inputs: tuple
    expected: np.ndarray
    torch_fn: Callable


def _pads(cfg):
    return tuple((p, p) for p in cfg["padding"])


@st.composite
def unfold_cases(draw):
    c = draw(conv_configs(groups=False, max_size=6))
    x = draw(tensors(shape=(c["N"], c["C_in"]) + c["size"]))
    k, d, p, s = c["kernel"], c["dilation"], c["padding"], c["stride"]
    return Case(
        lambda x: F.unfold(x, k, d, p, s), (x,), ref_unfold(x.array, k, d, _pads(c), s),
        torch_fn=lambda tf, x: tf.unfold(x, k, d, p, s),
    )  # fmt: skip


@st.composite
def fold_cases(draw):
    c = draw(conv_configs(groups=False, max_size=6))
    k, d, p, s, size = c["kernel"], c["dilation"], c["padding"], c["stride"], c["size"]
    L = _out(size[0], k[0], s[0], p[0], p[0], d[0]) * _out(size[1], k[1], s[1], p[1], p[1], d[1])
    cols = draw(tensors(shape=(c["N"], c["C_in"] * k[0] * k[1], L)))
    return Case(
        lambda c: F.fold(c, size, k, d, p, s), (cols,), ref_fold(cols.array, size, k, d, _pads(c), s),
        torch_fn=lambda tf, c: tf.fold(c, size, k, d, p, s),
    )  # fmt: skip


@st.composite
def conv2d_cases(draw, same=False, **config):
    c = draw(conv_configs(**{"max_size": 6, **config}))
    x = draw(tensors(shape=(c["N"], c["C_in"]) + c["size"]))
    w = draw(tensors(shape=(c["C_out"], c["C_in"] // c["groups"]) + c["kernel"]))
    b = draw(st.none() | tensors(shape=(c["C_out"],)))
    s, d, g = c["stride"], c["dilation"], c["groups"]
    if same:
        s, p = (1, 1), "same"
        totals = [dd * (k - 1) for k, dd in zip(c["kernel"], d)]
        pads = tuple((t // 2, t - t // 2) for t in totals)
    else:
        p, pads = c["padding"], _pads(c)
    inputs = (x, w) if b is None else (x, w, b)
    expected = ref_conv2d(x.array, w.array, None if b is None else b.array, s, pads, d, g)

    return Case(lambda x, w, b=None: F.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g), inputs, expected,
                torch_fn=lambda tf, x, w, b=None: tf.conv2d(x, w, b, s, p, d, g))  # fmt: skip


@st.composite
def conv1d_cases(draw):
    c = draw(conv_configs(dims=1, max_size=6))
    x = draw(tensors(shape=(c["N"], c["C_in"]) + c["size"]))
    w = draw(tensors(shape=(c["C_out"], c["C_in"] // c["groups"]) + c["kernel"]))
    b = draw(st.none() | tensors(shape=(c["C_out"],)))
    (s,), (p,), (d,), g = c["stride"], c["padding"], c["dilation"], c["groups"]
    inputs = (x, w) if b is None else (x, w, b)
    expected = ref_conv2d(x.array[:, :, None], w.array[:, :, None], None if b is None else b.array,
                          (1, s), ((0, 0), (p, p)), (1, d), g)[:, :, 0]  # fmt: skip
    return Case(lambda x, w, b=None: F.conv1d(x, w, b, s, p, d, g), inputs, expected,
                torch_fn=lambda tf, x, w, b=None: tf.conv1d(x, w, b, s, p, d, g))  # fmt: skip


@st.composite
def pool_configs(draw, dims=2, dilation=True):
    """N, C, size, kernel, stride, padding, dilation, ceil_mode for pooling. Inputs are at least as
    large as the dilated kernel, so that every window holds a cell of the input."""
    cfg = {"N": draw(st.integers(1, 2)), "C": draw(st.integers(1, 3)), "ceil_mode": draw(st.booleans())}
    for key in ("size", "kernel", "stride", "padding", "dilation"):
        cfg[key] = ()
    for _ in range(dims):
        k = draw(st.integers(1, 3))
        d = draw(st.integers(1, 2)) if dilation else 1
        span = d * (k - 1) + 1
        p = draw(st.integers(0, k // 2))
        cfg["kernel"] += (k,)
        cfg["dilation"] += (d,)
        cfg["padding"] += (p,)
        cfg["stride"] += (draw(st.integers(1, 3)),)
        cfg["size"] += (draw(st.integers(span, 6)),)
    return cfg


@st.composite
def max_pool2d_cases(draw):
    c = draw(pool_configs())
    x = draw(tensors(shape=(c["N"], c["C"]) + c["size"], distinct=True))  # no ties: max has a derivative
    k, s, p, d, ceil = c["kernel"], c["stride"], c["padding"], c["dilation"], c["ceil_mode"]
    stride = draw(st.sampled_from([s, None]))  # None: the kernel size
    expected, _ = ref_max_pool2d(x.array, k, stride or k, p, d, ceil)

    return Case(lambda x: F.max_pool2d(x, k, stride, p, d, ceil), (x,), expected,
                torch_fn=lambda tf, x: tf.max_pool2d(x, k, stride, p, d, ceil))  # fmt: skip


@st.composite
def avg_pool2d_cases(draw):
    c = draw(pool_configs(dilation=False))
    x = draw(tensors(shape=(c["N"], c["C"]) + c["size"]))
    k, s, p, ceil = c["kernel"], c["stride"], c["padding"], c["ceil_mode"]
    include = draw(st.booleans())
    override = draw(st.sampled_from([None, None, 3]))
    expected = ref_avg_pool2d(x.array, k, s, p, ceil, include, override)
    return Case(lambda x: F.avg_pool2d(x, k, s, p, ceil, include, override), (x,), expected,
                torch_fn=lambda tf, x: tf.avg_pool2d(x, k, s, p, ceil, include, override))  # fmt: skip


@st.composite
def adaptive_avg_pool2d_cases(draw):
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    x = draw(tensors(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W)))
    OH, OW = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    size = draw(st.sampled_from([(OH, OW), (OH, None), 1]))
    full = (1, 1) if size == 1 else (OH, W if size[1] is None else OW)
    return Case(lambda x: F.adaptive_avg_pool2d(x, size), (x,), ref_adaptive_avg_pool2d(x.array, *full),
                torch_fn=lambda tf, x: tf.adaptive_avg_pool2d(x, size))  # fmt: skip


@st.composite
def pool1d_cases(draw):
    c = draw(pool_configs(dims=1))
    x = draw(tensors(shape=(c["N"], c["C"]) + c["size"], distinct=True))
    (k,), (s,), (p,), (d,), ceil = c["kernel"], c["stride"], c["padding"], c["dilation"], c["ceil_mode"]
    if draw(st.booleans()):
        expected, _ = ref_max_pool2d(x.array[:, :, None], (1, k), (1, s), (0, p), (1, d), ceil)
        return Case(lambda x: F.max_pool1d(x, k, s, p, d, ceil), (x,), expected[:, :, 0],
                    torch_fn=lambda tf, x: tf.max_pool1d(x, k, s, p, d, ceil))  # fmt: skip
    expected = ref_avg_pool2d(x.array[:, :, None], (1, k), (1, s), (0, p), ceil, True)
    return Case(lambda x: F.avg_pool1d(x, k, s, p, ceil), (x,), expected[:, :, 0],
                torch_fn=lambda tf, x: tf.avg_pool1d(x, k, s, p, ceil))  # fmt: skip


SPECS = {
    "unfold": unfold_cases(),
    "fold": fold_cases(),
    "conv2d": conv2d_cases(),
    "conv2d_same": conv2d_cases(same=True),
    "conv1d": conv1d_cases(),
    "max_pool2d": max_pool2d_cases(),
    "avg_pool2d": avg_pool2d_cases(),
    "adaptive_avg_pool2d": adaptive_avg_pool2d_cases(),
    "pool1d": pool1d_cases(),
}


def _grads(fn, inputs, g, create_graph=False):
    return minidl.grad(fn(*inputs), inputs, tensor(g, dtype=inputs[0].dtype), create_graph=create_graph)


@pytest.mark.parametrize("name", SPECS)
@given(data=st.data())
def test_op(name, data):
    case = data.draw(SPECS[name], label="case")
    out = assert_not_mutated(case.fn, *case.inputs)
    assert_close(out, case.expected, rtol=1e-10, atol=1e-12)
    assert out.requires_grad and out.dtype == np.float64
    g = np.random.default_rng(0).standard_normal(out.shape)
    grads = _grads(case.fn, case.inputs, g)
    assert [gr.shape for gr in grads] == [t.shape for t in case.inputs]
    assert_gradients_match(case.fn, *case.inputs)


@pytest.mark.parametrize("name", SPECS)
@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note about its own copy
@given(data=st.data())
def test_op_matches_torch(name, data):
    torch = pytest.importorskip("torch")
    case = data.draw(SPECS[name], label="case")
    out = case.fn(*case.inputs)
    g = np.random.default_rng(1).standard_normal(out.shape)
    grads = _grads(case.fn, case.inputs, g)
    t_inputs = [torch.tensor(t.array, requires_grad=True) for t in case.inputs]
    t_out = case.torch_fn(torch.nn.functional, *t_inputs)
    t_grads = torch.autograd.grad(t_out, t_inputs, torch.tensor(g))
    assert_close(out, t_out, rtol=1e-10, atol=1e-12)
    for mine, theirs in zip(grads, t_grads):
        assert_close(mine, theirs, rtol=1e-10, atol=1e-12, what="gradient")


@settings(max_examples=6)
@given(case=conv2d_cases(max_batch=1, max_channels=2, max_size=4) | max_pool2d_cases())
def test_full_gradgradcheck(case):
    """Every element of the second derivatives of conv2d and max_pool2d."""
    assert_gradients_match(case.fn, *case.inputs)


@settings(max_examples=10)
@given(c=pool_configs(), data=st.data())
def test_max_pool2d_return_indices(c, data):
    x = data.draw(tensors(shape=(c["N"], c["C"]) + c["size"], distinct=True, requires_grad=False))
    y, idx = F.max_pool2d(x, c["kernel"], c["stride"], c["padding"], c["dilation"], c["ceil_mode"], return_indices=True)
    ref_y, ref_idx = ref_max_pool2d(x.array, c["kernel"], c["stride"], c["padding"], c["dilation"], c["ceil_mode"])
    assert_close(y, ref_y)
    assert idx.dtype == np.int64 and (idx.numpy() == ref_idx).all()


def test_max_pool2d_ties_and_nan_follow_torch():
    torch = pytest.importorskip("torch")
    a = np.zeros((1, 2, 4, 5))
    a[0, 0, 1, 1] = a[0, 0, 2, 3] = 2.0  # a tie across overlapping windows
    a[0, 1, 0, 2] = np.nan
    for kwargs in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1}):
        x = tensor(a, requires_grad=True)
        y, idx = F.max_pool2d(x, return_indices=True, **kwargs)
        g = np.arange(y.numel(), dtype=np.float64).reshape(y.shape) + 1
        y.backward(tensor(g))
        tx = torch.tensor(a, requires_grad=True)
        ty, tidx = torch.nn.functional.max_pool2d(tx, return_indices=True, **kwargs)
        ty.backward(torch.tensor(g))
        assert_close(y.detach(), ty)
        assert (idx.numpy() == tidx.numpy()).all()
        assert_close(x.grad, tx.grad, what="gradient")


def test_unbatched_inputs_match_batched():
    rng = np.random.default_rng(4)
    x = tensor(rng.standard_normal((3, 6, 7)), requires_grad=True)
    w = tensor(rng.standard_normal((4, 3, 3, 2)))
    xb = x.unsqueeze(0)
    assert_close(F.conv2d(x, w, padding=1), F.conv2d(xb, w, padding=1)[0])
    assert_close(F.conv2d(x, w, stride=2), F.conv2d(xb, w, stride=2)[0])
    assert_close(F.max_pool2d(x, 2), F.max_pool2d(xb, 2)[0])
    y, i = F.max_pool2d(x, 3, 2, return_indices=True)
    yb, ib = F.max_pool2d(xb, 3, 2, return_indices=True)
    assert_close(y, yb[0])
    assert (i.numpy() == ib.numpy()[0]).all()
    assert_close(F.avg_pool2d(x, 2), F.avg_pool2d(xb, 2)[0])
    assert_close(F.adaptive_avg_pool2d(x, (2, 3)), F.adaptive_avg_pool2d(xb, (2, 3))[0])
    assert_close(F.unfold(x, 2), F.unfold(xb, 2)[0])
    assert_close(F.fold(F.unfold(x, 2), (6, 7), 2), F.fold(F.unfold(xb, 2), (6, 7), 2)[0])
    x1 = tensor(rng.standard_normal((3, 9)))
    assert F.conv1d(x1, tensor(rng.standard_normal((2, 3, 4)))).shape == (2, 6)
    assert F.max_pool1d(x1, 2).shape == (3, 4) and F.avg_pool1d(x1, 3).shape == (3, 3)
    assert F.adaptive_avg_pool1d(x1, 4).shape == (3, 4)


@pytest.mark.parametrize("stride,dilation", [((1, 1), (1, 1)), ((2, 1), (1, 2)), ((3, 2), (2, 1))])
def test_sliding_windows_is_a_view_of_every_window(stride, dilation):
    a = np.arange(2 * 3 * 7 * 8, dtype=np.float64).reshape(2, 3, 7, 8)
    win = minidl.backend.sliding_windows(a, (2, 3), stride, dilation, axes=(2, 3))
    OH, OW = (_out(n, k, s, 0, 0, d) for n, k, s, d in zip((7, 8), (2, 3), stride, dilation))
    assert win.shape == (2, 3, OH, OW, 2, 3) and np.shares_memory(win, a)
    for oh, ow, i, j in np.ndindex(OH, OW, 2, 3):
        r, c = oh * stride[0] + i * dilation[0], ow * stride[1] + j * dilation[1]
        assert (win[:, :, oh, ow, i, j] == a[:, :, r, c]).all()
    if stride == dilation == (1, 1):
        expected = np.lib.stride_tricks.sliding_window_view(a, (2, 3), axis=(2, 3))
        assert (win == expected).all()


def test_retain_host_memory_is_applied_and_repeatable():
    import platform

    applied = minidl.backend.retain_host_memory()
    assert isinstance(applied, bool)
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert applied
    assert minidl.backend.retain_host_memory() == applied


def test_fold_of_ones_counts_window_overlaps():
    """fold(unfold(x)) = x · (how many windows cover each pixel)."""
    x = tensor(np.random.default_rng(5).standard_normal((2, 3, 5, 6)))
    cover = F.fold(F.unfold(minidl.ones(1, 1, 5, 6, dtype="float64"), 3, padding=1), (5, 6), 3, padding=1)
    assert_close(F.fold(F.unfold(x, 3, padding=1), (5, 6), 3, padding=1), x.numpy() * cover.numpy())
    assert cover.numpy()[0, 0, 2, 2] == 9 and cover.numpy()[0, 0, 0, 0] == 4


def test_seed_cnn_layers_match_torch_in_float32():
    """Conv + ReLU + MaxPool twice (the seed CNN's layers, small batch) in float32; the
    channels-last memory the conv kernel returns (8 -> 16 channels) flows through relu, pooling
    and flatten."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((4, 1, 28, 28)), rng.standard_normal((8, 1, 3, 3)) / 3, rng.standard_normal(8) / 10,
              rng.standard_normal((16, 8, 3, 3)) / 8, rng.standard_normal(16) / 10]  # fmt: skip
    arrays = [a.astype(np.float32) for a in arrays]
    ours = [tensor(a, requires_grad=i > 0) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i > 0) for i, a in enumerate(arrays)]

    def net(f, x, w1, b1, w2, b2):
        h = f.max_pool2d(f.relu(f.conv2d(x, w1, b1)), 2)
        return f.max_pool2d(f.relu(f.conv2d(h, w2, b2, padding=1)), 2).flatten(1)

    y, ty = net(F, *ours), net(torch.nn.functional, *theirs)
    assert y.dtype == np.float32 and y.shape == tuple(ty.shape)
    assert_close(y, ty, rtol=1e-4, atol=1e-5)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(tensor(g))
    ty.backward(torch.tensor(g))
    for mine, t in zip(ours[1:], theirs[1:]):
        assert mine.grad.dtype == np.float32
        assert_close(mine.grad, t.grad, rtol=1e-3, atol=1e-4, what="gradient")


def test_ops_on_each_device(device):
    rng = np.random.default_rng(7)
    a, wa = rng.standard_normal((2, 16, 6, 5)), rng.standard_normal((6, 8, 3, 3))  # 8 channels a group: the kernel
    x = tensor(a, requires_grad=True, device=device)
    w = tensor(wa, requires_grad=True, device=device)
    y = F.max_pool2d(F.conv2d(x, w, padding=1, groups=2), 2, ceil_mode=True) + F.avg_pool2d(
        F.conv2d.reference(x, w, padding=1, groups=2), 2, ceil_mode=True
    )
    y.sum().backward()
    assert y.device == x.device and x.grad.device == x.device
    xc, wc = tensor(a, requires_grad=True), tensor(wa, requires_grad=True)
    yc = F.max_pool2d(F.conv2d(xc, wc, padding=1, groups=2), 2, ceil_mode=True) + F.avg_pool2d(
        F.conv2d.reference(xc, wc, padding=1, groups=2), 2, ceil_mode=True
    )
    yc.sum().backward()
    assert_close(y.detach().cpu(), yc.detach())
    assert_close(x.grad.cpu(), xc.grad)
    assert_close(w.grad.cpu(), wc.grad)


# ---- errors --------------------------------------------------------------------------------------
def _t(*shape):
    return minidl.zeros(*shape, dtype="float64")


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: F.conv2d(_t(2, 4, 5, 5), _t(8, 3, 3, 3)), r"4 channels.*\(8, 3, 3, 3\).*groups=1.*in_channels"),
        (lambda: F.conv2d(_t(2, 4, 5, 5), _t(8, 3, 3, 3), groups=2), r"groups=2 expects in_channels.*= 6"),
        (lambda: F.conv2d(_t(2, 4, 5, 5), _t(5, 2, 3, 3), groups=2), r"out_channels.*5.*divisible by groups=2"),
        (lambda: F.conv2d(_t(1, 1, 2, 2), _t(1, 1, 5, 5), padding=1), r"kernel size \(5, 5\).*padded input.*\(4, 4\)"),
        (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), stride=2, padding="same"), "'same'.*strided"),
        (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), padding="full"), "padding must be"),
        (lambda: F.conv2d(_t(1, 5, 5), _t(1, 1, 3)), "4-D weight"),
        (lambda: F.conv2d(_t(5, 5), _t(1, 1, 3, 3)), "3-D .unbatched. or 4-D"),
        (lambda: F.conv2d(_t(1, 1, 5, 5), _t(2, 1, 3, 3), _t(3)), r"bias.*\(2,\)"),
        (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3).float()), "dtype"),
        (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), stride=0), "stride must be >= 1"),
        (lambda: F.conv1d(_t(1, 2, 5), _t(1, 3, 3)), r"2 channels.*in_channels"),
        (lambda: F.conv1d(_t(1, 1, 2), _t(1, 1, 4)), r"kernel size \(4,\).*\(2,\)"),
        (lambda: F.unfold(_t(1, 1, 2, 2), 3), r"kernel size \(3, 3\).*\(2, 2\)"),
        (lambda: F.fold(_t(1, 8, 9), (5, 5), 3), "divisible by the product of kernel_size"),
        (lambda: F.fold(_t(1, 9, 8), (5, 5), 3), "3 \\* 3 = 9 sliding blocks.*has 8"),
        (lambda: F.max_pool2d(_t(1, 1, 5, 5), 3, padding=2), "at most half"),
        (lambda: F.max_pool2d(_t(1, 1, 2, 2), 3), r"kernel size \(3, 3\).*\(2, 2\)"),
        (lambda: F.avg_pool2d(_t(1, 1, 5, 5), 2, padding=2), "at most half"),
        (lambda: F.adaptive_avg_pool2d(_t(1, 1, 5, 5), 0), "positive"),
    ],
)
def test_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
