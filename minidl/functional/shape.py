"""Shape and indexing primitives: reshape, permute, expand, indexing, concatenation, padding,
and conversions (dtype, device). Each one only moves values around, so its backward moves
the gradient back: reshape ↔ reshape, permute ↔ inverse permute, expand ↔ sum,
index ↔ scatter-add, cat ↔ slices, pad ↔ crop. dL/dx always has x's shape.

Notebooks: reshape and permute are how multi-head attention splits heads
(notebooks/04_attention.ipynb, section 4, "Multi-head attention is a reshape"); cat joins
[h, x] in the concatenated cell form (notebooks/03_recurrent.ipynb, section 1); reshapes turn
conv into unfold + matmul (notebooks/02_convolution.ipynb, section 2).
"""

from __future__ import annotations

import numbers

from ..autograd import Function
from ..backend import get_array_module, writable_unless_repeated
from ..backend import to_device as _to_device
from ..tensor import Tensor
from ._common import infer_shape, normalize_dim, view_strides
from .elementwise import result_type


class Reshape(Function):
    """y = x viewed as ``shape`` (same elements, row-major order)        dL/dx = reshape(dy, x.shape)"""

    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return writable_unless_repeated(x.reshape(shape))

    def backward(ctx, dy):
        return dy.reshape(ctx.in_shape), None


class Permute(Function):
    """y[i_p0, ..., i_pn] = x[i_0, ..., i_n] (dims reordered by ``dims``)        dL/dx = permute(dy, dims⁻¹)"""

    def forward(ctx, x, dims):
        ctx.dims = dims
        return writable_unless_repeated(x.transpose(dims))

    def backward(ctx, dy):
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return dy.permute(*inverse), None


class Expand(Function):
    """y = x broadcast to ``shape`` (a view, no copy)        dL/dx = dy summed over the broadcast dims
    (the base class does the summing)"""

    def forward(ctx, x, shape):
        return writable_unless_repeated(ctx.xp.broadcast_to(x, shape))

    def backward(ctx, dy):
        return dy, None


class GetItem(Function):
    """y = x[index] (basic or advanced NumPy indexing)
    dL/dx = zeros(x.shape) with dy added at ``index`` (repeated indices accumulate)"""

    def forward(ctx, x, index):
        ctx.in_shape = x.shape
        ctx.index = index
        return writable_unless_repeated(x[index])

    def backward(ctx, dy):
        return IndexAdd.apply(dy, ctx.in_shape, ctx.index), None

    def backward_into(ctx, dy, out):
        """The same gradient added in place into ``out`` (an array of x's shape that the backward
        pass owns): out[index] += dy. The pass uses it when no graph of the backward is built, so
        that the pieces of a split write into one buffer instead of each filling a full-size
        array of zeros that the pass then sums (minidl/backprop.py)."""
        if _is_basic(ctx.index):
            out[ctx.index] += dy  # a view of out: the elements a basic index picks are distinct
        else:
            ctx.xp.add.at(out, ctx.index, dy)  # repeated indices accumulate


class IndexAdd(Function):
    """y = zeros(shape); y[index] += g        dL/dg = dy[index]   (the backward of indexing)"""

    def forward(ctx, g, shape, index):
        ctx.index = index
        out = ctx.xp.zeros(shape, dtype=g.dtype)
        if _is_basic(index):
            out[index] = g  # a basic index cannot repeat an element: plain assignment is enough
        else:
            ctx.xp.add.at(out, index, g)
        return out

    def backward(ctx, dy):
        return GetItem.apply(dy, ctx.index), None, None


class Cat(Function):
    """y = [x_1, x_2, ...] joined along ``dim``        dL/dx_k = the slice of dy that x_k filled"""

    def forward(ctx, *arrays, dim):
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] for a in arrays]
        return ctx.xp.concatenate(arrays, axis=dim)

    def backward(ctx, dy):
        grads, start = [], 0
        lead = (slice(None),) * ctx.dim
        for size, needed in zip(ctx.sizes, ctx.needs_input_grad):
            grads.append(dy[lead + (slice(start, start + size),)] if needed else None)
            start += size
        return tuple(grads)


class ConstantPad(Function):
    """y = x surrounded by ``value`` (``widths[d] = (before, after)`` per dim)
    dL/dx = dy with the padding cut away"""

    def forward(ctx, x, widths, value):
        ctx.crop = tuple(slice(b, b + n) for (b, _), n in zip(widths, x.shape))
        return ctx.xp.pad(x, widths, mode="constant", constant_values=value)

    def backward(ctx, dy):
        return dy[ctx.crop], None, None


class Clone(Function):
    """y = a copy of x        dL/dx = dy"""

    def forward(ctx, x):
        return x.copy()

    def backward(ctx, dy):
        return dy


class Cast(Function):
    """y = x converted to ``dtype``        dL/dx = dy converted back to x's dtype"""

    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    def backward(ctx, dy):
        return dy.to(ctx.in_dtype), None


class ToDevice(Function):
    """y = x copied to ``device``        dL/dx = dy copied back to x's device"""

    def forward(ctx, x, device):
        ctx.in_device = Tensor._make(x).device
        return _to_device(x, device)

    def backward(ctx, dy):
        return dy.to(ctx.in_device), None


# ---- helpers ------------------------------------------------------------------------------
def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in items)


def _prepare_index(x, index):
    """Turn Tensors (and lists) inside an index into arrays of x's array module."""
    xp = get_array_module(x.array)

    def conv(i):
        if isinstance(i, Tensor):
            if i.device != x.device:
                raise IndexError(f"getitem: index on {i.device} for a tensor on {x.device}")
            if i.dtype.kind not in "iub":
                raise IndexError(f"getitem: tensors used as indices must be integer or bool, got {i.dtype}")
            return i.array
        if isinstance(i, list):
            return xp.asarray(i)
        if isinstance(i, numbers.Integral) and not isinstance(i, bool):
            return int(i)
        return i

    return tuple(conv(i) for i in index) if isinstance(index, tuple) else conv(index)


def _shape_tuple(shape):
    return tuple(int(s) for s in shape)


# ---- wrappers -----------------------------------------------------------------------------
def reshape(x, shape):
    """The same elements in a new shape (one dim may be -1)."""
    shape = _shape_tuple(shape)
    if shape == x.shape:
        return x
    return Reshape.apply(x, shape)


def view(x, shape):
    """The same memory seen with a new shape: no copy, ever. A tensor whose memory layout does not
    allow it (a transpose, most slices) raises, as ``torch.Tensor.view``; ``reshape`` copies then."""
    shape = infer_shape(_shape_tuple(shape), x.numel(), "view", tuple(x.shape))
    item = x.array.itemsize
    strides = tuple(st // item for st in x.array.strides)
    if view_strides(tuple(x.shape), strides, shape) is None:
        raise RuntimeError(
            f"view: view size is not compatible with input tensor's size and stride (shape {tuple(x.shape)}, "
            f"strides {strides} in elements, requested {shape}): at least one requested dim spans two "
            "non-contiguous runs of memory; use .reshape(...) (which copies) or .contiguous() first"
        )
    return reshape(x, shape)


def permute(x, dims):
    """Reorder the dims: ``y.shape[i] = x.shape[dims[i]]``."""
    dims = tuple(normalize_dim(d, x.ndim, "permute") for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} dims of shape {x.shape}")
    if dims == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, dims)


def transpose(x, dim0, dim1):
    """Swap two dims."""
    if x.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    dims = list(range(x.ndim))
    a, b = normalize_dim(dim0, x.ndim, "transpose"), normalize_dim(dim1, x.ndim, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return permute(x, dims)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim..end_dim`` into one."""
    s, e = normalize_dim(start_dim, x.ndim, "flatten"), normalize_dim(end_dim, x.ndim, "flatten")
    if x.ndim == 0:
        return reshape(x, (1,))
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = 1
    for n in x.shape[s : e + 1]:
        merged *= n
    return reshape(x, x.shape[:s] + (merged,) + x.shape[e + 1 :])


def squeeze(x, dim=None):
    """Drop dims of size 1 (all of them, or the given ones that have size 1)."""
    if dim is None:
        dims = {i for i, n in enumerate(x.shape) if n == 1}
    else:
        dims = {normalize_dim(d, x.ndim, "squeeze") for d in ((dim,) if isinstance(dim, int) else dim)}
        dims = {d for d in dims if x.ndim and x.shape[d] == 1}  # a 0-d tensor squeezes to itself
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in dims))


def unsqueeze(x, dim):
    """Insert a dim of size 1 at ``dim`` (``-1`` appends)."""
    d = normalize_dim(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def expand(x, shape):
    """Broadcast to ``shape`` without copying (-1 keeps a size; new dims go in front)."""
    shape = _shape_tuple(shape)
    if len(shape) < x.ndim:
        raise ValueError(f"expand: target shape {shape} has fewer dims than the input shape {x.shape}")
    lead = len(shape) - x.ndim
    target = tuple(x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(shape))
    for i, n in enumerate(x.shape):
        if n != 1 and n != target[i + lead]:
            raise ValueError(f"expand: the input shape {x.shape} cannot be expanded to {shape} (dim {i})")
    if target == x.shape:
        return x
    return Expand.apply(x, target)


def broadcast_to(x, shape):
    """Same as ``expand``: broadcast to ``shape`` without copying."""
    return expand(x, shape)


def getitem(x, index):
    """``x[index]`` with NumPy's rules; Tensors may be used as integer or bool indices."""
    return GetItem.apply(x, _prepare_index(x, index))


def narrow(x, dim, start, length):
    """The slice ``start:start+length`` along ``dim`` (a view). A negative ``start`` counts from
    the end; the slice must lie inside the dim, as in PyTorch."""
    if x.ndim == 0:
        raise IndexError("narrow: cannot be applied to a 0-dim tensor")
    d = normalize_dim(dim, x.ndim, "narrow")
    n = x.shape[d]
    start, length = int(start), int(length)
    if not -n <= start <= n:
        raise IndexError(f"narrow: start {start} is out of range for dim {dim} of size {n} (expected {-n}..{n})")
    start = start + n if start < 0 else start
    if length < 0:
        raise ValueError(f"narrow: length must be non-negative, got {length}")
    if start + length > n:
        raise ValueError(f"narrow: start ({start}) + length ({length}) exceeds the size {n} of dim {dim} "
                         f"of the tensor of shape {tuple(x.shape)}")
    return getitem(x, (slice(None),) * d + (slice(start, start + length),))


def select(x, dim, index):
    """The slice at ``index`` along ``dim``, that dim removed (a view); negative counts from the end."""
    if x.ndim == 0:
        raise IndexError("select: cannot be applied to a 0-dim tensor")
    d = normalize_dim(dim, x.ndim, "select")
    n, index = x.shape[d], int(index)
    if not -n <= index < n:
        raise IndexError(f"select: index {index} out of range for tensor of shape {tuple(x.shape)} at dim {dim}")
    return getitem(x, (slice(None),) * d + (index % n,))


def index_select(x, dim, index):
    """The entries ``index`` (a 1-D integer tensor) along ``dim``."""
    d = normalize_dim(dim, x.ndim, "index_select")
    if isinstance(index, Tensor) and index.numel():
        lo, hi, n = int(index.array.min()), int(index.array.max()), x.shape[d] if x.ndim else 1
        if lo < 0 or hi >= n:  # no negative indices here, as in PyTorch
            raise IndexError(f"index_select: index {lo if lo < 0 else hi} is out of range for dim {dim} of size {n} "
                             f"(expected 0..{n - 1})")
    return getitem(x, (slice(None),) * d + (index,))


def cat(tensors, dim=0):
    """Join tensors along an existing ``dim``; every other dim must match."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise ValueError(f"cat: zero-dimensional tensor (at position {i}) cannot be concatenated")
    tensors = _promoted(tensors)
    if all(t.shape == (0,) for t in tensors):
        dim = 0  # only placeholders: PyTorch returns an empty tensor whatever the dim
    elif any(t.ndim != 1 for t in tensors):
        # PyTorch skips 1-D empty tensors (a legacy placeholder for "nothing yet") beside others:
        # each becomes an empty piece of the others' shape, so that it still gets its gradient
        like = next(t for t in tensors if t.shape != (0,))
        d = normalize_dim(dim, like.ndim, "cat")
        empty = like.shape[:d] + (0,) + like.shape[d + 1 :]
        tensors = [reshape(t, empty) if t.shape == (0,) else t for t in tensors]
    d = normalize_dim(dim, tensors[0].ndim, "cat")
    first = tensors[0].shape
    for t in tensors[1:]:
        if t.ndim != len(first) or any(a != b for i, (a, b) in enumerate(zip(t.shape, first)) if i != d):
            raise ValueError(
                f"cat: shapes {[tuple(t.shape) for t in tensors]} do not match outside dim {dim}"
            )
    if len(tensors) == 1:
        return tensors[0]
    return Cat.apply(*tensors, dim=d)


concatenate = cat


def stack(tensors, dim=0):
    """Join tensors of equal shape along a new ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: expects tensors of equal shape, got {[tuple(t.shape) for t in tensors]}")
    d = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    tensors = _promoted(tensors)
    return Cat.apply(*[unsqueeze(t, d) for t in tensors], dim=d) if len(tensors) > 1 else unsqueeze(tensors[0], d)


def _promoted(tensors):
    """The tensors converted to their common dtype (PyTorch's ``result_type``)."""
    dtype = result_type(*tensors)
    return [t if t.dtype == dtype else t.to(dtype) for t in tensors]


def split(x, split_size_or_sections, dim=0):
    """Pieces along ``dim``: of ``split_size`` each (the last may be smaller), or of the listed sizes."""
    d = normalize_dim(dim, x.ndim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections:
            sizes.append(n % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} do not add up to {n}, the size of dim {dim} of {x.shape}")
    pieces, start = [], 0
    for s in sizes:
        pieces.append(narrow(x, d, start, s))
        start += s
    return tuple(pieces)


def chunk(x, chunks, dim=0):
    """``chunks`` nearly equal pieces along ``dim`` (the last may be smaller)."""
    n = x.shape[normalize_dim(dim, x.ndim, "chunk")]
    size = max(1, -(-n // chunks))
    return split(x, size, dim)


def repeat(x, sizes):
    """Tile ``x``: dim i is repeated ``sizes[i]`` times (like ``numpy.tile``)."""
    sizes = _shape_tuple(sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} repeat sizes for a tensor of {x.ndim} dims")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    # put a size-1 dim before each dim, broadcast it to the repeat count, then merge the pairs
    interleaved = tuple(v for n in shape for v in (1, n))
    target = tuple(v for r, n in zip(sizes, shape) for v in (r, n))
    y = expand(reshape(x, interleaved), target)
    return reshape(y, tuple(r * n for r, n in zip(sizes, shape)))


def pad(x, pad, mode="constant", value=0.0):
    """Pad the last ``len(pad) // 2`` dims; ``pad = (left_last, right_last, left_prev, right_prev, ...)``
    as in ``torch.nn.functional.pad``. Modes: constant, reflect, replicate, circular. In constant
    mode a negative width crops that many elements, as in PyTorch."""
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: pad {tuple(pad)} must have an even length of at most 2*ndim for shape {x.shape}")
    if any(p < 0 for p in pad) and mode != "constant":
        raise ValueError(f"pad: negative padding {tuple(pad)} is only supported in constant mode, not {mode!r}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if mode == "constant":
        return ConstantPad.apply(_crop(x, widths), tuple((max(b, 0), max(a, 0)) for b, a in widths),
                                 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: unknown mode {mode!r}")
    # the other modes only pick existing elements, so they are indexing (and its backward)
    from ..creation import arange

    for d, (before, after) in enumerate(widths):
        if before == after == 0:
            continue
        n = x.shape[d]
        if mode == "reflect" and (before >= n or after >= n):
            raise ValueError(f"pad: reflect padding {(before, after)} must be smaller than the size {n} of dim {d}")
        idx = arange(-before, n + after).array
        if mode == "reflect":
            period = 2 * (n - 1)
            idx = idx % period if period else idx * 0
            idx = (period - idx) * (idx >= n) + idx * (idx < n)
        elif mode == "replicate":
            idx = idx.clip(0, n - 1)
        else:
            idx = idx % n
        x = index_select(x, d, Tensor._make(idx.astype("int64"), False).to(x.device))
    return x


def _crop(x, widths):
    """x without the elements a negative padding width removes (before, after) per dim."""
    if all(b >= 0 and a >= 0 for b, a in widths):
        return x
    index = []
    for (b, a), n in zip(widths, x.shape):
        start, stop = max(-b, 0), n - max(-a, 0)
        if stop < start:
            raise ValueError(f"pad: negative padding {widths} removes more than the {n} elements of a dim "
                             f"of the tensor of shape {tuple(x.shape)}")
        index.append(slice(start, stop))
    return getitem(x, tuple(index))


def clone(x):
    """A copy of ``x`` that stays in the graph (gradient passes through unchanged)."""
    return Clone.apply(x)


def cast(x, dtype):
    """``x`` converted to ``dtype``; the gradient is converted back (see ``Cast``)."""
    return Cast.apply(x, dtype)


def to_device(x, device):
    """``x`` copied to ``device``; the gradient is copied back (see ``ToDevice``)."""
    return ToDevice.apply(x, device)
