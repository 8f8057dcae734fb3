"""Language-model training: batches, the learning-rate schedule, accumulation, a run on disk."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minidl
from minidl.language_model import (
    TrainConfig,
    estimate_loss,
    get_batch,
    learning_rate,
    load_run,
    make_optimizer,
    save_run,
    split,
    train_lm,
)
from minidl.nn.gpt import GPT, GPTConfig
from minidl.tokenizers import CharTokenizer

TEXT = "to be or not to be that is the question " * 30


def test_batches_are_windows_and_their_shift():
    data = np.arange(100)
    x, y = get_batch(data, 8, 4, np.random.default_rng(0))
    assert x.shape == y.shape == (4, 8)
    np.testing.assert_array_equal(y.numpy(), x.numpy() + 1)  # consecutive ids: each target is the next one
    with pytest.raises(ValueError, match="need more than block_size=8"):
        get_batch(np.arange(8), 8, 2, np.random.default_rng(0))
    a, b = split(data, 0.9)
    assert len(a) == 90 and b[0] == 90


def test_warmup_then_cosine():
    c = TrainConfig(steps=110, warmup=10, lr=1.0, min_lr=0.1)
    assert learning_rate(0, c) == pytest.approx(0.1) and learning_rate(9, c) == pytest.approx(1.0)
    assert learning_rate(10, c) == pytest.approx(1.0)
    assert learning_rate(60, c) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 2)))
    assert learning_rate(110, c) == pytest.approx(0.1) and learning_rate(500, c) == pytest.approx(0.1)


def test_weight_decay_only_on_matrices():
    model = GPT(GPTConfig(vocab_size=7, block_size=4, n_layer=1, n_head=1, n_embd=4))
    decayed, plain = make_optimizer(model, TrainConfig(weight_decay=0.2)).param_groups
    assert decayed["weight_decay"] == 0.2 and all(p.ndim == 2 for p in decayed["params"])
    assert plain["weight_decay"] == 0.0 and all(p.ndim == 1 for p in plain["params"])
    assert len(decayed["params"]) + len(plain["params"]) == len(list(model.parameters()))


def test_accumulation_averages_the_micro_batches():
    """One step with 2 micro-batches of 4 moves the weights as one step with the batch of 8."""
    data = np.random.default_rng(0).integers(0, 7, 400)

    def one_step(batch_size, accumulation):
        minidl.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=7, block_size=4, n_layer=1, n_head=1, n_embd=8)).double()
        cfg = TrainConfig(steps=1, batch_size=batch_size, accumulation=accumulation, warmup=1, grad_clip=1e9,
                          eval_every=10, eval_batches=1)
        if accumulation == 1:  # the same 8 windows as the two micro-batches of 4 draw
            rng = np.random.default_rng(cfg.seed)
            x1, y1 = get_batch(data, 4, 4, rng)
            x2, y2 = get_batch(data, 4, 4, rng)
            opt = make_optimizer(model, cfg)
            for g in opt.param_groups:
                g["lr"] = learning_rate(0, cfg)
            opt.zero_grad()
            model(minidl.cat([x1, x2]), minidl.cat([y1, y2]))[1].backward()
            opt.step()
        else:
            train_lm(model, data, data, cfg)
        return model.wte.weight.detach().numpy()

    np.testing.assert_allclose(one_step(4, 2), one_step(8, 1), rtol=1e-10, atol=1e-12)


def test_training_lowers_the_validation_loss_and_the_run_round_trips(tmp_path):
    tok = CharTokenizer.train(TEXT)
    data = np.array(tok.encode(TEXT))
    train, val = split(data)
    minidl.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=32))
    before = estimate_loss(model, val, 5, 16, np.random.default_rng(5))
    seen = []
    history = train_lm(model, train, val, TrainConfig(steps=60, batch_size=16, lr=1e-2, warmup=5, eval_every=30,
                                                      eval_batches=5), on_step=lambda s, loss: seen.append(s))
    assert seen == list(range(60)) and history["step"] == [30, 60]
    assert history["val_loss"][-1] < 0.6 * before, (before, history["val_loss"])
    save_run(tmp_path / "run", model, tok, history)
    again, tok2, hist2 = load_run(tmp_path / "run")
    assert tok2.itos == tok.itos and hist2["step"] == [30, 60]
    x = minidl.tensor(data[None, :16])
    model.eval()
    again.eval()
    np.testing.assert_allclose(again(x)[0].detach().numpy(), model(x)[0].detach().numpy(), rtol=1e-6)
    (tmp_path / "run" / "config.json").write_text('{"model": {"n_embd": 5, "n_head": 2}, "tokenizer": "char"}')
    with pytest.raises(ValueError, match="config.json: not a language-model run's config"):
        load_run(tmp_path / "run")
