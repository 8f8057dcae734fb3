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
from .tensor_inplace import InPlaceMethods


class Tensor(InPlaceMethods):
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

    def __init__(self, *data, dtype=None, requires_grad=False, device=None):
        """``Tensor(data)`` copies data (Python numbers become the default float dtype, as
        ``torch.Tensor`` does; arrays keep theirs); ``Tensor(2, 3)`` is a zero-filled 2×3 tensor."""
        if all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in data):
            data = (numpy.zeros(data or (0,), dtype=dtype or get_default_dtype()),)
        if len(data) != 1:
            raise TypeError(f"Tensor(): expects sizes (ints) or one sequence of data, got {short_repr(data)}")
        (data,) = data
        if dtype is None and not isinstance(data, Tensor) and not hasattr(data, "dtype"):
            dtype = get_default_dtype()
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
        """The shape as a ``Size`` (a tuple with ``numel()``), or the length of ``dim``."""
        return Size(self.array.shape) if dim is None else self.array.shape[dim]

    def stride(self, dim=None):
        """Steps in elements between neighbours along each dim (0 along an expanded dim)."""
        item = self.array.itemsize
        steps = tuple(st // item for st in self.array.strides)
        return steps if dim is None else steps[dim]

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

    def __format__(self, spec):
        """``f"{loss:.4f}"`` formats a one-element tensor's value, as in PyTorch for 0-d tensors."""
        if self.ndim == 0:
            return format(self.item(), spec)
        return format(str(self), spec)

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


class Size(tuple):
    """A tensor's shape (``torch.Size``): a tuple of ints with ``numel()``."""

    __slots__ = ()

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n

    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item

    def __repr__(self):
        return f"minidl.Size({list(self)})"


def shape_args(args):
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


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


_default_device = [CPU]


def set_default_device(device):
    """The device that ``tensor``, ``zeros``, ``rand``... use when given none (``torch.set_default_device``)."""
    _default_device[0] = Device(device if device is not None else "cpu")


def get_default_device() -> Device:
    return _default_device[0]


def new_leaf(array, device, requires_grad, where):
    """``array`` as a leaf Tensor on ``device`` (copied there if needed); ``where`` names the caller."""
    if device is None and _default_device[0] is not CPU:
        device = _default_device[0]
    if device is not None:
        device = Device(device)
        if device.type != "cpu":
            array = backend.to_device(array, device)
    if requires_grad:
        check_grad_dtype(array.dtype, where)
    return Tensor._make(array, bool(requires_grad))
