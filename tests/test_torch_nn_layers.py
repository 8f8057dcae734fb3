"""nn.Transformer, TransformerDecoderLayer and TransformerDecoder against PyTorch with copied
weights; channel dropout (Dropout1d/2d/3d); the lazy layers (LazyLinear, LazyConv1d, LazyConv2d)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import nn, optim
from minidl.gradcheck import gradcheck
from minidl.nn import functional as F

torch = pytest.importorskip("torch")


def _copy_weights(ours, theirs):
    state = {k: v.detach().numpy().astype(np.float64) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state)


def _close(ours, theirs, tol=1e-9):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)


MASKS = ["none", "causal", "padding"]


@settings(max_examples=6, deadline=None)
@given(norm_first=st.booleans(), batch_first=st.booleans(), mask=st.sampled_from(MASKS), seed=st.integers(0, 99),
       activation=st.sampled_from(["relu", "gelu"]))
def test_transformer_matches_torch(norm_first, batch_first, mask, seed, activation):
    E, H, S, T, N = 8, 2, 5, 4, 3
    kw = dict(d_model=E, nhead=H, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=16, dropout=0.0,
              activation=activation, batch_first=batch_first, norm_first=norm_first)
    theirs = torch.nn.Transformer(**kw, dtype=torch.float64).eval()
    ours = nn.Transformer(**kw, dtype=minidl.float64).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _copy_weights(ours, theirs)
    rng = np.random.default_rng(seed)
    src = rng.standard_normal((N, S, E) if batch_first else (S, N, E))
    tgt = rng.standard_normal((N, T, E) if batch_first else (T, N, E))
    masks = {}
    if mask == "causal":
        masks["tgt_mask"] = "square"
    elif mask == "padding":
        pad = np.zeros((N, S), bool)
        pad[:, -1] = True
        masks["src_key_padding_mask"] = masks["memory_key_padding_mask"] = pad

    def run(lib, model):
        m = {k: (lib.nn.Transformer.generate_square_subsequent_mask(T, dtype=lib.float64) if isinstance(v, str)
                 else lib.tensor(v)) for k, v in masks.items()}
        s = lib.tensor(src, dtype=lib.float64, requires_grad=True)
        out = model(s, lib.tensor(tgt, dtype=lib.float64), **m)
        (out * lib.tensor(np.linspace(-1, 1, out.numel()).reshape(out.shape))).sum().backward()
        return out, s.grad

    (o1, g1), (o2, g2) = run(minidl, ours), run(torch, theirs)
    _close(o1, o2)
    _close(g1, g2)


def test_decoder_layer_and_decoder_match_torch_unbatched():
    E = 6
    layer_t = torch.nn.TransformerDecoderLayer(E, 3, dim_feedforward=12, dropout=0.0, dtype=torch.float64)
    dec_t = torch.nn.TransformerDecoder(layer_t, num_layers=2, norm=torch.nn.LayerNorm(E, dtype=torch.float64))
    layer = nn.TransformerDecoderLayer(E, 3, dim_feedforward=12, dropout=0.0, dtype=minidl.float64)
    dec = nn.TransformerDecoder(layer, num_layers=2, norm=nn.LayerNorm(E, dtype=minidl.float64))
    _copy_weights(dec, dec_t)
    rng = np.random.default_rng(0)
    tgt, mem = rng.standard_normal((4, E)), rng.standard_normal((7, E))
    mask = np.triu(np.ones((4, 4), bool), 1)
    out = dec(minidl.tensor(tgt), minidl.tensor(mem), tgt_mask=minidl.tensor(mask), tgt_is_causal=True)
    ref = dec_t(torch.tensor(tgt), torch.tensor(mem), tgt_mask=torch.tensor(mask), tgt_is_causal=True)
    _close(out, ref)
    _copy_weights(layer, layer_t)
    _close(layer(minidl.tensor(tgt), minidl.tensor(mem)), layer_t(torch.tensor(tgt), torch.tensor(mem)))


def test_transformer_refuses_mismatched_inputs_and_makes_the_causal_mask():
    model = nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(RuntimeError, match="batch number of src and tgt must be equal"):
        model(minidl.randn(5, 2, 8), minidl.randn(4, 3, 8))
    with pytest.raises(RuntimeError, match="feature number of src and tgt must be equal to d_model"):
        model(minidl.randn(5, 2, 8), minidl.randn(4, 2, 6))
    np.testing.assert_array_equal(nn.Transformer.generate_square_subsequent_mask(4).numpy(),
                                  torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())


# ---- channel dropout ---------------------------------------------------------------------------
@pytest.mark.parametrize(("module", "shape", "channel_dims"), [
    (nn.Dropout1d, (4, 6, 5), 2), (nn.Dropout2d, (4, 6, 3, 3), 2), (nn.Dropout2d, (6, 3, 3), 2),
    (nn.Dropout3d, (2, 6, 2, 2, 2), 2), (nn.Dropout3d, (6, 2, 2, 2), 1),
])
def test_channel_dropout_zeroes_whole_channels_and_scales_the_rest(module, shape, channel_dims):
    minidl.manual_seed(0)
    x = minidl.tensor(np.random.default_rng(0).uniform(1, 2, shape), requires_grad=True)
    m = module(p=0.4)
    y = m(x)
    ratio = (y / x).detach().numpy().reshape(shape[:channel_dims] + (-1,))
    per_channel = ratio[..., 0]
    np.testing.assert_allclose(ratio, np.broadcast_to(per_channel[..., None], ratio.shape))
    assert set(np.round(np.unique(per_channel), 9)) <= {0.0, round(1 / 0.6, 9)}
    g = minidl.tensor(np.random.default_rng(1).standard_normal(shape))
    y.backward(g)
    np.testing.assert_allclose(x.grad.numpy(), g.numpy() * ratio.reshape(shape))  # dL/dx = dL/dy · m / (1 − p)
    m.eval()
    assert m(x) is x


def test_channel_dropout_gradcheck_with_a_fixed_mask():
    x = minidl.tensor(np.random.default_rng(2).standard_normal((2, 3, 2, 2)), requires_grad=True)

    def f(t):
        minidl.manual_seed(5)  # the same mask at every evaluation
        return F.dropout2d(t, 0.5, training=True)

    assert gradcheck(f, (x,))


def test_channel_dropout_keeps_the_expected_value_like_torch():
    minidl.manual_seed(3)
    x = minidl.ones(200, 50, 2, 2)
    y = nn.Dropout2d(0.3)(x).numpy()
    kept = (y[:, :, 0, 0] > 0).mean()
    assert abs(kept - 0.7) < 0.02 and abs(y.mean() - 1.0) < 0.03
    with pytest.raises(ValueError, match="between 0 and 1"):
        torch.nn.Dropout2d(1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout2d(1.5)
    with pytest.raises(ValueError, match="dropout2d: expected a 3-d"):
        F.dropout2d(minidl.ones(3, 3))


# ---- lazy layers -------------------------------------------------------------------------------
def test_lazy_layers_infer_their_sizes_and_keep_their_parameters():
    model = nn.Sequential(nn.LazyConv2d(4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.LazyLinear(5))
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert model[0].has_uninitialized_params() and model[3].has_uninitialized_params()
    held = list(model.parameters())
    x = minidl.randn(2, 3, 6, 6)
    y = model(x)
    assert y.shape == (2, 5) and type(model[0]) is nn.Conv2d and type(model[3]) is nn.Linear
    assert model[0].in_channels == 3 and model[3].in_features == 4 * 6 * 6
    assert [tuple(p.shape) for p in model.parameters()] == [(4, 3, 3, 3), (4,), (5, 144), (5,)]
    assert all(a is b for a, b in zip(held, model.parameters()))
    before = model[3].weight.detach().numpy().copy()
    y.sum().backward()
    opt.step()
    assert not np.array_equal(before, model[3].weight.detach().numpy())
    bound = 1 / np.sqrt(144)  # Linear's initialisation: U(−1/√in, 1/√in)
    assert np.abs(before).max() <= bound


def test_lazy_layers_match_eager_ones_like_torch():
    lazy = nn.LazyConv1d(4, 2, bias=False)
    out = lazy(minidl.randn(3, 5, 7))
    assert out.shape == tuple(torch.nn.LazyConv1d(4, 2, bias=False)(torch.randn(3, 5, 7)).shape)
    assert lazy.bias is None and lazy.weight.shape == (4, 5, 2)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.LazyConv2d(4, 3, groups=2)(minidl.randn(1, 3, 5, 5))
    ll = nn.LazyLinear(3)
    ll(minidl.randn(7))
    assert ll.weight.shape == (3, 7)


def test_inference_mode_records_no_graph():
    x = minidl.ones(2, requires_grad=True)
    with minidl.inference_mode():
        assert minidl.is_inference_mode_enabled() and not minidl.is_grad_enabled()
        assert not (x * 2).requires_grad
        with minidl.inference_mode(False):
            assert not minidl.is_inference_mode_enabled()
    assert (x * 2).requires_grad and not minidl.is_inference_mode_enabled()

    @minidl.inference_mode()
    def f(t):
        return t * 3

    @minidl.inference_mode
    def g(t):
        return t * 3

    assert not f(x).requires_grad and not g(x).requires_grad and minidl.is_grad_enabled()


def test_a_state_dict_gives_lazy_layers_their_shapes():
    trained = nn.Sequential(nn.LazyConv2d(4, 3), nn.Flatten(), nn.LazyLinear(2))
    x = minidl.randn(1, 3, 5, 5)
    expected = trained(x).detach().numpy()
    fresh = nn.Sequential(nn.LazyConv2d(4, 3), nn.Flatten(), nn.LazyLinear(2))
    fresh.load_state_dict(trained.state_dict())
    assert type(fresh[0]) is nn.Conv2d and fresh[2].in_features == 36
    np.testing.assert_array_equal(fresh(x).detach().numpy(), expected)
