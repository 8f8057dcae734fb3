"""View semantics against PyTorch, one ``@given`` property per rule.

A chain of view ops (transpose, t, narrow, select, unsqueeze, squeeze, slicing with a step,
expand) is applied to the same tensor in both libraries; then ``view`` must succeed or raise where
PyTorch's does, ``reshape`` must copy exactly where PyTorch's copies, writes through a view must
reach the base (and bump the version counter that backward checks), ``contiguous`` must copy
exactly when the layout is not contiguous, and writing into a tensor whose elements share memory
(a dim of size > 1 expanded) must raise.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_oracle import Raised, assert_same, outcome

import minidl
from minidl.testing import shapes

torch = pytest.importorskip("torch")


def _repeats_memory(v):
    """Whether some dim of size > 1 of the minidl tensor ``v`` has stride 0 (an expanded dim)."""
    return any(st == 0 and n > 1 for st, n in zip(v.array.strides, v.shape))


def _apply(x, ops):
    for name, args in ops:
        if name == "step":
            d, step = args
            x = x[(slice(None),) * d + (slice(None, None, step),)]
        elif name == "expand":
            x = x.expand(*args[0])
        else:
            x = getattr(x, name)(*args)
    return x


@st.composite
def based_chains(draw):
    """(start shape, view ops valid for it, the final shape): up to 3 ops, each (name, args)."""
    start = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    shape, ops = list(start), []
    for _ in range(draw(st.integers(0, 3))):
        ops.append(_one_op(draw, shape))
    return start, ops, tuple(shape)


def _one_op(draw, shape):
    nd = len(shape)
    choices = ["unsqueeze"] + (["transpose", "narrow", "step", "squeeze"] if nd else [])
    choices += ["select"] if nd > 1 else []
    choices += ["t"] if nd <= 2 else []
    choices += ["expand"] if 1 in shape else []
    name = draw(st.sampled_from(choices))
    if name == "transpose":
        a, b = draw(st.integers(0, nd - 1)), draw(st.integers(0, nd - 1))
        shape[a], shape[b] = shape[b], shape[a]
        return name, (a, b)
    if name == "t":
        shape.reverse()
        return name, ()
    if name == "narrow":
        d = draw(st.integers(0, nd - 1))
        start = draw(st.integers(0, shape[d] - 1))
        length = draw(st.integers(1, shape[d] - start))
        shape[d] = length
        return name, (d, start, length)
    if name == "step":
        d, step = draw(st.integers(0, nd - 1)), draw(st.integers(2, 3))
        shape[d] = -(-shape[d] // step)
        return name, (d, step)
    if name == "select":
        d = draw(st.integers(0, nd - 1))
        index = draw(st.integers(0, shape[d] - 1))
        del shape[d]
        return name, (d, index)
    if name == "unsqueeze":
        d = draw(st.integers(0, nd))
        shape.insert(d, 1)
        return name, (d,)
    if name == "squeeze":
        d = draw(st.integers(0, nd - 1))
        if shape[d] == 1:
            del shape[d]
        return name, (d,)
    d = shape.index(1)
    shape[d] = draw(st.integers(2, 3))
    return name, (tuple(shape),)


def _target_shapes(numel):
    """Shapes with ``numel`` elements: factorizations into up to 3 dims, one maybe -1."""
    out = [(numel,), (-1,)]
    for a in range(1, numel + 1):
        if numel % a == 0:
            out.append((a, numel // a))
            out.append((a, -1))
            for b in range(1, numel // a + 1):
                if (numel // a) % b == 0:
                    out.append((a, b, numel // a // b))
    return out


def _start(shape):
    n = int(np.prod(shape))
    return (minidl.arange(n, dtype=minidl.float64).reshape(shape),
            torch.arange(n, dtype=torch.float64).reshape(shape))


@given(based_chains(), st.data())
def test_view_succeeds_or_raises_exactly_where_torch_does(chain, data):
    start, ops, final = chain
    target = data.draw(st.sampled_from(_target_shapes(int(np.prod(final)))))
    xm, xt = _start(start)
    vm, vt = _apply(xm, ops), _apply(xt, ops)
    ours, theirs = outcome(lambda: vm.view(*target)), outcome(lambda: vt.view(*target))
    assert_same(ours, theirs, what=f"view{target} after {ops}", names=("view",))
    if isinstance(theirs, Raised) or 0 in vt.shape or vt.stride().count(0):
        return
    ours.array[...] = -1.0  # a view: the base sees the write
    with torch.no_grad():
        theirs.fill_(-1.0)
    assert_same(xm, xt, what="base after writing into the view")


@given(based_chains(), st.data())
def test_reshape_copies_exactly_where_torch_copies(chain, data):
    start, ops, final = chain
    target = data.draw(st.sampled_from(_target_shapes(int(np.prod(final)))))
    xm, xt = _start(start)
    vm, vt = _apply(xm, ops), _apply(xt, ops)
    if vt.stride().count(0):
        return  # expanded: writing is refused (tested below)
    rm, rt = vm.reshape(*target), vt.reshape(*target)
    rm.array[...] = -1.0
    with torch.no_grad():
        rt.fill_(-1.0)
    assert_same(xm, xt, what=f"base after writing into reshape{target} of a view by {ops}")


INPLACE_WRITES = {
    "setitem_int": lambda v: v.__setitem__(0, 7.0) if v.ndim else v.fill_(7.0),
    "setitem_slice": lambda v: v.__setitem__((Ellipsis, slice(0, 1)), 7.0) if v.ndim else v.fill_(7.0),
    "add_": lambda v: v.add_(1.5),
    "mul_": lambda v: v.mul_(2.0),
    "iadd": lambda v: v.__iadd__(1.0),
    "fill_": lambda v: v.fill_(3.0),
    "zero_": lambda v: v.zero_(),
    "copy_": lambda v: v.copy_(v * 0 + 5.0),
}


@given(based_chains(), st.sampled_from(sorted(INPLACE_WRITES)))
def test_writes_through_views_reach_the_base_or_raise_like_torch(chain, write):
    start, ops, _ = chain
    xm, xt = _start(start)
    vm, vt = _apply(xm, ops), _apply(xt, ops)
    ours = outcome(INPLACE_WRITES[write], vm)
    with torch.no_grad():
        theirs = outcome(INPLACE_WRITES[write], vt)
    if _repeats_memory(vm):
        # minidl refuses every write into a tensor where several elements share one memory
        # location; PyTorch refuses only where one write reaches one element twice (it allows
        # fill_, zero_, and writes into a slice that does not repeat memory), changing the
        # elements that share memory with it
        assert isinstance(ours, Raised) and "more than one element" in str(ours.exc), ours
        return
    if isinstance(theirs, Raised):
        assert isinstance(ours, Raised), f"{write} after {ops}: PyTorch raised {theirs!r}"
        assert write.split("_")[0] in str(ours.exc) or "more than one element" in str(ours.exc)
        return
    assert not isinstance(ours, Raised), ours
    assert_same(xm, xt, what=f"base after {write} through {ops}")
    assert xm._version[0] >= 1 and vm._version is xm._version  # one counter for the base and its views


SAVING_OPS = {  # mul and pow save x itself, exp and tanh their output (which x's change leaves alone)
    "exp": lambda w, x: (w * x).exp(), "mul": lambda w, x: w * x, "pow": lambda w, x: w ** x.abs(),
    "tanh": lambda w, x: (w * x).tanh(),
}


@given(based_chains(), st.sampled_from(sorted(SAVING_OPS)), st.sampled_from(sorted(INPLACE_WRITES)))
def test_modifying_a_saved_tensor_through_a_view_fails_backward_like_torch(chain, op, write):
    start, ops, _ = chain
    results = []
    repeated = _repeats_memory(_apply(_start(start)[0], ops))
    for lib, x in zip((minidl, torch), _start(start)):
        w = lib.ones(tuple(x.shape), dtype=lib.float64, requires_grad=True)
        y = SAVING_OPS[op](w, x)
        view = _apply(x, ops)
        with lib.no_grad():
            wrote = outcome(INPLACE_WRITES[write], view)
        if isinstance(wrote, Raised) or repeated:  # see the test above
            results.append("write refused")
            continue
        done = outcome(y.sum().backward)
        results.append("backward raised" if isinstance(done, Raised) else "backward ran")
    assert results[0] == results[1], f"{op}, {write} through {ops}: minidl {results[0]}, PyTorch {results[1]}"


def test_a_view_of_an_expanded_tensor_that_no_longer_repeats_memory_can_be_written():
    # select removes the expanded dim: what is left has shape (2, 1), one location per element,
    # and PyTorch lets it be written (NumPy alone would keep broadcast_to's read-only flag)
    for lib in (minidl, torch):
        x = lib.arange(2, dtype=lib.float64).reshape(2, 1, 1)
        v = x.expand(2, 2, 1).select(1, 0).reshape(2)
        with lib.no_grad():
            v.mul_(-3.0)
        assert x.flatten().tolist() == [0.0, -3.0], lib.__name__
        x.unsqueeze(0).expand(1, 2, 1, 1).add_(1.0)  # new leading dim of size 1: no repeats either
        assert x.flatten().tolist() == [1.0, -2.0], lib.__name__
    still = minidl.arange(2, dtype=minidl.float64).reshape(2, 1).expand(2, 3)[:, 1:]  # shape (2, 2), stride 0
    with pytest.raises(RuntimeError, match="more than one element"):
        still.add_(1.0)


@given(based_chains())
def test_contiguous_copies_exactly_when_the_layout_is_not_contiguous(chain):
    start, ops, _ = chain
    xm, xt = _start(start)
    vm, vt = _apply(xm, ops), _apply(xt, ops)
    assert vm.is_contiguous() == vt.is_contiguous() or 1 in vt.shape or 0 in vt.shape, (ops, vt.stride())
    cm, ct = vm.contiguous(), vt.contiguous()
    assert cm.is_contiguous() and ct.is_contiguous()
    if _repeats_memory(vm) or vt.numel() == 0:
        return
    cm.array[...] = -2.0
    with torch.no_grad():
        ct.fill_(-2.0)
    assert_same(xm, xt, what=f"base after writing into contiguous() of a view by {ops}")


@given(shapes(min_dims=0, max_dims=4), st.data())
def test_dim_arguments_out_of_range_raise_index_error_naming_dim_and_ndim(shape, data):
    xm, xt = _start(shape) if shape else (minidl.tensor(1.0, dtype=minidl.float64), torch.tensor(1.0).double())
    nd = len(shape)
    dim = data.draw(st.integers(-nd - 3, nd + 2))
    name = data.draw(st.sampled_from(["squeeze", "unsqueeze", "transpose", "flatten", "narrow", "select", "sum",
                                      "softmax", "cat", "stack", "permute"]))
    call = {
        "squeeze": lambda x: x.squeeze(dim), "unsqueeze": lambda x: x.unsqueeze(dim),
        "transpose": lambda x: x.transpose(dim, 0), "flatten": lambda x: x.flatten(dim),
        "narrow": lambda x: x.narrow(dim, 0, 1), "select": lambda x: x.select(dim, 0),
        "sum": lambda x: x.sum(dim), "softmax": lambda x: x.softmax(dim),
        "permute": lambda x: x.permute(*([dim] + list(range(1, nd)))) if nd else x.permute(dim),
    }
    if name in ("cat", "stack"):
        lib_call = {minidl: getattr(minidl, name), torch: getattr(torch, name)}
        ours = outcome(lib_call[minidl], [xm, xm], dim)
        theirs = outcome(lib_call[torch], [xt, xt], dim)
    else:
        ours, theirs = outcome(call[name], xm), outcome(call[name], xt)
    names = (str(dim), "0-dim", "zero-dimensional", "dims")
    assert_same(ours, theirs, what=f"{name}(dim={dim}) of shape {shape}", names=names)
    if isinstance(theirs, Raised) and isinstance(theirs.exc, IndexError) and "range" in str(theirs.exc):
        assert isinstance(ours.exc, IndexError), ours


@given(shapes(min_dims=1, max_dims=4), st.data())
def test_squeeze_of_a_dim_that_is_not_1_is_a_no_op_and_flatten_ranges_merge(shape, data):
    xm, xt = _start(shape)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    assert_same(xm.squeeze(dim), xt.squeeze(dim))
    s, e = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    assert_same(outcome(xm.flatten, s, e), outcome(xt.flatten, s, e), what=f"flatten({s}, {e})", names=("flatten",))
