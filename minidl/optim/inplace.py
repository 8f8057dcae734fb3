"""The in-place array updates that the update rules are written with.

An update rule runs once per parameter per step, on arrays as large as the model. Written with
plain operators (``m = beta1 * m + (1 - beta1) * g``) every line would allocate fresh arrays the
size of the parameter; here the moving averages are updated inside their preallocated state
arrays and every intermediate goes through one scratch array per parameter per step, so a step
costs the same memory traffic as PyTorch's in-place ``mul_``/``add_``/``addcdiv_``. Each helper is
one equation, written with the array module ``xp`` of its arrays (NumPy, CuPy or the strict test
arrays), never with ``numpy`` itself.
"""

from __future__ import annotations

from .. import backend


def _on_device_of(a, make, *args, **kwargs):
    """``make(a, ...)`` (``xp.zeros_like``, ...) on ``a``'s device: CuPy allocates on the current device."""
    if backend.get_array_module(a).__name__ == "numpy":
        return make(a, *args, **kwargs)
    with a.device:
        return make(a, *args, **kwargs)


def zeros_like_array(a):
    """Zeros with the shape, dtype and device of the array ``a`` (a new state array)."""
    return _on_device_of(a, backend.get_array_module(a).zeros_like)


def full_like_array(a, value):
    """``value`` everywhere, with the shape, dtype and device of the array ``a``."""
    return _on_device_of(a, backend.get_array_module(a).full_like, value)


def copy_array(a):
    """A copy of the array ``a`` on its device (a 0-d array when ``a`` is a NumPy scalar)."""
    return _on_device_of(a, backend.get_array_module(a).array, copy=True)


def scratch_like(a):
    """An uninitialised array like ``a``: the one temporary a step writes its intermediates into."""
    xp = backend.get_array_module(a)
    if xp.__name__ == "numpy":  # the common case first: this runs once per parameter per step
        return xp.empty_like(a)
    with a.device:
        return xp.empty_like(a)


def scale_add_(y, a, x, b, scratch=None):
    """``y ← a·y + b·x`` in place (a moving average when ``b = 1 − a``); returns ``y``.

    ``b·x`` goes through ``scratch``, which may hold ``x`` itself (``scale_add_(v, β, g², 1 − β, s)``
    with ``g²`` already in ``s``), or a new temporary without one. The multiplications by 1 are
    skipped.
    """
    bx = x if b == 1 else backend.get_array_module(y).multiply(x, b, out=scratch)
    if a != 1:
        y *= a
    y += bx
    return y


def addcdiv_(y, num, den, value):
    """``y ← y + value · num / den`` in place (PyTorch's ``y.addcdiv_(num, den, value=value)``);
    returns ``y``. The quotient is written into ``den``, which must be the step's scratch array."""
    q = backend.get_array_module(y).divide(num, den, out=den)
    q *= value
    y += q
    return y


def sqrt_add(x, eps, out):
    """``√x + ε`` written into ``out`` (which may be ``x``); returns ``out``: the denominators of
    Adam, RMSprop and Adagrad."""
    root = backend.get_array_module(x).sqrt(x, out=out)
    root += eps
    return root
