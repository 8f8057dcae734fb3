"""layer_norm and batch_norm: one spec table, one property test over it (forward and running
statistics against NumPy, gradcheck and gradgradcheck in float64, inputs not mutated, gradient
shapes, the kernel and the reference both), PyTorch parity for every option, then error messages.
``op.reference`` is the reference implementation (the equation as composed Tensor ops); the plain
call runs the fused kernel unless MINIDL_REFERENCE=1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import tensor
from minidl.testing import assert_close, assert_gradients_match, assert_not_mutated, tensors


@dataclass(frozen=True)
class Spec:
    """``kind`` 'layer' (normalizing the last ``k`` dims) or 'batch' (per channel) on inputs of
    ``ndim`` dims; ``affine`` is 'both', 'weight' or 'none'."""

    name: str
    kind: str
    ndim: int
    k: int = 1
    affine: str = "both"
    training: bool = True
    eps: float = 1e-5
    momentum: float = 0.1

    def param_shape(self, shape):
        return tuple(shape[len(shape) - self.k :]) if self.kind == "layer" else (shape[1],)

    def stat_axes(self, ndim):
        """The axes the statistics are taken over."""
        if self.kind == "layer":
            return tuple(range(ndim - self.k, ndim))
        return (0,) + tuple(range(2, ndim))


SPECS = [
    Spec("layer_last_dim", "layer", 2),
    Spec("layer_last_dim_3d", "layer", 3),
    Spec("layer_two_dims", "layer", 3, k=2),
    Spec("layer_all_dims", "layer", 2, k=2),
    Spec("layer_weight_only", "layer", 2, affine="weight"),
    Spec("layer_no_affine", "layer", 3, affine="none"),
    Spec("layer_eps", "layer", 2, eps=0.1),
    Spec("batch_nc_train", "batch", 2),
    Spec("batch_ncl_train", "batch", 3),
    Spec("batch_nchw_train", "batch", 4),
    Spec("batch_nchw_train_no_affine", "batch", 4, affine="none"),
    Spec("batch_ncl_train_momentum_eps", "batch", 3, momentum=0.3, eps=0.01),
    Spec("batch_nc_eval", "batch", 2, training=False),
    Spec("batch_nchw_eval", "batch", 4, training=False, affine="weight"),
]


def _layer_ref(spec, a, w, b):
    axes = spec.stat_axes(a.ndim)
    y = (a - a.mean(axis=axes, keepdims=True)) / np.sqrt(a.var(axis=axes, keepdims=True) + spec.eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


def _batch_ref(spec, a, w, b, rm, rv):
    """The output and the updated running statistics."""
    axes = spec.stat_axes(a.ndim)
    bshape = (1, a.shape[1]) + (1,) * (a.ndim - 2)
    if spec.training:
        mu, var = a.mean(axis=axes), a.var(axis=axes)
        n = a.size // a.shape[1]
        rm = (1 - spec.momentum) * rm + spec.momentum * mu
        rv = (1 - spec.momentum) * rv + spec.momentum * var * n / (n - 1)
    else:
        mu, var = rm, rv
    y = (a - mu.reshape(bshape)) / np.sqrt(var.reshape(bshape) + spec.eps)
    if w is not None:
        y = y * w.reshape(bshape)
    if b is not None:
        y = y + b.reshape(bshape)
    return y, rm, rv


def _fn(spec, running=None, reference=False):
    """The op under test as a function of (x, weight, bias) Tensors (or None)."""
    if spec.kind == "layer":
        op = F.layer_norm.reference if reference else F.layer_norm

        def fn(x, w=None, b=None):
            return op(x, spec.param_shape(x.shape), w, b, eps=spec.eps)

        return fn

    op = F.batch_norm.reference if reference else F.batch_norm

    def fn(x, w=None, b=None):
        rm, rv = running if running is not None else (None, None)
        return op(x, rm, rv, w, b, training=spec.training, momentum=spec.momentum, eps=spec.eps)

    return fn


def _params(spec, shape, draw):
    pshape = spec.param_shape(shape)
    w = draw(tensors(shape=pshape, low=0.5, high=2.0)) if spec.affine in ("both", "weight") else None
    b = draw(tensors(shape=pshape)) if spec.affine == "both" else None
    return w, b


def _inputs(*maybe):
    return [t for t in maybe if t is not None]


def _call(fn, x, w, b):
    """fn with only the given tensors as positional arguments (gradcheck checks every one)."""
    if w is None and b is None:
        return (lambda x: fn(x)), (x,)
    if b is None:
        return (lambda x, w: fn(x, w)), (x, w)
    return fn, (x, w, b)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@given(data=st.data())
def test_normalization(spec, data):
    sides = [st.integers(1, 3), st.integers(1, 3)] + [st.integers(1, 2 if spec.ndim == 4 else 3)] * (spec.ndim - 2)
    shape = data.draw(st.tuples(*sides[: spec.ndim]), label="shape")
    if spec.kind == "batch" and spec.training:
        shape = (max(shape[0], 2),) + shape[1:]  # more than one value per channel
    axes = spec.stat_axes(len(shape))
    if spec.kind == "layer":
        assume(np.prod([shape[i] for i in axes]) >= 2)
    x = data.draw(tensors(shape=shape), label="x")
    a = x.array.copy()
    if spec.kind == "layer" or spec.training:
        assume(a.std(axis=axes).min() > 0.1)  # well-conditioned groups: 1/σ stays moderate
    w, b = _params(spec, shape, data.draw)
    wa = None if w is None else w.array.copy()
    ba = None if b is None else b.array.copy()

    if spec.kind == "layer":
        fn = _fn(spec)
        out = assert_not_mutated(fn, x, w, b)
        assert_close(out, _layer_ref(spec, a, wa, ba), rtol=1e-10, atol=1e-12)
        checked_fns = [fn, _fn(spec, reference=True)]
    else:
        C = shape[1]
        rm0 = np.linspace(-0.5, 0.5, C)
        rv0 = np.linspace(0.5, 2.0, C)
        y_ref, rm_ref, rv_ref = _batch_ref(spec, a, wa, ba, rm0, rv0)
        checked_fns = []
        for reference in (False, True):
            rm, rv = tensor(rm0, dtype="float64"), tensor(rv0, dtype="float64")
            fn = _fn(spec, (rm, rv), reference)
            out = assert_not_mutated(fn, x, w, b)
            assert_close(out, y_ref, rtol=1e-10, atol=1e-12)
            assert_close(rm, rm_ref, rtol=1e-12, atol=1e-14, what="running_mean")
            assert_close(rv, rv_ref, rtol=1e-12, atol=1e-14, what="running_var")
            checked_fns.append(fn)
    assert out.shape == x.shape and out.dtype == np.float64

    grads = []
    for fn in checked_fns:
        f, inputs = _call(fn, x, w, b)
        assert_gradients_match(f, *inputs)
        g = tensor(np.random.default_rng(0).standard_normal(shape), dtype="float64")
        grads.append(minidl.grad(f(*inputs), list(inputs), g))
        for t, gt in zip(inputs, grads[-1]):
            assert gt.shape == t.shape
    if len(grads) == 2:  # op == its reference, values and gradients
        assert_close(checked_fns[0](x, w, b), checked_fns[1](x, w, b), rtol=1e-12, atol=1e-13)
        for gf, gc in zip(*grads):
            assert_close(gf, gc, rtol=1e-9, atol=1e-11, what="gradient")


def test_layer_norm_double_backward_equals_the_reference():
    rng = np.random.default_rng(5)
    x = tensor(rng.standard_normal((3, 4)), dtype="float64", requires_grad=True)
    w = tensor(rng.uniform(0.5, 2, 4), dtype="float64", requires_grad=True)
    hessian_vector = []
    for op in (F.layer_norm, F.layer_norm.reference):
        y = op(x, (4,), w)
        (gx,) = minidl.grad((y * y * y).sum(), x, create_graph=True)
        hessian_vector.append(minidl.grad((gx * gx).sum(), [x, w]))
    for a, b in zip(*hessian_vector):
        assert_close(a, b, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normalization_keeps_dtype(dtype):
    x = minidl.randn(4, 3, 2, dtype=dtype, requires_grad=True)
    w, b = minidl.ones(3, 2, dtype=dtype), minidl.zeros(3, 2, dtype=dtype)
    rm, rv = minidl.zeros(3, dtype=dtype), minidl.ones(3, dtype=dtype)
    for y in (F.layer_norm(x, (3, 2), w, b), F.layer_norm.reference(x, (3, 2), w, b),
              F.batch_norm(x, rm, rv, training=True), F.batch_norm.reference(x, rm, rv, training=True),
              F.batch_norm(x, rm, rv, w[:, 0], b[:, 0])):
        assert y.dtype == np.dtype(dtype)
        y.sum().backward()
        assert x.grad.dtype == np.dtype(dtype)
    assert rm.dtype == np.dtype(dtype) and rv.dtype == np.dtype(dtype)


# ---- PyTorch parity -------------------------------------------------------------------------------
@pytest.mark.parametrize("normalized_shape", [5, (5,), (4, 5), (3, 4, 5)])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_layer_norm_matches_torch(normalized_shape, affine, eps):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4, 5)) * 2 + 1
    pshape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    wa, ba = rng.uniform(0.5, 2, pshape), rng.standard_normal(pshape)
    g = rng.standard_normal(a.shape)
    use_w, use_b = affine in ("both", "weight"), affine in ("both", "bias")
    ours, theirs = [], []
    for op in (F.layer_norm, F.layer_norm.reference):
        x, w, b = (tensor(v, dtype="float64", requires_grad=True) for v in (a, wa, ba))
        y = op(x, normalized_shape, w if use_w else None, b if use_b else None, eps=eps)
        y.backward(tensor(g, dtype="float64"))
        ours.append((y, x.grad, w.grad, b.grad))
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (a, wa, ba))
    ty = torch.nn.functional.layer_norm(tx, pshape, tw if use_w else None, tb if use_b else None, eps=eps)
    ty.backward(torch.tensor(g))
    theirs = (ty, tx.grad, tw.grad, tb.grad)
    for mine in ours:
        for m, t, what in zip(mine, theirs, ("output", "x.grad", "weight.grad", "bias.grad")):
            if t is None:
                assert m is None, what
            else:
                assert_close(m.detach(), t, rtol=1e-10, atol=1e-12, what=what)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("momentum,eps", [(0.1, 1e-5), (0.5, 0.01)])
def test_batch_norm_matches_torch(shape, training, affine, momentum, eps):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a = rng.standard_normal(shape) * 3 - 1
    C = shape[1]
    rm0, rv0 = rng.standard_normal(C), rng.uniform(0.5, 2, C)
    wa, ba = rng.uniform(0.5, 2, C), rng.standard_normal(C)
    g = rng.standard_normal(shape)
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (a, wa, ba))
    trm, trv = torch.tensor(rm0), torch.tensor(rv0)
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw if affine else None, tb if affine else None, training,
                                        momentum, eps)
    ty.backward(torch.tensor(g))
    for op in (F.batch_norm, F.batch_norm.reference):
        x, w, b = (tensor(v, dtype="float64", requires_grad=True) for v in (a, wa, ba))
        rm, rv = tensor(rm0, dtype="float64"), tensor(rv0, dtype="float64")
        y = op(x, rm, rv, w if affine else None, b if affine else None, training, momentum, eps)
        y.backward(tensor(g, dtype="float64"))
        assert_close(y.detach(), ty, rtol=1e-10, atol=1e-12)
        assert_close(x.grad, tx.grad, rtol=1e-9, atol=1e-11, what="x.grad")
        assert_close(rm, trm, rtol=1e-12, atol=1e-14, what="running_mean")
        assert_close(rv, trv, rtol=1e-12, atol=1e-14, what="running_var")
        if affine:
            assert_close(w.grad, tw.grad, rtol=1e-9, atol=1e-11, what="weight.grad")
            assert_close(b.grad, tb.grad, rtol=1e-9, atol=1e-11, what="bias.grad")


def test_batch_norm_training_without_running_stats_matches_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(4).standard_normal((5, 2, 3))
    ty = torch.nn.functional.batch_norm(torch.tensor(a), None, None, training=True)
    for op in (F.batch_norm, F.batch_norm.reference):
        assert_close(op(tensor(a, dtype="float64"), None, None, training=True), ty, rtol=1e-10, atol=1e-12)


# ---- errors ----------------------------------------------------------------------------------------
def test_layer_norm_errors():
    x = minidl.randn(2, 3, 4)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(3,\) must match the last dims.*\(2, 3, 4\)"):
        F.layer_norm(x, 3)
    with pytest.raises(ValueError, match=r"normalized_shape \(2, 3, 4, 5\)"):
        F.layer_norm(x, (2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"layer_norm: weight of shape \(3,\) does not match normalized_shape \(4,\)"):
        F.layer_norm(x, 4, minidl.ones(3))
    with pytest.raises(ValueError, match=r"bias of shape \(4, 1\)"):
        F.layer_norm.reference(x, 4, None, minidl.ones(4, 1))
    with pytest.raises(TypeError, match="floating point"):
        F.layer_norm(minidl.zeros(2, 3, dtype="int64"), 3)


def test_batch_norm_errors():
    x = minidl.randn(4, 3, 5)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean of shape \(4,\) does not match the 3 channels"):
        F.batch_norm(x, minidl.zeros(4), minidl.ones(3))
    with pytest.raises(ValueError, match=r"weight of shape \(3, 1\)"):
        F.batch_norm(x, None, None, minidl.ones(3, 1), training=True)
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        F.batch_norm(minidl.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean and running_var are required"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match=r"\(N, C, \*\)"):
        F.batch_norm(minidl.randn(3), None, None, training=True)


# ---- devices ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("training", [True, False])
def test_normalization_on_each_device_matches_cpu(training, device):
    rng = np.random.default_rng(6)
    a, wa, ba = rng.standard_normal((4, 3, 5)), rng.uniform(0.5, 2, 3), rng.standard_normal(3)
    results = []
    for dev in ("cpu", device):
        x, w, b = (tensor(v, dtype="float64", requires_grad=True, device=dev) for v in (a, wa, ba))
        rm, rv = minidl.zeros(3, dtype="float64", device=dev), minidl.ones(3, dtype="float64", device=dev)
        y = F.batch_norm(x, rm, rv, w, b, training=training) + F.layer_norm(x, 5) * 2
        y.sum().backward()
        assert y.device == x.device and rm.device == x.device
        results.append([minidl.backend.as_numpy(t.array) for t in (y, x.grad, w.grad, b.grad, rm, rv)])
    for cpu, dev in zip(*results):
        assert_close(dev, cpu, rtol=1e-10, atol=1e-12)
