"""Hypothesis strategies for shapes, tensors and op configurations.

All float tensors default to float64 and ``requires_grad=True``: they are meant for
``gradcheck``. Values stay in a moderate range, and helpers keep them away from the places
where a derivative does not exist (kinks such as relu's 0, ties of max).
"""

from __future__ import annotations

import numpy
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..tensor import Tensor


def shapes(min_dims=0, max_dims=4, min_side=1, max_side=5):
    """Array shapes: ``min_dims..max_dims`` dims of ``min_side..max_side`` each."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


@st.composite
def broadcastable_shapes(draw, n=2, min_dims=0, max_dims=4, min_side=1, max_side=5):
    """A tuple of ``n`` shapes that broadcast together (dims dropped in front or set to 1)."""
    base = draw(shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side))
    out = []
    for _ in range(n):
        lead = draw(st.integers(0, len(base) - min_dims)) if len(base) > min_dims else 0
        shape = [1 if draw(st.booleans()) and draw(st.booleans()) else s for s in base[lead:]]
        out.append(tuple(shape))
    return tuple(out)


@st.composite
def matmul_shapes(draw, max_batch_dims=2, max_side=5):
    """``(a_shape, b_shape)`` valid for ``matmul``: 1-D, 2-D or batched with broadcasting."""
    n, k, m = (draw(st.integers(1, max_side)) for _ in range(3))
    a_nd = draw(st.integers(1, 2 + max_batch_dims))
    b_nd = draw(st.integers(1, 2 + max_batch_dims))
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=max_batch_dims)))

    def batch_for(nd):
        keep = batch[len(batch) - max(nd - 2, 0) :] if nd > 2 else ()
        keep = keep + (1,) * (max(nd - 2, 0) - len(keep))
        return tuple(1 if draw(st.booleans()) and draw(st.booleans()) else s for s in keep)

    a = (k,) if a_nd == 1 else batch_for(a_nd) + (n, k)
    b = (k,) if b_nd == 1 else batch_for(b_nd) + (k, m)
    return a, b


def reduction_dims(ndim):
    """``None``, one dim (possibly negative) or a tuple of distinct dims for a tensor of ``ndim`` dims."""
    if ndim == 0:
        return st.just(None)
    one = st.integers(-ndim, ndim - 1)
    several = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple)
    return st.one_of(st.just(None), one, several)


def distinct_elements(low=-3.0, high=3.0, spacing=0.01):
    """Floats on a grid of ``spacing``: with ``unique=True`` no two elements are closer than
    ``spacing``, so max/sort-like ops have no ties within a finite-difference step."""
    lo, hi = int(numpy.ceil(low / spacing)), int(numpy.floor(high / spacing))
    return st.integers(lo, hi).map(lambda i: i * spacing + spacing / 7)


def _elements(low, high, away_from, away_by):
    elems = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
    if away_from is None:
        return elems
    points = (away_from,) if isinstance(away_from, (int, float)) else tuple(away_from)

    def push(v):
        for p in points:
            if abs(v - p) < away_by:
                return p + away_by if v >= p else p - away_by
        return v

    return elems.map(push)


@st.composite
def tensors(
    draw,
    shape=None,
    dtype="float64",
    low=-3.0,
    high=3.0,
    away_from=None,
    away_by=1e-2,
    distinct=False,
    requires_grad=True,
    elements=None,
):
    """A minidl Tensor.

    ``shape``: a tuple or a strategy of tuples (default: ``shapes()``). Values are floats in
    ``[low, high]``; ``away_from`` (a point or points, e.g. 0 for relu) pushes values at least
    ``away_by`` away; ``distinct=True`` makes all values different by at least 0.01.
    """
    if shape is None:
        shape = shapes()
    if not isinstance(shape, tuple):
        shape = draw(shape)
    dtype = numpy.dtype(dtype)
    if elements is None:
        if dtype.kind in "iu":
            elements = st.integers(int(low), int(high))
        elif distinct:
            elements = distinct_elements(low, high)
        else:
            elements = _elements(low, high, away_from, away_by)
    array = draw(hnp.arrays(dtype, shape, elements=elements, unique=distinct))
    return Tensor._make(array, requires_grad and dtype.kind == "f")


@st.composite
def conv_configs(draw, dims=2, max_batch=2, max_channels=4, max_size=7, max_kernel=3, groups=True):
    """A valid convolution configuration as a dict: N, C_in, C_out, groups, input size(s),
    kernel size(s), stride, padding, dilation (per spatial dim), with an output of at least 1."""
    g = draw(st.integers(1, 2)) if groups else 1
    cin = g * draw(st.integers(1, max(1, max_channels // g)))
    cout = g * draw(st.integers(1, max(1, max_channels // g)))
    cfg = {"N": draw(st.integers(1, max_batch)), "C_in": cin, "C_out": cout, "groups": g}
    size, kernel, stride, padding, dilation = [], [], [], [], []
    for _ in range(dims):
        k = draw(st.integers(1, max_kernel))
        d = draw(st.integers(1, 2))
        p = draw(st.integers(0, (k - 1) * d // 2 + 1))
        s = draw(st.integers(1, 2))
        span = d * (k - 1) + 1
        n = draw(st.integers(max(1, span - 2 * p), max(max_size, span - 2 * p)))
        size.append(n), kernel.append(k), stride.append(s), padding.append(p), dilation.append(d)
    cfg.update(size=tuple(size), kernel=tuple(kernel), stride=tuple(stride), padding=tuple(padding),
               dilation=tuple(dilation))
    return cfg


@st.composite
def attention_shapes(draw, max_batch=2, max_heads=3, max_len=5, max_dim=4):
    """Shapes for attention as a dict: B (batch), H (heads), L (query length), S (key length),
    E (query/key width), Ev (value width), and a mask kind: None, "bool", "float", "causal" or
    "key_padding"."""
    cfg = {
        "B": draw(st.integers(1, max_batch)),
        "H": draw(st.integers(1, max_heads)),
        "L": draw(st.integers(1, max_len)),
        "S": draw(st.integers(1, max_len)),
        "E": draw(st.integers(1, max_dim)),
        "Ev": draw(st.integers(1, max_dim)),
        "mask": draw(st.sampled_from([None, "bool", "float", "causal", "key_padding"])),
    }
    if cfg["mask"] == "causal":
        cfg["S"] = cfg["L"]
    return cfg
