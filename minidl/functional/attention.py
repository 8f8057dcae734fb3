"""Attention: every query position takes a weighted average of the values, weighted by how well
the query matches each key (notebooks/04_attention.ipynb).

    scores = Q Kᵀ · scale (+ mask)        Q (..., L, E), K (..., S, E)  ->  (..., L, S)
    P      = softmax(scores) along S      the attention weights; each row sums to 1
    out    = P V                          V (..., S, Ev)                ->  (..., L, Ev)

``scale`` is 1/√E by default (notebook section 2): with unit-variance queries and keys a dot
product of E terms has variance E, and dividing by √E keeps the softmax out of its flat,
saturated regions.

Masks follow ``torch.nn.functional.scaled_dot_product_attention`` (notebook section 3):

- bool ``attn_mask``: True means the query may attend to that key, False excludes it (its score
  becomes −∞, so its weight is 0);
- float ``attn_mask``: added to the scores (−∞ excludes, other values bias; it may require grad);
- ``is_causal=True``: query i sees keys 0..i, the lower triangle ``tril(ones(L, S))`` aligned at
  the top-left corner as in PyTorch. Giving both ``attn_mask`` and ``is_causal`` is an error.

A mask broadcasts to the scores' shape (..., L, S) but may not enlarge it.

**Fully masked rows.** When every key of a query row is excluded, softmax would divide 0 by 0
(PyTorch's math path returns NaN there). Here such a row gets attention weights 0, so its output
is 0 and no gradient flows through it (to Q, K, V or the mask). Every function in this module
does the same.

Everything here is composed of Tensor ops (matmul, masked_fill or add, softmax, matmul), so the
backward is the chain rule through them and second derivatives come for free.
``scaled_dot_product_attention`` has a fused kernel in ``minidl/kernels/attention.py`` (one
forward and one backward on arrays) that runs instead outside ``minidl.reference_mode()``.
``attention_weights`` returns P itself, for plots (``minidl.viz``) and inspection.
``multi_head_attention_forward`` runs H heads side by side (PyTorch's functional signature).
"""

from __future__ import annotations

import math
import numbers

from .. import backend
from ..backend import get_array_module
from ..dispatch import reference_op
from ..tensor import Tensor
from ._common import broadcast_shapes
from .activation import softmax
from .elementwise import logical_not, masked_fill, where
from .linalg import linear, matmul
from .reduce import mean
from .shape import permute, reshape, squeeze, transpose, unsqueeze


# ---- the equation ---------------------------------------------------------------------------
def masked_softmax(scores, masked):
    """softmax(scores) along the last dim; a row whose scores are all −∞ (fully masked) gets
    weights 0 and passes no gradient."""
    if not masked:
        return softmax(scores, -1)
    xp = get_array_module(scores.array)
    dead = xp.isneginf(scores.array.max(axis=-1, keepdims=True))  # (..., L, 1)
    if not bool(dead.any()):
        return softmax(scores, -1)
    dead = Tensor._make(dead, False)
    return where(dead, 0.0, softmax(where(dead, 0.0, scores), -1))


def attention_probabilities(query, key, allowed, bias, scale):
    """P = softmax(Q Kᵀ · scale + mask) along the keys: (..., L, S).  ``allowed``: a bool mask
    (False → −∞) or None; ``bias``: a float mask to add, or None."""
    scores = matmul(query, transpose(key, -2, -1)) * scale  # (..., L, E) @ (..., E, S) -> (..., L, S)
    if allowed is not None:
        scores = masked_fill(scores, logical_not(allowed), -math.inf)  # excluded keys: −∞
    if bias is not None:
        scores = scores + bias  # (..., L, S) + mask broadcast to it
    return masked_softmax(scores, masked=allowed is not None or bias is not None)


def attend(query, key, value, allowed, bias, scale, keep):
    """out = (P ∘ D) V with P = ``attention_probabilities`` and D the dropout multiplier ``keep``
    (an array of 0 and 1/(1 − p), or None): (..., L, S) @ (..., S, Ev) -> (..., L, Ev)."""
    p = attention_probabilities(query, key, allowed, bias, scale)  # (..., L, S)
    if keep is not None:
        p = p * Tensor._make(keep, False)
    return matmul(p, value)  # (..., L, S) @ (..., S, Ev) -> (..., L, Ev)


# ---- argument checks --------------------------------------------------------------------------
def _check_inputs(op, query, key, value):
    """The shape of the scores, (..., L, S), after checking Q, K (and V) against each other."""
    named = [("query", query), ("key", key)] + ([("value", value)] if value is not None else [])
    for name, t in named:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise ValueError(f"{op}: {name} needs at least 2 dims (..., length, features), got shape {tuple(t.shape)}")
        if t.dtype.kind != "f":
            raise TypeError(f"{op}: {name} must be a floating point tensor, got dtype {t.dtype}")
        if t.dtype != query.dtype:
            raise TypeError(f"{op}: query has dtype {query.dtype} but {name} has dtype {t.dtype}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"{op}: query of shape {tuple(query.shape)} and key of shape {tuple(key.shape)} need the same "
            f"last dim E (the width of the dot products), got {query.shape[-1]} and {key.shape[-1]}"
        )
    shapes = [tuple(query.shape), tuple(key.shape)]
    if value is not None:
        if value.shape[-2] != key.shape[-2]:
            raise ValueError(
                f"{op}: key of shape {tuple(key.shape)} and value of shape {tuple(value.shape)} need the same "
                f"length S (dim -2), got {key.shape[-2]} and {value.shape[-2]}"
            )
        shapes.append(tuple(value.shape))
    batch = broadcast_shapes(*[s[:-2] for s in shapes])
    if batch is None:
        raise ValueError(f"{op}: the batch dims of the shapes {', '.join(map(str, shapes))} do not broadcast")
    return batch + (query.shape[-2], key.shape[-2])


def check_attention_arguments(op, query, key, value, attn_mask, dropout_p, is_causal, scale):
    """Check the arguments; return (allowed, bias, scale, keep): a bool mask (True = attend) or
    a float mask to add (at most one of them), the scale, and the dropout multiplier (or None)."""
    scores_shape = _check_inputs(op, query, key, value)
    L, S = scores_shape[-2:]
    if attn_mask is not None and is_causal:
        raise ValueError(
            f"{op}: pass either attn_mask or is_causal=True, not both (is_causal builds its own mask)"
        )
    if not isinstance(dropout_p, numbers.Real) or not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{op}: dropout_p must be between 0 and 1, got {dropout_p}")
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    xp = get_array_module(query.array)
    allowed = bias = None
    if is_causal:
        allowed = Tensor._make(xp.tril(xp.ones((L, S), dtype=bool)), False)  # (L, S) query i sees keys 0..i
    elif attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            raise TypeError(f"{op}: attn_mask must be a Tensor (bool or float), got {type(attn_mask).__name__}")
        if attn_mask.device != query.device:
            raise ValueError(f"{op}: attn_mask is on {attn_mask.device} but query is on {query.device}")
        if broadcast_shapes(tuple(attn_mask.shape), scores_shape) != scores_shape:
            raise ValueError(
                f"{op}: attn_mask of shape {tuple(attn_mask.shape)} does not broadcast to the shape of the "
                f"attention scores {scores_shape} (..., L, S)"
            )
        if attn_mask.dtype.kind == "b":
            allowed = attn_mask
        elif attn_mask.dtype == query.dtype:
            bias = attn_mask
        else:
            raise TypeError(
                f"{op}: attn_mask must be bool or have the query's dtype {query.dtype}, got {attn_mask.dtype}"
            )
    keep = dropout_multiplier(dropout_p, scores_shape, query) if dropout_p > 0 else None
    return allowed, bias, float(scale), keep


def dropout_multiplier(p, shape, like):
    """The dropout multiplier of the attention weights: 0 with probability p, else 1/(1 − p)."""
    xp = get_array_module(like.array)
    if p == 1:
        return xp.zeros(shape, dtype=like.dtype)
    draw_dtype = xp.float32 if like.dtype.itemsize <= 4 else xp.float64
    kept = backend.rng_for(like.device).random(shape, dtype=draw_dtype) >= p
    return kept.astype(like.dtype) * (1.0 / (1.0 - p))


# ---- public functions -----------------------------------------------------------------------
@reference_op
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """out = softmax(Q Kᵀ · scale + mask) V        (PyTorch's signature; notebooks/04_attention.ipynb §1, §3)

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); batch dims broadcast.
    ``attn_mask``: bool (True = take part) or float (added), broadcasting to (..., L, S).
    ``is_causal``: lower-triangular mask (error together with ``attn_mask``). ``dropout_p``:
    dropout on the weights, applied whenever it is > 0 (pass 0 in evaluation, as in PyTorch).
    ``scale``: default 1/√E. Fully masked query rows give output 0 and zero gradient (not NaN).

    Backward (the chain rule through matmul, softmax and matmul), with dO = dL/dO, Pd = P ∘ D:
        dV = Pdᵀ dO,   dP = (dO Vᵀ) ∘ D,   dS = P ∘ (dP − rowsum(dP ∘ P)),
        dQ = dS K · scale,   dK = dSᵀ Q · scale,   d(float mask) = dS.
    """
    allowed, bias, scale, keep = check_attention_arguments(
        "scaled_dot_product_attention", query, key, value, attn_mask, dropout_p, is_causal, scale
    )
    return attend(query, key, value, allowed, bias, scale, keep)  # (..., L, Ev)


def attention_weights(query, key, attn_mask=None, is_causal=False, scale=None):
    """P = softmax(Q Kᵀ · scale + mask) along the keys: (..., L, S), each row summing to 1 (0 for
    a fully masked row). Differentiable; meant for plotting and inspecting attention
    (notebooks/04_attention.ipynb §7)."""
    allowed, bias, scale, _ = check_attention_arguments(
        "attention_weights", query, key, None, attn_mask, 0.0, is_causal, scale
    )
    return attention_probabilities(query, key, allowed, bias, scale)


# ---- multi-head attention (notebooks/04_attention.ipynb §4, "Multi-head attention is a reshape") --
def _additive_mask(mask, name, dtype, op):
    """A bool mask (True = NOT allowed, PyTorch's convention in multi-head attention) as an
    additive mask of 0 and −∞; a float mask as it is."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor (bool or float), got {type(mask).__name__}")
    if mask.dtype.kind == "b":
        xp = get_array_module(mask.array)
        return Tensor._make(xp.where(mask.array, -math.inf, 0.0).astype(dtype), False)
    if mask.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be bool or floating point, got dtype {mask.dtype}")
    return mask if mask.dtype == dtype else mask.to(dtype)


def _check_mha_inputs(op, query, key, value, embed_dim, num_heads, batch_first):
    """Check Q, K, V (batched 3-D or unbatched 2-D); return (L, N, E, S) of the batched ones."""
    bdim, tdim = (0, 1) if batch_first else (1, 0)
    L, N, E = query.shape[tdim], query.shape[bdim], query.shape[2]
    S = key.shape[tdim]
    if E != embed_dim:
        raise ValueError(f"{op}: query of shape {tuple(query.shape)} has embed dim {E}, expected {embed_dim}")
    if E % num_heads:
        raise ValueError(f"{op}: embed dim {E} is not divisible by num_heads {num_heads}")
    if key.shape[bdim] != N or value.shape[bdim] != N or value.shape[tdim] != S:
        raise ValueError(
            f"{op}: key of shape {tuple(key.shape)} and value of shape {tuple(value.shape)} do not fit query of "
            f"shape {tuple(query.shape)} (batch {N}, key length {S}, batch_first={batch_first})"
        )
    return L, N, E, S


def _as_batched(op, query, key, value, key_padding_mask, batch_first):
    """Unbatched (T, E) inputs get a batch dim of 1; returns (query, key, value, mask, batched)."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise ValueError(
            f"{op}: query, key and value must all be 3-D (batched) or all 2-D (unbatched), got shapes "
            f"{tuple(query.shape)}, {tuple(key.shape)} and {tuple(value.shape)}"
        )
    if query.ndim == 3:
        return query, key, value, key_padding_mask, True
    bdim = 0 if batch_first else 1
    query, key, value = (unsqueeze(t, bdim) for t in (query, key, value))  # (T, E) -> (T, 1, E) or (1, T, E)
    if key_padding_mask is not None and key_padding_mask.ndim == 1:
        key_padding_mask = unsqueeze(key_padding_mask, 0)  # (S,) -> (1, S)
    return query, key, value, key_padding_mask, False


def _in_projections(op, query, key, value, E, in_proj_weight, in_proj_bias, separate, w_q, w_k, w_v):
    """[(W_q, b_q), (W_k, b_k), (W_v, b_v)]: rows of the packed (3E, E) weight, or the separate ones."""
    if not separate:
        w_q, w_k, w_v = in_proj_weight[:E], in_proj_weight[E : 2 * E], in_proj_weight[2 * E :]  # (E, E) each
    for name, w, x in (("query", w_q, query), ("key", w_k, key), ("value", w_v, value)):
        if tuple(w.shape) != (E, x.shape[2]):
            raise ValueError(
                f"{op}: the {name} projection weight has shape {tuple(w.shape)}, expected {(E, x.shape[2])} "
                f"for a {name} of shape {tuple(x.shape)}"
            )
    b = [None] * 3 if in_proj_bias is None else [in_proj_bias[:E], in_proj_bias[E : 2 * E], in_proj_bias[2 * E :]]
    return list(zip((w_q, w_k, w_v), b))


def split_heads(x, weight, bias, num_heads, batch_first):
    """Project x Wᵀ + b and split the features into heads: (T, N, E_in) or (N, T, E_in) -> (N, H, T, D)."""
    T_N = tuple(x.shape[:2])
    y = linear(reshape(x, (T_N[0] * T_N[1], x.shape[2])), weight, bias)  # (T·N, E_in) @ (E_in, E) -> (T·N, E)
    y = reshape(y, T_N + (num_heads, y.shape[-1] // num_heads))  # (T, N, H, D) or (N, T, H, D)
    return permute(y, (0, 2, 1, 3) if batch_first else (1, 2, 0, 3))  # (N, H, T, D)


def merge_heads(heads, weight, bias, batch_first):
    """concat(head_1, ..., head_H) W_oᵀ + b_o: (N, H, L, D) -> (L, N, E) or (N, L, E)."""
    N, H, L, D = heads.shape
    heads = permute(heads, (0, 2, 1, 3) if batch_first else (2, 0, 1, 3))  # (N, L, H, D) or (L, N, H, D)
    out = linear(reshape(heads, (L * N, H * D)), weight, bias)  # (L·N, E) @ (E, E) -> (L·N, E)
    return reshape(out, (N, L, H * D) if batch_first else (L, N, H * D))


def _heads_mask(op, attn_mask, key_padding_mask, is_causal, N, H, L, S, like):
    """One additive mask that broadcasts to the scores (N, H, L, S), or None."""
    mask = None
    if attn_mask is not None:
        mask = _additive_mask(attn_mask, "attn_mask", like.dtype, op)
        if tuple(mask.shape) == (L, S):
            mask = reshape(mask, (1, 1, L, S))
        elif tuple(mask.shape) == (N * H, L, S):
            mask = reshape(mask, (N, H, L, S))  # rows n·H + h
        else:
            raise ValueError(
                f"{op}: attn_mask of shape {tuple(attn_mask.shape)} should be {(L, S)} or {(N * H, L, S)} "
                "(L, S) or (N·num_heads, L, S)"
            )
    elif is_causal:
        xp = get_array_module(like.array)
        causal = xp.where(xp.tril(xp.ones((L, S), dtype=bool)), 0.0, -math.inf).astype(like.dtype)  # (L, S)
        mask = Tensor._make(causal, False)
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (N, S):
            raise ValueError(
                f"{op}: key_padding_mask of shape {tuple(key_padding_mask.shape)} should be {(N, S)} (N, S)"
            )
        pad = reshape(_additive_mask(key_padding_mask, "key_padding_mask", like.dtype, op), (N, 1, 1, S))
        mask = pad if mask is None else mask + pad  # (N, H or 1, L or 1, S)
    return mask


def _attend_heads(q, k, v, mask, p_drop, need_weights, like):
    """(heads (N, H, L, D), weights (N, H, L, S) or None): attention on all heads at once."""
    if not need_weights:
        return scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p_drop), None
    weights = attention_probabilities(q, k, None, mask, 1.0 / math.sqrt(q.shape[-1]))  # (N, H, L, S)
    if p_drop > 0:
        weights = weights * Tensor._make(dropout_multiplier(p_drop, weights.shape, like), False)
    return matmul(weights, v), weights  # (N, H, L, S) @ (N, H, S, D) -> (N, H, L, D)


def multi_head_attention_forward(
    query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
    dropout_p, out_proj_weight, out_proj_bias, training=True, key_padding_mask=None, need_weights=True,
    attn_mask=None, use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None, v_proj_weight=None,
    static_k=None, static_v=None, average_attn_weights=True, is_causal=False, batch_first=False,
):
    """Multi-head attention, PyTorch's ``F.multi_head_attention_forward`` (notebooks/04_attention.ipynb §4):

        head_h = softmax((X_q W_qhᵀ)(X_k W_khᵀ)ᵀ / √D + mask) (X_v W_vhᵀ),   D = E / H
        out    = concat(head_1, ..., head_H) W_oᵀ + b_o

    The H heads are not a loop: the projections are reshaped to (N, H, T, D) and attention runs
    on all of them at once (``split_heads``, ``scaled_dot_product_attention``, ``merge_heads``).

    Shapes (``batch_first=False``, PyTorch's layout): query (L, N, E), key (S, N, kdim), value
    (S, N, vdim) -> output (L, N, E); with ``batch_first=True`` (a minidl extension that saves two
    transposes) (N, L, E) etc.; unbatched (L, E), (S, kdim), (S, vdim) -> (L, E).
    ``key_padding_mask`` (N, S) or (S,): bool True = ignore that key, or float added.
    ``attn_mask`` (L, S) or (N·H, L, S): bool True = not allowed, or float added.
    ``is_causal=True`` without ``attn_mask`` applies the causal mask (PyTorch raises instead);
    with ``attn_mask`` it is a hint and ``attn_mask`` is used.
    Returns (output, weights): weights (N, L, S) averaged over heads, or (N, H, L, S) with
    ``average_attn_weights=False`` (batch dim dropped when unbatched), after dropout as in
    PyTorch; None when ``need_weights=False``. A query row whose keys are all masked gets output
    b_o (its attention is 0) and weights 0.
    """
    op = "multi_head_attention_forward"
    if bias_k is not None or bias_v is not None or add_zero_attn or static_k is not None or static_v is not None:
        raise NotImplementedError(f"{op}: bias_k/bias_v, add_zero_attn and static_k/static_v are not supported")
    query, key, value, key_padding_mask, batched = _as_batched(op, query, key, value, key_padding_mask, batch_first)
    L, N, E, S = _check_mha_inputs(op, query, key, value, embed_dim_to_check, num_heads, batch_first)
    projections = _in_projections(op, query, key, value, E, in_proj_weight, in_proj_bias, use_separate_proj_weight,
                                  q_proj_weight, k_proj_weight, v_proj_weight)
    # 1. project and split into heads: (N, H, L, D), (N, H, S, D), (N, H, S, D)
    q, k, v = (split_heads(x, w, b, num_heads, batch_first) for x, (w, b) in zip((query, key, value), projections))
    # 2. the masks as one additive mask broadcasting to (N, H, L, S)
    mask = _heads_mask(op, attn_mask, key_padding_mask, is_causal, N, num_heads, L, S, query)
    # 3. attention on all heads at once: (N, H, L, D)
    heads, weights = _attend_heads(q, k, v, mask, dropout_p if training else 0.0, need_weights, query)
    # 4. concatenate the heads and project: (L, N, E) or (N, L, E)
    out = merge_heads(heads, out_proj_weight, out_proj_bias, batch_first)
    if weights is not None and average_attn_weights:
        weights = mean(weights, 1)  # (N, H, L, S) -> (N, L, S)
    if not batched:
        out = squeeze(out, 0 if batch_first else 1)
        weights = None if weights is None else squeeze(weights, 0)
    return out, weights
