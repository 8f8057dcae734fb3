"""Stacked, optionally bidirectional recurrences over a whole sequence (what ``nn.RNN``,
``nn.LSTM`` and ``nn.GRU`` call): each layer is one of ``recurrent.py``'s layer functions, fed the
previous layer's output.

    layer 0 reads x (T, B, I); layer l reads the output of layer l − 1 (T, B, D·H)
    direction 0 reads t = 0 … T−1, direction 1 (bidirectional) reads t = T−1 … 0;
    their outputs at t are concatenated: (T, B, H) | (T, B, H) -> (T, B, 2H)
    dropout (training only) on the output of every layer but the last

notebooks/03_recurrent.ipynb, sections 2 and 5.
"""

from __future__ import annotations

from .. import backend
from ..tensor import Tensor
from .activation import dropout as dropout_fn
from .recurrent import check_nonlinearity, gru_layer, lstm_layer, rnn_layer
from .shape import cat, stack, transpose


def _check_stack(op, n_states, input, hx, params, has_biases, num_layers, dropout, bidirectional, batch_first):
    """Check the arguments of a stacked recurrence; return (B, H)."""
    D = 2 if bidirectional else 1
    per = 4 if has_biases else 2
    if len(params) != num_layers * D * per:
        raise ValueError(
            f"{op}: expected {num_layers * D * per} weights for num_layers={num_layers}, "
            f"bidirectional={bidirectional}, bias={has_biases}, got {len(params)}"
        )
    if input.ndim != 3:
        raise ValueError(f"{op}: input must be 3-D, got shape {input.shape}")
    if not 0 <= dropout <= 1:
        raise ValueError(f"{op}: dropout must be in [0, 1], got {dropout}")
    B, H = input.shape[0 if batch_first else 1], params[1].shape[1]
    expected = (num_layers * D, B, H)
    for k, s in enumerate(hx or ()):
        if tuple(s.shape) != expected:
            which = f"hx[{k}]" if n_states > 1 else "hx"
            raise ValueError(f"{op}: expected {which} of shape {expected}, got {tuple(s.shape)}")
    return B, H


def _run_layers(op, layer, n_states, input, hx, params, has_biases, num_layers, dropout, training,
                bidirectional, batch_first):
    """Run ``layer(x, states, w_ih, w_hh, b_ih, b_hh, reverse) -> (output, states)`` over
    ``num_layers`` × directions. ``hx``: None or a tuple of ``n_states`` tensors, each
    (num_layers · D, B, H), row k = layer · D + direction. Returns (output, final states, each
    (num_layers · D, B, H))."""
    B, H = _check_stack(op, n_states, input, hx, params, has_biases, num_layers, dropout, bidirectional, batch_first)
    D, per = (2 if bidirectional else 1), (4 if has_biases else 2)
    x = transpose(input, 0, 1) if batch_first else input  # (B, T, I) -> (T, B, I)
    xp = backend.get_array_module(x.array)
    finals = [[] for _ in range(n_states)]
    for layer_index in range(num_layers):
        outs = []
        for d in range(D):
            k = layer_index * D + d
            w_ih, w_hh, b_ih, b_hh = (list(params[k * per : (k + 1) * per]) + [None, None])[:4]
            if hx is None:
                init = tuple(Tensor._make(xp.zeros((B, H), dtype=x.dtype), False) for _ in range(n_states))
            else:
                init = tuple(s[k] for s in hx)  # (B, H) each
            out, last = layer(x, init, w_ih, w_hh, b_ih, b_hh, d == 1)
            outs.append(out)
            for j in range(n_states):
                finals[j].append(last[j])
        x = cat(outs, dim=2) if D == 2 else outs[0]  # (T, B, D·H)
        if training and dropout > 0 and layer_index < num_layers - 1:
            x = dropout_fn(x, dropout, training=True)
    output = transpose(x, 0, 1) if batch_first else x
    return output, tuple(stack(f, dim=0) for f in finals)  # (L·D, B, H) each


def lstm(input, hx, params, has_biases=True, num_layers=1, dropout=0.0, training=True, bidirectional=False,
         batch_first=False):
    """A stacked (and optionally bidirectional) LSTM over a whole sequence, as ``nn.LSTM``.

    input: (T, B, I), or (B, T, I) with ``batch_first``.
    hx: None (zeros) or (h0, c0), each (num_layers · D, B, H), D = 2 if bidirectional else 1;
        row k = layer · D + direction.
    params: flat list in PyTorch's order — for each layer, for each direction:
        w_ih (4H, I_layer), w_hh (4H, H), then b_ih, b_hh (4H,) if ``has_biases``;
        I_layer = I for layer 0, D·H above.
    dropout: probability of zeroing the outputs of each layer but the last, only when ``training``.
    Returns (output (T, B, D·H) (or (B, T, D·H)), (h_n, c_n) each (num_layers · D, B, H)).
    Each layer and direction is ``lstm_layer`` (the cell looped over time)."""

    def layer(x, init, w_ih, w_hh, b_ih, b_hh, reverse):
        h0, c0 = init
        return lstm_layer(x, (h0, c0), w_ih, w_hh, b_ih, b_hh, reverse=reverse)

    if hx is not None:
        hx = tuple(hx)
        if len(hx) != 2:
            raise ValueError(f"lstm: hx must be a pair (h0, c0), got {len(hx)} tensors")
    output, (h_n, c_n) = _run_layers("lstm", layer, 2, input, hx, params, has_biases, num_layers, dropout,
                                     training, bidirectional, batch_first)
    return output, (h_n, c_n)


def gru(input, hx, params, has_biases=True, num_layers=1, dropout=0.0, training=True, bidirectional=False,
        batch_first=False):
    """A stacked (optionally bidirectional) GRU, as ``nn.GRU``. Arguments as for ``lstm`` with
    3H-row weights and ``hx`` a single tensor (num_layers · D, B, H) or None.
    Returns (output, h_n); each layer and direction is ``gru_layer``."""

    def layer(x, init, w_ih, w_hh, b_ih, b_hh, reverse):
        out, h = gru_layer(x, init[0], w_ih, w_hh, b_ih, b_hh, reverse=reverse)
        return out, (h,)

    output, (h_n,) = _run_layers("gru", layer, 1, input, None if hx is None else (hx,), params, has_biases,
                                 num_layers, dropout, training, bidirectional, batch_first)
    return output, h_n


def _rnn(op, nonlinearity, input, hx, params, has_biases, num_layers, dropout, training, bidirectional,
         batch_first):
    check_nonlinearity(op, nonlinearity)

    def layer(x, init, w_ih, w_hh, b_ih, b_hh, reverse):
        out, h = rnn_layer(x, init[0], w_ih, w_hh, b_ih, b_hh, nonlinearity, reverse=reverse)
        return out, (h,)

    output, (h_n,) = _run_layers(op, layer, 1, input, None if hx is None else (hx,), params, has_biases,
                                 num_layers, dropout, training, bidirectional, batch_first)
    return output, h_n


def rnn_tanh(input, hx, params, has_biases=True, num_layers=1, dropout=0.0, training=True, bidirectional=False,
             batch_first=False):
    """A stacked (optionally bidirectional) Elman RNN with tanh, as ``nn.RNN``. Arguments as for
    ``lstm`` with H-row weights and ``hx`` one tensor (num_layers · D, B, H) or None.
    Returns (output, h_n); each layer and direction is ``rnn_layer``."""
    return _rnn("rnn_tanh", "tanh", input, hx, params, has_biases, num_layers, dropout, training, bidirectional,
                batch_first)


def rnn_relu(input, hx, params, has_biases=True, num_layers=1, dropout=0.0, training=True, bidirectional=False,
             batch_first=False):
    """As ``rnn_tanh`` with h_t = relu(·)."""
    return _rnn("rnn_relu", "relu", input, hx, params, has_biases, num_layers, dropout, training, bidirectional,
                batch_first)


__all__ = ["gru", "lstm", "rnn_relu", "rnn_tanh"]
