"""Every op on the strict device (host arrays that refuse to become NumPy arrays, as CuPy's do)
against the same op on the CPU: forward values, gradients from a random upstream gradient and
second derivatives. An op that calls NumPy on its data, or builds a NumPy constant next to its
inputs, raises here on a machine without a GPU. The same table runs on ``cuda`` when a GPU is
present (through the ``other_device`` fixture)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

import minidl
import minidl.functional as F
from minidl import backend, nn
from minidl.testing import assert_close
from minidl.testing.strict_array import StrictArray, strict

R = np.random.default_rng(0)


@dataclass(frozen=True)
class Case:
    """``fn(*inputs)``; each input described as ``(shape, kind)``: 'f' floats in [-2, 2] that
    require grad, 'pos' floats in [0.2, 2], 'c' floats without grad, 'p' probabilities,
    'i<K>' integer indices below K, 'b' booleans."""

    name: str
    fn: object
    inputs: tuple
    double: bool = True  # also compare second derivatives
    kwargs: dict = field(default_factory=dict)


def _draw(shape, kind):
    if kind in ("f", "c"):
        return R.uniform(-2, 2, shape)
    if kind == "pos":
        return R.uniform(0.2, 2, shape)
    if kind == "p":
        return R.uniform(0.05, 0.95, shape)
    if kind == "b":
        return R.random(shape) > 0.4
    if kind.startswith("i"):
        return R.integers(0, int(kind[1:]), shape)
    raise ValueError(kind)


def _lstm_cell(x, h, c, wi, wh, bi, bh, fn=F.lstm_cell):
    return fn(x, (h, c), wi, wh, bi, bh)


def _mha(q, w_in, b_in, w_out, b_out):
    out, weights = F.multi_head_attention_forward(q, q, q, 4, 2, w_in, b_in, None, None, False, 0.0, w_out, b_out,
                                                  training=False, need_weights=True)  # fmt: skip
    return out, weights


def _recurrent_modules():
    minidl.manual_seed(0)  # the same weights on every device: drawn on the host, then moved
    return [nn.LSTM(2, 3, num_layers=2, bidirectional=True), nn.GRU(2, 2), nn.RNN(2, 2, nonlinearity="relu")]


X = ((2, 3), "f")
XP = ((2, 3), "pos")
IMG = ((1, 2, 5, 5), "f")
SEQ = ((3, 2, 2), "f")  # (T, B, I)
CASES = [
    # elementwise
    Case("add", lambda a, b: a + b, (X, ((3,), "f"))),
    Case("sub_mul_div", lambda a, b: (a - 1.5) * b / (b * b + 1), (X, X)),
    Case("pow", lambda a, b: a**b + a**2 + 2.0**a, (XP, X)),
    Case("unary", lambda a: F.exp(a) + F.sin(a) + F.cos(a) + F.tanh(a) + F.sigmoid(a) + F.abs(a) + F.neg(a), (X,)),
    Case("log_sqrt", lambda a: F.log(a) + F.sqrt(a), (XP,)),
    Case("clamp_max_min", lambda a, b: F.clamp(a, -1, 1) + F.maximum(a, b) + F.minimum(a, b) + F.clip(a, max=0.5),
         (X, X)),  # fmt: skip
    Case("where_masked_fill", lambda a, b, m: F.where(m, a, b) + F.masked_fill(a, m, 0.5), (X, X, ((2, 3), "b"))),
    Case("compare_logical", lambda a, b: F.where(F.logical_or(F.logical_and(a > b, a >= 0), F.logical_not(a < 1)), a, b)
         + (F.eq(a, a) & F.ne(a, b) & F.le(b, 9) & F.ge(a, -9) & F.gt(a, -9) & F.lt(b, 9)).to(a.dtype)
         + F.sign(a) + F.isnan(a).to(a.dtype), (X, X)),  # fmt: skip
    # reductions
    Case("sum_mean", lambda a: F.sum(a, 1) + F.mean(a, 1, True).squeeze(1) + a.sum() + a.mean(), (X,)),
    Case("var_std", lambda a: F.var(a, 0) + F.std(a, 0) + F.var(a), (((4, 3), "f"),)),
    Case("max_min", lambda a: F.max(a, 1)[0] + F.min(a, 1)[0] + F.amax(a, 1) + F.amin(a, 1) + a.max(), (X,)),
    Case("argmax", lambda a: a.sum(1) + F.argmax(a, 1).to(a.dtype) + F.argmin(a).to(a.dtype), (X,)),
    Case("logsumexp", lambda a: F.logsumexp(a, 1) + F.logsumexp(a), (X,)),
    # shapes and indexing
    Case("reshape_permute", lambda a: F.permute(F.reshape(a, (3, 2, 1)), (2, 0, 1)).flatten().view(6)
         + F.transpose(a, 0, 1).reshape(-1) + F.unsqueeze(a, 0).squeeze().reshape(6), (X,)),  # fmt: skip
    Case("cat_stack_split", lambda a, b: F.cat([a, b], 1).sum(1) + F.stack([a, b]).sum((0, 2))
         + F.split(a, 2, 1)[1].sum(1) + F.chunk(b, 3, 1)[2].sum(1) + F.narrow(a, 1, 1, 2).sum(1), (X, X)),  # fmt: skip
    Case("broadcast_repeat_pad", lambda a: F.broadcast_to(a, (2, 2, 3)).sum(0) + F.expand(a[:, :1], (2, 3))
         + F.repeat(a, (1, 2))[:, 1:4] + F.pad(a, (1, 1), value=0.5)[:, 1:4], (X,)),  # fmt: skip
    Case("getitem", lambda a, i: a[i] + a[:, 1:].sum() + a[a > 0].sum() + a[..., None, 0].sum(),
         (((4, 3), "f"), ((5,), "i4"))),  # fmt: skip
    Case("index_select_embedding", lambda w, i: F.index_select(w, 0, i).sum(1)
         + F.embedding(i, w, padding_idx=1).sum(1) + F.one_hot(i, 4).to(w.dtype).sum(1),
         (((4, 3), "f"), ((5,), "i4"))),  # fmt: skip
    Case("cast_clone", lambda a: F.cast(F.clone(a), "float32").to(minidl.float64) * 2, (X,), double=False),
    # linear algebra
    Case("matmul_linear", lambda a, w, b: F.matmul(a, w.T) + F.linear(a, w, b) + a @ w.T,
         (X, ((4, 3), "f"), ((4,), "f"))),  # fmt: skip
    Case("dot_batched", lambda a, b, u: F.matmul(a, b).sum(-1) + F.dot(u, u),
         (((2, 2, 3), "f"), ((3, 2), "f"), ((3,), "f"))),  # fmt: skip
    # activations
    Case("activations", lambda a: F.relu(a) + F.leaky_relu(a, 0.1) + F.elu(a) + F.gelu(a)
         + F.gelu(a, approximate="tanh") + F.silu(a) + F.softplus(a) + F.hardtanh(a) + F.erf(a), (X,)),  # fmt: skip
    Case("softmax", lambda a: F.softmax(a, 1) + F.log_softmax(a, -1) + F.softmax.reference(a, 0)
         + F.log_softmax.reference(a, 1), (X,)),  # fmt: skip
    Case("dropout_eval", lambda a: F.dropout(a, 0.5, training=False), (X,)),
    # normalization
    Case("layer_norm", lambda a, w, b: F.layer_norm(a, (3,), w, b) + F.layer_norm.reference(a, (3,), w, b),
         (((4, 3), "f"), ((3,), "f"), ((3,), "f"))),  # fmt: skip
    Case("batch_norm", lambda a, w, b, m, v: F.batch_norm(a, m, v, w, b, training=True)
         + F.batch_norm.reference(a, m.clone(), v.clone(), w, b, training=True) + F.batch_norm(a, m, v, w, b),
         (((4, 3, 2), "f"), ((3,), "f"), ((3,), "f"), ((3,), "c"), ((3,), "pos"))),  # fmt: skip
    # losses
    Case("cross_entropy", lambda a, t, w: F.cross_entropy(a, t, w, ignore_index=2, label_smoothing=0.1)
         + F.cross_entropy.reference(a, t) + F.nll_loss(F.log_softmax(a, 1), t, reduction="sum"),
         (((5, 4), "f"), ((5,), "i4"), ((4,), "pos"))),  # fmt: skip
    Case("cross_entropy_probs", lambda a, p: F.cross_entropy(a, p, reduction="none"), (((3, 4), "f"), ((3, 4), "p"))),
    Case("bce", lambda p, t, w: F.binary_cross_entropy(p, t, w)
         + F.binary_cross_entropy_with_logits(p, t, pos_weight=w),
         (((2, 3), "p"), ((2, 3), "p"), ((3,), "pos"))),  # fmt: skip
    Case("mse_l1", lambda a, b: F.mse_loss(a, b) + F.l1_loss(a, b, reduction="sum"), (X, ((2, 3), "c"))),
    # convolution and pooling
    Case("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1)
         + F.conv2d.reference(x, w, b, stride=2, padding=1), (IMG, ((3, 2, 3, 3), "f"), ((3,), "f"))),  # fmt: skip
    Case("conv2d_groups_dilation", lambda x, w: F.conv2d(x, w, padding="same", dilation=2, groups=2),
         (IMG, ((2, 1, 2, 2), "f"))),  # fmt: skip
    Case("conv2d_kernel", lambda x, w, b: F.conv2d(x, w, b, padding=1),  # 8 channels: the channels-last kernel
         (((1, 8, 4, 4), "f"), ((3, 8, 3, 3), "f"), ((3,), "f"))),  # fmt: skip
    Case("conv1d", lambda x, w: F.conv1d(x, w, padding=1), (((1, 2, 5), "f"), ((3, 2, 3), "f"))),
    Case("unfold_fold", lambda x: F.fold(F.unfold(x, 2, padding=1), (5, 5), 2, padding=1), (IMG,)),
    Case("max_pool", lambda x: F.max_pool2d(x, 2, 2, padding=1).sum() + F.max_pool2d.reference(x, 2, 1).sum()
         + F.max_pool1d(x[:, :, 0], 2).sum(), (IMG,)),  # fmt: skip
    Case("max_pool_indices", lambda x: F.max_pool2d(x, 2, return_indices=True)[1].to(x.dtype) + F.max_pool2d(x, 2),
         (IMG,)),  # fmt: skip
    Case("avg_pool", lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False).sum()
         + F.adaptive_avg_pool2d(x, 2).sum() + F.avg_pool1d(x[:, :, 0], 2).sum()
         + F.adaptive_avg_pool1d(x[:, :, 0], 2).sum(),
         (IMG,)),  # fmt: skip
    # recurrent
    Case("rnn_cells", lambda x, h, wi, wh, b: F.rnn_tanh_cell(x, h, wi, wh, b, b) + F.rnn_relu_cell(x, h, wi, wh),
         (((2, 3), "f"), ((2, 2), "f"), ((2, 3), "f"), ((2, 2), "f"), ((2,), "f"))),  # fmt: skip
    Case("lstm_cell", lambda *a: _lstm_cell(*a) + _lstm_cell(*a, fn=F.lstm_cell.reference),
         (((2, 3), "f"), ((2, 2), "f"), ((2, 2), "f"), ((8, 3), "f"), ((8, 2), "f"), ((8,), "f"), ((8,), "f"))),
    Case("gru_cell", lambda x, h, wi, wh, b: F.gru_cell(x, h, wi, wh, b, b) + F.gru_cell.reference(x, h, wi, wh, b, b),
         (((2, 3), "f"), ((2, 2), "f"), ((6, 3), "f"), ((6, 2), "f"), ((6,), "f"))),  # fmt: skip
    Case("layers", lambda x, h, wi, wh, b, gi, gh, gb: F.rnn_layer(x, h, wi, wh, b, b, reverse=True)[0]
         + F.rnn_layer.reference(x, h, wi, wh, b, b)[0] + F.gru_layer(x, h, gi, gh, gb, gb)[0]
         + F.gru_layer.reference(x, h, gi, gh, gb, gb, reverse=True)[0],
         (SEQ, ((2, 2), "f"), ((2, 2), "f"), ((2, 2), "f"), ((2,), "f"), ((6, 2), "f"), ((6, 2), "f"), ((6,), "f")),
         double=False),  # fmt: skip
    Case("lstm_layer", lambda x, h, c, wi, wh, b: F.lstm_layer(x, (h, c), wi, wh, b, b)[0]
         + F.lstm_layer.reference(x, (h, c), wi, wh, b, b, reverse=True)[0],
         (SEQ, ((2, 2), "f"), ((2, 2), "f"), ((8, 2), "f"), ((8, 2), "f"), ((8,), "f")), double=False),  # fmt: skip
    Case("lstm_gru_rnn_modules", lambda x: sum(m.double().to(x.device)(x)[0].sum() for m in _recurrent_modules()),
         (SEQ,), double=False),  # fmt: skip
    # attention
    Case("attention", lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m)
         + F.scaled_dot_product_attention.reference(q, k, v, is_causal=True) + F.attention_weights(q, k).sum(),
         (((1, 2, 3, 2), "f"), ((1, 2, 3, 2), "f"), ((1, 2, 3, 2), "f"), ((3, 3), "c"))),  # fmt: skip
    Case("multi_head_attention", _mha,
         (((3, 1, 4), "f"), ((12, 4), "f"), ((12,), "f"), ((4, 4), "f"), ((4,), "f"))),  # fmt: skip
]


def _tensors(case, device):
    out = []
    for shape, kind in case.inputs:
        a = _draw(shape, kind)
        grad = kind in ("f", "pos", "p") and a.dtype.kind == "f"
        dtype = "float64" if a.dtype.kind == "f" else None
        out.append(minidl.tensor(a, dtype=dtype, requires_grad=grad, device=device))
    return out


def _run(case, device, seed):
    """Outputs, first and second derivatives (host arrays) of ``case`` on ``device``."""
    global R
    R = np.random.default_rng(seed)
    inputs = _tensors(case, device)
    outs = case.fn(*inputs)
    outs = [o for o in (outs if isinstance(outs, tuple) else (outs,)) if o is not None]
    diff = [t for t in inputs if t.requires_grad]
    loss = sum((o * minidl.tensor(R.uniform(-1, 1, o.shape), device=device)).sum() for o in outs if o.requires_grad)
    grads = minidl.grad(loss, diff, create_graph=case.double, allow_unused=True)
    result = [backend.as_numpy(o.array) for o in outs]
    result += [None if g is None else backend.as_numpy(g.array) for g in grads]
    for o in outs:
        assert o.device == minidl.device(device), f"{case.name}: output on {o.device}, inputs on {device}"
    if case.double:
        used = [g for g in grads if g is not None and g.requires_grad]
        if used:
            total = sum((g * minidl.tensor(R.uniform(-1, 1, g.shape), device=device)).sum() for g in used)
            second = minidl.grad(total, diff, allow_unused=True)
            result += [None if g is None else backend.as_numpy(g.array) for g in second]
    return result


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_op_on_device_matches_cpu(case, other_device):
    expected, got = _run(case, "cpu", 1), _run(case, other_device, 1)
    assert len(got) == len(expected)
    for i, (e, g) in enumerate(zip(expected, got)):
        assert (e is None) == (g is None), f"{case.name}: result {i} is None on one device only"
        if e is not None:
            assert_close(g, e, rtol=1e-7, atol=1e-9, what=f"{case.name}: result {i}")


# ---- the strict array module itself -------------------------------------------------------
def test_strict_arrays_refuse_numpy():
    a = strict.arange(6.0).reshape(2, 3)
    assert type(a) is StrictArray and backend.device_of(a) == "strict"
    with pytest.raises(TypeError, match="strict array"):
        np.asarray(a)
    with pytest.raises(TypeError, match="numpy.exp"):
        np.exp(a)
    with pytest.raises(TypeError, match="numpy.concatenate"):
        np.concatenate([a, a])
    with pytest.raises(TypeError, match="NumPy array of shape"):
        a + np.ones(3)
    with pytest.raises(TypeError, match="NumPy array"):
        strict.where(a > 1, a, np.zeros(3))
    t = minidl.tensor([1.0, 2.0], device="strict")
    with pytest.raises(TypeError, match="strict"):
        np.asarray(t)
    with pytest.raises(TypeError, match="strict"):
        t.numpy()


def test_strict_module_gives_strict_arrays():
    a = strict.asarray(np.arange(6.0).reshape(2, 3))
    assert type(a + 1) is type(a.sum()) is type(a.T) is type(a[0]) is type(strict.exp(a)) is StrictArray
    assert float(a.sum()) == 15.0 and a.shape == (2, 3) and a.dtype == np.float64
    b = strict.zeros((3,))
    strict.add.at(b, strict.asarray([0, 0, 2]), 1.0)
    assert b.get().tolist() == [2.0, 0.0, 1.0]
    b += 1
    b[1] = 5.0
    assert type(b) is StrictArray and b.get().tolist() == [3.0, 5.0, 2.0]
    q, r = strict.linalg.qr(strict.eye(3))
    assert type(q) is type(r) is StrictArray
    assert type(backend.sliding_windows(a, (2,), (1,), (1,), (1,))) is StrictArray
    assert type(backend.rng_for(minidl.device("strict")).normal(size=(2,))) is StrictArray


def test_strict_device_round_trip_and_rng():
    x = minidl.tensor([[1.0, -2.0]], requires_grad=True)
    y = x.to("strict")
    assert y.device == "strict" and str(y.device) == "strict" and type(y.array) is StrictArray
    (y * y).sum().backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [[2.0, -4.0]]
    assert y.cpu().device == "cpu" and isinstance(y.detach().cpu().numpy(), np.ndarray)
    z = minidl.tensor(strict.ones((2,)))  # an array of the device stays there, as a CuPy array does
    assert z.device == "strict" and z.tolist() == [1.0, 1.0]
    minidl.manual_seed(3)
    a = minidl.randn(4, device="strict")
    minidl.manual_seed(3)
    b = minidl.randn(4, device="strict")
    assert a.device == "strict" and a.tolist() == b.tolist()


def test_mixing_strict_and_cpu_names_both_devices():
    a = minidl.ones(2, device="strict", requires_grad=True)
    b = minidl.ones(2)
    for f in (lambda: a + b, lambda: F.matmul(b, a), lambda: F.where(b > 0, a, b)):
        with pytest.raises((RuntimeError, ValueError, TypeError), match=r"(?s)(cpu.*strict|strict.*cpu)"):
            f()


def test_dropout_mask_drawn_on_the_device():
    x = minidl.ones(50, 40, device="strict", requires_grad=True)
    y = F.dropout(x, 0.5)
    assert y.device == "strict" and 0.3 < float((y.array == 0).mean()) < 0.7
    y.sum().backward()
    assert x.grad.device == "strict"


def test_save_from_strict_loads_on_cpu(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).to("strict")
    assert all(p.device == "strict" for p in model.parameters())
    minidl.save(model.state_dict(), tmp_path / "m.npz")
    state = minidl.load(tmp_path / "m.npz")
    assert all(t.device == "cpu" and isinstance(t.array, np.ndarray) for t in state.values())
    assert_close(state["0.weight"].array, backend.as_numpy(model[0].weight.array))
    back = minidl.load(tmp_path / "m.npz", map_location="strict")
    assert all(t.device == "strict" for t in back.values())


def test_model_trains_on_strict():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.2), nn.Linear(8, 3)).to("strict")
    opt = minidl.optim.Adam(model.parameters(), lr=0.01)
    x, y = minidl.randn(4, 1, 4, 4, device="strict"), minidl.tensor([0, 1, 2, 1], device="strict")
    for _ in range(2):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    assert loss.device == "strict" and np.isfinite(loss.item())


# ---- nn layers and optimizers: built on the CPU, copied to the device, compared ------------------
def _first(out):
    return out[0] if isinstance(out, tuple) else out


LAYERS = {
    "linear": (lambda: nn.Linear(3, 2), (2, 3)),
    "conv": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.MaxPool2d(2),
                                   nn.AvgPool2d(1), nn.AdaptiveAvgPool2d(1), nn.Flatten()), (2, 2, 4, 4)),  # fmt: skip
    "conv1d_norms": (lambda: nn.Sequential(nn.Conv1d(2, 3, 2), nn.Flatten(), nn.BatchNorm1d(9), nn.LayerNorm(9),
                                           nn.Unflatten(1, (3, 3))), (3, 2, 4)),  # fmt: skip
    "activations": (lambda: nn.Sequential(nn.ELU(), nn.GELU(), nn.LeakyReLU(0.1), nn.SiLU(), nn.Tanh(), nn.Sigmoid(),
                                          nn.Softmax(-1), nn.LogSoftmax(-1), nn.Identity()), (2, 3)),  # fmt: skip
    "cells": (lambda: nn.ModuleList([nn.RNNCell(3, 2), nn.GRUCell(3, 2), nn.LSTMCell(3, 2)]), (2, 3)),
    "mha": (lambda: nn.MultiheadAttention(4, 2, batch_first=True), (2, 3, 4)),
    "transformer": (lambda: nn.Sequential(nn.PositionalEncoding(4, batch_first=True),
                                          nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0), 2)),
                    (3, 2, 4)),  # fmt: skip
}


def _layer_out(model, x):
    if isinstance(model, nn.ModuleList):
        return sum(_first(cell(x)).sum() for cell in model)
    if isinstance(model, nn.MultiheadAttention):
        out, weights = model(x, x, x)
        return out.sum() + weights.sum()
    return (model(x) * minidl.tensor(np.linspace(-1, 1, int(np.prod(model(x).shape))), device=x.device)
            .reshape(model(x).shape).to(x.dtype)).sum()  # fmt: skip


@pytest.mark.parametrize("name", LAYERS)
def test_nn_layer_on_device_matches_cpu(name, other_device):
    make, shape = LAYERS[name]
    minidl.manual_seed(0)
    ref = make().double()
    model = make().double()
    model.load_state_dict(ref.state_dict())
    model.to(other_device)
    x = np.random.default_rng(1).uniform(-1, 1, shape)
    results = []
    for m, dev in ((ref, "cpu"), (model, other_device)):
        xt = minidl.tensor(x, dtype="float64", requires_grad=True, device=dev)
        out = _layer_out(m, xt)
        out.backward()
        assert out.device == xt.grad.device == minidl.device(dev)
        results.append([backend.as_numpy(out.array), backend.as_numpy(xt.grad.array)]
                       + [backend.as_numpy(p.grad.array) for p in m.parameters() if p.grad is not None]
                       + [backend.as_numpy(b.array) for b in m.buffers()])  # fmt: skip
    assert len(results[0]) == len(results[1])
    for i, (e, g) in enumerate(zip(*results)):
        assert_close(g, e, rtol=1e-7, atol=1e-9, what=f"{name}: result {i}")


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_optimizer_on_device_matches_cpu(name, other_device):
    from minidl import optim

    kwargs = {"SGD": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)}.get(name, dict(lr=0.1))
    finals = []
    for dev in ("cpu", other_device):
        p = minidl.tensor([[1.0, -2.0], [0.5, 3.0]], dtype="float64", requires_grad=True, device=dev)
        opt = optim.__dict__[name]([p], **kwargs)
        sched = optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)
        for _ in range(3):
            opt.zero_grad()
            ((p * p).sum() + p.sum()).backward()
            optim.clip_grad_norm_([p], 5.0)
            optim.clip_grad_value_([p], 4.0)
            opt.step()
            sched.step()
        assert p.device == minidl.device(dev)
        finals.append(backend.as_numpy(p.array))
    assert_close(finals[1], finals[0], rtol=1e-12, atol=1e-12)
