"""Shape and indexing ops: one spec table of cases (each draws its shapes and arguments), one
property test over it (forward against NumPy, gradcheck and gradgradcheck in float64, inputs not
mutated, gradient shapes), then gradient accumulation of repeated indices and error messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import tensor
from minidl.testing import assert_close, assert_gradients_match, assert_not_mutated, shapes, tensors

SMALL = {"max_dims": 3, "max_side": 3}


@dataclass(frozen=True)
class Case:
    """What a spec draws: the input shapes, the op on Tensors and the NumPy reference on arrays."""

    shapes: list
    fn: Callable
    ref: Callable


@dataclass(frozen=True)
class Spec:
    name: str
    draw: Callable  # draw(data) -> Case


# ---- index strategies ------------------------------------------------------------------------
@st.composite
def basic_indices(draw, shape):
    """Ints (negative too), slices (negative steps too), None and at most one Ellipsis."""
    items = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "all"]))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            step = draw(st.sampled_from([1, 2, -1, -2]))
            start = draw(st.none() | st.integers(-n, n))
            stop = draw(st.none() | st.integers(-n - 1, n))
            items.append(slice(start, stop, step))
        else:
            items.append(slice(None))
    # an Ellipsis stands for a run of full slices, so the items after it keep the trailing dims
    # they index: only an index of one item per dim may get one (not one with trailing items dropped)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(items)))
        run = draw(st.integers(0, len(items) - at))
        items = items[:at] + [Ellipsis] + items[at + run :]
    elif items and draw(st.booleans()):  # drop trailing items (implicit full slices)
        items = items[: draw(st.integers(0, len(items)))]
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), None)
    return tuple(items) if len(items) != 1 or draw(st.booleans()) else items[0]


def _int_index(draw, n, label):
    """Integer positions along a dim of size n, repeats and negatives allowed, as a list or a Tensor."""
    idx = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4), label=label)
    return idx


# ---- cases -------------------------------------------------------------------------------------------
def case_reshape(data, method="reshape"):
    shape = data.draw(shapes(**SMALL), label="shape")
    size = int(np.prod(shape))
    options = [(size,), (-1,), tuple(reversed(shape)), (1,) + shape, shape + (1,)]
    if len(shape) >= 2:
        options.append((shape[0], -1))
    target = data.draw(st.sampled_from(options), label="target")
    return Case([shape], lambda x: getattr(x, method)(*target), lambda a: a.reshape(target))


def case_transpose(data):
    shape = data.draw(shapes(min_dims=2, **SMALL), label="shape")
    d0, d1 = (data.draw(st.integers(-len(shape), len(shape) - 1), label=f"dim{i}") for i in range(2))
    return Case([shape], lambda x: x.transpose(d0, d1), lambda a: np.swapaxes(a, d0, d1))


def case_permute(data):
    shape = data.draw(shapes(min_dims=1, **SMALL), label="shape")
    dims = data.draw(st.permutations(range(len(shape))), label="dims")
    return Case([shape], lambda x: x.permute(*dims), lambda a: a.transpose(dims))


def case_t_property(data):
    shape = data.draw(shapes(min_dims=0, max_dims=2, max_side=3), label="shape")
    return Case([shape], lambda x: x.T, lambda a: a.T)


def case_mt_property(data):
    shape = data.draw(shapes(min_dims=2, **SMALL), label="shape")
    return Case([shape], lambda x: x.mT, lambda a: np.swapaxes(a, -1, -2))


def case_flatten(data):
    shape = data.draw(shapes(min_dims=1, **SMALL), label="shape")
    n = len(shape)
    s = data.draw(st.integers(0, n - 1), label="start")
    e = data.draw(st.integers(s, n - 1), label="end")
    target = shape[:s] + (int(np.prod(shape[s : e + 1])),) + shape[e + 1 :]
    s = s - n if data.draw(st.booleans()) else s  # negative dims too
    return Case([shape], lambda x: x.flatten(s, e), lambda a: a.reshape(target))


def case_squeeze(data):
    shape = data.draw(shapes(min_dims=1, max_dims=4, max_side=2), label="shape")
    if data.draw(st.booleans(), label="all"):
        return Case([shape], lambda x: x.squeeze(), lambda a: np.squeeze(a))
    d = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    return Case([shape], lambda x: x.squeeze(d), lambda a: np.squeeze(a, d) if a.shape[d] == 1 else a)


def case_unsqueeze(data):
    shape = data.draw(shapes(**SMALL), label="shape")
    d = data.draw(st.integers(-len(shape) - 1, len(shape)), label="dim")
    return Case([shape], lambda x: x.unsqueeze(d), lambda a: np.expand_dims(a, d))


def _expand_target(data, shape):
    lead = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2), label="new dims"))
    sizes = tuple(data.draw(st.integers(1, 3)) if n == 1 else n for n in shape)
    return lead, sizes


def case_expand(data):
    shape = data.draw(shapes(max_dims=3, max_side=2), label="shape")
    lead, sizes = _expand_target(data, shape)
    keep = tuple(-1 if n == m and data.draw(st.booleans()) else n for n, m in zip(sizes, shape))  # -1: keep
    target = lead + sizes
    return Case([shape], lambda x: x.expand(*(lead + keep)), lambda a: np.broadcast_to(a, target))


def case_broadcast_to(data):
    shape = data.draw(shapes(max_dims=3, max_side=2), label="shape")
    lead, sizes = _expand_target(data, shape)
    return Case([shape], lambda x: F.broadcast_to(x, lead + sizes), lambda a: np.broadcast_to(a, lead + sizes))


def case_getitem_basic(data):
    shape = data.draw(shapes(min_dims=1, **SMALL), label="shape")
    index = data.draw(basic_indices(shape), label="index")
    return Case([shape], lambda x: x[index], lambda a: a[index])


def case_getitem_int_array(data):
    shape = data.draw(shapes(min_dims=1, **SMALL), label="shape")
    d = data.draw(st.integers(0, len(shape) - 1), label="dim")
    idx = _int_index(data.draw, shape[d], "index")
    as_tensor = data.draw(st.booleans(), label="as Tensor")
    lead = (slice(None),) * d
    minidl_index = lead + (tensor(idx) if as_tensor else idx,)
    return Case([shape], lambda x: x[minidl_index], lambda a: a[lead + (np.array(idx),)])


def case_getitem_two_arrays(data):
    shape = data.draw(shapes(min_dims=2, **SMALL), label="shape")
    k = data.draw(st.integers(1, 4), label="count")
    rows = data.draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=k, max_size=k), label="rows")
    cols = data.draw(st.lists(st.integers(-shape[1], shape[1] - 1), min_size=k, max_size=k), label="cols")
    return Case(
        [shape],
        lambda x: x[tensor(rows), tensor(cols)],
        lambda a: a[np.array(rows), np.array(cols)],
    )


def case_getitem_mixed(data):
    shape = data.draw(shapes(min_dims=2, **SMALL), label="shape")
    idx = _int_index(data.draw, shape[1], "index")
    start = data.draw(st.integers(-shape[0], shape[0]), label="start")
    return Case([shape], lambda x: x[start::-1, idx], lambda a: a[start::-1, np.array(idx)])


def case_getitem_bool_mask(data):
    shape = data.draw(shapes(min_dims=1, **SMALL), label="shape")
    full = data.draw(st.booleans(), label="full mask")
    mshape = shape if full else shape[:1]
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=int(np.prod(mshape)), max_size=int(np.prod(mshape)))))
    mask = mask.reshape(mshape)
    return Case([shape], lambda x: x[tensor(mask)], lambda a: a[mask])


def case_cat(data):
    shape = data.draw(shapes(min_dims=1, **SMALL), label="shape")
    d = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3), label="sizes")
    in_shapes = [tuple(s if i != d % len(shape) else n for i, s in enumerate(shape)) for n in sizes]
    return Case(in_shapes, lambda *xs: F.cat(xs, d), lambda *arrays: np.concatenate(arrays, axis=d))


def case_stack(data):
    shape = data.draw(shapes(**SMALL), label="shape")
    n = data.draw(st.integers(1, 3), label="count")
    d = data.draw(st.integers(-len(shape) - 1, len(shape)), label="dim")
    return Case([shape] * n, lambda *xs: F.stack(list(xs), dim=d), lambda *arrays: np.stack(arrays, axis=d))


def case_split(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3, max_side=5), label="shape")
    d = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    n = shape[d]
    if data.draw(st.booleans(), label="by size"):
        size = data.draw(st.integers(1, n + 1), label="size")
        cuts = list(range(size, n, size))
        return Case([shape], lambda x: x.split(size, d), lambda a: tuple(np.split(a, cuts, axis=d)))
    sections = data.draw(st.lists(st.integers(1, 2), min_size=1, max_size=n).filter(lambda s: sum(s) <= n))
    sections[-1] += n - sum(sections)
    cuts = list(np.cumsum(sections)[:-1])
    return Case([shape], lambda x: F.split(x, sections, d), lambda a: tuple(np.split(a, cuts, axis=d)))


def case_chunk(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3, max_side=5), label="shape")
    d = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    chunks = data.draw(st.integers(1, 4), label="chunks")
    size = -(-shape[d] // chunks)
    cuts = list(range(size, shape[d], size))
    return Case([shape], lambda x: x.chunk(chunks, d), lambda a: tuple(np.split(a, cuts, axis=d)))


_NUMPY_PAD = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def case_pad(data):
    mode = data.draw(st.sampled_from(sorted(_NUMPY_PAD)), label="mode")
    shape = data.draw(shapes(min_dims=1, max_dims=3, min_side=2, max_side=3), label="shape")
    k = data.draw(st.integers(1, len(shape)), label="padded dims")
    limit = {"reflect": 1, "circular": 0}.get(mode)  # reflect: pad < size; circular: pad <= size
    pad = []
    for i in range(k):
        n = shape[len(shape) - 1 - i]
        top = 3 if limit is None else n - limit
        pad += [data.draw(st.integers(0, top)), data.draw(st.integers(0, top))]
    widths = [(0, 0)] * len(shape)
    for i in range(k):
        widths[len(shape) - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    value = 0.75

    def fn(x):
        return F.pad(x, tuple(pad), mode=mode, value=value) if mode == "constant" else F.pad(x, tuple(pad), mode=mode)

    def ref(a):
        if mode == "constant":
            return np.pad(a, widths, mode="constant", constant_values=value)
        return np.pad(a, widths, mode=_NUMPY_PAD[mode])

    return Case([shape], fn, ref)


def case_repeat(data):
    shape = data.draw(shapes(max_dims=2, max_side=3), label="shape")
    sizes = tuple(data.draw(st.lists(st.integers(1, 3), min_size=len(shape), max_size=len(shape) + 1)))
    return Case([shape], lambda x: x.repeat(*sizes), lambda a: np.tile(a, sizes))


def case_narrow(data):
    shape = data.draw(shapes(min_dims=1, **SMALL), label="shape")
    d = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    start = data.draw(st.integers(0, shape[d] - 1), label="start")
    length = data.draw(st.integers(0, shape[d] - start), label="length")
    take = [slice(None)] * len(shape)
    take[d] = slice(start, start + length)
    return Case([shape], lambda x: F.narrow(x, d, start, length), lambda a: a[tuple(take)])


def case_index_select(data):
    shape = data.draw(shapes(min_dims=1, **SMALL), label="shape")
    d = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    idx = data.draw(st.lists(st.integers(0, shape[d] - 1), min_size=1, max_size=5), label="index")
    return Case([shape], lambda x: F.index_select(x, d, tensor(idx)), lambda a: np.take(a, idx, axis=d))


def case_clone(data):
    shape = data.draw(shapes(**SMALL), label="shape")
    return Case([shape], lambda x: x.clone(), lambda a: a.copy())


SPECS = [
    Spec("reshape", case_reshape),
    Spec("view", lambda data: case_reshape(data, "view")),
    Spec("transpose", case_transpose),
    Spec("permute", case_permute),
    Spec("T", case_t_property),
    Spec("mT", case_mt_property),
    Spec("flatten", case_flatten),
    Spec("squeeze", case_squeeze),
    Spec("unsqueeze", case_unsqueeze),
    Spec("expand", case_expand),
    Spec("broadcast_to", case_broadcast_to),
    Spec("getitem_basic", case_getitem_basic),
    Spec("getitem_int_array", case_getitem_int_array),
    Spec("getitem_two_arrays", case_getitem_two_arrays),
    Spec("getitem_mixed", case_getitem_mixed),
    Spec("getitem_bool_mask", case_getitem_bool_mask),
    Spec("cat", case_cat),
    Spec("stack", case_stack),
    Spec("split", case_split),
    Spec("chunk", case_chunk),
    Spec("pad", case_pad),
    Spec("repeat", case_repeat),
    Spec("narrow", case_narrow),
    Spec("index_select", case_index_select),
    Spec("clone", case_clone),
]


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@given(data=st.data())
def test_shape_op(spec, data):
    case = spec.draw(data)
    inputs = [data.draw(tensors(shape=s), label=f"input {i}") for i, s in enumerate(case.shapes)]
    arrays = [t.array.copy() for t in inputs]
    outs = _as_tuple(assert_not_mutated(case.fn, *inputs))
    expected = _as_tuple(case.ref(*arrays))
    assert len(outs) == len(expected), f"{len(outs)} outputs, NumPy gives {len(expected)}"
    for k, (o, e) in enumerate(zip(outs, expected)):
        assert_close(o, e, rtol=0, atol=0, what=f"output {k}")  # values are moved, never computed
        assert o.dtype == np.float64
    assert_gradients_match(case.fn, *inputs)
    rng = np.random.default_rng(0)
    live = [o for o in outs if o.requires_grad]
    if live:
        minidl.autograd.backward(live, [tensor(rng.standard_normal(o.shape)) for o in live])
    for i, t in enumerate(inputs):
        if t.grad is not None:
            assert t.grad.shape == t.shape and t.grad.dtype == t.dtype, f"input {i}"


# ---- gradients of repeated indices accumulate --------------------------------------------------
@pytest.mark.parametrize(
    "index",
    [
        [0, 0, 2, 0],
        (tensor([0, 0, 2, 0]),),
        np.array([0, 0, 2, 0]),
    ],
    ids=["list", "tensor", "ndarray"],
)
def test_repeated_indices_accumulate_gradients(index):
    x = tensor([1.0, 2.0, 3.0], dtype="float64", requires_grad=True)
    y = x[index[0] if isinstance(index, tuple) else index]
    y.backward(tensor([1.0, 10.0, 100.0, 1000.0], dtype="float64"))
    assert_close(x.grad, [1011.0, 0.0, 100.0])


def test_index_select_repeats_accumulate():
    x = tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64", requires_grad=True)
    F.index_select(x, 1, tensor([1, 1, 1])).sum().backward()
    assert_close(x.grad, [[0.0, 3.0], [0.0, 3.0]])


def test_overlapping_slices_accumulate():
    x = tensor([1.0, 2.0, 3.0], dtype="float64", requires_grad=True)
    ((x[:2] + x[1:]).sum() + x[::-1].sum()).backward()
    assert_close(x.grad, [2.0, 3.0, 2.0])


def test_reflect_and_circular_padding_gradients_accumulate():
    x = tensor([1.0, 2.0, 3.0], dtype="float64", requires_grad=True)
    y = F.pad(x, (2, 2), mode="reflect")
    assert y.tolist() == [3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]
    y.sum().backward()
    assert_close(x.grad, [2.0, 3.0, 2.0])
    x.grad = None
    y = F.pad(x, (1, 3), mode="circular")
    assert y.tolist() == [3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
    y.sum().backward()
    assert_close(x.grad, [2.0, 2.0, 3.0])


def test_views_share_memory_with_their_input():
    x = minidl.arange(6).reshape(2, 3)
    assert np.shares_memory(x.array, x.T.array)
    assert np.shares_memory(x.array, x[0].array)
    assert np.shares_memory(x.array, x.reshape(6).array)


def test_reshape_returns_input_for_same_shape():
    x = tensor([1.0, 2.0], requires_grad=True)
    assert x.reshape(2) is x


# ---- errors ----------------------------------------------------------------------------------------
def test_reshape_with_wrong_size_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"Reshape.*size 12.*\(5, ?3\).*\(3, 4\)"):
        minidl.ones(3, 4).reshape(5, 3)


def test_view_with_wrong_size_raises():
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        minidl.ones(3, 4).view(-1, 5)


def test_cat_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"cat.*\(3, 4\).*\(2, 3\)"):
        F.cat([minidl.ones(3, 4), minidl.ones(2, 3)], dim=1)
    with pytest.raises(ValueError, match="cat.*non-empty"):
        F.cat([])


def test_stack_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"stack.*\(3, 4\).*\(3, 5\)"):
        F.stack([minidl.ones(3, 4), minidl.ones(3, 5)])


def test_expand_mismatch():
    with pytest.raises(ValueError, match=r"expand.*\(2, 3\).*\(4, 3\)"):
        minidl.ones(2, 3).expand(4, 3)
    with pytest.raises(ValueError, match="fewer dims"):
        minidl.ones(2, 3).expand(3)


def test_permute_needs_a_permutation():
    with pytest.raises(ValueError, match=r"permute.*\(0, 0\)"):
        minidl.ones(2, 3).permute(0, 0)


def test_split_sections_must_add_up():
    with pytest.raises(ValueError, match=r"split.*\[1, 1\].*3"):
        F.split(minidl.ones(3), [1, 1])


def test_pad_errors():
    x = minidl.ones(2, 3)
    with pytest.raises(ValueError, match="pad.*even"):
        F.pad(x, (1,))
    with pytest.raises(ValueError, match="reflect.*smaller"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="unknown mode"):
        F.pad(x, (1, 1), mode="mirror")


def test_index_out_of_range_names_the_shape():
    with pytest.raises(IndexError, match=r"\(3,\)"):
        minidl.ones(3)[5]


def test_float_tensor_index_raises():
    with pytest.raises(IndexError, match="integer or bool"):
        minidl.ones(3)[tensor([0.0, 1.0])]
