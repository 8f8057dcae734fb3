"""Losses, with ``torch.nn.functional``'s signatures and semantics, each written from its equation.

``reduction`` is 'none' (one loss per element or sample), 'sum' or 'mean'. Cross-entropy is
log_softmax then nll_loss (plus the label-smoothing term), composed, so autograd derives its
backward; the fused kernel in ``minidl/kernels/loss.py`` computes the same loss and its backward
p − q in one op for class-index targets (``minidl.reference_mode()`` turns it off). The other
losses are composed from primitives, except binary cross-entropy, one ``Function`` whose
backward must stay finite where log x is clamped.
"""

from __future__ import annotations

import numbers

from ..autograd import Function
from ..backend import get_array_module
from ..dispatch import reference_op
from ..tensor import Tensor
from ._common import as_tensor_like, broadcast_shapes
from .activation import Softplus, log_softmax
from .elementwise import abs as _abs
from .elementwise import clamp, exp, log, where

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
    if weight is not None and weight.dtype != input.dtype:  # PyTorch: "expected scalar type Float but found Double"
        raise TypeError(f"{op}: weight of dtype {weight.dtype} does not match the input's dtype {input.dtype}")
    t = target.array
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
    t = target.array
    valid = t != ignore_index
    return valid, t * valid


def _target_weights(input, target, weight, ignore_index):
    """(w_y, valid): the weight of each sample's class (0 where ignored) and the mask of samples not
    ignored, arrays of the target's shape; w_y in the input's dtype."""
    valid, safe = _valid_and_safe(target, ignore_index)
    if weight is None:
        return valid.astype(input.dtype), valid
    return weight.array.astype(input.dtype)[safe] * valid, valid


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


@reference_op
def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy of logits x against class indices y (or class probabilities), PyTorch's rules.

    With log p = log_softmax(x) over the class dim, w the class weights (1 when absent) and
    ε = label_smoothing, each sample i not ignored (y_i ≠ ignore_index) has the loss
        ℓ_i = −(1 − ε) · w_{y_i} · log p_{i,y_i}  −  ε/C · Σ_c w_c · log p_ic
    (ℓ_i = 0 for an ignored sample), and L = ℓ ('none'), Σ_i ℓ_i ('sum') or
    Σ_i ℓ_i / Σ_i w_{y_i} over the samples not ignored ('mean': without weights, the mean over the
    batch of −log p_{i,y_i}; NaN when every sample is ignored, as in PyTorch).
    Backward (autograd's; the fused kernel writes it out), with q_ic = (1 − ε)·w_{y_i}·[c = y_i] +
    ε/C·w_c the target weights and s_i = dy_i ('none'), dy ('sum') or dy / Σ_i w_{y_i} ('mean'):
        dL/dx_i = s_i · (p_i · Σ_c q_ic − q_i)
    Shapes: x (C,), (N, C) or (N, C, d1, ...); y (), (N,) or (N, d1, ...) integer; w (C,);
    ℓ the shape of y. Probability targets t (float, x's shape): ℓ_i = −Σ_c w_c · t'_ic · log p_ic
    with t' = (1 − ε)·t + ε/C, and 'mean' divides by the number of samples.
    Notebook: notebooks/02_convolution.ipynb, section 6 ("A small CNN on handwritten digits"),
    the loss the CNN is trained with (also notebooks 03, section 5, and 04, section 7)."""
    if _check_ce_args(input, target, reduction, label_smoothing, "cross_entropy"):
        return _probability_cross_entropy(input, target, weight, reduction, label_smoothing)
    C = _check_index_target(input, target, weight, ignore_index, "cross_entropy")
    class_dim = 0 if input.ndim == 1 else 1
    logp = log_softmax(input, class_dim)  # log p, the input's shape
    loss = nll_loss(logp, target, weight, ignore_index, reduction="none")  # −w_y · log p_y, the target's shape
    wy, valid = _target_weights(input, target, weight, ignore_index)  # w_{y_i} (0 if ignored), y's shape
    if label_smoothing:
        along_classes = (C,) + (1,) * (input.ndim - 1 - class_dim)  # w_c broadcast along the class dim
        wc = 1.0 if weight is None else as_tensor_like(weight.array.reshape(along_classes), input)
        smooth = -(logp * wc).sum(class_dim) * as_tensor_like(valid, input)  # −Σ_c w_c log p_c, y's shape
        loss = (1.0 - label_smoothing) * loss + (label_smoothing / C) * smooth
    if reduction == "mean":
        return _safe_divide(loss.sum(), wy.sum())
    return _reduce(loss, reduction)


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
    """Negative log-likelihood of log-probabilities x at the class indices y:

        ℓ_i = −w_{y_i} · x[i, y_i]   (0 where y_i = ignore_index)
        L = ℓ ('none'), Σ_i ℓ_i ('sum'), Σ_i ℓ_i / Σ_i w_{y_i} over the samples not ignored ('mean')
        dL/dx[i, c] = −s_i · w_{y_i} · [c = y_i],   s_i = dy_i, dy or dy / Σ_i w_{y_i}
    Shapes: x (C,), (N, C) or (N, C, d1, ...); y (), (N,) or (N, d1, ...); w (C,); ℓ the shape
    of y. Composed from indexing (its backward scatters into the picked entries). Notebook:
    notebooks/02_convolution.ipynb, section 6, inside the cross-entropy the CNN is trained with."""
    _check_input(input, "nll_loss")
    _check_reduction(reduction, "nll_loss")
    C = _check_index_target(input, target, weight, ignore_index, "nll_loss")
    x, t, _ = _batched(input, target)
    N, S = x.shape[0], _spatial_size(x)
    x3 = x.reshape(N, C, S)  # (N, C, S): the dims d1, ... folded into S
    valid, safe = _valid_and_safe(t.reshape(N, S), ignore_index)  # (N, S)
    xp = get_array_module(safe)
    picked = x3[xp.arange(N)[:, None], safe, xp.arange(S)[None, :]]  # x[i, y_i, s], (N, S)
    wy, _ = _target_weights(input, target, weight, ignore_index)  # the target's shape
    loss = -picked.reshape(tuple(target.shape)) * as_tensor_like(wy, input)  # the target's shape
    if reduction == "mean":
        return _safe_divide(loss.sum(), wy.sum())
    return _reduce(loss, reduction)


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
    """ℓ = (x − t)², reduced ('none', 'sum' or 'mean' over all elements).

    dL/dx = 2 (x − t) · s,  dL/dt = −dL/dx,  s = dy ('none', 'sum') or dy / numel ('mean').
    x, t, ℓ ('none'): the same shape. Composed. Notebook: notebooks/01_autograd.ipynb, section 1
    ("A computational graph"), whose neuron is trained on this squared error L = Σ (h − t)²."""
    _check_same_shape(input, target, "mse_loss")
    _check_reduction(reduction, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction="mean"):
    """ℓ = |x − t|, reduced ('none', 'sum' or 'mean' over all elements).

    dL/dx = sign(x − t) · s,  dL/dt = −dL/dx,  s = dy ('none', 'sum') or dy / numel ('mean').
    x, t, ℓ ('none'): the same shape. Composed. Notebook: not used in the notebooks."""
    _check_same_shape(input, target, "l1_loss")
    _check_reduction(reduction, "l1_loss")
    return _reduce(_abs(input - target), reduction)


def _check_threshold(value, name, op):
    if not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{op}: {name} must be a non-negative number, got {value!r}")


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """Smooth L1 (Girshick, Fast R-CNN), with d = x − t:

        ℓ = ½ d² / β   where |d| < β,    |d| − ½ β   elsewhere       (β = 0: ℓ = |d|)
        dL/dx = d / β · s   where |d| < β,    sign(d) · s   elsewhere,    dL/dt = −dL/dx
    s = dy ('none', 'sum') or dy / numel ('mean'); x, t, ℓ ('none'): the same shape. Composed.
    Notebook: not used in the notebooks."""
    _check_same_shape(input, target, "smooth_l1_loss")
    _check_reduction(reduction, "smooth_l1_loss")
    _check_threshold(beta, "beta", "smooth_l1_loss")
    d = input - target
    if beta == 0:
        return _reduce(_abs(d), reduction)
    a = _abs(d)
    return _reduce(where(a.array < beta, (0.5 / beta) * (d * d), a - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Huber loss (Huber, 1964), with d = x − t:

        ℓ = ½ d²   where |d| < δ,    δ (|d| − ½ δ)   elsewhere        (= δ · smooth_l1 with β = δ)
        dL/dx = d · s   where |d| < δ,    δ sign(d) · s   elsewhere,    dL/dt = −dL/dx
    s = dy ('none', 'sum') or dy / numel ('mean'); x, t, ℓ ('none'): the same shape. Composed.
    Notebook: not used in the notebooks."""
    _check_same_shape(input, target, "huber_loss")
    _check_reduction(reduction, "huber_loss")
    _check_threshold(delta, "delta", "huber_loss")
    d = input - target
    a = _abs(d)
    return _reduce(where(a.array < delta, 0.5 * (d * d), delta * (a - 0.5 * delta)), reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """Kullback-Leibler divergence KL(t ‖ q) of log-probabilities x = log q from the target t:

        ℓ = t · (log t − x)        (0 where t = 0: t log t → 0)
        ℓ = eᵗ · (t − x)           (log_target=True: t holds log-probabilities)
        L = ℓ ('none'), Σ ℓ ('sum'), Σ ℓ / numel ('mean'), Σ ℓ / N ('batchmean', the KL divergence
        per sample when dim 0 is the batch: the mathematically right one)
        dL/dx = −t · s  (−eᵗ · s),   dL/dt = (log t + 1 − x) · s  ((eᵗ (t − x) + eᵗ) · s)
    x, t, ℓ ('none'): the same shape. Composed. Notebook: not used in the notebooks."""
    _check_same_shape(input, target, "kl_div")
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"kl_div: reduction must be 'none', 'mean', 'sum' or 'batchmean', got {reduction!r}")
    if log_target:
        loss = exp(target) * (target - input)
    else:
        positive = target.array > 0
        t_log_t = where(positive, target * log(where(positive, target, 1.0)), 0.0)  # no log 0
        loss = t_log_t - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


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
    where PyTorch returns ±inf; elsewhere they agree.) One ``Function``: autograd through the
    clamped logs would give an infinite dL/dx at x = 0 or 1, PyTorch's formula stays finite."""

    def forward(ctx, x, t):
        xp = ctx.xp
        log_x, log_1mx = _clamped_log(xp, x), _clamped_log(xp, 1 - x)
        ctx.save_for_backward(x, t)
        return (-(t * log_x + (1 - t) * log_1mx)).astype(x.dtype, copy=False)

    def backward(ctx, dy):
        x, t = ctx.saved_tensors
        need_x, need_t = ctx.needs_input_grad
        dx = dy * (x - t) / clamp(x * (1 - x), min=_BCE_EPS) if need_x else None
        dt = None
        if need_t:
            # the clamped logs as Tensor ops of x (so dt is differentiable again); x is first
            # clamped to 1e-44 (a float32 subnormal, log = −101) so that log 0 never happens
            log_x = clamp(log(clamp(x, min=1e-44)), min=-100.0)
            log_1mx = clamp(log(clamp(1 - x, min=1e-44)), min=-100.0)
            dt = dy * (log_1mx - log_x)
        return dx, dt


def _check_weight(weight, input, op, name="weight"):
    if weight is not None and broadcast_shapes(tuple(input.shape), tuple(weight.shape)) != tuple(input.shape):
        raise ValueError(
            f"{op}: {name} of shape {tuple(weight.shape)} does not broadcast to the input shape {tuple(input.shape)}"
        )


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """ℓ = −w · (t · log x + (1 − t) · log(1 − x)) for probabilities x in [0, 1], with each log
    clamped at −100 (so x = 0 or 1 gives a finite loss), reduced. ``weight`` broadcasts to x.

    Backward: see ``BinaryCrossEntropy``. x, t, ℓ ('none'): the same shape; w broadcasts to it.
    Notebook: not used in the notebooks (notebooks/05_seed_examples.ipynb, exercise 3 suggests a
    sigmoid head)."""
    _check_same_shape(input, target, "binary_cross_entropy")
    _check_reduction(reduction, "binary_cross_entropy")
    _check_weight(weight, input, "binary_cross_entropy")
    x = input.array
    if x.size and not bool(((x >= 0) & (x <= 1)).all()):  # NaN fails too, as in PyTorch
        raise ValueError(
            f"binary_cross_entropy: input values must be probabilities in [0, 1], got min {float(x.min()):g}, "
            f"max {float(x.max()):g} (use binary_cross_entropy_with_logits for logits; NaN is not a probability)"
        )
    t = target.array
    if t.size and not bool(((t >= 0) & (t <= 1)).all()):  # as in PyTorch
        raise ValueError(f"binary_cross_entropy: target values must be in [0, 1], got min {float(t.min()):g}, "
                         f"max {float(t.max()):g}")
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Binary cross-entropy of σ(x) against t without computing σ(x) (stable for any x):

        ℓ = w · ((1 − t) · x + (1 + (p_w − 1) · t) · softplus(−x)),   softplus(z) = log(1 + e^z)

    which equals −w · (p_w · t · log σ(x) + (1 − t) · log(1 − σ(x))). ``pos_weight`` p_w weighs
    the positive examples and broadcasts along the last (class) dim; ``weight`` broadcasts to x.
    Backward (autograd's, through softplus' dL/dz = σ(z)):
        dL/dx = w · ((1 − t) − (1 + (p_w − 1) t) · σ(−x)) · dy,   dL/dt = w · (−x + (p_w − 1) softplus(−x)) · dy
    x, t, ℓ ('none'): the same shape. Composed. Notebook: not used in the notebooks."""
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
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]
