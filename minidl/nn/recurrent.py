"""Recurrent layers with PyTorch's constructor arguments, parameter names, shapes and
initialisation:  h_t = f(W [h_{t−1}, x_t] + b)  (the equations live in
``minidl.functional.recurrent``).

    RNNCell, LSTMCell, GRUCell   one step:      input (B, I) or (I,)
    RNN, LSTM, GRU               a sequence:    input (T, B, I), (B, T, I) with batch_first, or (T, I)

Every weight and bias starts as U(−1/√H, 1/√H). Parameter names and shapes are PyTorch's
(``weight_ih_l0`` (G·H, I), ``weight_hh_l0`` (G·H, H), ``bias_ih_l0``, ``bias_hh_l0`` (G·H,),
``_reverse`` for the second direction), so ``module.load_state_dict(torch_module.state_dict())``
loads a PyTorch model unchanged.

Which implementation runs is the dispatcher's business: the fused layer kernels of
``minidl/kernels/recurrent.py`` by default, the reference cells looped over time (the equations
in ``minidl/functional/recurrent.py``) under ``minidl.reference_mode()``. Both are differentiable
twice.
"""

from __future__ import annotations

import math
import numbers
import warnings

from .. import functional as F
from ..creation import empty, zeros
from ..dtypes import get_default_dtype
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _new_param(*shape, device, dtype):
    return Parameter(empty(*shape, dtype=get_default_dtype() if dtype is None else dtype, device=device))


def _check_sizes(name, input_size, hidden_size):
    for what, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{name}: {what} must be a non-negative integer, got {v!r}")
    if hidden_size == 0:
        raise ValueError(f"{name}: hidden_size must be positive, got 0")


def _check_dtype(name, input, weight):
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype != weight.dtype:
        raise TypeError(
            f"{name}: input has dtype {input.dtype} but the parameters have dtype {weight.dtype} "
            "(convert one: module.double() / module.float(), or input.to(...))"
        )


# ---- cells ---------------------------------------------------------------------------------


class RNNCellBase(Module):
    """Parameters of one cell: weight_ih (G·H, I), weight_hh (G·H, H), bias_ih, bias_hh (G·H,)."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G = num_chunks
        self.weight_ih = _new_param(G * hidden_size, input_size, device=device, dtype=dtype)
        self.weight_hh = _new_param(G * hidden_size, hidden_size, device=device, dtype=dtype)
        if bias:
            self.bias_ih = _new_param(G * hidden_size, device=device, dtype=dtype)
            self.bias_hh = _new_param(G * hidden_size, device=device, dtype=dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Every parameter ~ U(−1/√H, 1/√H)."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity!r}"
        return s

    def _prepare(self, input, states):
        """Check shapes; unbatched (I,) input becomes (1, I). ``states``: the given hidden
        tensors or None. Returns (input (B, I), states (B, H) each, batched)."""
        name = type(self).__name__
        _check_dtype(name, input, self.weight_ih)
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: expected input to be 1-D or 2-D, got {input.ndim}-D of shape {input.shape}")
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: input of shape {input.shape} has input_size {input.shape[-1]}, expected {self.input_size}"
            )
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)  # (I,) -> (1, I)
        B, H = input.shape[0], self.hidden_size
        out = []
        for k, s in enumerate(states):
            which = "hx" if len(states) == 1 else f"hx[{k}]"
            if s is None:
                out.append(zeros(B, H, dtype=input.dtype, device=input.device))
                continue
            if not isinstance(s, Tensor):
                raise TypeError(f"{name}: {which} must be a Tensor, got {type(s).__name__}")
            _check_dtype(name, s, self.weight_ih)
            if s.ndim != (2 if batched else 1):
                kind = "batched 2-D" if batched else "unbatched 1-D"
                raise ValueError(
                    f"{name}: for {kind} input, {which} should be {2 if batched else 1}-D, got shape {tuple(s.shape)}"
                )
            if not batched:
                s = s.unsqueeze(0)  # (H,) -> (1, H)
            if tuple(s.shape) != (B, H):
                want, got = ((B, H), tuple(s.shape)) if batched else ((H,), tuple(s.shape[1:]))
                raise ValueError(f"{name}: expected {which} of shape {want}, got {got}")
            out.append(s)
        return input, out, batched


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)  (or relu)
    input (B, I) or (I,), hx (B, H) or (H,) (zeros if None) -> h' (B, H) or (H,)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r} (expected 'tanh' or 'relu')")
        super().__init__(input_size, hidden_size, bias, 1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        input, (h,), batched = self._prepare(input, [hx])
        cell = F.rnn_tanh_cell if self.nonlinearity == "tanh" else F.rnn_relu_cell
        h = cell(input, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o): c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c').
    input (B, I) or (I,), hx = (h, c) each (B, H) or (H,) (zeros if None) -> (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError("LSTMCell: hx must be a pair (h, c) of tensors")
        input, (h, c), batched = self._prepare(input, [None, None] if hx is None else list(hx))
        h, c = F.lstm_cell(input, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n): n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),
    h' = (1 − z) ⊙ n + z ⊙ h.   input (B, I) or (I,), hx (B, H) or (H,) -> h'."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        input, (h,), batched = self._prepare(input, [hx])
        h = F.gru_cell(input, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else h.squeeze(0)


# ---- sequence layers -----------------------------------------------------------------------


class RNNBase(Module):
    """Stacked, optionally bidirectional recurrent layers (the common part of RNN, LSTM, GRU).

    Parameters, for layer k and direction suffix '' or '_reverse' (PyTorch's order):
    weight_ih_l{k} (G·H, I_k), weight_hh_l{k} (G·H, H), bias_ih_l{k}, bias_hh_l{k} (G·H,);
    I_0 = input_size, I_k = D·H above (D = 2 if bidirectional)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size, hidden_size)
        if not isinstance(num_layers, numbers.Integral) or isinstance(num_layers, bool) or num_layers < 1:
            raise ValueError(f"{name}: num_layers must be a positive integer, got {num_layers!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a number in [0, 1] (a probability), got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{name}: dropout={dropout} only acts between layers, so with num_layers=1 it does nothing",
                UserWarning,
                stacklevel=2,
            )
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bias, batch_first
        self.dropout, self.bidirectional = float(dropout), bidirectional
        G, D = _GATES[mode], 2 if bidirectional else 1
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else D * hidden_size
            for d in range(D):
                suffix = f"_l{layer}" + ("_reverse" if d == 1 else "")
                shapes = [("weight_ih", (G * hidden_size, layer_input)), ("weight_hh", (G * hidden_size, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (G * hidden_size,)), ("bias_hh", (G * hidden_size,))]
                for base, shape in shapes:
                    setattr(self, base + suffix, _new_param(*shape, device=device, dtype=dtype))
                    self._flat_weights_names.append(base + suffix)
        self.reset_parameters()

    @property
    def _flat_weights(self):
        """The parameters in PyTorch's order (what ``minidl.functional.lstm`` etc. take)."""
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        """[[w_ih, w_hh, b_ih, b_hh] for each layer and direction]."""
        per = 4 if self.bias else 2
        w = self._flat_weights
        return [w[i : i + per] for i in range(0, len(w), per)]

    def flatten_parameters(self):
        """A no-op (PyTorch packs weights for cuDNN here); kept so PyTorch code runs unchanged."""

    def reset_parameters(self):
        """Every parameter ~ U(−1/√H, 1/√H)."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def _prepare(self, input, states):
        """Check input and hidden shapes; unbatched input (T, I) gets a batch of 1.
        ``states``: the given hidden tensors (or None). Returns (input, states or None, batched)."""
        name = type(self).__name__
        _check_dtype(name, input, self.weight_ih_l0)
        if input.ndim not in (2, 3):
            raise ValueError(
                f"{name}: expected input to be 2-D (unbatched) or 3-D (batched), got {input.ndim}-D "
                f"of shape {input.shape}"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {input.shape[-1]} (input of shape {input.shape})"
            )
        batched = input.ndim == 3
        batch_dim = 0 if self.batch_first else 1
        if not batched:
            input = input.unsqueeze(batch_dim)  # (T, I) -> (T, 1, I) or (1, T, I)
        D = 2 if self.bidirectional else 1
        expected = (self.num_layers * D, input.shape[batch_dim], self.hidden_size)
        if states is None:
            return input, None, batched
        out = []
        for k, s in enumerate(states):
            which = "hx" if len(states) == 1 else f"hx[{k}]"
            if not isinstance(s, Tensor):
                raise TypeError(f"{name}: {which} must be a Tensor, got {type(s).__name__}")
            _check_dtype(name, s, self.weight_ih_l0)
            want = 3 if batched else 2
            if s.ndim != want:
                raise ValueError(
                    f"{name}: for {'batched 3-D' if batched else 'unbatched 2-D'} input of shape "
                    f"{input.shape if batched else input.shape[:batch_dim] + input.shape[batch_dim + 1:]}, "
                    f"{which} should be {want}-D, got shape {tuple(s.shape)}"
                )
            if not batched:
                s = s.unsqueeze(1)  # (L·D, H) -> (L·D, 1, H)
            if tuple(s.shape) != expected:
                got = tuple(s.shape) if batched else (s.shape[0], s.shape[2])
                want_shape = expected if batched else (expected[0], expected[2])
                raise ValueError(f"{name}: expected {which} of shape {want_shape}, got {got}")
            out.append(s)
        return input, out, batched

    def _finish(self, output, states, batched):
        if batched:
            return output, states
        return output.squeeze(0 if self.batch_first else 1), [s.squeeze(1) for s in states]

    def _run(self, fn, input, hx):
        return fn(
            input, hx, self._flat_weights, self.bias, self.num_layers, self.dropout, self.training,
            self.bidirectional, self.batch_first,
        )


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh)  (or relu), stacked and
    optionally bidirectional.

    forward(input, hx=None): input (T, B, I) ((B, T, I) with batch_first, (T, I) unbatched),
    hx (num_layers · D, B, H) or None -> (output (T, B, D·H), h_n (num_layers · D, B, H))."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r} (expected 'tanh' or 'relu')")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        input, states, batched = self._prepare(input, None if hx is None else [hx])
        fn = F.rnn_tanh if self.nonlinearity == "tanh" else F.rnn_relu
        output, h_n = self._run(fn, input, None if states is None else states[0])
        output, (h_n,) = self._finish(output, [h_n], batched)
        return output, h_n


class LSTM(RNNBase):
    """Long short-term memory (gates i, f, g, o), stacked and optionally bidirectional.

    forward(input, hx=None): input (T, B, I) ((B, T, I) with batch_first, (T, I) unbatched),
    hx = (h_0, c_0) each (num_layers · D, B, H), or None for zeros
    -> (output (T, B, D·H), (h_n, c_n) each (num_layers · D, B, H))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError("LSTM: hx must be a pair (h_0, c_0) of tensors")
        input, states, batched = self._prepare(input, None if hx is None else list(hx))
        output, (h_n, c_n) = self._run(F.lstm, input, None if states is None else tuple(states))
        output, (h_n, c_n) = self._finish(output, [h_n, c_n], batched)
        return output, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit (gates r, z, n), stacked and optionally bidirectional.

    forward(input, hx=None): as ``RNN`` -> (output (T, B, D·H), h_n (num_layers · D, B, H))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

    def forward(self, input, hx=None):
        input, states, batched = self._prepare(input, None if hx is None else [hx])
        output, h_n = self._run(F.gru, input, None if states is None else states[0])
        output, (h_n,) = self._finish(output, [h_n], batched)
        return output, h_n
