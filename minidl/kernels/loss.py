"""Fused cross-entropy with class-index targets: log-softmax, pick, weight, smooth and reduce in
one op, with its backward written out (softmax minus the target weights) instead of autograd
walking the reference's graph (log_softmax, nll_loss's indexing, the smoothing sum, the mean).
It is the last op of every classifier's training step; ``benchmarks/bench_ops.py`` times it
against the reference on the seed CNN's logits (32, 10).
"""

from __future__ import annotations

from ..dispatch import KernelFunction, register_kernel
from ..functional import loss as reference
from ..tensor import Tensor


class CrossEntropyKernel(KernelFunction):
    """Cross-entropy of logits x against class indices y, as one op. With q_ic the target weights

        q_ic = (1 − ε)·w_{y_i}·[c = y_i] + ε/C · w_c        (0 for samples where y_i = ignore_index)
        log p = log_softmax(x) over C,   ℓ_i = −Σ_c q_ic · log p_ic
        L = ℓ ('none'),  Σ_i ℓ_i ('sum'),  Σ_i ℓ_i / Σ_i w_{y_i} ('mean', over samples not ignored)

    (ε = label_smoothing, w = class weights or 1), and the backward

        dL/dx_i = s_i · (Q_i · p_i − q_i),   Q_i = Σ_c q_ic,   s_i = dy_i, dy or dy / Σ_i w_{y_i}

    Shapes: x (N, C, S) (the wrapper folds the dims d1, ... into S), y (N, S), w (C,), ℓ (N, S)."""

    def forward(ctx, x_in, target, weight, ignore_index, reduction, eps):
        xp = ctx.xp
        x = xp.ascontiguousarray(x_in)  # the flat positions below assume a C-contiguous layout
        N, C, S = x.shape
        shifted = x - x.max(axis=1, keepdims=True)  # (N, C, S)
        logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))  # (N, C, S)
        valid = target != ignore_index  # (N, S)
        safe = target * valid
        # flat positions of (i, y_i, s) in a C-contiguous (N, C, S) array: no duplicates, so a plain
        # fancy index both reads the picked log-probabilities and writes the backward
        flat = (xp.arange(N)[:, None] * C + safe) * S + xp.arange(S)[None, :]  # (N, S)
        picked = logp.reshape(-1)[flat]  # (N, S)
        wy = valid.astype(x.dtype) if weight is None else weight[safe] * valid  # (N, S)
        loss = -picked * wy  # (N, S)
        if eps:
            wc = 1.0 if weight is None else weight.reshape(1, C, 1)
            smooth = -(logp * wc).sum(axis=1) * valid  # (N, S)
            loss = (1.0 - eps) * loss + (eps / C) * smooth
        ctx.logp, ctx.flat, ctx.valid, ctx.wy, ctx.weight = logp, flat, valid, wy, weight
        ctx.reduction, ctx.eps, ctx.ignore_index = reduction, eps, ignore_index
        if reduction == "none":
            return loss
        total = loss.sum()
        if reduction == "sum":
            return total
        denom = wy.sum()
        ctx.denom = denom
        return xp.where(denom != 0, total / xp.where(denom != 0, denom, 1), xp.nan).astype(x.dtype)

    def kernel_backward(ctx, dy):
        xp, eps, wy, valid = ctx.xp, ctx.eps, ctx.wy, ctx.valid
        N, C, S = ctx.logp.shape
        s = dy.array  # (N, S) or ()
        if ctx.reduction == "mean":  # s = dy / Σ w_y, and 0 where every sample is ignored
            s = s * xp.where(ctx.denom != 0, 1.0 / xp.where(ctx.denom != 0, ctx.denom, 1), 0.0)
        s = xp.broadcast_to(s, (N, S)).astype(ctx.logp.dtype, copy=False)  # (N, S)
        Q = wy  # Σ_c q_ic, (N, S)
        if eps:
            wc_sum = C if ctx.weight is None else ctx.weight.sum()
            Q = (1.0 - eps) * wy + (eps / C) * wc_sum * valid
        dx = xp.exp(ctx.logp)  # p, (N, C, S)
        dx *= (s * Q)[:, None, :]  # s · Q · p
        if eps:  # − s · ε/C · w_c, the smoothing part of q
            wc = 1.0 if ctx.weight is None else ctx.weight.reshape(1, C, 1)
            dx -= (eps / C) * wc * (s * valid)[:, None, :]
        dx.reshape(-1)[ctx.flat] -= (1.0 - eps) * s * wy  # − s · (1 − ε) · w_y at the target class
        return dx, None, None, None, None, None

    def reference_forward(ctx):
        x, target = ctx.inputs[:2]
        weight = None if ctx.weight is None else Tensor._make(ctx.weight, False)
        return reference.cross_entropy.reference(x, target, weight, ctx.ignore_index, ctx.reduction, ctx.eps)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Fused cross-entropy with class-index targets (same signature and checks as ``F.cross_entropy``)."""
    if reference._check_ce_args(input, target, reduction, label_smoothing, "cross_entropy"):
        # class probabilities: nothing to fuse (``when`` sends them to the reference anyway)
        return reference._probability_cross_entropy(input, target, weight, reduction, label_smoothing)
    C = reference._check_index_target(input, target, weight, ignore_index, "cross_entropy")
    x, t, _ = reference._batched(input, target)
    N, S = x.shape[0], reference._spatial_size(x)
    x3 = x.reshape(N, C, S)  # (N, C, S), S = d1·d2···
    t2 = t.reshape(N, S)  # (N, S)
    w = None if weight is None else weight.array.astype(x.dtype, copy=False)  # (C,), a constant
    loss = CrossEntropyKernel.apply(x3, t2, w, ignore_index, reduction, float(label_smoothing))
    return loss.reshape(tuple(target.shape)) if reduction == "none" else loss


def _class_index_target(input, target, *args, **kwargs):
    # probability targets, and float16 logits (the reference sums them in float32), go to the reference
    return isinstance(target, Tensor) and target.dtype.kind in "iu" and input.dtype != "float16"


register_kernel(reference.cross_entropy, cross_entropy, when=_class_index_target)
