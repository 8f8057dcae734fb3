"""dtypes: the names minidl gives them (PyTorch's: ``float32``, ``int64``, ``bool_`` ...), the
default floating dtype that Python floats and ``rand``/``zeros``/... produce, and the dtype rules
on host metadata: PyTorch's type promotion, NumPy scalars seen as Python numbers, and the
floating-point error state of NumPy kernels.

PyTorch and NumPy promote differently (int64 with float16 is float16 in PyTorch, float64 in
NumPy; a 0-d tensor never widens a tensor with dims of the same category), so the elementwise
ops convert their operands to ``result_type`` before they run, and the arrays then agree.
"""

from __future__ import annotations

import contextlib
import math
import numbers

import numpy

float16 = numpy.dtype("float16")
float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")
int8 = numpy.dtype("int8")
int16 = numpy.dtype("int16")
int32 = numpy.dtype("int32")
int64 = numpy.dtype("int64")
uint8 = numpy.dtype("uint8")
bool_ = numpy.dtype("bool")
uint16 = numpy.dtype("uint16")
uint32 = numpy.dtype("uint32")
uint64 = numpy.dtype("uint64")
complex64 = numpy.dtype("complex64")
complex128 = numpy.dtype("complex128")


class UnsupportedDtype:
    """A PyTorch dtype that NumPy cannot hold (bfloat16, the float8 formats): naming it works
    (``x.dtype == minidl.bfloat16`` is False), using it to make or convert a tensor raises."""

    def __init__(self, name, hint):
        self.name, self.hint = name, hint
        self.is_floating_point = True

    @property
    def dtype(self):  # what NumPy reads when it is given this object as a dtype
        raise TypeError(f"{self.name}: NumPy has no {self.name} dtype, so minidl tensors cannot hold it; {self.hint}")

    def __repr__(self):
        return f"minidl.{self.name}"


bfloat16 = UnsupportedDtype("bfloat16", "use float32, or float16 for half the memory")
float8_e4m3fn = UnsupportedDtype("float8_e4m3fn", "use float16 or float32")
float8_e5m2 = UnsupportedDtype("float8_e5m2", "use float16 or float32")


def finfo(dtype=None):
    """Machine limits of a floating dtype (``eps``, ``max``, ``tiny``...); the default dtype's by default."""
    return numpy.finfo(resolve_dtype(dtype))


def iinfo(dtype):
    """Limits of an integer dtype (``min``, ``max``, ``bits``)."""
    return numpy.iinfo(numpy.dtype(dtype))

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


def check_grad_dtype(dtype, where):
    """Raise unless ``dtype`` can carry gradients (floating or complex); ``where`` names the caller."""
    if dtype.kind not in "fc":
        raise RuntimeError(
            f"{where}: only floating point tensors can require gradients, got dtype {dtype} "
            "(labels, indices and masks are integer or bool tensors without gradients)"
        )


def resolve_dtype(dtype, floating_default=True):
    """``dtype`` as a NumPy dtype; ``None`` is the default floating dtype (or stays None)."""
    if dtype is None:
        return get_default_dtype() if floating_default else None
    return numpy.dtype(dtype)


def is_bool_scalar(x):
    """A Python or NumPy bool."""
    return isinstance(x, (bool, numpy.bool_))


def is_number(x):
    """A Python or NumPy number (not an array, not a Tensor)."""
    return isinstance(x, (numbers.Number, numpy.generic))


def scalar_for(x, dtype):
    """A Python or NumPy number as the Python number an op of ``dtype`` uses: NumPy scalars act as
    the numbers they hold (PyTorch treats them alike), and an integer outside the range of an
    integer ``dtype`` wraps around as in PyTorch (uint8 with -2 is 254), where NumPy would raise."""
    x = x.item() if isinstance(x, numpy.generic) else x
    if isinstance(x, int) and not isinstance(x, bool) and dtype.kind in "iu":
        if not -(2**63) <= x < 2**64:
            raise OverflowError(f"the integer {x} is too big to convert to a tensor of any integer dtype")
        info = numpy.iinfo(dtype)
        if not info.min <= x <= info.max:
            span = int(info.max) - int(info.min) + 1
            x = (x - int(info.min)) % span + int(info.min)
    return x


def kind_of(x):
    """The dtype kind of a Tensor, array or number: 'b', 'i', 'u' or 'f'."""
    return operand_dtype(x)[1].kind


@contextlib.contextmanager
def float_errors_ignored():
    """NumPy warns where IEEE arithmetic gives inf or NaN (x / 0, x % 0); PyTorch returns them
    silently. CuPy never warns, so this only concerns host arrays."""
    with numpy.errstate(divide="ignore", invalid="ignore"):
        yield


def _category(dtype):
    """0 bool, 1 integer, 2 floating."""
    return 0 if dtype.kind == "b" else 1 if dtype.kind in "iu" else 2


def promote_types(type1, type2):
    """The smallest dtype both convert to, as ``torch.promote_types``: within a category
    NumPy's lattice (uint8 with int8 is int16); across categories the higher one's dtype
    (int64 with float16 is float16, where NumPy would say float64)."""
    type1, type2 = numpy.dtype(type1), numpy.dtype(type2)
    c1, c2 = _category(type1), _category(type2)
    if c1 != c2:
        return type1 if c1 > c2 else type2
    return numpy.promote_types(type1, type2)


def operand_dtype(x):
    """(priority, dtype) of an operand: 2 a tensor or array with dims, 1 a 0-d one, 0 a Python
    or NumPy scalar ("wrapped number": bool, int64, or the default float dtype)."""
    if hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, numpy.generic):
        return (2 if len(x.shape) else 1), numpy.dtype(x.dtype)  # a Tensor, or an array of any backend
    if isinstance(x, (bool, numpy.bool_)):
        return 0, numpy.dtype(bool)
    if isinstance(x, (numbers.Integral, numpy.integer)):
        return 0, numpy.dtype("int64")
    if isinstance(x, (numbers.Real, numpy.floating)):
        return 0, get_default_dtype()
    raise TypeError(f"unsupported operand of type {type(x).__name__} (expected a Tensor or a number)")


def _combine(higher, lower):
    """PyTorch's rule: a lower-priority operand changes the result only when it is of a higher
    category (a float scalar makes an int tensor float; an int scalar never widens an int8 tensor)."""
    if higher is None or lower is None:
        return lower if higher is None else higher
    if _category(higher) == 2:
        return higher
    if _category(higher) == 0 or _category(lower) == 2:
        return promote_types(higher, lower)
    return higher


def result_type(*operands):
    """The dtype an elementwise op of ``operands`` (Tensors, arrays, Python or NumPy numbers)
    computes in, as ``torch.result_type``: tensors with dims decide within a category, 0-d
    tensors and then numbers only raise the category."""
    best = [None, None, None]  # by priority: numbers, 0-d, with dims
    for x in operands:
        priority, dtype = operand_dtype(x)
        best[priority] = dtype if best[priority] is None else promote_types(best[priority], dtype)
    return _combine(best[2], _combine(best[1], best[0]))


# ---- Python data (lists of numbers) turned into arrays, as torch.tensor does ------------------
def python_numbers(data):
    """The numbers of nested lists and tuples, in row-major order."""
    stack = [data]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(reversed(v))
        else:
            yield v


def is_numbers(data):
    """Whether nested Python data holds only ints and floats (bools count as ints)."""
    return all(isinstance(v, (int, float)) for v in python_numbers(data))


def has_float(data):
    """Whether nested Python data holds a float (then PyTorch infers a floating dtype)."""
    return any(isinstance(v, float) for v in python_numbers(data))


def has_huge_int(data):
    """Whether nested Python data holds an int outside int64 (NumPy would make it float or object)."""
    return any(isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63
               for v in python_numbers(data))


def short_repr(data):
    """``repr(data)``, cut to fit an error message."""
    text = repr(data)
    return text if len(text) < 60 else text[:57] + "..."


def exact_integers(data, array, dtype):
    """Python numbers as an array of the integer ``dtype``, each converted exactly (as PyTorch: no
    detour through float64, which rounds 2**63 - 1 up); a value the dtype cannot hold raises
    ("value cannot be converted to type uint8 without overflow"). A negative integer wraps into
    an unsigned dtype (-1 as uint8 is 255); NaN and inf have no integer value."""
    info = numpy.iinfo(dtype)
    for v in python_numbers(data):
        low = -int(info.max) if dtype.kind == "u" and not isinstance(v, float) else int(info.min)
        if v != v or v in (math.inf, -math.inf) or not low <= v <= int(info.max):
            raise RuntimeError(f"tensor(): the value {v!r} in {short_repr(data)} cannot be converted to {dtype} "
                               f"without overflow (range {low}..{info.max})")
    if array.dtype.kind == "f":  # floats beside ints: truncate each Python number on its own
        array = numpy.array([int(v) for v in python_numbers(data)], dtype=object).reshape(array.shape)
    return array
