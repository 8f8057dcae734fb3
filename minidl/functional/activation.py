"""Activations, each written from its equation: softmax and log-softmax (composed of exp, max,
sum and logsumexp; a fused kernel in ``minidl/kernels/activation.py`` may stand in for them, see
``minidl.reference_mode``), the other activations (leaky_relu, elu, gelu with its erf, silu,
softplus, hardtanh), dropout, and the index ops a classifier needs around them (embedding,
one_hot). relu, sigmoid and tanh are primitives in ``elementwise.py``.
"""

from __future__ import annotations

import math
import numbers

from .. import backend
from ..autograd import Function
from ..backend import get_array_module
from ..dispatch import reference_op
from ..dtypes import float16, float32
from ..tensor import Tensor
from ._common import normalize_dim
from .elementwise import clamp, exp, log, relu, sigmoid, tanh, where
from .reduce import amax
from .reduce import sum as _sum
from .shape import clone, getitem


def softmax_dim(x, dim, op="softmax"):
    """The non-negative class dim of a softmax over ``dim``, after checking that x is a float Tensor."""
    _check_float(x, op)
    return normalize_dim(dim, x.ndim, op)


@reference_op
def softmax(x, dim):
    """softmax(x)_i = e^{x_i − m} / Σ_j e^{x_j − m}  along ``dim``,  m = max_j x_j

    Subtracting m changes nothing (it cancels between numerator and denominator) but keeps every
    exponent ≤ 0, so nothing overflows. Autograd differentiates this graph; written out, the
    backward is
        dL/dx = y ⊙ (dy − Σ_dim dy ⊙ y)
    x, y, dy: the same shape (*), the sums run along ``dim`` and are kept as size 1 there.
    The fused kernel (``minidl/kernels/activation.py``) computes exactly these two lines.
    Notebook: notebooks/04_attention.ipynb, sections 1 ("The formula, from scratch") and 2
    ("Why divide by √d_k")."""
    dim = softmax_dim(x, dim)
    if x.dtype == float16:  # summed in float32 as in PyTorch: 65504 is a sum of 65504 ones
        return softmax(x.to(float32), dim).to(float16)
    if x.numel() == 0:  # no values: nothing to normalize
        return clone(x)
    if x.ndim == 0:  # a single value (dim 0 or -1, as in PyTorch): the softmax of one value is 1
        return softmax(x.reshape(1), 0).reshape(())
    m = amax(x.detach(), dim, keepdim=True)  # (*, 1, *): a constant shift, no gradient through it
    e = exp(x - m)  # (*)
    return e / _sum(e, dim, keepdim=True)  # (*) / (*, 1, *)


@reference_op
def log_softmax(x, dim):
    """log softmax(x)_i = x_i − log Σ_j e^{x_j} = (x_i − m) − log Σ_j e^{x_j − m}  along ``dim``,
    m = max_j x_j (the log-sum-exp trick: no exponent is positive, and x − m is exact)

    Backward (autograd's; the fused kernel writes it out):
        dL/dx = dy − softmax(x) ⊙ Σ_dim dy = dy − e^y ⊙ Σ_dim dy
    x, y, dy: the same shape (*). Notebook: notebooks/02_convolution.ipynb, section 6 ("A small
    CNN on handwritten digits"), inside the cross-entropy the CNN is trained with."""
    dim = softmax_dim(x, dim, "log_softmax")
    if x.dtype == float16:  # summed in float32, as in PyTorch
        return log_softmax(x.to(float32), dim).to(float16)
    if x.numel() == 0:  # no values: nothing to normalize
        return clone(x)
    if x.ndim == 0:  # a single value: its log-softmax is 0
        return log_softmax(x.reshape(1), 0).reshape(())
    m = amax(x.detach(), dim, keepdim=True)  # (*, 1, *): a constant shift, no gradient through it
    shifted = x - m  # (*)
    return shifted - log(_sum(exp(shifted), dim, keepdim=True))  # (*) − (*, 1, *)


# ---- erf and the activations built on it ------------------------------------------------------
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_HALF = math.sqrt(0.5)
_SQRT_TWO_OVER_PI = math.sqrt(2.0 / math.pi)
_ERF_SPLIT = 2.0  # |x| below: power series; above: continued fraction for erfc
_ERF_SERIES_TERMS = 32
_ERFC_FRACTION_TERMS = 24


def _erf_series(xp, a):
    """erf(a) = 2/√π · e^{−a²} · Σ_{n≥0} 2ⁿ a^{2n+1} / (1·3·5···(2n+1))   for 0 ≤ a < 2.

    Every term is positive (no cancellation, unlike the Taylor series of erf). Term n+1 is
    term n times 2a²/(2n+3), so the sum is evaluated from the inside out (Horner):
    a · (1 + 2a²/3 · (1 + 2a²/5 · (1 + ...))). 32 terms reach double precision for a < 2."""
    a2 = a * a
    two_a2 = 2.0 * a2
    s = xp.ones_like(a)
    for k in range(_ERF_SERIES_TERMS, 0, -1):
        s *= two_a2
        s /= 2 * k + 1
        s += 1.0
    return _TWO_OVER_SQRT_PI * xp.exp(-a2) * a * s


def _erfc_fraction(xp, a):
    """erfc(a) for a ≥ 2 from the continued fraction (the even part of Laplace's fraction)

        erfc(a) = e^{−a²}/√π · 2a / (2a²+1 − 1·2 / (2a²+5 − 3·4 / (2a²+9 − ...)))

    evaluated from a fixed depth upwards; 24 levels reach double precision for a ≥ 2."""
    z = 2.0 * a * a
    t = xp.zeros_like(a)
    for k in range(_ERFC_FRACTION_TERMS, 0, -1):
        d = z - t
        d += 4 * k + 1
        t = (2 * k - 1) * (2 * k) / d
    return xp.exp(-a * a) / math.sqrt(math.pi) * (2.0 * a) / (z + 1.0 - t)


def _erf_array(xp, x):
    """erf of an array, computed in float64 (error below 1e-15) and returned in x's dtype."""
    a = xp.abs(x).astype(xp.float64)
    out = xp.empty_like(a)
    small = a < _ERF_SPLIT
    out[small] = _erf_series(xp, a[small])
    large = ~small
    # erfc(10) ≈ 2e-45 is 0 next to 1; capping keeps inf (and the fraction) finite; NaN stays NaN
    out[large] = 1.0 - _erfc_fraction(xp, xp.minimum(a[large], 10.0))
    return (xp.sign(x) * out).astype(x.dtype, copy=False)


class Erf(Function):
    """y = erf(x) = 2/√π ∫₀ˣ e^{−t²} dt        dL/dx = dy · 2/√π · e^{−x²}        x, y, dy: same shape

    NumPy has no erf, so the forward sums a series (|x| < 2) or a continued fraction (|x| ≥ 2),
    see ``_erf_series`` and ``_erfc_fraction``; the backward is Tensor ops (twice differentiable)."""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _erf_array(ctx.xp, x)

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * (_TWO_OVER_SQRT_PI * exp(-(x * x)))


def erf(x):
    """The error function erf(x) = 2/√π ∫₀ˣ e^{−t²} dt (accurate to ~1e-15 in float64).

    dL/dx = dy · 2/√π · e^{−x²}; x, y: the same shape. Notebook: not used in the notebooks; it is
    a primitive ``Function`` like the softplus of notebooks/01_autograd.ipynb, section 2."""
    _check_float(x, "erf")
    return Erf.apply(x)


@reference_op
def gelu(x, approximate="none"):
    """GELU(x) = x · Φ(x) = ½ x (1 + erf(x/√2))                      (approximate='none')
    GELU(x) ≈ ½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))               (approximate='tanh')
    dL/dx = dy · (Φ(x) + x φ(x)),  φ(x) = e^{−x²/2}/√(2π)            (exact form)
    x, y: the same shape. Composed from erf (or tanh), so the gradient and its derivatives follow.
    Notebook: not used in the notebooks (the Transformer there uses relu); the GPT's MLP uses the
    tanh form. A kernel (minidl/kernels/activation.py) may run the tanh form instead."""
    _check_float(x, "gelu")
    if approximate == "none":
        return 0.5 * x * (1.0 + erf(x * _SQRT_HALF))
    if approximate == "tanh":
        return 0.5 * x * (1.0 + tanh(_SQRT_TWO_OVER_PI * (x + 0.044715 * (x * x * x))))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


# ---- piecewise activations --------------------------------------------------------------------
def leaky_relu(x, negative_slope=0.01):
    """y = x for x > 0, negative_slope · x otherwise.        dL/dx = dy · (1 or negative_slope)

    Composed as x · m with the constant m = [x > 0] + negative_slope · [x ≤ 0]; x, y: the same
    shape. Notebook: not used in the notebooks (relu is; notebooks/02_convolution.ipynb, section 6)."""
    _check_float(x, "leaky_relu")
    xp = get_array_module(x.array)
    m = xp.where(x.array > 0, 1.0, negative_slope).astype(x.dtype, copy=False)
    return x * Tensor._make(m, False)


def elu(x, alpha=1.0):
    """y = x for x > 0, α (eˣ − 1) otherwise.        dL/dx = dy · (1 or α eˣ)

    eˣ is taken of min(x, 0), so a large positive x never overflows the unused branch; x, y: the
    same shape. Notebook: not used in the notebooks."""
    _check_float(x, "elu")
    return where(x.array > 0, x, alpha * (exp(clamp(x, max=0.0)) - 1.0))


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """y = min(max(x, min_val), max_val)        dL/dx = dy · [min_val < x < max_val]

    x, y: the same shape. The kinks get gradient 0, as in PyTorch (``clamp`` passes it there: ≤).
    Notebook: not used in the notebooks."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} is larger than max_val {max_val}")
    # 0 at NaN: PyTorch's vectorized CPU path (8 elements and more); its scalar path passes it
    inside = Tensor._make((x.array > min_val) & (x.array < max_val), False)
    return where(inside, x, clamp(x.detach(), min_val, max_val))


def silu(x):
    """SiLU (swish): y = x · σ(x)        dL/dx = dy · σ(x) (1 + x (1 − σ(x)))   (composed)

    x, y: the same shape. Notebook: not used in the notebooks."""
    _check_float(x, "silu")
    return x * sigmoid(x)


class Softplus(Function):
    """y = (1/β) log(1 + e^{βx}), computed as (log(1 + e^{−|βx|}) + max(βx, 0)) / β (no overflow);
    y = x where βx > threshold (PyTorch's linear region)
    dL/dx = dy · σ(βx)   (dy in the linear region)        x, y, dy: same shape"""

    def forward(ctx, x, beta, threshold):
        xp = ctx.xp
        z = x * beta
        ctx.linear = z > threshold
        ctx.beta = beta
        ctx.save_for_backward(x)
        soft = (xp.log1p(xp.exp(-xp.abs(z))) + xp.maximum(z, 0)) / beta
        return xp.where(ctx.linear, x, soft).astype(x.dtype, copy=False)

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * where(ctx.linear, 1.0, sigmoid(x * ctx.beta)), None, None


def softplus(x, beta=1.0, threshold=20.0):
    """softplus(x) = (1/β) log(1 + e^{βx}); x itself where βx > threshold.

    dL/dx = dy · σ(βx) (dy in the linear region); x, y: the same shape. One ``Function``
    (``Softplus``) with the stable forward and the derived backward. Notebook:
    notebooks/01_autograd.ipynb, section 2 ("A `Function`, forward and backward") builds softplus
    as its first ``Function``."""
    _check_float(x, "softplus")
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero")
    return Softplus.apply(x, beta, threshold)


# ---- dropout ----------------------------------------------------------------------------------
def dropout(x, p=0.5, training=True):
    """Inverted dropout: y = x · m / (1 − p) with m ~ Bernoulli(1 − p) drawn on x's device.

    Kept values are scaled by 1/(1 − p) so that E[y] = x and evaluation needs no rescaling.
    ``training=False`` or p = 0 returns x itself; p = 1 gives zeros.
    dL/dx = dy · m / (1 − p)   (the same mask); x, m, y: the same shape. Notebook:
    notebooks/04_attention.ipynb, section 5 ("The Transformer encoder block from the pieces"),
    where the block runs in eval mode so that dropout is off."""
    if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p has to be between 0 and 1, got {p}")
    if not training or p == 0:
        return x
    _check_float(x, "dropout")
    if p == 1:
        return x * 0.0
    xp = get_array_module(x.array)
    draw_dtype = xp.float32 if x.dtype.itemsize <= 4 else xp.float64
    keep = backend.rng_for(x.device).random(x.shape, dtype=draw_dtype) >= p
    scale = keep.astype(x.dtype) * (1.0 / (1.0 - p))
    return x * Tensor._make(scale.astype(x.dtype, copy=False), False)


# ---- index ops --------------------------------------------------------------------------------
def _as_index_tensor(indices, op):
    if not isinstance(indices, Tensor):
        from ..tensor import tensor

        indices = tensor(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: indices must be an integer tensor (int64 or int32), got dtype {indices.dtype} "
            f"of shape {tuple(indices.shape)}"
        )
    return indices


@reference_op
def embedding(input, weight, padding_idx=None):
    """Rows of an embedding table: y[..., :] = weight[input[...], :].

    input: integer indices of any shape (*); weight: (V, D); y: (*, D).
    dL/dweight[v] = Σ over positions where input = v of dy[position]   (repeated indices add up);
    rows at ``padding_idx`` get no gradient (their value is still returned). Composed from
    indexing. Notebook: notebooks/04_attention.ipynb, section 7 ("What a trained model attends
    to"): token and position embeddings. A kernel (minidl/kernels/activation.py) may run instead."""
    idx, padding_idx = check_embedding_args(input, weight, padding_idx)
    y = getitem(weight, idx)  # (*, D); backward scatters dy back into the rows
    if padding_idx is not None:
        pad = (idx.array == padding_idx)[..., None]  # (*, 1)
        if bool(pad.any()):
            y = where(pad, y.detach(), y)  # same values, but no gradient to the padding row
    return y


def check_embedding_args(input, weight, padding_idx):  # noqa: A002
    """``embedding``'s errors; returns the indices as an integer Tensor and ``padding_idx`` in 0..V-1
    (or None). Shared with its kernel."""
    idx = _as_index_tensor(input, "embedding")
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        shape = tuple(weight.shape) if hasattr(weight, "shape") else type(weight).__name__
        raise ValueError(f"embedding: weight must be a 2-D tensor (num_embeddings, embedding_dim), got {shape}")
    V = weight.shape[0]
    if padding_idx is not None:
        if not -V <= padding_idx < V:
            raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for a table of {V} rows")
        padding_idx %= V
    if idx.numel():
        lo, hi = int(idx.array.min()), int(idx.array.max())
        if lo < 0 or hi >= V:
            bad = hi if hi >= V else lo
            raise IndexError(
                f"embedding: index {bad} is out of range for a table of {V} rows "
                f"(indices must be in 0..{V - 1}; got min {lo}, max {hi})"
            )
    return idx, padding_idx


def one_hot(tensor, num_classes=-1):
    """y[..., c] = 1 if tensor[...] == c else 0, as int64 of shape (*, num_classes).
    ``num_classes=-1`` takes max(tensor) + 1. No gradient (the result is an integer tensor).
    Notebook: not used in the notebooks."""
    idx = _as_index_tensor(tensor, "one_hot")
    xp = get_array_module(idx.array)
    if idx.numel():
        lo, hi = int(idx.array.min()), int(idx.array.max())
        if lo < 0:
            raise IndexError(f"one_hot: class values must be non-negative, got {lo}")
    elif num_classes == -1:
        raise ValueError("one_hot: cannot infer the number of classes from an empty tensor; pass num_classes")
    else:
        hi = -1
    if num_classes == -1:
        num_classes = hi + 1
    elif num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be positive or -1, got {num_classes}")
    elif hi >= num_classes:
        raise IndexError(f"one_hot: class value {hi} is too large for num_classes={num_classes}")
    out = idx.array[..., None] == xp.arange(num_classes)  # (*, num_classes)
    return Tensor._make(out.astype(xp.int64), False)


def _check_float(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point tensor, got dtype {x.dtype}")


__all__ = [
    "dropout",
    "elu",
    "embedding",
    "erf",
    "gelu",
    "hardtanh",
    "leaky_relu",
    "log_softmax",
    "one_hot",
    "relu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "tanh",
]
