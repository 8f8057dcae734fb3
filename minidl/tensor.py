"""Tensor: an array (NumPy or CuPy) with an optional gradient and the op that produced it.

Names and semantics follow PyTorch: ``requires_grad``, ``grad``, ``grad_fn``, ``is_leaf``,
``backward()``, ``dim``/``keepdim`` reductions, ``reshape``/``permute``/``expand`` and so on.
Every differentiable method forwards to ``minidl.functional``, where the op and its
equations live.
"""

from __future__ import annotations

import numbers

import numpy

from . import backend
from .backend import CPU, Device

float16 = numpy.dtype("float16")
float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")
int8 = numpy.dtype("int8")
int16 = numpy.dtype("int16")
int32 = numpy.dtype("int32")
int64 = numpy.dtype("int64")
uint8 = numpy.dtype("uint8")
bool_ = numpy.dtype("bool")

_default_dtype = [float32]


def get_default_dtype():
    """The dtype that Python floats and ``rand``/``zeros``/... produce (float32 unless changed)."""
    return _default_dtype[0]


def set_default_dtype(dtype):
    """Change the default floating dtype (float32 or float64), as ``torch.set_default_dtype``."""
    dtype = numpy.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {dtype}")
    _default_dtype[0] = dtype


def _check_grad_dtype(dtype, where):
    if dtype.kind not in "fc":
        raise RuntimeError(
            f"{where}: only floating point tensors can require gradients, got dtype {dtype} "
            "(labels, indices and masks are integer or bool tensors without gradients)"
        )


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    ``data`` is the underlying NumPy (device "cpu") or CuPy (device "cuda") array. A leaf
    created by the user with ``requires_grad=True`` accumulates gradients in ``grad`` when
    ``backward()`` is called on something computed from it.
    """

    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "_version", "__weakref__")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operators
    __array_priority__ = 1000

    def __init__(self, data, dtype=None, requires_grad=False, device=None):
        t = tensor(data, dtype=dtype, requires_grad=requires_grad, device=device)
        self.data, self.grad, self.requires_grad, self.grad_fn = t.data, None, t.requires_grad, None
        self._version = [0]

    @classmethod
    def _make(cls, data, requires_grad=False):
        """Wrap an array without copying or checking (the fast path ops use)."""
        t = object.__new__(cls)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t.grad_fn = None
        t._version = [0]
        return t

    # ---- attributes ------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> Device:
        return CPU if isinstance(self.data, numpy.ndarray) else backend.device_of(self.data)

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
        return int(self.data.size)

    def element_size(self):
        return self.data.itemsize

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
        return self.data

    def __array__(self, dtype=None, copy=None):
        if self.device.type != "cpu":
            raise TypeError(
                f"can't convert a {self.device} tensor to a NumPy array implicitly; use .cpu() or .numpy()"
            )
        a = self.data
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item(): only a tensor with one element can be converted, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return backend.as_numpy(self.data).tolist()

    def __float__(self):
        return builtins_float(self.item())

    def __int__(self):
        return builtins_int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError(f"only integer tensors of a single element can be used as an index, got {self.dtype}")
        return builtins_int(self.item())

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
            backend.as_numpy(self.data), separator=", ", prefix="tensor(", precision=4, threshold=200
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
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) · gradient into the ``grad`` of every leaf that requires it."""
        autograd.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    def detach(self):
        """The same data, cut from the graph (shares memory and version counter)."""
        t = Tensor._make(self.data, False)
        t._version = self._version
        return t

    def detach_(self):
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad=True):
        if requires_grad:
            _check_grad_dtype(self.dtype, "requires_grad_")
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

    def clone(self):
        return F.clone(self)

    def is_contiguous(self):
        """True when the elements lie in memory in row-major order without gaps."""
        return bool(self.data.flags.c_contiguous)

    def contiguous(self):
        """This tensor if it is contiguous, otherwise a contiguous copy (as in PyTorch)."""
        return self if self.is_contiguous() else F.clone(self)

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
        if dtype is not None and numpy.dtype(dtype) != self.dtype:
            out = F.cast(out, numpy.dtype(dtype))
        if device is not None and Device(device) != self.device:
            out = F.to_device(out, Device(device))
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

    # ---- in-place updates (only where no graph is being recorded through them) -------
    def _check_inplace(self, op):
        from .autograd import is_grad_enabled

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
        repeated = any(st == 0 and n > 1 for st, n in zip(self.data.strides, self.shape))
        if repeated or not getattr(self.data.flags, "writeable", True):
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
        result = F.result_type(self, other)
        if true_division and result.kind in "biu":
            result = get_default_dtype()
        rank = {"b": 0, "i": 1, "u": 1, "f": 2, "c": 3}
        if rank[result.kind] > rank[self.dtype.kind]:
            raise RuntimeError(
                f"{op}: result type {result} can't be cast to the desired output type {self.dtype} "
                f"(in-place op on a tensor of shape {self.shape})"
            )
        if op in ("-=", "sub_") and "b" in (self.dtype.kind, F.result_type(other).kind):
            raise RuntimeError(f"{op}: subtraction with a bool tensor is not supported (this tensor: {self.dtype}, "
                               f"shape {self.shape}; the operand: {F.result_type(other)}); use ~ or logical_not")

    def _bump(self):
        self._version[0] += 1
        return self

    def _operand(self, other):
        if isinstance(other, Tensor):
            if other.device != self.device:
                raise RuntimeError(f"in-place op: tensors on different devices, {self.device} and {other.device}")
            # computed in this tensor's dtype (the checks above allow only a cast within a category)
            return other.data if other.dtype == self.dtype else other.data.astype(self.dtype)
        return other

    def __iadd__(self, other):
        self._check_inplace("+=")
        self._check_writable("+=")
        self._check_result_dtype("+=", other)
        self.data += self._operand(other)
        return self._bump()

    def __isub__(self, other):
        self._check_inplace("-=")
        self._check_writable("-=")
        self._check_result_dtype("-=", other)
        self.data -= self._operand(other)
        return self._bump()

    def __imul__(self, other):
        self._check_inplace("*=")
        self._check_writable("*=")
        self._check_result_dtype("*=", other)
        self.data *= self._operand(other)
        return self._bump()

    def __itruediv__(self, other):
        self._check_inplace("/=")
        self._check_writable("/=")
        self._check_result_dtype("/=", other, true_division=True)
        self.data /= self._operand(other)
        return self._bump()

    def add_(self, other, alpha=1):
        self._check_inplace("add_")
        self._check_writable("add_")
        self._check_result_dtype("add_" if alpha > 0 else "sub_", other)
        if self.dtype.kind in "biu" and not isinstance(alpha, numbers.Integral):
            raise RuntimeError(f"add_: for integer tensors alpha must be an integer, got {alpha!r}")
        o = self._operand(other)
        self.data += o if alpha == 1 else alpha * o
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
        self.data[...] = 0
        return self._bump()

    def fill_(self, value):
        self._check_inplace("fill_")
        self._check_writable("fill_")
        self.data[...] = value.item() if isinstance(value, Tensor) else value
        return self._bump()

    def copy_(self, src):
        """Copy ``src``'s values into this tensor (broadcasting ``src``; any device or dtype)."""
        self._check_inplace("copy_")
        self._check_writable("copy_")
        src_data = src.data if isinstance(src, Tensor) else src
        if backend.device_of(src_data) != self.device if hasattr(src_data, "shape") else False:
            src_data = backend.to_device(src_data, self.device)
        shape = tuple(src_data.shape) if hasattr(src_data, "shape") else numpy.shape(src_data)  # host metadata
        self._check_fits("copy_", shape)
        self.data[...] = src_data
        return self._bump()

    def uniform_(self, a=0.0, b=1.0):
        self._check_inplace("uniform_")
        self._check_writable("uniform_")
        rng = backend.rng_for(self.device)
        self.data[...] = rng.uniform(a, b, size=self.shape)
        return self._bump()

    def normal_(self, mean=0.0, std=1.0):
        self._check_inplace("normal_")
        self._check_writable("normal_")
        rng = backend.rng_for(self.device)
        self.data[...] = rng.normal(mean, std, size=self.shape)
        return self._bump()

    def __setitem__(self, index, value):
        self._check_inplace("__setitem__")
        self._check_writable("__setitem__")
        try:
            self.data[_index_arrays(index)] = self._operand(value)
        except (ValueError, IndexError) as exc:
            shape = tuple(getattr(value, "shape", ()))
            raise type(exc)(f"__setitem__: {exc} (tensor of shape {self.shape}, value of shape {shape})") from None
        self._bump()

    # ---- arithmetic ------------------------------------------------------------------
    def __add__(self, other):
        return F.add(self, other)

    def __radd__(self, other):
        return F.add(other, self)

    def __sub__(self, other):
        return F.sub(self, other)

    def __rsub__(self, other):
        return F.sub(other, self)

    def __mul__(self, other):
        return F.mul(self, other)

    def __rmul__(self, other):
        return F.mul(other, self)

    def __truediv__(self, other):
        return F.div(self, other)

    def __rtruediv__(self, other):
        return F.div(other, self)

    def __floordiv__(self, other):
        return F.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return F.floor_divide(other, self)

    def __mod__(self, other):
        return F.remainder(self, other)

    def __rmod__(self, other):
        return F.remainder(other, self)

    def __pow__(self, other):
        return F.pow(self, other)

    def __rpow__(self, other):
        return F.pow(other, self)

    def __neg__(self):
        return F.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return F.abs(self)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(other, self)

    def __getitem__(self, index):
        return F.getitem(self, index)

    # comparisons give bool tensors and no gradient
    def __eq__(self, other):
        return F.eq(self, other)

    def __ne__(self, other):
        return F.ne(self, other)

    def __lt__(self, other):
        return F.lt(self, other)

    def __le__(self, other):
        return F.le(self, other)

    def __gt__(self, other):
        return F.gt(self, other)

    def __ge__(self, other):
        return F.ge(self, other)

    def __invert__(self):
        return F.logical_not(self)

    def __and__(self, other):
        return F.logical_and(self, other)

    def __or__(self, other):
        return F.logical_or(self, other)

    def add(self, other, alpha=1):
        return F.add(self, other if alpha == 1 else F.mul(other, alpha))

    def sub(self, other, alpha=1):
        return F.sub(self, other if alpha == 1 else F.mul(other, alpha))

    def mul(self, other):
        return F.mul(self, other)

    def div(self, other):
        return F.div(self, other)

    def pow(self, other):
        return F.pow(self, other)

    def matmul(self, other):
        return F.matmul(self, other)

    def eq(self, other):
        return F.eq(self, other)

    # ---- elementwise -----------------------------------------------------------------
    def exp(self):
        return F.exp(self)

    def log(self):
        return F.log(self)

    def sqrt(self):
        return F.sqrt(self)

    def abs(self):
        return F.abs(self)

    def sin(self):
        return F.sin(self)

    def cos(self):
        return F.cos(self)

    def tanh(self):
        return F.tanh(self)

    def sigmoid(self):
        return F.sigmoid(self)

    def relu(self):
        return F.relu(self)

    def maximum(self, other):
        return F.maximum(self, other)

    def minimum(self, other):
        return F.minimum(self, other)

    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's names
        return F.clamp(self, min, max)

    clip = clamp

    def where(self, condition, other):
        return F.where(condition, self, other)

    def masked_fill(self, mask, value):
        return F.masked_fill(self, mask, value)

    # ---- reductions ------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False):
        return F.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return F.mean(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return F.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return F.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        return F.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return F.amin(self, dim, keepdim)

    def var(self, dim=None, keepdim=False, correction=1, unbiased=None):
        return F.var(self, dim, keepdim, correction=correction, unbiased=unbiased)

    def std(self, dim=None, keepdim=False, correction=1, unbiased=None):
        return F.std(self, dim, keepdim, correction=correction, unbiased=unbiased)

    def logsumexp(self, dim, keepdim=False):
        return F.logsumexp(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return F.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return F.argmin(self, dim, keepdim)

    def softmax(self, dim):
        from .functional import activation

        return activation.softmax(self, dim)

    def log_softmax(self, dim):
        from .functional import activation

        return activation.log_softmax(self, dim)

    # ---- shape -----------------------------------------------------------------------
    def reshape(self, *shape):
        return F.reshape(self, _shape_args(shape))

    def view(self, *shape):
        return F.view(self, _shape_args(shape))

    def view_as(self, other):
        return F.reshape(self, other.shape)

    def transpose(self, dim0, dim1):
        return F.transpose(self, dim0, dim1)

    def t(self):
        """The transpose of a tensor of at most 2 dims (as ``torch.Tensor.t``)."""
        if self.ndim > 2:
            raise RuntimeError(f"t(): expects a tensor with <= 2 dimensions, got shape {self.shape}; use transpose")
        return self if self.ndim < 2 else F.transpose(self, 0, 1)

    def narrow(self, dim, start, length):
        return F.narrow(self, dim, start, length)

    def select(self, dim, index):
        return F.select(self, dim, index)

    def permute(self, *dims):
        return F.permute(self, _shape_args(dims))

    def flatten(self, start_dim=0, end_dim=-1):
        return F.flatten(self, start_dim, end_dim)

    def squeeze(self, dim=None):
        return F.squeeze(self, dim)

    def unsqueeze(self, dim):
        return F.unsqueeze(self, dim)

    def expand(self, *shape):
        return F.expand(self, _shape_args(shape))

    def expand_as(self, other):
        return F.expand(self, other.shape)

    def broadcast_to(self, shape):
        return F.broadcast_to(self, shape)

    def split(self, split_size_or_sections, dim=0):
        return F.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        return F.chunk(self, chunks, dim)

    def repeat(self, *sizes):
        return F.repeat(self, _shape_args(sizes))


def _shape_args(args):
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _index_arrays(index):
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


import builtins  # noqa: E402

builtins_float, builtins_int = builtins.float, builtins.int


# ---- creation ----------------------------------------------------------------------------
def _resolve_dtype(dtype, floating_default=True):
    if dtype is None:
        return get_default_dtype() if floating_default else None
    return numpy.dtype(dtype)


def _place(array, device, requires_grad, where):
    if device is not None:
        device = Device(device)
        if device.type != "cpu":
            array = backend.to_device(array, device)
    if requires_grad:
        _check_grad_dtype(array.dtype, where)
    return Tensor._make(array, bool(requires_grad))


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new leaf tensor holding a copy of ``data`` (PyTorch's dtype rules: Python floats ->
    float32, Python ints -> int64, bools -> bool; arrays keep their dtype)."""
    if isinstance(data, Tensor):
        array = data.data.copy()
        if device is None:
            device = data.device
    elif backend.is_device_array(data):
        array = data.copy()
    elif isinstance(data, numpy.ndarray) or isinstance(data, numpy.generic):
        array = numpy.array(data)
    else:
        array = numpy.array(data)
        if dtype is not None and array.dtype.kind in "biuf":
            pass  # converted to the requested dtype below, without a detour through float32
        elif array.dtype == numpy.float64:
            array = array.astype(get_default_dtype())
        elif array.dtype.kind in "iu":
            array = array.astype(int64)
        elif array.dtype.kind not in "fb":
            raise TypeError(f"tensor(): can't make a tensor from {type(data).__name__} (dtype {array.dtype})")
    if dtype is not None:
        array = array.astype(numpy.dtype(dtype), copy=False)
    return _place(array, device, requires_grad, "tensor")


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with ``data`` when it already is a suitable array."""
    if isinstance(data, Tensor):
        return data.to(*(a for a in (device, dtype) if a is not None))
    if isinstance(data, numpy.ndarray) and (dtype is None or numpy.dtype(dtype) == data.dtype):
        return _place(data, device, False, "as_tensor")
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor that shares memory with the NumPy ``array`` (dtype kept)."""
    if not isinstance(array, numpy.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._make(array, False)


def _xp_for(device):
    return backend.array_module_for(Device(device) if device is not None else CPU)


def _fill(shape, value, dtype, device, requires_grad, where):
    shape = _shape_args(shape)
    xp = _xp_for(device)
    dev = Device(device) if device is not None else CPU
    if dev.type == "cuda":
        with xp.cuda.Device(dev.index):
            array = xp.full(shape, value, dtype=_resolve_dtype(dtype))
    else:
        array = xp.full(shape, value, dtype=_resolve_dtype(dtype))
    if requires_grad:
        _check_grad_dtype(array.dtype, where)
    return Tensor._make(array, bool(requires_grad))


def zeros(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return _fill(size, 0, dtype, device, requires_grad, "zeros")


def ones(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of ones."""
    return _fill(size, 1, dtype, device, requires_grad, "ones")


def empty(*size, dtype=None, device=None, requires_grad=False):
    """A new tensor (zero-filled here, as values are unspecified in PyTorch)."""
    return _fill(size, 0, dtype, device, requires_grad, "empty")


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor filled with ``fill_value`` (dtype from the value when not given)."""
    if dtype is None and isinstance(fill_value, (bool, numpy.bool_)):
        dtype = bool_
    elif dtype is None and isinstance(fill_value, numbers.Integral):
        dtype = int64
    return _fill(size, fill_value, dtype, device, requires_grad, "full")


def _like(t, value, dtype, device, requires_grad, where):
    return _fill(t.shape, value, dtype or t.dtype, device or t.device, requires_grad, where)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    """Zeros with the shape (and by default dtype and device) of ``t``."""
    return _like(t, 0, dtype, device, requires_grad, "zeros_like")


def ones_like(t, dtype=None, device=None, requires_grad=False):
    """Ones with the shape, dtype and device of ``t``."""
    return _like(t, 1, dtype, device, requires_grad, "ones_like")


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    """``fill_value`` with the shape, dtype and device of ``t``."""
    return _like(t, fill_value, dtype, device, requires_grad, "full_like")


def empty_like(t, dtype=None, device=None, requires_grad=False):
    """A new tensor with the shape, dtype and device of ``t``."""
    return _like(t, 0, dtype, device, requires_grad, "empty_like")


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` up to (not including) ``end``; int64 unless an argument is a float."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = int64 if is_int else get_default_dtype()
    array = numpy.arange(start, end, step, dtype=numpy.dtype(dtype))
    return _place(array, device, requires_grad, "arange")


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    array = numpy.linspace(start, end, steps, dtype=_resolve_dtype(dtype))
    return _place(array, device, requires_grad, "linspace")


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The n×m identity matrix."""
    return _place(numpy.eye(n, m, dtype=_resolve_dtype(dtype)), device, requires_grad, "eye")


def _random(draw, size, dtype, device, requires_grad, where):
    dev = Device(device) if device is not None else CPU
    shape = _shape_args(size)
    array = draw(backend.rng_for(dev), shape).astype(_resolve_dtype(dtype), copy=False)
    if requires_grad:
        _check_grad_dtype(array.dtype, where)
    return Tensor._make(array, bool(requires_grad))


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1)."""
    return _random(lambda g, s: g.random(s), size, dtype, device, requires_grad, "rand")


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal samples."""
    return _random(lambda g, s: g.standard_normal(s), size, dtype, device, requires_grad, "randn")


def randint(low, high=None, size=None, dtype=None, device=None):
    """Integers uniformly drawn from [low, high): ``randint(high, size)`` or ``randint(low, high, size)``."""
    if size is None:
        if high is None:
            raise TypeError("randint: size is required")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    return _random(lambda g, s: g.integers(low, high, size=s), size, dtype or int64, device, False, "randint")


def randperm(n, device=None):
    """A random permutation of 0..n-1 (int64)."""
    return _random(lambda g, s: g.permutation(n), (n,), int64, device, False, "randperm")


def manual_seed(seed: int):
    """Seed every random generator minidl uses, so that runs repeat exactly."""
    backend.manual_seed(seed)


from . import autograd  # noqa: E402
from . import functional as F  # noqa: E402
