"""Attention: one spec table (the op as dispatched, its reference, the weights) and one property
test over it with every mask kind (forward against NumPy, gradcheck and gradgradcheck in
float64, inputs not mutated, gradient shapes); dropout; fully masked rows; errors; PyTorch
parity of scaled_dot_product_attention, MultiheadAttention, TransformerEncoderLayer and
TransformerEncoder (values and gradients, after loading the torch module's state_dict);
PositionalEncoding. Everything here holds with the kernel and with ``MINIDL_REFERENCE=1``; that
the kernel equals the reference is tests/test_kernels_attention.py."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minidl
import minidl.functional as F
from minidl import nn
from minidl.autograd import grad
from minidl.testing import assert_close, assert_gradients_match, assert_not_mutated, attention_shapes, tensors


# ---- NumPy reference ------------------------------------------------------------------------
def np_attention(q, k, v, allowed=None, bias=None, scale=None):
    """(output, weights) of softmax(q kᵀ·scale, masked) v; fully masked rows give 0."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    if bias is not None:
        s = s + bias
    m = s.max(-1, keepdims=True)
    dead = np.isneginf(m)
    e = np.exp(s - np.where(dead, 0, m))
    p = np.where(dead, 0, e / np.where(dead, 1, e.sum(-1, keepdims=True)))
    return p @ v if v is not None else None, p


def _some_true_per_row(mask):
    """Make every row (last axis) of a bool array have at least one True, so no row is fully masked."""
    mask = np.array(mask, dtype=bool)
    flat = mask.reshape(-1, mask.shape[-1])  # a view: writes reach ``mask``
    for r in np.nonzero(~flat.any(-1))[0]:
        flat[r, r % flat.shape[1]] = True
    return mask


@st.composite
def attention_case(draw, max_batch=2, max_heads=2, max_len=4, max_dim=3, mask_kind="any"):
    """(cfg, q, k, v, kwargs, allowed, bias): inputs for attention with one of the mask kinds of
    ``attention_shapes`` (or ``mask_kind``); ``allowed`` / ``bias`` are the NumPy masks the
    reference uses."""
    cfg = draw(attention_shapes(max_batch=max_batch, max_heads=max_heads, max_len=max_len, max_dim=max_dim))
    if mask_kind != "any":
        cfg["mask"] = mask_kind
        if mask_kind == "causal":
            cfg["S"] = cfg["L"]
    B, H, L, S, E, Ev = (cfg[n] for n in ("B", "H", "L", "S", "E", "Ev"))
    q = draw(tensors(shape=(B, H, L, E), low=-2, high=2))
    k = draw(tensors(shape=(B, H, S, E), low=-2, high=2))
    v = draw(tensors(shape=(B, H, S, Ev), low=-2, high=2))
    kind, kwargs, allowed, bias = cfg["mask"], {}, None, None
    if kind == "bool":
        shape = draw(st.sampled_from([(L, S), (B, H, L, S), (B, 1, L, S)]))
        allowed = _some_true_per_row(draw(hnp.arrays(bool, shape)))
        kwargs["attn_mask"] = minidl.tensor(allowed)
    elif kind == "float":
        shape = draw(st.sampled_from([(L, S), (B, 1, L, S), (S,)]))
        mask = draw(tensors(shape=shape, low=-2, high=2))  # requires grad: its gradient is checked too
        bias = mask.array
        kwargs["attn_mask"] = mask
    elif kind == "causal":
        allowed = np.tril(np.ones((L, S), dtype=bool))
        kwargs["is_causal"] = True
    elif kind == "key_padding":
        keep = _some_true_per_row(draw(hnp.arrays(bool, (B, S))))
        allowed = keep[:, None, None, :]  # (B, 1, 1, S)
        kwargs["attn_mask"] = minidl.tensor(allowed)
    return cfg, q, k, v, kwargs, allowed, bias


def _with_mask(fn, kwargs):
    """fn(q, k, v[, mask]) with the mask as a positional argument when it requires grad."""
    mask = kwargs.get("attn_mask")
    if mask is not None and mask.requires_grad:
        rest = {n: a for n, a in kwargs.items() if n != "attn_mask"}
        return (lambda q, k, v, m: fn(q, k, v, attn_mask=m, **rest)), (mask,)
    return (lambda q, k, v: fn(q, k, v, **kwargs)), ()


@dataclass(frozen=True)
class Spec:
    name: str
    fn: Callable  # fn(q, k, v, **mask_kwargs)
    ref: Callable  # ref(q, k, v, allowed, bias) -> array
    second_order: bool = True


def _weights_fn(q, k, v, **kw):
    return F.attention_weights(q, k, **kw)


def sdpa_reference(*args, **kwargs):
    """The reference attention (its graph, hence its backward, too), whatever the mode."""
    with minidl.reference_mode():
        return F.scaled_dot_product_attention(*args, **kwargs)


SPECS = [
    Spec("attention", F.scaled_dot_product_attention, lambda *a: np_attention(*a)[0]),
    Spec("reference", sdpa_reference, lambda *a: np_attention(*a)[0]),
    Spec("weights", _weights_fn, lambda q, k, v, al, b: np_attention(q, k, None, al, b)[1]),
]
FUNCTIONS = [F.scaled_dot_product_attention, sdpa_reference]


MASK_KINDS = [None, "bool", "float", "causal", "key_padding"]


@pytest.mark.parametrize("mask_kind", MASK_KINDS, ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@settings(max_examples=6)
@given(data=st.data())
def test_attention_spec(spec, mask_kind, data):
    cfg, q, k, v, kwargs, allowed, bias = data.draw(attention_case(mask_kind=mask_kind))
    fn, extra = _with_mask(spec.fn, kwargs)
    inputs = (q, k, v) + extra
    out = assert_not_mutated(fn, *inputs)
    assert_close(out, spec.ref(q.array, k.array, v.array, allowed, bias), rtol=1e-10, atol=1e-12, what=spec.name)
    out.backward(minidl.tensor(np.random.default_rng(0).standard_normal(out.shape)))
    for t in inputs:
        if spec.name == "weights" and t is v:
            assert t.grad is None  # the weights do not depend on V
        else:
            assert t.grad.shape == t.shape
    inputs = tuple(t for t in inputs if not (spec.name == "weights" and t is v))
    check = (lambda q, k, *m: fn(q, k, v, *m)) if spec.name == "weights" else fn
    assert_gradients_match(check, *inputs, second_order=spec.second_order)


def test_broadcast_batch_gradients():
    rng = np.random.default_rng(3)
    q = minidl.tensor(rng.standard_normal((2, 1, 3, 2)), requires_grad=True)
    k = minidl.tensor(rng.standard_normal((2, 4, 2)), requires_grad=True)
    v = minidl.tensor(rng.standard_normal((1, 2, 4, 3)), requires_grad=True)
    mask = minidl.tensor(rng.random((3, 4)) > 0.3)
    mask.array[:, 0] = True
    assert_close(
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask), np_attention(q.array, k.array, v.array, mask.array)[0]
    )
    assert_gradients_match(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), q, k, v)


def test_dropout_is_unbiased_and_differentiable():
    rng = np.random.default_rng(4)
    q, k, v = (minidl.tensor(rng.standard_normal((2, 3, 4, 5)), requires_grad=True) for _ in range(3))
    minidl.manual_seed(7)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    assert not np.allclose(out.array, F.scaled_dot_product_attention(q, k, v).array)
    minidl.manual_seed(7)
    assert_close(sdpa_reference(q, k, v, dropout_p=0.4), out, rtol=1e-12, atol=1e-13)  # the same mask drawn

    def same_dropout(q, k, v):  # reseeded on every call: one fixed dropout mask, a smooth function
        minidl.manual_seed(7)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)

    small = [minidl.tensor(rng.standard_normal((2, 3, 2)), requires_grad=True) for _ in range(3)]
    assert_gradients_match(same_dropout, *small)
    minidl.manual_seed(8)
    ones = minidl.ones(100, 20, 2)
    mean = F.scaled_dot_product_attention(ones, ones, ones, dropout_p=0.5).array.mean()
    assert abs(mean - 1.0) < 0.05  # E[weights · D] = weights: the output stays 1 on average
    assert not F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).array.any()


# ---- fully masked rows: documented as output 0 and zero gradient --------------------------------


@pytest.mark.parametrize("fn", FUNCTIONS, ids=["dispatched", "reference"])
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_fully_masked_rows_give_zero_output_and_zero_gradient(fn, kind):
    rng = np.random.default_rng(5)
    q = minidl.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    k = minidl.tensor(rng.standard_normal((2, 5, 3)), requires_grad=True)
    v = minidl.tensor(rng.standard_normal((2, 5, 2)), requires_grad=True)
    allowed = rng.random((2, 4, 5)) > 0.4
    allowed[:, :, 0] = True
    allowed[0, 1] = False  # query 1 of batch 0 may attend to nothing
    allowed[1, 3] = False
    mask = minidl.tensor(allowed) if kind == "bool" else minidl.tensor(np.where(allowed, 0.0, -np.inf))
    out = fn(q, k, v, attn_mask=mask)
    assert np.isfinite(out.array).all()
    assert not out.array[0, 1].any() and not out.array[1, 3].any()
    assert_close(out, np_attention(q.array, k.array, v.array, allowed)[0])
    dq, dk, dv = grad(out, (q, k, v), minidl.tensor(rng.standard_normal(out.shape)))
    assert np.isfinite(dq.array).all() and np.isfinite(dk.array).all() and np.isfinite(dv.array).all()
    assert not dq.array[0, 1].any() and not dq.array[1, 3].any()
    assert_gradients_match(lambda q, k, v: fn(q, k, v, attn_mask=mask), q, k, v)
    w = F.attention_weights(q, k, attn_mask=mask)
    assert not w.array[0, 1].any()
    assert_close(w.array.sum(-1)[0, [0, 2, 3]], np.ones(3))


def test_fully_masked_rows_with_a_float_mask_gradient():
    """A float mask that requires grad: its gradient is 0 on excluded entries and everywhere in a
    fully masked row; the finite entries get dS."""
    rng = np.random.default_rng(6)
    q, k, v = (minidl.tensor(rng.standard_normal((3, 2)), requires_grad=True) for _ in range(3))
    bias = rng.standard_normal((3, 3))
    bias[1] = -np.inf
    bias[2, 0] = -np.inf
    mask = minidl.tensor(bias, requires_grad=True)
    for fn in FUNCTIONS:
        out = fn(q, k, v, attn_mask=mask)
        (dm,) = grad(out, (mask,), minidl.tensor(rng.standard_normal(out.shape)))
        assert np.isfinite(dm.array).all() and not dm.array[1].any() and dm.array[2, 0] == 0
        assert dm.array[0].any()


# ---- errors -------------------------------------------------------------------------------------
def test_errors_name_the_shapes():
    q, k, v = minidl.randn(2, 3, 4), minidl.randn(2, 5, 3), minidl.randn(2, 5, 6)
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(2, 5, 3\)"):
        F.scaled_dot_product_attention(q, k, v)
    with pytest.raises(ValueError, match=r"key of shape \(2, 5, 4\) and value of shape \(2, 6, 6\)"):
        F.scaled_dot_product_attention(q, minidl.randn(2, 5, 4), minidl.randn(2, 6, 6))
    with pytest.raises(ValueError, match="do not broadcast"):
        F.scaled_dot_product_attention(q, minidl.randn(3, 5, 4), minidl.randn(3, 5, 6))
    with pytest.raises(ValueError, match="at least 2 dims"):
        F.scaled_dot_product_attention(minidl.randn(4), minidl.randn(5, 4), minidl.randn(5, 6))
    k = minidl.randn(2, 5, 4)
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=minidl.ones(3, 5, dtype="bool"), is_causal=True)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 5\).*\(2, 3, 5\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=minidl.ones(4, 5, dtype="bool"))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(7, 3, 5\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=minidl.zeros(7, 3, 5))  # would enlarge the output
    with pytest.raises(TypeError, match="dtype"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=minidl.zeros(3, 5, dtype="float64"))
    with pytest.raises(TypeError, match="dtype"):
        F.scaled_dot_product_attention(q, k.double(), v)
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)
    with pytest.raises(ValueError, match="not both"):
        F.attention_weights(q, k, attn_mask=minidl.zeros(3, 5), is_causal=True)


def test_multihead_errors():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(NotImplementedError):
        nn.MultiheadAttention(8, 2, add_bias_kv=True)
    mha = nn.MultiheadAttention(8, 2)
    x = minidl.randn(5, 3, 8)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 5\)"):
        mha(x, x, x, attn_mask=minidl.zeros(4, 5))
    with pytest.raises(ValueError, match=r"key_padding_mask of shape \(5, 3\) should be \(3, 5\)"):
        mha(x, x, x, key_padding_mask=minidl.zeros(5, 3, dtype="bool"))
    with pytest.raises(ValueError, match="embed dim 6"):
        mha(minidl.randn(5, 3, 6), x, x)
    with pytest.raises(ValueError, match="3-D"):
        mha(x, minidl.randn(5, 8), x)
    with pytest.raises(ValueError, match=r"key of shape \(5, 2, 8\)"):
        mha(x, minidl.randn(5, 2, 8), x)
    with pytest.raises(TypeError, match="bool or floating"):
        mha(x, x, x, key_padding_mask=minidl.zeros(3, 5, dtype="int64"))
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")
    with pytest.raises(ValueError, match="max_len 4"):
        nn.PositionalEncoding(8, max_len=4)(minidl.randn(5, 1, 8))


# ---- PyTorch parity -----------------------------------------------------------------------------
def _torch(x, requires_grad=True):
    torch = pytest.importorskip("torch")
    return torch.tensor(np.asarray(x), requires_grad=requires_grad and np.asarray(x).dtype.kind == "f")


@settings(max_examples=10)
@given(case=attention_case(max_batch=2, max_heads=3, max_len=5, max_dim=4), scaled=st.booleans())
def test_sdpa_matches_torch(case, scaled):
    torch = pytest.importorskip("torch")
    cfg, q, k, v, kwargs, allowed, bias = case
    scale = 0.6 if scaled else None
    tq, tk, tv = (_torch(t.array) for t in (q, k, v))
    tkw = {"is_causal": kwargs.get("is_causal", False), "scale": scale}
    inputs, tinputs = [q, k, v], [tq, tk, tv]
    if "attn_mask" in kwargs:
        m = kwargs["attn_mask"]
        tkw["attn_mask"] = _torch(m.array)
        if m.requires_grad:
            inputs.append(m), tinputs.append(tkw["attn_mask"])
    out = F.scaled_dot_product_attention(q, k, v, scale=scale, **kwargs)
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tkw)
    assert_close(out, tout, rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(0).standard_normal(out.shape)
    tout.backward(torch.tensor(g))
    for ours, theirs in zip(grad(out, inputs, minidl.tensor(g)), tinputs):
        assert_close(ours, theirs.grad, rtol=1e-9, atol=1e-11, what="gradient")


def test_sdpa_matches_torch_float32_benchmark_layout():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal((2, 4, 12, 8)).astype("float32") for _ in range(3)]
    ours = [minidl.tensor(a, requires_grad=True) for a in arrays]
    theirs = [_torch(a) for a in arrays]
    out = F.scaled_dot_product_attention(*ours, is_causal=True)
    tout = torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=True)
    assert_close(out, tout, rtol=1e-5, atol=1e-6)
    out.sum().backward(), tout.sum().backward()
    for a, b in zip(ours, theirs):
        assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)


def _mha_pair(E=8, H=2, **kw):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(E, H, dtype=torch.float64, **kw)
    mm = nn.MultiheadAttention(E, H, dtype="float64", **kw)
    assert list(mm.state_dict()) == list(tm.state_dict())
    for (name, p), (tname, tp) in zip(mm.named_parameters(), tm.named_parameters()):
        assert name == tname and p.shape == tuple(tp.shape)
    mm.load_state_dict(tm.state_dict())
    return mm, tm


def _bool_mask(rng, shape, masked_means_true):
    """A random bool mask with at least one usable key per row."""
    usable = _some_true_per_row(rng.random(shape) > 0.4)
    return ~usable if masked_means_true else usable


MHA_CASES = {
    "self": dict(),
    "batch_first_no_weights": dict(batch_first=True, call=dict(need_weights=False)),
    "per_head_weights": dict(call=dict(average_attn_weights=False)),
    "unbatched": dict(unbatched=True),
    "cross_kdim_vdim_nobias": dict(init=dict(kdim=5, vdim=3, bias=False), cross=True),
    "cross_batch_first": dict(batch_first=True, cross=True, init=dict(kdim=6, vdim=4)),
    "attn_mask_2d_bool": dict(attn_mask=("bool", 2)),
    "attn_mask_3d_float": dict(attn_mask=("float", 3), call=dict(need_weights=False)),
    "key_padding_bool": dict(kpm="bool", batch_first=True),
    "key_padding_float_and_mask": dict(kpm="float", attn_mask=("bool", 3)),
    "causal_hint": dict(attn_mask=("causal", 2), call=dict(is_causal=True, need_weights=False)),
    "unbatched_masks": dict(unbatched=True, kpm="bool", attn_mask=("float", 3)),
}


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("name", list(MHA_CASES))
def test_multihead_attention_matches_torch(name):
    torch = pytest.importorskip("torch")
    case = MHA_CASES[name]
    E, H, L, S, N = 8, 2, 4, 5, 3
    bf, cross = case.get("batch_first", False), case.get("cross", False)
    init = dict(case.get("init", {}))
    mm, tm = _mha_pair(E, H, batch_first=bf, **init)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    kdim, vdim = init.get("kdim", E), init.get("vdim", E)

    def shape(T, width):
        if case.get("unbatched"):
            return (T, width)
        return (N, T, width) if bf else (T, N, width)

    xq = rng.standard_normal(shape(L, E))
    xk = rng.standard_normal(shape(S, kdim)) if cross else None
    xv = rng.standard_normal(shape(S, vdim)) if cross else None
    call = dict(case.get("call", {}))
    n = 1 if case.get("unbatched") else N
    S_ = S if cross else L
    masks = {}
    if "attn_mask" in case:
        kind, nd = case["attn_mask"]
        shp = (L, S_) if nd == 2 else (n * H, L, S_)
        if kind == "bool":
            masks["attn_mask"] = _bool_mask(rng, shp, True)
        elif kind == "float":
            masks["attn_mask"] = rng.standard_normal(shp)
        else:
            masks["attn_mask"] = np.where(np.tril(np.ones((L, S_), dtype=bool)), 0.0, -np.inf)
    if "kpm" in case:
        shp = (S_,) if case.get("unbatched") else (n, S_)
        if case["kpm"] == "bool":
            masks["key_padding_mask"] = _bool_mask(rng, shp, True)
        else:
            masks["key_padding_mask"] = rng.standard_normal(shp)
        if "attn_mask" in masks and masks["attn_mask"].dtype == bool:  # keep a usable key in every row
            masks["attn_mask"] = np.zeros_like(masks["attn_mask"])

    q = minidl.tensor(xq, requires_grad=True)
    tq = _torch(xq)
    if cross:
        k, v = minidl.tensor(xk, requires_grad=True), minidl.tensor(xv, requires_grad=True)
        tk, tv = _torch(xk), _torch(xv)
    else:
        k, v, tk, tv = q, q, tq, tq
    out, w = mm(q, k, v, **{m: minidl.tensor(a) for m, a in masks.items()}, **call)
    tout, tw = tm(tq, tk, tv, **{m: _torch(a, False) for m, a in masks.items()}, **call)
    assert_close(out, tout, rtol=1e-10, atol=1e-12, what="output")
    if call.get("need_weights", True):
        assert_close(w, tw, rtol=1e-10, atol=1e-12, what="weights")
    else:
        assert w is None and tw is None
    g = rng.standard_normal(out.shape)
    loss, tloss = (out * minidl.tensor(g)).sum(), (tout * torch.tensor(g)).sum()
    if w is not None:
        gw = rng.standard_normal(w.shape)
        loss, tloss = loss + (w * minidl.tensor(gw)).sum(), tloss + (tw * torch.tensor(gw)).sum()
    loss.backward(), tloss.backward()
    for a, b in [(q, tq)] + ([(k, tk), (v, tv)] if cross else []):
        assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-11, what="input gradient")
    theirs = dict(tm.named_parameters())
    for pname, p in mm.named_parameters():
        assert_close(p.grad, theirs[pname].grad, rtol=1e-9, atol=1e-11, what=f"gradient of {pname}")


def test_multihead_attention_init_and_state_dict():
    mha = nn.MultiheadAttention(16, 4)
    bound = math.sqrt(6 / (3 * 16 + 16))
    w = mha.in_proj_weight.array
    assert w.shape == (48, 16) and np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert not mha.in_proj_bias.array.any() and not mha.out_proj.bias.array.any()
    assert list(mha.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    cross = nn.MultiheadAttention(16, 4, kdim=5, vdim=7, bias=False)
    assert cross.in_proj_weight is None and cross.in_proj_bias is None
    assert [tuple(p.shape) for p in cross.parameters()] == [(16, 16), (16, 5), (16, 7), (16, 16)]


def test_multihead_dropout_same_mask_with_and_without_weights():
    """In training, need_weights=False (scaled_dot_product_attention) and the path that keeps the
    weights draw the same dropout."""
    mha = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = minidl.randn(2, 5, 8)
    minidl.manual_seed(3)
    a, _ = mha(x, x, x, need_weights=False)
    minidl.manual_seed(3)
    b, w = mha(x, x, x)
    assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(a.array, mha.eval()(x, x, x)[0].array)
    assert w.shape == (2, 5, 5)


def test_multihead_fully_masked_query_gets_the_output_bias():
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    nn.init.uniform_(mha.out_proj.bias)
    x = minidl.randn(2, 4, 8, requires_grad=True)
    pad = minidl.tensor(np.array([[False, False, True, False], [True, True, True, True]]))
    out, w = mha(x, x, x, key_padding_mask=pad)
    assert np.isfinite(out.array).all()
    assert_close(out.array[1], np.broadcast_to(mha.out_proj.bias.array, (4, 8)))
    assert not w.array[1].any() and not w.array[0, :, 2].any()
    out.sum().backward()
    assert np.isfinite(x.grad.array).all() and not x.grad.array[1].any()


def _layer_pair(torch, **kw):
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dtype=torch.float64, **kw)
    kw = {n: (F.gelu if a is torch.nn.functional.gelu else a) for n, a in kw.items()}
    ml = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dtype="float64", **kw)
    assert list(ml.state_dict()) == list(tl.state_dict())
    ml.load_state_dict(tl.state_dict())
    return ml, tl


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "callable"])
def test_transformer_encoder_layer_matches_torch(activation, norm_first, batch_first):
    torch = pytest.importorskip("torch")
    act = torch.nn.functional.gelu if activation == "callable" else activation
    train = activation == "relu"  # training mode with dropout 0, or evaluation mode with dropout 0.1
    ml, tl = _layer_pair(torch, activation=act, norm_first=norm_first, batch_first=batch_first,
                         dropout=0.0 if train else 0.1)
    ml.train(train), tl.train(train)
    rng = np.random.default_rng(10)
    L, N = 5, 3
    x = rng.standard_normal((N, L, 8) if batch_first else (L, N, 8))
    src_mask = np.where(np.tril(np.ones((L, L), dtype=bool)), 0.0, -np.inf) if norm_first else None
    pad = _bool_mask(rng, (N, L), True) if not norm_first else None
    xm, xt = minidl.tensor(x, requires_grad=True), _torch(x)
    ym = ml(xm, src_mask=None if src_mask is None else minidl.tensor(src_mask),
            src_key_padding_mask=None if pad is None else minidl.tensor(pad))
    yt = tl(xt, src_mask=None if src_mask is None else _torch(src_mask, False),
            src_key_padding_mask=None if pad is None else _torch(pad, False))
    assert_close(ym, yt, rtol=1e-10, atol=1e-11)
    g = rng.standard_normal(ym.shape)
    ym.backward(minidl.tensor(g)), yt.backward(torch.tensor(g))
    assert_close(xm.grad, xt.grad, rtol=1e-9, atol=1e-10, what="input gradient")
    theirs = dict(tl.named_parameters())
    for name, p in ml.named_parameters():
        assert_close(p.grad, theirs[name].grad, rtol=1e-9, atol=1e-10, what=f"gradient of {name}")


def test_transformer_encoder_layer_unbatched_and_module_activation():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=nn.GELU())
    assert "activation" in dict(layer.named_children()) and "activation.weight" not in layer.state_dict()
    x = minidl.randn(5, 8)
    y = layer(x)
    assert y.shape == (5, 8)
    assert_close(y, layer(F.unsqueeze(x, 1))[:, 0], rtol=1e-5, atol=1e-6)


def test_transformer_encoder_matches_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    tl = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=torch.float64)
    te = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(8, dtype=torch.float64),
                                     enable_nested_tensor=False)
    ml = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype="float64")
    me = nn.TransformerEncoder(ml, 2, norm=nn.LayerNorm(8, dtype="float64"))
    assert list(me.state_dict()) == list(te.state_dict())
    assert me.layers[0].linear1.weight is not me.layers[1].linear1.weight  # deep copies
    me.load_state_dict(te.state_dict())
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 5, 8))
    pad = _bool_mask(rng, (3, 5), True)
    xm, xt = minidl.tensor(x, requires_grad=True), _torch(x)
    ym = me(xm, src_key_padding_mask=minidl.tensor(pad))
    yt = te(xt, src_key_padding_mask=_torch(pad, False))
    assert_close(ym, yt, rtol=1e-10, atol=1e-11)
    ym.sum().backward(), yt.sum().backward()
    assert_close(xm.grad, xt.grad, rtol=1e-9, atol=1e-10)
    theirs = dict(te.named_parameters())
    for name, p in me.named_parameters():
        assert_close(p.grad, theirs[name].grad, rtol=1e-9, atol=1e-10, what=name)


# ---- positional encoding --------------------------------------------------------------------------
@pytest.mark.parametrize("d_model", [6, 7])
def test_positional_encoding(d_model):
    pe = nn.PositionalEncoding(d_model, max_len=50)
    table = pe.pe.array
    pos, i = np.arange(50)[:, None], np.arange(d_model)[None, :]
    angle = pos / 10000 ** ((i - i % 2) / d_model)
    assert_close(table, np.where(i % 2 == 0, np.sin(angle), np.cos(angle)), rtol=1e-5, atol=1e-6)
    assert "pe" not in pe.state_dict() and dict(pe.named_buffers())["pe"] is pe.pe  # non-persistent
    x = minidl.randn(7, 2, d_model)
    assert_close(pe(x), x.array + table[:7, None, :], rtol=1e-6, atol=1e-6)
    xb = minidl.randn(2, 7, d_model, requires_grad=True)
    y = nn.PositionalEncoding(d_model, max_len=50, batch_first=True)(xb)
    assert_close(y, xb.array + table[None, :7, :], rtol=1e-6, atol=1e-6)
    y.sum().backward()
    assert_close(xb.grad, np.ones(xb.shape))
    assert_close(pe(x[:, 0]), x.array[:, 0] + table[:7], rtol=1e-6, atol=1e-6)  # unbatched


# ---- devices ----------------------------------------------------------------------------------------
def test_attention_on_each_device(device):
    """The op as dispatched, its reference and a Transformer layer on every backend present."""
    rng = np.random.default_rng(12)
    arrays = [rng.standard_normal(s) for s in [(2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 2)]]
    allowed = _some_true_per_row(rng.random((4, 6)) > 0.5)
    mask = minidl.tensor(allowed, device=device)
    results = []
    for fn in FUNCTIONS:
        q, k, v = (minidl.tensor(a, requires_grad=True, device=device) for a in arrays)
        out = fn(q, k, v, attn_mask=mask)
        assert out.device == q.device
        results.append([out] + list(grad(out, (q, k, v), minidl.ones_like(out))))
    ref = np_attention(*arrays, allowed=allowed)[0]
    for a, b in zip(*results):
        assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert_close(results[0][0], ref, rtol=1e-10, atol=1e-12)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).to(device)
    y = layer(minidl.randn(2, 5, 8, device=device), is_causal=True)
    assert y.device == minidl.randn(1, device=device).device and np.isfinite(minidl.backend.as_numpy(y.array)).all()
