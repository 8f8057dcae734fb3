"""The decoder half of "Attention Is All You Need" and the whole encoder-decoder model, with
PyTorch's names, so that a ``torch.nn.Transformer``'s state_dict loads: ``TransformerDecoderLayer``,
``TransformerDecoder``, ``Transformer``. The encoder half is in ``attention.py``; the attention
equations in ``minidl.functional.attention``."""

from __future__ import annotations

import copy

from .. import backend
from .. import functional as F
from ..backend import Device
from ..dtypes import get_default_dtype
from ..tensor import Tensor
from . import init
from .attention import _ACTIVATIONS, MultiheadAttention, TransformerEncoder, TransformerEncoderLayer
from .containers import ModuleList
from .layers import Dropout, LayerNorm, Linear
from .module import Module


def _activation(activation, where):
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"{where}: activation should be 'relu' or 'gelu', not {activation!r}")
        return _ACTIVATIONS[activation]
    if not callable(activation):
        raise TypeError(f"{where}: activation must be 'relu', 'gelu' or a callable, got {activation!r}")
    return activation


class TransformerDecoderLayer(Module):
    """One decoder block: masked self-attention over the target, attention from the target to
    the encoder's output (``memory``), and the position-wise feed-forward network, each wrapped
    in a residual connection and a layer norm:

        post-norm (norm_first=False):
            x = norm1(x + SA(x));   x = norm2(x + MHA(x, memory));   x = norm3(x + FF(x))
        pre-norm (norm_first=True):
            x = x + SA(norm1(x));   x = x + MHA(norm2(x), memory);   x = x + FF(norm3(x))
        SA(x) = dropout1(self_attn(x, x, x)),   MHA(x, m) = dropout2(multihead_attn(x, m, m)),
        FF(x) = dropout3(linear2(dropout(act(linear1(x)))))

    tgt: (T, N, E) and memory: (S, N, E), or batch first (N, T, E), (N, S, E), or unbatched;
    the result has tgt's shape. Sub-modules carry PyTorch's names."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                 **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1, self.dropout2, self.dropout3 = Dropout(dropout), Dropout(dropout), Dropout(dropout)
        self.activation = _activation(activation, "TransformerDecoderLayer")

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=bool(is_causal))[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=bool(is_causal))[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        h = F.reshape(x, (-1, x.shape[-1]))  # (T·N, E): one matrix product for all positions
        h = self.linear2(self.dropout(self.activation(self.linear1(h))))  # (T·N, F) -> (T·N, E)
        return self.dropout3(F.reshape(h, x.shape))


class TransformerDecoder(Module):
    """``num_layers`` independent copies of ``decoder_layer`` (``layers.0``, ``layers.1``, ...),
    each attending to the same ``memory``, then ``norm`` if given."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        if not isinstance(decoder_layer, Module):
            raise TypeError(f"TransformerDecoder: decoder_layer must be a Module, got {type(decoder_layer).__name__}")
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """The encoder-decoder model of "Attention Is All You Need", as ``torch.nn.Transformer``:

        memory = encoder(src)          num_encoder_layers encoder blocks, then a LayerNorm
        out    = decoder(tgt, memory)  num_decoder_layers decoder blocks, then a LayerNorm

    src: (S, N, E), tgt: (T, N, E) (batch first: (N, S, E), (N, T, E); or unbatched (S, E),
    (T, E)) -> out with tgt's shape. Embeddings, positions and the output projection are the
    caller's, as in PyTorch. Every weight matrix is re-initialised Xavier-uniform."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        block = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                     layer_norm_eps=layer_norm_eps, batch_first=batch_first, norm_first=norm_first, bias=bias, **kw)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, **block)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, LayerNorm(d_model, eps=layer_norm_eps,
                                                                                   bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, **block)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, LayerNorm(d_model, eps=layer_norm_eps,
                                                                                   bias=bias, **kw))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        batched = src.ndim == 3
        if src.ndim != tgt.ndim:
            raise RuntimeError(f"Transformer: src and tgt must have the same number of dims, got shapes "
                               f"{tuple(src.shape)} and {tuple(tgt.shape)}")
        b = 0 if self.batch_first else 1
        if batched and src.shape[b] != tgt.shape[b]:
            raise RuntimeError(f"Transformer: the batch number of src and tgt must be equal, got shapes "
                               f"{tuple(src.shape)} and {tuple(tgt.shape)}")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal to d_model "
                               f"({self.d_model}), got shapes {tuple(src.shape)} and {tuple(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """The causal mask (sz, sz): 0 on and below the diagonal, −inf above it (position i may
        attend to positions ≤ i), in ``dtype`` (default float)."""
        device = backend.CPU if device is None else Device(device)
        xp = backend.array_module_for(device)
        mask = xp.triu(xp.full((sz, sz), float("-inf")), k=1).astype(get_default_dtype() if dtype is None else dtype)
        return Tensor._make(mask, False)
