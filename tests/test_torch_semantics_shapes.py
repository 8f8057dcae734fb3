"""Shapes against PyTorch, one ``@given`` property per rule: dims of size 0 (reductions, softmax,
matmul, cat), broadcasting (an error exactly where PyTorch's is; in-place ops never broadcast the
tensor they write), losses whose input and target shapes differ, class targets out of range,
and indices out of bounds.

One deliberate difference: PyTorch's mse_loss and l1_loss broadcast an input and a target of
different shapes with a warning (a frequent bug: (N, 1) against (N,) gives an (N, N) loss);
minidl raises a ValueError naming both shapes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch_oracle import Raised, assert_same, assert_same_value_and_grads, outcome

import minidl
import minidl.functional as F
from minidl.testing import broadcastable_shapes, shapes

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


EMPTY_REDUCTIONS = {
    "sum": lambda a, d, k: a.sum() if d is None else a.sum(d, keepdim=k),
    "mean": lambda a, d, k: a.mean() if d is None else a.mean(d, keepdim=k),
    "var": lambda a, d, k: a.var() if d is None else a.var(d, keepdim=k),
    "amax": lambda a, d, k: a.amax() if d is None else a.amax(d, keepdim=k),
    "amin": lambda a, d, k: a.amin() if d is None else a.amin(d, keepdim=k),
    "max": lambda a, d, k: a.max() if d is None else a.max(d, keepdim=k)[0],
    "min_indices": lambda a, d, k: a.min() if d is None else a.min(d, keepdim=k)[1],
    "argmax": lambda a, d, k: a.argmax() if d is None else a.argmax(d, keepdim=k),
    "logsumexp": lambda a, d, k: a.logsumexp(0 if d is None else d, keepdim=k),
    "softmax": lambda a, d, k: a.softmax(0 if d is None else d),
    "log_softmax": lambda a, d, k: a.log_softmax(-1 if d is None else d),
}


@given(st.sampled_from(sorted(EMPTY_REDUCTIONS)), shapes(min_dims=1, max_dims=3, min_side=0, max_side=3), st.data())
def test_reductions_over_dims_of_size_0(name, shape, data):
    """Sums of nothing are 0, means NaN, logsumexp −inf; max/min/argmax over a dim of size 0 raise
    (IndexError in both); softmax of nothing is nothing."""
    dim = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    keep = data.draw(st.booleans())
    fn = EMPTY_REDUCTIONS[name]
    with np.errstate(invalid="ignore", divide="ignore"):
        assert_same_value_and_grads(lambda a: fn(a, dim, keep), lambda a: fn(a, dim, keep), [_rand(shape)],
                                    rtol=1e-6, names=(name.split("_")[0], str(dim), "empty", "size 0"))


@given(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.sampled_from(["mm", "mv", "vm", "batched"]))
def test_matmul_with_dims_of_size_0(n, k, m, kind):
    shapes_of = {"mm": ((n, k), (k, m)), "mv": ((n, k), (k,)), "vm": ((k,), (k, m)), "batched": ((2, n, k), (k, m))}
    a, b = shapes_of[kind]
    assert_same_value_and_grads(lambda x, y: x @ y, lambda x, y: x @ y, [_rand(a), _rand(b, 1)], rtol=1e-9)


@given(st.lists(st.sampled_from([(0,), (0, 3), (2, 3), (1, 3), (2, 0), (0, 4)]), min_size=1, max_size=4),
       st.sampled_from([0, 1, -1]))
def test_cat_with_empty_tensors(pieces, dim):
    """PyTorch skips 1-D tensors of shape (0,) next to others (a legacy placeholder); every other
    tensor must match outside ``dim``."""
    arrays = [_rand(p, i) for i, p in enumerate(pieces)]
    assert_same_value_and_grads(lambda *xs: F.cat(list(xs), dim), lambda *xs: torch.cat(list(xs), dim), arrays,
                                names=("cat",))


@given(st.sampled_from(["add", "mul", "maximum", "where", "pow"]), st.data())
def test_broadcasting_raises_exactly_where_torch_does(name, data):
    if data.draw(st.booleans()):
        a_shape, b_shape = data.draw(broadcastable_shapes(2, max_dims=3, max_side=3))
    else:
        a_shape, b_shape = data.draw(shapes(max_dims=3, max_side=3)), data.draw(shapes(max_dims=3, max_side=3))
    fns = {
        "add": (lambda a, b: a + b,) * 2, "mul": (lambda a, b: a * b,) * 2,
        "maximum": (F.maximum, torch.maximum), "pow": (lambda a, b: a.abs() ** b,) * 2,
        "where": (lambda a, b: F.where(a > 0, a, b), lambda a, b: torch.where(a > 0, a, b)),
    }[name]
    assert_same_value_and_grads(fns[0], fns[1], [_rand(a_shape), _rand(b_shape, 1)], rtol=1e-9,
                                names=(str(a_shape), str(tuple(b_shape)), "broadcast"))


INPLACE = {
    "+=": lambda a, b: a.__iadd__(b), "*=": lambda a, b: a.__imul__(b), "copy_": lambda a, b: a.copy_(b),
    "add_": lambda a, b: a.add_(b), "setitem": lambda a, b: a.__setitem__(Ellipsis, b),
}


@given(st.sampled_from(sorted(INPLACE)), shapes(max_dims=3, max_side=3), shapes(max_dims=3, max_side=3))
def test_inplace_ops_broadcast_the_operand_never_the_tensor(name, shape, other_shape):
    am, at = minidl.tensor(_rand(shape)), torch.tensor(_rand(shape))
    bm, bt = minidl.tensor(_rand(other_shape, 1)), torch.tensor(_rand(other_shape, 1))
    ours, theirs = outcome(INPLACE[name], am, bm), outcome(INPLACE[name], at, bt)
    if isinstance(theirs, Raised):
        assert isinstance(ours, Raised), f"{name} of {other_shape} into {shape}: PyTorch raised {theirs!r}"
        assert name.strip("_") in str(ours.exc) or "setitem" in str(ours.exc), ours
        assert str(tuple(other_shape)) in str(ours.exc), ours
    else:
        assert not isinstance(ours, Raised), ours
    assert_same(am, at, rtol=1e-12, what="the tensor written into")


LOSSES = {
    "mse_loss": (F.mse_loss, TF.mse_loss, "any"),
    "l1_loss": (F.l1_loss, TF.l1_loss, "any"),
    "binary_cross_entropy": (F.binary_cross_entropy, TF.binary_cross_entropy, "probability"),
    "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
                                         "any"),
}


@given(st.sampled_from(sorted(LOSSES)), st.data())
def test_losses_refuse_input_and_target_of_different_shapes(name, data):
    ours_fn, theirs_fn, kind = LOSSES[name]
    shape = data.draw(shapes(min_dims=1, max_dims=2, max_side=3))
    other = shape if data.draw(st.booleans()) else data.draw(shapes(max_dims=3, max_side=3))
    x = 1 / (1 + np.exp(-_rand(shape))) if kind == "probability" else _rand(shape)
    t = 1 / (1 + np.exp(-_rand(other, 1)))
    ours = outcome(ours_fn, minidl.tensor(x), minidl.tensor(t))
    if tuple(other) != tuple(shape):
        # PyTorch raises for the binary cross-entropies and broadcasts with a warning for mse/l1
        assert isinstance(ours, Raised) and name in str(ours.exc), ours
        assert str(tuple(shape)) in str(ours.exc) and str(tuple(other)) in str(ours.exc), ours
        return
    assert_same(ours, outcome(theirs_fn, torch.tensor(x), torch.tensor(t)), rtol=1e-9)


@given(st.sampled_from(["cross_entropy", "nll_loss"]), st.integers(1, 4), st.integers(1, 4), st.data())
def test_class_targets_out_of_range_raise_naming_the_value(name, n, c, data):
    target = np.array(data.draw(st.lists(st.integers(-2, c + 1), min_size=n, max_size=n)))
    x = _rand((n, c))
    ours_fn, theirs_fn = getattr(F, name), getattr(TF, name)
    ours = outcome(ours_fn, minidl.tensor(x), minidl.tensor(target))
    theirs = outcome(theirs_fn, torch.tensor(x), torch.tensor(target))
    bad = [int(v) for v in target if not 0 <= v < c]
    assert_same(ours, theirs, rtol=1e-9, names=tuple(str(v) for v in bad))
    if bad:
        assert isinstance(ours.exc, IndexError), ours


@given(shapes(min_dims=1, max_dims=3, max_side=4), st.data())
def test_indices_out_of_bounds_raise_like_torch(shape, data):
    x = _rand(shape)
    n = shape[0]
    kind = data.draw(st.sampled_from(["int", "list", "tensor", "mask", "index_select", "slice"]))
    if kind == "int":
        index = data.draw(st.integers(-n - 2, n + 1))
        ours_i = theirs_i = index
    elif kind in ("list", "tensor", "index_select"):
        index = data.draw(st.lists(st.integers(-n - 1, n), min_size=1, max_size=4))
        ours_i, theirs_i = (index, index) if kind == "list" else (minidl.tensor(index), torch.tensor(index))
    elif kind == "mask":
        mask = np.array(data.draw(st.lists(st.booleans(), min_size=max(n - 1, 1), max_size=n + 1)))
        ours_i, theirs_i = minidl.tensor(mask), torch.tensor(mask)
    else:
        start, stop = data.draw(st.integers(-n - 3, n + 3)), data.draw(st.integers(-n - 3, n + 3))
        ours_i = theirs_i = slice(start, stop)
    if kind == "index_select":
        ours_fn, theirs_fn = (lambda a: F.index_select(a, 0, ours_i)), (lambda a: torch.index_select(a, 0, theirs_i))
    else:
        ours_fn, theirs_fn = (lambda a: a[ours_i]), (lambda a: a[theirs_i])
    assert_same_value_and_grads(ours_fn, theirs_fn, [x], names=("index", "mask", "bound", "range"))


@given(shapes(min_dims=1, max_dims=3, max_side=4), st.data())
def test_constant_padding_with_negative_widths_crops(shape, data):
    k = data.draw(st.integers(1, len(shape)))
    widths = tuple(data.draw(st.integers(-4, 2)) for _ in range(2 * k))
    # (in the other modes minidl refuses negative widths, where PyTorch crops in some of them)
    assert_same_value_and_grads(lambda a: F.pad(a, widths), lambda a: TF.pad(a, widths), [_rand(shape)],
                                names=("pad", "narrow"))


@given(st.integers(0, 4), st.integers(0, 4))
def test_dot_of_vectors(n, m):
    assert_same_value_and_grads(minidl.dot, torch.dot, [_rand(n), _rand(m, 1)], rtol=1e-9, names=("dot",))


@given(st.sampled_from(["cross_entropy", "nll_loss"]), st.sampled_from(["float32", "float64"]),
       st.sampled_from(["float32", "float64"]), st.data())
def test_class_weights_of_another_dtype_raise_like_torch(name, dtype, weight_dtype, data):
    x = _rand((3, 4)).astype(dtype)
    w = np.abs(_rand(4, 1)).astype(weight_dtype)
    target = np.array(data.draw(st.lists(st.integers(0, 3), min_size=3, max_size=3)))
    ours = outcome(getattr(F, name), minidl.tensor(x, dtype=x.dtype), minidl.tensor(target),
                   minidl.tensor(w, dtype=w.dtype))
    theirs = outcome(getattr(TF, name), torch.tensor(x), torch.tensor(target), torch.tensor(w))
    assert_same(ours, theirs, rtol=1e-5, names=("weight",))


@given(shapes(min_dims=1, max_dims=2, max_side=3), st.data())
def test_binary_cross_entropy_targets_outside_0_1_raise_like_torch(shape, data):
    x = 1 / (1 + np.exp(-_rand(shape)))
    t = data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 0.3, 1.0, -0.5, 1.5, float("nan")])))
    with np.errstate(invalid="ignore"):
        assert_same(outcome(F.binary_cross_entropy, minidl.tensor(x), minidl.tensor(t)),
                    outcome(TF.binary_cross_entropy, torch.tensor(x), torch.tensor(t)), rtol=1e-9,
                    names=("binary_cross_entropy",))
