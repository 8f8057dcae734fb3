"""Recurrent cells and one recurrent layer:  h_t = f(W [h_{t-1}, x_t] + b).

notebooks/03_recurrent.ipynb derives every equation here, section by section.

Shapes: x_t (B, I), h_t and c_t (B, H); a sequence is (T, B, I), time first as in PyTorch.
``G`` is the number of gate blocks: 1 (RNN), 4 (LSTM), 3 (GRU). The weights are PyTorch's:
W_ih (G·H, I), W_hh (G·H, H), b_ih and b_hh (G·H,), the gate blocks stacked along the rows.

Concatenated form = split form  (notebook section 1)
----------------------------------------------------
Textbooks write one weight matrix acting on the concatenation [h, x] (shape (B, H + I)):

    W [h, x] + b = [W_hh | W_ih] [h; x] + b = W_hh h + W_ih x + b

so the concatenated form with W = [W_hh | W_ih] (G·H, H + I) and b = b_ih + b_hh is exactly
PyTorch's split form  x W_ihᵀ + b_ih + h W_hhᵀ + b_hh  (``concat_cell_weights``,
``cell_gates_concatenated``, ``cell_gates_split``). PyTorch keeps the split because x W_ihᵀ can
be computed for all T steps with one matrix product before the recurrence starts, and because
the GRU needs W_hn h + b_hn on its own (its reset gate multiplies that term only).

The cells  (notebook section 4, "The LSTM and GRU gates, line by line")
------------------------------------------------------------------------
    RNN:  h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)   (or relu)
    LSTM: [a_i, a_f, a_g, a_o] = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh, four blocks of H
          i, f, o = σ(a_i), σ(a_f), σ(a_o);  g = tanh(a_g);  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
    GRU:  r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),  z = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
          n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn));  h' = (1 − z) ⊙ n + z ⊙ h

Each cell is composed of Tensor ops, so its backward is the chain rule through those ops and it
is differentiable twice (``gradgradcheck`` in section 4). ``minidl/kernels/recurrent.py`` has a
fused kernel of each cell and of each layer below (one Function, hand-written backward on
arrays) that runs instead outside ``minidl.reference_mode()``; a debugger in reference mode steps
through the lines here.

One layer  (notebook section 2, "The unrolled graph and backpropagation through time")
--------------------------------------------------------------------------------------
``lstm_layer``, ``gru_layer`` and ``rnn_layer`` loop their cell over the T steps; the backward
of that unrolled graph is backpropagation through time. Their kernels run the whole layer as one
Function with BPTT written on arrays. ``recurrent_stack.py`` stacks layers and directions as
``nn.LSTM`` etc. do.
"""

from __future__ import annotations

from ..dispatch import reference_op
from .elementwise import relu, sigmoid, tanh
from .linalg import linear
from .shape import cat, stack

# ---- argument checks ----------------------------------------------------------------------


def _check_same_dtype(op, **tensors):
    """All given tensors share one dtype; an error naming them otherwise."""
    items = [(k, t) for k, t in tensors.items() if t is not None]
    if len({t.dtype for _, t in items}) > 1:
        listing = ", ".join(f"{k}: {t.dtype}" for k, t in items)
        raise TypeError(f"{op}: all tensors must have the same dtype, got {listing}")


def check_cell(op, gates, input, hx, w_ih, w_hh, b_ih, b_hh, cx=None, step_shape=None):
    """Shapes of one cell step: input (B, I), hx/cx (B, H), W_ih (G·H, I), W_hh (G·H, H), b (G·H,).
    ``step_shape``: the (B, I) of one step when ``input`` is a whole (T, B, I) sequence."""
    if w_ih.ndim != 2 or w_hh.ndim != 2:
        raise ValueError(f"{op}: weights must be 2-D, got w_ih {w_ih.shape} and w_hh {w_hh.shape}")
    H = w_hh.shape[1]
    if w_ih.shape[0] != gates * H or w_hh.shape[0] != gates * H:
        raise ValueError(
            f"{op}: w_ih {w_ih.shape} and w_hh {w_hh.shape} must both have {gates}·H = {gates * H} rows "
            f"(H = {H} from w_hh's columns)"
        )
    shape = tuple(input.shape) if step_shape is None else tuple(step_shape)
    if len(shape) != 2 or shape[1] != w_ih.shape[1]:
        what = "input" if step_shape is None else f"input of shape {input.shape}: each step"
        raise ValueError(f"{op}: {what} of shape {shape} must be (batch, {w_ih.shape[1]}) to fit w_ih {w_ih.shape}")
    for name, s in (("hx", hx), ("cx", cx)):
        if s is not None and tuple(s.shape) != (shape[0], H):
            raise ValueError(
                f"{op}: {name} of shape {s.shape} must be (batch, hidden) = {(shape[0], H)} "
                f"for input {input.shape} and w_hh {w_hh.shape}"
            )
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and tuple(b.shape) != (gates * H,):
            raise ValueError(f"{op}: {name} of shape {b.shape} must be ({gates * H},)")
    _check_same_dtype(op, input=input, hx=hx, cx=cx, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)


def check_layer(op, gates, input, states, w_ih, w_hh, b_ih, b_hh):
    """Shapes of one layer: input (T, B, I) with T ≥ 1, ``states`` (h0,) or (h0, c0) each (B, H)."""
    if input.ndim != 3:
        raise ValueError(f"{op}: input must be 3-D (seq_len, batch, input_size), got shape {input.shape}")
    if input.shape[0] == 0:
        raise ValueError(f"{op}: the sequence is empty (input of shape {input.shape})")
    cx = states[1] if len(states) > 1 else None
    check_cell(op, gates, input, states[0], w_ih, w_hh, b_ih, b_hh, cx=cx, step_shape=input.shape[1:])


def check_nonlinearity(op, nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{op}: unknown nonlinearity {nonlinearity!r} (expected 'tanh' or 'relu')")


# ---- the concatenated form W [h, x] + b  (notebook section 1) -----------------------------


def concat_cell_weights(w_ih, w_hh, b_ih=None, b_hh=None):
    """(W, b) of the concatenated form: W = [W_hh | W_ih]  (G·H, H + I),  b = b_ih + b_hh  (G·H,).

    Then  W [h, x] + b = W_hh h + W_ih x + b_ih + b_hh  (notebooks/03_recurrent.ipynb, section 1)."""
    w = cat([w_hh, w_ih], dim=1)  # (G·H, H) | (G·H, I) -> (G·H, H + I)
    if b_ih is None and b_hh is None:
        return w, None
    b = b_ih if b_hh is None else (b_hh if b_ih is None else b_ih + b_hh)
    return w, b


def cell_gates_concatenated(input, hx, w, b=None):
    """Gate pre-activations W [h, x] + b:  [h, x] (B, H + I) @ Wᵀ (H + I, G·H) -> (B, G·H)."""
    hx_x = cat([hx, input], dim=1)  # (B, H) | (B, I) -> (B, H + I)
    return linear(hx_x, w, b)


def cell_gates_split(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """Gate pre-activations x W_ihᵀ + b_ih + h W_hhᵀ + b_hh  -> (B, G·H)."""
    return linear(input, w_ih, b_ih) + linear(hx, w_hh, b_hh)  # (B, I)@(I, G·H) + (B, H)@(H, G·H)


# ---- the cells  (notebook section 4) --------------------------------------------------------


@reference_op
def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = tanh(a),  a = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh        input (B, I), hx (B, H) -> h' (B, H)

    Backward (the chain rule through the ops): dL/da = dh' ⊙ (1 − h'²),  dL/dx = dL/da W_ih,
    dL/dh = dL/da W_hh,  dL/dW_ih = (dL/da)ᵀ x,  dL/dW_hh = (dL/da)ᵀ h,  dL/db = Σ_B dL/da.
    notebooks/03_recurrent.ipynb, section 2 (BPTT by hand for this cell)."""
    check_cell("rnn_tanh_cell", 1, input, hx, w_ih, w_hh, b_ih, b_hh)
    return tanh(cell_gates_split(input, hx, w_ih, w_hh, b_ih, b_hh))  # (B, H)


@reference_op
def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = relu(a),  a = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh;  dL/da = dh' ⊙ [a > 0]  (else as
    ``rnn_tanh_cell``).        input (B, I), hx (B, H) -> h' (B, H)"""
    check_cell("rnn_relu_cell", 1, input, hx, w_ih, w_hh, b_ih, b_hh)
    return relu(cell_gates_split(input, hx, w_ih, w_hh, b_ih, b_hh))  # (B, H)


@reference_op
def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step, PyTorch's gate order i, f, g, o in the rows of W:

        [a_i, a_f, a_g, a_o] = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh        (B, 4H) -> 4 × (B, H)
        i = σ(a_i),  f = σ(a_f),  g = tanh(a_g),  o = σ(a_o)
        c' = f ⊙ c + i ⊙ g,        h' = o ⊙ tanh(c')

    input (B, I), hx = (h, c) each (B, H) -> (h', c') each (B, H).
    Backward (chain rule): dc = dc' + dh' ⊙ o ⊙ (1 − tanh²c'),  da_o = dh' ⊙ tanh c' ⊙ o(1 − o),
    da_i = dc ⊙ g ⊙ i(1 − i),  da_f = dc ⊙ c ⊙ f(1 − f),  da_g = dc ⊙ i ⊙ (1 − g²),
    dL/dc = dc ⊙ f, then through the two linear maps as in ``rnn_tanh_cell``.
    notebooks/03_recurrent.ipynb, section 4."""
    h, c = hx
    check_cell("lstm_cell", 4, input, h, w_ih, w_hh, b_ih, b_hh, cx=c)
    H = h.shape[1]
    a = cell_gates_split(input, h, w_ih, w_hh, b_ih, b_hh)  # (B, 4H)
    i = sigmoid(a[:, 0:H])  # input gate: how much new content to write
    f = sigmoid(a[:, H : 2 * H])  # forget gate: how much of c to keep
    g = tanh(a[:, 2 * H : 3 * H])  # the candidate content
    o = sigmoid(a[:, 3 * H : 4 * H])  # output gate
    c_new = f * c + i * g  # (B, H)
    h_new = o * tanh(c_new)  # (B, H)
    return h_new, c_new


@reference_op
def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step, PyTorch's gate order r, z, n:

        gx = x W_ihᵀ + b_ih,  gh = h W_hhᵀ + b_hh        (B, 3H) each, blocks [r, z, n]
        r = σ(gx_r + gh_r),  z = σ(gx_z + gh_z)
        n = tanh(gx_n + r ⊙ gh_n)          (the reset gate multiplies W_hn h + b_hn only)
        h' = (1 − z) ⊙ n + z ⊙ h

    input (B, I), hx (B, H) -> h' (B, H).
    Backward (chain rule): dn = dh' ⊙ (1 − z),  dz = dh' ⊙ (h − n),  da_n = dn ⊙ (1 − n²),
    dr = da_n ⊙ gh_n,  dgh_n = da_n ⊙ r,  dL/dh = dh' ⊙ z + (dgh) W_hh.
    notebooks/03_recurrent.ipynb, section 4."""
    check_cell("gru_cell", 3, input, hx, w_ih, w_hh, b_ih, b_hh)
    H = hx.shape[1]
    gx = linear(input, w_ih, b_ih)  # (B, I) @ (I, 3H) -> (B, 3H)
    gh = linear(hx, w_hh, b_hh)  # (B, H) @ (H, 3H) -> (B, 3H)
    r = sigmoid(gx[:, 0:H] + gh[:, 0:H])  # reset gate
    z = sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])  # update gate
    n = tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])  # candidate state
    return (1 - z) * n + z * hx  # (B, H)


# ---- one layer, one direction: the cell looped over time (notebook section 2) -------------


def _time_steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


@reference_op
def lstm_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One LSTM layer over a sequence: (h_t, c_t) = lstm_cell(x_t, (h_{t−1}, c_{t−1})), t = 0 … T−1.

    input (T, B, I), hx = (h0, c0) each (B, H) -> (output (T, B, H), (h_T, c_T) each (B, H)),
    output[t] = h_t. ``reverse``: read the sequence backwards, t = T−1 … 0 (the second direction
    of a bidirectional layer); output[t] is still the state at time t and (h_T, c_T) the state
    after reading t = 0. The backward of this loop is backpropagation through time
    (notebooks/03_recurrent.ipynb, section 2)."""
    h, c = hx
    check_layer("lstm_layer", 4, input, (h, c), w_ih, w_hh, b_ih, b_hh)
    outputs = [None] * input.shape[0]
    for t in _time_steps(input.shape[0], reverse):
        h, c = lstm_cell(input[t], (h, c), w_ih, w_hh, b_ih, b_hh)  # (B, I) -> (B, H), (B, H)
        outputs[t] = h
    return stack(outputs, dim=0), (h, c)  # T × (B, H) -> (T, B, H)


@reference_op
def gru_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One GRU layer over a sequence: h_t = gru_cell(x_t, h_{t−1}), t = 0 … T−1 (``reverse``: T−1 … 0).

    input (T, B, I), hx (B, H) -> (output (T, B, H), h_T (B, H)); as ``lstm_layer``."""
    check_layer("gru_layer", 3, input, (hx,), w_ih, w_hh, b_ih, b_hh)
    h, outputs = hx, [None] * input.shape[0]
    for t in _time_steps(input.shape[0], reverse):
        h = gru_cell(input[t], h, w_ih, w_hh, b_ih, b_hh)  # (B, I) -> (B, H)
        outputs[t] = h
    return stack(outputs, dim=0), h  # (T, B, H)


@reference_op
def rnn_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", reverse=False):
    """One Elman RNN layer: h_t = f(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh), f = tanh or relu,
    t = 0 … T−1 (``reverse``: T−1 … 0).

    input (T, B, I), hx (B, H) -> (output (T, B, H), h_T (B, H)); as ``lstm_layer``."""
    check_nonlinearity("rnn_layer", nonlinearity)
    check_layer("rnn_layer", 1, input, (hx,), w_ih, w_hh, b_ih, b_hh)
    cell = rnn_tanh_cell if nonlinearity == "tanh" else rnn_relu_cell
    h, outputs = hx, [None] * input.shape[0]
    for t in _time_steps(input.shape[0], reverse):
        h = cell(input[t], h, w_ih, w_hh, b_ih, b_hh)  # (B, I) -> (B, H)
        outputs[t] = h
    return stack(outputs, dim=0), h  # (T, B, H)


__all__ = [
    "cell_gates_concatenated",
    "cell_gates_split",
    "concat_cell_weights",
    "gru_cell",
    "gru_layer",
    "lstm_cell",
    "lstm_layer",
    "rnn_layer",
    "rnn_relu_cell",
    "rnn_tanh_cell",
]
