import numpy as np
import pytest

import minidl
from minidl import explain, nn


def _linear(c=3, d=5, dtype=np.float64, seed=0):
    minidl.manual_seed(seed)
    model = nn.Linear(d, c).to(dtype=minidl.float64 if dtype == np.float64 else minidl.float32)
    return model


def _mlp(seed=0):
    minidl.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def _cnn(seed=0):
    minidl.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 3)
    ).double()


def test_saliency_of_a_linear_model_is_the_weight_row():
    model = _linear()
    x = np.random.default_rng(1).normal(size=(4, 5))
    target = [0, 2, 1, 2]
    s = explain.saliency(model, x, target).numpy()
    np.testing.assert_allclose(s, model.weight.detach().numpy()[target], rtol=1e-12)
    np.testing.assert_allclose(explain.saliency(model, x, 1, abs=True).numpy(),
                               np.abs(np.broadcast_to(model.weight.detach().numpy()[1], (4, 5))))


def test_integrated_gradients_of_a_linear_model_is_exact():
    model = _linear()
    rng = np.random.default_rng(2)
    x, base = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    w = model.weight.detach().numpy()
    for method in ("gausslegendre", "riemann_trapezoid"):
        ig, err = explain.integrated_gradients(model, x, 2, baseline=base, steps=3, method=method)
        np.testing.assert_allclose(ig.numpy(), (x - base) * w[2], rtol=1e-10)
        np.testing.assert_allclose(err.numpy(), 0.0, atol=1e-12)
    ig0, _ = explain.integrated_gradients(model, x, 0, steps=2)  # zero baseline
    np.testing.assert_allclose(ig0.numpy(), x * w[0], rtol=1e-10)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid"])
def test_completeness_error_shrinks_with_steps(method):
    model = _mlp()
    x = np.random.default_rng(3).normal(size=(2, 4)) * 2
    errs = [np.abs(explain.integrated_gradients(model, x, 1, steps=s, method=method)[1].numpy()).max()
            for s in (2, 8, 64)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < (1e-8 if method == "gausslegendre" else 1e-3)


def test_batched_equals_one_at_a_time():
    model = _mlp()
    x = np.random.default_rng(4).normal(size=(3, 4))
    target = [2, 0, 1]
    s = explain.saliency(model, x, target).numpy()
    ig, err = explain.integrated_gradients(model, x, target, steps=10)
    sg = explain.smoothgrad(model, x, target, samples=4, sigma=0.1, seed=0).numpy()
    noise = np.random.default_rng(0).normal(0.0, 0.1, size=(4, 3, 4))
    for n in range(3):
        np.testing.assert_allclose(explain.saliency(model, x[n:n + 1], target[n]).numpy()[0], s[n], rtol=1e-12)
        ig1, err1 = explain.integrated_gradients(model, x[n:n + 1], target[n], steps=10)
        np.testing.assert_allclose(ig1.numpy()[0], ig.numpy()[n], rtol=1e-12)
        np.testing.assert_allclose(err1.numpy()[0], err.numpy()[n], atol=1e-14)
        one = explain.smoothgrad(model, x[n:n + 1], target[n], noise=noise[:, n:n + 1]).numpy()
        np.testing.assert_allclose(one[0], sg[n], rtol=1e-12)


def test_smoothgrad_is_the_mean_saliency_over_the_noise():
    model = _mlp()
    x = np.random.default_rng(5).normal(size=(2, 4))
    noise = np.random.default_rng(6).normal(0, 0.3, size=(5, 2, 4))
    sg = explain.smoothgrad(model, x, 1, noise=noise).numpy()
    mean = np.mean([explain.saliency(model, x + e, 1).numpy() for e in noise], axis=0)
    np.testing.assert_allclose(sg, mean, rtol=1e-12)
    np.testing.assert_allclose(explain.smoothgrad(model, x, 1, sigma=0.0, samples=2).numpy(),
                               explain.saliency(model, x, 1).numpy())
    a = explain.smoothgrad(model, x, 1, samples=3, seed=7).numpy()
    np.testing.assert_array_equal(a, explain.smoothgrad(model, x, 1, samples=3, seed=7).numpy())
    assert not np.allclose(a, explain.smoothgrad(model, x, 1, samples=3, seed=8).numpy())


def test_grad_cam_matches_its_equation():
    model = _cnn()
    x = np.random.default_rng(7).normal(size=(2, 1, 8, 8))
    cam = explain.grad_cam(model, x, [0, 2], model[2]).numpy()
    assert cam.shape == (2, 4, 4) and (cam >= 0).all()
    # by hand: the hooked layer's output h and the gradient of the logits from it
    h = model[2](model[1](model[0](minidl.tensor(x)))).detach().numpy()  # (N, 6, 4, 4)
    ht = minidl.tensor(h, requires_grad=True)
    out = nn.Sequential(model[3], model[4], model[5])(ht)
    for n, t in enumerate([0, 2]):
        (dh,) = minidl.grad(out[n, t], ht, retain_graph=True)
        alpha = dh.numpy()[n].mean(axis=(1, 2))  # (6,)
        np.testing.assert_allclose(cam[n], np.maximum(np.tensordot(alpha, h[n], 1), 0), rtol=1e-10, atol=1e-14)
    assert not model[2]._forward_hooks  # hook removed


def test_forward_hook_with_kwargs_sees_the_keywords():
    lin = nn.Linear(2, 2)
    seen = []

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, x, scale=1.0):
            return self.lin(x) * scale

    m = Wrap()
    h = m.register_forward_hook(lambda mod, args, kw, out: seen.append((len(args), dict(kw))), with_kwargs=True)
    h2 = m.register_forward_hook(lambda mod, args, out: out * 0)  # the plain form still replaces the output
    y = m(minidl.randn(3, 2), scale=2.0)
    assert seen == [(1, {"scale": 2.0})] and float(y.abs().sum().item()) == 0.0
    h.remove()
    h2.remove()
    m(minidl.randn(3, 2))
    assert len(seen) == 1


class _TinyTransformer(nn.Module):
    def __init__(self, vocab=11, d=8, heads=2, layers=2, classes=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.head = nn.Linear(d, classes)

    def forward(self, tokens, src_key_padding_mask=None):
        h = self.encoder(self.emb(tokens), src_key_padding_mask=src_key_padding_mask)  # (N, T, D)
        return self.head(h.mean(1))


def test_attention_maps_per_layer_and_head():
    minidl.manual_seed(0)
    model = _TinyTransformer().eval()
    tokens = minidl.tensor(np.random.default_rng(8).integers(0, 11, size=(3, 6)))
    maps = explain.attention_maps(model, tokens)
    assert len(maps) == 2 and all(m.shape == (3, 2, 6, 6) for m in maps)
    for m in maps:
        np.testing.assert_allclose(m.numpy().sum(-1), 1.0, rtol=1e-5)
    # the first layer's weights, recomputed from the embedding
    attn = model.encoder.layers[0].self_attn
    e = model.emb(tokens)
    _, w = attn(e, e, e, need_weights=True, average_attn_weights=False)
    np.testing.assert_allclose(maps[0].numpy(), w.detach().numpy(), rtol=1e-5)
    # a padding mask reaches the recomputed weights: padded keys get no attention
    pad = np.zeros((3, 6), dtype=bool)
    pad[:, 4:] = True
    masked = explain.attention_maps(model, tokens, src_key_padding_mask=minidl.tensor(pad))
    assert np.abs(masked[0].numpy()[..., 4:]).max() < 1e-7
    assert not attn._forward_hooks  # hooks removed


def test_attention_rollout_by_hand():
    rng = np.random.default_rng(9)
    maps = [rng.dirichlet(np.ones(4), size=(2, 3, 4)) for _ in range(3)]  # (N, H, L, L), rows sum to 1
    r = explain.attention_rollout(maps).numpy()
    expect = []
    for n in range(2):
        acc = np.eye(4)
        for a in maps:
            m = 0.5 * a[n].mean(0) + 0.5 * np.eye(4)
            acc = (m / m.sum(1, keepdims=True)) @ acc
        expect.append(acc)
    np.testing.assert_allclose(r, np.array(expect), rtol=1e-12)
    np.testing.assert_allclose(r.sum(-1), 1.0, rtol=1e-12)
    one = explain.attention_rollout([np.eye(4)[None]] * 2)  # attention to self only: R = I
    np.testing.assert_allclose(one.numpy()[0], np.eye(4))


def test_keras_model_uses_the_logits_before_softmax():
    from minidl import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(10).normal(size=(2, 4)).astype(np.float32)
    s = explain.saliency(model, x, [1, 2]).numpy()
    kernel = model.layers[0].get_weights()[0]  # (4, 3)
    np.testing.assert_allclose(s, kernel[:, [1, 2]].T, rtol=1e-5)
    ig, err = explain.integrated_gradients(model, x, 0, steps=4)
    np.testing.assert_allclose(ig.numpy(), x * kernel[:, 0], rtol=1e-4, atol=1e-6)
    assert np.abs(err.numpy()).max() < 1e-4


def test_bad_arguments_name_the_function():
    model = _linear()
    x = np.zeros((2, 5))
    with pytest.raises(ValueError, match=r"saliency: target must be in \[0, 3\)"):
        explain.saliency(model, x, 3)
    with pytest.raises(ValueError, match="saliency: target has 3 entries for a batch of 2"):
        explain.saliency(model, x, [0, 1, 2])
    with pytest.raises(TypeError, match="saliency: target must be an int"):
        explain.saliency(model, x, 0.5)
    with pytest.raises(ValueError, match="steps must be an int >= 2"):
        explain.integrated_gradients(model, x, 0, steps=1)
    with pytest.raises(ValueError, match="method must be"):
        explain.integrated_gradients(model, x, 0, method="simpson")
    with pytest.raises(ValueError, match="baseline shape"):
        explain.integrated_gradients(model, x, 0, baseline=np.zeros(4))
    with pytest.raises(ValueError, match="smoothgrad: samples"):
        explain.smoothgrad(model, x, 0, samples=0)
    with pytest.raises(ValueError, match="smoothgrad: noise must have shape"):
        explain.smoothgrad(model, x, 0, noise=np.zeros((2, 5)))
    with pytest.raises(ValueError, match="non-empty batch"):
        explain.saliency(model, np.zeros((0, 5)), 0)
    with pytest.raises(ValueError, match="feature map"):
        explain.grad_cam(model, x, 0, model)
    with pytest.raises(ValueError, match="holds no multi-head attention layer"):
        explain.attention_maps(model, x)
    with pytest.raises(ValueError, match="attention_rollout: map 1"):
        explain.attention_rollout([np.ones((1, 3, 3)), np.ones((1, 4, 4))])


def test_attention_maps_of_a_keras_transformer():
    from minidl import keras

    minidl.manual_seed(0)
    inp = keras.Input((6,), dtype="int64")
    e = keras.layers.Embedding(11, 8)(inp)
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5)
    a = mha(e, e, use_causal_mask=True)
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(a)))
    tokens = np.random.default_rng(8).integers(0, 11, size=(3, 6))
    maps = explain.attention_maps(model, minidl.tensor(tokens))
    assert len(maps) == 1 and maps[0].shape == (3, 2, 6, 6)
    emb = model.layers[1](minidl.tensor(tokens))
    _, w = mha(emb, emb, use_causal_mask=True, return_attention_scores=True)  # dropout off: inference
    np.testing.assert_allclose(maps[0].numpy(), w.numpy(), rtol=1e-6)
    np.testing.assert_allclose(maps[0].numpy().sum(-1), 1.0, rtol=1e-5)
    assert np.abs(np.triu(maps[0].numpy(), 1)).max() == 0.0  # the causal mask of the call is kept
    assert "call" not in mha.__dict__  # the layer is as it was
    assert np.array_equal(model.predict(tokens, verbose=0), model.predict(tokens, verbose=0))
