"""A decoder-only Transformer language model (GPT), small enough to read in one sitting.

    config = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128)
    model = GPT(config)
    logits, loss = model(idx, targets)      # idx, targets: (B, T) token ids
    out = model.generate(idx, max_new_tokens=100, temperature=0.8, top_k=40)

The model, for a sequence of token ids t_1..t_T:

    x_0 = E[t] + P[0..T-1]                                  token + position embeddings, (B, T, C)
    x_l = x_{l-1} + Attn(LN(x_{l-1}))                        causal self-attention, pre-LayerNorm
    x_l = x_l + MLP(LN(x_l)),  MLP(u) = W_2 GELU(W_1 u)       4C hidden units, GELU's tanh form
    logits = LN(x_L) Eᵀ                                      weight tying: the output layer is E

    Attn(u) = concat_h softmax(Q_h K_hᵀ / √d + M) V_h · W_o,   M_ij = −∞ for j > i (the future)

trained to minimise the cross-entropy of t_{i+1} given t_1..t_i. Generation feeds the model its
own samples; a key/value cache keeps each layer's K and V of the tokens already seen, so every
new token costs one position instead of the whole prefix (``use_cache=False`` recomputes the
prefix each step, and gives exactly the same tokens). ``model.gradient_checkpointing = True``
keeps only each block's input during training and recomputes the rest in the backward pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import functional as F
from ..creation import arange
from ..tensor import Tensor, tensor
from ..utils.checkpoint import checkpoint
from . import init
from .containers import ModuleList
from .generation import KVCache, generate
from .layers import GELU, Dropout, Embedding, LayerNorm, Linear
from .module import Module


@dataclass
class GPTConfig:
    """Sizes of a GPT: ``block_size`` is the longest context, ``n_embd`` the width C (a multiple
    of ``n_head``), ``bias`` whether the Linear and LayerNorm layers have biases."""

    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"GPTConfig: {name} must be a positive integer, got {getattr(self, name)!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout}")


class CausalSelfAttention(Module):
    """Multi-head self-attention in which position i sees positions 0..i only."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head, self.n_embd = config.n_head, config.n_embd
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # Q, K, V at once
        self.c_proj = Linear(config.n_embd, config.n_embd, bias=config.bias)  # W_o
        self.dropout = config.dropout
        self.resid_dropout = Dropout(config.dropout)

    def forward(self, x, cache: KVCache | None = None, layer: int = 0):
        B, T, C = x.shape
        nh, d = self.n_head, C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 × (B, T, C)
        q = q.reshape(B, T, nh, d).transpose(1, 2)  # (B, nh, T, d)
        k = k.reshape(B, T, nh, d).transpose(1, 2)
        v = v.reshape(B, T, nh, d).transpose(1, 2)
        past = 0 if cache is None else cache.length_of(layer)
        if cache is not None:
            k, v = cache.extend(layer, k, v)  # (B, nh, past+T, d)
        mask = None
        if T > 1:  # query i sits at position past+i and may see keys 0..past+i
            positions = arange(past + T, device=x.device)
            mask = positions[None, :] <= positions[past:, None]  # (T, past+T), True = may attend
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, nh, T, d)
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(Module):
    """u ↦ W_2 GELU(W_1 u): C → 4C → C."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = GELU(approximate="tanh")  # GPT-2's GELU: x/2 · (1 + tanh(√(2/π)(x + 0.044715x³)))
        self.c_proj = Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(Module):
    """x + Attn(LN(x)), then + MLP(LN(·)): the pre-LayerNorm residual block."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache=None, layer=0):
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(Module):
    """The language model: embeddings, ``n_layer`` blocks, final LayerNorm, tied output layer."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = Embedding(config.vocab_size, config.n_embd)  # E: token embeddings
        self.wpe = Embedding(config.block_size, config.n_embd)  # P: position embeddings
        self.drop = Dropout(config.dropout)
        self.h = ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying: logits = h Eᵀ
        self.gradient_checkpointing = False  # True: keep only each block's input (minidl.utils.checkpoint)
        self._init_weights()

    def _init_weights(self):
        """N(0, 0.02) weights, zero biases; the projections into the residual stream scaled by
        1/√(2 n_layer) so that its variance does not grow with depth (as in GPT-2)."""
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                init.zeros_(p)
            elif p.ndim == 2:
                std = 0.02 / math.sqrt(2 * self.config.n_layer) if name.endswith("c_proj.weight") else 0.02
                init.normal_(p, 0.0, std)

    def num_parameters(self, non_embedding: bool = True) -> int:
        """Parameters, each tied one once; without the position embeddings by default (the N of
        scaling laws, which counts neither embedding: the token one is shared with the output)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.wpe.weight.numel() if non_embedding else n

    def flops_per_token(self, T: int | None = None) -> int:
        """Training FLOPs per token, forward + backward: 6N + 6·n_layer·T·C (the matmuls with the
        weights, 2 FLOPs per multiply-add and 3 passes, plus QKᵀ and the weighted sum of V)."""
        c, T = self.config, T or self.config.block_size
        return 6 * self.num_parameters() + 6 * c.n_layer * T * c.n_embd

    def forward(self, idx, targets=None, cache: KVCache | None = None):
        """Logits (B, T, vocab) for ids (B, T), and the mean cross-entropy against ``targets``
        (B, T) when given (ids of -1 are ignored), else None."""
        idx = idx if isinstance(idx, Tensor) else tensor(idx)
        if idx.ndim != 2:
            raise ValueError(f"GPT: expected token ids of shape (B, T), got {tuple(idx.shape)}")
        B, T = idx.shape
        past = 0 if cache is None else cache.length
        if past + T > self.config.block_size:
            raise ValueError(f"GPT: {past + T} positions, more than block_size {self.config.block_size}")
        pos = arange(past, past + T, device=idx.device)  # (T,)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, C)
        for layer, block in enumerate(self.h):
            if self.gradient_checkpointing and cache is None:
                x = checkpoint(block, x)  # recomputed in the backward pass instead of kept
            else:
                x = block(x, cache, layer)
        logits = self.lm_head(self.ln_f(x))  # (B, T, vocab)
        if targets is None:
            return logits, None
        targets = targets if isinstance(targets, Tensor) else tensor(targets)
        loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T), ignore_index=-1)
        return logits, loss

    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, use_cache: bool = True, seed: int | None = None):
        """Append ``max_new_tokens`` sampled tokens to ``idx`` (B, T) and return it (B, T + new).

        Each step samples from softmax(logits / temperature) of the last position, keeping only
        the ``top_k`` most likely tokens and/or the smallest set whose probability reaches
        ``top_p``; ``temperature=0`` takes the most likely token. Past ``block_size``, the
        context is the last ``block_size`` tokens (and the cache is rebuilt from them). The loop
        and the sampler are in ``minidl.nn.generation``."""
        return generate(self, idx, max_new_tokens, temperature, top_k, top_p, use_cache, seed)
