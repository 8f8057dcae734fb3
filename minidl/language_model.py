"""Training a language model (``minidl.nn.GPT``) on a stream of token ids.

    data = numpy.array(tokenizer.encode(text))
    train, val = split(data, 0.9)
    history = train_lm(model, train, val, TrainConfig(steps=2000, batch_size=32, lr=1e-3))
    save_run("runs/gpt", model, tokenizer, history); model, tokenizer, history = load_run("runs/gpt")

A batch is ``batch_size`` windows of ``block_size + 1`` tokens taken at random offsets: the first
``block_size`` are the input, the last ``block_size`` the targets (each position predicts the
next token). The optimiser is AdamW, with weight decay on every 2-D parameter (the weight
matrices and the embeddings) and none on biases and LayerNorm gains, and the learning rate
follows a linear warm-up, then a cosine decay:

    lr(s) = lr_max · (s + 1) / warmup                                   s < warmup
    lr(s) = lr_min + ½ (lr_max − lr_min) (1 + cos(π (s − warmup) / (steps − warmup)))   otherwise

Each step accumulates the gradients of ``accumulation`` micro-batches (each loss divided by
``accumulation``, so the step sees the mean over ``accumulation · batch_size`` windows), clips
their joint norm to ``grad_clip``, then updates.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass

import numpy

from . import optim
from ._files import FileFormatError, read_json
from .autograd import no_grad
from .nn.gpt import GPT, GPTConfig
from .serialization import load, save
from .tensor import tensor
from .tokenizers import ByteBPETokenizer, CharTokenizer
from .tokenizers import _write_json_atomically as _write_json


@dataclass
class TrainConfig:
    """Settings of ``train_lm`` (see the module docstring for the schedule)."""

    steps: int = 1000
    batch_size: int = 32
    accumulation: int = 1
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 100
    weight_decay: float = 0.1
    betas: tuple = (0.9, 0.99)
    grad_clip: float = 1.0
    eval_every: int = 100
    eval_batches: int = 20
    seed: int = 0


def split(data, train_fraction: float = 0.9):
    """The first ``train_fraction`` of ``data`` for training, the rest for validation."""
    n = int(len(data) * train_fraction)
    return data[:n], data[n:]


def get_batch(data, block_size: int, batch_size: int, rng, device=None):
    """Inputs and targets (batch_size, block_size) on ``device``: windows of the host array
    ``data`` at random offsets, the targets shifted by one."""
    data = numpy.asarray(data)
    if len(data) <= block_size:
        raise ValueError(f"get_batch: {len(data)} tokens, need more than block_size={block_size}")
    starts = rng.integers(0, len(data) - block_size, batch_size)
    offsets = starts[:, None] + numpy.arange(block_size)[None, :]  # (batch_size, block_size)
    return tensor(data[offsets], device=device), tensor(data[offsets + 1], device=device)


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr`` at ``steps``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, config.steps - config.warmup))
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


def make_optimizer(model, config: TrainConfig):
    """AdamW; weight decay on the 2-D parameters (matrices and embeddings), none on the rest."""
    params = list(model.parameters())
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return optim.AdamW(groups, lr=config.lr, betas=config.betas)


@no_grad()
def estimate_loss(model, data, batches: int, batch_size: int, rng) -> float:
    """Mean cross-entropy over ``batches`` random batches, in evaluation mode."""
    was_training = model.training
    model.eval()
    device = next(iter(model.parameters())).device
    losses = [model(*get_batch(data, model.config.block_size, batch_size, rng, device))[1].item()
              for _ in range(batches)]
    model.train(was_training)
    return float(numpy.mean(losses))


def train_lm(model, train_data, val_data, config: TrainConfig, on_step=None) -> dict:
    """Train ``model`` and return its history: ``step``, ``train_loss`` and ``val_loss`` at each
    evaluation, the learning rate and the seconds spent. ``on_step(step, loss)`` is called after
    every step (a progress bar, say)."""
    rng = numpy.random.default_rng(config.seed)
    eval_rng = numpy.random.default_rng(config.seed + 1)
    opt = make_optimizer(model, config)
    device = next(iter(model.parameters())).device
    history = {"step": [], "train_loss": [], "val_loss": [], "lr": [], "seconds": []}
    start = time.perf_counter()
    model.train()
    for step in range(config.steps):
        lr = learning_rate(step, config)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        total = 0.0
        for _ in range(config.accumulation):
            x, y = get_batch(train_data, model.config.block_size, config.batch_size, rng, device)
            _, loss = model(x, y)
            (loss / config.accumulation).backward()
            total += loss.item() / config.accumulation
        optim.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        if on_step is not None:
            on_step(step, total)
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            history["step"].append(step + 1)
            history["train_loss"].append(estimate_loss(model, train_data, config.eval_batches, config.batch_size,
                                                       eval_rng))
            history["val_loss"].append(estimate_loss(model, val_data, config.eval_batches, config.batch_size,
                                                     eval_rng))
            history["lr"].append(lr)
            history["seconds"].append(time.perf_counter() - start)
    return history


# ---- a run on disk: weights, model config, tokenizer, history ---------------------------------
_TOKENIZERS = {"char": CharTokenizer, "byte_bpe": ByteBPETokenizer}


def save_run(folder, model, tokenizer, history=None):
    """Write ``model.weights.npz``, ``config.json`` (model sizes and tokenizer kind),
    ``tokenizer.json`` and ``history.json`` into ``folder`` (each file written atomically)."""
    os.makedirs(folder, exist_ok=True)
    kind = "char" if isinstance(tokenizer, CharTokenizer) else "byte_bpe"
    save(model.state_dict(), os.path.join(folder, "model.weights.npz"))
    tokenizer.save(os.path.join(folder, "tokenizer.json"))
    _write_json(os.path.join(folder, "config.json"), {"model": asdict(model.config), "tokenizer": kind})
    _write_json(os.path.join(folder, "history.json"), history or {})


def _check_sizes_against_weights(sizes, weights_path, config_path):
    """Before a GPT is built from a run's config: its weight matrices alone, at 2 bytes a value
    (the narrowest float), must fit in the saved weights file; a config that claims enormous
    sizes fails here, before anything is allocated."""
    c = GPTConfig(**sizes)
    lower = 2 * ((c.vocab_size + c.block_size) * c.n_embd + 12 * c.n_layer * c.n_embd * c.n_embd)
    held = os.path.getsize(weights_path)
    if lower > held:
        raise FileFormatError(config_path, f"the model sizes {sizes} need at least {lower:,} bytes of weights, but "
                                           f"{weights_path} holds {held:,}")
    return c


def load_run(folder, max_bytes=None):
    """``(model, tokenizer, history)`` from a folder written by ``save_run``; the config's sizes are
    checked against the weights file before the model is built."""
    path = os.path.join(folder, "config.json")
    weights_path = os.path.join(folder, "model.weights.npz")
    config = read_json(path, max_bytes=1 << 20, what="a language-model run's config")
    try:
        kind, sizes = config["tokenizer"], config["model"]
        model = GPT(_check_sizes_against_weights(sizes, weights_path, path))
    except FileFormatError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise FileFormatError(path, f"not a language-model run's config ({type(exc).__name__}: {exc})") from None
    if kind not in _TOKENIZERS:
        raise FileFormatError(path, f"unknown tokenizer kind {kind!r} (expected one of {sorted(_TOKENIZERS)})")
    model.load_state_dict(load(weights_path, max_bytes=max_bytes))
    tokenizer = _TOKENIZERS[kind].load(os.path.join(folder, "tokenizer.json"))
    history_path = os.path.join(folder, "history.json")
    history = {}
    if os.path.exists(history_path):
        history = read_json(history_path, max_bytes=16 << 20, what="a run's history")
    return model, tokenizer, history
