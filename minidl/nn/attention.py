"""Attention layers with PyTorch's names, parameter names, shapes and initialisation, so that a
PyTorch model's ``state_dict`` loads into them: ``MultiheadAttention``, ``TransformerEncoderLayer``,
``TransformerEncoder``, and the sinusoidal ``PositionalEncoding`` of "Attention Is All You Need".
The equations live in ``minidl.functional.attention``."""

from __future__ import annotations

import copy
import math

from .. import backend
from .. import functional as F
from ..backend import Device
from ..creation import empty
from ..tensor import Tensor
from . import init
from .containers import ModuleList
from .layers import Dropout, LayerNorm, Linear
from .module import Module, Parameter


def _float_dtype(dtype):
    from ..dtypes import get_default_dtype

    return get_default_dtype() if dtype is None else dtype


class MultiheadAttention(Module):
    """out = concat(head_1, ..., head_H) W_oᵀ + b_o,
    head_h = softmax((X_q W_qhᵀ + b_qh)(X_k W_khᵀ + b_kh)ᵀ / √D + mask) (X_v W_vhᵀ + b_vh),  D = E/H

    Parameters (PyTorch's names): ``in_proj_weight`` (3E, E) = [W_q; W_k; W_v] when
    kdim = vdim = E, otherwise ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim),
    ``v_proj_weight`` (E, vdim); ``in_proj_bias`` (3E,); ``out_proj`` a Linear(E, E).
    Initialisation as in PyTorch: Xavier-uniform projections, zero biases.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (output, weights or None); shapes and masks as
    in ``minidl.functional.multi_head_attention_forward``. ``add_bias_kv`` and ``add_zero_attn``
    are not implemented."""

    def __init__(
        self,
        embed_dim,
        num_heads,
        dropout=0.0,
        bias=True,
        add_bias_kv=False,
        add_zero_attn=False,
        kdim=None,
        vdim=None,
        batch_first=False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not supported")
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim {embed_dim} must be a positive multiple of num_heads {num_heads}"
            )
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self.head_dim = embed_dim // num_heads
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        dtype = _float_dtype(dtype)

        def param(*shape):
            return Parameter(empty(*shape, dtype=dtype, device=device))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = param(3 * embed_dim, embed_dim)  # [W_q; W_k; W_v]
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = param(embed_dim, embed_dim)
            self.k_proj_weight = param(embed_dim, self.kdim)
            self.v_proj_weight = param(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = param(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = False
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def forward(
        self,
        query,
        key,
        value,
        key_padding_mask=None,
        need_weights=True,
        attn_mask=None,
        average_attn_weights=True,
        is_causal=False,
    ):
        return F.multi_head_attention_forward(
            query,
            key,
            value,
            self.embed_dim,
            self.num_heads,
            self.in_proj_weight,
            self.in_proj_bias,
            None,
            None,
            False,
            self.dropout,
            self.out_proj.weight,
            self.out_proj.bias,
            training=self.training,
            key_padding_mask=key_padding_mask,
            need_weights=need_weights,
            attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights,
            is_causal=is_causal,
            batch_first=self.batch_first,
        )

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"


_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class TransformerEncoderLayer(Module):
    """One encoder block of "Attention Is All You Need": self-attention, then a position-wise
    feed-forward network, each wrapped in a residual connection and a layer norm:

        post-norm (norm_first=False):   x = norm1(x + SA(x));   x = norm2(x + FF(x))
        pre-norm  (norm_first=True):    x = x + SA(norm1(x));   x = x + FF(norm2(x))
        SA(x) = dropout1(self_attn(x, x, x)),   FF(x) = dropout2(linear2(dropout(act(linear1(x)))))

    Sub-modules carry PyTorch's names (self_attn, linear1, dropout, linear2, norm1, norm2,
    dropout1, dropout2), so a ``torch.nn.TransformerEncoderLayer``'s state_dict loads.
    src: (L, N, E), or (N, L, E) with ``batch_first``, or unbatched (L, E)."""

    def __init__(
        self,
        d_model,
        nhead,
        dim_feedforward=2048,
        dropout=0.1,
        activation="relu",
        layer_norm_eps=1e-5,
        batch_first=False,
        norm_first=False,
        bias=True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(f"TransformerEncoderLayer: activation should be 'relu' or 'gelu', not {activation!r}")
            activation = _ACTIVATIONS[activation]
        elif not callable(activation):
            raise TypeError(
                f"TransformerEncoderLayer: activation must be 'relu', 'gelu' or a callable, got {activation!r}"
            )
        self.activation = activation  # a Module (e.g. nn.GELU()) is registered as a sub-module

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(
            x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False, is_causal=is_causal
        )[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        h = F.reshape(x, (-1, x.shape[-1]))  # (L·N, E): one matrix product for all positions
        h = self.linear2(self.dropout(self.activation(self.linear1(h))))  # (L·N, F) -> (L·N, E)
        return self.dropout2(F.reshape(h, x.shape))


class TransformerEncoder(Module):
    """``num_layers`` independent copies of ``encoder_layer`` applied in turn (``layers.0``,
    ``layers.1``, ... as in PyTorch), then ``norm`` if given."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: encoder_layer must be a Module, got {type(encoder_layer).__name__}")
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)


class PositionalEncoding(Module):
    """Adds the sinusoidal position code of "Attention Is All You Need", then dropout:

        PE[pos, 2i] = sin(pos / 10000^(2i/d)),    PE[pos, 2i+1] = cos(pos / 10000^(2i/d))

    Each pair of dims is a rotation at its own frequency, so PE[pos + k] is a linear function of
    PE[pos]. ``pe`` (max_len, d_model) is a non-persistent buffer: it moves with ``.to()`` but
    is not in the state_dict (it is rebuilt from the formula, so checkpoints stay small and a
    model with a different ``max_len`` still loads them).
    x: (L, N, d_model), or (N, L, d_model) with ``batch_first``, or unbatched (L, d_model)."""

    def __init__(self, d_model, max_len=5000, dropout=0.0, batch_first=False, device=None, dtype=None):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        xp = backend.array_module_for(Device(device) if device is not None else backend.CPU)
        pos = xp.arange(max_len, dtype=xp.float64)[:, None]  # (max_len, 1)
        freq = xp.exp(xp.arange(0, d_model, 2, dtype=xp.float64) * (-math.log(10000.0) / d_model))  # (⌈d/2⌉,)
        pe = xp.zeros((max_len, d_model))
        pe[:, 0::2] = xp.sin(pos * freq)
        pe[:, 1::2] = xp.cos(pos * freq[: d_model // 2])
        self.register_buffer("pe", Tensor._make(pe.astype(_float_dtype(dtype)), False), persistent=False)
        self.dropout = Dropout(dropout)

    def forward(self, x):
        if x.ndim not in (2, 3) or x.shape[-1] != self.d_model:
            raise ValueError(
                f"PositionalEncoding: expected input (..., length, {self.d_model}) with 2 or 3 dims, "
                f"got shape {tuple(x.shape)}"
            )
        t = 1 if (self.batch_first and x.ndim == 3) else 0
        L = x.shape[t]
        if L > self.max_len:
            raise ValueError(f"PositionalEncoding: sequence length {L} is longer than max_len {self.max_len}")
        pe = self.pe[:L]  # (L, d_model)
        if x.ndim == 3:
            pe = F.unsqueeze(pe, 1 - t)  # (1, L, d_model) or (L, 1, d_model)
        return self.dropout(x + pe.to(x.dtype))

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"
