"""The in-place methods of ``Tensor`` (``+=``, ``add_``, ``zero_``, ``copy_``, ...): each checks
that no recorded graph runs through the tensor, that its memory is writable (not an expanded
view), that the operand fits its shape and that the result keeps its dtype, writes into the
array, and bumps the version counter that autograd checks saved tensors against.

``Tensor`` (minidl/tensor.py) inherits them; ``x[index] = v`` itself is
``functional.indexing.setitem``, which records the write when a gradient needs it.
"""

from __future__ import annotations

import numbers

import numpy

from . import backend
from .dtypes import get_default_dtype, result_type
from .grad_mode import is_grad_enabled


class InPlaceMethods:
    """Mixed into ``Tensor``: the updates that write into ``self.array``."""

    __slots__ = ()

    def _check_inplace(self, op):
        if self.requires_grad and is_grad_enabled():
            if self.is_leaf:
                raise RuntimeError(
                    f"{op}: a leaf tensor that requires grad is being used in an in-place operation; "
                    "wrap the update in `with minidl.no_grad():`"
                )
            raise RuntimeError(
                f"{op}: in-place operations on tensors that are part of a graph are not recorded; "
                "use the out-of-place form (e.g. x = x + y)"
            )

    def _check_writable(self, op):
        """An expanded tensor repeats memory: writing into it would change several elements at
        once, so every write is refused, as is a write into read-only memory. A view of an
        expanded tensor that no longer repeats memory (the expanded dim selected away) can be
        written, as in PyTorch (the view ops give it its write flag back: backend.writable_unless_repeated)."""
        repeated = any(st == 0 and n > 1 for st, n in zip(self.array.strides, self.shape))
        if repeated or not getattr(self.array.flags, "writeable", True):
            raise RuntimeError(
                f"{op}: unsupported operation: more than one element of the written-to tensor (shape "
                f"{self.shape}, an expand or broadcast view) refers to a single memory location; clone() it first"
            )

    def _check_fits(self, op, shape):
        """An in-place op writes this tensor's elements only: the operand must broadcast to its shape."""
        try:
            fits = numpy.broadcast_shapes(tuple(shape), self.shape) == self.shape
        except ValueError:
            fits = False
        if not fits:
            raise RuntimeError(f"{op}: an operand of shape {tuple(shape)} does not broadcast to this tensor's "
                               f"shape {self.shape} (an in-place op cannot change the shape)")

    def _check_result_dtype(self, op, other, true_division=False):
        """In-place ops keep this tensor's dtype; a result of a higher kind cannot be stored
        (PyTorch: "result type Float can't be cast to the desired output type Long")."""
        if hasattr(other, "shape"):
            self._check_fits(op, other.shape)
        if self.dtype.kind == "f" and (type(other) in (int, float) or getattr(other, "dtype", None) == self.dtype):
            return  # the common case (an optimizer step): nothing to promote
        result = result_type(self, other)
        if true_division and result.kind in "biu":
            result = get_default_dtype()
        rank = {"b": 0, "i": 1, "u": 1, "f": 2, "c": 3}
        if rank[result.kind] > rank[self.dtype.kind]:
            raise RuntimeError(
                f"{op}: result type {result} can't be cast to the desired output type {self.dtype} "
                f"(in-place op on a tensor of shape {self.shape})"
            )
        if op in ("-=", "sub_") and "b" in (self.dtype.kind, result_type(other).kind):
            raise RuntimeError(f"{op}: subtraction with a bool tensor is not supported (this tensor: {self.dtype}, "
                               f"shape {self.shape}; the operand: {result_type(other)}); use ~ or logical_not")

    def _bump(self):
        self._version[0] += 1
        return self

    def _operand(self, other):
        if isinstance(other, InPlaceMethods):
            if other.device != self.device:
                raise RuntimeError(f"in-place op: tensors on different devices, {self.device} and {other.device}")
            # computed in this tensor's dtype (the checks above allow only a cast within a category)
            return other.array if other.dtype == self.dtype else other.array.astype(self.dtype)
        return other

    def __iadd__(self, other):
        self._check_inplace("+=")
        self._check_writable("+=")
        self._check_result_dtype("+=", other)
        self.array += self._operand(other)
        return self._bump()

    def __isub__(self, other):
        self._check_inplace("-=")
        self._check_writable("-=")
        self._check_result_dtype("-=", other)
        self.array -= self._operand(other)
        return self._bump()

    def __imul__(self, other):
        self._check_inplace("*=")
        self._check_writable("*=")
        self._check_result_dtype("*=", other)
        self.array *= self._operand(other)
        return self._bump()

    def __itruediv__(self, other):
        self._check_inplace("/=")
        self._check_writable("/=")
        self._check_result_dtype("/=", other, true_division=True)
        self.array /= self._operand(other)
        return self._bump()

    def add_(self, other, alpha=1):
        self._check_inplace("add_")
        self._check_writable("add_")
        self._check_result_dtype("add_" if alpha > 0 else "sub_", other)
        if self.dtype.kind in "biu" and not isinstance(alpha, numbers.Integral):
            raise RuntimeError(f"add_: for integer tensors alpha must be an integer, got {alpha!r}")
        o = self._operand(other)
        self.array += o if alpha == 1 else alpha * o
        return self._bump()

    def sub_(self, other, alpha=1):
        return self.add_(other, alpha=-alpha)

    def mul_(self, other):
        return self.__imul__(other)

    def div_(self, other):
        return self.__itruediv__(other)

    def zero_(self):
        self._check_inplace("zero_")
        self._check_writable("zero_")
        self.array[...] = 0
        return self._bump()

    def fill_(self, value):
        self._check_inplace("fill_")
        self._check_writable("fill_")
        self.array[...] = value.item() if isinstance(value, InPlaceMethods) else value
        return self._bump()

    def copy_(self, src):
        """Copy ``src``'s values into this tensor (broadcasting ``src``; any device or dtype)."""
        self._check_inplace("copy_")
        self._check_writable("copy_")
        src_data = src.array if isinstance(src, InPlaceMethods) else src
        if backend.device_of(src_data) != self.device if hasattr(src_data, "shape") else False:
            src_data = backend.to_device(src_data, self.device)
        shape = tuple(src_data.shape) if hasattr(src_data, "shape") else numpy.shape(src_data)  # host metadata
        self._check_fits("copy_", shape)
        self.array[...] = src_data
        return self._bump()

    def uniform_(self, a=0.0, b=1.0):
        self._check_inplace("uniform_")
        self._check_writable("uniform_")
        rng = backend.rng_for(self.device)
        self.array[...] = rng.uniform(a, b, size=self.shape)
        return self._bump()

    def normal_(self, mean=0.0, std=1.0):
        self._check_inplace("normal_")
        self._check_writable("normal_")
        rng = backend.rng_for(self.device)
        self.array[...] = rng.normal(mean, std, size=self.shape)
        return self._bump()

    def _write(self, index, value):
        """``self[index] = value`` outside the graph (``x[index] = v`` itself is
        ``functional.indexing.setitem``, which records the write when a gradient needs it)."""
        self._check_inplace("__setitem__")
        self._check_writable("__setitem__")
        try:
            self.array[_index_arrays(index)] = self._operand(value)
        except (ValueError, IndexError) as exc:
            shape = tuple(getattr(value, "shape", ()))
            raise type(exc)(f"__setitem__: {exc} (tensor of shape {self.shape}, value of shape {shape})") from None
        self._bump()


def _index_arrays(index):
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, InPlaceMethods):
        return index.array
    if isinstance(index, tuple):
        return tuple(i.array if isinstance(i, InPlaceMethods) else i for i in index)
    return index
