"""Fused scaled dot-product attention: a kernel of ``scaled_dot_product_attention``
(minidl/functional/attention.py, softmax(Q Kᵀ · scale + mask) V composed of Tensor ops).

One forward and one backward on arrays instead of a graph of matmul, mask, softmax and matmul
nodes: the scaled Q is kept for dK, the softmax runs in place on a key-first buffer, and the
backward uses rowsum(dP ∘ P) = rowsum(dO ∘ O) (a dot of length Ev instead of S). For
``create_graph=True`` the dispatcher differentiates the reference instead.
``benchmarks/bench_attention.py`` measures it against the reference and PyTorch.
"""

from __future__ import annotations

import math

from ..backend import get_array_module
from ..dispatch import KernelFunction, register_kernel
from ..functional import attention as A
from ..functional._common import broadcast_shapes
from ..functional.attention import attend
from ..tensor import Tensor
from ._parallel import run_pieces


class ScaledDotProductAttention(KernelFunction):
    """Fused attention with an optional additive mask M and dropout multiplier D (0 or 1/(1−p)).

    Forward, S = Q Kᵀ · scale + M,   P = softmax(S) along S,   Pd = P ∘ D,   O = Pd V
    Backward, with dO = dL/dO:
        dV  = Pdᵀ dO                                   (..., S, L) @ (..., L, Ev)
        dP  = (dO Vᵀ) ∘ D                              (..., L, Ev) @ (..., Ev, S)
        dS  = P ∘ (dP − rowsum(dP ∘ P)),   rowsum(dP ∘ P)_i = dO_i · O_i   (a dot of length Ev)
        dQ  = dS K · scale,   dK = dSᵀ Q · scale,   dM = dS
    Shapes: Q (..., L, E), K (..., S, E), V (..., S, Ev), M and D broadcast to (..., L, S),
    O (..., L, Ev). Fully masked rows (all of M −∞) get P = 0, hence O = 0 and zero gradients.

    How it is fast (on the CPU, with NumPy):
    - The batch dims are flattened to N matrices, and every product is one batched matmul of two
      C-contiguous operands (Kᵀ, the scaled Qᵀ and dOᵀ are copied once): a transposed operand
      makes NumPy's batched matmul several times slower for these small matrices.
    - The scores are formed transposed, Sᵀ (S, L) per matrix, in a buffer laid out key-first,
      (S, n, L), so the softmax reductions over the keys run over the buffer's first axis: long
      contiguous rows, instead of one short reduction per query row.
    - The N matrices are taken ``_GROUP`` at a time, so that a group's scores stay in the cache
      through the mask, max, exp, sum and division passes and the products that read them.

    For ``create_graph=True`` the dispatcher differentiates ``reference_forward`` (the reference
    attention on the same inputs and the same dropout multiplier) instead of ``kernel_backward``.
    """

    def forward(ctx, q, k, v, mask, scale, keep):
        xp = ctx.xp
        batch = broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        L, S, Ev = q.shape[-2], k.shape[-2], v.shape[-1]
        n = math.prod(batch)
        qs = _matrices(q * scale, batch, xp)  # (N, L, E): scaling Q costs L·E products instead of L·S
        qs_t = xp.ascontiguousarray(qs.swapaxes(-1, -2))  # (N, E, L)
        kc, vc = _matrices(k, batch, xp), _matrices(v, batch, xp)  # (N, S, E), (N, S, Ev)
        mask_t = _key_first(mask, batch, L, S, xp)  # (S, 1 or N, L) or None
        keep_t = _key_first(keep, batch, L, S, xp)
        out = xp.empty((n, L, Ev), dtype=q.dtype)
        groups = _groups(n)
        p_groups, pd_groups = [None] * len(groups), [None] * len(groups)

        def one_group(i):
            g = groups[i]
            sbuf = xp.empty((S, g.stop - g.start, L), dtype=q.dtype)  # Sᵀ of the group, key-first
            st = sbuf.transpose(1, 0, 2)  # (n_g, S, L), a view of sbuf
            xp.matmul(kc[g], qs_t[g], out=st)  # (n_g, S, E) @ (n_g, E, L) -> Sᵀ · scale
            if mask_t is not None:
                sbuf += mask_t if mask_t.shape[1] == 1 else mask_t[:, g]
            m = sbuf.max(axis=0, keepdims=True)  # (1, n_g, L) the largest score of each query row
            if mask_t is not None:
                m = xp.where(xp.isneginf(m), 0, m)  # fully masked rows: exp(−∞ − 0) = 0, not NaN
            sbuf -= m
            xp.exp(sbuf, out=sbuf)
            z = sbuf.sum(axis=0, keepdims=True)  # (1, n_g, L); 0 only for a fully masked row
            if mask_t is not None:
                z = xp.where(z == 0, 1, z)  # ... whose weights then stay 0
            sbuf /= z  # now sbuf holds Pᵀ
            pd = sbuf if keep_t is None else sbuf * (keep_t if keep_t.shape[1] == 1 else keep_t[:, g])
            xp.matmul(pd.transpose(1, 2, 0), vc[g], out=out[g])  # (n_g, L, S) @ (n_g, S, Ev)
            p_groups[i], pd_groups[i] = sbuf, pd

        run_pieces(one_group, range(len(groups)), xp)
        ctx.p_groups, ctx.pd_groups, ctx.keep_t = p_groups, pd_groups, keep_t
        ctx.qs, ctx.kc, ctx.vc, ctx.out = qs, kc, vc, out
        ctx.batch, ctx.scale, ctx.keep = batch, scale, keep
        ctx.save_for_backward(q, k, v, mask)
        return out.reshape(batch + (L, Ev))

    def reference_forward(ctx):
        q, k, v, mask = ctx.inputs[:4]
        return attend(q, k, v, None, mask, ctx.scale, ctx.keep)  # (..., L, Ev)

    def kernel_backward(ctx, dy):
        q, k, v, mask = ctx.saved_tensors
        need_q, need_k, need_v, need_mask = ctx.needs_input_grad[:4]
        xp, batch = ctx.xp, ctx.batch
        L, S, E, Ev = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
        n = math.prod(batch)
        dout = _matrices(dy.array, batch, xp)  # (N, L, Ev)
        dq = xp.empty((n, L, E), dtype=q.dtype) if need_q else None
        dk = xp.empty((n, S, E), dtype=q.dtype) if need_k else None
        dv = xp.empty((n, S, Ev), dtype=q.dtype) if need_v else None
        dmask = xp.empty((n, L, S), dtype=q.dtype) if need_mask else None
        if need_q or need_k or need_mask:
            dout_t = xp.ascontiguousarray(dout.swapaxes(-1, -2))  # (N, Ev, L)
            delta = xp.einsum("nle,nle->nl", dout, ctx.out)[None]  # (1, N, L) = rowsum(dP ∘ P)
        groups = _groups(n)

        def one_group(i):
            g = groups[i]
            pt, pdt = ctx.p_groups[i], ctx.pd_groups[i]  # Pᵀ, (Pd)ᵀ of the group: (S, n_g, L)
            if need_v:
                xp.matmul(pdt.transpose(1, 0, 2), dout[g], out=dv[g])  # (n_g, S, L) @ (n_g, L, Ev)
            if not (need_q or need_k or need_mask):
                return
            dbuf = xp.empty_like(pt)  # (S, n_g, L)
            xp.matmul(ctx.vc[g], dout_t[g], out=dbuf.transpose(1, 0, 2))  # (dPd)ᵀ
            if ctx.keep_t is not None:
                dbuf *= ctx.keep_t if ctx.keep_t.shape[1] == 1 else ctx.keep_t[:, g]  # dPᵀ
            dbuf -= delta[:, g]
            dbuf *= pt  # dSᵀ, key-first
            dst = dbuf.transpose(1, 0, 2)  # (n_g, S, L)
            if need_q:
                xp.matmul(dbuf.transpose(1, 2, 0), ctx.kc[g], out=dq[g])  # (n_g, L, S) @ (n_g, S, E)
            if need_k:
                xp.matmul(dst, ctx.qs[g], out=dk[g])  # (n_g, S, L) @ (n_g, L, E) -> dK
            if need_mask:
                dmask[g] = dbuf.transpose(1, 2, 0)

        run_pieces(one_group, range(len(groups)), xp)
        if dq is not None:
            dq *= ctx.scale
        return (_wrap(dq, batch), _wrap(dk, batch), _wrap(dv, batch), _wrap(dmask, batch), None, None)


_GROUP = 8  # matrices of the batch per pass: 8 score matrices of 128 × 128 float32 are 512 KiB


def _groups(n):
    """Slices of the N matrices, ``_GROUP`` at a time."""
    return [slice(start, min(start + _GROUP, n)) for start in range(0, n, _GROUP)]


def _matrices(a, batch, xp):
    """``a`` (..., R, C) broadcast to ``batch`` and flattened to C-contiguous (N, R, C)."""
    a = xp.broadcast_to(a, batch + a.shape[-2:])
    return xp.ascontiguousarray(a).reshape((-1,) + a.shape[-2:])


def _key_first(a, batch, L, S, xp):
    """A mask or dropout multiplier broadcastable to (..., L, S), as Sᵀ laid out key-first:
    (S, 1, L) when it is the same for every matrix of the batch, else (S, N, L)."""
    if a is None:
        return None
    a = a.reshape((1,) * max(0, 2 - a.ndim) + a.shape)
    if math.prod(a.shape[:-2]) == 1:
        return xp.ascontiguousarray(xp.broadcast_to(a.reshape(a.shape[-2:]), (L, S)).T)[:, None, :]
    full = xp.broadcast_to(a, batch + (L, S)).reshape((-1, L, S))  # (N, L, S)
    return xp.ascontiguousarray(full.transpose(2, 0, 1))  # (S, N, L)


def _wrap(a, batch):
    return None if a is None else Tensor._make(a.reshape(batch + a.shape[-2:]), False)


def scaled_dot_product_attention_kernel(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                        scale=None):
    """``scaled_dot_product_attention`` as one ``ScaledDotProductAttention``: a bool or causal mask
    becomes a constant additive mask of 0 and −∞; a float mask is passed as it is."""
    allowed, bias, scale, keep = A.check_attention_arguments(
        "scaled_dot_product_attention", query, key, value, attn_mask, dropout_p, is_causal, scale
    )
    if allowed is not None:
        xp = get_array_module(query.array)
        bias = Tensor._make(xp.where(allowed.array, 0.0, -math.inf).astype(query.dtype), False)
    return ScaledDotProductAttention.apply(query, key, value, bias, scale, keep)


# Always on: in benchmarks/bench_attention.py (forward + backward, float32, 2 threads, wall clock)
# it beats the reference 2.15x at Q, K, V of (32, 8, 100, 64), 2.3x with a causal or bool mask,
# 3.1x at (2, 2, 8, 4), and 2.06x in the Transformer block (1.15x, 1.30x and 1.45x PyTorch's
# time there); benchmarks/bench_gpt.py shows it in the GPT train step.
register_kernel(A.scaled_dot_product_attention, scaled_dot_product_attention_kernel)
