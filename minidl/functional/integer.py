"""PyTorch's integer arithmetic: floor division and remainder with Python's signs (rounded towards
−∞), integer division by zero as an error, and integer powers. Shapes broadcast as in NumPy.
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from ..dtypes import float_errors_ignored, is_bool_scalar, is_number, kind_of, result_type
from ..tensor import Tensor
from ._common import as_tensor_like
from .promotion import promote, refuse_bool_result


class FloorDivide(Function):
    """y = ⌊a / b⌋ (rounded towards −∞, as Python's //)        not differentiable (as in PyTorch)

    a, b, y: broadcast shapes. Notebook: not used in the notebooks."""

    def forward(ctx, a, b):
        _check_integer_divisor(ctx.xp, a, b, "floor_divide")
        with float_errors_ignored():  # x // 0 is ±inf or NaN, silently
            return ctx.xp.floor_divide(a, b)

    def backward(ctx, dy):
        raise RuntimeError("floor_divide: the derivative of floor_divide is not implemented (it is 0 almost "
                           "everywhere); use torch-style a / b, or detach the operands")


class Remainder(Function):
    """y = a − ⌊a / b⌋ · b (the sign of b, as Python's %)        dL/da = dy,  dL/db = −⌊a / b⌋ · dy

    a, b, y, dy: broadcast shapes (the base class sums each gradient back). ⌊a / b⌋ is piecewise
    constant, so the second derivatives are 0. Notebook: not used in the notebooks."""

    def forward(ctx, a, b):
        _check_integer_divisor(ctx.xp, a, b, "remainder")
        with float_errors_ignored():  # x % 0 is NaN, silently
            ctx.quotient = ctx.xp.floor_divide(a, b)
            return ctx.xp.remainder(a, b)

    def backward(ctx, dy):
        q = ctx.quotient
        return dy, -(dy * Tensor._make(q.astype(dy.dtype, copy=False), False))


def _check_integer_divisor(xp, a, b, op):
    if kind_of(a) in "biu" and kind_of(b) in "biu":
        if bool((xp.asarray(b) == 0).any()):
            raise ZeroDivisionError(f"{op}: integer division by zero (divisor of shape {tuple(xp.shape(b))})")


def floor_divide(a, b):
    """⌊a / b⌋ elementwise with broadcasting (Python's //: rounded towards −∞); integer division
    by zero raises ``ZeroDivisionError`` as in PyTorch."""
    refuse_bool_result("floor_divide", a, b)
    return FloorDivide.apply(*promote(a, b))


def remainder(a, b):
    """a mod b elementwise with broadcasting, with the sign of b (Python's %, ``torch.remainder``)."""
    refuse_bool_result("remainder", a, b)
    return Remainder.apply(*promote(a, b))


def integer_pow(a, b):
    """Integer powers, PyTorch's way: a negative Python exponent raises; negative exponents inside
    a tensor give the integer part of a^b (1 for a = 1, ±1 for a = −1, 0 otherwise), where NumPy
    would raise. No gradient: the result is an integer tensor."""
    if is_number(b) and not is_bool_scalar(b) and b < 0:
        raise ValueError(f"pow: integers to negative integer powers are not allowed (exponent {b})")
    a, b = promote(a, b)
    a_t = a if isinstance(a, Tensor) else as_tensor_like(a, b)
    ad, bd = a_t.array, b.array if isinstance(b, Tensor) else b
    xp = get_array_module(ad)
    negative = bd < 0
    y = ad ** xp.where(negative, 0, bd) if isinstance(b, Tensor) else ad**bd
    if isinstance(b, Tensor):
        odd = (bd % 2) != 0
        y = xp.where(negative, xp.where(ad == 1, 1, xp.where(ad == -1, xp.where(odd, -1, 1), 0)), y)
    return Tensor._make(xp.asarray(y).astype(result_type(a, b), copy=False), False)
