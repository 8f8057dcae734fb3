"""Small helpers shared by the functional modules (argument checks, dim handling, the stride rule of views)."""

from __future__ import annotations

from ..backend import get_array_module
from ..tensor import Tensor


def data_of(x):
    """The array of a Tensor, or the value itself (a Python number or a constant array)."""
    return x.array if isinstance(x, Tensor) else x


def as_tensor_like(x, like: Tensor) -> Tensor:
    """``x`` as a constant Tensor on ``like``'s device and dtype (Tensors pass through)."""
    if isinstance(x, Tensor):
        return x
    return Tensor._make(get_array_module(like.array).asarray(x, dtype=like.dtype), False)


def normalize_dim(dim: int, ndim: int, op: str) -> int:
    """A dim in ``[-ndim, ndim)`` turned non-negative; an error naming ``op`` otherwise."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions")
    return dim % n


def normalize_dims(dim, ndim: int, op: str):
    """``None`` (all dims) or a sorted tuple of non-negative dims."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = tuple(sorted({normalize_dim(d, ndim, op) for d in dims}))
    if len(out) != len(dims):
        raise ValueError(f"{op}: dim {dim} repeats a dimension")
    return out


def reduced_shape(shape, dims):
    """The shape a keepdim reduction over ``dims`` gives (``None``: all dims)."""
    if dims is None:
        return (1,) * len(shape)
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def dropped_shape(shape, dims):
    """The shape a reduction over ``dims`` gives without keepdim (``None``: all dims)."""
    if dims is None:
        return ()
    return tuple(n for i, n in enumerate(shape) if i not in dims)


def broadcast_shapes(*shapes):
    """The shape NumPy broadcasting gives ``shapes``, or ``None`` when they do not broadcast."""
    ndim = max(len(s) for s in shapes)
    out = []
    for i in range(ndim):
        sizes = {s[i - ndim + len(s)] for s in shapes if i - ndim + len(s) >= 0} - {1}
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def view_strides(shape, strides, new_shape):
    """The strides (in elements) of ``new_shape`` as a view of memory laid out by ``shape`` and
    ``strides``, or None when no view exists: each run of dims that is contiguous in memory may
    be split or merged, never two runs together (PyTorch's and NumPy's rule)."""
    if 0 in shape or not shape:
        return new_shape
    view_d = len(new_shape) - 1
    base, tensor_numel, view_numel = strides[-1], 1, 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * base):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                base, tensor_numel, view_numel = strides[d - 1], 1, 1
    return None if view_d != -1 else new_shape


def infer_shape(shape, numel, op, in_shape):
    """``shape`` with its one -1 resolved (an error naming ``op`` when impossible)."""
    unknown = [i for i, n in enumerate(shape) if n == -1]
    known = 1
    for n in shape:
        if n < -1:
            raise ValueError(f"{op}: invalid size {n} in shape {shape}")
        known *= n if n != -1 else 1
    if len(unknown) > 1:
        raise ValueError(f"{op}: only one dimension can be -1, got shape {shape}")
    if unknown:
        if known == 0 or numel % known:
            raise ValueError(f"{op}: shape {shape} is invalid for a tensor of shape {in_shape} ({numel} elements)")
        shape = shape[: unknown[0]] + (numel // known,) + shape[unknown[0] + 1 :]
    elif known != numel:
        raise ValueError(f"{op}: shape {shape} is invalid for a tensor of shape {in_shape} ({numel} elements)")
    return shape
