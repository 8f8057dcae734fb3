"""Recurrent cells and whole-sequence recurrences:  h_t = f(W [h_{t-1}, x_t] + b).

Shapes: x_t (B, I), h_t and c_t (B, H); a sequence is (T, B, I) (time first, as PyTorch's
default). ``G`` is the number of gate blocks: 1 (RNN), 4 (LSTM), 3 (GRU).
W_ih (G·H, I), W_hh (G·H, H), b_ih and b_hh (G·H,) — PyTorch's layout and gate orders.

Concatenated form = split form
------------------------------
Textbooks write one weight matrix acting on the concatenation [h, x] (shape (B, H + I)):

    W [h, x] + b = [W_hh | W_ih] [h; x] + b = W_hh h + W_ih x + b

so the concatenated form with W = [W_hh | W_ih] (shape (G·H, H + I), the blocks side by side)
and b = b_ih + b_hh is exactly PyTorch's split form  x W_ihᵀ + b_ih + h W_hhᵀ + b_hh.
``concat_cell_weights`` builds (W, b) from the split weights; ``cell_gates_concatenated`` and
``cell_gates_split`` compute the gate pre-activations both ways (the tests check they agree).
PyTorch keeps the split because x W_ihᵀ can be computed for all T steps with one matrix
product before the recurrence starts, and because the GRU needs W_hn h + b_hn on its own
(its reset gate multiplies that term only), so two biases are not redundant there.

Cells (PyTorch's semantics)
---------------------------
    RNN:  h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)   (or relu)
    LSTM: [i, f, g, o] = split(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) into 4 blocks of H
          i, f, o = σ(·),  g = tanh(·);  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
    GRU:  [r, z] = σ(x W_{ir,iz}ᵀ + b_{ir,iz} + h W_{hr,hz}ᵀ + b_{hr,hz})
          n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn));  h' = (1 − z) ⊙ n + z ⊙ h

The cells built from primitives (``rnn_tanh_cell``, ``rnn_relu_cell``, ``lstm_cell_composed``,
``gru_cell``) are the reference and are differentiable twice. ``lstm_cell`` is fused (one
Function for the whole cell).

Whole sequences
---------------
One layer in one direction is one Function (``LSTMSequence``, ``GRUSequence``,
``RNNSequence``): its forward precomputes X W_ihᵀ + b for all T steps with one matrix product
(T·B, I) @ (I, G·H) and then loops over time doing only h W_hhᵀ and the elementwise gate
arithmetic in place, keeping the gate activations; its backward is backpropagation through
time with array operations, collecting dL/d(pre-activations) for every step so that dW_ih,
dW_hh, db and dX are each one matrix product after the loop. ``lstm_layer_composed`` (and
the GRU/RNN ones) do the same cell by cell with primitives: the reference the fused layers are
tested against. ``lstm``, ``gru``, ``rnn_tanh`` and ``rnn_relu`` stack layers and directions
as ``nn.LSTM`` etc. do (see ``lstm`` for the arguments).

Double backward through a fused Function: its backward is written with arrays, not Tensor
ops, so when the graph of the gradient is wanted (``create_graph=True``, e.g. gradgradcheck or
a gradient penalty) the backward instead recomputes the layer with the composed cells and
differentiates that (``_backward_by_recompute``). The result is the same gradient, now part of
the graph; it costs one composed forward and backward. ``fused=False`` selects the composed
path from the start.
"""

from __future__ import annotations

from .. import autograd, backend
from ..autograd import Function
from ..tensor import Tensor
from .activation import dropout as dropout_fn
from .elementwise import relu, sigmoid, tanh
from .linalg import linear
from .shape import cat, stack, transpose, unsqueeze

# ---- argument checks ----------------------------------------------------------------------


def _check_same(op, **tensors):
    """All given tensors share dtype and device; an error naming them otherwise."""
    items = [(k, t) for k, t in tensors.items() if t is not None]
    dtypes = {t.dtype for _, t in items}
    if len(dtypes) > 1:
        listing = ", ".join(f"{k}: {t.dtype}" for k, t in items)
        raise TypeError(f"{op}: all tensors must have the same dtype, got {listing}")


def _check_cell(op, gates, input, hx, w_ih, w_hh, b_ih, b_hh, cx=None, step_shape=None):
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
    _check_same(op, input=input, hx=hx, cx=cx, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)


# ---- the concatenated form W [h, x] + b ---------------------------------------------------


def concat_cell_weights(w_ih, w_hh, b_ih=None, b_hh=None):
    """(W, b) of the concatenated form: W = [W_hh | W_ih]  (G·H, H + I),  b = b_ih + b_hh  (G·H,).

    Then  W [h, x] + b = W_hh h + W_ih x + b_ih + b_hh  (see the module docstring)."""
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


# ---- composed cells (the reference; differentiable twice) ---------------------------------


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)        input (B, I), hx (B, H) -> h' (B, H)

    Backward (by the chain rule through the primitives): with a = the pre-activation,
    dL/da = dh' ⊙ (1 − h'²), dL/dx = dL/da W_ih, dL/dh = dL/da W_hh, dL/dW_ih = dL/daᵀ x, ..."""
    _check_cell("rnn_tanh_cell", 1, input, hx, w_ih, w_hh, b_ih, b_hh)
    return tanh(cell_gates_split(input, hx, w_ih, w_hh, b_ih, b_hh))


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = relu(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)        dL/da = dh' ⊙ [a > 0]"""
    _check_cell("rnn_relu_cell", 1, input, hx, w_ih, w_hh, b_ih, b_hh)
    return relu(cell_gates_split(input, hx, w_ih, w_hh, b_ih, b_hh))


def lstm_cell_composed(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """LSTM cell from primitives (the reference for ``lstm_cell``).

    [i, f, g, o] = blocks of x W_ihᵀ + b_ih + h W_hhᵀ + b_hh        (B, 4H) -> 4 × (B, H)
    i, f, o = σ(·), g = tanh(·);  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
    input (B, I), hx = (h, c) each (B, H) -> (h', c') each (B, H)."""
    h, c = hx
    _check_cell("lstm_cell", 4, input, h, w_ih, w_hh, b_ih, b_hh, cx=c)
    H = h.shape[1]
    gates = cell_gates_split(input, h, w_ih, w_hh, b_ih, b_hh)  # (B, 4H)
    i = sigmoid(gates[:, 0:H])
    f = sigmoid(gates[:, H : 2 * H])
    g = tanh(gates[:, 2 * H : 3 * H])
    o = sigmoid(gates[:, 3 * H : 4 * H])
    c_new = f * c + i * g
    h_new = o * tanh(c_new)
    return h_new, c_new


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """GRU cell from primitives (PyTorch's gate order r, z, n).

    gx = x W_ihᵀ + b_ih, gh = h W_hhᵀ + b_hh        (B, 3H) each, blocks [r, z, n]
    r = σ(gx_r + gh_r), z = σ(gx_z + gh_z), n = tanh(gx_n + r ⊙ gh_n)
    h' = (1 − z) ⊙ n + z ⊙ h        input (B, I), hx (B, H) -> h' (B, H)"""
    _check_cell("gru_cell", 3, input, hx, w_ih, w_hh, b_ih, b_hh)
    H = hx.shape[1]
    gx = linear(input, w_ih, b_ih)  # (B, I) @ (I, 3H) -> (B, 3H)
    gh = linear(hx, w_hh, b_hh)  # (B, H) @ (H, 3H) -> (B, 3H)
    r = sigmoid(gx[:, 0:H] + gh[:, 0:H])
    z = sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
    n = tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
    return (1 - z) * n + z * hx


gru_cell_composed = gru_cell


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """LSTM cell, fused: one Function for the whole step (same equations as
    ``lstm_cell_composed``; its backward is the one-step case of ``LSTMSequence``'s).

    input (B, I), hx = (h, c) each (B, H) -> (h', c') each (B, H)."""
    h, c = hx
    _check_cell("lstm_cell", 4, input, h, w_ih, w_hh, b_ih, b_hh, cx=c)
    packed = LSTMSequence.apply(unsqueeze(input, 0), h, c, w_ih, w_hh, b_ih, b_hh, reverse=False)  # (2, B, H)
    return packed[0], packed[1]


# ---- the fused layers: one Function per layer and direction -------------------------------


def _backward_by_recompute(ctx, composed, dy):
    """The gradients of a fused layer as part of the graph (for ``create_graph=True``):
    recompute the layer with composed cells and differentiate that.

    The inputs being differentiated are made leaves for the duration of the inner ``grad``
    (their ``grad_fn`` is restored afterwards), so the inner pass stops at them instead of
    running back through everything that produced them; the graph it builds still refers to
    these same Tensors, so the outer graph stays connected."""
    args = ctx.saved_tensors[: len(ctx.needs_input_grad)]  # the inputs (an output may follow)
    wanted = []
    for t, need in zip(args, ctx.needs_input_grad):
        if need and all(t is not w for w in wanted):
            wanted.append(t)
    producers = [t.grad_fn for t in wanted]
    try:
        for t in wanted:
            t.grad_fn = None
        out = composed(*args)
        grads = autograd.grad(out, wanted, dy, create_graph=True, allow_unused=True)
    finally:
        for t, fn in zip(wanted, producers):
            t.grad_fn = fn
    by_id = {id(t): g for t, g in zip(wanted, grads)}
    return tuple(by_id.get(id(t)) if need else None for t, need in zip(args, ctx.needs_input_grad))


def _wrap(array):
    return None if array is None else Tensor._make(array, False)


def _sum_biases(b_ih, b_hh):
    if b_ih is None:
        return b_hh
    return b_ih if b_hh is None else b_ih + b_hh


class LSTMSequence(Function):
    """One LSTM layer in one direction over a whole sequence (PyTorch's equations, gate order
    i, f, g, o in the rows of W).

    forward: x (T, B, I), h0 and c0 (B, H) -> packed (T + 1, B, H): rows 0..T−1 are h_t in
    time order, row T is the final cell state (with ``reverse`` the sequence is read from
    t = T−1 down to 0, h_t still stored at row t, and the final state is the one after t = 0).

    Inside, rows are reordered to [o, i, f, g] (a roll by H) so the three sigmoid blocks are
    adjacent, and σ(a) = ½ tanh(a/2) + ½ with the ½ folded into those rows of the weights:
    one tanh call gives all four activations per step.

    Backward (BPTT), stepping t = T−1 … 0 with dh = dL/dh_t (output grad + carry), dc likewise:
        dc  += dh ⊙ o ⊙ (1 − tanh²c_t)
        da_o = dh ⊙ tanh c_t ⊙ o(1 − o)        da_i = dc ⊙ g ⊙ i(1 − i)
        da_f = dc ⊙ c_{t−1} ⊙ f(1 − f)        da_g = dc ⊙ i ⊙ (1 − g²)
        dc_{t−1} = dc ⊙ f,   dh_{t−1} = da W_hh              da (B, 4H) (B, H)
    and after the loop, with DA (T·B, 4H) all steps' da:  dW_ih = DAᵀ X, dW_hh = DAᵀ H_prev,
    db_ih = db_hh = Σ DA, dX = DA W_ih.
    """

    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
        xp = ctx.xp
        T, B, I = x.shape
        H = h0.shape[-1]
        ctx.reverse = reverse
        scale = xp.ones((4 * H, 1), dtype=x.dtype)
        scale[: 3 * H] = 0.5  # σ(a) = ½ tanh(a/2) + ½ on the o, i, f rows
        wi = xp.roll(w_ih, H, axis=0) * scale  # (4H, I), rows [o, i, f, g]
        whT = xp.ascontiguousarray((xp.roll(w_hh, H, axis=0) * scale).T)  # (H, 4H)
        xs = x[::-1] if reverse else x
        A = (xs.reshape(T * B, I) @ wi.T).reshape(T, B, 4 * H)  # (T·B, I) @ (I, 4H)
        b = _sum_biases(b_ih, b_hh)
        if b is not None:
            A += xp.roll(b, H) * scale[:, 0]
        # HC = [h0, h_1 … h_T, c_T] (processing order), so that without ``reverse`` the output
        # [h_1 … h_T, c_T] is a view of it and not a copy
        HC = xp.empty((T + 2, B, H), dtype=x.dtype)
        Hs = HC[: T + 1]
        Cs = xp.empty((T + 1, B, H), dtype=x.dtype)
        TC = xp.empty((T, B, H), dtype=x.dtype)  # tanh(c_t)
        Hs[0], Cs[0] = h0, c0
        buf = xp.empty((B, 4 * H), dtype=x.dtype)
        ig = xp.empty((B, H), dtype=x.dtype)
        for t in range(T):
            a = A[t]  # (B, 4H): pre-activations, then activations in place
            xp.matmul(Hs[t], whT, out=buf)  # (B, H) @ (H, 4H)
            a += buf
            xp.tanh(a, out=a)
            sig = a[:, : 3 * H]
            sig *= 0.5
            sig += 0.5
            o, i, f, g = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            xp.multiply(f, Cs[t], out=Cs[t + 1])
            xp.multiply(i, g, out=ig)
            Cs[t + 1] += ig
            xp.tanh(Cs[t + 1], out=TC[t])
            xp.multiply(o, TC[t], out=Hs[t + 1])
        HC[T + 1] = Cs[T]
        ctx.A, ctx.Hs, ctx.Cs, ctx.TC = A, Hs, Cs, TC
        if reverse:
            out = xp.empty((T + 1, B, H), dtype=x.dtype)
            out[:T] = Hs[:0:-1]
            out[T] = Cs[T]
        else:
            out = HC[1:]  # (T + 1, B, H)
        # the output may share memory with Hs: saving it makes an in-place change to it an error in backward
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, out)
        return out

    def backward(ctx, dy):
        if autograd.is_grad_enabled():
            reverse = ctx.reverse

            def composed(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
                out, (_, c) = lstm_layer_composed(x, (h0, c0), w_ih, w_hh, b_ih, b_hh, reverse=reverse)
                return cat([out, unsqueeze(c, 0)], dim=0)  # (T + 1, B, H)

            return _backward_by_recompute(ctx, composed, dy)
        xp = ctx.xp
        x, h0, c0, w_ih, w_hh, b_ih, b_hh, _ = (None if t is None else t.data for t in ctx.saved_tensors)
        A, Hs, Cs, TC = ctx.A, ctx.Hs, ctx.Cs, ctx.TC
        T, B, H = TC.shape
        dy = dy.data
        dH = dy[T - 1 :: -1] if ctx.reverse else dy[:T]  # (T, B, H), processing order
        A4 = A.reshape(T, B, 4, H)
        o, i, f, g = A4[:, :, 0], A4[:, :, 1], A4[:, :, 2], A4[:, :, 3]
        # per-step factors for all steps at once, in place (no temporaries of this size):
        # da = [dh ⊙ K_o, dc ⊙ K_i, dc ⊙ K_f, dc ⊙ K_g]
        K = xp.subtract(1, A4)  # (T, B, 4, H)
        K *= A4  # a(1 − a) = σ' on the o, i, f blocks
        K[:, :, 0] *= TC
        K[:, :, 1] *= g
        K[:, :, 2] *= Cs[:-1]
        Kg = K[:, :, 3]
        xp.multiply(g, g, out=Kg)
        xp.subtract(1, Kg, out=Kg)
        Kg *= i
        P = TC * TC  # dc_t += dh_t ⊙ P_t with P = o ⊙ (1 − tanh²c)
        xp.subtract(1, P, out=P)
        P *= o
        wh = xp.roll(w_hh, H, axis=0)  # (4H, H), rows [o, i, f, g]
        dh = xp.zeros((B, H), dtype=A.dtype)
        dc = dy[T].copy()
        for t in range(T - 1, -1, -1):
            dh_t = dH[t] + dh
            dc_t = dh_t * P[t]
            dc_t += dc
            DA_t = K[t]  # K[t] is not needed again: it becomes da_t in place
            DA_t[:, 1:] *= dc_t[:, None, :]
            DA_t[:, 0] *= dh_t
            dc = dc_t * f[t]
            dh = DA_t.reshape(B, 4 * H) @ wh  # (B, 4H) @ (4H, H)
        DA = K
        DA = DA.reshape(T * B, 4 * H)
        need = ctx.needs_input_grad
        dx = dwi = dwh = db = None
        if need[0]:
            dxs = (DA @ xp.roll(w_ih, H, axis=0)).reshape(T, B, -1)  # (T·B, 4H) @ (4H, I)
            dx = xp.ascontiguousarray(dxs[::-1]) if ctx.reverse else dxs
        if need[3]:
            xs = x[::-1] if ctx.reverse else x
            dwi = xp.roll(DA.T @ xs.reshape(T * B, -1), -H, axis=0)  # (4H, T·B) @ (T·B, I)
        if need[4]:
            dwh = xp.roll(DA.T @ Hs[:-1].reshape(T * B, H), -H, axis=0)  # (4H, T·B) @ (T·B, H)
        if need[5] or need[6]:
            db = xp.roll(DA.sum(axis=0), -H)
        return (
            _wrap(dx),
            _wrap(dh) if need[1] else None,
            _wrap(dc) if need[2] else None,
            _wrap(dwi),
            _wrap(dwh),
            _wrap(db) if need[5] else None,
            _wrap(db) if need[6] else None,
        )


class GRUSequence(Function):
    """One GRU layer in one direction over a whole sequence (gate order r, z, n).

    forward: x (T, B, I), h0 (B, H) -> h (T, B, H), h_t at row t (``reverse``: read from
    t = T−1 down to 0). σ is computed as ½ tanh(a/2) + ½ with the ½ folded into the r, z rows.

    Backward (BPTT), t = T−1 … 0, dh = dL/dh_t (output grad + carry), gh_n = h_{t−1} W_hnᵀ + b_hn:
        da_n = dh ⊙ (1 − z) ⊙ (1 − n²)          da_z = dh ⊙ (h_{t−1} − n) ⊙ z(1 − z)
        da_r = da_n ⊙ gh_n ⊙ r(1 − r)
        DX_t = [da_r, da_z, da_n]  (into x W_ihᵀ + b_ih),  DH_t = [da_r, da_z, da_n ⊙ r]  (into gh)
        dh_{t−1} = dh ⊙ z + DH_t W_hh
    then dW_ih = DXᵀ X, db_ih = Σ DX, dW_hh = DHᵀ H_prev, db_hh = Σ DH, dX = DX W_ih.
    """

    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
        xp = ctx.xp
        T, B, I = x.shape
        H = h0.shape[-1]
        ctx.reverse = reverse
        scale = xp.ones((3 * H, 1), dtype=x.dtype)
        scale[: 2 * H] = 0.5  # σ(a) = ½ tanh(a/2) + ½ on the r, z rows
        xs = x[::-1] if reverse else x
        A = (xs.reshape(T * B, I) @ (w_ih * scale).T).reshape(T, B, 3 * H)  # (T·B, I) @ (I, 3H)
        if b_ih is not None:
            A += b_ih * scale[:, 0]
        whT = xp.ascontiguousarray((w_hh * scale).T)  # (H, 3H)
        bh = None if b_hh is None else b_hh * scale[:, 0]
        Hs = xp.empty((T + 1, B, H), dtype=x.dtype)
        GHn = xp.empty((T, B, H), dtype=x.dtype)  # h_{t−1} W_hnᵀ + b_hn
        Hs[0] = h0
        gh = xp.empty((B, 3 * H), dtype=x.dtype)
        tmp = xp.empty((B, H), dtype=x.dtype)
        for t in range(T):
            a = A[t]
            xp.matmul(Hs[t], whT, out=gh)  # (B, H) @ (H, 3H)
            if bh is not None:
                gh += bh
            rz = a[:, : 2 * H]
            rz += gh[:, : 2 * H]
            xp.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
            GHn[t] = gh[:, 2 * H :]
            xp.multiply(r, GHn[t], out=tmp)
            n += tmp
            xp.tanh(n, out=n)
            xp.subtract(Hs[t], n, out=tmp)
            tmp *= z
            xp.add(n, tmp, out=Hs[t + 1])  # h' = n + z ⊙ (h − n)
        ctx.A, ctx.Hs, ctx.GHn = A, Hs, GHn
        out = Hs[:0:-1].copy() if reverse else Hs[1:]  # (T, B, H)
        # the output shares memory with Hs: saving it makes an in-place change to it an error in backward
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, out)
        return out

    def backward(ctx, dy):
        if autograd.is_grad_enabled():
            reverse = ctx.reverse

            def composed(x, h0, w_ih, w_hh, b_ih, b_hh):
                return gru_layer_composed(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=reverse)[0]

            return _backward_by_recompute(ctx, composed, dy)
        xp = ctx.xp
        x, h0, w_ih, w_hh, b_ih, b_hh, _ = (None if t is None else t.data for t in ctx.saved_tensors)
        A, Hs, GHn = ctx.A, ctx.Hs, ctx.GHn
        T, B, H = GHn.shape
        dy = dy.data
        dH = dy[::-1] if ctx.reverse else dy
        r, z, n = A[..., :H], A[..., H : 2 * H], A[..., 2 * H :]
        # per-step factors for all steps, built in place: da_n = dh ⊙ Dn, da_z = dh ⊙ Kz, da_r = da_n ⊙ Kr
        one_minus_z = xp.subtract(1, z)
        Dn = n * n
        xp.subtract(1, Dn, out=Dn)
        Dn *= one_minus_z
        Kz = Hs[:-1] - n
        Kz *= z
        Kz *= one_minus_z
        Kr = xp.subtract(1, r)
        Kr *= r
        Kr *= GHn
        DX = xp.empty((T, B, 3, H), dtype=A.dtype)
        DH = xp.empty((T, B, 3, H), dtype=A.dtype)
        dh = xp.zeros((B, H), dtype=A.dtype)
        for t in range(T - 1, -1, -1):
            dh_t = dH[t] + dh
            dan = DX[t, :, 2]
            xp.multiply(dh_t, Dn[t], out=dan)
            xp.multiply(dan, Kr[t], out=DX[t, :, 0])
            xp.multiply(dh_t, Kz[t], out=DX[t, :, 1])
            DH[t, :, :2] = DX[t, :, :2]
            xp.multiply(dan, r[t], out=DH[t, :, 2])
            dh = dh_t * z[t]
            dh += DH[t].reshape(B, 3 * H) @ w_hh  # (B, 3H) @ (3H, H)
        DX = DX.reshape(T * B, 3 * H)
        DH = DH.reshape(T * B, 3 * H)
        need = ctx.needs_input_grad
        dx = None
        if need[0]:
            dxs = (DX @ w_ih).reshape(T, B, -1)  # (T·B, 3H) @ (3H, I)
            dx = xp.ascontiguousarray(dxs[::-1]) if ctx.reverse else dxs
        xs = x[::-1] if ctx.reverse else x
        return (
            _wrap(dx),
            _wrap(dh) if need[1] else None,
            _wrap(DX.T @ xs.reshape(T * B, -1)) if need[2] else None,  # (3H, T·B) @ (T·B, I)
            _wrap(DH.T @ Hs[:-1].reshape(T * B, H)) if need[3] else None,  # (3H, T·B) @ (T·B, H)
            _wrap(DX.sum(axis=0)) if need[4] else None,
            _wrap(DH.sum(axis=0)) if need[5] else None,
        )


class RNNSequence(Function):
    """One Elman RNN layer in one direction: h_t = f(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh),
    f = tanh or relu.        x (T, B, I), h0 (B, H) -> h (T, B, H), h_t at row t.

    Backward (BPTT), t = T−1 … 0:  da_t = (dL/dh_t + carry) ⊙ f'(a_t)  (f' = 1 − h_t² or [h_t > 0]),
    carry = da_t W_hh;  then dW_ih = DAᵀ X, dW_hh = DAᵀ H_prev, db_ih = db_hh = Σ DA, dX = DA W_ih.
    """

    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", reverse=False):
        xp = ctx.xp
        T, B, I = x.shape
        H = h0.shape[-1]
        ctx.reverse, ctx.nonlinearity = reverse, nonlinearity
        xs = x[::-1] if reverse else x
        A = (xs.reshape(T * B, I) @ w_ih.T).reshape(T, B, H)  # (T·B, I) @ (I, H); becomes h_t in place
        b = _sum_biases(b_ih, b_hh)
        if b is not None:
            A += b
        whT = xp.ascontiguousarray(w_hh.T)  # (H, H)
        buf = xp.empty((B, H), dtype=x.dtype)
        for t in range(T):
            xp.matmul(h0 if t == 0 else A[t - 1], whT, out=buf)  # (B, H) @ (H, H)
            A[t] += buf
            if nonlinearity == "tanh":
                xp.tanh(A[t], out=A[t])
            else:
                xp.maximum(A[t], 0, out=A[t])
        ctx.A = A
        out = A[::-1].copy() if reverse else A  # (T, B, H)
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, out)  # as in GRUSequence: guards A
        return out

    def backward(ctx, dy):
        if autograd.is_grad_enabled():
            reverse, nonlinearity = ctx.reverse, ctx.nonlinearity

            def composed(x, h0, w_ih, w_hh, b_ih, b_hh):
                return rnn_layer_composed(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity, reverse=reverse)[0]

            return _backward_by_recompute(ctx, composed, dy)
        xp = ctx.xp
        x, h0, w_ih, w_hh, b_ih, b_hh, _ = (None if t is None else t.data for t in ctx.saved_tensors)
        A = ctx.A
        T, B, H = A.shape
        dy = dy.data
        dH = dy[::-1] if ctx.reverse else dy
        D = 1 - A * A if ctx.nonlinearity == "tanh" else (A > 0).astype(A.dtype)
        DA = xp.empty((T, B, H), dtype=A.dtype)
        dh = xp.zeros((B, H), dtype=A.dtype)
        for t in range(T - 1, -1, -1):
            dh_t = dH[t] + dh
            xp.multiply(dh_t, D[t], out=DA[t])
            dh = DA[t] @ w_hh  # (B, H) @ (H, H)
        DA = DA.reshape(T * B, H)
        need = ctx.needs_input_grad
        dx = dwi = dwh = db = None
        if need[0]:
            dxs = (DA @ w_ih).reshape(T, B, -1)  # (T·B, H) @ (H, I)
            dx = xp.ascontiguousarray(dxs[::-1]) if ctx.reverse else dxs
        if need[2]:
            xs = x[::-1] if ctx.reverse else x
            dwi = DA.T @ xs.reshape(T * B, -1)  # (H, T·B) @ (T·B, I)
        if need[3]:
            h_prev = xp.concatenate([h0[None], A[:-1]], axis=0).reshape(T * B, H)  # (T·B, H)
            dwh = DA.T @ h_prev  # (H, T·B) @ (T·B, H)
        if need[4] or need[5]:
            db = DA.sum(axis=0)
        return (
            _wrap(dx),
            _wrap(dh) if need[1] else None,
            _wrap(dwi),
            _wrap(dwh),
            _wrap(db) if need[4] else None,
            _wrap(db) if need[5] else None,
        )


# ---- one layer, one direction: fused and composed -----------------------------------------


def _check_layer(op, gates, input, hs, w_ih, w_hh, b_ih, b_hh):
    if input.ndim != 3:
        raise ValueError(f"{op}: input must be 3-D (seq_len, batch, input_size), got shape {input.shape}")
    if input.shape[0] == 0:
        raise ValueError(f"{op}: the sequence is empty (input of shape {input.shape})")
    cx = hs[1] if len(hs) > 1 else None
    _check_cell(op, gates, input, hs[0], w_ih, w_hh, b_ih, b_hh, cx=cx, step_shape=input.shape[1:])


def _time_steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def lstm_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One LSTM layer over a sequence, fused (``LSTMSequence``).

    input (T, B, I), hx = (h0, c0) each (B, H) -> (output (T, B, H), (h_T, c_T) each (B, H)).
    ``reverse``: read the sequence backwards (the second direction of a bidirectional layer);
    output[t] is still the state at time t and (h_T, c_T) the state after reading t = 0."""
    h0, c0 = hx
    _check_layer("lstm_layer", 4, input, (h0, c0), w_ih, w_hh, b_ih, b_hh)
    if c0 is h0:
        c0 = c0.clone()  # two distinct inputs, so each gets its own gradient
    T = input.shape[0]
    packed = LSTMSequence.apply(input, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=reverse)  # (T + 1, B, H)
    return packed[:T], (packed[0 if reverse else T - 1], packed[T])


def lstm_layer_composed(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """``lstm_layer`` cell by cell with ``lstm_cell_composed`` (the reference)."""
    h, c = hx
    _check_layer("lstm_layer", 4, input, (h, c), w_ih, w_hh, b_ih, b_hh)
    outs = [None] * input.shape[0]
    for t in _time_steps(input.shape[0], reverse):
        h, c = lstm_cell_composed(input[t], (h, c), w_ih, w_hh, b_ih, b_hh)
        outs[t] = h
    return stack(outs, dim=0), (h, c)  # (T, B, H)


def gru_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One GRU layer over a sequence, fused (``GRUSequence``).
    input (T, B, I), hx (B, H) -> (output (T, B, H), h_T (B, H))."""
    _check_layer("gru_layer", 3, input, (hx,), w_ih, w_hh, b_ih, b_hh)
    out = GRUSequence.apply(input, hx, w_ih, w_hh, b_ih, b_hh, reverse=reverse)  # (T, B, H)
    return out, out[0 if reverse else input.shape[0] - 1]


def gru_layer_composed(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """``gru_layer`` cell by cell with ``gru_cell`` (the reference)."""
    _check_layer("gru_layer", 3, input, (hx,), w_ih, w_hh, b_ih, b_hh)
    h, outs = hx, [None] * input.shape[0]
    for t in _time_steps(input.shape[0], reverse):
        h = gru_cell(input[t], h, w_ih, w_hh, b_ih, b_hh)
        outs[t] = h
    return stack(outs, dim=0), h


def _check_nonlinearity(op, nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{op}: unknown nonlinearity {nonlinearity!r} (expected 'tanh' or 'relu')")


def rnn_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", reverse=False):
    """One Elman RNN layer over a sequence, fused (``RNNSequence``).
    input (T, B, I), hx (B, H) -> (output (T, B, H), h_T (B, H))."""
    _check_nonlinearity("rnn_layer", nonlinearity)
    _check_layer("rnn_layer", 1, input, (hx,), w_ih, w_hh, b_ih, b_hh)
    out = RNNSequence.apply(input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity, reverse=reverse)
    return out, out[0 if reverse else input.shape[0] - 1]


def rnn_layer_composed(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", reverse=False):
    """``rnn_layer`` cell by cell with ``rnn_tanh_cell`` / ``rnn_relu_cell`` (the reference)."""
    _check_nonlinearity("rnn_layer", nonlinearity)
    _check_layer("rnn_layer", 1, input, (hx,), w_ih, w_hh, b_ih, b_hh)
    cell = rnn_tanh_cell if nonlinearity == "tanh" else rnn_relu_cell
    h, outs = hx, [None] * input.shape[0]
    for t in _time_steps(input.shape[0], reverse):
        h = cell(input[t], h, w_ih, w_hh, b_ih, b_hh)
        outs[t] = h
    return stack(outs, dim=0), h


# ---- stacked, bidirectional sequences (what nn.RNN / nn.LSTM / nn.GRU call) ----------------


def _run_layers(op, layer, n_states, input, hx, params, has_biases, num_layers, dropout, training,
                bidirectional, batch_first):
    """Run ``layer`` over ``num_layers`` × directions. ``hx``: None or a tuple of ``n_states``
    tensors each (num_layers · D, B, H). Returns (output, tuple of final states (L · D, B, H))."""
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
    x = transpose(input, 0, 1) if batch_first else input  # (B, T, I) -> (T, B, I)
    B = x.shape[1]
    H = params[1].shape[1]
    expected = (num_layers * D, B, H)
    if hx is not None:
        for k, s in enumerate(hx):
            if tuple(s.shape) != expected:
                which = f"hx[{k}]" if n_states > 1 else "hx"
                raise ValueError(f"{op}: expected {which} of shape {expected}, got {tuple(s.shape)}")
    xp = backend.get_array_module(x.data)
    finals = [[] for _ in range(n_states)]
    for layer_index in range(num_layers):
        outs = []
        for d in range(D):
            k = layer_index * D + d
            w = params[k * per : (k + 1) * per]
            w_ih, w_hh = w[0], w[1]
            b_ih, b_hh = (w[2], w[3]) if has_biases else (None, None)
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
    return output, tuple(stack(f, dim=0) for f in finals)


def lstm(input, hx, params, has_biases=True, num_layers=1, dropout=0.0, training=True, bidirectional=False,
         batch_first=False, fused=True):
    """A stacked (and optionally bidirectional) LSTM over a whole sequence, as ``nn.LSTM``.

    input: (T, B, I), or (B, T, I) with ``batch_first``.
    hx: None (zeros) or (h0, c0), each (num_layers · D, B, H), D = 2 if bidirectional else 1;
        row k = layer · D + direction.
    params: flat list in PyTorch's order — for each layer, for each direction:
        w_ih (4H, I_layer), w_hh (4H, H), then b_ih, b_hh (4H,) if ``has_biases``;
        I_layer = I for layer 0, D·H above.
    dropout: probability of zeroing the outputs of each layer but the last, only when ``training``.
    fused: True runs each layer and direction as one ``LSTMSequence`` Function; False runs
        ``lstm_cell_composed`` step by step (slower; the reference).
    Returns (output (T, B, D·H) (or (B, T, D·H)), (h_n, c_n) each (num_layers · D, B, H)).
    Direction 1 reads the sequence backwards; its output at t is concatenated after direction 0's.
    """
    layer_fn = lstm_layer if fused else lstm_layer_composed

    def layer(x, init, w_ih, w_hh, b_ih, b_hh, reverse):
        out, (h, c) = layer_fn(x, init, w_ih, w_hh, b_ih, b_hh, reverse=reverse)
        return out, (h, c)

    if hx is not None:
        hx = tuple(hx)
        if len(hx) != 2:
            raise ValueError(f"lstm: hx must be a pair (h0, c0), got {len(hx)} tensors")
    output, (h_n, c_n) = _run_layers("lstm", layer, 2, input, hx, params, has_biases, num_layers, dropout,
                                     training, bidirectional, batch_first)
    return output, (h_n, c_n)


def gru(input, hx, params, has_biases=True, num_layers=1, dropout=0.0, training=True, bidirectional=False,
        batch_first=False, fused=True):
    """A stacked (optionally bidirectional) GRU, as ``nn.GRU``. Arguments as for ``lstm`` with
    3H-row weights and ``hx`` a single tensor (num_layers · D, B, H) or None.
    Returns (output, h_n)."""
    layer_fn = gru_layer if fused else gru_layer_composed

    def layer(x, init, w_ih, w_hh, b_ih, b_hh, reverse):
        out, h = layer_fn(x, init[0], w_ih, w_hh, b_ih, b_hh, reverse=reverse)
        return out, (h,)

    output, (h_n,) = _run_layers("gru", layer, 1, input, None if hx is None else (hx,), params, has_biases,
                                 num_layers, dropout, training, bidirectional, batch_first)
    return output, h_n


def _rnn(op, nonlinearity, input, hx, params, has_biases, num_layers, dropout, training, bidirectional,
         batch_first, fused):
    layer_fn = rnn_layer if fused else rnn_layer_composed

    def layer(x, init, w_ih, w_hh, b_ih, b_hh, reverse):
        out, h = layer_fn(x, init[0], w_ih, w_hh, b_ih, b_hh, nonlinearity, reverse=reverse)
        return out, (h,)

    output, (h_n,) = _run_layers(op, layer, 1, input, None if hx is None else (hx,), params, has_biases,
                                 num_layers, dropout, training, bidirectional, batch_first)
    return output, h_n


def rnn_tanh(input, hx, params, has_biases=True, num_layers=1, dropout=0.0, training=True, bidirectional=False,
             batch_first=False, fused=True):
    """A stacked (optionally bidirectional) Elman RNN with tanh, as ``nn.RNN``. Arguments as for
    ``lstm`` with H-row weights and ``hx`` one tensor (num_layers · D, B, H) or None.
    Returns (output, h_n)."""
    return _rnn("rnn_tanh", "tanh", input, hx, params, has_biases, num_layers, dropout, training, bidirectional,
                batch_first, fused)


def rnn_relu(input, hx, params, has_biases=True, num_layers=1, dropout=0.0, training=True, bidirectional=False,
             batch_first=False, fused=True):
    """As ``rnn_tanh`` with h_t = relu(·)."""
    return _rnn("rnn_relu", "relu", input, hx, params, has_biases, num_layers, dropout, training, bidirectional,
                batch_first, fused)


__all__ = [
    "GRUSequence",
    "LSTMSequence",
    "RNNSequence",
    "cell_gates_concatenated",
    "cell_gates_split",
    "concat_cell_weights",
    "gru",
    "gru_cell",
    "gru_cell_composed",
    "gru_layer",
    "gru_layer_composed",
    "lstm",
    "lstm_cell",
    "lstm_cell_composed",
    "lstm_layer",
    "lstm_layer_composed",
    "rnn_layer",
    "rnn_layer_composed",
    "rnn_relu",
    "rnn_relu_cell",
    "rnn_tanh",
    "rnn_tanh_cell",
]
