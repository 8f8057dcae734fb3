"""The fused attention kernel (minidl/kernels/attention.py) equals its reference
(``scaled_dot_product_attention`` in minidl/functional/attention.py) in value and gradient, over
generated shapes, every mask kind, broadcast batch dims, explicit scales, float32 and float64,
non-contiguous inputs and any subset of inputs requiring grad; with dropout (the same mask drawn);
second derivatives through the kernel (which defer to the reference). The kernel is switched on
explicitly, so this holds with ``MINIDL_REFERENCE=1`` too."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import dispatch
from minidl.autograd import grad
from minidl.kernels import attention as K
from minidl.testing import assert_close, assert_gradients_match, assert_kernel_matches_reference

TOLERANCE = {"float32": {"rtol": 1e-4, "atol": 1e-5}, "float64": {"rtol": 1e-10, "atol": 1e-12}}
MASKS = [None, "bool", "float", "float_grad", "causal", "key_padding", "fully_masked_row"]


def _tensor(rng, shape, dtype, contiguous, requires_grad):
    """A tensor of ``shape``: contiguous, or a view with its last two axes swapped."""
    if contiguous or len(shape) < 2:
        a = rng.standard_normal(shape).astype(dtype)
    else:
        a = rng.standard_normal(shape[:-2] + shape[:-3:-1]).astype(dtype).swapaxes(-1, -2)
    return minidl.Tensor._make(a, False).requires_grad_(requires_grad)


def _mask(rng, kind, batch, L, S, dtype):
    """(kwargs for the op) for one mask kind; bool masks keep at least one key per row except in
    the deliberately fully masked row."""
    if kind is None:
        return {}
    if kind == "causal":
        return {"is_causal": True}
    if kind in ("bool", "key_padding", "fully_masked_row"):
        shape = (batch[0], 1, 1, S) if kind == "key_padding" else (L, S)
        allowed = rng.random(shape) > 0.4
        allowed[..., 0] = True
        if kind == "fully_masked_row":
            allowed[0] = False
        return {"attn_mask": minidl.tensor(allowed)}
    mask = rng.standard_normal((L, S)).astype(dtype)
    mask[0, -1] = -np.inf  # an excluded key
    return {"attn_mask": minidl.Tensor._make(mask, False).requires_grad_(kind == "float_grad")}


def _case(seed, B, heads, L, S, E, Ev, dtype, contiguous, grads, mask, broadcast):
    rng = np.random.default_rng(seed)
    if mask == "causal":
        S = L
    q_batch = (B, heads)
    kv_batch = (1, heads) if broadcast else (B, heads)  # keys and values broadcast over the batch
    q = _tensor(rng, q_batch + (L, E), dtype, contiguous, grads[0])
    k = _tensor(rng, kv_batch + (S, E), dtype, contiguous, grads[1])
    v = _tensor(rng, kv_batch + (S, Ev), dtype, contiguous, grads[2])
    return q, k, v, _mask(rng, mask, q_batch, L, S, dtype)


@given(seed=st.integers(0, 2**16), B=st.integers(1, 4), heads=st.integers(1, 4), L=st.integers(1, 6),
       S=st.integers(1, 6), E=st.integers(1, 5), Ev=st.integers(1, 5), dtype=st.sampled_from(["float32", "float64"]),
       contiguous=st.booleans(), grads=st.lists(st.booleans(), min_size=3, max_size=3), mask=st.sampled_from(MASKS),
       broadcast=st.booleans(), scale=st.sampled_from([None, 0.37]))
@settings(max_examples=80, deadline=None)
def test_kernel_matches_reference(seed, B, heads, L, S, E, Ev, dtype, contiguous, grads, mask, broadcast, scale):
    q, k, v, kwargs = _case(seed, B, heads, L, S, E, Ev, dtype, contiguous, grads, mask, broadcast)
    assert_kernel_matches_reference(F.scaled_dot_product_attention, q, k, v, scale=scale, **kwargs,
                                    **TOLERANCE[dtype], seed=seed)


def _banded(L, S, below, above=0):
    """May key j be seen from query i: i − below <= j <= i + above (a sliding window)."""
    i, j = np.arange(L)[:, None], np.arange(S)[None, :]
    return minidl.tensor((j >= i - below) & (j <= i + above))


def _padded(L, S, kept):
    """Keys from ``kept`` on excluded in every row (a padded batch), and every key of row 3."""
    allowed = np.ones((L, S), dtype=bool)
    allowed[:, kept:] = False
    allowed[3] = False
    return minidl.tensor(allowed)


BLOCK_MASKS = {
    "causal": lambda L, S: {"is_causal": True},
    "window": lambda L, S: {"attn_mask": _banded(L, S, below=9)},
    "window_ahead": lambda L, S: {"attn_mask": _banded(L, S, below=5, above=3)},
    "padded": lambda L, S: {"attn_mask": _padded(L, S, kept=S - 7)},
    "float_causal": lambda L, S: {"attn_mask": minidl.tensor(
        np.where(np.tril(np.ones((L, S), dtype=bool)), np.random.default_rng(1).standard_normal((L, S)), -np.inf)
    ).requires_grad_(True)},
}


@pytest.mark.parametrize("block", [4, 7, K._QUERY_BLOCK])
@pytest.mark.parametrize("mask", sorted(BLOCK_MASKS))
def test_query_blocks_match_the_reference(mask, block, monkeypatch):
    """Queries in blocks that see only some keys (the mask rules out the rest for the whole
    block): the same values and gradients as the reference, whatever the block size, for
    causal, sliding-window and padding masks, fully masked rows and a float mask with a grad."""
    monkeypatch.setattr(K, "_QUERY_BLOCK", block)
    L = S = 45
    rng = np.random.default_rng(len(mask) * block)
    q, k, v = (_tensor(rng, (2, 3, L, 6), "float64", True, True) for _ in range(3))
    kwargs = BLOCK_MASKS[mask](L, S)
    m = kwargs.get("attn_mask")
    if m is None:
        allowed = np.tril(np.ones((L, S), dtype=bool))
    else:
        allowed = m.numpy() if m.dtype == "bool" else np.isfinite(m.detach().numpy())
    blocks = K._query_blocks(np.where(allowed, 0.0, -np.inf).T[:, None, :], L, S, np)
    assert len(blocks) > 1 and any(keys < S for _, _, keys in blocks)  # the blocks leave keys out
    assert_kernel_matches_reference(F.scaled_dot_product_attention, q, k, v, **kwargs, rtol=1e-10, atol=1e-12)
    kwargs["dropout_p"] = 0.25
    upstream = minidl.tensor(rng.standard_normal((2, 3, L, 6)))
    kernel, reference = _run(False, q, k, v, kwargs, upstream), _run(True, q, k, v, kwargs, upstream)
    for a, b in zip(kernel, reference):
        assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_query_blocks_of_a_causal_mask():
    """The plan for a causal mask: each block of queries sees the keys up to its last row, and the
    mask needs adding only from its first row on (every earlier key is 0 in all its rows)."""
    L = 2 * K._QUERY_BLOCK + 5
    mask_t = np.where(np.tril(np.ones((L, L), dtype=bool)), 0.0, -np.inf).T[:, None, :]
    blocks = K._query_blocks(mask_t, L, L, np)
    B = K._QUERY_BLOCK
    assert [(r.start, r.stop, first, keys) for r, first, keys in blocks] == [
        (0, B, 1, B), (B, 2 * B, B + 1, 2 * B), (2 * B, L, 2 * B + 1, L)]
    assert K._query_blocks(None, L, L, np) == [(slice(0, L), L, L)]  # no mask: every key, nothing to add
    full = np.zeros((L, 1, L))
    assert K._query_blocks(full, L, L, np) == [(slice(0, L), L, L)]  # a mask of zeros leaves out no key


def _run(reference, q, k, v, kwargs, upstream):
    """(output, gradients of q, k, v) with the same dropout mask drawn (seeded) in either mode."""
    with minidl.reference_mode(reference):
        minidl.manual_seed(11)
        out = F.scaled_dot_product_attention(q, k, v, **kwargs)
        return [out, *grad(out, (q, k, v), upstream)]


@pytest.mark.parametrize("mask", MASKS, ids=str)
def test_kernel_matches_reference_with_dropout(mask):
    q, k, v, kwargs = _case(3, 3, 4, 5, 4, 3, 2, "float64", True, [True] * 3, mask, False)  # 12 matrices: 2 groups
    kwargs["dropout_p"] = 0.3
    upstream = minidl.tensor(np.random.default_rng(4).standard_normal((3, 4, 5, 2)))
    kernel, reference = _run(False, q, k, v, kwargs, upstream), _run(True, q, k, v, kwargs, upstream)
    for a, b in zip(kernel, reference):
        assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("mask", MASKS, ids=str)
def test_second_derivatives_through_the_kernel(mask, dropout):
    """gradgradcheck with the kernel running (the float mask is an input when it requires grad);
    the dropout mask is fixed by reseeding on every call."""
    q, k, v, kwargs = _case(5, 1, 2, 3, 3, 2, 2, "float64", True, [True] * 3, mask, False)
    mask_tensor = kwargs.pop("attn_mask", None)
    extra = (mask_tensor,) if mask_tensor is not None and mask_tensor.requires_grad else ()

    def f(q, k, v, *m):
        minidl.manual_seed(2)
        attn_mask = m[0] if m else mask_tensor
        args = dict(kwargs, attn_mask=attn_mask, dropout_p=dropout)
        assert dispatch.kernel_for_call(F.scaled_dot_product_attention, q, k, v, **args) is not None
        return F.scaled_dot_product_attention(q, k, v, **args)

    with minidl.reference_mode(False):
        assert_gradients_match(f, q, k, v, *extra)


def test_plain_and_graph_backward_agree():
    """The kernel's own backward (arrays) and the reference's graph (create_graph=True) agree."""
    q, k, v, kwargs = _case(8, 2, 2, 4, 5, 3, 2, "float64", False, [True] * 3, "float_grad", True)
    inputs = (q, k, v, kwargs["attn_mask"])
    with minidl.reference_mode(False):
        out = F.scaled_dot_product_attention(*inputs[:3], attn_mask=inputs[3])
        g = minidl.tensor(np.random.default_rng(2).standard_normal(out.shape))
        plain = grad(out, inputs, g, retain_graph=True)
        graph = grad(out, inputs, g, create_graph=True)
    assert all(t.requires_grad for t in graph)
    for a, b in zip(plain, graph):
        assert_close(a, b, rtol=1e-11, atol=1e-12, what="gradient")


def test_kernel_is_registered_and_checks_its_arguments():
    assert dispatch.kernels_for(F.scaled_dot_product_attention) == [K.scaled_dot_product_attention_kernel]
    q, k = minidl.randn(2, 3, 4), minidl.randn(2, 5, 3)
    for reference in (False, True):
        with minidl.reference_mode(reference):
            with pytest.raises(ValueError, match=r"scaled_dot_product_attention: query of shape \(2, 3, 4\) and key"):
                F.scaled_dot_product_attention(q, k, k)
