"""Attention: every query position takes a weighted average of the values, weighted by how well
the query matches each key.

    scores = Q Kᵀ · scale (+ mask)        Q (..., L, E), K (..., S, E)  ->  (..., L, S)
    P      = softmax(scores) along S      the attention weights; each row sums to 1
    out    = P V                          V (..., S, Ev)                ->  (..., L, Ev)

``scale`` is 1/√E by default: with unit-variance queries and keys a dot product of E terms has
variance E, and dividing by √E keeps the softmax out of its flat, saturated regions.

Masks follow ``torch.nn.functional.scaled_dot_product_attention``:

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

``scaled_dot_product_attention`` is fused: one forward and one hand-written backward on arrays,
for speed. ``scaled_dot_product_attention_composed`` is the same equation built from matmul,
masked_fill/add, softmax and matmul; it is the reference the tests compare the fused one with.
``attention_weights`` returns P itself, for plots (``minidl.viz``) and inspection.
``multi_head_attention_forward`` runs H heads side by side (PyTorch's functional signature).
"""

from __future__ import annotations

import math
import numbers

from .. import backend
from ..autograd import Function, is_grad_enabled
from ..backend import get_array_module
from ..tensor import Tensor
from ._common import broadcast_shapes
from .activation import softmax
from .elementwise import logical_not, masked_fill, where
from .linalg import linear, matmul
from .reduce import mean
from .shape import permute, reshape, squeeze, transpose, unsqueeze


class ScaledDotProductAttention(Function):
    """Fused attention with an optional additive mask M and dropout multiplier D (0 or 1/(1−p)).

    Forward, S = Q Kᵀ · scale + M,   P = softmax(S) along S,   Pd = P ∘ D,   O = Pd V
    Backward, with dO = dL/dO:
        dV  = Pdᵀ dO                                   (..., S, L) @ (..., L, Ev)
        dP  = (dO Vᵀ) ∘ D                              (..., L, Ev) @ (..., Ev, S)
        dS  = P ∘ (dP − rowsum(dP ∘ P)),   rowsum(dP ∘ P)_i = dO_i · O_i   (a dot of length Ev)
        dQ  = dS K · scale,   dK = dSᵀ Q · scale,   dM = dS
    Shapes: Q (..., L, E), K (..., S, E), V (..., S, Ev), M and D broadcast to (..., L, S),
    O (..., L, Ev). Fully masked rows (all of M −∞) get P = 0, hence O = 0 and zero gradients.

    For speed the scores are copied (with the mask added on the way) into a buffer laid out
    key-first, (S, ..., L), seen through a view as Sᵀ (..., S, L). The softmax reductions then
    run over the buffer's first axis: S passes over long contiguous rows, instead of one short
    reduction per query row (for L = S = 100 the row max is about 20 times faster, far more than
    the copy costs); the matrix products read the view directly, since each (S, L) matrix in it
    is an ordinary strided matrix.

    Backward builds a graph of Tensor ops instead when a graph is being recorded
    (``create_graph=True``), so second derivatives work.
    """

    def forward(ctx, q, k, v, mask, scale, keep):
        xp = ctx.xp
        batch = broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        qs = q * scale  # (..., L, E): scaling Q costs L·E products instead of L·S
        scores_t = k @ qs.swapaxes(-1, -2)  # (..., S, E) @ (..., E, L) -> Sᵀ (..., S, L)
        sbuf = xp.empty((k.shape[-2],) + batch + (q.shape[-2],), dtype=q.dtype)  # (S, ..., L)
        st = xp.moveaxis(sbuf, 0, -2)  # (..., S, L), a view of sbuf
        if mask is None:
            st[...] = scores_t
        else:
            xp.add(scores_t, _swap_last(mask), out=st)
        m = sbuf.max(axis=0, keepdims=True)  # (1, ..., L) the largest score of each query row
        if mask is not None:
            m = xp.where(xp.isneginf(m), 0, m)  # fully masked rows: exp(−∞ − 0) = 0, not NaN
        sbuf -= m
        xp.exp(sbuf, out=sbuf)
        z = sbuf.sum(axis=0, keepdims=True)  # (1, ..., L); 0 only for a fully masked row
        if mask is not None:
            z = xp.where(z == 0, 1, z)  # ... whose weights then stay 0
        sbuf /= z  # now st is Pᵀ
        pdt = st if keep is None else st * _swap_last(keep)  # (Pd)ᵀ
        out = pdt.swapaxes(-1, -2) @ v  # (..., L, S) @ (..., S, Ev) -> (..., L, Ev)
        ctx.pt, ctx.pdt, ctx.qs, ctx.out = st, pdt, qs, out
        ctx.scale, ctx.keep = scale, keep
        ctx.save_for_backward(q, k, v, mask)
        return out

    def backward(ctx, dy):
        q, k, v, mask = ctx.saved_tensors
        need_q, need_k, need_v, need_mask = ctx.needs_input_grad[:4]
        if is_grad_enabled():
            return _attention_backward_graph(ctx, q, k, v, mask, dy)
        xp = ctx.xp
        dout = dy.data  # (..., L, Ev)
        dv = ctx.pdt @ dout if need_v else None  # (..., S, L) @ (..., L, Ev) -> (..., S, Ev)
        dq = dk = dmask = None
        if need_q or need_k or need_mask:
            dst = v.data @ dout.swapaxes(-1, -2)  # (..., S, Ev) @ (..., Ev, L) -> (dPd)ᵀ (..., S, L)
            if ctx.keep is not None:
                dst *= _swap_last(ctx.keep)  # dPᵀ
            delta = xp.einsum("...le,...le->...l", dout, ctx.out)  # (..., L) = rowsum(dP ∘ P)
            dst -= delta[..., None, :]
            dst *= ctx.pt  # dSᵀ (..., S, L)
            if need_q:
                dq = dst.swapaxes(-1, -2) @ k.data  # (..., L, S) @ (..., S, E) -> (..., L, E)
                dq *= ctx.scale
            if need_k:
                dk = dst @ ctx.qs  # (..., S, L) @ (..., L, E) -> (..., S, E)
            if need_mask:
                dmask = dst.swapaxes(-1, -2)  # (..., L, S)
        return _wrap(dq), _wrap(dk), _wrap(dv), _wrap(dmask), None, None


def _attention_backward_graph(ctx, q, k, v, mask, dy):
    """The backward equations of ScaledDotProductAttention as Tensor ops, P rebuilt from Q and K,
    so that the gradients are differentiable again."""
    need_q, need_k, need_v, need_mask = ctx.needs_input_grad[:4]
    p = _weights(q, k, None, mask, ctx.scale)  # (..., L, S)
    keep = None if ctx.keep is None else Tensor._make(ctx.keep, False)
    pd = p if keep is None else p * keep
    dv = matmul(transpose(pd, -2, -1), dy) if need_v else None  # (..., S, L) @ (..., L, Ev) -> (..., S, Ev)
    dq = dk = dmask = None
    if need_q or need_k or need_mask:
        dp = matmul(dy, transpose(v, -2, -1))  # (..., L, Ev) @ (..., Ev, S) -> (..., L, S)
        if keep is not None:
            dp = dp * keep
        ds = p * (dp - (dp * p).sum(-1, keepdim=True))  # (..., L, S)
        if need_q:
            dq = matmul(ds, k) * ctx.scale  # (..., L, S) @ (..., S, E) -> (..., L, E)
        if need_k:
            dk = matmul(transpose(ds, -2, -1), q) * ctx.scale  # (..., S, L) @ (..., L, E) -> (..., S, E)
        if need_mask:
            dmask = ds
    return dq, dk, dv, dmask, None, None


def _swap_last(a):
    """The last two axes of an array swapped (a view); 0-d and 1-d masks are rows of the scores."""
    if a.ndim < 2:
        a = a.reshape((1,) * (2 - a.ndim) + a.shape)
    return a.swapaxes(-1, -2)


def _wrap(a):
    return None if a is None else Tensor._make(a, False)


# ---- the composed reference -----------------------------------------------------------------
def _masked_softmax(scores, masked):
    """softmax(scores) along the last dim; a row whose scores are all −∞ (fully masked) gets
    weights 0 and passes no gradient."""
    if not masked:
        return softmax(scores, -1)
    xp = get_array_module(scores.data)
    dead = xp.isneginf(scores.data.max(axis=-1, keepdims=True))  # (..., L, 1)
    if not bool(dead.any()):
        return softmax(scores, -1)
    dead = Tensor._make(dead, False)
    return where(dead, 0.0, softmax(where(dead, 0.0, scores), -1))


def _weights(query, key, allowed, bias, scale):
    """P = softmax(Q Kᵀ · scale, masked) from primitives: (..., L, S)."""
    scores = matmul(query, transpose(key, -2, -1)) * scale  # (..., L, E) @ (..., E, S) -> (..., L, S)
    if allowed is not None:
        scores = masked_fill(scores, logical_not(allowed), -math.inf)
    if bias is not None:
        scores = scores + bias
    return _masked_softmax(scores, masked=allowed is not None or bias is not None)


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


def _prepare(op, query, key, value, attn_mask, dropout_p, is_causal, scale):
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
    xp = get_array_module(query.data)
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
    keep = _dropout_keep(dropout_p, scores_shape, query) if dropout_p > 0 else None
    return allowed, bias, float(scale), keep


def _dropout_keep(p, shape, like):
    """The dropout multiplier of the attention weights: 0 with probability p, else 1/(1 − p)."""
    xp = get_array_module(like.data)
    if p == 1:
        return xp.zeros(shape, dtype=like.dtype)
    draw_dtype = xp.float32 if like.dtype.itemsize <= 4 else xp.float64
    kept = backend.rng_for(like.device).random(shape, dtype=draw_dtype) >= p
    return kept.astype(like.dtype) * (1.0 / (1.0 - p))


# ---- public functions -----------------------------------------------------------------------
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """out = softmax(Q Kᵀ · scale + mask) V   (fused forward and backward; PyTorch's signature)

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); batch dims broadcast.
    ``attn_mask``: bool (True = take part) or float (added), broadcasting to (..., L, S).
    ``is_causal``: lower-triangular mask (error together with ``attn_mask``). ``dropout_p``:
    dropout on the weights, applied whenever it is > 0 (pass 0 in evaluation, as in PyTorch).
    ``scale``: default 1/√E. Fully masked query rows give output 0 and zero gradient (not NaN).
    """
    allowed, bias, scale, keep = _prepare(
        "scaled_dot_product_attention", query, key, value, attn_mask, dropout_p, is_causal, scale
    )
    if allowed is not None:
        xp = get_array_module(query.data)
        bias = xp.where(allowed.data, 0.0, -math.inf).astype(query.dtype)  # a constant additive mask
    return ScaledDotProductAttention.apply(query, key, value, bias, scale, keep)


def scaled_dot_product_attention_composed(
    query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None
):
    """The reference attention from primitives: matmul, masked_fill or add, softmax, matmul.
    Same arguments and results as ``scaled_dot_product_attention``."""
    allowed, bias, scale, keep = _prepare(
        "scaled_dot_product_attention", query, key, value, attn_mask, dropout_p, is_causal, scale
    )
    p = _weights(query, key, allowed, bias, scale)  # (..., L, S)
    if keep is not None:
        p = p * Tensor._make(keep, False)
    return matmul(p, value)  # (..., L, S) @ (..., S, Ev) -> (..., L, Ev)


def attention_weights(query, key, attn_mask=None, is_causal=False, scale=None):
    """P = softmax(Q Kᵀ · scale + mask) along the keys: (..., L, S), each row summing to 1 (0 for
    a fully masked row). Differentiable; meant for plotting and inspecting attention."""
    allowed, bias, scale, _ = _prepare("attention_weights", query, key, None, attn_mask, 0.0, is_causal, scale)
    return _weights(query, key, allowed, bias, scale)


# ---- multi-head attention -------------------------------------------------------------------
def _additive_mask(mask, name, dtype, op):
    """A bool mask (True = NOT allowed, PyTorch's convention in multi-head attention) as an
    additive mask of 0 and −∞; a float mask as it is."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor (bool or float), got {type(mask).__name__}")
    if mask.dtype.kind == "b":
        xp = get_array_module(mask.data)
        return Tensor._make(xp.where(mask.data, -math.inf, 0.0).astype(dtype), False)
    if mask.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be bool or floating point, got dtype {mask.dtype}")
    return mask if mask.dtype == dtype else mask.to(dtype)


def _project(x, weight, bias, num_heads, batch_first):
    """x (T, N, E_in) or (N, T, E_in) -> the heads, (N, H, T, D), through x Wᵀ + b."""
    T_N = x.shape[:2]
    y = linear(reshape(x, (T_N[0] * T_N[1], x.shape[2])), weight, bias)  # (T·N, E_in) @ (E_in, E) -> (T·N, E)
    y = reshape(y, T_N + (num_heads, y.shape[-1] // num_heads))  # (T, N, H, D) or (N, T, H, D)
    return permute(y, (0, 2, 1, 3) if batch_first else (1, 2, 0, 3))  # (N, H, T, D)


def multi_head_attention_forward(
    query,
    key,
    value,
    embed_dim_to_check,
    num_heads,
    in_proj_weight,
    in_proj_bias,
    bias_k,
    bias_v,
    add_zero_attn,
    dropout_p,
    out_proj_weight,
    out_proj_bias,
    training=True,
    key_padding_mask=None,
    need_weights=True,
    attn_mask=None,
    use_separate_proj_weight=False,
    q_proj_weight=None,
    k_proj_weight=None,
    v_proj_weight=None,
    static_k=None,
    static_v=None,
    average_attn_weights=True,
    is_causal=False,
    batch_first=False,
):
    """Multi-head attention, PyTorch's ``F.multi_head_attention_forward``:

        head_h = softmax((X_q W_qhᵀ)(X_k W_khᵀ)ᵀ / √D + mask) (X_v W_vhᵀ),   D = E / H
        out    = concat(head_1, ..., head_H) W_oᵀ + b_o

    The H heads are not a loop: the projections are reshaped to (N, H, T, D) and attention runs
    on all of them at once.

    Shapes (``batch_first=False``, PyTorch's layout): query (L, N, E), key (S, N, kdim), value
    (S, N, vdim) -> output (L, N, E); with ``batch_first=True`` (a minidl extension that saves two
    transposes) (N, L, E) etc.; unbatched (L, E), (S, kdim), (S, vdim) -> (L, E).
    ``key_padding_mask`` (N, S) or (S,): bool True = ignore that key, or float added.
    ``attn_mask`` (L, S) or (N·H, L, S): bool True = not allowed, or float added.
    ``is_causal=True`` without ``attn_mask`` applies the causal mask (PyTorch raises instead);
    with ``attn_mask`` it is a hint and ``attn_mask`` is used.
    Returns (output, weights): weights (N, L, S) averaged over heads, or (N, H, L, S) with
    ``average_attn_weights=False`` (batch dim dropped when unbatched), after dropout as in
    PyTorch; None when ``need_weights=False`` (which takes the fused attention).
    A query row whose keys are all masked gets output b_o (its attention is 0) and weights 0.
    """
    op = "multi_head_attention_forward"
    if bias_k is not None or bias_v is not None or add_zero_attn or static_k is not None or static_v is not None:
        raise NotImplementedError(f"{op}: bias_k/bias_v, add_zero_attn and static_k/static_v are not supported")
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise ValueError(
            f"{op}: query, key and value must all be 3-D (batched) or all 2-D (unbatched), got shapes "
            f"{tuple(query.shape)}, {tuple(key.shape)} and {tuple(value.shape)}"
        )
    batched = query.ndim == 3
    bdim = 0 if batch_first else 1
    if not batched:
        query, key, value = (unsqueeze(t, bdim) for t in (query, key, value))
        if key_padding_mask is not None and key_padding_mask.ndim == 1:
            key_padding_mask = unsqueeze(key_padding_mask, 0)  # (S,) -> (1, S)
    tdim = 1 - bdim
    L, N, E = query.shape[tdim], query.shape[bdim], query.shape[2]
    S = key.shape[tdim]
    if E != embed_dim_to_check:
        raise ValueError(f"{op}: query of shape {tuple(query.shape)} has embed dim {E}, expected {embed_dim_to_check}")
    if E % num_heads:
        raise ValueError(f"{op}: embed dim {E} is not divisible by num_heads {num_heads}")
    if key.shape[bdim] != N or value.shape[bdim] != N or value.shape[tdim] != S:
        raise ValueError(
            f"{op}: key of shape {tuple(key.shape)} and value of shape {tuple(value.shape)} do not fit query of "
            f"shape {tuple(query.shape)} (batch {N}, key length {S}, batch_first={batch_first})"
        )
    H, D = num_heads, E // num_heads

    # ---- projections: (N, H, T, D) each
    if use_separate_proj_weight:
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    else:
        w_q, w_k, w_v = in_proj_weight[:E], in_proj_weight[E : 2 * E], in_proj_weight[2 * E :]
    for name, w, x in (("query", w_q, query), ("key", w_k, key), ("value", w_v, value)):
        if tuple(w.shape) != (E, x.shape[2]):
            raise ValueError(
                f"{op}: the {name} projection weight has shape {tuple(w.shape)}, expected {(E, x.shape[2])} "
                f"for a {name} of shape {tuple(x.shape)}"
            )
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        b_q, b_k, b_v = in_proj_bias[:E], in_proj_bias[E : 2 * E], in_proj_bias[2 * E :]
    q = _project(query, w_q, b_q, H, batch_first)  # (N, H, L, D)
    k = _project(key, w_k, b_k, H, batch_first)  # (N, H, S, D)
    v = _project(value, w_v, b_v, H, batch_first)  # (N, H, S, D)

    # ---- masks: one additive mask that broadcasts to (N, H, L, S)
    mask = None
    if attn_mask is not None:
        mask = _additive_mask(attn_mask, "attn_mask", query.dtype, op)
        if mask.ndim == 2 and tuple(mask.shape) == (L, S):
            mask = reshape(mask, (1, 1, L, S))
        elif mask.ndim == 3 and tuple(mask.shape) == (N * H, L, S):
            mask = reshape(mask, (N, H, L, S))
        else:
            raise ValueError(
                f"{op}: attn_mask of shape {tuple(attn_mask.shape)} should be {(L, S)} or {(N * H, L, S)} "
                "(L, S) or (N·num_heads, L, S)"
            )
    elif is_causal:
        xp = get_array_module(query.data)
        mask = Tensor._make(xp.where(xp.tril(xp.ones((L, S), dtype=bool)), 0.0, -math.inf).astype(query.dtype), False)
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (N, S):
            raise ValueError(
                f"{op}: key_padding_mask of shape {tuple(key_padding_mask.shape)} should be {(N, S)} (N, S)"
            )
        pad = reshape(_additive_mask(key_padding_mask, "key_padding_mask", query.dtype, op), (N, 1, 1, S))
        mask = pad if mask is None else mask + pad

    # ---- attention on all heads at once
    p_drop = dropout_p if training else 0.0
    if need_weights:
        weights = _weights(q, k, None, mask, 1.0 / math.sqrt(D))  # (N, H, L, S)
        if p_drop > 0:
            weights = weights * Tensor._make(_dropout_keep(p_drop, weights.shape, query), False)
        heads = matmul(weights, v)  # (N, H, L, S) @ (N, H, S, D) -> (N, H, L, D)
    else:
        weights = None
        heads = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p_drop)  # (N, H, L, D)

    # ---- concatenate the heads and project
    heads = permute(heads, (0, 2, 1, 3) if batch_first else (2, 0, 1, 3))  # (N, L, H, D) or (L, N, H, D)
    out = linear(reshape(heads, (L * N, E)), out_proj_weight, out_proj_bias)  # (L·N, E) @ (E, E) -> (L·N, E)
    out = reshape(out, (N, L, E) if batch_first else (L, N, E))
    if weights is not None and average_attn_weights:
        weights = mean(weights, 1)  # (N, L, S)
    if not batched:
        out = squeeze(out, bdim)
        if weights is not None:
            weights = squeeze(weights, 0)
    return out, weights
