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
    - Where the mask rules keys out for whole blocks of ``_QUERY_BLOCK`` queries (a causal mask:
      every key after the block's last query), each block is computed against the keys it may see
      only, and the mask is added only over the keys where it is not 0 in all the block's rows:
      for a causal mask of length 128 in blocks of 32, 10/16 of the scores, and the mask added
      over 1/4 of them. The left-out keys have P = 0, so O and every gradient are unchanged; dK
      and dV are then sums over the blocks.
    - The N matrices are taken in groups whose block of scores fits ``_SCORES`` (512 KiB of
      float32), so that it stays in the cache through the mask, max, exp, sum and division passes
      and the products that read it; the groups are shared out over the kernels' threads.

    For ``create_graph=True`` the dispatcher differentiates ``reference_forward`` (the reference
    attention on the same inputs and the same dropout multiplier) instead of ``kernel_backward``.
    """

    def forward(ctx, q, k, v, mask, scale, keep):
        xp = ctx.xp
        batch = broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        L, S, E, Ev = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
        n = math.prod(batch)
        qs = xp.empty(batch + (L, E), dtype=q.dtype)
        xp.multiply(q, scale, out=qs)  # scaling Q costs L·E products instead of L·S
        qs = qs.reshape(n, L, E)  # (N, L, E), C-contiguous
        qs_t = xp.ascontiguousarray(qs.swapaxes(-1, -2))  # (N, E, L)
        kc, vc = _matrices(k, batch, xp), _matrices(v, batch, xp)  # (N, S, E), (N, S, Ev)
        mask_t = _key_first(mask, batch, L, S, xp)  # (S, 1 or N, L) or None
        keep_t = _key_first(keep, batch, L, S, xp)
        blocks = _query_blocks(mask_t, L, S, xp)  # [(query rows, mask added from key, keys seen)]
        out = xp.empty((n, L, Ev), dtype=q.dtype)
        groups = _groups(n, blocks)
        p_groups, pd_groups = [None] * len(groups), [None] * len(groups)

        def one_block(g, rows, masked_from, keys):
            """Pᵀ and (Pd)ᵀ of query rows ``rows`` against keys 0..keys−1, O of those rows."""
            nq = rows.stop - rows.start
            sbuf = xp.empty((keys, g.stop - g.start, nq), dtype=q.dtype)  # Sᵀ of the block, key-first
            xp.matmul(kc[g, :keys], qs_t[g, :, rows], out=sbuf.transpose(1, 0, 2))  # Sᵀ · scale
            if masked_from < keys:  # keys before masked_from have M = 0 in every row of the block
                sbuf[masked_from:] += _part(mask_t, g)[masked_from:keys, :, rows]
            m = sbuf.max(axis=0, keepdims=True)  # (1, n_g, nq) the largest score of each query row
            if mask_t is not None:
                m = xp.where(xp.isneginf(m), 0, m)  # fully masked rows: exp(−∞ − 0) = 0, not NaN
            sbuf -= m
            xp.exp(sbuf, out=sbuf)
            z = sbuf.sum(axis=0, keepdims=True)  # (1, n_g, nq); 0 only for a fully masked row
            if mask_t is not None:
                z = xp.where(z == 0, 1, z)  # ... whose weights then stay 0
            sbuf /= z  # now sbuf holds Pᵀ
            pd = sbuf if keep_t is None else sbuf * _part(keep_t, g)[:keys, :, rows]
            xp.matmul(pd.transpose(1, 2, 0), vc[g, :keys], out=out[g, rows])  # (n_g, nq, keys) @ (n_g, keys, Ev)
            return sbuf, pd

        def one_group(i):
            found = [one_block(groups[i], *block) for block in blocks]
            p_groups[i], pd_groups[i] = [p for p, _ in found], [pd for _, pd in found]

        run_pieces(one_group, range(len(groups)), xp)
        ctx.p_groups, ctx.pd_groups, ctx.keep_t, ctx.blocks, ctx.groups = p_groups, pd_groups, keep_t, blocks, groups
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
        xp, batch, blocks = ctx.xp, ctx.batch, ctx.blocks
        L, S, E, Ev = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
        n = math.prod(batch)
        dout = _matrices(dy.array, batch, xp)  # (N, L, Ev)
        # one block of every key writes dK, dV and dM whole; otherwise the blocks add into zeros
        whole = len(blocks) == 1 and blocks[0][2] == S
        alloc = xp.empty if whole else xp.zeros
        dq = xp.empty((n, L, E), dtype=q.dtype) if need_q else None
        dk = alloc((n, S, E), dtype=q.dtype) if need_k else None
        dv = alloc((n, S, Ev), dtype=q.dtype) if need_v else None
        dmask = alloc((n, L, S), dtype=q.dtype) if need_mask else None
        if need_q or need_k or need_mask:
            dout_t = xp.ascontiguousarray(dout.swapaxes(-1, -2))  # (N, Ev, L)
            delta = xp.einsum("nle,nle->nl", dout, ctx.out)[None]  # (1, N, L) = rowsum(dP ∘ P)
        groups = ctx.groups  # the forward's: each holds its blocks' Pᵀ

        def into(target, a, b):  # one block's share of dK or dV, a @ b: written, or added to the others
            if whole:
                xp.matmul(a, b, out=target)
            else:
                target += xp.matmul(a, b)

        def one_block(g, rows, keys, pt, pdt):
            if need_v:  # dV[:keys] gets (Pd)ᵀ dO of these rows
                into(dv[g, :keys], pdt.transpose(1, 0, 2), dout[g, rows])  # (n_g, keys, nq) @ (n_g, nq, Ev)
            if not (need_q or need_k or need_mask):
                return
            dbuf = xp.empty_like(pt)  # (keys, n_g, nq)
            xp.matmul(ctx.vc[g, :keys], dout_t[g, :, rows], out=dbuf.transpose(1, 0, 2))  # (dPd)ᵀ
            if ctx.keep_t is not None:
                dbuf *= _part(ctx.keep_t, g)[:keys, :, rows]  # dPᵀ
            dbuf -= delta[:, g, rows]
            dbuf *= pt  # dSᵀ, key-first
            if need_q:  # (n_g, nq, keys) @ (n_g, keys, E)
                xp.matmul(dbuf.transpose(1, 2, 0), ctx.kc[g, :keys], out=dq[g, rows])
            if need_k:  # (n_g, keys, nq) @ (n_g, nq, E)
                into(dk[g, :keys], dbuf.transpose(1, 0, 2), ctx.qs[g, rows])
            if need_mask:  # dM = dS; 0 for the keys past ``keys`` (P = 0 there)
                dmask[g, rows, :keys] = dbuf.transpose(1, 2, 0)

        def one_group(i):
            for (rows, _, keys), pt, pdt in zip(blocks, ctx.p_groups[i], ctx.pd_groups[i]):
                one_block(groups[i], rows, keys, pt, pdt)

        run_pieces(one_group, range(len(groups)), xp)
        if dq is not None:
            dq *= ctx.scale
        return (_wrap(dq, batch), _wrap(dk, batch), _wrap(dv, batch), _wrap(dmask, batch), None, None)


_SCORES = 8 * 128 * 128  # scores per pass (a group's block): 512 KiB of float32 stay in a core's L2 cache
_QUERY_BLOCK = 32  # query rows per block when a mask rules out keys (a causal mask: the keys past the block)


def _groups(n, blocks):
    """Slices of the N matrices, as many at a time as keep a block's scores within ``_SCORES``."""
    largest = max((rows.stop - rows.start) * keys for rows, _, keys in blocks)
    size = max(1, _SCORES // max(largest, 1))
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _query_blocks(mask_t, L, S, xp):
    """(rows, masked_from, keys) per block of query rows: the block needs keys 0..keys−1 only (every
    later key has M = −∞ in all its rows, so P = 0 there), and M is 0 for all its rows at keys before
    masked_from (nothing to add there). Blocks of ``_QUERY_BLOCK`` rows when that leaves out keys
    (with NumPy; one block of all L rows otherwise); no mask: one block, every key, nothing to add."""
    whole = slice(0, L)
    if mask_t is None or L == 0 or S == 0:
        return [(whole, S, S)]
    if getattr(xp, "__name__", "") != "numpy":
        return [(whole, 0, S)]

    def extent(rows):
        m = mask_t[:, :, rows]  # (S, 1 or N, nq)
        allowed = ~xp.isneginf(m).all(axis=(1, 2))  # (S,): some row of the block may see the key
        keys = int(xp.flatnonzero(allowed)[-1]) + 1 if allowed.any() else 1  # fully masked: one key, P = 0
        nonzero = xp.flatnonzero((m[:keys] != 0).any(axis=(1, 2)))
        return rows, int(nonzero[0]) if nonzero.size else keys, keys

    blocks = [extent(slice(i, min(i + _QUERY_BLOCK, L))) for i in range(0, L, _QUERY_BLOCK)]
    if all(keys == S for _, _, keys in blocks):
        return [extent(whole)]
    return blocks


def _part(a, g):
    """The matrices ``g`` of a key-first (S, 1 or N, L) mask or multiplier (all of it when shared)."""
    return a if a.shape[1] == 1 else a[:, g]


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
