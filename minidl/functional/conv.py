"""Convolution and pooling: y = f(W * X + b), NCHW layout, PyTorch signatures.

Two primitives carry everything: ``unfold`` (im2col) copies every KH×KW window of the input
into a column, and ``fold`` (col2im) adds columns back into an image, summing where windows
overlap. Each is the other's backward. With the input unfolded, a convolution is one matrix
product and pooling is a reduction over the window axis:

    cols = unfold(X)                       # (N, C*KH*KW, L),  L = OH*OW
    Y    = W.reshape(OC, C*KH*KW) @ cols   # (N, OC, L)  ->  reshape (N, OC, OH, OW)
    Y    = Y + b                           # b: (OC,) broadcast over N, OH, OW

``conv2d`` and ``max_pool2d`` are fused Functions (one big BLAS-friendly matmul on a
channels-last im2col, a max over strided window views); ``conv2d_composed`` and
``max_pool2d_composed`` build the same equations from ``unfold``/``matmul``/``amax`` and are
the references the tests compare against. The fused conv returns its (N, OC, OH, OW) result as
a view of channels-last memory (no transposing copy); elementwise ops and pooling keep that
memory order, so a Conv → ReLU → MaxPool → Conv chain never converts layouts. Window counts
along each spatial dim:

    O = floor((S + p_lo + p_hi − d·(K − 1) − 1) / s) + 1
"""

from __future__ import annotations

import numbers

from ..autograd import Function, is_grad_enabled
from ..backend import get_array_module, sliding_windows
from ..tensor import Tensor
from .reduce import amax, mean
from .shape import pad as _pad


# ---- argument helpers --------------------------------------------------------------------
def _ntuple(value, n, name, op, minimum=1):
    """``value`` as a tuple of ``n`` ints (an int is repeated) that are all >= ``minimum``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        out = (int(value),) * n
    else:
        try:
            out = tuple(value)
        except TypeError:
            raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}") from None
        if len(out) == 1:
            out = out * n
        if len(out) != n or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in out):
            raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
        out = tuple(int(v) for v in out)
    if any(v < minimum for v in out):
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return out


def _windows_count(size, kernel, stride, pads, dilation):
    """Window counts (OH, OW) of a (H, W) input padded by ``pads = ((top, bottom), (left, right))``."""
    return tuple(
        (n + lo + hi - d * (k - 1) - 1) // s + 1
        for n, k, s, (lo, hi), d in zip(size, kernel, stride, pads, dilation)
    )


def _pad_spatial(xp, x, pads, value, axes=(2, 3)):
    """x padded by ``pads`` along ``axes`` with ``value`` (no copy when there is no padding)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    widths = [(0, 0)] * x.ndim
    for a, p in zip(axes, pads):
        widths[a] = p
    return xp.pad(x, widths, mode="constant", constant_values=value)


def _col2im(xp, cols, size, stride, pads, dilation):
    """Sum windows back into an image (the adjoint of taking windows).

    cols: (N, C, KH, KW, OH, OW), any strides  ->  (N, C, H, W). Loops over the KH·KW kernel
    offsets only; each adds a strided slice of the padded image at once."""
    N, C, KH, KW, OH, OW = cols.shape
    (H, W), (sh, sw), ((pt, pb), (pl, pr)), (dh, dw) = size, stride, pads, dilation
    out = xp.zeros((N, C, H + pt + pb, W + pl + pr), dtype=cols.dtype)  # (N, C, Hp, Wp)
    for i in range(KH):
        for j in range(KW):
            rows = slice(i * dh, i * dh + sh * (OH - 1) + 1, sh)
            columns = slice(j * dw, j * dw + sw * (OW - 1) + 1, sw)
            out[:, :, rows, columns] += cols[:, :, i, j]  # (N, C, OH, OW)
    return out[:, :, pt : pt + H, pl : pl + W]


# ---- the two primitives ------------------------------------------------------------------
class Unfold(Function):
    """im2col: every KH×KW window of the (zero-padded) input as a column.

    cols[n, c·KH·KW + i·KW + j, oh·OW + ow] = X_pad[n, c, oh·sh + i·dh, ow·sw + j·dw]
    X: (N, C, H, W)  ->  cols: (N, C*KH*KW, L), L = OH*OW
    dL/dX = fold(dL/dcols)   (each input pixel collects the gradients of every column it was copied to)
    """

    def forward(ctx, x, kernel_size, dilation, pads, stride):
        ctx.conf = (x.shape[2:], kernel_size, dilation, pads, stride)
        x = _pad_spatial(ctx.xp, x, pads, 0)
        win = sliding_windows(x, kernel_size, stride, dilation, axes=(2, 3))  # (N, C, OH, OW, KH, KW) view
        N, C, OH, OW, KH, KW = win.shape
        return win.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * KH * KW, OH * OW)  # (N, C*KH*KW, L) copy

    def backward(ctx, dy):
        return Fold.apply(dy, *ctx.conf), None, None, None, None


class Fold(Function):
    """col2im: columns added back into an image; values of overlapping windows are summed.

    Y[n, c, h, w] = Σ over (i, j, oh, ow) with h = oh·sh + i·dh − p_top, w = ow·sw + j·dw − p_left
                    of cols[n, c·KH·KW + i·KW + j, oh·OW + ow]
    cols: (N, C*KH*KW, L)  ->  Y: (N, C, H, W)
    dL/dcols = unfold(dL/dY)   (a linear map's backward is its transpose)
    """

    def forward(ctx, cols, output_size, kernel_size, dilation, pads, stride):
        ctx.conf = (kernel_size, dilation, pads, stride)
        N, CKK, _ = cols.shape
        KH, KW = kernel_size
        OH, OW = _windows_count(output_size, kernel_size, stride, pads, dilation)
        cols = cols.reshape(N, CKK // (KH * KW), KH, KW, OH, OW)  # (N, C, KH, KW, OH, OW)
        return _col2im(ctx.xp, cols, output_size, stride, pads, dilation)

    def backward(ctx, dy):
        return Unfold.apply(dy, *ctx.conf), None, None, None, None, None


def _spatial_args(op, kernel_size, dilation, padding, stride):
    kernel = _ntuple(kernel_size, 2, "kernel_size", op)
    dilation = _ntuple(dilation, 2, "dilation", op)
    padding = _ntuple(padding, 2, "padding", op, minimum=0)
    stride = _ntuple(stride, 2, "stride", op)
    return kernel, dilation, tuple((p, p) for p in padding), stride


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002 - PyTorch's names
    """Extract sliding windows (im2col), like ``torch.nn.functional.unfold``.

    input: (N, C, H, W) or unbatched (C, H, W)  ->  (N, C*KH*KW, L) or (C*KH*KW, L), L = OH*OW."""
    if input.ndim not in (3, 4):
        raise ValueError(f"unfold: expected a 3-D (unbatched) or 4-D (batched) input, got shape {input.shape}")
    kernel, dilation, pads, stride = _spatial_args("unfold", kernel_size, dilation, padding, stride)
    _check_fits("unfold", input.shape[-2:], kernel, dilation, pads)
    if input.ndim == 3:
        return Unfold.apply(input.unsqueeze(0), kernel, dilation, pads, stride).squeeze(0)
    return Unfold.apply(input, kernel, dilation, pads, stride)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """Sum sliding windows back into an image (col2im), like ``torch.nn.functional.fold``.

    input: (N, C*KH*KW, L) or unbatched (C*KH*KW, L)  ->  (N, C, H, W) or (C, H, W)."""
    if input.ndim not in (2, 3):
        raise ValueError(f"fold: expected a 2-D (unbatched) or 3-D (batched) input, got shape {input.shape}")
    size = _ntuple(output_size, 2, "output_size", "fold")
    kernel, dilation, pads, stride = _spatial_args("fold", kernel_size, dilation, padding, stride)
    _check_fits("fold", size, kernel, dilation, pads)
    KK = kernel[0] * kernel[1]
    CKK, L = input.shape[-2:]
    if CKK % KK:
        raise ValueError(
            f"fold: size of dim -2 of the input ({CKK}, input shape {input.shape}) must be divisible by "
            f"the product of kernel_size {kernel} = {KK}"
        )
    OH, OW = _windows_count(size, kernel, stride, pads, dilation)
    if L != OH * OW:
        raise ValueError(
            f"fold: output_size={size}, kernel_size={kernel}, dilation={dilation}, padding={padding}, "
            f"stride={stride} give {OH} * {OW} = {OH * OW} sliding blocks, but the input of shape "
            f"{input.shape} has {L}"
        )
    if input.ndim == 2:
        return Fold.apply(input.unsqueeze(0), size, kernel, dilation, pads, stride).squeeze(0)
    return Fold.apply(input, size, kernel, dilation, pads, stride)


def _check_fits(op, size, kernel, dilation, pads, padding=None):
    """An error naming the sizes when a (dilated) kernel is larger than the padded input."""
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(size, pads))
    if any(s > p for s, p in zip(spans, padded)):
        padding = tuple(lo for lo, _ in pads) if padding is None else padding
        raise ValueError(
            f"{op}: kernel size {tuple(kernel)} (dilated: {spans}) is larger than the padded input size "
            f"{padded} (input size {tuple(size)}, padding {padding})"
        )


# ---- convolution -------------------------------------------------------------------------
def _weight_matrix(w, groups):
    """W: (OC, C/g, KH, KW)  ->  (g, KH*KW*C/g, OC/g), rows in the (kh, kw, c) order of the channels-last columns."""
    OC, Cg, KH, KW = w.shape
    w = w.reshape(groups, OC // groups, Cg, KH, KW)  # (g, OC/g, C/g, KH, KW)
    return w.transpose(0, 3, 4, 2, 1).reshape(groups, KH * KW * Cg, OC // groups)  # (g, KH*KW*C/g, OC/g)


class Conv2d(Function):
    """Y = W * X + b as one matrix product of the unfolded input (fused: forward and backward
    work on channels-last columns, so the matmul and the window copies run over contiguous rows).

    cols = im2col(X)            (N*OH*OW, KH*KW*C)       one row per output pixel
    Y    = cols @ Wmat + b      (N*OH*OW, KH*KW*C) @ (KH*KW*C, OC) -> (N*OH*OW, OC) -> (N, OC, OH, OW)
    dL/dW = colsᵀ @ dY          (KH*KW*C, N*OH*OW) @ (N*OH*OW, OC)
    dL/dX = col2im(dY @ Wmatᵀ)  (N*OH*OW, OC) @ (OC, KH*KW*C), windows summed back into (N, C, H, W)
    dL/db = Σ_{n, oh, ow} dY
    With groups g, C and OC split into g blocks and each block is its own matmul (a batch of g).
    When a graph is being built (``create_graph=True``) the backward is written with the
    ``unfold``/``fold``/``matmul`` Tensor ops instead, so second derivatives work.
    """

    def forward(ctx, x, w, b, stride, pads, dilation, groups):
        xp = ctx.xp
        N, C, H, W = x.shape
        OC, Cg, KH, KW = w.shape
        ctx.conf = (stride, pads, dilation, groups)
        xt = x.transpose(0, 2, 3, 1)  # (N, H, W, C) view
        if any(lo or hi for lo, hi in pads):
            xt = _pad_spatial(xp, xt, pads, 0, axes=(1, 2))  # (N, Hp, Wp, C), contiguous
        elif not xt.flags.c_contiguous:
            xt = xp.ascontiguousarray(xt)
        win = sliding_windows(xt, (KH, KW), stride, dilation, axes=(1, 2))  # (N, OH, OW, C, KH, KW) view
        OH, OW = win.shape[1:3]
        L = OH * OW
        if Cg < 8:  # few channels: copying one kernel offset at a time beats one 7-D strided copy
            cols = xp.empty((groups, N, OH, OW, KH, KW, Cg), dtype=x.dtype)
            for i in range(KH):
                for j in range(KW):
                    block = win[..., i, j].reshape(N, OH, OW, groups, Cg)  # (N, OH, OW, g, C/g)
                    cols[:, :, :, :, i, j] = block.transpose(3, 0, 1, 2, 4)
            cols = cols.reshape(groups, N * L, KH * KW * Cg)  # (g, N*L, KH*KW*C/g)
        else:
            win = win.reshape(N, OH, OW, groups, Cg, KH, KW)  # splits C: still a view
            cols = win.transpose(3, 0, 1, 2, 5, 6, 4).reshape(groups, N * L, KH * KW * Cg)  # (g, N*L, KH*KW*C/g)
        y = cols @ _weight_matrix(w, groups)  # (g, N*L, KH*KW*C/g) @ (g, KH*KW*C/g, OC/g) -> (g, N*L, OC/g)
        y = y[0] if groups == 1 else y.transpose(1, 0, 2).reshape(N * L, OC)  # (N*L, OC)
        if b is not None:
            y += b
        ctx.save_for_backward(x, w, cols)
        return y.reshape(N, OH, OW, OC).transpose(0, 3, 1, 2)  # (N, OC, OH, OW), channels-last in memory

    def backward(ctx, dy):
        x, w, cols = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if is_grad_enabled():
            dx, dw = _conv2d_backward_graph(dy, x, w, *ctx.conf, need_x, need_w)
            return dx, dw, (dy.sum((0, 2, 3)) if need_b else None), None, None, None, None
        stride, pads, g = ctx.conf[0], ctx.conf[1], ctx.conf[3]
        OC, Cg, KH, KW = w.shape
        N, _, OH, OW = dy.shape
        dmat = dy.data.transpose(0, 2, 3, 1).reshape(N * OH * OW, g, OC // g).transpose(1, 0, 2)  # (g, N*L, OC/g)
        dx = dw = db = None
        if need_b:  # Σ over the N*L rows, as a product with ones (BLAS sums rows faster than a reduction)
            db = Tensor._make((ctx.xp.ones(dmat.shape[1], dtype=dmat.dtype) @ dmat).reshape(OC), False)
        if need_w:
            dw = cols.data.transpose(0, 2, 1) @ dmat  # (g, KH*KW*C/g, N*L) @ (g, N*L, OC/g) -> (g, KH*KW*C/g, OC/g)
            dw = dw.reshape(g, KH, KW, Cg, OC // g).transpose(0, 4, 3, 1, 2).reshape(OC, Cg, KH, KW)
            dw = Tensor._make(dw, False)
        if need_x:
            dx = Tensor._make(_conv2d_input_grad(ctx.xp, dmat, w.data, x.shape, stride, pads, ctx.conf[2]), False)
        return dx, dw, db, None, None, None, None


def _conv2d_input_grad(xp, dmat, w, shape, stride, pads, dilation):
    """dL/dX = col2im(dY @ Wmatᵀ) on arrays, channels-last: the columns are made one kernel
    offset at a time, so each offset's block is contiguous and is added with one slice-add."""
    N, C, H, W = shape
    g = dmat.shape[0]
    OC, Cg, KH, KW = w.shape
    (sh, sw), ((pt, pb), (pl, pr)), (dh, dw) = stride, pads, dilation
    OH = (H + pt + pb - dh * (KH - 1) - 1) // sh + 1
    OW = (W + pl + pr - dw * (KW - 1) - 1) // sw + 1
    wk = xp.ascontiguousarray(w.reshape(g, OC // g, Cg, KH * KW).transpose(0, 3, 1, 2))  # (g, KH*KW, OC/g, C/g)
    # (g, 1, N*L, OC/g) @ (g, KH*KW, OC/g, C/g) -> (g, KH*KW, N*L, C/g)
    dcols = dmat.reshape(g, 1, N * OH * OW, OC // g) @ wk
    dxt = xp.zeros((N, H + pt + pb, W + pl + pr, g, Cg), dtype=dcols.dtype)  # channels-last, padded
    for k in range(KH * KW):
        i, j = divmod(k, KW)
        rows = slice(i * dh, i * dh + sh * (OH - 1) + 1, sh)
        columns = slice(j * dw, j * dw + sw * (OW - 1) + 1, sw)
        block = dcols[:, k].reshape(g, N, OH, OW, Cg)  # (g, N, OH, OW, C/g)
        dxt[:, rows, columns] += block[0, :, :, :, None] if g == 1 else block.transpose(1, 2, 3, 0, 4)
    return dxt[:, pt : pt + H, pl : pl + W].reshape(N, H, W, C).transpose(0, 3, 1, 2)  # (N, C, H, W)


def _conv2d_backward_graph(dy, x, w, stride, pads, dilation, g, need_x, need_w):
    """dL/dX and dL/dW of Y = W * X from Tensor ops (unfold, fold, matmul), differentiable again."""
    N, C, H, W = x.shape
    OC, Cg, KH, KW = w.shape
    OH, OW = dy.shape[2:]
    L, K = OH * OW, Cg * KH * KW
    dmat = dy.permute(0, 2, 3, 1).reshape(N * L, g, OC // g).permute(1, 0, 2)  # (g, N*L, OC/g)
    dx = dw = None
    if need_w:
        cols = Unfold.apply(x, (KH, KW), dilation, pads, stride)  # (N, C*KH*KW, L)
        cols = cols.reshape(N, g, K, L).permute(1, 0, 3, 2).reshape(g, N * L, K)  # (g, N*L, C/g*KH*KW)
        dw = (dmat.mT @ cols).reshape(OC, Cg, KH, KW)  # (g, OC/g, N*L) @ (g, N*L, K) -> (g, OC/g, K)
    if need_x:
        dcols = dmat @ w.reshape(g, OC // g, K)  # (g, N*L, OC/g) @ (g, OC/g, K) -> (g, N*L, K)
        dcols = dcols.reshape(g, N, L, K).permute(1, 0, 3, 2).reshape(N, C * KH * KW, L)  # (N, C*KH*KW, L)
        dx = Fold.apply(dcols, (H, W), (KH, KW), dilation, pads, stride)  # (N, C, H, W)
    return dx, dw


def _conv_args(op, input, weight, bias, stride, padding, dilation, groups, nd):
    """Check a convolution's arguments; returns (stride, pads, dilation) as tuples of ``nd``."""
    names = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        kinds = f"{type(input).__name__} and {type(weight).__name__}"
        raise TypeError(f"{op}: input and weight must be Tensors, got {kinds}")
    if input.ndim not in (nd + 1, nd + 2):
        raise ValueError(
            f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched {names}) input, got shape {input.shape}"
        )
    if weight.ndim != nd + 2:
        raise ValueError(
            f"{op}: expected a {nd + 2}-D weight (out_channels, in_channels / groups, kernel...), "
            f"got shape {weight.shape}"
        )
    if not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    OC, Cg = weight.shape[:2]
    C = input.shape[-nd - 1]
    if OC % groups:
        raise ValueError(
            f"{op}: out_channels = weight.shape[0] = {OC} (weight of shape {weight.shape}) "
            f"is not divisible by groups={groups}"
        )
    if C != Cg * groups:
        raise ValueError(
            f"{op}: input of shape {input.shape} has {C} channels, but weight of shape {weight.shape} "
            f"with groups={groups} expects in_channels = weight.shape[1] * groups = {Cg} * {groups} = {Cg * groups}"
        )
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != (OC,)):
        shape = bias.shape if hasattr(bias, "shape") else type(bias).__name__
        raise ValueError(f"{op}: bias must be a Tensor of shape ({OC},) (out_channels), got {shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != input.dtype:
            raise TypeError(f"{op}: input dtype {input.dtype} and {name} dtype {t.dtype} differ")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {input.dtype}")
    kernel = tuple(weight.shape[2:])
    stride = _ntuple(stride, nd, "stride", op)
    dilation = _ntuple(dilation, nd, "dilation", op)
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            pads = tuple((t // 2, t - t // 2) for t in totals)  # an odd total puts the extra row/column last
        else:
            raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    else:
        pads = tuple((p, p) for p in _ntuple(padding, nd, "padding", op, minimum=0))
    _check_fits(op, input.shape[-nd:], kernel, dilation, pads, padding)
    return stride, pads, dilation


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """2-D convolution (cross-correlation, as in PyTorch): Y = W * X + b.

    Y[n, o, oh, ow] = b[o] + Σ_{c, i, j} W[o, c, i, j] · X_pad[n, g(o)·C/g + c, oh·sh + i·dh, ow·sw + j·dw]

    Computed as one matmul of the unfolded input: with ``cols = unfold(X)`` of shape
    (N, C*KH*KW, OH*OW), Y = W.reshape(OC, C*KH*KW) @ cols + b, reshaped to (N, OC, OH, OW).

    input: (N, C, H, W) or unbatched (C, H, W); weight: (OC, C/groups, KH, KW); bias: (OC,).
    padding: int, pair, 'valid' (none) or 'same' (output size = input size; stride 1 only).
    """
    stride, pads, dilation = _conv_args("conv2d", input, weight, bias, stride, padding, dilation, groups, 2)
    if input.ndim == 3:
        return Conv2d.apply(input.unsqueeze(0), weight, bias, stride, pads, dilation, groups).squeeze(0)
    return Conv2d.apply(input, weight, bias, stride, pads, dilation, groups)


def conv2d_composed(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """Reference conv2d from primitives: unfold, then a (grouped) matmul, then + b.

    cols = unfold(X)                                   (N, g, C/g*KH*KW, L)
    Y    = W.reshape(g, OC/g, C/g*KH*KW) @ cols        (N, g, OC/g, L) -> (N, OC, OH, OW)
    """
    stride, pads, dilation = _conv_args("conv2d", input, weight, bias, stride, padding, dilation, groups, 2)
    x = input.unsqueeze(0) if input.ndim == 3 else input
    N = x.shape[0]
    OC, Cg, KH, KW = weight.shape
    g = groups
    OH, OW = _windows_count(x.shape[2:], (KH, KW), stride, pads, dilation)
    cols = Unfold.apply(x, (KH, KW), dilation, pads, stride)  # (N, C*KH*KW, L)
    cols = cols.reshape(N, g, Cg * KH * KW, OH * OW)  # (N, g, C/g*KH*KW, L)
    y = weight.reshape(g, OC // g, Cg * KH * KW) @ cols  # (g, OC/g, K) @ (N, g, K, L) -> (N, g, OC/g, L)
    y = y.reshape(N, OC, OH, OW)
    if bias is not None:
        y = y + bias.reshape(1, OC, 1, 1)
    return y.squeeze(0) if input.ndim == 3 else y


def _conv1d_as_2d(input, weight, stride, pads, dilation):
    x = input.unsqueeze(-2)  # (N, C, L) -> (N, C, 1, L)
    w = weight.unsqueeze(-2)  # (OC, C/g, K) -> (OC, C/g, 1, K)
    return x, w, (1,) + stride, ((0, 0),) + pads, (1,) + dilation


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """1-D convolution, y = W * x + b: ``conv2d`` on a dummy height of 1.

    input: (N, C, L) or unbatched (C, L); weight: (OC, C/groups, K); bias: (OC,)  ->  (N, OC, OL)."""
    stride, pads, dilation = _conv_args("conv1d", input, weight, bias, stride, padding, dilation, groups, 1)
    x, w, stride, pads, dilation = _conv1d_as_2d(input, weight, stride, pads, dilation)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    y = Conv2d.apply(x, w, bias, stride, pads, dilation, groups)  # (N, OC, 1, OL)
    y = y.squeeze(2)
    return y.squeeze(0) if input.ndim == 2 else y


# ---- pooling -----------------------------------------------------------------------------
def _pool_args(op, input, kernel_size, stride, padding, dilation, ceil_mode, nd=2):
    """Check pooling arguments; returns (kernel, stride, pads, dilation, out_size) with the
    padding widened on the right/bottom so that ceil_mode's last window fits."""
    if input.ndim not in (nd + 1, nd + 2):
        raise ValueError(
            f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, got shape {input.shape}"
        )
    kernel = _ntuple(kernel_size, nd, "kernel_size", op)
    stride = kernel if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else stride
    stride = _ntuple(stride, nd, "stride", op)
    padding = _ntuple(padding, nd, "padding", op, minimum=0)
    dilation = _ntuple(dilation, nd, "dilation", op)
    size = tuple(input.shape[-nd:])
    pads, out = [], []
    for n, k, s, p, d in zip(size, kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        if p > k // 2:  # PyTorch's limit, whatever the dilation
            raise ValueError(f"{op}: padding {padding} should be at most half of kernel_size {kernel}")
        o = (n + 2 * p - span + ((s - 1) if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= n + p:  # the last window must start inside the input or left padding
            o -= 1
        if o < 1:
            raise ValueError(
                f"{op}: kernel size {kernel} (dilated: {tuple(dd * (kk - 1) + 1 for kk, dd in zip(kernel, dilation))}) "
                f"is larger than the padded input size {tuple(m + 2 * q for m, q in zip(size, padding))} "
                f"(input size {size}, padding {padding})"
            )
        pads.append((p, p + max(0, (o - 1) * s + span - (n + 2 * p))))
        out.append(o)
    return kernel, stride, tuple(pads), dilation, tuple(out)


def _first_max_hits(xp, win, y):
    """For each window offset k = i·KW + j, a bool mask (N, C, OH, OW) of the windows whose
    first maximum sits at offset k (PyTorch's choice among ties; a NaN counts as the maximum).
    The mask is one buffer, overwritten for the next offset: use (or copy) it before then.

    win: (N, C, OH, OW, KH, KW) view, y: (N, C, OH, OW) the window maxima."""
    KH, KW = win.shape[-2:]
    # one pass without a temporary: a NaN makes the sum NaN (so can inf − inf, which only costs the slower path)
    nan = y.dtype.kind == "f" and bool(xp.isnan(y.sum()))
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


class MaxPool2d(Function):
    """Y[n, c, oh, ow] = max over the window (i, j) of X_pad[n, c, oh·sh + i·dh, ow·sw + j·dw]
    (padding with −inf; the first maximum in a window wins ties, as in PyTorch).

    X: (N, C, H, W)  ->  Y: (N, C, OH, OW)
    dL/dX[n, c, h, w] = Σ over the windows whose maximum is X[n, c, h, w] of dL/dY
                      = fold(onehot(argmax) · dL/dY)
    The max is a running ``maximum`` over the KH·KW offsets of a strided view of the windows
    (no copy of them); the backward finds each window's first maximum again by comparison.
    """

    def forward(ctx, x, kernel_size, stride, pads, dilation, indices_out=None):
        xp = ctx.xp
        KH, KW = kernel_size
        low = -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
        xpad = _pad_spatial(xp, x, pads, low)
        win = sliding_windows(xpad, kernel_size, stride, dilation, axes=(2, 3))  # (N, C, OH, OW, KH, KW) view
        y = win[..., 0, 0].copy(order="K")  # (N, C, OH, OW), in the memory order of x
        for k in range(1, KH * KW):
            xp.maximum(y, win[..., k // KW, k % KW], out=y)  # maximum() keeps NaNs, as PyTorch does
        ctx.conf = (x.shape, kernel_size, stride, pads, dilation)
        ctx.padded = xpad if xpad is not x else None
        ctx.save_for_backward(x, y)
        if indices_out is not None:  # a list to receive return_indices' answer
            indices_out.append(_max_indices(xp, win, y, x.shape[3], stride, pads, dilation))
        return y

    def backward(ctx, dy):
        x, y = ctx.saved_tensors
        shape, kernel_size, stride, pads, dilation = ctx.conf
        N, C, H, W = shape
        KH, KW = kernel_size
        OH, OW = dy.shape[2:]
        xp = ctx.xp
        xpad = x.data if ctx.padded is None else ctx.padded
        win = sliding_windows(xpad, kernel_size, stride, dilation, axes=(2, 3))  # (N, C, OH, OW, KH, KW)
        hits = _first_max_hits(xp, win, y.data)
        if is_grad_enabled():  # the same scatter from Tensor ops: fold(onehot · dY), linear in dY
            onehot = xp.stack([hit.copy() for _, hit in hits], axis=2).astype(dy.dtype)  # (N, C, KH*KW, OH, OW)
            dcols = dy.reshape(N, C, 1, OH, OW) * Tensor._make(onehot, False)
            dcols = dcols.reshape(N, C * KH * KW, OH * OW)  # (N, C*KH*KW, L)
            return Fold.apply(dcols, (H, W), kernel_size, dilation, pads, stride), None, None, None, None, None
        (sh, sw), ((pt, _), (pl, _)), (dh, dw) = stride, pads, dilation
        overlap = sh < dh * (KH - 1) + 1 or sw < dw * (KW - 1) + 1
        covered = not overlap and (sh, sw) == (KH, KW) and (OH * sh, OW * sw) == xpad.shape[2:]
        g = dy.data
        if g.strides != y.data.strides:  # e.g. NCHW from a flatten while x is channels-last
            g = _like(xp, g, y.data)
        # windows that tile the input exactly write every pixel once: no zero fill needed
        dx = xp.empty_like(xpad, dtype=g.dtype) if covered else xp.zeros_like(xpad, dtype=g.dtype)
        for k, hit in hits:
            i, j = divmod(k, KW)
            view = dx[:, :, i * dh : i * dh + sh * (OH - 1) + 1 : sh, j * dw : j * dw + sw * (OW - 1) + 1 : sw]
            if overlap:
                view += g * hit
            else:
                xp.multiply(g, hit, out=view)
        return Tensor._make(dx[:, :, pt : pt + H, pl : pl + W], False), None, None, None, None, None


def _like(xp, a, layout):
    """A copy of ``a`` in the memory order of ``layout`` (an array of the same shape)."""
    out = xp.empty_like(layout, dtype=a.dtype)
    out[...] = a
    return out


def _max_indices(xp, win, y, W, stride, pads, dilation):
    """Flat indices h·W + w into each (H, W) input plane of every window's first maximum (int64)."""
    (sh, sw), ((pt, _), (pl, _)), (dh, dw) = stride, pads, dilation
    KW = win.shape[-1]
    OH, OW = y.shape[2:]
    arg = xp.zeros(y.shape, dtype=xp.int64)  # the winning offset k = i·KW + j
    for k, hit in _first_max_hits(xp, win, y):
        if k:
            arg += hit * k
    rows = xp.arange(OH, dtype=xp.int64).reshape(OH, 1) * sh - pt + (arg // KW) * dh
    cols = xp.arange(OW, dtype=xp.int64) * sw - pl + (arg % KW) * dw
    return rows * W + cols


def max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False  # noqa: A002
):
    """Largest value of every window: Y[n, c, oh, ow] = max_{i, j} X_pad[n, c, oh·sh + i·dh, ow·sw + j·dw].

    input: (N, C, H, W) or (C, H, W); stride defaults to kernel_size; padding counts as −inf.
    With ``return_indices`` also returns the flat index h·W + w of each maximum (int64)."""
    kernel, stride, pads, dilation, _ = _pool_args(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
    )
    x = input.unsqueeze(0) if input.ndim == 3 else input
    found = [] if return_indices else None
    y = MaxPool2d.apply(x, kernel, stride, pads, dilation, found)
    if not return_indices:
        return y.squeeze(0) if input.ndim == 3 else y
    idx = Tensor._make(found[0], False)
    return (y.squeeze(0), idx.squeeze(0)) if input.ndim == 3 else (y, idx)


def max_pool2d_composed(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):  # noqa: A002
    """Reference max-pool from primitives: pad with −inf, unfold, max over the window axis.

    cols = unfold(pad(X, −inf))      (N, C, KH*KW, L)
    Y    = amax(cols, dim=2)         (N, C, L) -> (N, C, OH, OW)
    """
    kernel, stride, pads, dilation, (OH, OW) = _pool_args(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
    )
    x = input.unsqueeze(0) if input.ndim == 3 else input
    N, C = x.shape[:2]
    (pt, pb), (pl, pr) = pads
    if pt or pb or pl or pr:
        x = _pad(x, (pl, pr, pt, pb), value=float("-inf"))
    cols = Unfold.apply(x, kernel, dilation, ((0, 0), (0, 0)), stride)  # (N, C*KH*KW, L)
    y = amax(cols.reshape(N, C, kernel[0] * kernel[1], OH * OW), dim=2).reshape(N, C, OH, OW)
    return y.squeeze(0) if input.ndim == 3 else y


def _window_counts(xp, size, kernel, stride, pads, region):
    """How many cells of each window lie inside ``region`` (rows, columns) of the padded input
    (an (OH, OW) array): the divisors of average pooling."""
    (H, W), ((pt, pb), (pl, pr)) = size, pads
    inside = xp.zeros((H + pt + pb, W + pl + pr), dtype=xp.float64)
    inside[region] = 1.0
    windows = sliding_windows(inside, kernel, stride, (1, 1), axes=(0, 1))  # (OH, OW, KH, KW)
    return windows.sum(axis=(2, 3))


def avg_pool2d(
    input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None  # noqa: A002
):
    """Mean of every window: Y = Σ_window X_pad / divisor, from unfold + sum (linear, so its
    backward is fold of dY / divisor).

    divisor: ``divisor_override`` if given; else the window's cells inside the zero-padded input
    (``count_include_pad=True``) or inside the input itself (False). Windows that ceil_mode adds
    past the padding never count the cells beyond it.
    input: (N, C, H, W) or (C, H, W)  ->  (N, C, OH, OW) or (C, OH, OW)."""
    kernel, stride, pads, _, (OH, OW) = _pool_args(
        "avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode
    )
    x = input.unsqueeze(0) if input.ndim == 3 else input
    N, C, H, W = x.shape
    xp = get_array_module(x.data)
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError("avg_pool2d: divisor_override must not be zero")
        divisor = float(divisor_override)
    else:
        (pt, pb), (pl, pr) = pads
        if count_include_pad:  # the input and its symmetric padding, not ceil_mode's extra cells
            region = (slice(0, H + 2 * pt), slice(0, W + 2 * pl))
        else:
            region = (slice(pt, pt + H), slice(pl, pl + W))
        counts = _window_counts(xp, (H, W), kernel, stride, pads, region)  # (OH, OW)
        divisor = Tensor._make(counts.astype(x.dtype), False)
    cols = Unfold.apply(x, kernel, (1, 1), pads, stride)  # (N, C*KH*KW, L)
    y = cols.reshape(N, C, kernel[0] * kernel[1], OH, OW).sum(2) / divisor  # (N, C, OH, OW)
    return y.squeeze(0) if input.ndim == 3 else y


def _adaptive_matrix(xp, n_in, n_out, dtype):
    """A (n_out, n_in) averaging matrix: row i averages input cells floor(i·n/o) .. ceil((i+1)·n/o) − 1."""
    i = xp.arange(n_out).reshape(n_out, 1)
    start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
    cells = xp.arange(n_in).reshape(1, n_in)
    return (((cells >= start) & (cells < end)) / (end - start)).astype(dtype)


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """Average pooling to a fixed output size (OH, OW), as ``torch.nn.functional.adaptive_avg_pool2d``.

    Output cell (i, j) averages rows floor(i·H/OH) .. ceil((i+1)·H/OH) − 1 and the columns likewise,
    so Y = A_H @ X @ A_Wᵀ with averaging matrices A_H: (OH, H), A_W: (OW, W);
    ``output_size`` 1 is the global mean over (H, W). ``None`` in output_size keeps that size."""
    if input.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected a 3-D or 4-D input, got shape {input.shape}")
    H, W = input.shape[-2:]
    if output_size is None or isinstance(output_size, numbers.Integral):
        output_size = (output_size, output_size)
    if len(output_size) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}")
    OH, OW = (n if o is None else o for n, o in zip((H, W), output_size))
    if not all(isinstance(o, numbers.Integral) and o >= 1 for o in (OH, OW)):
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size!r}")
    if H == 0 or W == 0:
        raise ValueError(f"adaptive_avg_pool2d: input of shape {input.shape} has an empty spatial dim")
    if (OH, OW) == (1, 1):
        return mean(input, dim=(-2, -1), keepdim=True)
    if H % OH == 0 and W % OW == 0:  # equal, non-overlapping windows
        return avg_pool2d(input, (H // OH, W // OW))
    xp = get_array_module(input.data)
    a_h = Tensor._make(_adaptive_matrix(xp, H, OH, input.dtype), False)  # (OH, H)
    a_w = Tensor._make(_adaptive_matrix(xp, W, OW, input.dtype), False)  # (OW, W)
    return a_h @ input @ a_w.mT  # (OH, H) @ (..., H, W) @ (W, OW) -> (..., OH, OW)


def _pool1d(pool2d, op, input, kernel_size, stride, padding, **kwargs):
    """A 1-D pooling as the 2-D one on a dummy height of 1: (N, C, L) -> (N, C, 1, L)."""
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 2-D (unbatched) or 3-D (batched) input, got shape {input.shape}")
    k = _ntuple(kernel_size, 1, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else stride
    s = _ntuple(s, 1, "stride", op)
    p = _ntuple(padding, 1, "padding", op, minimum=0)
    out = pool2d(input.unsqueeze(-2), (1,) + k, (1,) + s, (0,) + p, **kwargs)
    if isinstance(out, tuple):
        return tuple(o.squeeze(-2) for o in out)
    return out.squeeze(-2)


def max_pool1d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False  # noqa: A002
):
    """Largest value of every window along the last dim: (N, C, L) -> (N, C, OL); see max_pool2d."""
    d = _ntuple(dilation, 1, "dilation", "max_pool1d")
    return _pool1d(
        max_pool2d, "max_pool1d", input, kernel_size, stride, padding,
        dilation=(1,) + d, ceil_mode=ceil_mode, return_indices=return_indices,
    )


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):  # noqa: A002
    """Mean of every window along the last dim: (N, C, L) -> (N, C, OL); see avg_pool2d."""
    return _pool1d(
        avg_pool2d, "avg_pool1d", input, kernel_size, stride, padding,
        ceil_mode=ceil_mode, count_include_pad=count_include_pad,
    )


def adaptive_avg_pool1d(input, output_size):  # noqa: A002
    """Average pooling along the last dim to ``output_size`` cells: (N, C, L) -> (N, C, output_size)."""
    if input.ndim not in (2, 3):
        raise ValueError(f"adaptive_avg_pool1d: expected a 2-D or 3-D input, got shape {input.shape}")
    o = _ntuple(output_size, 1, "output_size", "adaptive_avg_pool1d")
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1,) + o).squeeze(-2)
