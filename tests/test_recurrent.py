"""Recurrent cells, layers and modules: one spec table of cells and one of layers, a property
test over each (forward against NumPy, gradcheck and gradgradcheck in float64, inputs not
mutated, gradient shapes); the concatenated form W [h, x] + b equals the split form; nn.RNN,
LSTM, GRU and the cells against PyTorch (outputs, final states and the gradients of every
parameter, the input and the initial state) after loading the torch module's state_dict;
dropout between layers only in training; errors that name the shapes. Everything here holds
for the kernels and for the references (``MINIDL_REFERENCE=1``); that the kernels equal the
references is tests/test_kernels_recurrent.py."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import nn
from minidl.testing import assert_close, assert_gradients_match, assert_not_mutated, tensors


# ---- NumPy references -----------------------------------------------------------------------
def np_sigmoid(a):
    return 1 / (1 + np.exp(-a))


def np_rnn_tanh(x, h, w_ih, w_hh, b_ih, b_hh):
    return np.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)


def np_rnn_relu(x, h, w_ih, w_hh, b_ih, b_hh):
    return np.maximum(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 0)


def np_lstm(x, hc, w_ih, w_hh, b_ih, b_hh):
    h, c = hc
    H = h.shape[1]
    a = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    i, f, o = np_sigmoid(a[:, :H]), np_sigmoid(a[:, H : 2 * H]), np_sigmoid(a[:, 3 * H :])
    g = np.tanh(a[:, 2 * H : 3 * H])
    c = f * c + i * g
    return o * np.tanh(c), c


def np_gru(x, h, w_ih, w_hh, b_ih, b_hh):
    H = h.shape[1]
    gx, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    r = np_sigmoid(gx[:, :H] + gh[:, :H])
    z = np_sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
    n = np.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
    return (1 - z) * n + z * h


def np_layer(cell, x, state, weights, reverse=False):
    """Run a NumPy cell over x (T, B, I); returns (outputs (T, B, H), final state)."""
    T = x.shape[0]
    outs = [None] * T
    for t in range(T - 1, -1, -1) if reverse else range(T):
        state = cell(x[t], state, *weights)
        outs[t] = state[0] if isinstance(state, tuple) else state
    return np.stack(outs), state


# ---- the spec table -------------------------------------------------------------------------
@dataclass(frozen=True)
class CellSpec:
    gates: int
    fn: Callable  # minidl cell: fn(x, hx, w_ih, w_hh, b_ih, b_hh)
    ref: Callable  # NumPy cell, same arguments
    lstm: bool = False  # hx is (h, c) and the result is (h', c')
    relu: bool = False  # keep pre-activations away from the kink


CELLS = {
    "rnn_tanh_cell": CellSpec(1, F.rnn_tanh_cell, np_rnn_tanh),
    "rnn_relu_cell": CellSpec(1, F.rnn_relu_cell, np_rnn_relu, relu=True),
    "lstm_cell": CellSpec(4, F.lstm_cell, np_lstm, lstm=True),
    "gru_cell": CellSpec(3, F.gru_cell, np_gru),
}

small = st.integers(1, 3)


def draw_weights(data, gates, I, H, bias=True):
    t = lambda *s: data.draw(tensors(shape=s, low=-1.0, high=1.0))  # noqa: E731
    w = [t(gates * H, I), t(gates * H, H)]
    return w + ([t(gates * H), t(gates * H)] if bias else [None, None])


def arrays(ts):
    return [None if t is None else t.array for t in ts]


@given(name=st.sampled_from(sorted(CELLS)), B=small, I=small, H=st.integers(1, 2), bias=st.booleans(), data=st.data())
@settings(max_examples=20)
def test_cells(name, B, I, H, bias, data):
    spec = CELLS[name]
    x = data.draw(tensors(shape=(B, I)))
    h = data.draw(tensors(shape=(B, H), low=-1.0, high=1.0))
    c = data.draw(tensors(shape=(B, H))) if spec.lstm else None
    w = draw_weights(data, spec.gates, I, H, bias)
    if spec.relu:
        pre = x.array @ w[0].array.T + h.array @ w[1].array.T + (w[2].array + w[3].array if bias else 0)
        assume(np.abs(pre).min() > 1e-3)
    np_w = [a if a is not None else np.zeros(spec.gates * H) for a in arrays(w)]
    expected = spec.ref(x.array, (h.array, c.array) if spec.lstm else h.array, *np_w)

    def run(*args):
        xx, hh, *rest = args
        if spec.lstm:
            cc, *ws = rest
            return spec.fn(xx, (hh, cc), *ws, *([None, None] if not bias else []))
        return spec.fn(xx, hh, *rest, *([None, None] if not bias else []))

    inputs = [x, h] + ([c] if spec.lstm else []) + [t for t in w if t is not None]
    out = assert_not_mutated(run, *inputs)
    outs = out if spec.lstm else (out,)
    refs = expected if spec.lstm else (expected,)
    for o, e in zip(outs, refs):
        assert_close(o, e, rtol=1e-10, atol=1e-12)
    total = sum((o * o).sum() for o in outs)
    total.backward()
    for t in inputs:
        assert t.grad is not None and t.grad.shape == t.shape
    assert_gradients_match(run, *inputs)


# ---- the concatenated form W [h, x] + b equals the split form ------------------------------
@given(G=st.sampled_from([1, 3, 4]), B=small, I=small, H=small, data=st.data())
@settings(max_examples=10)
def test_concatenated_equals_split(G, B, I, H, data):
    x = data.draw(tensors(shape=(B, I)))
    h = data.draw(tensors(shape=(B, H)))
    w_ih, w_hh, b_ih, b_hh = draw_weights(data, G, I, H)
    W, b = F.concat_cell_weights(w_ih, w_hh, b_ih, b_hh)
    assert W.shape == (G * H, H + I) and b.shape == (G * H,)
    assert_close(W[:, :H], w_hh.array)  # W = [W_hh | W_ih]
    assert_close(W[:, H:], w_ih.array)
    concatenated = F.cell_gates_concatenated(x, h, W, b)
    split = F.cell_gates_split(x, h, w_ih, w_hh, b_ih, b_hh)
    assert_close(concatenated, split, rtol=1e-12, atol=1e-12)
    # and their gradients agree, with respect to the split weights through W and b
    (concatenated * concatenated).sum().backward()
    grads = [t.grad.array.copy() for t in (x, h, w_ih, w_hh, b_ih, b_hh)]
    for t in (x, h, w_ih, w_hh, b_ih, b_hh):
        t.grad = None
    (split * split).sum().backward()
    for g, t in zip(grads, (x, h, w_ih, w_hh, b_ih, b_hh)):
        assert_close(g, t.grad, rtol=1e-12, atol=1e-12)
    if G == 1:  # an Elman cell written in the concatenated form is rnn_tanh_cell
        assert_close(F.tanh(concatenated), F.rnn_tanh_cell(x, h, w_ih, w_hh, b_ih, b_hh), rtol=1e-12)


# ---- one layer over a sequence ---------------------------------------------------------------
LAYERS = {  # name: (gates, layer function, lstm)
    "lstm": (4, F.lstm_layer, True),
    "gru": (3, F.gru_layer, False),
    "rnn_tanh": (1, F.rnn_layer, False),
    "rnn_relu": (1, lambda *a, **k: F.rnn_layer(*a, nonlinearity="relu", **k), False),
}
NP_CELL = {"lstm": np_lstm, "gru": np_gru, "rnn_tanh": np_rnn_tanh, "rnn_relu": np_rnn_relu}


def _layer_outputs(fn, lstm, x, states, w, reverse):
    """All outputs of a layer as a tuple: (output, h_T) or (output, h_T, c_T)."""
    if lstm:
        out, (h, c) = fn(x, tuple(states), *w, reverse=reverse)
        return out, h, c
    out, h = fn(x, states[0], *w, reverse=reverse)
    return out, h


@given(name=st.sampled_from(sorted(LAYERS)), T=st.integers(1, 4), B=small, I=small, H=st.integers(1, 3),
       reverse=st.booleans(), bias=st.booleans(), data=st.data())
@settings(max_examples=20)
def test_layers_match_numpy(name, T, B, I, H, reverse, bias, data):
    gates, fn, lstm = LAYERS[name]
    x = data.draw(tensors(shape=(T, B, I)))
    states = [data.draw(tensors(shape=(B, H), low=-1.0, high=1.0)) for _ in range(2 if lstm else 1)]
    w = draw_weights(data, gates, I, H, bias)
    np_w = [a if a is not None else np.zeros(gates * H) for a in arrays(w)]
    np_states = tuple(s.array for s in states) if lstm else states[0].array
    expected_out, expected_state = np_layer(NP_CELL[name], x.array, np_states, np_w, reverse)
    outs = assert_not_mutated(lambda *ts: _layer_outputs(fn, lstm, ts[0], ts[1:], w, reverse), x, *states)
    assert_close(outs[0], expected_out, rtol=1e-10, atol=1e-12, what="output vs NumPy")
    for got, want in zip(outs[1:], expected_state if lstm else (expected_state,)):
        assert_close(got, want, rtol=1e-10, atol=1e-12, what="final state vs NumPy")
    leaves = [x, *states, *[t for t in w if t is not None]]
    upstream = [np.random.default_rng(0).standard_normal(o.shape) for o in outs]
    sum((o * minidl.tensor(g)).sum() for o, g in zip(outs, upstream)).backward()
    for t in leaves:
        assert t.grad is not None and t.grad.shape == t.shape


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradcheck_and_gradgradcheck(name):
    gates, fn, lstm = LAYERS[name]
    rng = np.random.default_rng(3)
    T, B, I, H = 3, 2, 2, 2
    t = lambda *s: minidl.tensor(rng.uniform(-1, 1, s), dtype="float64", requires_grad=True)  # noqa: E731
    x, states = t(T, B, I), [t(B, H) for _ in range(2 if lstm else 1)]
    w = [t(gates * H, I), t(gates * H, H), t(gates * H), t(gates * H)]
    n = len(states)
    for reverse in (False, True):

        def f(x, *rest, reverse=reverse):
            return _layer_outputs(fn, lstm, x, rest[:n], rest[n:], reverse)

        assert_gradients_match(f, x, *states, *w)


def test_double_backward_reaches_through_non_leaf_inputs():
    """Second derivatives through a layer whose inputs are themselves computed (the graph before
    the layer stays connected), with one leaf behind both initial states."""
    rng = np.random.default_rng(4)
    t = lambda *s: minidl.tensor(rng.uniform(-1, 1, s), dtype="float64", requires_grad=True)  # noqa: E731
    x, s, w_ih, w_hh, b = t(3, 2, 2), t(2, 2), t(8, 2), t(8, 2), t(8)

    def f(x, s, w_ih, w_hh, b):
        h0, c0 = F.tanh(s * 2.0), s * s  # non-leaf initial states (and the same leaf behind both)
        out, (h, c) = F.lstm_layer(F.sin(x), (h0, c0), w_ih * 1.0, w_hh, b, None)
        return out, c

    assert_gradients_match(f, x, s, w_ih, w_hh, b)
    assert x.grad_fn is None and s.grad_fn is None  # leaves stay leaves


def test_one_tensor_in_two_places():
    """The same tensor as both biases, or as h0 and c0, gets the sum of both gradients."""
    rng = np.random.default_rng(6)
    t = lambda *s: minidl.tensor(rng.uniform(-1, 1, s), dtype="float64", requires_grad=True)  # noqa: E731
    x, s, w_ih, w_hh, b = t(3, 2, 2), t(2, 2), t(8, 2), t(8, 2), t(8)

    def f(x, s, w_ih, w_hh, b):
        out, (h, c) = F.lstm_layer(x, (s, s), w_ih, w_hh, b, b)
        return out, c

    assert_gradients_match(f, x, s, w_ih, w_hh, b)
    (gs, gb) = minidl.grad(sum(o.sum() for o in f(x, s, w_ih, w_hh, b)), [s, b])
    s2, b2 = s.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    out, (_, c) = F.lstm_layer(x, (s, s2), w_ih, w_hh, b, b2)
    g = minidl.grad(out.sum() + c.sum(), [s, s2, b, b2])
    assert_close(gs, g[0] + g[1], rtol=1e-12)
    assert_close(gb, g[2] + g[3], rtol=1e-12)


# ---- modules ---------------------------------------------------------------------------------
torch_cache = {}


def _torch():
    if "torch" not in torch_cache:
        torch_cache["torch"] = pytest.importorskip("torch")
    return torch_cache["torch"]


MODULES = {  # mode: (minidl class, kwargs, torch class name)
    "rnn_tanh": (nn.RNN, {}, "RNN"),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}, "RNN"),
    "lstm": (nn.LSTM, {}, "LSTM"),
    "gru": (nn.GRU, {}, "GRU"),
}


def _pair(torch, mode, I, H, dtype="float64", **kw):
    cls, extra, torch_name = MODULES[mode]
    tm = getattr(torch.nn, torch_name)(I, H, **extra, **kw)
    m = cls(I, H, **extra, **kw)
    if dtype == "float64":
        tm, m = tm.double(), m.double()
    m.load_state_dict(tm.state_dict())
    return m, tm


def _to_torch(torch, t, requires_grad=True):
    return torch.tensor(t.array, requires_grad=requires_grad)


@given(
    mode=st.sampled_from(sorted(MODULES)),
    T=st.integers(1, 3),
    B=st.integers(1, 2),
    I=st.integers(1, 3),
    H=st.integers(1, 3),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    bias=st.booleans(),
    give_hx=st.booleans(),
    batched=st.booleans(),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=30)
def test_modules_match_torch(mode, T, B, I, H, num_layers, bidirectional, batch_first, bias, give_hx, batched,
                             seed):
    torch = _torch()
    torch.manual_seed(seed)
    m, tm = _pair(torch, mode, I, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                  bias=bias)
    rng = np.random.default_rng(seed)
    D = 2 if bidirectional else 1
    shape = ((B, T, I) if batch_first else (T, B, I)) if batched else (T, I)
    x = minidl.tensor(rng.standard_normal(shape), dtype="float64", requires_grad=True)
    state_shape = (num_layers * D, B, H) if batched else (num_layers * D, H)
    n_states = 2 if mode == "lstm" else 1
    states = [minidl.tensor(rng.standard_normal(state_shape), dtype="float64", requires_grad=True)
              for _ in range(n_states)] if give_hx else []
    hx = None if not give_hx else (tuple(states) if mode == "lstm" else states[0])
    tx = _to_torch(torch, x)
    tstates = [_to_torch(torch, s) for s in states]
    thx = None if not give_hx else (tuple(tstates) if mode == "lstm" else tstates[0])

    out, final = m(x, hx)
    tout, tfinal = tm(tx, thx)
    finals = final if mode == "lstm" else (final,)
    tfinals = tfinal if mode == "lstm" else (tfinal,)
    assert_close(out, tout, rtol=1e-9, atol=1e-10, what="output")
    for f, tf in zip(finals, tfinals):
        assert_close(f, tf, rtol=1e-9, atol=1e-10, what="final state")

    upstream = [rng.standard_normal(tuple(o.shape)) for o in (out, *finals)]
    loss = sum((o * minidl.tensor(g)).sum() for o, g in zip((out, *finals), upstream))
    tloss = sum((o * torch.tensor(g)).sum() for o, g in zip((tout, *tfinals), upstream))
    loss.backward()
    tloss.backward()
    assert_close(x.grad, tx.grad, rtol=1e-8, atol=1e-10, what="input gradient")
    for s, ts in zip(states, tstates):
        assert_close(s.grad, ts.grad, rtol=1e-8, atol=1e-10, what="initial state gradient")
    tparams = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        assert p.grad.shape == p.shape
        assert_close(p.grad, tparams[name].grad, rtol=1e-8, atol=1e-10, what=f"gradient of {name}")


@pytest.mark.parametrize("mode", sorted(MODULES))
def test_torch_state_dict_loads_unchanged(mode):
    torch = _torch()
    torch.manual_seed(0)
    cls, extra, torch_name = MODULES[mode]
    tm = getattr(torch.nn, torch_name)(3, 4, num_layers=2, bidirectional=True, **extra)
    m = cls(3, 4, num_layers=2, bidirectional=True, **extra)
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in tm.named_parameters()
    ]
    m.load_state_dict(tm.state_dict())  # float32 torch tensors, strict
    x = torch.randn(5, 2, 3)
    out, final = m(minidl.tensor(x.numpy()))
    tout, tfinal = tm(x)
    assert out.dtype == minidl.float32
    assert_close(out, tout, rtol=1e-5, atol=1e-6)
    for a, b in zip(final if mode == "lstm" else (final,), tfinal if mode == "lstm" else (tfinal,)):
        assert_close(a, b, rtol=1e-5, atol=1e-6)


CELL_MODULES = {"RNNCell": {}, "RNNCell_relu": {"nonlinearity": "relu"}, "LSTMCell": {}, "GRUCell": {}}


@pytest.mark.parametrize("name", sorted(CELL_MODULES))
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("give_hx", [True, False])
def test_cell_modules_match_torch(name, batched, give_hx):
    torch = _torch()
    torch.manual_seed(1)
    cls_name = name.split("_")[0]
    kw = CELL_MODULES[name]
    tm = getattr(torch.nn, cls_name)(3, 4, **kw).double()
    m = getattr(nn, cls_name)(3, 4, **kw).double()
    m.load_state_dict(tm.state_dict())
    lstm = cls_name == "LSTMCell"
    rng = np.random.default_rng(2)
    lead = (2,) if batched else ()
    x = minidl.tensor(rng.standard_normal(lead + (3,)), dtype="float64", requires_grad=True)
    states = [minidl.tensor(rng.standard_normal(lead + (4,)), dtype="float64", requires_grad=True)
              for _ in range(2 if lstm else 1)] if give_hx else []
    tx, tstates = _to_torch(torch, x), [_to_torch(torch, s) for s in states]
    hx = (tuple(states) if lstm else states[0]) if give_hx else None
    thx = (tuple(tstates) if lstm else tstates[0]) if give_hx else None
    outs, touts = m(x, hx), tm(tx, thx)
    outs, touts = (outs, touts) if lstm else ((outs,), (touts,))
    for o, to in zip(outs, touts):
        assert_close(o, to, rtol=1e-10, atol=1e-12)
    sum((o * o).sum() for o in outs).backward()
    sum((o * o).sum() for o in touts).backward()
    assert_close(x.grad, tx.grad, rtol=1e-9, atol=1e-11)
    for s, ts in zip(states, tstates):
        assert_close(s.grad, ts.grad, rtol=1e-9, atol=1e-11)
    tparams = dict(tm.named_parameters())
    for pname, p in m.named_parameters():
        assert_close(p.grad, tparams[pname].grad, rtol=1e-9, atol=1e-11, what=pname)


def test_default_initialisation_and_repr():
    for cls, G in ((nn.RNN, 1), (nn.LSTM, 4), (nn.GRU, 3)):
        m = cls(5, 16, num_layers=2, bidirectional=True, bias=True)
        k = 1 / math.sqrt(16)
        for p in m.parameters():
            assert p.shape[0] == G * 16
            assert float(p.array.min()) >= -k and float(p.array.max()) <= k
            assert float(p.array.max() - p.array.min()) > k  # spread over the range, not constant
        assert m.weight_ih_l1.shape == (G * 16, 32) and m.weight_ih_l0_reverse.shape == (G * 16, 5)
    assert repr(nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)) == (
        "LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)"
    )
    assert repr(nn.GRUCell(3, 4, bias=False)) == "GRUCell(3, 4, bias=False)"
    assert [n for n, _ in nn.RNN(2, 3, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]


# ---- dropout between layers -------------------------------------------------------------------
@pytest.mark.parametrize("mode", sorted(MODULES))
def test_dropout_acts_between_layers_and_only_in_training(mode):
    cls, extra, _ = MODULES[mode]
    minidl.manual_seed(0)
    m = cls(3, 4, num_layers=2, dropout=0.5, **extra).double()
    x = minidl.tensor(np.random.default_rng(0).standard_normal((6, 2, 3)), dtype="float64")
    m.eval()
    out_eval, final_eval = m(x)
    again, _ = m(x)
    assert_close(again, out_eval)  # deterministic in eval mode
    m.train()
    out_train, final_train = m(x)
    assert not np.allclose(out_train.array, out_eval.array)  # the second layer saw dropped inputs
    f_eval = final_eval if mode == "lstm" else (final_eval,)
    f_train = final_train if mode == "lstm" else (final_train,)
    for a, b in zip(f_train, f_eval):
        assert_close(a[0], b[0])  # the first layer's state is untouched by dropout
    # dropout = 1: the second layer sees zeros, i.e. runs like a one-layer module on zeros
    m.dropout = 1.0
    out_all, _ = m(x)
    single = cls(4, 4, **extra).double()
    for name in single._flat_weights_names:
        getattr(single, name).array = getattr(m, name.replace("_l0", "_l1")).array
    expected, _ = single(minidl.zeros(6, 2, 4, dtype="float64"))
    assert_close(out_all, expected)


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="num_layers=1"):
        nn.LSTM(3, 4, dropout=0.2)


# ---- double backward through the modules ------------------------------------------------------
def test_module_double_backward():
    minidl.manual_seed(3)
    m = nn.LSTM(2, 2, num_layers=2, bidirectional=True).double()
    x = minidl.tensor(np.random.default_rng(1).standard_normal((2, 1, 2)), dtype="float64", requires_grad=True)

    def f(x, w):  # w is the module's own parameter: gradcheck perturbs it in place
        out, (h, c) = m(x)
        return out, c

    assert_gradients_match(f, x, m.weight_hh_l1_reverse)


# ---- errors -------------------------------------------------------------------------------------
def test_errors_name_the_shapes():
    lstm = nn.LSTM(4, 5, num_layers=2)
    with pytest.raises(ValueError, match=r"Expected 4, got 3 \(input of shape \(7, 2, 3\)\)"):
        lstm(minidl.randn(7, 2, 3))
    with pytest.raises(ValueError, match=r"hx\[0\] of shape \(2, 2, 5\), got \(1, 2, 5\)"):
        lstm(minidl.randn(7, 2, 4), (minidl.randn(1, 2, 5), minidl.randn(2, 2, 5)))
    with pytest.raises(ValueError, match=r"hx\[1\] of shape \(2, 2, 5\), got \(2, 3, 5\)"):
        lstm(minidl.randn(7, 2, 4), (minidl.randn(2, 2, 5), minidl.randn(2, 3, 5)))
    with pytest.raises(ValueError, match="2-D .* or 3-D"):
        lstm(minidl.randn(4))
    with pytest.raises(ValueError, match=r"hx should be 2-D, got shape \(2, 1, 5\)"):
        nn.GRU(4, 5, num_layers=2)(minidl.randn(7, 4), minidl.randn(2, 1, 5))
    with pytest.raises(ValueError, match=r"expected hx of shape \(1, 5\), got \(1, 6\)"):
        nn.RNN(4, 5)(minidl.randn(7, 4), minidl.randn(1, 6))
    with pytest.raises(TypeError, match="dtype float64 but the parameters have dtype float32"):
        nn.GRU(4, 5)(minidl.randn(7, 2, 4, dtype="float64"))
    with pytest.raises(ValueError, match=r"input of shape \(2, 3\) has input_size 3, expected 4"):
        nn.LSTMCell(4, 5)(minidl.randn(2, 3))
    with pytest.raises(ValueError, match=r"expected hx of shape \(2, 5\), got \(3, 5\)"):
        nn.GRUCell(4, 5)(minidl.randn(2, 4), minidl.randn(3, 5))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(2, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.LSTM(2, 3, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match=r"lstm_cell: hx of shape \(2, 3\) must be \(batch, hidden\) = \(2, 5\)"):
        F.lstm_cell(minidl.randn(2, 4), (minidl.randn(2, 3), minidl.randn(2, 5)), minidl.randn(20, 4),
                    minidl.randn(20, 5))
    with pytest.raises(ValueError, match=r"gru_cell: w_ih \(8, 4\) and w_hh \(9, 3\) must both have 3·H = 9 rows"):
        F.gru_cell(minidl.randn(2, 4), minidl.randn(2, 3), minidl.randn(8, 4), minidl.randn(9, 3))
    with pytest.raises(ValueError, match=r"lstm_layer: input must be 3-D"):
        F.lstm_layer(minidl.randn(2, 4), (minidl.randn(2, 5), minidl.randn(2, 5)), minidl.randn(20, 4),
                     minidl.randn(20, 5))
