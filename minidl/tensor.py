"""Tensor: an array (NumPy or CuPy) with an optional gradient and the op that produced it.

Names and semantics follow PyTorch: ``requires_grad``, ``grad``, ``grad_fn``, ``is_leaf``,
``backward()``, ``dim``/``keepdim`` reductions, ``reshape``/``permute``/``expand`` and so on.

The layers, in the order they import each other (nothing imports upward):

    backend           the array module of an array, devices
    dtypes, grad_mode the dtypes and the default dtype; whether the graph is being recorded
    tensor (here)     the data structure, and ``tensor(data)`` that copies data into one
    creation          zeros, ones, arange, rand, ...
    autograd          Function (forward/backward) and the backward pass over the graph
    functional        the ops; functional/tensor_methods.py binds ``+``, ``@``, ``.sum()``, ...
                      to Tensor, the one place where the class learns its operators
"""

from __future__ import annotations

import numbers

import numpy

from . import backend
from .backend import CPU, Device
from .dtypes import (  # noqa: F401  (also importable from here: minidl.tensor's names before dtypes.py)
    bool_,
    check_grad_dtype,
    exact_integers,
    float16,
    float32,
    float64,
    get_default_dtype,
    has_float,
    has_huge_int,
    int8,
    int16,
    int32,
    int64,
    is_numbers,
    result_type,
    set_default_dtype,
    short_repr,
    uint8,
)
from .grad_mode import is_grad_enabled


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    ``array`` is the underlying NumPy (device "cpu") or CuPy (device "cuda") array; ``data`` is
    PyTorch's ``.data``: the same memory as a Tensor cut from the graph. A leaf created by the
    user with ``requires_grad=True`` accumulates gradients in ``grad`` when ``backward()`` is
    called on something computed from it.

    This class is the data structure. Its operators and the methods that compute (``a + b``,
    ``a @ b``, ``a[i]``, ``a.sum()``, ``a.to(...)``, ``a.backward()``) are differentiable ops of
    ``minidl.functional``; ``minidl/functional/tensor_methods.py`` binds them to this class.
    """

    __slots__ = ("array", "grad", "requires_grad", "grad_fn", "_version", "__weakref__")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operators
    __array_priority__ = 1000

    def __init__(self, data, dtype=None, requires_grad=False, device=None):
        t = tensor(data, dtype=dtype, requires_grad=requires_grad, device=device)
        self.array, self.grad, self.requires_grad, self.grad_fn = t.array, None, t.requires_grad, None
        self._version = [0]

    @classmethod
    def _make(cls, array, requires_grad=False):
        """Wrap an array without copying (the fast path ops use). A Tensor is never stored
        where the array belongs: that is the mistake of reading ``t.data`` for ``t.array``."""
        if isinstance(array, Tensor):
            raise TypeError(f"Tensor._make: got a Tensor of shape {array.shape} where an array belongs; "
                            "pass its .array (t.data is a Tensor, as in PyTorch)")
        t = object.__new__(cls)
        t.array = array
        t.grad = None
        t.requires_grad = requires_grad
        t.grad_fn = None
        t._version = [0]
        return t

    # ---- attributes ------------------------------------------------------------------
    @property
    def data(self):
        """PyTorch's ``.data``: a Tensor that shares this tensor's memory, cut from the graph
        (``requires_grad=False``) and with its own version counter, so that autograd does not
        see changes made through it (``p.data.add_(g, alpha=-lr)``). ``t.array`` is the array."""
        return Tensor._make(self.array, False)

    @data.setter
    def data(self, value):
        """``w.data = t``: this tensor now holds ``t``'s array (shared; shape, dtype, device may change)."""
        if not isinstance(value, Tensor):
            raise TypeError(f"data: can only be set to a Tensor, got {type(value).__name__} "
                            f"(to store an array, assign .array; tensor of shape {self.shape})")
        if self.requires_grad and value.dtype.kind not in "fc":
            raise RuntimeError(f"data: a tensor that requires grad can't hold {value.dtype} data "
                               f"(the new value has shape {value.shape})")
        self.array = value.array

    @property
    def shape(self):
        return self.array.shape

    @property
    def ndim(self):
        return self.array.ndim

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def device(self) -> Device:
        return CPU if isinstance(self.array, numpy.ndarray) else backend.device_of(self.array)

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self):
        return self.ndim

    def numel(self):
        return int(self.array.size)

    def element_size(self):
        return self.array.itemsize

    def is_floating_point(self):
        return self.dtype.kind == "f"

    @property
    def T(self):  # noqa: N802 - PyTorch's name
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self):  # noqa: N802
        return self.transpose(-2, -1)

    # ---- conversion ------------------------------------------------------------------
    def numpy(self):
        """The data as a NumPy array (shares memory on the CPU)."""
        if self.requires_grad:
            raise RuntimeError("numpy(): can't call numpy() on a tensor that requires grad; use .detach().numpy()")
        if self.device.type != "cpu":
            raise TypeError(f"numpy(): tensor is on {self.device}; use .cpu() first to copy it to host memory")
        return self.array

    def __array__(self, dtype=None, copy=None):
        if self.device.type != "cpu":
            raise TypeError(
                f"can't convert a {self.device} tensor to a NumPy array implicitly; use .cpu() or .numpy()"
            )
        a = self.array
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item(): only a tensor with one element can be converted, got shape {self.shape}")
        return self.array.reshape(()).item()

    def tolist(self):
        return backend.as_numpy(self.array).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError(f"only integer tensors of a single element can be used as an index, got {self.dtype}")
        return int(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.numel()} elements is ambiguous")
        return bool(self.item())

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    __hash__ = object.__hash__

    def __repr__(self):
        body = numpy.array2string(
            backend.as_numpy(self.array), separator=", ", prefix="tensor(", precision=4, threshold=200
        )
        extras = []
        if self.dtype not in (get_default_dtype(), int64, bool_):
            extras.append(f"dtype=minidl.{self.dtype}")
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ---- autograd --------------------------------------------------------------------
    def is_contiguous(self):
        """True when the elements lie in memory in row-major order without gaps."""
        return bool(self.array.flags.c_contiguous)

    def detach(self):
        """The same data, cut from the graph (shares memory and version counter)."""
        t = Tensor._make(self.array, False)
        t._version = self._version
        return t

    def detach_(self):
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad=True):
        if requires_grad:
            check_grad_dtype(self.dtype, "requires_grad_")
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_(False): only leaf tensors can stop requiring grad; use detach()")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self):
        """Keep the gradient of this non-leaf in ``grad`` after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad(): tensor does not require grad")
        if self.grad_fn is not None:
            import weakref

            self.grad_fn._retained = weakref.ref(self)
        return self

    @property
    def retains_grad(self):
        return self.grad_fn is not None and self.grad_fn._retained is not None

    # ---- in-place updates (only where no graph is being recorded through them) -------
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
        """An expanded tensor repeats memory: writing into it (or into a view of it) would change
        several elements at once, so every write is refused (NumPy marks such views read-only)."""
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
        if isinstance(other, Tensor):
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
        self.array[...] = value.item() if isinstance(value, Tensor) else value
        return self._bump()

    def copy_(self, src):
        """Copy ``src``'s values into this tensor (broadcasting ``src``; any device or dtype)."""
        self._check_inplace("copy_")
        self._check_writable("copy_")
        src_data = src.array if isinstance(src, Tensor) else src
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

    def __setitem__(self, index, value):
        self._check_inplace("__setitem__")
        self._check_writable("__setitem__")
        try:
            self.array[_index_arrays(index)] = self._operand(value)
        except (ValueError, IndexError) as exc:
            shape = tuple(getattr(value, "shape", ()))
            raise type(exc)(f"__setitem__: {exc} (tensor of shape {self.shape}, value of shape {shape})") from None
        self._bump()


def shape_args(args):
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _index_arrays(index):
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, tuple):
        return tuple(i.array if isinstance(i, Tensor) else i for i in index)
    return index


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new leaf tensor holding a copy of ``data`` (PyTorch's dtype rules: Python floats ->
    float32, Python ints -> int64, bools -> bool; arrays keep their dtype)."""
    if isinstance(data, Tensor):
        array = data.array.copy()
        if device is None:
            device = data.device
    elif backend.is_device_array(data):
        array = data.copy()
    elif isinstance(data, numpy.ndarray) or isinstance(data, numpy.generic):
        array = numpy.array(data)
    else:
        if (numpy.dtype(dtype).kind in "iu" if dtype is not None else not has_float(data)) and has_huge_int(data):
            raise OverflowError(f"tensor(): a Python integer in {short_repr(data)} does not fit in int64")
        array = numpy.array(data)
        if array.dtype.kind == "O" and is_numbers(data):
            array = array.astype(numpy.float64)  # ints past int64 beside floats (refused above elsewhere)
        if dtype is not None and array.dtype.kind in "biuf":  # converted below, without a detour through float32
            if numpy.dtype(dtype).kind in "iu" and array.size and array.dtype.kind != "b" and is_numbers(data):
                array = exact_integers(data, array, numpy.dtype(dtype))
        elif array.dtype == numpy.float64:
            array = array.astype(get_default_dtype())
        elif array.dtype.kind in "iu":
            array = array.astype(int64)
        elif array.dtype.kind not in "fb":
            raise TypeError(f"tensor(): can't make a tensor from {type(data).__name__} (dtype {array.dtype})")
    if dtype is not None:
        with numpy.errstate(over="ignore", invalid="ignore"):  # 1e5 as float16 is inf, as in PyTorch
            array = array.astype(numpy.dtype(dtype), copy=False)
    return new_leaf(array, device, requires_grad, "tensor")


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with ``data`` when it already is a suitable array."""
    if isinstance(data, Tensor):
        return data.to(*(a for a in (device, dtype) if a is not None))
    if isinstance(data, numpy.ndarray) and (dtype is None or numpy.dtype(dtype) == data.dtype):
        return new_leaf(data, device, False, "as_tensor")
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor that shares memory with the NumPy ``array`` (dtype kept)."""
    if not isinstance(array, numpy.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._make(array, False)


def new_leaf(array, device, requires_grad, where):
    """``array`` as a leaf Tensor on ``device`` (copied there if needed); ``where`` names the caller."""
    if device is not None:
        device = Device(device)
        if device.type != "cpu":
            array = backend.to_device(array, device)
    if requires_grad:
        check_grad_dtype(array.dtype, where)
    return Tensor._make(array, bool(requires_grad))
