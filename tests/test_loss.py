"""Losses: one spec table, one property test over it (forward against a NumPy reference for every
reduction, gradcheck and gradgradcheck in float64, inputs not mutated, gradient shapes, cross-entropy equals
its reference), PyTorch parity for every loss and option, then particular values (clamps,
stability, ignored samples) and error messages. ``F.cross_entropy.reference`` is the reference
(log_softmax, nll_loss, the smoothing term); the plain call runs the fused kernel for class-index
targets unless MINIDL_REFERENCE=1."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import tensor
from minidl.testing import assert_close, assert_gradients_match, assert_not_mutated

REDUCTIONS = ["none", "mean", "sum"]


@dataclass(frozen=True)
class Spec:
    """``op`` (a name in minidl.functional and torch.nn.functional) with a ``target`` kind:
    'index' (class indices), 'prob' (class probabilities) or 'same' (the input's shape).
    ``input_dims``: 1 is an unbatched (C,), 2 is (N, C), 3 and 4 add d1 and d2."""

    name: str
    op: str
    target: str = "same"
    input_dims: int = 2
    weight: bool = False
    ignore: bool = False
    smoothing: float = 0.0
    pos_weight: bool = False
    options: dict = field(default_factory=dict)


SPECS = [
    Spec("ce_index", "cross_entropy", "index"),
    Spec("ce_index_unbatched", "cross_entropy", "index", input_dims=1),
    Spec("ce_index_weight", "cross_entropy", "index", weight=True),
    Spec("ce_index_ignore", "cross_entropy", "index", ignore=True),
    Spec("ce_index_3d_weight_ignore", "cross_entropy", "index", input_dims=3, weight=True, ignore=True),
    Spec("ce_index_4d", "cross_entropy", "index", input_dims=4),
    Spec("ce_index_smoothing", "cross_entropy", "index", smoothing=0.2),
    Spec("ce_index_smoothing_weight_ignore", "cross_entropy", "index", input_dims=3, weight=True, ignore=True,
         smoothing=0.1),
    Spec("ce_prob", "cross_entropy", "prob"),
    Spec("ce_prob_unbatched", "cross_entropy", "prob", input_dims=1),
    Spec("ce_prob_3d_weight_smoothing", "cross_entropy", "prob", input_dims=3, weight=True, smoothing=0.3),
    Spec("nll", "nll_loss", "index"),
    Spec("nll_unbatched", "nll_loss", "index", input_dims=1),
    Spec("nll_3d_weight_ignore", "nll_loss", "index", input_dims=3, weight=True, ignore=True),
    Spec("mse", "mse_loss"),
    Spec("mse_3d", "mse_loss", input_dims=3),
    Spec("l1", "l1_loss"),
    Spec("l1_1d", "l1_loss", input_dims=1),
    Spec("bce", "binary_cross_entropy"),
    Spec("bce_weight", "binary_cross_entropy", input_dims=3, weight=True),
    Spec("bce_logits", "binary_cross_entropy_with_logits"),
    Spec("bce_logits_weight_pos_weight", "binary_cross_entropy_with_logits", input_dims=3, weight=True,
         pos_weight=True),
    Spec("smooth_l1", "smooth_l1_loss"),
    Spec("smooth_l1_beta", "smooth_l1_loss", input_dims=3, options={"beta": 0.5}),
    Spec("smooth_l1_beta_0", "smooth_l1_loss", options={"beta": 0.0}),
    Spec("huber", "huber_loss", input_dims=1),
    Spec("huber_delta", "huber_loss", input_dims=3, options={"delta": 2.0}),
    Spec("kl_div", "kl_div"),
    Spec("kl_div_batchmean", "kl_div", input_dims=3, options={"reduction": "batchmean"}),
    Spec("kl_div_log_target", "kl_div", options={"log_target": True}),
]
KINK = {"l1_loss": "beta", "smooth_l1_loss": "beta", "huber_loss": "delta"}  # |x − t| kept off these


# ---- building one case ------------------------------------------------------------------------------
@dataclass
class Case:
    spec: Spec
    input: np.ndarray
    target: np.ndarray
    kwargs: dict  # reduction, ignore_index, label_smoothing
    arrays: dict  # weight, pos_weight (NumPy; constants)

    @property
    def target_grad(self):
        return self.target.dtype.kind == "f"

    def minidl_fn(self, fn=None):
        """The loss (``fn``, or the spec's op) as a function of the differentiable Tensors:
        (input, target) or (input,)."""
        fn = fn or getattr(F, self.spec.op)
        extra = {k: tensor(v, dtype="float64") for k, v in self.arrays.items()}
        if self.target_grad:
            return lambda x, t: fn(x, t, **self.kwargs, **extra)
        t = tensor(self.target)
        return lambda x: fn(x, t, **self.kwargs, **extra)

    def minidl_inputs(self):
        x = tensor(self.input, dtype="float64", requires_grad=True)
        if self.target_grad:
            return [x, tensor(self.target, dtype="float64", requires_grad=True)]
        return [x]

    def torch_run(self, torch, upstream):
        fn = getattr(torch.nn.functional, self.spec.op)
        x = torch.tensor(self.input, requires_grad=True)
        t = torch.tensor(self.target, requires_grad=self.target_grad)
        extra = {k: torch.tensor(v) for k, v in self.arrays.items()}
        y = fn(x, t, **self.kwargs, **extra)
        y.backward(torch.tensor(upstream))
        return y, [x.grad] + ([t.grad] if self.target_grad else [])


def _make_case(spec, rng, N, C, d, reduction):
    if spec.input_dims == 1:
        shape = (C,)
    else:
        shape = (N, C) + (d,) * (spec.input_dims - 2)
    kwargs = {"reduction": reduction}
    arrays = {}
    if spec.op == "binary_cross_entropy":
        x = rng.uniform(0.05, 0.95, shape)
    else:
        x = rng.uniform(-3, 3, shape)
    if spec.target == "index":
        target_shape = () if spec.input_dims == 1 else (N,) + shape[2:]
        t = rng.integers(0, C, target_shape)
        if spec.ignore:
            ignore_index = int(rng.choice([-100, 0, C - 1]))
            kwargs["ignore_index"] = ignore_index
            t = np.where(rng.random(target_shape) < 0.3, ignore_index, t)
    elif spec.target == "prob":
        e = rng.uniform(0.1, 1, shape)
        t = e / e.sum(axis=0 if spec.input_dims == 1 else 1, keepdims=True)
    else:
        x, t = _same_shape_case(spec, rng, x, shape)
    if spec.weight:
        arrays["weight"] = rng.uniform(0.2, 2, (C,) if spec.target in ("index", "prob") else shape[-2:])
    if spec.pos_weight:
        arrays["pos_weight"] = rng.uniform(0.2, 3, shape[-1:])
    if spec.smoothing:
        kwargs["label_smoothing"] = spec.smoothing
    kwargs.update(spec.options)
    return Case(spec, x, t, kwargs, arrays)


def _same_shape_case(spec, rng, x, shape):
    """(x, t) for the losses whose target has the input's shape."""
    if spec.op in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        return x, rng.uniform(0, 1, shape)
    if spec.op == "kl_div":  # x: log-probabilities; t: probabilities (or their logs)
        t = rng.uniform(0.05, 1, shape)
        return x - 3, np.log(t) if spec.options.get("log_target") else t
    t = rng.uniform(-3, 3, shape)
    if spec.op in KINK:  # keep |x − t| away from the kinks at 0 and at β (δ)
        kink = spec.options.get(KINK[spec.op], 0.0 if spec.op == "l1_loss" else 1.0)
        for point in {0.0, kink}:
            t = np.where(np.abs(np.abs(x - t) - point) < 0.05, x + point + 0.1, t)
    return x, t


# ---- NumPy references ------------------------------------------------------------------------------
def _log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _reduce(loss, reduction, denominator=None):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    with np.errstate(invalid="ignore"):  # every sample ignored: 0/0 = NaN, as PyTorch
        return loss.sum() / (loss.size if denominator is None else denominator)


def _class_losses(case):
    """Cross-entropy / nll per sample, by an explicit loop over samples, and the 'mean' divisor."""
    x, t, kw = case.input, case.target, case.kwargs
    batched = x if x.ndim > 1 else x[None]
    C = batched.shape[1]
    w = case.arrays.get("weight", np.ones(C))
    eps = kw.get("label_smoothing", 0.0)
    lp = _log_softmax(batched, 1) if case.spec.op == "cross_entropy" else batched
    lp = np.moveaxis(lp, 1, -1).reshape(-1, C)  # one row per sample
    if case.spec.target == "prob":
        tt = np.moveaxis(t if t.ndim > 1 else t[None], 1, -1).reshape(-1, C)
        q = tt * (1 - eps) + eps / C
        losses = -(q * w * lp).sum(axis=1)
        return losses.reshape(t.shape[:1] + t.shape[2:] if t.ndim > 1 else ()), len(losses)
    ignore_index = kw.get("ignore_index", -100)
    losses, weights = [], []
    for row, y in zip(lp, t.reshape(-1)):
        if y == ignore_index:
            losses.append(0.0)
            weights.append(0.0)
            continue
        losses.append(-(1 - eps) * w[y] * row[y] - eps / C * (w * row).sum())
        weights.append(w[y])
    return np.array(losses).reshape(t.shape), sum(weights)


def _reference(case):
    x, t, red = case.input, case.target, case.kwargs["reduction"]
    op = case.spec.op
    if op in ("cross_entropy", "nll_loss"):
        losses, denominator = _class_losses(case)
        return _reduce(losses, red, denominator)
    if op == "mse_loss":
        return _reduce((x - t) ** 2, red)
    if op == "l1_loss":
        return _reduce(np.abs(x - t), red)
    if op in ("smooth_l1_loss", "huber_loss", "kl_div"):
        return _reduce_regression(case)
    w = case.arrays.get("weight", 1.0)
    if op == "binary_cross_entropy":
        return _reduce(-w * (t * np.log(x) + (1 - t) * np.log(1 - x)), red)
    pw = case.arrays.get("pos_weight", 1.0)
    s = 1 / (1 + np.exp(-x))
    return _reduce(-w * (pw * t * np.log(s) + (1 - t) * np.log(1 - s)), red)


def _reduce_regression(case):
    x, t, kw = case.input, case.target, case.kwargs
    a = np.abs(x - t)
    if case.spec.op == "smooth_l1_loss":
        beta = kw.get("beta", 1.0)
        loss = a if beta == 0 else np.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta)
    elif case.spec.op == "huber_loss":
        delta = kw.get("delta", 1.0)
        loss = np.where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta))
    else:
        loss = np.exp(t) * (t - x) if kw.get("log_target") else t * (np.log(t) - x)
    if kw["reduction"] == "batchmean":
        return loss.sum() / x.shape[0]
    return _reduce(loss, kw["reduction"])


# ---- the property test ------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@given(
    seed=st.integers(0, 2**32 - 1),
    N=st.integers(1, 3),
    C=st.integers(1, 4),
    d=st.integers(1, 2),
    reduction=st.sampled_from(REDUCTIONS),
)
def test_loss(spec, seed, N, C, d, reduction):
    case = _make_case(spec, np.random.default_rng(seed), N, C, d, reduction)
    fn, inputs = case.minidl_fn(), case.minidl_inputs()
    out = assert_not_mutated(fn, *inputs)
    expected = _reference(case)
    assert_close(out, expected, rtol=1e-10, atol=1e-12)
    assert out.dtype == np.float64 and out.requires_grad
    assert_gradients_match(fn, *inputs)
    upstream = tensor(np.random.default_rng(seed + 1).standard_normal(out.shape), dtype="float64")
    grads = minidl.grad(fn(*inputs), inputs, upstream)
    for t, g in zip(inputs, grads):
        assert g.shape == t.shape and g.dtype == t.dtype
    if spec.op == "cross_entropy":  # the op == its reference, values and gradients
        reference = case.minidl_fn(F.cross_entropy.reference)
        assert_close(out, reference(*inputs), rtol=1e-12, atol=1e-13)
        for g, gc in zip(grads, minidl.grad(reference(*inputs), inputs, upstream)):
            assert_close(g, gc, rtol=1e-10, atol=1e-13, what="gradient")


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")  # torch's kl_div note
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_loss_matches_torch(spec, reduction):
    torch = pytest.importorskip("torch")
    case = _make_case(spec, np.random.default_rng(8), 4, 5, 3, reduction)
    fn, inputs = case.minidl_fn(), case.minidl_inputs()
    out = fn(*inputs)
    upstream = np.random.default_rng(9).standard_normal(out.shape)
    grads = minidl.grad(out, inputs, tensor(upstream, dtype="float64"))
    ty, tgrads = case.torch_run(torch, upstream)
    assert_close(out.detach(), ty, rtol=1e-10, atol=1e-12)
    for i, (g, tg) in enumerate(zip(grads, tgrads)):
        assert_close(g, tg, rtol=1e-9, atol=1e-12, what=f"gradient of input {i}")


# ---- particular values --------------------------------------------------------------------------
def test_cross_entropy_is_stable_for_huge_logits_and_keeps_float32():
    torch = pytest.importorskip("torch")
    a = np.array([[1e4, -1e4, 0.0], [3e4, 3e4, -5.0]], dtype=np.float32)
    t = np.array([1, 2])
    x = tensor(a, requires_grad=True)
    y = F.cross_entropy(x, tensor(t), label_smoothing=0.1)
    y.backward()
    tx = torch.tensor(a, requires_grad=True)
    ty = torch.nn.functional.cross_entropy(tx, torch.tensor(t), label_smoothing=0.1)
    ty.backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    assert_close(y.detach(), ty, rtol=1e-6)
    assert_close(x.grad, tx.grad, rtol=1e-5, atol=1e-7)


def test_cross_entropy_reads_non_contiguous_input():
    a = np.random.default_rng(0).standard_normal((5, 4))
    t = tensor([0, 3, 1, 2])
    x = tensor(a, dtype="float64", requires_grad=True)
    xt = x.transpose(0, 1)  # (4, 5): a transposed view
    out = F.cross_entropy(xt, t, reduction="sum")
    out.backward()
    g_fused = x.grad.numpy().copy()
    x.grad = None
    F.cross_entropy.reference(xt, t, reduction="sum").backward()
    assert_close(out.detach(), F.cross_entropy.reference(xt.detach(), t, reduction="sum"), rtol=1e-12)
    assert_close(g_fused, x.grad, rtol=1e-12)


def test_cross_entropy_with_every_target_ignored_is_nan_like_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((2, 3))
    for op in (F.cross_entropy, F.cross_entropy.reference, F.nll_loss):
        y = op(tensor(a, dtype="float64"), tensor([-100, -100]))
        assert np.isnan(y.item())
    assert np.isnan(torch.nn.functional.cross_entropy(torch.tensor(a), torch.tensor([-100, -100])).item())
    y = F.cross_entropy(tensor(a, dtype="float64"), tensor([-100, -100]), reduction="sum")
    assert y.item() == 0.0


def test_cross_entropy_output_shapes():
    x = minidl.randn(2, 3, 4, 5)
    t = minidl.randint(0, 3, (2, 4, 5))
    assert F.cross_entropy(x, t, reduction="none").shape == (2, 4, 5)
    assert F.cross_entropy(x, t).shape == ()
    assert F.cross_entropy(minidl.randn(3), tensor(1), reduction="none").shape == ()
    assert F.nll_loss(minidl.randn(3), tensor(1), reduction="none").shape == ()


def test_binary_cross_entropy_clamps_log_at_minus_100_like_torch():
    torch = pytest.importorskip("torch")
    a = np.array([0.0, 1.0, 0.0, 1.0, 0.3])
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.5])
    x = tensor(a, dtype="float64", requires_grad=True)
    tt = tensor(t, dtype="float64", requires_grad=True)
    y = F.binary_cross_entropy(x, tt, reduction="none")
    assert_close(y.detach()[:4], [100.0, 100.0, 0.0, 0.0])
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all() and np.isfinite(tt.grad.numpy()).all()
    tx = torch.tensor(a, requires_grad=True)
    ttt = torch.tensor(t, requires_grad=True)
    ty = torch.nn.functional.binary_cross_entropy(tx, ttt, reduction="none")
    ty.sum().backward()
    assert_close(y.detach(), ty, rtol=1e-12)
    assert_close(x.grad, tx.grad, rtol=1e-12)
    # the target's gradient is that of the clamped loss: finite (±100) at x = 0 or 1, where
    # PyTorch differentiates the unclamped logs and returns ±inf; inside (0, 1) they agree
    assert_close(tt.grad, [100.0, -100.0, 100.0, -100.0, np.log(0.7 / 0.3)], rtol=1e-12)
    assert_close(tt.grad[4:], ttt.grad[4:], rtol=1e-12)


def test_binary_cross_entropy_with_logits_is_stable_like_torch():
    torch = pytest.importorskip("torch")
    a = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    x = tensor(a, dtype="float64", requires_grad=True)
    y = F.binary_cross_entropy_with_logits(x, tensor(t, dtype="float64"), reduction="none",
                                           pos_weight=tensor([2.0], dtype="float64"))
    y.sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    ty = torch.nn.functional.binary_cross_entropy_with_logits(tx, torch.tensor(t), reduction="none",
                                                             pos_weight=torch.tensor([2.0]))
    ty.sum().backward()
    assert np.isfinite(y.detach().numpy()).all()
    assert_close(y.detach(), ty, rtol=1e-12, atol=1e-14)
    assert_close(x.grad, tx.grad, rtol=1e-12, atol=1e-14)


# ---- errors -------------------------------------------------------------------------------------------
def test_cross_entropy_errors():
    x = minidl.randn(3, 5)
    for op in (F.cross_entropy, F.cross_entropy.reference, F.nll_loss):
        with pytest.raises(TypeError, match=r"class-index target must be an integer tensor.*float32.*\(3,\)"):
            op(x, tensor([0.0, 1.0, 2.0]))
        with pytest.raises(IndexError, match=r"target value 7 is out of range for C=5 classes"):
            op(x, tensor([0, 7, 2]))
        with pytest.raises(IndexError, match=r"target value -3 is out of range"):
            op(x, tensor([0, -3, 2]))
        with pytest.raises(ValueError, match=r"expected a class-index target of shape \(3,\) for input of shape "
                                             r"\(3, 5\), got target of shape \(4,\)"):
            op(x, tensor([0, 1, 2, 3]))
        with pytest.raises(ValueError, match=r"weight of shape \(4,\) must have one entry per class, \(5,\)"):
            op(x, tensor([0, 1, 2]), weight=minidl.ones(4))
        with pytest.raises(ValueError, match="reduction must be"):
            op(x, tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(x, tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"of shape \(3, 5\), got target of shape \(3, 5\)"):
        F.cross_entropy(x, minidl.zeros(3, 5, dtype="int64"))  # integer probabilities are not a thing
    with pytest.raises(TypeError, match="floating point"):
        F.cross_entropy(minidl.zeros(3, 5, dtype="int64"), tensor([0, 1, 2]))


@pytest.mark.parametrize("op", ["mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
                                "smooth_l1_loss", "huber_loss", "kl_div"])
def test_shape_mismatch_is_an_error_not_a_broadcast(op):
    with pytest.raises(ValueError, match=rf"{op}: input shape \(4, 1\) and target shape \(4,\) differ"):
        getattr(F, op)(minidl.rand(4, 1), minidl.rand(4))


def test_regression_loss_option_errors():
    x, t = minidl.full((2, 3), 0.25), minidl.full((2, 3), 0.5)
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be a non-negative number, got -1"):
        F.smooth_l1_loss(x, t, beta=-1.0)
    with pytest.raises(ValueError, match="huber_loss: delta must be a non-negative number"):
        F.huber_loss(x, t, delta=float("nan"))
    with pytest.raises(ValueError, match="kl_div: reduction must be .* 'batchmean', got 'avg'"):
        F.kl_div(x, t, reduction="avg")


def test_kl_div_of_a_zero_target_probability_is_zero_like_torch():
    torch = pytest.importorskip("torch")
    a, p = np.log([[0.2, 0.3, 0.5]]), np.array([[0.0, 0.4, 0.6]])
    x, t = tensor(a, dtype="float64", requires_grad=True), tensor(p, dtype="float64", requires_grad=True)
    y = F.kl_div(x, t, reduction="sum")
    y.backward()
    tx, tt = torch.tensor(a, requires_grad=True), torch.tensor(p, requires_grad=True)
    ty = torch.nn.functional.kl_div(tx, tt, reduction="sum")
    ty.backward()
    assert_close(y.detach(), ty, rtol=1e-12)
    assert_close(x.grad, tx.grad, rtol=1e-12)
    assert_close(t.grad[0, 1:], tt.grad[0, 1:], rtol=1e-12)
    # at t = 0 torch's dL/dt is log 0 + 1 − x = −inf; ours treats t log t as the constant 0 there: −x
    assert_close(t.grad[0, 0], -a[0, 0], rtol=1e-12)


def test_binary_cross_entropy_errors():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input values must be probabilities in \[0, 1\]"):
        F.binary_cross_entropy(tensor([0.5, 1.5]), tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"weight of shape \(3,\) does not broadcast to the input shape \(2, 2\)"):
        F.binary_cross_entropy(minidl.rand(2, 2), minidl.rand(2, 2), weight=minidl.ones(3))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\)"):
        F.binary_cross_entropy_with_logits(minidl.rand(2, 2), minidl.rand(2, 2), pos_weight=minidl.ones(3))


# ---- devices ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", [s for s in SPECS if s.input_dims >= 2], ids=lambda s: s.name)
def test_loss_on_each_device_matches_cpu(spec, device):
    case = _make_case(spec, np.random.default_rng(5), 3, 4, 2, "mean")
    results = []
    for dev in ("cpu", device):
        extra = {k: tensor(v, dtype="float64", device=dev) for k, v in case.arrays.items()}
        x = tensor(case.input, dtype="float64", requires_grad=True, device=dev)
        t = tensor(case.target, device=dev, dtype="float64" if case.target_grad else None)
        y = getattr(F, spec.op)(x, t, **case.kwargs, **extra)
        y.backward()
        assert y.device == x.grad.device == x.device
        results.append((minidl.backend.as_numpy(y.array), minidl.backend.as_numpy(x.grad.array)))
    for cpu, dev in zip(*results):
        assert_close(dev, cpu, rtol=1e-10, atol=1e-12)
