"""PyTorch as an oracle for the core primitives: values, gradients for a random upstream
gradient, and for some ops second derivatives (Hessian-vector products)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import minidl
import minidl.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


@dataclass(frozen=True)
class Case:
    name: str
    ours: Callable
    theirs: Callable
    shapes: list
    kinds: tuple = ()  # per input: "any" (default), "positive", "nonzero", "distinct"
    hvp: bool = False  # also compare Hessian-vector products
    consts: dict = field(default_factory=dict)


def _i(values):
    """An index for both libraries: (minidl tensor, torch tensor)."""
    return minidl.tensor(values), torch.tensor(values)


IDX = _i([2, 0, 0, 1])
MASK = np.array([[True, False, True], [False, False, True]])

CASES = [
    # elementwise
    Case("add", lambda a, b: a + b, lambda a, b: a + b, [(2, 3), (3,)]),
    Case("sub", lambda a, b: a - b, lambda a, b: a - b, [(2, 1), (1, 3)]),
    Case("mul", lambda a, b: a * b, lambda a, b: a * b, [(2, 3), (2, 3)], hvp=True),
    Case("div", lambda a, b: a / b, lambda a, b: a / b, [(2, 3), (3,)], ("any", "nonzero"), hvp=True),
    Case("neg", lambda a: -a, lambda a: -a, [(4,)]),
    Case("pow_scalar", lambda a: a**3, lambda a: a**3, [(2, 3)], hvp=True),
    Case("pow_frac", lambda a: a**0.7, lambda a: a**0.7, [(5,)], ("positive",)),
    Case("rpow", lambda a: 1.7**a, lambda a: 1.7**a, [(5,)], hvp=True),
    Case("pow_tensor", lambda a, b: a**b, lambda a, b: a**b, [(2, 3), (3,)], ("positive", "any"), hvp=True),
    Case("exp", F.exp, torch.exp, [(2, 3)], hvp=True),
    Case("log", F.log, torch.log, [(2, 3)], ("positive",), hvp=True),
    Case("sqrt", F.sqrt, torch.sqrt, [(2, 3)], ("positive",), hvp=True),
    Case("abs", F.abs, torch.abs, [(2, 3)], ("nonzero",)),
    Case("sin", F.sin, torch.sin, [(2, 3)], hvp=True),
    Case("cos", F.cos, torch.cos, [(2, 3)], hvp=True),
    Case("tanh", F.tanh, torch.tanh, [(2, 3)], hvp=True),
    Case("sigmoid", F.sigmoid, torch.sigmoid, [(2, 3)], hvp=True),
    Case("relu", F.relu, torch.relu, [(2, 3)], ("nonzero",)),
    Case("maximum", F.maximum, torch.maximum, [(2, 3), (3,)], ("distinct", "distinct")),
    Case("minimum", F.minimum, torch.minimum, [(2, 3), (2, 1)], ("distinct", "distinct")),
    Case("clamp", lambda a: a.clamp(-0.5, 0.7), lambda a: a.clamp(-0.5, 0.7), [(3, 4)], ("distinct",)),
    Case(
        "where",
        lambda a, b: F.where(minidl.tensor(MASK), a, b),
        lambda a, b: torch.where(torch.tensor(MASK), a, b),
        [(2, 3), (3,)],
    ),
    Case(
        "masked_fill",
        lambda a: a.masked_fill(minidl.tensor(MASK[0]), -1.5),
        lambda a: a.masked_fill(torch.tensor(MASK[0]), -1.5),
        [(2, 3)],
    ),
    # reductions
    Case("sum", lambda a: a.sum((0, 2)), lambda a: a.sum((0, 2)), [(2, 3, 4)]),
    Case("sum_keepdim", lambda a: a.sum(1, keepdim=True), lambda a: a.sum(1, keepdim=True), [(2, 3)]),
    Case("mean", lambda a: a.mean(-1), lambda a: a.mean(-1), [(2, 3)]),
    Case("var", lambda a: a.var(1), lambda a: a.var(1), [(2, 4)], ("distinct",), hvp=True),
    Case("var_biased", lambda a: a.var(unbiased=False), lambda a: a.var(unbiased=False), [(2, 4)], ("distinct",)),
    Case("std", lambda a: a.std(0, keepdim=True), lambda a: a.std(0, keepdim=True), [(3, 4)], ("distinct",), hvp=True),
    Case("amax", lambda a: a.amax((0, 1)), lambda a: a.amax((0, 1)), [(2, 3, 2)], ("distinct",)),
    Case("amin", lambda a: a.amin(-1), lambda a: a.amin(-1), [(2, 3)], ("distinct",)),
    Case("max_all", lambda a: a.max(), lambda a: a.max(), [(2, 3)], ("distinct",)),
    Case("max_dim", lambda a: tuple(a.max(1)), lambda a: tuple(a.max(1)), [(3, 4)], ("distinct",)),
    Case("min_dim", lambda a: tuple(a.min(0, keepdim=True)), lambda a: tuple(a.min(0, keepdim=True)), [(3, 4)],
         ("distinct",)),
    Case("logsumexp", lambda a: a.logsumexp(1), lambda a: a.logsumexp(1), [(3, 4)], hvp=True),
    Case("argmax", lambda a: a.argmax(1), lambda a: a.argmax(1), [(3, 4)], ("distinct",)),
    Case("argmin", lambda a: a.argmin(), lambda a: a.argmin(), [(3, 4)], ("distinct",)),
    Case("softmax", lambda a: F.softmax(a, 1), lambda a: torch.softmax(a, 1), [(2, 5)], hvp=True),
    Case("log_softmax", lambda a: F.log_softmax(a, 0), lambda a: torch.log_softmax(a, 0), [(3, 2)], hvp=True),
    # shapes and indexing
    Case("reshape", lambda a: a.reshape(3, -1), lambda a: a.reshape(3, -1), [(2, 3, 2)]),
    Case("view", lambda a: a.view(6), lambda a: a.view(6), [(2, 3)]),
    Case("transpose", lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2), [(2, 3, 4)]),
    Case("permute", lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), [(2, 3, 4)]),
    Case("flatten", lambda a: a.flatten(1), lambda a: a.flatten(1), [(2, 3, 4)]),
    Case("squeeze", lambda a: a.squeeze(1), lambda a: a.squeeze(1), [(2, 1, 3)]),
    Case("unsqueeze", lambda a: a.unsqueeze(-1), lambda a: a.unsqueeze(-1), [(2, 3)]),
    Case("expand", lambda a: a.expand(4, 2, 3), lambda a: a.expand(4, 2, 3), [(2, 1)]),
    Case("broadcast_to", lambda a: F.broadcast_to(a, (2, 3)), lambda a: torch.broadcast_to(a, (2, 3)), [(3,)]),
    Case("T", lambda a: a.T, lambda a: a.T, [(2, 3)]),
    Case("mT", lambda a: a.mT, lambda a: a.mT, [(2, 3, 4)]),
    Case("getitem_basic", lambda a: a[1:, None, ..., ::2], lambda a: a[1:, None, ..., ::2], [(3, 2, 4)]),
    Case("getitem_int", lambda a: a[-1, 1], lambda a: a[-1, 1], [(3, 2, 4)]),
    Case("getitem_repeated", lambda a: a[IDX[0]], lambda a: a[IDX[1]], [(3, 2)]),
    Case("getitem_two_arrays", lambda a: a[IDX[0], IDX[0]], lambda a: a[IDX[1], IDX[1]], [(3, 3)]),
    Case("getitem_bool", lambda a: a[minidl.tensor(MASK)], lambda a: a[torch.tensor(MASK)], [(2, 3)]),
    Case("cat", lambda a, b: F.cat([a, b, a], 1), lambda a, b: torch.cat([a, b, a], 1), [(2, 3), (2, 1)]),
    Case("stack", lambda a, b: F.stack([a, b], -1), lambda a, b: torch.stack([a, b], -1), [(2, 3), (2, 3)]),
    Case("split", lambda a: a.split(2, 1), lambda a: a.split(2, 1), [(2, 5)]),
    Case("split_sections", lambda a: a.split([1, 3], 0), lambda a: a.split([1, 3], 0), [(4, 2)]),
    Case("chunk", lambda a: a.chunk(3, 0), lambda a: a.chunk(3, 0), [(5, 2)]),
    Case("pad_constant", lambda a: F.pad(a, (1, 2, 0, 1), value=0.5), lambda a: TF.pad(a, (1, 2, 0, 1), value=0.5),
         [(2, 3)]),
    Case("pad_reflect", lambda a: F.pad(a, (2, 1), mode="reflect"), lambda a: TF.pad(a, (2, 1), mode="reflect"),
         [(2, 2, 4)]),
    Case("pad_replicate", lambda a: F.pad(a, (2, 1, 1, 0), mode="replicate"),
         lambda a: TF.pad(a, (2, 1, 1, 0), mode="replicate"), [(2, 3, 4)]),
    Case("pad_circular", lambda a: F.pad(a, (1, 3), mode="circular"), lambda a: TF.pad(a, (1, 3), mode="circular"),
         [(1, 2, 3)]),
    Case("repeat", lambda a: a.repeat(2, 1, 3), lambda a: a.repeat(2, 1, 3), [(2, 3)]),
    Case("narrow", lambda a: F.narrow(a, 1, 1, 2), lambda a: a.narrow(1, 1, 2), [(2, 4)]),
    Case("index_select", lambda a: F.index_select(a, 1, IDX[0]), lambda a: a.index_select(1, IDX[1]), [(2, 3)]),
    Case("clone", lambda a: a.clone(), lambda a: a.clone(), [(2, 3)]),
    Case("to_float32", lambda a: a.float() * 2, lambda a: a.float() * 2, [(3,)]),
    # matrix products
    Case("matmul_2d", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3), (3, 4)], hvp=True),
    Case("matmul_batched", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4), (2, 4, 2)], hvp=True),
    Case("matmul_broadcast", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)], hvp=True),
    Case("matmul_vec_mat", lambda a, b: a @ b, lambda a, b: a @ b, [(3,), (2, 3, 4)]),
    Case("matmul_mat_vec", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4), (4,)]),
    Case("matmul_vec_vec", lambda a, b: a @ b, lambda a, b: a @ b, [(4,), (4,)]),
    Case("linear", F.linear, TF.linear, [(2, 3, 4), (5, 4), (5,)], hvp=True),
    Case("dot", F.dot, torch.dot, [(4,), (4,)]),
    # composed expressions
    Case(
        "mlp",
        lambda x, w, b: F.log_softmax(F.tanh(F.linear(x, w, b)), -1).sum(0),
        lambda x, w, b: torch.log_softmax(torch.tanh(TF.linear(x, w, b)), -1).sum(0),
        [(4, 3), (5, 3), (5,)],
        hvp=True,
    ),
]


def _draw(rng, shape, kind):
    if kind == "positive":
        return rng.uniform(0.3, 2.0, shape)
    if kind == "nonzero":
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.0, shape)
    if kind == "distinct":  # a shuffled grid: no two values within 0.1
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.1 - 0.05 * n + 0.013).reshape(shape)
    return rng.uniform(-2.0, 2.0, shape)


def _inputs(case, seed):
    rng = np.random.default_rng(seed)
    kinds = case.kinds or ("any",) * len(case.shapes)
    arrays = [_draw(rng, s, k) for s, k in zip(case.shapes, kinds)]
    ours = [minidl.tensor(a, dtype=minidl.float64, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    return rng, ours, theirs


def _tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else minidl.tensor(t).numpy()


def _float_outputs(ours, theirs):
    return [(o, t) for o, t in zip(ours, theirs) if t.dtype.is_floating_point and t.requires_grad]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("seed", [0, 1])
def test_values_and_gradients_match_torch(case, seed):
    rng, ours, theirs = _inputs(case, seed)
    out_o, out_t = _tuple(case.ours(*ours)), _tuple(case.theirs(*theirs))
    assert len(out_o) == len(out_t)
    for k, (o, t) in enumerate(zip(out_o, out_t)):
        assert tuple(o.shape) == tuple(t.shape), f"output {k}: shape {o.shape} vs torch {tuple(t.shape)}"
        assert o.dtype == np.dtype(str(t.dtype).removeprefix("torch.")), f"output {k}: dtype {o.dtype} vs {t.dtype}"
        np.testing.assert_allclose(o.detach().numpy(), _np(t), rtol=1e-12, atol=1e-12, err_msg=f"output {k}")
    pairs = _float_outputs(out_o, out_t)
    if not pairs:
        return
    ups = [rng.standard_normal(tuple(t.shape)) for _, t in pairs]
    grads_o = minidl.grad([o for o, _ in pairs], ours, [minidl.tensor(u) for u in ups], allow_unused=True)
    grads_t = torch.autograd.grad([t for _, t in pairs], theirs, [torch.tensor(u) for u in ups], allow_unused=True)
    for i, (go, gt) in enumerate(zip(grads_o, grads_t)):
        if gt is None:
            assert go is None or not np.any(go.numpy()), f"input {i}: torch has no gradient"
            continue
        assert go is not None, f"input {i}: no gradient, torch has one"
        np.testing.assert_allclose(go.numpy(), gt.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"gradient of input {i}")


@pytest.mark.parametrize("case", [c for c in CASES if c.hvp], ids=lambda c: c.name)
def test_hessian_vector_products_match_torch(case):
    rng, ours, theirs = _inputs(case, 2)
    out_o, out_t = case.ours(*ours), case.theirs(*theirs)
    u = rng.standard_normal(tuple(out_t.shape))
    gs_o = minidl.grad(out_o, ours, minidl.tensor(u), create_graph=True)
    gs_t = torch.autograd.grad(out_t, theirs, torch.tensor(u), create_graph=True)
    vs = [rng.standard_normal(tuple(t.shape)) for t in theirs]
    dot_o = sum((g * minidl.tensor(v)).sum() for g, v in zip(gs_o, vs))
    dot_t = sum((g * torch.tensor(v)).sum() for g, v in zip(gs_t, vs))
    hv_o = minidl.grad(dot_o, ours, allow_unused=True)
    hv_t = torch.autograd.grad(dot_t, theirs, allow_unused=True)
    for i, (ho, ht) in enumerate(zip(hv_o, hv_t)):
        expected = np.zeros(theirs[i].shape) if ht is None else ht.numpy()
        actual = np.zeros(theirs[i].shape) if ho is None else ho.numpy()
        np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-11, err_msg=f"Hv, input {i}")


def test_rosenbrock_hvp_matches_torch():
    def rosen(p, lib_sum):
        x, y = p[:-1], p[1:]
        return lib_sum(100 * (y - x * x) ** 2 + (1 - x) ** 2)

    start = np.array([-1.2, 1.0, 0.5, 2.0])
    v = np.array([0.3, -0.7, 1.1, 0.2])
    p_o = minidl.tensor(start, requires_grad=True)
    p_t = torch.tensor(start, requires_grad=True)
    (g_o,) = minidl.grad(rosen(p_o, minidl.sum), p_o, create_graph=True)
    (g_t,) = torch.autograd.grad(rosen(p_t, torch.sum), p_t, create_graph=True)
    (h_o,) = minidl.grad((g_o * minidl.tensor(v)).sum(), p_o)
    (h_t,) = torch.autograd.grad((g_t * torch.tensor(v)).sum(), p_t)
    np.testing.assert_allclose(g_o.detach().numpy(), g_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(h_o.numpy(), h_t.numpy(), rtol=1e-12)


def test_float32_results_match_torch():
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    x, t = minidl.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y = F.log_softmax(x.tanh() @ x.T, 1).sum()
    z = torch.log_softmax(t.tanh() @ t.T, 1).sum()
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.item(), z.item(), rtol=1e-5)
    y.backward()
    z.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_dtype_promotion_matches_torch():
    i_o, i_t = minidl.arange(4), torch.arange(4)
    for f in (lambda i: i * 0.5, lambda i: i / 2, lambda i: i + 1, lambda i: i * 2, lambda i: 1.5 - i):
        assert str(f(i_o).dtype) == str(f(i_t).dtype).removeprefix("torch.")
    assert str(minidl.tensor(1.0).dtype) == str(torch.tensor(1.0).dtype).removeprefix("torch.")
    assert str(minidl.tensor([1, 2]).dtype) == str(torch.tensor([1, 2]).dtype).removeprefix("torch.")
