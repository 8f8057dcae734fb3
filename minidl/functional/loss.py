"""Losses, with ``torch.nn.functional``'s signatures and semantics.

``reduction`` is 'none' (one loss per element or sample), 'sum' or 'mean'. Cross-entropy with
class-index targets is the hot path of training a classifier, so it is one fused op
(log-softmax, pick, weight, smooth, reduce; backward softmax − target); ``cross_entropy_composed``
builds the same loss from ``log_softmax`` and ``nll_loss`` and is the reference the tests
compare against. The other losses are composed from primitives, except binary cross-entropy,
whose backward must stay finite where log x is clamped.
"""

from __future__ import annotations

import numbers

from ..autograd import Function, is_grad_enabled
from ..backend import get_array_module
from ..tensor import Tensor
from ._common import broadcast_shapes
from .activation import Softplus, log_softmax, softmax
from .elementwise import abs as _abs
from .elementwise import clamp, log

_REDUCTIONS = ("none", "mean", "sum")


# ---- checks shared by the class-index losses --------------------------------------------------
def _check_reduction(reduction, op):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _check_input(input, op):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a floating point tensor, got dtype {input.dtype}")
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dim: (C,), (N, C) or (N, C, d1, ...), got shape ()")


def _index_target_shape(input):
    """The shape a class-index target needs for ``input``: (N, d1, ...) for (N, C, d1, ...), () for (C,)."""
    return () if input.ndim == 1 else (input.shape[0],) + tuple(input.shape[2:])


def _check_index_target(input, target, weight, ignore_index, op):
    """Validate a class-index target (dtype, shape, values) and the class weights."""
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: target must be a Tensor, got {type(target).__name__}")
    C = input.shape[0] if input.ndim == 1 else input.shape[1]
    expected = _index_target_shape(input)
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: a class-index target must be an integer tensor (int64), got dtype {target.dtype} "
            f"with shape {tuple(target.shape)} for input of shape {tuple(input.shape)}; "
            f"class probabilities must be a float tensor of the input's shape {tuple(input.shape)}"
        )
    if tuple(target.shape) != expected:
        raise ValueError(
            f"{op}: expected a class-index target of shape {expected} for input of shape {tuple(input.shape)}, "
            f"got target of shape {tuple(target.shape)}"
        )
    if weight is not None and tuple(weight.shape) != (C,):
        raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} must have one entry per class, ({C},)")
    t = target.data
    bad = (t != ignore_index) & ((t < 0) | (t >= C))
    if bool(bad.any()):
        value = int(t[bad].reshape(-1)[0])
        raise IndexError(
            f"{op}: target value {value} is out of range for C={C} classes (expected 0..{C - 1}, "
            f"or ignore_index={ignore_index})"
        )
    return C


def _valid_and_safe(target, ignore_index):
    """The mask of samples not ignored and the targets with ignored entries pointing at class 0
    (their weight is 0), as arrays of the target's shape."""
    t = target.data
    valid = t != ignore_index
    return valid, t * valid


# ---- fused cross-entropy with class indices -----------------------------------------------------
class CrossEntropy(Function):
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
        ctx.reduction, ctx.eps = reduction, eps
        ctx.save_for_backward(x_in)  # the input array itself: saved as the graph Tensor
        if reduction == "none":
            return loss
        total = loss.sum()
        if reduction == "sum":
            return total
        denom = wy.sum()
        ctx.denom = denom
        return xp.where(denom != 0, total / xp.where(denom != 0, denom, 1), xp.nan).astype(x.dtype)

    def _scale(ctx, dy):
        """s of the docstring with shape (N, S) or (), as a Tensor."""
        if ctx.reduction == "mean":
            xp = ctx.xp
            inv = xp.where(ctx.denom != 0, 1.0 / xp.where(ctx.denom != 0, ctx.denom, 1), 0.0)
            return dy * Tensor._make(inv.astype(ctx.logp.dtype), False)
        return dy

    def _target_weights(ctx):
        """(q, Q): the dense target weights (N, C, S) and their sums over C (N, S), as arrays."""
        xp = ctx.xp
        N, C, S = ctx.logp.shape
        eps, wy, valid = ctx.eps, ctx.wy, ctx.valid
        if eps:
            wc = xp.ones((1, C, 1), dtype=wy.dtype) if ctx.weight is None else ctx.weight.reshape(1, C, 1)
            q = (eps / C) * wc * valid[:, None, :]  # (N, C, S)
            Q = (1.0 - eps) * wy + (eps / C) * wc.sum() * valid  # (N, S)
        else:
            q = xp.zeros((N, C, S), dtype=wy.dtype)
            Q = wy
        q.reshape(-1)[ctx.flat] += (1.0 - eps) * wy
        return q, Q

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        s = ctx._scale(dy)  # (N, S) or ()
        if s.ndim:
            s = s.reshape(s.shape[0], 1, s.shape[1])  # (N, 1, S)
        if is_grad_enabled():
            # building a graph (double backward): softmax is rebuilt from x, the rest is constant
            q, Q = ctx._target_weights()
            N, C, S = q.shape
            p = softmax(x, 1)
            dx = s * (p * Tensor._make(Q.reshape(N, 1, S), False) - Tensor._make(q, False))
            return dx, None, None, None, None, None
        xp = ctx.xp
        eps, wy = ctx.eps, ctx.wy
        N, C, S = ctx.logp.shape
        sd = xp.broadcast_to(s.data, (N, 1, S)).reshape(N, S)  # (N, S)
        if eps:
            wc_sum = C if ctx.weight is None else ctx.weight.sum()
            Q = (1.0 - eps) * wy + (eps / C) * wc_sum * ctx.valid
        else:
            Q = wy
        dx = xp.exp(ctx.logp)  # p, (N, C, S)
        dx *= (sd * Q)[:, None, :]
        if eps:
            wc = 1.0 if ctx.weight is None else ctx.weight.reshape(1, C, 1)
            dx -= (eps / C) * wc * (sd * ctx.valid)[:, None, :]
        dx.reshape(-1)[ctx.flat] -= (1.0 - eps) * sd * wy
        return Tensor._make(dx, False), None, None, None, None, None


def _spatial_size(x):
    """S = d1·d2··· for x of shape (N, C, d1, d2, ...) (1 when there are no such dims)."""
    S = 1
    for n in x.shape[2:]:
        S *= n
    return S


def _batched(input, target):
    """(C,) with target () becomes (1, C) with target (1,): one code path for both."""
    if input.ndim == 1:
        return input.reshape(1, input.shape[0]), target.reshape(1), True
    return input, target, False


def _probability_cross_entropy(input, target, weight, reduction, label_smoothing):
    """−Σ_c w_c · t_ic · log p_ic with t smoothed to (1 − ε)·t + ε/C; 'mean' divides by the number
    of samples (N·d1···), not by the weights (PyTorch's rule for probability targets)."""
    C = input.shape[0] if input.ndim == 1 else input.shape[1]
    if weight is not None and tuple(weight.shape) != (C,):
        raise ValueError(f"cross_entropy: weight of shape {tuple(weight.shape)} must have one entry per class, ({C},)")
    class_dim = 0 if input.ndim == 1 else 1
    logp = log_softmax(input, class_dim)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / C
    if weight is not None:
        logp = logp * weight.detach().to(input.dtype).reshape((C,) + (1,) * (input.ndim - 1 - class_dim))
    loss = -(target * logp).sum(class_dim)
    if reduction == "mean":
        return loss.sum() / (input.numel() // C) if input.numel() else loss.sum() * float("nan")
    return _reduce(loss, reduction)


def _check_ce_args(input, target, reduction, label_smoothing, op):
    _check_input(input, op)
    _check_reduction(reduction, op)
    if not isinstance(label_smoothing, numbers.Real) or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: target must be a Tensor, got {type(target).__name__}")
    return target.dtype.kind == "f" and tuple(target.shape) == tuple(input.shape)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits ``input`` (C,), (N, C) or (N, C, d1, ...) and either class
    indices (integer, shape (), (N,) or (N, d1, ...)) or class probabilities (float, the input's
    shape). Class-index targets go through the fused ``CrossEntropy`` op."""
    if _check_ce_args(input, target, reduction, label_smoothing, "cross_entropy"):
        return _probability_cross_entropy(input, target, weight, reduction, label_smoothing)
    C = _check_index_target(input, target, weight, ignore_index, "cross_entropy")
    x, t, unbatched = _batched(input, target)
    N = x.shape[0]
    S = _spatial_size(x)
    x3 = x.reshape(N, C, S)  # (N, C, S), S = d1·d2···
    t2 = t.reshape(N, S)  # (N, S)
    w = None if weight is None else weight.data.astype(x.dtype, copy=False)
    loss = CrossEntropy.apply(x3, t2, w, ignore_index, reduction, float(label_smoothing))
    if reduction == "none":
        return loss.reshape(tuple(target.shape))
    return loss


def cross_entropy_composed(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Reference cross-entropy: log_softmax, then nll_loss, plus PyTorch's label-smoothing term
    ε/C · Σ_c w_c · (−log p_ic), normalised like the nll part."""
    if _check_ce_args(input, target, reduction, label_smoothing, "cross_entropy"):
        return _probability_cross_entropy(input, target, weight, reduction, label_smoothing)
    C = _check_index_target(input, target, weight, ignore_index, "cross_entropy")
    class_dim = 0 if input.ndim == 1 else 1
    logp = log_softmax(input, class_dim)
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    valid, safe = _valid_and_safe(target, ignore_index)
    if weight is not None:
        logp = logp * weight.detach().to(input.dtype).reshape((C,) + (1,) * (input.ndim - 1 - class_dim))
    smooth = -logp.sum(class_dim) * Tensor._make(valid.astype(input.dtype), False)  # target's shape
    if reduction == "mean":
        wy = valid.astype(input.dtype) if weight is None else weight.data[safe] * valid
        smooth = _safe_divide(smooth.sum(), wy.sum())
    else:
        smooth = _reduce(smooth, reduction)
    return (1.0 - label_smoothing) * nll + (label_smoothing / C) * smooth


def _safe_divide(total, denom):
    """total / denom; where denom = 0 (every sample ignored) NaN with a zero gradient, as PyTorch."""
    xp = get_array_module(denom)
    zero = denom == 0
    inv = xp.where(zero, 0.0, 1.0 / xp.where(zero, 1, denom))
    nan_or_zero = xp.where(zero, xp.nan, 0.0)
    return total * Tensor._make(xp.asarray(inv, dtype=total.dtype), False) + Tensor._make(
        xp.asarray(nan_or_zero, dtype=total.dtype), False
    )


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (C,), (N, C) or (N, C, d1, ...) at the
    class indices ``target``: ℓ_i = −w_{y_i} · input[i, y_i] (0 where y_i = ignore_index);
    'mean' divides Σ ℓ_i by Σ w_{y_i} over the samples not ignored. Composed from indexing."""
    _check_input(input, "nll_loss")
    _check_reduction(reduction, "nll_loss")
    C = _check_index_target(input, target, weight, ignore_index, "nll_loss")
    x, t, _ = _batched(input, target)
    N = x.shape[0]
    S = _spatial_size(x)
    x3 = x.reshape(N, C, S)  # (N, C, S)
    valid, safe = _valid_and_safe(t.reshape(N, S), ignore_index)  # (N, S)
    xp = get_array_module(safe)
    picked = x3[xp.arange(N)[:, None], safe, xp.arange(S)[None, :]]  # (N, S)
    wy = valid.astype(input.dtype) if weight is None else weight.data.astype(input.dtype)[safe] * valid
    loss = -picked * Tensor._make(wy, False)  # (N, S)
    if reduction == "none":
        return loss.reshape(tuple(target.shape))
    if reduction == "sum":
        return loss.sum()
    return _safe_divide(loss.sum(), wy.sum())


# ---- regression losses --------------------------------------------------------------------------
def _check_same_shape(input, target, op):
    for name, t in (("input", input), ("target", target)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"{op}: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} differ; "
            "they must be equal (broadcasting them would silently compute a different loss)"
        )


def mse_loss(input, target, reduction="mean"):
    """ℓ = (x − t)², reduced.        dL/dx = 2 (x − t) · dy,  dL/dt = −dL/dx   (composed)"""
    _check_same_shape(input, target, "mse_loss")
    _check_reduction(reduction, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction="mean"):
    """ℓ = |x − t|, reduced.        dL/dx = sign(x − t) · dy,  dL/dt = −dL/dx   (composed)"""
    _check_same_shape(input, target, "l1_loss")
    _check_reduction(reduction, "l1_loss")
    return _reduce(_abs(input - target), reduction)


# ---- binary cross-entropy -----------------------------------------------------------------------
_BCE_EPS = 9.999999960041972e-13  # 1e-12 rounded to float32, the constant PyTorch divides by


def _clamped_log(xp, v):
    """max(log v, −100), without evaluating log 0 (which would warn)."""
    positive = v > 0
    return xp.maximum(xp.where(positive, xp.log(xp.where(positive, v, 1)), -100.0), -100.0)


class BinaryCrossEntropy(Function):
    """ℓ = −(t · max(log x, −100) + (1 − t) · max(log(1 − x), −100))     (PyTorch's clamp at −100)
    dL/dx = dy · (x − t) / max(x (1 − x), 1e-12)
    dL/dt = dy · (max(log(1 − x), −100) − max(log x, −100))
    x, t, ℓ, dy: same shape, 0 ≤ x ≤ 1. (dL/dt is that of the clamped loss, finite at x = 0 or 1,
    where PyTorch returns ±inf; elsewhere they agree.)"""

    def forward(ctx, x, t):
        xp = ctx.xp
        log_x, log_1mx = _clamped_log(xp, x), _clamped_log(xp, 1 - x)
        ctx.log_diff = log_1mx - log_x
        ctx.save_for_backward(x, t)
        return (-(t * log_x + (1 - t) * log_1mx)).astype(x.dtype, copy=False)

    def backward(ctx, dy):
        x, t = ctx.saved_tensors
        need_x, need_t = ctx.needs_input_grad
        dx = dy * (x - t) / clamp(x * (1 - x), min=_BCE_EPS) if need_x else None
        dt = None
        if need_t:
            if is_grad_enabled():
                # building a graph (double backward): the logs are rebuilt from x. x is first
                # clamped to 1e-44 (a float32 subnormal, log = −101) so that log 0 never happens
                log_x = clamp(log(clamp(x, min=1e-44)), min=-100.0)
                log_1mx = clamp(log(clamp(1 - x, min=1e-44)), min=-100.0)
                dt = dy * (log_1mx - log_x)
            else:
                dt = dy * Tensor._make(ctx.log_diff, False)
        return dx, dt


def _check_weight(weight, input, op, name="weight"):
    if weight is not None and broadcast_shapes(tuple(input.shape), tuple(weight.shape)) != tuple(input.shape):
        raise ValueError(
            f"{op}: {name} of shape {tuple(weight.shape)} does not broadcast to the input shape {tuple(input.shape)}"
        )


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """ℓ = −w · (t · log x + (1 − t) · log(1 − x)) for probabilities x in [0, 1], with each log
    clamped at −100 (so x = 0 or 1 gives a finite loss), reduced. ``weight`` broadcasts to x."""
    _check_same_shape(input, target, "binary_cross_entropy")
    _check_reduction(reduction, "binary_cross_entropy")
    _check_weight(weight, input, "binary_cross_entropy")
    x = input.data
    if x.size and bool(((x < 0) | (x > 1)).any()):
        raise ValueError(
            f"binary_cross_entropy: input values must be probabilities in [0, 1], got min {float(x.min()):g}, "
            f"max {float(x.max()):g} (use binary_cross_entropy_with_logits for logits)"
        )
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Binary cross-entropy of σ(x) against t without computing σ(x) (stable for any x):

        ℓ = w · ((1 − t) · x + (1 + (p_w − 1) · t) · softplus(−x)),   softplus(z) = log(1 + e^z)

    which equals −w · (p_w · t · log σ(x) + (1 − t) · log(1 − σ(x))). ``pos_weight`` p_w weighs
    the positive examples and broadcasts along the last (class) dim; ``weight`` broadcasts to x."""
    _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    _check_weight(weight, input, "binary_cross_entropy_with_logits")
    _check_weight(pos_weight, input, "binary_cross_entropy_with_logits", "pos_weight")
    if input.dtype.kind != "f":
        raise TypeError(f"binary_cross_entropy_with_logits: input must be floating point, got {input.dtype}")
    sp = Softplus.apply(-input, 1.0, float("inf"))  # log(1 + e^{−x}), never the linear shortcut
    if pos_weight is not None:
        sp = sp * (1.0 + (pos_weight - 1.0) * target)
    loss = (1.0 - target) * input + sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "cross_entropy_composed",
    "l1_loss",
    "mse_loss",
    "nll_loss",
]
