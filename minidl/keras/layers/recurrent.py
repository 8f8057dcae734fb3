"""SimpleRNN, LSTM and GRU with Keras's weights, gate orders and defaults, on (batch, time, features).

Weights (H = units, I = input features, G = number of gate blocks):

    kernel (I, G·H) ~ glorot_uniform    recurrent_kernel (H, G·H) ~ orthogonal    bias = 0

    LSTM: G = 4, blocks i, f, c, o (PyTorch's i, f, g, o: the same order); ONE bias (4H,), with
          the forget block initialised to 1 (``unit_forget_bias=True``). PyTorch keeps two biases
          (b_ih + b_hh); Keras's single one is why its LSTM(64) on 64 features has
          4·(64·64 + 64·64 + 64) = 33,024 parameters.
    GRU:  G = 3, blocks z, r, h (update, reset, candidate; PyTorch orders them r, z, n). With
          ``reset_after=True`` (Keras's default, the cuDNN variant) the bias is (2, 3H): an input
          bias and a recurrent bias, and
              z = σ(x W_z + b_z + h U_z + b'_z),  r = σ(x W_r + b_r + h U_r + b'_r)
              ĥ = tanh(x W_h + b_h + r ⊙ (h U_h + b'_h)),  h_new = z ⊙ h + (1 − z) ⊙ ĥ
          which is PyTorch's GRU exactly (its n is ĥ, and (1 − z) n + z h is the same update).
          ``reset_after=False`` applies r before the product, ĥ = tanh(x W_h + (r ⊙ h) U_h + b_h),
          with one bias (3H,).
    SimpleRNN: h_new = activation(x W + h U + b).

The default configuration (tanh and sigmoid, no mask, no recurrent dropout) runs on
``minidl.functional``'s whole-sequence layers (``lstm_layer``, ``gru_layer``, ``rnn_layer``),
handing them the Keras weights in PyTorch's layout (kernelᵀ, gate blocks reordered for the GRU,
no second bias); the dispatcher runs their fused kernels unless ``minidl.reference_mode()``.
Anything else (custom activations, a mask from ``Embedding(mask_zero=True)``,
``recurrent_dropout``) runs step by step with the same equations
composed from primitives; a masked step keeps the previous state and repeats the previous
output, as Keras does.
"""

from __future__ import annotations

from ... import backend
from ... import functional as F
from ...tensor import Tensor
from .. import activations, initializers, regularizers
from .base import Layer
from .core import dense_matmul
from .shapes import InputSpec
from .symbolic import as_input_tensor


def _dropout_mask(like, shape, rate):
    """A dropout mask of ``shape`` (kept values 1/(1 − rate), dropped 0), constant."""
    xp = backend.get_array_module(like.array)
    ones = Tensor._make(xp.ones(shape, dtype=like.dtype), False)
    return F.dropout(ones, rate, True)


class _RNNBase(Layer):
    gates = 1
    _layer_activations = ("tanh", "sigmoid")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, **kwargs):
        super().__init__(**kwargs)
        where = type(self).__name__
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"{where}: units must be a positive integer, got {units!r}")
        if stateful:
            raise NotImplementedError(f"{where}: stateful=True is not supported")
        for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{where}: {name} must be in [0, 1), got {rate}")
        self.units = units
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.unroll = bool(go_backwards), bool(unroll)
        self.supports_masking = True

    # ---- weights ---------------------------------------------------------------------------
    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f'{type(self).__name__} "{self.name}": expected inputs (batch, time, features) with known features, '
                f"got shape {input_shape}"
            )
        d, G, H = input_shape[-1], self.gates, self.units
        self.add_weight("kernel", (d, G * H), self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.add_weight("recurrent_kernel", (H, G * H), self.recurrent_initializer,
                        regularizer=self.recurrent_regularizer)
        if self.use_bias:
            self.add_weight("bias", self._bias_shape(), self._bias_init(), regularizer=self.bias_regularizer)
        self.input_spec = InputSpec(ndim=3, axes={-1: d})

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    # ---- running ---------------------------------------------------------------------------
    def _n_states(self):
        return 1

    def _initial_states(self, x, initial_state):
        B = x.shape[0]
        if initial_state is None:
            xp = backend.get_array_module(x.array)
            zero = Tensor._make(xp.zeros((B, self.units), dtype=x.dtype), False)
            return [zero] * self._n_states()
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(states) != self._n_states():
            raise ValueError(
                f'{type(self).__name__} "{self.name}": initial_state needs {self._n_states()} tensor(s), '
                f"got {len(states)}"
            )

        states = [as_input_tensor(s, x.device, x.dtype.name) for s in states]
        for s in states:
            if tuple(s.shape) != (B, self.units):
                raise ValueError(
                    f'{type(self).__name__} "{self.name}": each initial state must have shape ({B}, {self.units}), '
                    f"got {tuple(s.shape)}"
                )
        return states

    def _runs_as_layer(self, mask, training):
        names = (activations.name_of(self.activation), activations.name_of(self.recurrent_activation))
        if names != self._layer_activations[: len(names)] or (training and self.recurrent_dropout > 0):
            return False
        return mask is None or bool(backend.get_array_module(mask.array).all(mask.array))

    def call(self, inputs, mask=None, training=None, initial_state=None):
        x = inputs  # (B, T, I)
        if training and self.dropout > 0:
            x = x * _dropout_mask(x, (x.shape[0], 1, x.shape[2]), self.dropout)  # one mask for all steps
        states = self._initial_states(x, initial_state)
        if self._runs_as_layer(mask, training):
            seq, states = self._layer(F.permute(x, (1, 0, 2)), states)  # (T, B, H) in time order
            seq = F.permute(seq, (1, 0, 2))  # (B, T, H)
            if self.go_backwards and self.return_sequences:
                seq = seq[:, ::-1]  # Keras returns the sequence in the order it was read
            last = states[0]
        else:
            seq, last, states = self._loop(x, states, mask, training)
        output = seq if self.return_sequences else last
        return [output] + list(states) if self.return_state else output

    def _loop(self, x, states, mask, training):
        """The step-by-step recurrence (composed), in reading order; returns (sequence (B, T, H),
        last output, final states)."""
        T = x.shape[1]
        steps = range(T - 1, -1, -1) if self.go_backwards else range(T)
        projected = dense_matmul(x, self.kernel)  # (B, T, I) @ (I, G·H) -> (B, T, G·H)
        projected = self._add_input_bias(projected)
        rec_mask = None
        if training and self.recurrent_dropout > 0:
            rec_mask = _dropout_mask(x, (x.shape[0], self.units), self.recurrent_dropout)
        outputs, out = [], states[0]
        for t in steps:
            h = states[0] * rec_mask if rec_mask is not None else states[0]
            new = self._step(projected[:, t], h, states)
            if mask is not None:
                keep = Tensor._make(mask.array[:, t : t + 1], False)  # (B, 1)
                new = [F.where(keep, n, s) for n, s in zip(new, states)]
                out = F.where(keep, new[0], out)
            else:
                out = new[0]
            states = new
            outputs.append(out)
        return F.stack(outputs, dim=1), out, states  # (B, T, H)

    def _add_input_bias(self, projected):
        return projected + self.bias if self.use_bias else projected

    def _split(self, z):
        H = self.units
        return [z[:, g * H : (g + 1) * H] for g in range(self.gates)]

    def compute_output_shape(self, input_shape):
        B, T = input_shape[0], input_shape[1]
        out = (B, T, self.units) if self.return_sequences else (B, self.units)
        if self.return_state:
            return [out] + [(B, self.units)] * self._n_states()
        return out

    def compute_mask(self, inputs, mask=None):
        if self.return_state:
            return None
        return mask if self.return_sequences else None

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "unroll": self.unroll,
        }


class SimpleRNN(_RNNBase):
    """h_t = activation(x_t · kernel + h_{t−1} · recurrent_kernel + bias)   (tanh by default)

    (B, T, I) -> (B, H), or (B, T, H) with ``return_sequences``; ``return_state`` adds h_T."""

    gates = 1

    def __init__(self, units, activation="tanh", **kwargs):
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, activation=activation, **kwargs)

    def _runs_as_layer(self, mask, training):
        if activations.name_of(self.activation) not in ("tanh", "relu") or (training and self.recurrent_dropout > 0):
            return False
        return mask is None or bool(backend.get_array_module(mask.array).all(mask.array))

    def _layer(self, xt, states):
        nonlinearity = activations.name_of(self.activation)
        bias = self.bias if self.use_bias else None
        seq, h = F.rnn_layer(xt, states[0], F.transpose(self.kernel, 0, 1), F.transpose(self.recurrent_kernel, 0, 1),
                             bias, None, nonlinearity=nonlinearity, reverse=self.go_backwards)
        return seq, [h]

    def _step(self, xw, h, states):
        return [self.activation(xw + F.matmul(h, self.recurrent_kernel))]  # (B, H) @ (H, H)

    def get_config(self):
        config = super().get_config()
        config.pop("recurrent_activation")
        return config


class LSTM(_RNNBase):
    """Long short-term memory, Keras's equations and weights (gate blocks i, f, c, o):

        [i, f, c̃, o] = x_t · kernel + h_{t−1} · recurrent_kernel + bias      (B, 4H)
        i, f, o = σ(·),  c̃ = tanh(·);   c_t = f ⊙ c_{t−1} + i ⊙ c̃;   h_t = o ⊙ tanh(c_t)

    (B, T, I) -> h_T (B, H), or all h_t (B, T, H) with ``return_sequences``; ``return_state``
    returns [output, h_T, c_T]. ``unit_forget_bias`` starts the forget-gate bias at 1."""

    gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _n_states(self):
        return 2

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, H = self.bias_initializer, self.units

        def init(shape, dtype=None, device=None):
            b = base(shape, dtype, device)
            b.array[H : 2 * H] = 1.0  # forget gate
            return b

        return init

    def _layer(self, xt, states):
        bias = self.bias if self.use_bias else None
        seq, (h, c) = F.lstm_layer(xt, (states[0], states[1]), F.transpose(self.kernel, 0, 1),
                                   F.transpose(self.recurrent_kernel, 0, 1), bias, None, reverse=self.go_backwards)
        return seq, [h, c]

    def _step(self, xw, h, states):
        z = xw + F.matmul(h, self.recurrent_kernel)  # (B, 4H)
        zi, zf, zc, zo = self._split(z)
        i, f, o = self.recurrent_activation(zi), self.recurrent_activation(zf), self.recurrent_activation(zo)
        c = f * states[1] + i * self.activation(zc)
        return [o * self.activation(c), c]

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(_RNNBase):
    """Gated recurrent unit, Keras's equations and weights (gate blocks z, r, h; see the module
    docstring for both ``reset_after`` variants).

    (B, T, I) -> h_T (B, H), or (B, T, H) with ``return_sequences``; ``return_state`` adds h_T."""

    gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _runs_as_layer(self, mask, training):
        return self.reset_after and super()._runs_as_layer(mask, training)

    def _torch_order(self, w):
        """Gate blocks z, r, h (Keras) -> r, z, n (PyTorch) along the last axis."""
        H = self.units
        return F.cat([w[..., H : 2 * H], w[..., :H], w[..., 2 * H :]], dim=-1)

    def _layer(self, xt, states):
        w_ih = F.transpose(self._torch_order(self.kernel), 0, 1)  # (3H, I)
        w_hh = F.transpose(self._torch_order(self.recurrent_kernel), 0, 1)  # (3H, H)
        b_ih = b_hh = None
        if self.use_bias:
            b_ih, b_hh = self._torch_order(self.bias[0]), self._torch_order(self.bias[1])
        seq, h = F.gru_layer(xt, states[0], w_ih, w_hh, b_ih, b_hh, reverse=self.go_backwards)
        return seq, [h]

    def _add_input_bias(self, projected):
        if not self.use_bias:
            return projected
        return projected + (self.bias[0] if self.reset_after else self.bias)

    def _step(self, xw, h, states):
        H = self.units
        xz, xr, xh = self._split(xw)
        U = self.recurrent_kernel
        if self.reset_after:
            hu = F.matmul(h, U)  # (B, H) @ (H, 3H) -> (B, 3H)
            if self.use_bias:
                hu = hu + self.bias[1]
            hz, hr, hh = self._split(hu)
            z = self.recurrent_activation(xz + hz)
            r = self.recurrent_activation(xr + hr)
            cand = self.activation(xh + r * hh)
        else:
            hzr = F.matmul(h, U[:, : 2 * H])  # (B, H) @ (H, 2H)
            z = self.recurrent_activation(xz + hzr[:, :H])
            r = self.recurrent_activation(xr + hzr[:, H:])
            cand = self.activation(xh + F.matmul(r * h, U[:, 2 * H :]))
        return [z * states[0] + (1.0 - z) * cand]

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
