"""Hyperbolic functions: sinh x = (eˣ − e⁻ˣ)/2, cosh x = (eˣ + e⁻ˣ)/2, each the other's derivative.

x, y, dy: the same shape. Integer inputs give the default float dtype, as in PyTorch.
Notebook: notebooks/01_autograd.ipynb, section 2 ("A `Function`, forward and backward"), where
an op is its forward and the backward derived from it.
"""

from __future__ import annotations

from ..autograd import Function
from ..dtypes import get_default_dtype
from .shape import cast


class Sinh(Function):
    """y = sinh x        dL/dx = dy · cosh x"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.sinh(x)

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * cosh(x)


class Cosh(Function):
    """y = cosh x        dL/dx = dy · sinh x"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.cosh(x)

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * sinh(x)


def _floating(x):
    return x if x.dtype.kind in "fc" else cast(x, get_default_dtype())


def sinh(x):
    """sinh x elementwise (see ``Sinh``)."""
    return Sinh.apply(_floating(x))


def cosh(x):
    """cosh x elementwise (see ``Cosh``)."""
    return Cosh.apply(_floating(x))
