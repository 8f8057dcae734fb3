"""The GPT of ``minidl.nn.gpt`` written with Keras layers, trainable with ``compile``/``fit``.

    model = keras.models.gpt(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, batch_size=32)      # x, y: (N, T) token ids, y = x shifted by one
    logits = model.predict(x[:1])                  # (1, T, vocab_size)

The equations are those of ``minidl.nn.GPT`` (notebooks/06_language_model.ipynb):

    x_0 = E[t] + P[0..T-1]                                  Embedding + Embedding, (B, T, C)
    h   = x + MHA(LN(x), use_causal_mask=True)               keras.layers.MultiHeadAttention
    x'  = h + Dense_C(gelu_tanh(Dense_4C(LN(h))))                 keras.layers.Dense
    logits = LN(x_L) Eᵀ                                      weight tying: the output layer is E

with ``LayerNormalization(epsilon=1e-5)`` as in ``minidl.nn.LayerNorm``. ``from_nn_gpt`` /
``load_nn_gpt`` copy the weights of a ``minidl.nn.GPT`` into this model (Linear weights (out, in)
become Dense kernels (in, out); the fused Q, K, V projection is cut into the three (C, heads, d)
kernels of MultiHeadAttention), so the two compute the same logits.
"""

from __future__ import annotations

import numpy

from .. import functional as F
from ..creation import arange
from . import activations, initializers
from .layers.attention import MultiHeadAttention
from .layers.base import Layer
from .layers.core import Dense, Dropout, Embedding
from .layers.normalization import LayerNormalization
from .training import Model

_NORMAL = {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.02}}


class GPTBlock(Layer):
    """x + MHA(LN(x)) with the causal mask, then + MLP(LN(·)): the pre-LayerNorm decoder block."""

    def __init__(self, n_head, n_embd, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if n_embd % n_head:
            raise ValueError(f"GPTBlock: n_embd ({n_embd}) must be a multiple of n_head ({n_head})")
        self.n_head, self.n_embd, self.dropout_rate = n_head, n_embd, float(dropout)
        init = initializers.get(_NORMAL)
        self.ln_1 = LayerNormalization(epsilon=1e-5, name="ln_1")
        self.attn = MultiHeadAttention(n_head, n_embd // n_head, dropout=dropout, kernel_initializer=init,
                                       name="attn")
        self.ln_2 = LayerNormalization(epsilon=1e-5, name="ln_2")
        self.fc = Dense(4 * n_embd, kernel_initializer=init, name="fc")  # GELU's tanh form in call, as GPT-2
        self.proj = Dense(n_embd, kernel_initializer=init, name="proj")
        self.drop = Dropout(dropout, name="drop")

    def call(self, x, training=None):
        u = self.ln_1(x)
        x = x + self.drop(self.attn(u, u, use_causal_mask=True, training=training), training=training)
        hidden = activations.gelu(self.fc(self.ln_2(x)), approximate=True)
        return x + self.drop(self.proj(hidden), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "n_head": self.n_head, "n_embd": self.n_embd, "dropout": self.dropout_rate}


class GPT(Model):
    """A decoder-only Transformer as a subclassed ``keras.Model``: token ids (B, T) -> logits
    (B, T, vocab_size), T ≤ ``block_size``."""

    def __init__(self, vocab_size, block_size, n_layer=4, n_head=4, n_embd=128, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("vocab_size", vocab_size), ("block_size", block_size), ("n_layer", n_layer),
                            ("n_head", n_head), ("n_embd", n_embd)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"keras GPT: {name} must be a positive integer, got {value!r}")
        self.vocab_size, self.block_size, self.n_layer = vocab_size, block_size, n_layer
        self.n_head, self.n_embd, self.dropout_rate = n_head, n_embd, float(dropout)
        init = initializers.get(_NORMAL)
        self.wte = Embedding(vocab_size, n_embd, embeddings_initializer=init, name="wte")
        self.wpe = Embedding(block_size, n_embd, embeddings_initializer=init, name="wpe")
        self.drop = Dropout(dropout, name="drop")
        self.blocks = [GPTBlock(n_head, n_embd, dropout, name=f"h_{i}") for i in range(n_layer)]
        for block in self.blocks:
            self.add_module(block.name, block)
        self.ln_f = LayerNormalization(epsilon=1e-5, name="ln_f")

    def call(self, idx, training=None):
        if idx.ndim != 2:
            raise ValueError(f"keras GPT: expected token ids of shape (B, T), got {tuple(idx.shape)}")
        T = idx.shape[1]
        if T > self.block_size:
            raise ValueError(f"keras GPT: {T} positions, more than block_size {self.block_size}")
        pos = arange(T, device=idx.device)[None, :]  # (1, T)
        x = self.drop(self.wte(idx) + self.wpe(pos), training=training)  # (B, T, C)
        for block in self.blocks:
            x = block(x, training=training)
        x = self.ln_f(x)
        return F.matmul(x, F.transpose(self.wte.embeddings, 0, 1))  # (B, T, C) @ (C, V): the tied output layer

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.vocab_size,)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "block_size": self.block_size,
                "n_layer": self.n_layer, "n_head": self.n_head, "n_embd": self.n_embd, "dropout": self.dropout_rate}

    def load_nn_gpt(self, nn_model):
        """Copy the weights of a ``minidl.nn.GPT`` of the same sizes into this model."""
        c = nn_model.config
        mine = (self.vocab_size, self.block_size, self.n_layer, self.n_head, self.n_embd)
        theirs = (c.vocab_size, c.block_size, c.n_layer, c.n_head, c.n_embd)
        if mine != theirs or not c.bias:
            raise ValueError(f"keras GPT.load_nn_gpt: sizes (vocab, block, layers, heads, width) {mine} differ from "
                             f"the nn GPT's {theirs} (or it has no biases: bias={c.bias})")
        if not self.built:
            self.build((None, None))
        sd = {k: numpy.asarray(v.numpy(), dtype=numpy.float32) for k, v in nn_model.state_dict().items()}
        self.wte.set_weights([sd["wte.weight"]])
        self.wpe.set_weights([sd["wpe.weight"]])
        for i, block in enumerate(self.blocks):
            _load_block(block, {k[len(f"h.{i}."):]: v for k, v in sd.items() if k.startswith(f"h.{i}.")})
        self.ln_f.set_weights([sd["ln_f.weight"], sd["ln_f.bias"]])
        return self


def _load_block(block, sd):
    """One nn Block's weights (names relative to the block) into a ``GPTBlock``."""
    C, nh = block.n_embd, block.n_head
    d = C // nh
    w_qkv, b_qkv = sd["attn.c_attn.weight"], sd["attn.c_attn.bias"]  # (3C, C), (3C,): rows q, then k, then v
    attn = block.attn
    for j, sub in enumerate((attn._query, attn._key, attn._value)):
        kernel = w_qkv[j * C:(j + 1) * C].T.reshape(C, nh, d)  # (C_in, C_out) -> (C, heads, d): head h is cols h·d..
        sub.set_weights([kernel, b_qkv[j * C:(j + 1) * C].reshape(nh, d)])
    attn._output.set_weights([sd["attn.c_proj.weight"].T.reshape(nh, d, C), sd["attn.c_proj.bias"]])
    block.ln_1.set_weights([sd["ln_1.weight"], sd["ln_1.bias"]])
    block.ln_2.set_weights([sd["ln_2.weight"], sd["ln_2.bias"]])
    block.fc.set_weights([sd["mlp.c_fc.weight"].T, sd["mlp.c_fc.bias"]])
    block.proj.set_weights([sd["mlp.c_proj.weight"].T, sd["mlp.c_proj.bias"]])


def gpt(vocab_size, block_size, n_layer=4, n_head=4, n_embd=128, dropout=0.0, name="gpt"):
    """A Keras GPT (see ``GPT``), built for inputs (None, None): any length up to block_size."""
    model = GPT(vocab_size, block_size, n_layer, n_head, n_embd, dropout, name=name)
    model.build((None, None))  # any length up to block_size
    return model


def from_nn_gpt(nn_model, name="gpt"):
    """A Keras GPT with the sizes and weights of a ``minidl.nn.GPT``."""
    c = nn_model.config
    return gpt(c.vocab_size, c.block_size, c.n_layer, c.n_head, c.n_embd, c.dropout, name=name).load_nn_gpt(nn_model)


__all__ = ["GPT", "GPTBlock", "from_nn_gpt", "gpt"]
