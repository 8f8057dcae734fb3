"""Fast kernels for ``conv2d`` and ``max_pool2d`` (their references: ``minidl/functional/conv.py``).

``channels_last_conv2d`` computes the same unfold + matmul as the reference, but on a
channels-last copy of the input: each output pixel's window is one contiguous row of length
KH*KW*C, so the im2col copy and the one large matmul run over contiguous memory, and the
(N, OC, OH, OW) result is returned as a view of channels-last memory (no transposing copy).
Elementwise ops and ``strided_max_pool2d`` keep that memory order, so Conv → ReLU → MaxPool →
Conv never converts layouts. ``strided_max_pool2d`` takes a running maximum over the KH·KW
offsets of a strided view of the windows, without copying them into columns.

``benchmarks/bench_conv.py`` times each against its reference; the ``when`` tests below pick
the kernels only for the arguments where they were faster there.
"""

from __future__ import annotations

from ..backend import sliding_windows
from ..dispatch import KernelFunction, register_kernel
from ..functional.conv import check_conv_args, check_pool_args, conv2d, max_pool2d
from ..tensor import Tensor


def _pad_spatial(xp, x, pads, value, axes):
    """x padded by ``pads`` along ``axes`` with ``value`` (no copy when there is no padding)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    widths = [(0, 0)] * x.ndim
    for a, p in zip(axes, pads):
        widths[a] = p
    return xp.pad(x, widths, mode="constant", constant_values=value)


def _channels_last_columns(xp, x, kernel, stride, pads, dilation, groups):
    """im2col of X (N, C, H, W) with one row per output pixel and the (kh, kw, c) order in a row:
    (g, N*OH*OW, KH*KW*C/g), and (OH, OW)."""
    N, C = x.shape[:2]
    KH, KW = kernel
    Cg = C // groups
    xt = x.transpose(0, 2, 3, 1)  # (N, H, W, C) view
    if any(lo or hi for lo, hi in pads):
        xt = _pad_spatial(xp, xt, pads, 0, axes=(1, 2))  # (N, Hp, Wp, C), contiguous
    elif not xt.flags.c_contiguous:
        xt = xp.ascontiguousarray(xt)
    win = sliding_windows(xt, kernel, stride, dilation, axes=(1, 2))  # (N, OH, OW, C, KH, KW) view
    OH, OW = win.shape[1:3]
    if Cg < 8:  # few channels: copying one kernel offset at a time beats one 7-D strided copy
        cols = xp.empty((groups, N, OH, OW, KH, KW, Cg), dtype=x.dtype)
        for i in range(KH):
            for j in range(KW):
                block = win[..., i, j].reshape(N, OH, OW, groups, Cg)  # (N, OH, OW, g, C/g)
                cols[:, :, :, :, i, j] = block.transpose(3, 0, 1, 2, 4)
        return cols.reshape(groups, N * OH * OW, KH * KW * Cg), (OH, OW)  # (g, N*L, KH*KW*C/g)
    win = win.reshape(N, OH, OW, groups, Cg, KH, KW)  # splits C: still a view
    cols = win.transpose(3, 0, 1, 2, 5, 6, 4).reshape(groups, N * OH * OW, KH * KW * Cg)  # (g, N*L, KH*KW*C/g)
    return cols, (OH, OW)


def _weight_matrix(w, groups):
    """W: (OC, C/g, KH, KW)  ->  (g, KH*KW*C/g, OC/g), rows in the (kh, kw, c) order of the columns."""
    OC, Cg, KH, KW = w.shape
    w = w.reshape(groups, OC // groups, Cg, KH, KW)  # (g, OC/g, C/g, KH, KW)
    return w.transpose(0, 3, 4, 2, 1).reshape(groups, KH * KW * Cg, OC // groups)  # (g, KH*KW*C/g, OC/g)


class ChannelsLastConv2d(KernelFunction):
    """conv2d on channels-last columns: the same equations as the reference, laid out for BLAS.

    cols = im2col(X)            (N*OH*OW, KH*KW*C)       one row per output pixel
    Y    = cols @ Wmat + b      (N*OH*OW, KH*KW*C) @ (KH*KW*C, OC) -> (N*OH*OW, OC) -> (N, OC, OH, OW)
    dL/dW = colsᵀ @ dY          (KH*KW*C, N*OH*OW) @ (N*OH*OW, OC)
    dL/dX = col2im(dY @ Wmatᵀ)  (N*OH*OW, OC) @ (OC, KH*KW*C), windows summed back into (N, C, H, W)
    dL/db = Σ_{n, oh, ow} dY
    With groups g, each block of C/g input and OC/g output channels is its own matmul (a batch of g).
    """

    def forward(ctx, x, w, b, stride, pads, dilation, groups, padding):
        N = x.shape[0]
        OC = w.shape[0]
        ctx.conf = (stride, pads, dilation, groups, padding)
        cols, (OH, OW) = _channels_last_columns(ctx.xp, x, w.shape[2:], stride, pads, dilation, groups)
        y = cols @ _weight_matrix(w, groups)  # (g, N*L, KH*KW*C/g) @ (g, KH*KW*C/g, OC/g) -> (g, N*L, OC/g)
        y = y[0] if groups == 1 else y.transpose(1, 0, 2).reshape(N * OH * OW, OC)  # (N*L, OC)
        if b is not None:
            y += b
        ctx.save_for_backward(x, w, cols)
        return y.reshape(N, OH, OW, OC).transpose(0, 3, 1, 2)  # (N, OC, OH, OW), channels-last in memory

    def kernel_backward(ctx, dy):
        x, w, cols = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        stride, pads, dilation, g, _ = ctx.conf
        OC, Cg, KH, KW = w.shape
        N, _, OH, OW = dy.shape
        if g == 1 and not need_x and dy.array.flags.c_contiguous:  # an NCHW dY: no channels-last copy of it
            return (None, *_weight_grads_nchw(dy.array, cols.array, w.shape, need_w, need_b)) + (None,) * 5
        dmat = dy.array.transpose(0, 2, 3, 1).reshape(N * OH * OW, g, OC // g).transpose(1, 0, 2)  # (g, N*L, OC/g)
        dx = dw = db = None
        if need_b:  # Σ over the N*L rows, as a product with ones (BLAS sums rows faster than a reduction)
            db = (ctx.xp.ones(dmat.shape[1], dtype=dmat.dtype) @ dmat).reshape(OC)
        if need_w:
            dw = cols.array.transpose(0, 2, 1) @ dmat  # (g, KH*KW*C/g, N*L) @ (g, N*L, OC/g) -> (g, KH*KW*C/g, OC/g)
            dw = dw.reshape(g, KH, KW, Cg, OC // g).transpose(0, 4, 3, 1, 2).reshape(OC, Cg, KH, KW)
        if need_x:
            dx = _input_grad(ctx.xp, dmat, w.array, x.shape, stride, pads, dilation)
        return dx, dw, db, None, None, None, None, None

    def reference_forward(ctx):
        x, w, b = ctx.inputs[:3]
        stride, _, dilation, groups, padding = ctx.conf
        return conv2d.reference(x, w, b, stride, padding, dilation, groups)


def _weight_grads_nchw(dy, cols, wshape, need_w, need_b):
    """dL/dW and dL/db (groups 1) from a C-contiguous (N, OC, OH, OW) dY, batched over N instead
    of transposing dY into channels-last rows: dL/dW = Σ_n dY_n @ cols_n."""
    OC, C, KH, KW = wshape
    N = dy.shape[0]
    d3 = dy.reshape(N, OC, -1)  # (N, OC, L), a view
    db = d3.sum((0, 2)) if need_b else None
    dw = None
    if need_w:  # (N, OC, L) @ (N, L, KH*KW*C) -> (N, OC, KH*KW*C), summed over N
        dw = (d3 @ cols.reshape(N, d3.shape[2], KH * KW * C)).sum(0)
        dw = dw.reshape(OC, KH, KW, C).transpose(0, 3, 1, 2)  # (OC, C, KH, KW)
    return dw, db


def _input_grad(xp, dmat, w, shape, stride, pads, dilation):
    """dL/dX = col2im(dY @ Wmatᵀ) on arrays, channels-last: the columns are made one kernel
    offset at a time, so each offset's block is contiguous and is added with one slice-add."""
    N, C, H, W = shape
    g = dmat.shape[0]
    OC, Cg, KH, KW = w.shape
    (sh, sw), ((pt, pb), (pl, pr)), (dh, dw) = stride, pads, dilation
    OH = (H + pt + pb - dh * (KH - 1) - 1) // sh + 1
    OW = (W + pl + pr - dw * (KW - 1) - 1) // sw + 1
    wk = xp.ascontiguousarray(w.reshape(g, OC // g, Cg, KH * KW).transpose(0, 3, 1, 2))  # (g, KH*KW, OC/g, C/g)
    dcols = dmat.reshape(g, 1, N * OH * OW, OC // g) @ wk  # (g, 1, N*L, OC/g) @ (g, KH*KW, OC/g, C/g)
    dxt = xp.zeros((N, H + pt + pb, W + pl + pr, g, Cg), dtype=dcols.dtype)  # channels-last, padded
    for k in range(KH * KW):
        i, j = divmod(k, KW)
        rows = slice(i * dh, i * dh + sh * (OH - 1) + 1, sh)
        columns = slice(j * dw, j * dw + sw * (OW - 1) + 1, sw)
        block = dcols[:, k].reshape(g, N, OH, OW, Cg)  # (g, N, OH, OW, C/g)
        dxt[:, rows, columns] += block[0, :, :, :, None] if g == 1 else block.transpose(1, 2, 3, 0, 4)
    return dxt[:, pt : pt + H, pl : pl + W].reshape(N, H, W, C).transpose(0, 3, 1, 2)  # (N, C, H, W)


def channels_last_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """``conv2d`` (same signature and checks) through ``ChannelsLastConv2d``; batched input only."""
    stride_, pads, dilation_ = check_conv_args("conv2d", input, weight, bias, stride, padding, dilation, groups)
    return ChannelsLastConv2d.apply(input, weight, bias, stride_, pads, dilation_, groups, padding)


def _first_max_hits(xp, win, y):
    """For each window offset k = i·KW + j, a bool mask (N, C, OH, OW) of the windows whose
    first maximum sits at offset k (PyTorch's choice among ties; a NaN counts as the maximum).
    The mask is one buffer, overwritten for the next offset: use it before then.

    win: (N, C, OH, OW, KH, KW) view, y: (N, C, OH, OW) the window maxima."""
    KH, KW = win.shape[-2:]
    # one pass without a temporary: a NaN makes the sum NaN (so can inf − inf, which only costs the slower path)
    nan = bool(xp.isnan(y.sum()))
    hit = xp.empty_like(y, dtype=bool)  # in y's memory order: mixing orders makes every op slow
    claimed = xp.empty_like(y, dtype=bool) if KH * KW > 1 else None
    for k in range(KH * KW):
        v = win[..., k // KW, k % KW]
        xp.equal(v, y, out=hit)
        if nan:
            hit |= xp.isnan(v)
        if k == 0:
            if claimed is not None:
                claimed[...] = hit
        else:
            xp.greater(hit, claimed, out=hit)  # a maximum, and no earlier offset of the window had one
            if k < KH * KW - 1:
                claimed |= hit
        yield k, hit


class StridedMaxPool2d(KernelFunction):
    """max_pool2d as a running maximum over the KH·KW offsets of a strided view of the windows.

    Y = max_{i, j} X_pad[:, :, oh·sh + i·dh, ow·sw + j·dw]      (N, C, H, W) -> (N, C, OH, OW)
    dL/dX[window's first maximum] += dL/dY, found again by comparing each offset with Y.
    Y keeps the memory order of X (channels-last stays channels-last).
    """

    def forward(ctx, x, kernel_size, stride, pads, dilation, call):
        xp = ctx.xp
        KH, KW = kernel_size
        xpad = _pad_spatial(xp, x, pads, -xp.inf, axes=(2, 3))
        win = sliding_windows(xpad, kernel_size, stride, dilation, axes=(2, 3))  # (N, C, OH, OW, KH, KW) view
        y = win[..., 0, 0].copy(order="K")  # (N, C, OH, OW), in the memory order of x
        for k in range(1, KH * KW):
            xp.maximum(y, win[..., k // KW, k % KW], out=y)  # maximum() keeps NaNs, as PyTorch does
        ctx.conf = (x.shape, kernel_size, stride, pads, dilation, call)
        ctx.padded = xpad if xpad is not x else None
        ctx.save_for_backward(x, y)
        return y

    def kernel_backward(ctx, dy):
        x, y = ctx.saved_tensors
        (N, C, H, W), kernel_size, stride, pads, dilation, _ = ctx.conf
        KH, KW = kernel_size
        OH, OW = dy.shape[2:]
        xp = ctx.xp
        xpad = x.array if ctx.padded is None else ctx.padded
        win = sliding_windows(xpad, kernel_size, stride, dilation, axes=(2, 3))  # (N, C, OH, OW, KH, KW)
        (sh, sw), ((pt, _), (pl, _)), (dh, dw) = stride, pads, dilation
        overlap = sh < dh * (KH - 1) + 1 or sw < dw * (KW - 1) + 1
        covered = not overlap and (sh, sw) == (KH, KW) and (OH * sh, OW * sw) == xpad.shape[2:]
        g = dy.array
        if g.strides != y.array.strides:  # e.g. NCHW from a flatten while x is channels-last
            g = xp.empty_like(y.array, dtype=g.dtype)
            g[...] = dy.array
        # windows that tile the input exactly write every pixel once: no zero fill needed
        dx = xp.empty_like(xpad, dtype=g.dtype) if covered else xp.zeros_like(xpad, dtype=g.dtype)
        for k, hit in _first_max_hits(xp, win, y.array):
            i, j = divmod(k, KW)
            view = dx[:, :, i * dh : i * dh + sh * (OH - 1) + 1 : sh, j * dw : j * dw + sw * (OW - 1) + 1 : sw]
            if overlap:
                view += g * hit
            else:
                xp.multiply(g, hit, out=view)
        return dx[:, :, pt : pt + H, pl : pl + W], None, None, None, None, None

    def reference_forward(ctx):
        _, kernel_size, stride, _, dilation, (padding, ceil_mode) = ctx.conf
        return max_pool2d.reference(ctx.inputs[0], kernel_size, stride, padding, dilation, ceil_mode)


def strided_max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False  # noqa: A002
):
    """``max_pool2d`` (same signature and checks) through ``StridedMaxPool2d``; batched float
    input, without return_indices."""
    kernel, stride, pads, dilation, _ = check_pool_args(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
    )
    return StridedMaxPool2d.apply(input, kernel, stride, pads, dilation, (padding, ceil_mode))


def _is_float_batch(x):
    return isinstance(x, Tensor) and x.ndim == 4 and x.dtype.kind == "f"


def _conv2d_when(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """Every batched float convolution. ``benchmarks/bench_conv.py --threads 1``, batch 32, float32,
    forward + backward of an NCHW upstream gradient, medians (minima) on a loaded 2-core machine:
    seed CNN layer 1 (1 -> 32, 28x28, the input needing no gradient) 1.57 (1.30) ms kernel vs
    1.99 (1.47) ms reference; layer 2 (32 -> 64, 13x13) 21.0 (16.5) vs 34.0 (18.4) ms. In the
    network the kernel also saves layer 1's out-of-place bias add and the 2.6 MiB it keeps alive
    (peak traced memory of a training step 25.4 -> 22.8 MiB, benchmarks/compare_trees.py)."""
    return _is_float_batch(input) and isinstance(weight, Tensor) and weight.ndim == 4


def _max_pool2d_when(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):  # noqa: A002
    return _is_float_batch(input) and not return_indices


register_kernel(conv2d, channels_last_conv2d, when=_conv2d_when)
register_kernel(max_pool2d, strided_max_pool2d, when=_max_pool2d_when)
