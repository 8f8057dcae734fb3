"""The GPT language model: shapes, causality, weight tying, parity with a torch twin, training,
and generation with a key/value cache giving exactly the tokens of a full recomputation."""

from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import optim
from minidl.nn.gpt import GPT, GPTConfig


def small(**kw):
    cfg = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)
    cfg.update(kw)
    minidl.manual_seed(0)
    return GPT(GPTConfig(**cfg))


def _ids(B, T, V=11, seed=0):
    return minidl.tensor(np.random.default_rng(seed).integers(0, V, (B, T)))


def test_shapes_loss_and_tied_weights():
    model = small()
    logits, loss = model(_ids(3, 8), targets=_ids(3, 8, seed=1))
    assert logits.shape == (3, 8, 11) and loss.shape == ()
    assert abs(loss.item() - np.log(11)) < 0.5  # near uniform at initialisation
    assert model.lm_head.weight is model.wte.weight
    names = [n for n, _ in model.named_parameters()]
    assert "wte.weight" in names and "lm_head.weight" not in names  # counted once
    C, L, V, B = 8, 2, 11, 8
    block = 4 * C * C + 8 * C * C + 13 * C  # attn 3C²+3C + C²+C, mlp 8C²+5C, two LayerNorms 4C
    assert model.num_parameters(non_embedding=False) == V * C + B * C + L * block + 2 * C
    assert model.num_parameters() == model.num_parameters(non_embedding=False) - B * C
    assert model.flops_per_token() == 6 * model.num_parameters() + 6 * L * B * C


def test_position_i_depends_on_positions_up_to_i_only():
    model = small()
    model.eval()
    a = _ids(1, 8).numpy()
    b = a.copy()
    b[0, 5] = (b[0, 5] + 1) % 11
    la, _ = model(minidl.tensor(a))
    lb, _ = model(minidl.tensor(b))
    np.testing.assert_allclose(la.detach().numpy()[0, :5], lb.detach().numpy()[0, :5], rtol=1e-6, atol=1e-6)
    assert not np.allclose(la.detach().numpy()[0, 5:], lb.detach().numpy()[0, 5:])


def test_bad_input():
    model = small()
    with pytest.raises(ValueError, match=r"9 positions, more than block_size 8"):
        model(_ids(1, 9))
    with pytest.raises(ValueError, match=r"expected token ids of shape \(B, T\)"):
        model(minidl.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="multiple of n_head"):
        GPTConfig(n_embd=10, n_head=4)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(_ids(1, 2), 3, temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        model.generate(_ids(1, 2), 3, top_p=0)


def test_gradients_are_correct():
    model = small(n_layer=1, vocab_size=5, n_embd=4, block_size=4)
    params = {n: p for n, p in model.named_parameters()}
    for p in params.values():
        p.array = p.array.astype(np.float64)
    idx, tgt = _ids(2, 4, V=5), _ids(2, 4, V=5, seed=3)
    w = params["h.0.attn.c_attn.weight"]
    _, loss = model(idx, tgt)
    loss.backward()
    eps, g = 1e-6, w.grad.numpy()
    rng = np.random.default_rng(0)
    for _ in range(5):
        i, j = rng.integers(0, w.shape[0]), rng.integers(0, w.shape[1])
        w.array[i, j] += eps
        up = model(idx, tgt)[1].item()
        w.array[i, j] -= 2 * eps
        down = model(idx, tgt)[1].item()
        w.array[i, j] += eps
        assert abs((up - down) / (2 * eps) - g[i, j]) < 1e-6 * max(1.0, abs(g[i, j]))


def test_matches_a_torch_twin():
    torch = pytest.importorskip("torch")
    model = small()
    model.eval()
    state = {n: torch.tensor(p.detach().numpy()) for n, p in model.named_parameters()}
    idx = _ids(2, 8).numpy()

    def twin(ids):
        c = model.config
        x = state["wte.weight"][ids] + state["wpe.weight"][: ids.shape[1]]
        for i in range(c.n_layer):
            p = lambda k, i=i: state[f"h.{i}.{k}"]  # noqa: E731
            u = torch.nn.functional.layer_norm(x, (c.n_embd,), p("ln_1.weight"), p("ln_1.bias"))
            q, k, v = (u @ p("attn.c_attn.weight").T + p("attn.c_attn.bias")).split(c.n_embd, dim=2)
            heads = lambda t: t.view(*t.shape[:2], c.n_head, -1).transpose(1, 2)  # noqa: E731
            y = torch.nn.functional.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
            y = y.transpose(1, 2).reshape(x.shape)
            x = x + y @ p("attn.c_proj.weight").T + p("attn.c_proj.bias")
            u = torch.nn.functional.layer_norm(x, (c.n_embd,), p("ln_2.weight"), p("ln_2.bias"))
            hdn = torch.nn.functional.gelu(u @ p("mlp.c_fc.weight").T + p("mlp.c_fc.bias"), approximate="tanh")
            x = x + hdn @ p("mlp.c_proj.weight").T + p("mlp.c_proj.bias")
        x = torch.nn.functional.layer_norm(x, (c.n_embd,), state["ln_f.weight"], state["ln_f.bias"])
        return x @ state["wte.weight"].T

    ours, _ = model(minidl.tensor(idx))
    np.testing.assert_allclose(ours.detach().numpy(), twin(torch.tensor(idx)).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(temperature=0.0), dict(temperature=1.0, seed=3),
                                dict(temperature=0.8, top_k=4, seed=5), dict(temperature=1.2, top_p=0.7, seed=7)])
def test_the_cache_gives_exactly_the_tokens_of_a_full_recomputation(kw):
    model = small()
    model.eval()
    for p in model.parameters():
        p.array = p.array.astype(np.float64)  # so that no rounding difference can move a sample
    prompt = _ids(2, 3)
    cached = model.generate(prompt, 12, use_cache=True, **kw)  # 15 tokens: past block_size 8 too
    full = model.generate(prompt, 12, use_cache=False, **kw)
    assert cached.shape == (2, 15)
    np.testing.assert_array_equal(cached.numpy(), full.numpy())
    np.testing.assert_array_equal(cached.numpy()[:, :3], prompt.numpy())


def test_top_k_1_and_temperature_0_are_greedy():
    model = small()
    model.eval()
    a = model.generate(_ids(1, 2), 6, temperature=0.0)
    b = model.generate(_ids(1, 2), 6, temperature=1.0, top_k=1, seed=1)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_it_learns_a_repeating_sequence():
    model = small(vocab_size=5, block_size=8, n_embd=16)
    opt = optim.AdamW(model.parameters(), lr=1e-2)
    seq = np.tile(np.arange(5), 4)  # 0 1 2 3 4 0 1 2 ...
    windows = np.stack([seq[o : o + 9] for o in range(5)])  # every phase, so the token (not the position) tells
    x, y = minidl.tensor(windows[:, :8]), minidl.tensor(windows[:, 1:])
    for _ in range(60):
        opt.zero_grad()
        _, loss = model(x, y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.1, loss.item()
    model.eval()
    out = model.generate(minidl.tensor([[2]]), 6, temperature=0.0)
    assert out.numpy().tolist() == [[2, 3, 4, 0, 1, 2, 3]]


def test_gradient_checkpointing_gives_the_same_gradients():
    model = small(dropout=0.1)
    for p in model.parameters():
        p.array = p.array.astype(np.float64)
    idx, tgt = _ids(2, 8), _ids(2, 8, seed=2)
    grads = []
    for flag in (False, True):
        model.gradient_checkpointing = flag
        model.zero_grad()
        minidl.manual_seed(3)
        model(idx, tgt)[1].backward()
        grads.append({n: p.grad.numpy().copy() for n, p in model.named_parameters()})
    for name in grads[0]:
        np.testing.assert_allclose(grads[1][name], grads[0][name], rtol=1e-10, atol=1e-12, err_msg=name)
