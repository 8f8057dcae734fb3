"""The operators and computing methods of ``Tensor``, each one a call of its op in
``minidl.functional``: ``a + b`` is ``elementwise.add(a, b)``, ``a.sum(dim)`` is ``reduce.sum(a, dim)``.

They are written here, as methods of ``TensorMethods``, and ``bind_tensor_methods()`` (called
once by ``minidl/functional/__init__.py``) copies them onto ``Tensor``. So ``tensor.py`` holds
the data structure without importing the ops built on it, and this file is the one place where
the class learns its operators.
"""

from __future__ import annotations

import numbers

from .. import autograd, creation
from ..backend import Device
from ..dtypes import bool_, float16, float32, float64, int32, int64, resolve_dtype
from ..tensor import Tensor, shape_args
from . import activation, comparison, elementwise, hyperbolic, indexing, linalg, reduce
from . import shape as shape_ops  # "shape" is also a parameter name below
from .torch_api import dim_alias


class TensorMethods:
    """Methods bound onto ``Tensor`` (see the module docstring)."""

    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) · gradient into the ``grad`` of every leaf that requires it."""
        autograd.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    def clone(self):
        return shape_ops.clone(self)

    def contiguous(self):
        """This tensor if it is contiguous, otherwise a contiguous copy (as in PyTorch)."""
        return self if self.is_contiguous() else shape_ops.clone(self)

    # ---- devices and dtypes ----------------------------------------------------------
    def to(self, *args, dtype=None, device=None, copy=False):
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``; differentiable."""
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (str, Device)):
                device = a
            else:
                dtype = a
        out = self
        if dtype is not None and resolve_dtype(dtype) != self.dtype:
            out = shape_ops.cast(out, resolve_dtype(dtype))
        if device is not None and Device(device) != self.device:
            out = shape_ops.to_device(out, Device(device))
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        if device is None:
            return self.to("cuda")
        return self.to(f"cuda:{device}" if isinstance(device, numbers.Integral) else device)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def half(self):
        return self.to(float16)

    def long(self):
        return self.to(int64)

    def int(self):
        return self.to(int32)

    def bool(self):
        return self.to(bool_)

    def type(self, dtype=None):
        return str(self.dtype) if dtype is None else self.to(dtype)

    # ---- arithmetic ------------------------------------------------------------------
    def __add__(self, other):
        return elementwise.add(self, other)

    def __radd__(self, other):
        return elementwise.add(other, self)

    def __sub__(self, other):
        return elementwise.sub(self, other)

    def __rsub__(self, other):
        return elementwise.sub(other, self)

    def __mul__(self, other):
        return elementwise.mul(self, other)

    def __rmul__(self, other):
        return elementwise.mul(other, self)

    def __truediv__(self, other):
        return elementwise.div(self, other)

    def __rtruediv__(self, other):
        return elementwise.div(other, self)

    def __floordiv__(self, other):
        return elementwise.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return elementwise.floor_divide(other, self)

    def __mod__(self, other):
        return elementwise.remainder(self, other)

    def __rmod__(self, other):
        return elementwise.remainder(other, self)

    def __pow__(self, other):
        return elementwise.pow(self, other)

    def __rpow__(self, other):
        return elementwise.pow(other, self)

    def __neg__(self):
        return elementwise.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return elementwise.abs(self)

    def __matmul__(self, other):
        return linalg.matmul(self, other)

    def __rmatmul__(self, other):
        return linalg.matmul(other, self)

    def __getitem__(self, index):
        return shape_ops.getitem(self, index)

    def __setitem__(self, index, value):
        indexing.setitem(self, index, value)

    # comparisons give bool tensors and no gradient
    def __eq__(self, other):
        return comparison.eq(self, other)

    def __ne__(self, other):
        return comparison.ne(self, other)

    def __lt__(self, other):
        return comparison.lt(self, other)

    def __le__(self, other):
        return comparison.le(self, other)

    def __gt__(self, other):
        return comparison.gt(self, other)

    def __ge__(self, other):
        return comparison.ge(self, other)

    def __invert__(self):
        return comparison.logical_not(self)

    def __and__(self, other):
        return comparison.logical_and(self, other)

    def __or__(self, other):
        return comparison.logical_or(self, other)

    def add(self, other, alpha=1):
        return elementwise.add(self, other if alpha == 1 else elementwise.mul(other, alpha))

    def sub(self, other, alpha=1):
        return elementwise.sub(self, other if alpha == 1 else elementwise.mul(other, alpha))

    def mul(self, other):
        return elementwise.mul(self, other)

    def div(self, other):
        return elementwise.div(self, other)

    def pow(self, other):
        return elementwise.pow(self, other)

    def matmul(self, other):
        return linalg.matmul(self, other)

    def eq(self, other):
        return comparison.eq(self, other)

    def mm(self, other):
        return linalg.mm(self, other)

    def bmm(self, other):
        return linalg.bmm(self, other)

    # ---- new tensors like this one (dtype and device kept unless given) ---------------
    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return creation.zeros(*size, dtype=dtype or self.dtype, device=device or self.device,
                             requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return creation.ones(*size, dtype=dtype or self.dtype, device=device or self.device,
                            requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return creation.empty(*size, dtype=dtype or self.dtype, device=device or self.device,
                             requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return creation.full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                             requires_grad=requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        from ..tensor import tensor

        return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    # ---- elementwise -----------------------------------------------------------------
    def sinh(self):
        return hyperbolic.sinh(self)

    def cosh(self):
        return hyperbolic.cosh(self)

    def exp(self):
        return elementwise.exp(self)

    def log(self):
        return elementwise.log(self)

    def sqrt(self):
        return elementwise.sqrt(self)

    def abs(self):
        return elementwise.abs(self)

    def sin(self):
        return elementwise.sin(self)

    def cos(self):
        return elementwise.cos(self)

    def tanh(self):
        return elementwise.tanh(self)

    def sigmoid(self):
        return elementwise.sigmoid(self)

    def relu(self):
        return elementwise.relu(self)

    def maximum(self, other):
        return elementwise.maximum(self, other)

    def minimum(self, other):
        return elementwise.minimum(self, other)

    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's names
        return elementwise.clamp(self, min, max)

    clip = clamp

    def where(self, condition, other):
        return elementwise.where(condition, self, other)

    def masked_fill(self, mask, value):
        return elementwise.masked_fill(self, mask, value)

    # ---- reductions (NumPy's axis=/keepdims= accepted for dim=/keepdim=, as PyTorch does) --
    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
        x = self if dtype is None else self.to(dtype)
        return reduce.sum(x, *dim_alias(dim, keepdim, axis, keepdims, "sum"))

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
        x = self if dtype is None else self.to(dtype)
        return reduce.mean(x, *dim_alias(dim, keepdim, axis, keepdims, "mean"))

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        if isinstance(dim, Tensor):
            return elementwise.maximum(self, dim)
        return reduce.max(self, *dim_alias(dim, keepdim, axis, keepdims, "max"))

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        if isinstance(dim, Tensor):
            return elementwise.minimum(self, dim)
        return reduce.min(self, *dim_alias(dim, keepdim, axis, keepdims, "min"))

    def amax(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return reduce.amax(self, *dim_alias(dim, keepdim, axis, keepdims, "amax"))

    def amin(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return reduce.amin(self, *dim_alias(dim, keepdim, axis, keepdims, "amin"))

    def var(self, dim=None, keepdim=False, correction=1, unbiased=None, *, axis=None, keepdims=None):
        dim, keepdim = dim_alias(dim, keepdim, axis, keepdims, "var")
        return reduce.var(self, dim, keepdim, correction=correction, unbiased=unbiased)

    def std(self, dim=None, keepdim=False, correction=1, unbiased=None, *, axis=None, keepdims=None):
        dim, keepdim = dim_alias(dim, keepdim, axis, keepdims, "std")
        return reduce.std(self, dim, keepdim, correction=correction, unbiased=unbiased)

    def logsumexp(self, dim, keepdim=False):
        return reduce.logsumexp(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return reduce.argmax(self, *dim_alias(dim, keepdim, axis, keepdims, "argmax"))

    def argmin(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return reduce.argmin(self, *dim_alias(dim, keepdim, axis, keepdims, "argmin"))

    def all(self, dim=None, keepdim=False):
        return reduce.all(self, dim, keepdim)

    def any(self, dim=None, keepdim=False):
        return reduce.any(self, dim, keepdim)

    def norm(self, p="fro", dim=None, keepdim=False, dtype=None):
        return linalg.norm(self, p, dim, keepdim, dtype)

    def softmax(self, dim):
        return activation.softmax(self, dim)

    def log_softmax(self, dim):
        return activation.log_softmax(self, dim)

    # ---- shape -----------------------------------------------------------------------
    def reshape(self, *shape):
        return shape_ops.reshape(self, shape_args(shape))

    def view(self, *shape):
        return shape_ops.view(self, shape_args(shape))

    def view_as(self, other):
        return shape_ops.reshape(self, other.shape)

    def transpose(self, dim0, dim1):
        return shape_ops.transpose(self, dim0, dim1)

    def t(self):
        """The transpose of a tensor of at most 2 dims (as ``torch.Tensor.t``)."""
        if self.ndim > 2:
            raise RuntimeError(f"t(): expects a tensor with <= 2 dimensions, got shape {self.shape}; use transpose")
        return self if self.ndim < 2 else shape_ops.transpose(self, 0, 1)

    def narrow(self, dim, start, length):
        return shape_ops.narrow(self, dim, start, length)

    def select(self, dim, index):
        return shape_ops.select(self, dim, index)

    def permute(self, *dims):
        return shape_ops.permute(self, shape_args(dims))

    def flatten(self, start_dim=0, end_dim=-1):
        return shape_ops.flatten(self, start_dim, end_dim)

    def squeeze(self, dim=None):
        return shape_ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        return shape_ops.unsqueeze(self, dim)

    def expand(self, *shape):
        return shape_ops.expand(self, shape_args(shape))

    def expand_as(self, other):
        return shape_ops.expand(self, other.shape)

    def broadcast_to(self, shape):
        return shape_ops.broadcast_to(self, shape)

    def split(self, split_size_or_sections, dim=0):
        return shape_ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        return shape_ops.chunk(self, chunks, dim)

    def repeat(self, *sizes):
        return shape_ops.repeat(self, shape_args(sizes))

    # ---- indexing ops ----------------------------------------------------------------
    def tril(self, diagonal=0):
        return indexing.tril(self, diagonal)

    def triu(self, diagonal=0):
        return indexing.triu(self, diagonal)

    def topk(self, k, dim=-1, largest=True, sorted=True):  # noqa: A002
        return indexing.topk(self, k, dim, largest, sorted)

    def roll(self, shifts, dims=None):
        return indexing.roll(self, shifts, dims)

    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        return indexing.repeat_interleave(self, repeats, dim, output_size=output_size)

    def multinomial(self, num_samples, replacement=False):
        return creation.multinomial(self, num_samples, replacement)


_NOT_METHODS = {"__hash__",  # None here (the class defines __eq__); Tensor keeps object.__hash__
                "__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__firstlineno__",
                "__static_attributes__"}


def bind_tensor_methods():
    """Give ``Tensor`` every method of ``TensorMethods``."""
    for name, value in vars(TensorMethods).items():
        if name not in _NOT_METHODS:
            setattr(Tensor, name, value)
