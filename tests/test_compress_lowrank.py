"""minidl.compress.lowrank: the factorization is the best rank-r approximation (Eckart–Young),
the energy rule picks the smallest rank, and factorize_linear replaces only what saves space."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import nn
from minidl.compress import lowrank


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_in=st.integers(1, 12), n_out=st.integers(1, 12), data=st.data())
def test_truncated_svd_error_is_the_energy_of_the_dropped_singular_values(seed, n_in, n_out, data):
    rng = np.random.default_rng(seed)
    lin = nn.Linear(n_in, n_out, dtype=minidl.float64)
    lin.weight.array[...] = rng.standard_normal((n_out, n_in))
    r = data.draw(st.integers(1, min(n_in, n_out)))
    fact = lowrank.low_rank(lin, rank=r)
    sigma = np.linalg.svd(lin.weight.detach().numpy(), compute_uv=False)
    err = lowrank.reconstruction_error(lin, fact)
    assert err**2 == pytest.approx((sigma[r:] ** 2).sum(), rel=1e-9, abs=1e-9)
    # no other rank-r matrix does better: a random one of the same rank is never closer
    other = rng.standard_normal((n_out, r)) @ rng.standard_normal((r, n_in))
    assert np.linalg.norm(lin.weight.detach().numpy() - other) >= err - 1e-9
    x = minidl.tensor(rng.standard_normal((3, n_in)))
    W_r = fact[1].weight.detach().numpy() @ fact[0].weight.detach().numpy()
    np.testing.assert_allclose(fact(x).detach().numpy(), x.numpy() @ W_r.T + lin.bias.detach().numpy(), atol=1e-12)


def test_full_rank_is_exact_and_energy_picks_the_smallest_rank():
    rng = np.random.default_rng(1)
    lin = nn.Linear(6, 5, dtype=minidl.float64)
    U, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    V, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    sigma = np.array([4.0, 2.0, 1.0, 0.5, 0.1])
    lin.weight.array[...] = U @ np.diag(sigma) @ V[:5]
    assert lowrank.reconstruction_error(lin, lowrank.low_rank(lin, rank=5)) < 1e-12
    share = np.cumsum(sigma**2) / (sigma**2).sum()  # 0.753, 0.941, 0.988, 0.9995, 1
    assert lowrank.rank_for_energy(sigma, 0.9) == 2 and lowrank.rank_for_energy(sigma, share[2]) == 3
    assert lowrank.low_rank(lin, energy=0.98)[0].out_features == 3


def test_factorize_linear_replaces_only_what_saves_space():
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10), nn.ReLU(), nn.Linear(10, 1))
    x = minidl.randn(4, 64)
    model, replaced = lowrank.factorize_linear(model, rank=8)
    assert [(name, shape, r) for name, shape, r in replaced] == [("0", (32, 64), 8)]  # 8·(32+10) > 320 for "2"
    assert isinstance(model[0], nn.Sequential) and isinstance(model[2], nn.Linear)
    assert model(x).shape == (4, 1)
    params = sum(p.numel() for p in model.parameters())
    assert params == 8 * 64 + 32 * 8 + 32 + 32 * 10 + 10 + 10 + 1


def test_bad_arguments_raise_clear_errors():
    lin = nn.Linear(4, 3)
    with pytest.raises(ValueError, match=r"rank=4 should be an int in 1\.\.3"):
        lowrank.low_rank(lin, rank=4)
    with pytest.raises(ValueError, match="exactly one of rank= and energy="):
        lowrank.low_rank(lin)
    with pytest.raises(ValueError, match=r"energy=1.5 should be in \(0, 1\]"):
        lowrank.low_rank(lin, energy=1.5)
    with pytest.raises(TypeError, match="expected a minidl.nn.Linear, got Conv2d"):
        lowrank.low_rank(nn.Conv2d(1, 1, 1), rank=1)
    with pytest.raises(ValueError, match="rank=0 should be a positive int"):
        lowrank.factorize_linear(nn.Sequential(lin), rank=0)


def test_factorize_linear_leaves_an_attention_out_proj():
    layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0)
    _, replaced = lowrank.factorize_linear(layer, rank=4)
    assert sorted(name for name, _, _ in replaced) == ["linear1", "linear2"]
    assert isinstance(layer.self_attn.out_proj, nn.Linear)
    assert layer(minidl.randn(3, 2, 32)).shape == (3, 2, 32)
