"""Indexing ops beyond ``x[i]``: writing ``x[index] = v`` into a tensor of the graph, triangular
masks, top-k, roll, repeat_interleave, meshgrid. Each is composed of indexing, masking and
shape ops (so autograd derives its backward and its second derivative), except the write,
which is one ``Function``.

Notebooks: the causal mask ``tril`` in notebooks/06_language_model.ipynb, section 2 ("The causal
mask, and why"), top-k sampling in its section 6 ("Sampling, and the temperature"); an op as
forward and backward in notebooks/01_autograd.ipynb, section 2 ("A `Function`, forward and backward").
"""

from __future__ import annotations

from collections import namedtuple

from ..autograd import Function
from ..backend import get_array_module
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor
from ._common import normalize_dim
from .elementwise import masked_fill
from .shape import _prepare_index, cat, expand, flatten, getitem, index_select, reshape


class IndexPut(Function):
    """y = x with y[index] = v (PyTorch's ``x[index] = v`` on a tensor of the graph)

    dL/dx = dy with dy[index] = 0          dL/dv = dy[index], summed to v's shape (the base class)
    x: any shape; v: broadcasts to x[index]'s shape; y: x's shape, in x's memory (written in place).
    """

    def forward(ctx, x, v, index):
        keep = ctx.xp.ones(x.shape, dtype=bool)
        keep[index] = False
        ctx.keep, ctx.index = keep, index  # which elements of x survive; a constant of the graph
        x[index] = v  # in place: the output is x's memory
        return x

    def backward(ctx, dy):
        need_x, need_v = ctx.needs_input_grad[:2]
        dx = masked_fill(dy, Tensor._make(~ctx.keep, False), 0.0) if need_x else None
        dv = getitem(dy, ctx.index) if need_v else None
        return dx, dv, None


def setitem(x, index, value):
    """``x[index] = value``. When ``x`` or ``value`` takes part in a graph, the write is recorded
    (``IndexPut``) and ``x`` becomes its output, as PyTorch rebases an in-place op: the ops that
    read ``x`` before keep the gradient path they had; one that saved ``x`` for its backward
    raises there, since the values it saved are gone (the version counter)."""
    recorded = is_grad_enabled() and (x.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
    if not recorded:
        x._write(index, value)
        return
    x._check_writable("__setitem__")
    if x.requires_grad and x.is_leaf:
        raise RuntimeError(f"__setitem__: a leaf tensor that requires grad (shape {x.shape}) is being used in an "
                           "in-place operation; wrap the update in `with minidl.no_grad():` or write into a clone()")
    if _is_view_in_graph(x) or (x.grad_fn is None and x.array.base is not None):
        raise RuntimeError(f"__setitem__: writing a value that requires grad into a view (shape {x.shape}) of "
                           "another tensor is not recorded by minidl; write into the tensor itself, or into a "
                           "clone() of the view")
    if isinstance(value, Tensor) and value.device != x.device:
        raise RuntimeError(f"__setitem__: value on {value.device}, tensor on {x.device}")
    before = Tensor._make(x.array, x.requires_grad)  # x as the op reads it: same memory, the old node
    before.grad_fn, before._version = x.grad_fn, x._version
    v = value.to(x.dtype) if isinstance(value, Tensor) and value.dtype != x.dtype else value
    out = IndexPut.apply(before, v, _prepare_index(x, index))
    x.grad_fn, x.requires_grad = out.grad_fn, True
    x._bump()


def _is_view_in_graph(x):
    """``x`` was made by a view op (reshape, slicing...) of a tensor of the graph: they share one
    version counter. A write into it would change that tensor behind its node's back."""
    fn = x.grad_fn
    if fn is None or isinstance(fn, IndexPut):
        return False
    return any(t is not None and t._version is x._version for t in fn.inputs)


def tril(x, diagonal=0):
    """y_ij = x_ij where j − i ≤ diagonal, else 0 (on the last two dims)        dL/dx = dL/dy ⊙ M

    x: (*, M, N) -> y: (*, M, N). The causal mask of attention is ``tril(ones(T, T))``."""
    return _triangle(x, diagonal, lower=True, op="tril")


def triu(x, diagonal=0):
    """y_ij = x_ij where j − i ≥ diagonal, else 0 (on the last two dims)        dL/dx = dL/dy ⊙ M

    x: (*, M, N) -> y: (*, M, N)."""
    return _triangle(x, diagonal, lower=False, op="triu")


def _triangle(x, diagonal, lower, op):
    if x.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions, got shape {x.shape}")
    xp = get_array_module(x.array)
    M, N = x.shape[-2:]
    inside = xp.tri(M, N, k=int(diagonal), dtype=bool) if lower else ~xp.tri(M, N, k=int(diagonal) - 1, dtype=bool)
    return masked_fill(x, Tensor._make(~inside, False), 0)  # (M, N) mask broadcast over the batch dims


TopK = namedtuple("topk", ["values", "indices"])


def topk(x, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - PyTorch's name
    """The ``k`` largest (or smallest) entries along ``dim`` and their indices, largest first.

    values = x gathered at indices        dL/dx = dL/dvalues scattered back to the picked places
    x: (..., n, ...) -> values, indices: (..., k, ...). Ties keep the lower index first."""
    d = normalize_dim(dim, x.ndim, "topk")
    n = x.shape[d] if x.ndim else 1
    if not 0 <= int(k) <= n:
        raise RuntimeError(f"topk: k ({k}) is out of range for dim {dim} of size {n} (tensor of shape {x.shape})")
    xp = get_array_module(x.array)
    a = x.array.reshape(1) if x.ndim == 0 else x.array
    key = a
    if largest:
        key = -(a.astype("int64") if a.dtype.kind in "ub" else a)
        if a.dtype.kind == "f":
            key = xp.where(xp.isnan(a), -xp.inf, key)  # NaN counts as the largest value, as in PyTorch
    order = xp.argsort(key, axis=d, kind="stable")
    idx = xp.take(order, xp.arange(int(k)), axis=d)  # (..., k, ...)
    grid = [xp.arange(s).reshape((1,) * i + (s,) + (1,) * (a.ndim - i - 1)) for i, s in enumerate(idx.shape)]
    grid[d] = idx
    values = getitem(x if x.ndim else reshape(x, (1,)), tuple(Tensor._make(g, False) for g in grid))
    indices = Tensor._make(idx.astype("int64", copy=False), False)
    if x.ndim == 0:
        values, indices = reshape(values, ()), Tensor._make(idx.reshape(()).astype("int64"), False)
    return TopK(values, indices)


def roll(x, shifts, dims=None):
    """y[(i + s) mod n] = x[i] along each dim (the flattened tensor when ``dims`` is None).

    Composed of two slices and a cat, so dL/dx rolls dL/dy back by −s. x, y: same shape."""
    if dims is None:
        if not isinstance(shifts, int):
            raise RuntimeError(f"roll: without dims, shifts must be one int, got {shifts!r}")
        return reshape(roll(flatten(x), shifts, 0), x.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    y = x
    for s, dim in zip(shifts, dims):
        d = normalize_dim(dim, x.ndim, "roll")
        n = x.shape[d]
        s = int(s) % n if n else 0
        if s:
            head = (slice(None),) * d
            y = cat([getitem(y, head + (slice(n - s, None),)), getitem(y, head + (slice(0, n - s),))], dim=d)
    return y


def repeat_interleave(x, repeats=None, dim=None, *, output_size=None):
    """Each entry of ``x`` along ``dim`` repeated ``repeats`` times (an int, or one count per entry):
    y = index_select(x, dim, [0, 0, .., 1, 1, ..])        dL/dx sums the copies' gradients.

    ``dim=None`` works on the flattened tensor; ``repeat_interleave(counts)`` gives the indices."""
    if repeats is None:  # the one-argument form: the index vector itself
        xp = get_array_module(x.array)
        counts = _counts(x, x.numel(), "repeat_interleave", xp)
        return Tensor._make(xp.repeat(xp.arange(x.numel()), counts), False)
    if dim is None:
        x, dim = flatten(x), 0
    d = normalize_dim(dim, x.ndim, "repeat_interleave")
    n = x.shape[d] if x.ndim else 1
    xp = get_array_module(x.array)
    counts = _counts(repeats, n, "repeat_interleave", xp)
    index = Tensor._make(xp.repeat(xp.arange(n), counts), False)  # (Σ counts,)
    if output_size is not None and int(output_size) != index.shape[0]:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} != the sum of repeats {index.shape[0]}")
    return index_select(x if x.ndim else reshape(x, (1,)), d, index)


def _counts(repeats, n, op, xp):
    if isinstance(repeats, Tensor):
        if repeats.dtype.kind not in "iu" or repeats.ndim > 1:
            raise RuntimeError(f"{op}: repeats must be an int or a 1-D integer tensor, got {repeats.dtype} "
                               f"of shape {repeats.shape}")
        counts = repeats.array.reshape(-1)
        if counts.shape[0] == 1:
            counts = counts.repeat(n)
    else:
        counts = xp.full(n, int(repeats))
    if counts.shape[0] != n:
        raise RuntimeError(f"{op}: repeats must have {n} entries (the size of the dim), got {counts.shape[0]}")
    if counts.size and int(counts.min()) < 0:
        raise RuntimeError(f"{op}: repeats can not be negative, got {int(counts.min())}")
    return counts


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids of 1-D (or 0-d) tensors: grid_k[i_1, .., i_n] = x_k[i_k] (``indexing="ij"``)
    or with the first two dims swapped (``"xy"``, NumPy's default). Composed of reshape + expand:
    dL/dx_k sums dL/dgrid_k over every dim but its own. Shapes: (n_1), .., (n_k) -> (n_1, .., n_k) each."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if any(t.ndim > 1 for t in tensors):
        raise RuntimeError(f"meshgrid: expects 0-D or 1-D tensors, got shapes {[tuple(t.shape) for t in tensors]}")
    sizes = [t.numel() for t in tensors]
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        order[0], order[1] = 1, 0  # x varies along columns: the first two output dims are swapped
    shape = tuple(sizes[i] for i in order)
    grids = []
    for k, t in enumerate(tensors):
        at = order.index(k)
        view = [1] * len(tensors)
        view[at] = sizes[k]
        grids.append(expand(reshape(t, tuple(view)), shape))
    return tuple(grids)
