"""Type promotion of the elementwise ops: PyTorch's rules (``minidl.dtypes.result_type``), not
NumPy's. Each binary op converts both operands to their result type before it runs."""

from __future__ import annotations

from ..dtypes import get_default_dtype, is_number, operand_dtype, result_type, scalar_for
from ..tensor import Tensor


def promote(a, b, true_division=False):
    """Both operands converted to their ``result_type`` (true division of integers or bools gives
    the default float dtype). Numbers stay Python numbers: NumPy keeps them weak."""
    if _already_promoted(a, b) or _already_promoted(b, a):
        return a, b  # the common case, without the general rule's cost
    dtype = result_type(a, b)
    if true_division and dtype.kind in "biu":
        dtype = get_default_dtype()
    return convert_operand(a, dtype), convert_operand(b, dtype)


def _already_promoted(x, other):
    """x is a floating tensor, and ``other`` a tensor of its dtype, a Python int or float, or a
    bool array (a mask such as ReLU's: the ufunc reads it as 0/1 in x's dtype, without the
    converted copy that ``astype`` would make)."""
    if not isinstance(x, Tensor) or x.dtype.kind != "f":
        return False
    if isinstance(other, Tensor):
        return other.dtype == x.dtype
    return type(other) in (int, float) or getattr(getattr(other, "dtype", None), "kind", None) == "b"


def convert_operand(x, dtype):
    """``x`` (Tensor, number or array) in ``dtype``; numbers stay Python numbers."""
    if isinstance(x, Tensor):
        return x if x.dtype == dtype else x.to(dtype)
    if is_number(x):
        return scalar_for(x, dtype)
    if hasattr(x, "astype"):
        return x.astype(dtype, copy=False)
    return x


def describe_operand(x):
    """An operand in words, for error messages."""
    if isinstance(x, Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}"


def refuse_bools(op, a, b, what):
    """A ``TypeError`` naming ``op`` when ``a`` or ``b`` is bool (``what``: the operation in words)."""
    for x in (a, b):
        if operand_dtype(x)[1].kind == "b":
            raise TypeError(f"{op}: {what} with a bool operand is not supported"
                            + (" (use ~ or logical_not to invert a mask)" if op == "sub" else ""))


def refuse_bool_result(op, a, b):
    """A ``TypeError`` naming ``op`` when ``a`` and ``b`` promote to bool (pow, //, % of bools)."""
    if result_type(a, b).kind == "b":
        raise TypeError(f"{op}: not supported for bool operands ({describe_operand(a)} and {describe_operand(b)})")
