"""Activations: one spec table, one property test over it (forward against NumPy, gradcheck and
gradgradcheck in float64, inputs not mutated, gradient shapes), PyTorch parity for every
activation and option; then erf's accuracy, dropout, embedding and one_hot, and their error
messages. The softmax kernels are checked against their references in test_kernels_ops.py; with
MINIDL_REFERENCE=1 this module checks the references themselves."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import tensor
from minidl.testing import assert_close, assert_gradients_match, assert_not_mutated, shapes, tensors

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _softplus(a, beta=1.0, threshold=20.0):
    return np.where(a * beta > threshold, a, np.log1p(np.exp(a * beta)) / beta)


def _softmax(a, dim):
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


@dataclass(frozen=True)
class Spec:
    """``fn`` (minidl), ``ref`` (NumPy), ``torch_fn`` (name in torch.nn.functional and kwargs) on
    values drawn from ``[low, high]``, at least ``away_by`` from each point of ``away_from``."""

    name: str
    fn: Callable
    ref: Callable
    torch_fn: tuple = ()
    low: float = -4.0
    high: float = 4.0
    away_from: tuple = field(default_factory=tuple)
    away_by: float = 0.05
    min_dims: int = 0


SPECS = [
    Spec("erf", F.erf, _erf, ("erf", {})),
    Spec("gelu", F.gelu, lambda a: 0.5 * a * (1 + _erf(a / np.sqrt(2))), ("gelu", {})),
    Spec(
        "gelu_tanh",
        lambda x: F.gelu(x, approximate="tanh"),
        lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a**3))),
        ("gelu", {"approximate": "tanh"}),
    ),
    Spec("leaky_relu", F.leaky_relu, lambda a: np.where(a > 0, a, 0.01 * a), ("leaky_relu", {}), away_from=(0.0,)),
    Spec(
        "leaky_relu_slope",
        lambda x: F.leaky_relu(x, negative_slope=0.2),
        lambda a: np.where(a > 0, a, 0.2 * a),
        ("leaky_relu", {"negative_slope": 0.2}),
        away_from=(0.0,),
    ),
    Spec("elu", F.elu, lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0))), ("elu", {}), away_from=(0.0,)),
    Spec(
        "elu_alpha",
        lambda x: F.elu(x, alpha=1.5),
        lambda a: np.where(a > 0, a, 1.5 * np.expm1(np.minimum(a, 0))),
        ("elu", {"alpha": 1.5}),
        away_from=(0.0,),
    ),
    Spec("silu", F.silu, lambda a: a * _sigmoid(a), ("silu", {})),
    Spec("softplus", F.softplus, _softplus, ("softplus", {})),
    Spec(
        "softplus_beta_threshold",
        lambda x: F.softplus(x, beta=2.0, threshold=3.0),
        lambda a: _softplus(a, 2.0, 3.0),
        ("softplus", {"beta": 2.0, "threshold": 3.0}),
        away_from=(1.5,),
    ),
    Spec(
        "hardtanh",
        F.hardtanh,
        lambda a: np.clip(a, -1, 1),
        ("hardtanh", {}),
        away_from=(-1.0, 1.0),
    ),
    Spec(
        "hardtanh_bounds",
        lambda x: F.hardtanh(x, -0.5, 2.0),
        lambda a: np.clip(a, -0.5, 2.0),
        ("hardtanh", {"min_val": -0.5, "max_val": 2.0}),
        away_from=(-0.5, 2.0),
    ),
    Spec("relu", F.relu, lambda a: np.maximum(a, 0), ("relu", {}), away_from=(0.0,)),
    Spec("sigmoid", F.sigmoid, _sigmoid, ("sigmoid", {})),
    Spec("tanh", F.tanh, np.tanh, ("tanh", {})),
    Spec("softmax", lambda x: F.softmax(x, -1), lambda a: _softmax(a, -1), ("softmax", {"dim": -1}), min_dims=1),
    Spec(
        "log_softmax",
        lambda x: F.log_softmax(x, 0),
        lambda a: np.log(_softmax(a, 0)),
        ("log_softmax", {"dim": 0}),
        min_dims=1,
    ),
    Spec("tensor_softmax", lambda x: x.softmax(0), lambda a: _softmax(a, 0), ("softmax", {"dim": 0}), min_dims=1),
    Spec(
        "tensor_log_softmax",
        lambda x: x.log_softmax(-1),
        lambda a: np.log(_softmax(a, -1)),
        ("log_softmax", {"dim": -1}),
        min_dims=1,
    ),
]


def _draw(data, spec, dtype="float64", max_dims=3):
    shape = data.draw(shapes(min_dims=spec.min_dims, max_dims=max_dims, max_side=4), label="shape")
    x = data.draw(
        tensors(shape=shape, dtype=dtype, low=spec.low, high=spec.high, away_from=spec.away_from or None,
                away_by=spec.away_by),
        label="x",
    )
    return x, x.array.copy()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@given(data=st.data())
def test_activation(spec, data):
    x, a = _draw(data, spec)
    out = assert_not_mutated(spec.fn, x)
    assert_close(out, spec.ref(a), rtol=1e-12, atol=1e-13)
    assert out.dtype == np.float64 and out.requires_grad
    assert_gradients_match(spec.fn, x)
    out.backward(tensor(np.random.default_rng(1).standard_normal(out.shape), dtype="float64"))
    assert x.grad.shape == x.shape and x.grad.dtype == x.dtype


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@settings(max_examples=5)
@given(data=st.data())
def test_activation_keeps_float32(spec, data):
    x, a = _draw(data, spec, dtype="float32", max_dims=2)
    out = spec.fn(x)
    assert out.dtype == np.float32, f"{spec.name} turned float32 into {out.dtype}"
    assert_close(out, spec.ref(a.astype(np.float64)), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_activation_matches_torch(spec):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a = rng.uniform(spec.low, spec.high, size=(3, 5))
    for p in spec.away_from:
        a = np.where(np.abs(a - p) < spec.away_by, p + spec.away_by, a)
    name, kwargs = spec.torch_fn
    torch_fn = getattr(torch, name) if name == "erf" else getattr(torch.nn.functional, name)
    g = rng.standard_normal(a.shape)
    x = tensor(a, dtype="float64", requires_grad=True)
    spec.fn(x).backward(tensor(g, dtype="float64"))
    tx = torch.tensor(a, requires_grad=True)
    ty = torch_fn(tx, **kwargs)
    ty.backward(torch.tensor(g))
    assert_close(spec.fn(x.detach()), ty, rtol=1e-12, atol=1e-14)
    assert_close(x.grad, tx.grad, rtol=1e-10, atol=1e-13, what="gradient")


@pytest.mark.parametrize("name,kwargs", [("gelu", {}), ("gelu", {"approximate": "tanh"}), ("elu", {}),
                                         ("silu", {}), ("softplus", {}), ("softplus", {"beta": 0.5})])
def test_second_derivative_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    a = np.linspace(-5, 5, 41) + 0.013
    x = tensor(a, dtype="float64", requires_grad=True)
    (dx,) = minidl.grad(getattr(F, name)(x, **kwargs).sum(), x, create_graph=True)
    (d2x,) = minidl.grad(dx.sum(), x)
    tx = torch.tensor(a, requires_grad=True)
    (tdx,) = torch.autograd.grad(getattr(torch.nn.functional, name)(tx, **kwargs).sum(), tx, create_graph=True)
    (td2x,) = torch.autograd.grad(tdx.sum(), tx)
    assert_close(dx, tdx, rtol=1e-10, atol=1e-13)
    assert_close(d2x, td2x, rtol=1e-9, atol=1e-12)


# ---- particular values ---------------------------------------------------------------------------
@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("shape,dim", [((0, 5), 1), ((3, 0), 1), ((3, 0), 0)])
def test_softmax_of_an_empty_tensor_is_empty(reference, shape, dim):
    with minidl.reference_mode(reference):
        for op in (F.softmax, F.log_softmax):
            x = minidl.zeros(*shape, dtype="float64", requires_grad=True)
            y = op(x, dim)
            y.sum().backward()
            assert y.shape == shape and x.grad.shape == shape


@pytest.mark.parametrize("reference", [False, True])
def test_softmax_of_a_single_value(reference):
    torch = pytest.importorskip("torch")
    with minidl.reference_mode(reference):
        for name, dim in (("softmax", 0), ("log_softmax", -1)):
            x = tensor(2.5, dtype="float64", requires_grad=True)
            y = getattr(F, name)(x, dim)
            y.backward(tensor(0.7, dtype="float64"))
            tx = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
            ty = getattr(torch.nn.functional, name)(tx, dim)
            ty.backward(torch.tensor(0.7, dtype=torch.float64))
            assert y.shape == () and x.grad.shape == ()
            assert_close(y.detach(), ty, rtol=1e-15)
            assert_close(x.grad, tx.grad, atol=1e-15)



def test_erf_is_accurate_to_double_precision():
    a = np.concatenate([np.linspace(-10, 10, 20001), np.logspace(-300, 1, 3000), -np.logspace(-20, 0.5, 500),
                        [0.0, 1.999999999, 2.0, 2.000000001, 5.9, 6.0, 27.0]])
    y = F.erf(tensor(a, dtype="float64")).numpy()
    expected = _erf(a)
    assert np.abs(y - expected).max() <= 1e-15  # a few units in the last place
    nonzero = expected != 0
    assert (np.abs(y - expected)[nonzero] / np.abs(expected[nonzero])).max() <= 4e-15
    assert_close(F.erf(tensor([np.inf, -np.inf, np.nan], dtype="float64")), [1.0, -1.0, np.nan])


def test_erf_gradient_is_the_gaussian():
    a = np.linspace(-4, 4, 17)
    x = tensor(a, dtype="float64", requires_grad=True)
    F.erf(x).sum().backward()
    assert_close(x.grad, 2 / np.sqrt(np.pi) * np.exp(-a * a), rtol=1e-14)


def test_activations_stay_finite_for_large_inputs():
    a = np.array([-1e4, -800.0, -30.0, 0.5, 30.0, 800.0, 1e4])
    x = tensor(a, dtype="float64", requires_grad=True)
    for fn in (F.elu, F.silu, F.softplus, F.gelu, lambda t: F.gelu(t, approximate="tanh"), F.leaky_relu):
        x.grad = None
        y = fn(x)
        y.sum().backward()
        assert np.isfinite(y.detach().numpy()).all()
        assert np.isfinite(x.grad.numpy()).all()
    assert_close(F.softplus(tensor([-800.0, 800.0], dtype="float64")), [0.0, 800.0], atol=1e-300)


def test_softplus_linear_region_follows_threshold():
    x = tensor([9.0, 11.0], dtype="float64", requires_grad=True)
    y = F.softplus(x, beta=1.0, threshold=10.0)
    assert y.detach().numpy()[1] == 11.0
    assert y.detach().numpy()[0] == pytest.approx(np.log1p(np.exp(9.0)))
    y.sum().backward()
    assert_close(x.grad, [_sigmoid(9.0), 1.0], rtol=1e-14)


@pytest.mark.parametrize("call,match", [
    (lambda x: F.gelu(x, approximate="fast"), "approximate"),
    (lambda x: F.softplus(x, beta=0.0), "beta"),
    (lambda x: F.hardtanh(x, 1.0, -1.0), "min_val"),
    (lambda x: F.elu(x.long()), "floating"),
    (lambda x: F.softmax(x.long(), 0), "softmax: expected a floating point tensor"),
    (lambda x: F.log_softmax(x, 1), "log_softmax: dim 1 is out of range"),
])
def test_activation_errors(call, match):
    with pytest.raises((ValueError, TypeError, IndexError), match=match):
        call(tensor([1.0, 2.0]))


# ---- dropout -------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_keeps_about_one_minus_p_and_scales(p, device):
    minidl.manual_seed(0)
    x = minidl.ones(200, 100, dtype="float64", requires_grad=True, device=device)
    y = F.dropout(x, p)
    values = minidl.backend.as_numpy(y.array)
    kept = values != 0
    assert abs(kept.mean() - (1 - p)) < 0.02
    assert_close(values[kept], np.full(kept.sum(), 1 / (1 - p)), rtol=1e-12)
    g = minidl.rand(200, 100, dtype="float64", device=device)
    y.backward(g)
    assert_close(minidl.backend.as_numpy(x.grad.array), minidl.backend.as_numpy(g.array) * values, rtol=1e-12)
    assert y.device == x.device


def test_dropout_identity_cases_and_p_one():
    x = tensor([[1.0, -2.0, 3.0]], requires_grad=True)
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.7, training=False) is x
    y = F.dropout(x, 1.0)
    assert_close(y, [[0.0, 0.0, 0.0]])
    y.sum().backward()
    assert_close(x.grad, [[0.0, 0.0, 0.0]])


def test_dropout_is_reproducible_with_manual_seed_and_keeps_dtype():
    x = minidl.ones(50, dtype="float32")
    minidl.manual_seed(7)
    a = F.dropout(x, 0.5)
    minidl.manual_seed(7)
    b = F.dropout(x, 0.5)
    assert a.dtype == np.float32
    assert_close(a, b)
    assert 0 < (a.numpy() == 0).sum() < 50


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_dropout_rejects_bad_probability(p):
    with pytest.raises(ValueError, match="dropout: probability p has to be between 0 and 1"):
        F.dropout(tensor([1.0]), p)


def test_dropout_gradcheck_with_fixed_mask():
    x = tensor(np.linspace(-1, 1, 12).reshape(3, 4), dtype="float64", requires_grad=True)

    def fn(t):
        minidl.manual_seed(11)
        return F.dropout(t, 0.4)

    assert_gradients_match(fn, x)


# ---- embedding -----------------------------------------------------------------------------------
@given(
    index_shape=shapes(min_dims=0, max_dims=3, max_side=3),
    V=st.integers(1, 6),
    D=st.integers(1, 3),
    data=st.data(),
)
def test_embedding(index_shape, V, D, data):
    idx = data.draw(tensors(shape=index_shape, dtype="int64", low=0, high=V - 1))
    weight = data.draw(tensors(shape=(V, D)))
    padding_idx = data.draw(st.one_of(st.none(), st.integers(-V, V - 1)))
    out = assert_not_mutated(lambda i, w: F.embedding(i, w, padding_idx), idx, weight)
    assert out.shape == index_shape + (D,)
    assert_close(out, weight.array[idx.array], rtol=0, atol=0)
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(tensor(g, dtype="float64"))
    expected = np.zeros((V, D))
    np.add.at(expected, idx.array.reshape(-1), g.reshape(-1, D))
    if padding_idx is not None:
        expected[padding_idx % V] = 0
    assert_close(weight.grad, expected, rtol=1e-12, atol=1e-14)
    # (with padding_idx the padding row's value flows but its gradient is zero by design)
    assert_gradients_match(lambda w: F.embedding(idx, w), weight)


def test_embedding_matches_torch_with_padding_idx():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((7, 3))
    idx = np.array([[0, 2, 2, 6], [1, 0, 5, 2]])
    g = rng.standard_normal((2, 4, 3))
    for padding_idx in (None, 2, -1):
        weight = tensor(w, dtype="float64", requires_grad=True)
        y = F.embedding(tensor(idx), weight, padding_idx=padding_idx)
        y.backward(tensor(g, dtype="float64"))
        tw = torch.tensor(w, requires_grad=True)
        ty = torch.nn.functional.embedding(torch.tensor(idx), tw, padding_idx=padding_idx)
        ty.backward(torch.tensor(g))
        assert_close(y, ty, rtol=0, atol=0)
        assert_close(weight.grad, tw.grad, rtol=1e-12, atol=1e-14)


def test_embedding_errors():
    w = minidl.randn(10, 4)
    with pytest.raises(TypeError, match="embedding: indices must be an integer tensor.*float32"):
        F.embedding(tensor([1.0, 2.0]), w)
    with pytest.raises(IndexError, match=r"embedding: index 12 is out of range for a table of 10 rows.*max 12"):
        F.embedding(tensor([[3, 12], [0, 1]]), w)
    with pytest.raises(IndexError, match=r"index -1 is out of range for a table of 10 rows"):
        F.embedding(tensor([-1, 2]), w)
    with pytest.raises(ValueError, match="padding_idx 10 is out of range"):
        F.embedding(tensor([1]), w, padding_idx=10)
    with pytest.raises(ValueError, match="2-D"):
        F.embedding(tensor([1]), minidl.randn(10))


# ---- one_hot -------------------------------------------------------------------------------------
@given(
    index_shape=shapes(min_dims=0, max_dims=3, max_side=4),
    C=st.integers(1, 5),
    extra=st.one_of(st.just(-1), st.integers(0, 2)),
    data=st.data(),
)
def test_one_hot(index_shape, C, extra, data):
    idx = data.draw(tensors(shape=index_shape, dtype="int64", low=0, high=C - 1))
    num_classes = -1 if extra == -1 else C + extra
    out = assert_not_mutated(lambda i: F.one_hot(i, num_classes), idx)
    n = int(idx.array.max()) + 1 if num_classes == -1 else num_classes
    assert out.dtype == np.int64 and out.shape == index_shape + (n,)
    assert (out.numpy() == np.eye(n, dtype=np.int64)[idx.array]).all()


def test_one_hot_matches_torch():
    torch = pytest.importorskip("torch")
    idx = np.array([[0, 3], [2, 2]])
    for num_classes in (-1, 6):
        ours = F.one_hot(tensor(idx), num_classes)
        theirs = torch.nn.functional.one_hot(torch.tensor(idx), num_classes)
        assert ours.dtype == np.int64 and (ours.numpy() == theirs.numpy()).all()


def test_one_hot_errors():
    with pytest.raises(IndexError, match="one_hot: class values must be non-negative, got -2"):
        F.one_hot(tensor([0, -2]))
    with pytest.raises(IndexError, match="one_hot: class value 4 is too large for num_classes=3"):
        F.one_hot(tensor([0, 4]), 3)
    with pytest.raises(TypeError, match="integer"):
        F.one_hot(tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="empty"):
        F.one_hot(minidl.zeros(0, dtype="int64"))
    assert F.one_hot(minidl.zeros(0, dtype="int64"), 3).shape == (0, 3)


# ---- devices -------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_activation_on_each_device_matches_cpu(spec, device):
    a = np.random.default_rng(2).uniform(spec.low, spec.high, (3, 4))
    results = []
    for dev in ("cpu", device):
        x = tensor(a, dtype="float64", requires_grad=True, device=dev)
        y = spec.fn(x)
        y.backward(tensor(np.cos(a), dtype="float64", device=dev))
        assert y.device == x.grad.device == x.device
        results.append((minidl.backend.as_numpy(y.array), minidl.backend.as_numpy(x.grad.array)))
    for cpu, dev in zip(*results):
        assert_close(dev, cpu, rtol=1e-12, atol=1e-14)


def test_index_ops_on_each_device(device):
    w = tensor(np.arange(12.0).reshape(4, 3), dtype="float64", requires_grad=True, device=device)
    idx = tensor([[1, 3], [3, 0]], device=device)
    y = F.embedding(idx, w, padding_idx=0)
    y.sum().backward()
    assert y.device == w.device
    assert_close(minidl.backend.as_numpy(w.grad.array), [[0, 0, 0], [1, 1, 1], [0, 0, 0], [2, 2, 2]])
    h = F.one_hot(idx, 5)
    assert h.device == idx.device and minidl.backend.as_numpy(h.array).sum() == 4
