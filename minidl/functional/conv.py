"""Convolution and pooling, y = f(W * X + b), written from their equations (NCHW, PyTorch signatures).

notebooks/02_convolution.ipynb derives each of them. Two primitives with a hand-written backward
carry everything: ``unfold`` (im2col) copies every KH×KW window of the input into a column, and
``fold`` (col2im) adds columns back into an image, summing where windows overlap. fold is
unfold's adjoint, so each is the other's backward. With the input unfolded, a convolution is one
matrix product and pooling is a reduction over the window axis:

    cols = unfold(X)                       # (N, C*KH*KW, L),  L = OH*OW
    Y    = W.reshape(OC, C*KH*KW) @ cols   # (N, OC, L)  ->  reshape (N, OC, OH, OW)
    Y    = Y + b                           # b: (OC,) broadcast over N, OH, OW

Their backwards follow from autograd through these ops. Window counts along each spatial dim:
O = floor((S + p_lo + p_hi − d·(K − 1) − 1) / s) + 1.

``conv2d`` and ``max_pool2d`` are ``@reference_op``s: a faster kernel (``minidl/kernels/conv.py``)
may run instead for the shapes where it wins; ``minidl.reference_mode()`` always runs the code here.
The argument checks (``check_conv_args``, ``check_pool_args``) serve the kernels too.
"""

from __future__ import annotations

import numbers

from ..autograd import Function
from ..backend import get_array_module, sliding_windows
from ..dispatch import reference_op
from ..tensor import Tensor
from .reduce import mean
from .shape import pad as _pad


# ---- argument checks, shared with the kernels -------------------------------------------------
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


def count_windows(size, kernel, stride, pads, dilation):
    """Window counts (OH, OW) of a (H, W) input padded by ``pads = ((top, bottom), (left, right))``."""
    return tuple(
        (n + lo + hi - d * (k - 1) - 1) // s + 1 for n, k, s, (lo, hi), d in zip(size, kernel, stride, pads, dilation)
    )


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


def _check_conv_tensors(op, input, weight, bias, groups, nd):  # noqa: A002
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
    (OC, Cg), C = weight.shape[:2], input.shape[-nd - 1]
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


def check_conv_args(op, input, weight, bias, stride, padding, dilation, groups, nd=2):  # noqa: A002
    """Check a convolution's arguments as PyTorch does, with errors naming ``op`` and the shapes.
    Returns (stride, pads, dilation): tuples of ``nd``, pads as (before, after) pairs."""
    _check_conv_tensors(op, input, weight, bias, groups, nd)
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


def check_pool_args(op, input, kernel_size, stride, padding, dilation, ceil_mode, nd=2):  # noqa: A002
    """Check pooling arguments; returns (kernel, stride, pads, dilation, out_size), the padding
    widened on the bottom/right so that ceil_mode's last window fits."""
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
            spans = tuple(dd * (kk - 1) + 1 for kk, dd in zip(kernel, dilation))
            raise ValueError(
                f"{op}: kernel size {kernel} (dilated: {spans}) is larger than the padded input size "
                f"{tuple(m + 2 * q for m, q in zip(size, padding))} (input size {size}, padding {padding})"
            )
        pads.append((p, p + max(0, (o - 1) * s + span - (n + 2 * p))))
        out.append(o)
    return kernel, stride, tuple(pads), dilation, tuple(out)


# ---- the two primitives: unfold and its adjoint fold -------------------------------------------
class Unfold(Function):
    """im2col: every KH×KW window of the (zero-padded) input as a column.

    cols[n, c·KH·KW + i·KW + j, oh·OW + ow] = X_pad[n, c, oh·sh + i·dh, ow·sw + j·dw]
    X: (N, C, H, W)  ->  cols: (N, C*KH*KW, L), L = OH*OW
    dL/dX = fold(dL/dcols)   (each pixel collects the gradients of every column it was copied to)

    The windows are a strided view of the padded input (no copy); one transposing copy lays
    them out as columns.
    """

    def forward(ctx, x, kernel_size, dilation, pads, stride):
        ctx.conf = (x.shape[2:], kernel_size, dilation, pads, stride)
        if any(lo or hi for lo, hi in pads):
            x = ctx.xp.pad(x, ((0, 0), (0, 0)) + tuple(pads))  # (N, C, H+pt+pb, W+pl+pr), zeros around
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
    dL/dcols = unfold(dL/dY)   (a linear map's backward is its adjoint)

    A loop over the KH·KW kernel offsets; each adds a strided slice of the padded image at once.
    """

    def forward(ctx, cols, size, kernel_size, dilation, pads, stride):
        ctx.conf = (kernel_size, dilation, pads, stride)
        (H, W), (KH, KW), (dh, dw), ((pt, pb), (pl, pr)), (sh, sw) = size, kernel_size, dilation, pads, stride
        OH, OW = count_windows(size, kernel_size, stride, pads, dilation)
        N, CKK, _ = cols.shape
        cols = cols.reshape(N, CKK // (KH * KW), KH, KW, OH, OW)  # (N, C, KH, KW, OH, OW)
        out = ctx.xp.zeros((N, CKK // (KH * KW), H + pt + pb, W + pl + pr), dtype=cols.dtype)  # (N, C, Hp, Wp)
        for i in range(KH):
            for j in range(KW):
                rows = slice(i * dh, i * dh + sh * (OH - 1) + 1, sh)
                columns = slice(j * dw, j * dw + sw * (OW - 1) + 1, sw)
                out[:, :, rows, columns] += cols[:, :, i, j]  # (N, C, OH, OW)
        return out[:, :, pt : pt + H, pl : pl + W]

    def backward(ctx, dy):
        return Unfold.apply(dy, *ctx.conf), None, None, None, None, None


def _spatial_args(op, kernel_size, dilation, padding, stride):
    kernel = _ntuple(kernel_size, 2, "kernel_size", op)
    dilation = _ntuple(dilation, 2, "dilation", op)
    padding = _ntuple(padding, 2, "padding", op, minimum=0)
    stride = _ntuple(stride, 2, "stride", op)
    return kernel, dilation, tuple((p, p) for p in padding), stride


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002 - PyTorch's names
    """Sliding windows as columns (im2col), like ``torch.nn.functional.unfold``; see ``Unfold``.
    notebooks/02_convolution.ipynb, section 2 (unfold + matmul).

    input: (N, C, H, W) or unbatched (C, H, W)  ->  (N, C*KH*KW, L) or (C*KH*KW, L), L = OH*OW."""
    if input.ndim not in (3, 4):
        raise ValueError(f"unfold: expected a 3-D (unbatched) or 4-D (batched) input, got shape {input.shape}")
    kernel, dilation, pads, stride = _spatial_args("unfold", kernel_size, dilation, padding, stride)
    _check_fits("unfold", input.shape[-2:], kernel, dilation, pads)
    if input.ndim == 3:
        return Unfold.apply(input.unsqueeze(0), kernel, dilation, pads, stride).squeeze(0)
    return Unfold.apply(input, kernel, dilation, pads, stride)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """Columns summed back into an image (col2im), like ``torch.nn.functional.fold``; see ``Fold``.
    notebooks/02_convolution.ipynb, section 5 (the backward of a convolution).

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
    OH, OW = count_windows(size, kernel, stride, pads, dilation)
    if L != OH * OW:
        raise ValueError(
            f"fold: output_size={size}, kernel_size={kernel}, dilation={dilation}, padding={padding}, "
            f"stride={stride} give {OH} * {OW} = {OH * OW} sliding blocks, but the input of shape {input.shape} has {L}"
        )
    if input.ndim == 2:
        return Fold.apply(input.unsqueeze(0), size, kernel, dilation, pads, stride).squeeze(0)
    return Fold.apply(input, size, kernel, dilation, pads, stride)


# ---- convolution -------------------------------------------------------------------------------
@reference_op
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """2-D convolution (cross-correlation, as in PyTorch): Y = W * X + b.
    notebooks/02_convolution.ipynb, sections 1-3 (the loop, unfold + matmul, stride/padding/groups).

    Y[n, o, oh, ow] = b[o] + Σ_{c, i, j} W[o, c, i, j] · X_pad[n, g(o)·C/g + c, oh·sh + i·dh, ow·sw + j·dw]

    As one matrix product of the unfolded input, a batch of ``groups`` products (group k sees
    input channels k·C/g .. (k+1)·C/g − 1 and makes output channels k·OC/g .. (k+1)·OC/g − 1):

        cols = unfold(X)                        (N, g, C/g*KH*KW, L)
        Y    = W.reshape(g, OC/g, C/g*KH*KW) @ cols + b      (N, g, OC/g, L) -> (N, OC, OH, OW)
        dL/dW = Σ_n dY @ colsᵀ      dL/dX = fold(Wᵀ @ dY)      dL/db = Σ_{n, oh, ow} dY

    (the backward is autograd's, through matmul and unfold; section 5 writes it as convolutions).
    input: (N, C, H, W) or unbatched (C, H, W); weight: (OC, C/groups, KH, KW); bias: (OC,).
    padding: int, pair, 'valid' (none) or 'same' (output size = input size; stride 1 only).
    """
    stride, pads, dilation = check_conv_args("conv2d", input, weight, bias, stride, padding, dilation, groups)
    x = input.unsqueeze(0) if input.ndim == 3 else input  # (N, C, H, W)
    N, C, H, W = x.shape
    OC, Cg, KH, KW = weight.shape
    g = groups
    OH, OW = count_windows((H, W), (KH, KW), stride, pads, dilation)
    cols = Unfold.apply(x, (KH, KW), dilation, pads, stride)  # (N, C*KH*KW, OH*OW)
    cols = cols.reshape(N, g, Cg * KH * KW, OH * OW)  # (N, g, C/g*KH*KW, OH*OW)
    w = weight.reshape(g, OC // g, Cg * KH * KW)  # (g, OC/g, C/g*KH*KW)
    y = (w @ cols).reshape(N, OC, OH, OW)  # (g, OC/g, K) @ (N, g, K, L) -> (N, g, OC/g, L) -> (N, OC, OH, OW)
    if bias is not None:
        y = y + bias.reshape(1, OC, 1, 1)  # (N, OC, OH, OW) + (1, OC, 1, 1)
    return y.squeeze(0) if input.ndim == 3 else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """1-D convolution, y = W * x + b: ``conv2d`` on a dummy height of 1.
    notebooks/02_convolution.ipynb, section 3.

    y[n, o, t] = b[o] + Σ_{c, k} W[o, c, k] · x_pad[n, g(o)·C/g + c, t·s + k·d]
    input: (N, C, L) or unbatched (C, L); weight: (OC, C/groups, K); bias: (OC,)  ->  (N, OC, OL)."""
    (s,), _, (d,) = check_conv_args("conv1d", input, weight, bias, stride, padding, dilation, groups, nd=1)
    if not isinstance(padding, str):
        padding = (0, _ntuple(padding, 1, "padding", "conv1d", minimum=0)[0])
    x = input.unsqueeze(-2)  # (N, C, L) -> (N, C, 1, L)
    w = weight.unsqueeze(-2)  # (OC, C/g, K) -> (OC, C/g, 1, K)
    return conv2d(x, w, bias, (1, s), padding, (1, d), groups).squeeze(-2)  # (N, OC, 1, OL) -> (N, OC, OL)


# ---- pooling -----------------------------------------------------------------------------------
def _max_pool_indices(xp, k, kernel_size, stride, pads, dilation, width):
    """Flat index h·W + w into each (H, W) input plane of every window's maximum, from ``k``,
    the window offset i·KW + j of the maximum: h = oh·sh − p_top + i·dh, w = ow·sw − p_left + j·dw.
    k: (..., OH, OW) integers  ->  int64 of the same shape."""
    (sh, sw), ((pt, _), (pl, _)), (dh, dw), KW = stride, pads, dilation, kernel_size[1]
    OH, OW = k.shape[-2:]
    rows = xp.arange(OH, dtype=xp.int64).reshape(OH, 1) * sh - pt + (k // KW) * dh  # (..., OH, OW)
    cols = xp.arange(OW, dtype=xp.int64) * sw - pl + (k % KW) * dw  # (..., OH, OW)
    return rows * width + cols


def _first_maximum(xp, cols):
    """The offset k of each window's first maximum, PyTorch's choice among ties (a NaN counts as the
    maximum): cols (N, C, KK, L) -> k (N, C, 1, L). Equal to argmax over dim 2, computed as
    k = KK − max_j (KK − j)·[cols_j is a maximum], which is one fast reduction (argmax over a
    middle axis copies and loops over every window)."""
    KK = cols.shape[2]
    top = cols.max(axis=2, keepdims=True)  # (N, C, 1, L), NaN where the window has a NaN
    is_max = (cols == top) | xp.isnan(cols)  # (N, C, KK, L)
    rank = xp.arange(KK, 0, -1).reshape(KK, 1)  # (KK, 1): KK, KK−1, ..., 1, earlier offsets rank higher
    return KK - (is_max * rank).max(axis=2, keepdims=True)  # (N, C, 1, L)


@reference_op
def max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False  # noqa: A002
):
    """Largest value of every window, unfold + max. notebooks/02_convolution.ipynb, section 4.

    Y[n, c, oh, ow] = max_{i, j} X_pad[n, c, oh·sh + i·dh, ow·sw + j·dw]     (padding counts as −inf)

        cols   = unfold(pad(X, −inf))                (N, C, KH*KW, L)
        k      = argmax(cols, dim=2)                 (N, C, 1, L)   each window's first maximum
        Y      = Σ_j [j = k] · cols_j                (N, C, L) -> (N, C, OH, OW)
        dL/dX  = fold([j = k] · dY)                  each window's gradient goes to its maximum

    The first maximum of a window wins ties and a NaN wins, as in PyTorch (a tie does not share
    the gradient, as ``amax`` would). stride defaults to kernel_size. With ``return_indices``
    also returns the flat index h·W + w of each maximum (int64).
    input: (N, C, H, W) or (C, H, W)  ->  (N, C, OH, OW) or (C, OH, OW)."""
    kernel, stride, pads, dilation, (OH, OW) = check_pool_args(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
    )
    x = input.unsqueeze(0) if input.ndim == 3 else input  # (N, C, H, W)
    N, C, H, W = x.shape
    KK = kernel[0] * kernel[1]
    (pt, pb), (pl, pr) = pads
    if pt or pb or pl or pr:
        x = _pad(x, (pl, pr, pt, pb), value=float("-inf"))  # (N, C, H+pt+pb, W+pl+pr)
    cols = Unfold.apply(x, kernel, dilation, ((0, 0), (0, 0)), stride)  # (N, C*KH*KW, L)
    cols = cols.reshape(N, C, KK, OH * OW)  # (N, C, KH*KW, L)
    xp = get_array_module(cols.array)
    k = _first_maximum(xp, cols.array)  # (N, C, 1, L), a constant of the graph
    first = Tensor._make(xp.arange(KK).reshape(KK, 1) == k, False)  # (N, C, KH*KW, L): [j = k]
    y = cols.where(first, 0.0).sum(2).reshape(N, C, OH, OW)  # (N, C, KH*KW, L) -> (N, C, OH, OW)
    y = y.squeeze(0) if input.ndim == 3 else y
    if not return_indices:
        return y
    k = k.reshape(y.shape)
    return y, Tensor._make(_max_pool_indices(xp, k, kernel, stride, pads, dilation, W), False)


def _cells_inside_windows(xp, size, kernel, stride, pads, region):
    """How many cells of each window lie inside ``region`` (rows, columns) of the padded input:
    the divisors of average pooling, (OH, OW)."""
    (H, W), ((pt, pb), (pl, pr)) = size, pads
    inside = xp.zeros((H + pt + pb, W + pl + pr), dtype=xp.float64)
    inside[region] = 1.0
    windows = sliding_windows(inside, kernel, stride, (1, 1), axes=(0, 1))  # (OH, OW, KH, KW)
    return windows.sum(axis=(2, 3))


def avg_pool2d(
    input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None  # noqa: A002
):
    """Mean of every window, unfold + sum. notebooks/02_convolution.ipynb, section 4.

    Y[n, c, oh, ow] = Σ_{i, j} X_pad[n, c, oh·sh + i, ow·sw + j] / divisor[oh, ow]
    dL/dX = fold(dY / divisor)   (linear in X: autograd through sum and unfold)

    divisor: ``divisor_override`` if given; else the window's cells inside the zero-padded input
    (``count_include_pad=True``) or inside the input itself (False). Windows that ceil_mode adds
    past the padding never count the cells beyond it.
    input: (N, C, H, W) or (C, H, W)  ->  (N, C, OH, OW) or (C, OH, OW)."""
    kernel, stride, pads, _, (OH, OW) = check_pool_args("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    x = input.unsqueeze(0) if input.ndim == 3 else input  # (N, C, H, W)
    N, C, H, W = x.shape
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
        counts = _cells_inside_windows(get_array_module(x.array), (H, W), kernel, stride, pads, region)  # (OH, OW)
        divisor = Tensor._make(counts.astype(x.dtype), False)
    cols = Unfold.apply(x, kernel, (1, 1), pads, stride)  # (N, C*KH*KW, L)
    y = cols.reshape(N, C, kernel[0] * kernel[1], OH, OW).sum(2) / divisor  # (N, C, KH*KW, OH, OW) -> (N, C, OH, OW)
    return y.squeeze(0) if input.ndim == 3 else y


def _adaptive_matrix(xp, n_in, n_out, dtype):
    """A (n_out, n_in) averaging matrix: row i averages input cells floor(i·n/o) .. ceil((i+1)·n/o) − 1."""
    i = xp.arange(n_out).reshape(n_out, 1)
    start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
    cells = xp.arange(n_in).reshape(1, n_in)
    return (((cells >= start) & (cells < end)) / (end - start)).astype(dtype)


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """Average pooling to a fixed output size (OH, OW), as ``torch.nn.functional.adaptive_avg_pool2d``.
    notebooks/02_convolution.ipynb, section 4.

    Output cell (i, j) averages rows floor(i·H/OH) .. ceil((i+1)·H/OH) − 1 and the columns likewise:
    Y = A_H @ X @ A_Wᵀ with averaging matrices A_H: (OH, H), A_W: (OW, W), so dL/dX = A_Hᵀ @ dY @ A_W.
    ``output_size`` 1 is the global mean over (H, W); ``None`` in output_size keeps that size."""
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
    xp = get_array_module(input.array)
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
    out = pool2d(input.unsqueeze(-2), (1,) + k, (1,) + s, (0,) + p, **kwargs)  # (N, C, 1, OL)
    if isinstance(out, tuple):
        return tuple(o.squeeze(-2) for o in out)
    return out.squeeze(-2)  # (N, C, OL)


def max_pool1d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False  # noqa: A002
):
    """Largest value of every window along the last dim, (N, C, L) -> (N, C, OL): max_pool2d on a
    height of 1. notebooks/02_convolution.ipynb, section 4."""
    d = _ntuple(dilation, 1, "dilation", "max_pool1d")
    kwargs = {"dilation": (1,) + d, "ceil_mode": ceil_mode, "return_indices": return_indices}
    return _pool1d(max_pool2d, "max_pool1d", input, kernel_size, stride, padding, **kwargs)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):  # noqa: A002
    """Mean of every window along the last dim, (N, C, L) -> (N, C, OL): avg_pool2d on a height
    of 1. notebooks/02_convolution.ipynb, section 4."""
    kwargs = {"ceil_mode": ceil_mode, "count_include_pad": count_include_pad}
    return _pool1d(avg_pool2d, "avg_pool1d", input, kernel_size, stride, padding, **kwargs)


def adaptive_avg_pool1d(input, output_size):  # noqa: A002
    """Average pooling along the last dim to ``output_size`` cells, (N, C, L) -> (N, C, output_size):
    adaptive_avg_pool2d on a height of 1. notebooks/02_convolution.ipynb, section 4."""
    if input.ndim not in (2, 3):
        raise ValueError(f"adaptive_avg_pool1d: expected a 2-D or 3-D input, got shape {input.shape}")
    o = _ntuple(output_size, 1, "output_size", "adaptive_avg_pool1d")
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1,) + o).squeeze(-2)
