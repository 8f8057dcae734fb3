"""minidl.compress.prune: masks like torch.nn.utils.prune's (the oracle), fine-tuning touches only
what survives, remove makes it permanent, heads of an attention layer, and clear errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import nn
from minidl.compress import prune


def _linear(rng, n_in=7, n_out=5):
    m = nn.Linear(n_in, n_out)
    m.weight.array[...] = rng.standard_normal((n_out, n_in)).astype(np.float32)  # distinct magnitudes
    return m


def _torch_copy(torch, m):
    if isinstance(m, nn.Linear):
        t = torch.nn.Linear(m.in_features, m.out_features)
    else:
        t = torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size)
    t.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in m.state_dict().items()})
    return t


amounts = st.one_of(st.floats(0.0, 1.0), st.integers(0, 20))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), first=amounts, second=amounts, n_in=st.integers(2, 6), n_out=st.integers(1, 5))
def test_l1_unstructured_matches_torch_also_when_pruned_twice(seed, first, second, n_in, n_out):
    torch = pytest.importorskip("torch")
    tprune = pytest.importorskip("torch.nn.utils.prune")
    m = _linear(np.random.default_rng(seed), n_in, n_out)
    t = _torch_copy(torch, m)
    for amount in (first, second):
        alive = int(m.weight_mask.detach().numpy().sum()) if prune.is_pruned(m) else m.weight.numel()
        if isinstance(amount, int) and amount > alive:
            with pytest.raises(ValueError, match="amount"):
                prune.l1_unstructured(m, "weight", amount)
            return
        prune.l1_unstructured(m, "weight", amount)
        tprune.l1_unstructured(t, "weight", amount)
        np.testing.assert_array_equal(m.weight_mask.detach().numpy(), t.weight_mask.detach().numpy())
        np.testing.assert_array_equal(m.weight.detach().numpy(), t.weight.detach().numpy())


@pytest.mark.parametrize("n", [1, 2, 3, float("inf")])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_ln_structured_matches_torch_on_conv_channels(n, dim):
    torch = pytest.importorskip("torch")
    tprune = pytest.importorskip("torch.nn.utils.prune")
    rng = np.random.default_rng(3)
    m = nn.Conv2d(4, 6, 3)
    m.weight.array[...] = rng.standard_normal(m.weight.shape).astype(np.float32)
    t = _torch_copy(torch, m)
    for amount in (0.34, 1):  # a fraction of the channels, then one more of those left
        prune.ln_structured(m, "weight", amount, n=n, dim=dim)
        tprune.ln_structured(t, "weight", amount, n=n, dim=dim)
        np.testing.assert_array_equal(m.weight_mask.detach().numpy(), t.weight_mask.detach().numpy())
    x = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    got, want = m(minidl.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_global_unstructured_matches_torch():
    torch = pytest.importorskip("torch")
    tprune = pytest.importorskip("torch.nn.utils.prune")
    rng = np.random.default_rng(4)
    a, b = _linear(rng, 6, 4), _linear(rng, 4, 3)
    b.weight.array *= 0.3  # the smaller layer loses more
    ta, tb = _torch_copy(torch, a), _torch_copy(torch, b)
    prune.l1_unstructured(a, "weight", 0.25)
    tprune.l1_unstructured(ta, "weight", 0.25)
    for amount in (0.5, 3):
        prune.global_unstructured([(a, "weight"), (b, "weight")], amount)
        tprune.global_unstructured([(ta, "weight"), (tb, "weight")], pruning_method=tprune.L1Unstructured,
                                   amount=amount)
        np.testing.assert_array_equal(a.weight_mask.detach().numpy(), ta.weight_mask.detach().numpy())
        np.testing.assert_array_equal(b.weight_mask.detach().numpy(), tb.weight_mask.detach().numpy())
    assert (b.weight_mask.detach().numpy() == 0).mean() > (a.weight_mask.detach().numpy() == 0).mean()


def test_fine_tuning_moves_only_the_weights_that_survive():
    rng = np.random.default_rng(5)
    model = nn.Sequential(_linear(rng, 6, 8), nn.ReLU(), _linear(rng, 8, 3))
    prune.l1_unstructured(model[0], "weight", 0.6)
    keys = set(model.state_dict())
    assert {"0.weight_orig", "0.weight_mask"} <= keys and "0.weight" not in keys
    mask = model[0].weight_mask.detach().numpy().copy()
    before = model[0].weight_orig.detach().numpy().copy()
    opt = minidl.optim.SGD(model.parameters(), lr=0.1)
    x, y = minidl.tensor(rng.standard_normal((16, 6)).astype(np.float32)), minidl.tensor(rng.integers(0, 3, 16))
    for _ in range(3):
        opt.zero_grad()
        loss = minidl.functional.cross_entropy(model(x), y)
        loss.backward()
        assert np.all(model[0].weight_orig.grad.detach().numpy()[mask == 0] == 0)
        opt.step()
    after = model[0].weight_orig.detach().numpy()
    np.testing.assert_array_equal(after[mask == 0], before[mask == 0])
    assert not np.allclose(after[mask == 1], before[mask == 1])
    model(x)  # the hook recomputes weight = orig ⊙ mask from the updated orig
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), after * mask)
    assert prune.sparsity(model[0]) == pytest.approx((mask == 0).sum() / (48 + 8))  # weight and bias


def test_remove_makes_the_pruning_permanent_and_copies_keep_working():
    rng = np.random.default_rng(6)
    m = _linear(rng)
    prune.l1_unstructured(m, "weight", 0.5)
    m(minidl.tensor(np.ones((1, 7), np.float32))).sum().backward()  # weight now has a graph
    c = copy.deepcopy(prune.detach_pruned(m))
    c.weight_orig.array[...] += 1.0
    x = minidl.tensor(rng.standard_normal((3, 7)).astype(np.float32))
    w = (m.weight_orig.detach().numpy() + 1) * m.weight_mask.numpy()
    np.testing.assert_allclose(c(x).detach().numpy(), x.numpy() @ w.T + m.bias.detach().numpy(), rtol=1e-5, atol=1e-6)
    out = m(x).detach().numpy()
    assert prune.is_pruned(m) and prune.pruned_names(m) == ["weight"]
    prune.remove(m, "weight")
    assert not prune.is_pruned(m)
    assert isinstance(m.weight, nn.Parameter) and set(m.state_dict()) == {"weight", "bias"}
    assert (m.weight.detach().numpy() == 0).sum() == 18  # round(0.5 · 35)
    np.testing.assert_array_equal(m(x).detach().numpy(), out)
    with pytest.raises(ValueError, match="has to be pruned"):
        prune.remove(m, "weight")


@pytest.mark.parametrize("amount, error, match", [
    (-1, ValueError, "non-negative"), (1.5, ValueError, r"\[0, 1\]"), (float("nan"), ValueError, r"\[0, 1\]"),
    ("half", TypeError, "amount='half'"), (True, TypeError, "amount=True"), (36, ValueError, "more than the 35"),
])
def test_bad_amounts_raise_clear_errors(amount, error, match):
    m = _linear(np.random.default_rng(7))
    with pytest.raises(error, match=match):
        prune.l1_unstructured(m, "weight", amount)
    assert not prune.is_pruned(m)


def test_bad_targets_raise_clear_errors():
    m = _linear(np.random.default_rng(8))
    with pytest.raises(ValueError, match="no parameter 'kernel'"):
        prune.l1_unstructured(m, "kernel", 0.5)
    with pytest.raises(ValueError, match="2 or more dims"):
        prune.ln_structured(m, "bias", 0.5, n=2, dim=0)
    with pytest.raises(IndexError, match="dim 2"):
        prune.ln_structured(m, "weight", 0.5, n=2, dim=2)
    with pytest.raises(ValueError, match="n=0"):
        prune.ln_structured(m, "weight", 0.5, n=0, dim=0)
    with pytest.raises(ValueError, match="more than the 5 slices"):
        prune.ln_structured(m, "weight", 6, n=2, dim=0)
    assert not prune.is_pruned(m) and isinstance(m.weight, nn.Parameter)
    with pytest.raises(ValueError, match="does not fit"):
        prune.custom_from_mask(m, "weight", np.ones((7, 5)))
    with pytest.raises(ValueError, match="only 0s and 1s"):
        prune.custom_from_mask(m, "weight", np.full((5, 7), 0.5))


@pytest.mark.parametrize("separate", [False, True])
def test_pruned_heads_contribute_nothing_and_fine_tuning_reaches_out_proj(separate):
    rng = np.random.default_rng(9)
    kw = {"kdim": 6, "vdim": 6} if separate else {}
    mha = nn.MultiheadAttention(8, 4, batch_first=True, **kw)
    with minidl.no_grad():
        for p in mha.parameters():
            p.array[...] = rng.standard_normal(p.shape).astype(np.float32) * 0.5
    x = minidl.tensor(rng.standard_normal((2, 5, 8)).astype(np.float32))
    kv = minidl.tensor(rng.standard_normal((2, 5, 6 if separate else 8)).astype(np.float32))
    prune.prune_heads(mha, [1, 3])
    out = mha(x, kv, kv)[0].detach().numpy()
    with minidl.no_grad():  # the pruned heads' weights no longer matter
        for name, p in mha.named_parameters():
            if name.endswith("_orig") and "bias" not in name:
                if name.startswith("out_proj"):
                    p.array.reshape(8, 4, 2)[:, [1, 3]] += 3.0
                else:
                    p.array.reshape(-1, 4, 2, p.shape[-1])[:, [1, 3]] += 3.0
    np.testing.assert_allclose(mha(x, kv, kv)[0].detach().numpy(), out, rtol=1e-5, atol=1e-5)
    assert prune.head_norms(mha).shape == (4,) and np.all(prune.head_norms(mha)[[1, 3]] == 0)
    with minidl.no_grad():
        mha.out_proj.weight_orig.array[...] *= 2.0  # out_proj is not called by mha: its weight must follow
    expected = out - mha.out_proj.bias.detach().numpy()
    np.testing.assert_allclose(mha(x, kv, kv)[0].detach().numpy(), 2 * expected + mha.out_proj.bias.detach().numpy(),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="out of range for 4 heads"):
        prune.prune_heads(mha, [4])



def test_global_pruning_of_a_transformer_layer_follows_out_proj_through_fine_tuning():
    from minidl.compress import report

    rng = np.random.default_rng(11)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
    pairs = report.prunable(layer)
    assert (layer.self_attn, "in_proj_weight") in pairs and (layer.self_attn.out_proj, "weight") in pairs
    prune.global_unstructured(pairs, 0.5)
    x = minidl.tensor(rng.standard_normal((2, 3, 8)).astype(np.float32))
    opt = minidl.optim.SGD(layer.parameters(), lr=0.5)
    layer(x).sum().backward()
    opt.step()
    out = layer(x).detach().numpy()
    out_proj = layer.self_attn.out_proj
    expected = out_proj.weight_orig.detach().numpy() * out_proj.weight_mask.numpy()
    np.testing.assert_array_equal(out_proj.weight.detach().numpy(), expected)  # recomputed by the attention
    report.remove_all(layer)
    np.testing.assert_allclose(layer(x).detach().numpy(), out, rtol=1e-5, atol=1e-6)
