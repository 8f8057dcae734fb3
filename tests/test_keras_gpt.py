"""The Keras GPT (minidl.keras.gpt): the same logits as minidl.nn.GPT with the same weights, and
it trains with compile/fit on next-token windows."""

import numpy as np
import pytest

import minidl
from minidl import keras
from minidl.keras.gpt import GPT, from_nn_gpt, gpt
from minidl.nn.gpt import GPT as NNGPT
from minidl.nn.gpt import GPTConfig


def _windows(ids, T):
    starts = np.arange(0, len(ids) - T - 1, 3)
    x = np.stack([ids[s : s + T] for s in starts])
    return x, np.stack([ids[s + 1 : s + T + 1] for s in starts])  # (N, T) each: y is x shifted by one


@pytest.mark.parametrize("n_layer,n_head,n_embd,T", [(1, 1, 8, 5), (2, 4, 16, 7), (3, 2, 12, 1)])
def test_same_weights_give_the_same_logits_as_the_nn_gpt(n_layer, n_head, n_embd, T):
    minidl.manual_seed(n_layer)
    nn_model = NNGPT(GPTConfig(vocab_size=11, block_size=8, n_layer=n_layer, n_head=n_head, n_embd=n_embd))
    for p in nn_model.parameters():  # nonzero biases and gains, so that a mixed-up copy cannot agree
        p.array[...] = p.array + 0.1 * np.random.default_rng(p.numel()).standard_normal(p.shape).astype(p.array.dtype)
    nn_model.eval()
    model = from_nn_gpt(nn_model)
    ids = np.random.default_rng(T).integers(0, 11, size=(3, T))
    with minidl.no_grad():
        expected = nn_model(ids)[0].numpy()
    got = model.predict(ids, verbose=0)
    assert got.shape == (3, T, 11)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # the causal mask: a different future leaves the earlier positions' logits alone
    changed = ids.copy()
    changed[:, -1] = (changed[:, -1] + 1) % 11
    np.testing.assert_allclose(model.predict(changed, verbose=0)[:, :-1], got[:, :-1], rtol=1e-5, atol=1e-6)


def test_output_layer_is_tied_to_the_token_embedding():
    model = gpt(vocab_size=13, block_size=6, n_layer=1, n_head=2, n_embd=8)
    nn_model = NNGPT(GPTConfig(vocab_size=13, block_size=6, n_layer=1, n_head=2, n_embd=8))
    assert model.count_params() == nn_model.num_parameters(non_embedding=False)  # E counted once, as in nn
    assert len(model.weights) == len(list(nn_model.parameters())) + 4  # Q, K, V apart: 3 kernels + 3 biases for 1 + 1


def test_it_trains_with_compile_and_fit():
    minidl.manual_seed(0)
    text = "the cat sat on the mat. the dog sat on the log. " * 6
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    x, y = _windows(ids, 12)
    model = gpt(vocab_size=len(chars), block_size=12, n_layer=1, n_head=2, n_embd=16)
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[0] > 0.8 * np.log(len(chars))  # starts near the uniform guess
    assert losses[-1] < 0.5 * losses[0]


def test_bad_input_is_named():
    model = gpt(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4)
    with pytest.raises(ValueError, match="block_size 4"):
        model.predict(np.zeros((1, 6), dtype=np.int64), verbose=0)
    with pytest.raises(ValueError, match="n_layer"):
        GPT(5, 4, n_layer=0)
    with pytest.raises(ValueError, match="differ"):
        model.load_nn_gpt(NNGPT(GPTConfig(vocab_size=6, block_size=4, n_layer=1, n_head=1, n_embd=4)))
