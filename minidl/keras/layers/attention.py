"""MultiHeadAttention (Keras's weights) and the Transformer encoder block of the seed example.

MultiHeadAttention, with B batch, T query steps, S key steps, D features, N heads, K = key_dim,
V = value_dim:

    q = query · W_q + b_q      W_q (D, N, K), b_q (N, K)    -> (B, T, N, K) -> heads (B, N, T, K)
    k = key   · W_k + b_k      W_k (D, N, K), b_k (N, K)    -> (B, N, S, K)
    v = value · W_v + b_v      W_v (D, N, V), b_v (N, V)    -> (B, N, S, V)
    o = softmax(q kᵀ / √K + mask) v                          (B, N, T, V)   (scaled_dot_product_attention)
    y = o · W_o + b_o          W_o (N, V, D_out), b_o (D_out,) -> (B, T, D_out)

The four projections are sub-layers named query, key, value and attention_output, each with a
kernel and a bias in those shapes, as Keras's EinsumDense layers. Masks: ``attention_mask``
(B, T, S) with True where a query may attend, ``use_causal_mask``, and the padding mask of an
``Embedding(mask_zero=True)`` (padded keys are ignored). A query row with no key to attend to
gets output zero (Keras would spread it uniformly over the masked keys).
"""

from __future__ import annotations

import math

from ... import backend
from ... import functional as F
from ...nn.attention import PositionalEncoding
from ...tensor import Tensor
from .. import activations, initializers
from .base import Layer
from .core import Dense, Dropout, dense_matmul
from .normalization import LayerNormalization
from .symbolic import as_input_tensor


class _HeadProjection(Layer):
    """(B, T, D) -> (B, T, N, K): x · kernel + bias with kernel (D, N, K), bias (N, K)."""

    def __init__(self, heads, dim, kernel_initializer="glorot_uniform", bias_initializer="zeros", use_bias=True,
                 **kwargs):
        super().__init__(**kwargs)
        self.heads, self.dim, self.use_bias = heads, dim, use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        d = input_shape[-1]
        self.add_weight("kernel", (d, self.heads, self.dim), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.heads, self.dim), self.bias_initializer)

    def call(self, x):
        d = x.shape[-1]
        y = dense_matmul(x, F.reshape(self.kernel, (d, self.heads * self.dim)))  # (B, T, D) @ (D, N·K) -> (B, T, N·K)
        y = F.reshape(y, tuple(x.shape[:-1]) + (self.heads, self.dim))  # (B, T, N, K)
        return y + self.bias if self.use_bias else y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.heads, self.dim)


class _HeadMerge(Layer):
    """(B, T, N, V) -> (B, T, D_out): sum over heads and V of o · kernel, kernel (N, V, D_out)."""

    def __init__(self, out_dim, kernel_initializer="glorot_uniform", bias_initializer="zeros", use_bias=True,
                 **kwargs):
        super().__init__(**kwargs)
        self.out_dim, self.use_bias = out_dim, use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        heads, dim = input_shape[-2], input_shape[-1]
        self.add_weight("kernel", (heads, dim, self.out_dim), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.out_dim,), self.bias_initializer)

    def call(self, x):
        heads, dim = x.shape[-2], x.shape[-1]
        flat = F.reshape(x, tuple(x.shape[:-2]) + (heads * dim,))  # (B, T, N·V)
        y = dense_matmul(flat, F.reshape(self.kernel, (heads * dim, self.out_dim)))  # (B, T, N·V) @ (N·V, D_out)
        return y + self.bias if self.use_bias else y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-2]) + (self.out_dim,)


def _as_bool(mask):
    return Tensor._make(mask.array.astype(bool), False)


class MultiHeadAttention(Layer):
    """Multi-head attention as ``keras.layers.MultiHeadAttention`` (see the module docstring).

    ``mha(query, value, key=None, attention_mask=None, return_attention_scores=False,
    use_causal_mask=False)``; key defaults to value. Called with one tensor (e.g. inside a
    ``Sequential``) it is self-attention. Dropout (``dropout``) acts on the attention weights."""

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_heads, int) or num_heads < 1 or not isinstance(key_dim, int) or key_dim < 1:
            raise ValueError(f"MultiHeadAttention: num_heads and key_dim must be positive integers, got "
                             f"{num_heads!r}, {key_dim!r}")
        self.num_heads, self.key_dim = num_heads, key_dim
        self.value_dim = value_dim if value_dim is not None else key_dim
        self.dropout, self.use_bias = float(dropout), use_bias
        self.output_shape_arg = output_shape
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.supports_masking = True

    def __call__(self, query, value=None, key=None, **kwargs):
        if not self.built:  # build sees only the query's shape; note the value's and key's here
            self._other_shapes = tuple(None if t is None else tuple(t.shape) for t in (value, key))
        args = (query,) + ((value,) if value is not None else ()) + ((key,) if key is not None else ())
        if value is None and key is not None:
            kwargs["key"] = key
            args = (query,)
        return super().__call__(*args, **kwargs)

    def build(self, input_shape):
        query_shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        value_shape, key_shape = getattr(self, "_other_shapes", (None, None))
        value_shape = value_shape or query_shape
        key_shape = key_shape or value_shape
        d = query_shape[-1]
        if d is None or value_shape[-1] is None or key_shape[-1] is None:
            raise ValueError(f'MultiHeadAttention "{self.name}": the feature axes must be known, got {query_shape}')
        out_dim = self.output_shape_arg if self.output_shape_arg is not None else d
        common = dict(kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
                      use_bias=self.use_bias)
        heads = self.num_heads
        self._track(_HeadProjection(heads, self.key_dim, name="query", **common), "_query")
        self._track(_HeadProjection(heads, self.key_dim, name="key", **common), "_key")
        self._track(_HeadProjection(heads, self.value_dim, name="value", **common), "_value")
        self._track(_HeadMerge(out_dim, name="attention_output", **common), "_output")
        self._query._build_from((None, None, d))
        self._key._build_from((None, None, key_shape[-1]))
        self._value._build_from((None, None, value_shape[-1]))
        self._output._build_from((None, None, heads, self.value_dim))
        self._out_dim = out_dim

    def call(self, query, value=None, key=None, attention_mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False, mask=None, query_mask=None, value_mask=None, key_mask=None):

        value = query if value is None else as_input_tensor(value, self._device, self._dtype)
        key = value if key is None else as_input_tensor(key, self._device, self._dtype)
        q = F.permute(self._query(query), (0, 2, 1, 3))  # (B, T, N, K) -> (B, N, T, K)
        k = F.permute(self._key(key), (0, 2, 1, 3))  # (B, N, S, K)
        v = F.permute(self._value(value), (0, 2, 1, 3))  # (B, N, S, V)
        allowed = self._combined_mask(query, key, attention_mask, use_causal_mask, mask, query_mask,
                                      value_mask if key_mask is None else key_mask)
        p = self.dropout if training else 0.0
        if return_attention_scores:
            scores = F.attention_weights(q, k, attn_mask=allowed)  # (B, N, T, S)
            weights = F.dropout(scores, p, True) if p > 0 else scores
            o = F.matmul(weights, v)  # (B, N, T, S) @ (B, N, S, V) -> (B, N, T, V)
        else:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)  # (B, N, T, V)
        out = self._output(F.permute(o, (0, 2, 1, 3)))  # (B, T, N, V) -> (B, T, D_out)
        return (out, scores) if return_attention_scores else out

    def _combined_mask(self, query, key, attention_mask, causal, mask, query_mask, key_mask):
        """One bool mask (B, 1, T, S), True = attend, from all the masks given (or None)."""
        xp = backend.get_array_module(query.array)
        T, S = query.shape[1], key.shape[1]
        allowed = None

        def both(a, b):
            return b if a is None else a & b

        if mask is not None and query_mask is None:
            query_mask = mask
        if mask is not None and key_mask is None and key is query:
            key_mask = mask
        if query_mask is not None:
            allowed = both(allowed, query_mask.array.astype(bool)[:, :, None])  # (B, T, 1)
        if key_mask is not None:
            allowed = both(allowed, key_mask.array.astype(bool)[:, None, :])  # (B, 1, S)
        if attention_mask is not None:
            am = attention_mask.array if isinstance(attention_mask, Tensor) else attention_mask
            am = backend.to_device(xp.asarray(am) if xp is not None else am, query.device).astype(bool)
            allowed = both(allowed, am if am.ndim == 3 else am.reshape((-1, T, S)))
        if causal:
            allowed = both(allowed, xp.tril(xp.ones((T, S), dtype=bool))[None])
        if allowed is None:
            return None
        allowed = xp.broadcast_to(allowed, (query.shape[0], T, S))[:, None]  # (B, 1, T, S)
        return Tensor._make(xp.ascontiguousarray(allowed), False)

    def compute_output_shape(self, input_shape):
        query_shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        out = self.output_shape_arg if self.output_shape_arg is not None else query_shape[-1]
        return tuple(query_shape[:-1]) + (out,)

    def _symbolic_compute_output_shape(self, shape, args, kwargs):
        out = self.compute_output_shape(shape)
        if kwargs.get("return_attention_scores"):
            value = args[1] if len(args) > 1 else kwargs.get("value", args[0])
            return [out, (out[0], self.num_heads, shape[1], value.shape[1])]
        return out

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": self.output_shape_arg,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }


class Transformer(Layer):
    """A Transformer encoder block on (batch, time, width) sequences, for the seed example
    ``Transformer(num_heads=8, feed_forward_dim=512, rate=0.1)``:

        x = x · √width + PE                          sinusoidal positions (Vaswani et al.)
        x = LayerNorm(x + Dropout(MHA(x, x)))        self-attention, key_dim = ⌈width / num_heads⌉
        x = LayerNorm(x + Dropout(W₂ relu(W₁ x)))    feed-forward of feed_forward_dim units
        y = mean over time of x                      or x itself with ``return_sequences=True``

    (post-norm, as the Keras Transformer-block example; LayerNormalization epsilon 1e-6). The
    inputs are scaled by √width before the positions are added, as in "Attention Is All You
    Need": Keras's Embedding starts in U(−0.05, 0.05), and unscaled the position code (values
    in [−1, 1]) would drown the tokens, so that training first has to grow the embeddings (on
    the sentiment sentences this took 5 epochs instead of 2). ``scale_inputs=False`` and
    ``positional_encoding=False`` turn either part off. A width that num_heads does not divide
    gets key_dim = ⌈width / num_heads⌉ (the output projection maps the heads back to the width).
    Positions padded by ``Embedding(mask_zero=True)`` are ignored as keys and in the mean. For
    width 64, 8 heads and 512 units it has 83,008 parameters: attention 4·(64·64 + 64) = 16,640,
    feed-forward 64·512 + 512 + 512·64 + 64 = 66,112, two layer norms 2·128."""

    def __init__(self, num_heads, feed_forward_dim, rate=0.1, return_sequences=False, activation="relu",
                 epsilon=1e-6, positional_encoding=True, scale_inputs=True, max_len=10000, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_heads, int) or num_heads < 1:
            raise ValueError(f"Transformer: num_heads must be a positive integer, got {num_heads!r}")
        if not isinstance(feed_forward_dim, int) or feed_forward_dim < 1:
            raise ValueError(f"Transformer: feed_forward_dim must be a positive integer, got {feed_forward_dim!r}")
        self.num_heads, self.feed_forward_dim, self.rate = num_heads, feed_forward_dim, float(rate)
        self.return_sequences = bool(return_sequences)
        self.activation = activations.get(activation)
        self.epsilon, self.positional_encoding, self.max_len = float(epsilon), bool(positional_encoding), max_len
        self.scale_inputs = bool(scale_inputs)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f'Transformer "{self.name}": expected inputs (batch, time, width) with a known width, got {input_shape}'
            )
        width = input_shape[-1]
        length = input_shape[1] if input_shape[1] is not None else self.max_len
        self.pos = PositionalEncoding(width, max_len=max(length, 1), batch_first=True)
        if self._device is not None:
            self.pos.to(self._device)
        heads = self.num_heads
        key_dim = -(-width // heads)  # ⌈width / heads⌉
        self._track(MultiHeadAttention(heads, key_dim, name="multi_head_attention"), "attention")
        self._track(Dropout(self.rate, name="dropout_1"), "dropout1")
        self._track(LayerNormalization(epsilon=self.epsilon, name="layer_normalization_1"), "norm1")
        self._track(Dense(self.feed_forward_dim, activation=self.activation, name="dense_1"), "ffn1")
        self._track(Dense(width, name="dense_2"), "ffn2")
        self._track(Dropout(self.rate, name="dropout_2"), "dropout2")
        self._track(LayerNormalization(epsilon=self.epsilon, name="layer_normalization_2"), "norm2")
        seq = tuple(input_shape[:-1])
        for sub in (self.attention, self.dropout1, self.norm1, self.ffn1, self.dropout2, self.norm2):
            sub._build_from(seq + (width,))
        self.ffn2._build_from(seq + (self.feed_forward_dim,))

    def call(self, inputs, training=None, mask=None):
        x = inputs * math.sqrt(inputs.shape[-1]) if self.scale_inputs else inputs  # (B, T, D)
        if self.positional_encoding:
            x = self.pos(x)  # + PE[:T]
        a = self.attention(x, x, training=training, mask=mask)  # (B, T, D)
        x = self.norm1(x + self.dropout1(a, training=training))
        f = self.ffn2(self.ffn1(x))  # (B, T, D) -> (B, T, F) -> (B, T, D)
        x = self.norm2(x + self.dropout2(f, training=training))
        if self.return_sequences:
            return x
        if mask is None:
            return F.mean(x, 1)  # (B, D)
        m = mask.array.astype(x.dtype)[:, :, None]  # (B, T, 1)
        count = backend.get_array_module(m).maximum(m.sum(axis=1), 1.0)  # (B, 1)
        return F.sum(x * Tensor._make(m, False), 1) / Tensor._make(count, False)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) if self.return_sequences else (input_shape[0], input_shape[-1])

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "feed_forward_dim": self.feed_forward_dim,
            "rate": self.rate,
            "return_sequences": self.return_sequences,
            "activation": activations.serialize(self.activation),
            "epsilon": self.epsilon,
            "positional_encoding": self.positional_encoding,
            "scale_inputs": self.scale_inputs,
            "max_len": self.max_len,
        }

