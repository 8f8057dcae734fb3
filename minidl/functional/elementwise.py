"""Elementwise primitives. In every formula ``dy`` is dL/dy, the gradient of the output.

Shapes: a unary op keeps its input's shape (x, y, dy, dL/dx alike); a binary op broadcasts a and
b to y's shape as in NumPy, and the base class sums each gradient back to its input's shape.
Each backward is written with Tensor operations, so it can be differentiated again.

Notebook: notebooks/01_autograd.ipynb, section 1 ("A computational graph": z = xW + b, tanh, a
squared error), section 2 ("A `Function`, forward and backward"), section 3 ("Broadcasting, and
why its gradient is a sum") and section 5 ("Derivatives of derivatives", tanh differentiated
four times).
"""

from __future__ import annotations

from ..autograd import Function
from ..dtypes import (
    is_bool_scalar,
    result_type,
)
from ..tensor import Tensor
from ._common import as_tensor_like, broadcast_shapes
from .comparison import eq, ge, gt, isnan, le, logical_and, logical_not, logical_or, lt, ne, sign  # noqa: F401
from .integer import floor_divide, integer_pow, remainder  # noqa: F401 - part of this module's ops
from .promotion import promote, refuse_bool_result, refuse_bools


class Add(Function):
    """y = a + b        dL/da = dy,  dL/db = dy"""

    def forward(ctx, a, b):
        return a + b

    def backward(ctx, dy):
        return dy, dy


class Sub(Function):
    """y = a − b        dL/da = dy,  dL/db = −dy"""

    def forward(ctx, a, b):
        return a - b

    def backward(ctx, dy):
        return dy, (-dy if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """y = a · b        dL/da = dy · b,  dL/db = dy · a"""

    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    def backward(ctx, dy):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (dy * b if need_a else None), (dy * a if need_b else None)


class Div(Function):
    """y = a / b        dL/da = dy / b,  dL/db = −dy · a / b²"""

    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    def backward(ctx, dy):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (dy / b if need_a else None), (-(dy * a) / (b * b) if need_b else None)


class Neg(Function):
    """y = −x        dL/dx = −dy"""

    def forward(ctx, x):
        return -x

    def backward(ctx, dy):
        return -dy


class PowScalar(Function):
    """y = x^c (c a Python number)        dL/dx = dy · c · x^(c−1)   (0 for c = 0, even at x = 0)"""

    def forward(ctx, x, c):
        ctx.save_for_backward(x)
        ctx.c = c
        return x**c

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        c = ctx.c
        if c == 0:
            return dy * 0, None  # x⁰ = 1 is constant: PyTorch's zero, not 0 · 0⁻¹ = NaN at x = 0
        if c == 2:
            return dy * (2 * x), None
        return dy * (c * x ** (c - 1)), None


class Pow(Function):
    """y = a^b        dL/da = dy · b · a^(b−1)   (0 where b = 0, also at a = 0)
    dL/db = dy · y · ln a   (0 where a = 0 and b ≥ 0, the limit PyTorch takes)"""

    def forward(ctx, a, b):
        y = a**b
        ctx.save_for_backward(a, b, y)
        return y

    def backward(ctx, dy):
        a, b, y = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        da = db = None
        if need_a:
            both_zero = _const((b.array == 0) & (a.array == 0))
            da = dy * b * a ** (where(both_zero, 1.0, b) - 1)  # a = b = 0: 0 · 0⁰ = 0, not 0 · 0⁻¹ = NaN
        if need_b:
            limit = _const((a.array == 0) & (b.array >= 0))  # y · ln a → 0 there
            db = dy * where(limit, 0.0, y * log(where(limit, 1.0, a)))
        return da, db


def _const(array):
    """A constant Tensor (no gradient) around ``array``."""
    return Tensor._make(array, False)


class Exp(Function):
    """y = eˣ        dL/dx = dy · y"""

    def forward(ctx, x):
        y = ctx.xp.exp(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        return dy * y


class Log(Function):
    """y = ln x        dL/dx = dy / x"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.log(x)

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy / x


class Sqrt(Function):
    """y = √x        dL/dx = dy / (2y)"""

    def forward(ctx, x):
        y = ctx.xp.sqrt(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        return dy / (2 * y)


class Abs(Function):
    """y = |x|        dL/dx = dy · sign(x)   (0 at x = 0 and at NaN, as in PyTorch)"""

    def forward(ctx, x):
        ctx.sign = ctx.xp.where(x != x, 0, ctx.xp.sign(x))
        return ctx.xp.abs(x)

    def backward(ctx, dy):
        return dy * ctx.sign


class Sin(Function):
    """y = sin x        dL/dx = dy · cos x"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.sin(x)

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * cos(x)


class Cos(Function):
    """y = cos x        dL/dx = −dy · sin x"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.cos(x)

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return -(dy * sin(x))


class Tanh(Function):
    """y = tanh x        dL/dx = dy · (1 − y²)        notebooks/01_autograd.ipynb, sections 1 and 5"""

    def forward(ctx, x):
        y = ctx.xp.tanh(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        return dy * (1 - y * y)


class Sigmoid(Function):
    """y = σ(x) = 1 / (1 + e⁻ˣ)        dL/dx = dy · y · (1 − y)

    Computed as e^{−|x|}-based branches so that neither branch overflows. Notebooks:
    01_autograd.ipynb, section 2 (softplus' backward), 03_recurrent.ipynb, section 4 (the gates)."""

    def forward(ctx, x):
        xp = ctx.xp
        e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        return dy * (y * (1 - y))


class Relu(Function):
    """y = max(x, 0)        dL/dx = dy · [not x ≤ 0]   (a NaN passes its gradient, as in PyTorch)
    notebooks/02_convolution.ipynb, section 6"""

    def forward(ctx, x):
        y = ctx.xp.maximum(x, 0)
        ctx.mask = y != 0  # = not x ≤ 0 in one comparison: y is x where x > 0 or x is NaN, else 0
        return y

    def backward(ctx, dy):
        return dy * ctx.mask


class Maximum(Function):
    """y = max(a, b)        dL/da = dy · ([a > b] + ½[a = b]),  dL/db = dy · ([b > a] + ½[a = b])
    (where a or b is NaN, y is NaN and both get dy, as in PyTorch)"""

    def forward(ctx, a, b):
        y = ctx.xp.maximum(a, b)
        ctx.wa, ctx.wb = _pick_weights(ctx.xp, a, b, y.dtype, _less)
        return y

    def backward(ctx, dy):
        return dy * ctx.wa, dy * ctx.wb


class Minimum(Function):
    """y = min(a, b)        dL/da = dy · ([a < b] + ½[a = b]),  dL/db = dy · ([b < a] + ½[a = b])
    (where a or b is NaN, both get dy)"""

    def forward(ctx, a, b):
        y = ctx.xp.minimum(a, b)
        ctx.wa, ctx.wb = _pick_weights(ctx.xp, a, b, y.dtype, _greater)
        return y

    def backward(ctx, dy):
        return dy * ctx.wa, dy * ctx.wb


def _less(p, q):
    return p < q


def _greater(p, q):
    return p > q


def _pick_weights(xp, a, b, dtype, loses):
    """Gradient weights of max(a, b) (``loses`` = less) or min(a, b) (``loses`` = greater): 1 for
    the one picked, ½ each at a tie, 0 for the other; 1 for both where the comparison fails (a
    NaN), as PyTorch's ``grad`` masked where ``a`` loses."""
    tie = a == b
    wa = xp.where(tie, 0.5, xp.where(loses(a, b), 0.0, 1.0)).astype(dtype, copy=False)
    wb = xp.where(tie, 0.5, xp.where(loses(b, a), 0.0, 1.0)).astype(dtype, copy=False)
    return wa, wb


class Clamp(Function):
    """y = min(max(x, lo), hi)        dL/dx = dy · [lo ≤ x ≤ hi]"""

    def forward(ctx, x, lo, hi):
        xp = ctx.xp
        mask = xp.ones(x.shape, dtype=bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
        ctx.mask = mask
        return xp.clip(x, lo, hi).astype(x.dtype, copy=False)

    def backward(ctx, dy):
        return dy * ctx.mask, None, None


class Where(Function):
    """y = c ? a : b        dL/da = c ? dy : 0,  dL/db = c ? 0 : dy"""

    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return ctx.xp.where(cond, a, b)

    def backward(ctx, dy):
        (cond,) = ctx.saved_tensors
        _, need_a, need_b = ctx.needs_input_grad
        return None, (where(cond, dy, 0.0) if need_a else None), (where(cond, 0.0, dy) if need_b else None)


# ---- wrappers -----------------------------------------------------------------------------
def add(a, b):
    """Elementwise ``a + b`` with broadcasting."""
    return Add.apply(*promote(a, b))


def sub(a, b):
    """Elementwise ``a - b`` with broadcasting (not defined for bools, as in PyTorch)."""
    refuse_bools("sub", a, b, "subtraction")
    return Sub.apply(*promote(a, b))


def mul(a, b):
    """Elementwise ``a * b`` with broadcasting."""
    return Mul.apply(*promote(a, b))


def div(a, b):
    """Elementwise ``a / b`` with broadcasting (true division: integers give floats)."""
    return Div.apply(*promote(a, b, true_division=True))


def neg(x):
    """−x elementwise (see ``Neg``); not defined for bools, as in PyTorch."""
    refuse_bools("neg", x, 0, "negation")
    return Neg.apply(x)


def pow(a, b):  # noqa: A001 - PyTorch's name
    """``a ** b``: a Tensor to a Python number, a number to a Tensor, or Tensor to Tensor."""
    if isinstance(a, Tensor) and is_bool_scalar(b) and a.dtype.kind == "b":
        return a if b else a == a  # PyTorch: a bool tensor to a bool power stays bool
    refuse_bool_result("pow", a, b)
    if result_type(a, b).kind in "iu":
        return integer_pow(a, b)
    a, b = promote(a, b)
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and not hasattr(b, "shape"):
        return PowScalar.apply(a, b)
    if not isinstance(a, Tensor):
        return Pow.apply(as_tensor_like(a, b), b)
    return Pow.apply(a, b)


def exp(x):
    """eˣ elementwise (see ``Exp`` for the backward)."""
    return Exp.apply(x)


def log(x):
    """Natural logarithm elementwise (see ``Log``)."""
    return Log.apply(x)


def sqrt(x):
    """√x elementwise (see ``Sqrt``)."""
    return Sqrt.apply(x)


def abs(x):  # noqa: A001
    """|x| elementwise (see ``Abs``)."""
    return Abs.apply(x)


def sin(x):
    """sin x elementwise (see ``Sin``)."""
    return Sin.apply(x)


def cos(x):
    """cos x elementwise (see ``Cos``)."""
    return Cos.apply(x)


def tanh(x):
    """tanh x elementwise (see ``Tanh``)."""
    return Tanh.apply(x)


def sigmoid(x):
    """1 / (1 + e⁻ˣ) elementwise, stable (see ``Sigmoid``)."""
    return Sigmoid.apply(x)


def relu(x):
    """max(x, 0) elementwise (see ``Relu``)."""
    return Relu.apply(x)


def maximum(a, b):
    """Elementwise max(a, b) with broadcasting; ties share the gradient."""
    return Maximum.apply(*promote(a, b))


def minimum(a, b):
    """Elementwise min(a, b) with broadcasting; ties share the gradient."""
    return Minimum.apply(*promote(a, b))


def clamp(x, min=None, max=None):  # noqa: A002
    """Limit every element to ``[min, max]`` (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        # tensor bounds may need a gradient of their own. At a tie x = bound the gradient goes
        # to x (PyTorch's choice: x passes where lo ≤ x ≤ hi, a bound where it is exceeded)
        y = x
        if min is not None:
            lo = as_tensor_like(min, x)
            y = where(x >= lo, y, lo)
        if max is not None:
            hi = as_tensor_like(max, x)
            y = where(x <= hi, y, hi)
        return y
    return Clamp.apply(x, min, max)


clip = clamp


def where(condition, a, b):
    """``a`` where ``condition`` is true, ``b`` elsewhere (broadcasting all three)."""
    if isinstance(condition, Tensor) and condition.dtype.kind != "b":
        raise TypeError(f"where: condition must be a bool tensor, got dtype {condition.dtype}")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError("where: at least one of the two value arguments must be a Tensor")
    return Where.apply(condition, *promote(a, b))


def masked_fill(x, mask, value):
    """``x`` with ``value`` where the bool ``mask`` is true. The mask may broadcast to ``x``'s
    shape but not beyond it."""
    if isinstance(mask, Tensor) and mask.dtype.kind != "b":
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {mask.dtype}")
    m_shape = tuple(mask.shape)
    if broadcast_shapes(tuple(x.shape), m_shape) != tuple(x.shape):
        raise ValueError(f"masked_fill: mask of shape {m_shape} does not broadcast to the input shape {tuple(x.shape)}")
    return where(mask, as_tensor_like(value, x), x)
